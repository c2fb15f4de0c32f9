//! The rows of the task list, keyed by task and kept by the list itself. Leptos's keyed
//! `For` gives each row an owner, a component and a slot in its own table; a board of
//! 10,000 rows paid for that on every render (see `docs/performance.md`). Here a row is
//! its elements, built from the row's values when it comes into the list, moved as the
//! order changes and taken out when it leaves; the list writes later changes into it.

use leptos::prelude::*;
use leptos::tachys::view::any_view::AnyViewState;
use rustc_hash::{FxHashMap, FxHashSet};
use uuid::Uuid;
use web_sys::{DocumentFragment, HtmlElement};

use super::task_item::RowNodes;

/// A row of the list: the task, and whether it is the one being edited (a row that
/// starts or ends its edit is built anew, so that no row holds anything for an edit but
/// the edited one).
pub type Key = (Uuid, bool);

/// A row in the list.
pub struct Shown {
    pub edited: bool,
    pub nodes: RowNodes,
    /// The edited row's view and the owner of its signals and effects, held as long as
    /// the row is shown.
    view: Option<(Owner, AnyViewState)>,
}

impl Shown {
    pub fn plain(nodes: RowNodes) -> Self {
        Self {
            edited: false,
            nodes,
            view: None,
        }
    }

    pub fn edited(nodes: RowNodes, owner: Owner, view: AnyViewState) -> Self {
        Self {
            edited: true,
            nodes,
            view: Some((owner, view)),
        }
    }

    fn item(&self) -> &HtmlElement {
        &self.nodes.item
    }

    /// Ends what the row's view started; its elements are out of the page by then.
    fn end(self) {
        if let Some((owner, view)) = self.view {
            drop(view);
            owner.cleanup();
        }
    }
}

/// The rows shown, in order.
#[derive(Default)]
pub struct RowList {
    order: Vec<Key>,
    rows: FxHashMap<Uuid, Shown>,
}

impl RowList {
    pub fn get(&self, id: Uuid) -> Option<&Shown> {
        self.rows.get(&id)
    }

    /// Makes `list`'s children the rows of `keys`, in that order: rows that stay are
    /// kept (moved if they must), rows that leave are taken out and new rows are made by
    /// `build` (none if the task is gone meanwhile). New rows that follow one another go
    /// into the page together.
    pub fn show(
        &mut self,
        list: &HtmlElement,
        keys: &[Key],
        mut build: impl FnMut(Key) -> Option<Shown>,
    ) {
        let gone = self.take_out(list, keys);
        let mut old = std::mem::take(&mut self.order).into_iter().peekable();
        // Rows moved ahead of where they were, passed over when `old` reaches them.
        let mut moved: FxHashSet<Uuid> = FxHashSet::default();
        // New rows not yet in the page: they go in together, before the next row that is.
        let mut new_rows = NewRows::default();
        let mut order = Vec::with_capacity(keys.len());
        for &key in keys {
            while old.next_if(|(id, _)| moved.contains(id)).is_some() {}
            let next = old.peek().and_then(|next| self.item_of(next));
            if old.peek() == Some(&key) {
                new_rows.insert(list, next);
                old.next();
            } else if let Some(shown) = self.rows.get(&key.0) {
                new_rows.insert(list, next);
                let _ = list.insert_before(shown.item(), next.map(AsRef::as_ref));
                moved.insert(key.0);
            } else if let Some(shown) = build(key) {
                new_rows.add(list, shown.item(), next);
                self.rows.insert(key.0, shown);
            } else {
                continue;
            }
            order.push(key);
        }
        new_rows.insert(list, None);
        self.order = order;
        gone.into_iter().for_each(Shown::end);
    }

    fn item_of(&self, key: &Key) -> Option<&HtmlElement> {
        self.rows.get(&key.0).map(Shown::item)
    }

    /// Takes the rows not in `keys` out of the page and the table, and gives them back
    /// to be ended. All of them at once when none stays.
    fn take_out(&mut self, list: &HtmlElement, keys: &[Key]) -> Vec<Shown> {
        if self.rows.is_empty() {
            return Vec::new();
        }
        if keys.is_empty() {
            list.set_text_content(None);
            self.order.clear();
            return self.rows.drain().map(|(_, shown)| shown).collect();
        }
        let staying: FxHashSet<Key> = keys.iter().copied().collect();
        let leaving: Vec<Uuid> = self
            .rows
            .iter()
            .filter(|(id, shown)| !staying.contains(&(**id, shown.edited)))
            .map(|(id, _)| *id)
            .collect();
        if leaving.is_empty() {
            return Vec::new();
        }
        self.order.retain(|key| staying.contains(key));
        leaving
            .into_iter()
            .filter_map(|id| self.rows.remove(&id))
            .inspect(|shown| shown.item().remove())
            .collect()
    }

    /// Takes every row out of the table (the list is going), ending them.
    pub fn clear(&mut self) {
        self.order.clear();
        self.rows.drain().for_each(|(_, shown)| shown.end());
    }
}

/// New rows gathered in a fragment, to go into the list in one insertion.
#[derive(Default)]
struct NewRows(Option<DocumentFragment>);

impl NewRows {
    /// Adds `row`, to go before `before`; straight there if no fragment can be made.
    fn add(&mut self, list: &HtmlElement, row: &HtmlElement, before: Option<&HtmlElement>) {
        if self.0.is_none() {
            self.0 = DocumentFragment::new().ok();
        }
        let _ = match &self.0 {
            Some(fragment) => fragment.append_child(row),
            None => list.insert_before(row, before.map(AsRef::as_ref)),
        };
    }

    /// Puts the rows gathered into `list` before `before` (at the end if `None`).
    fn insert(&mut self, list: &HtmlElement, before: Option<&HtmlElement>) {
        if let Some(fragment) = self.0.take() {
            let _ = list.insert_before(&fragment, before.map(AsRef::as_ref));
        }
    }
}
