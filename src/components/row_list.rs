//! The rows of the task list, keyed by task and kept by the list itself. Leptos's keyed
//! `For` gives each row an owner, a component and a slot in its own table; a board of
//! 10,000 rows paid for that on every render (see `docs/performance.md`). Here a row is
//! its elements, built from the row's values when it comes into the list, moved as the
//! order changes and taken out when it leaves; the list writes later changes into it.

use std::any::Any;

use leptos::prelude::*;
use rustc_hash::FxHashMap;
use uuid::Uuid;
use web_sys::{DocumentFragment, HtmlElement};

use super::row_order::{self, Place, Plan};
use super::task_item::RowNodes;

/// A row of the list: the task, and whether it is the one being edited (a row that
/// starts or ends its edit is built anew, so that no row holds anything for an edit but
/// the edited one).
pub type Key = (Uuid, bool);

/// A row in the list.
pub struct Shown {
    pub nodes: RowNodes,
    /// The edited row's view state and the owner of its signals and effects, held as
    /// long as the row is shown.
    view: Option<(Owner, Box<dyn Any>)>,
}

impl Shown {
    pub fn plain(nodes: RowNodes) -> Self {
        Self { nodes, view: None }
    }

    pub fn edited(nodes: RowNodes, owner: Owner, view: Box<dyn Any>) -> Self {
        Self {
            nodes,
            view: Some((owner, view)),
        }
    }

    /// The row being edited: the one with a view of its own.
    pub fn is_edited(&self) -> bool {
        self.view.is_some()
    }

    fn item(&self) -> &HtmlElement {
        &self.nodes.item
    }

    /// Ends what the row's view started, once its elements are out of the page.
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
    /// The list element the rows are in, once shown.
    list: Option<HtmlElement>,
    order: Vec<Key>,
    rows: FxHashMap<Uuid, Shown>,
}

impl RowList {
    pub fn get(&self, id: Uuid) -> Option<&Shown> {
        self.rows.get(&id)
    }

    /// Makes `list`'s children the rows of `keys`, in that order, as
    /// [`row_order::plan`] says: rows that leave are taken out, rows that stay are kept
    /// (moved if they must), and new rows are made by `build` (none if the task is gone
    /// meanwhile). New rows that follow one another go into the page together.
    pub fn show(
        &mut self,
        list: &HtmlElement,
        keys: &[Key],
        mut build: impl FnMut(Key) -> Option<Shown>,
    ) {
        self.list = Some(list.clone());
        let edited = keys.iter().copied().find(|(_, edited)| *edited);
        let Plan { leaving, places } = row_order::plan(&self.order, keys, edited);
        let gone = self.take_out(list, &leaving, places.is_empty());
        let mut new_rows = NewRows::default();
        let mut order = Vec::with_capacity(places.len());
        for place in places {
            let key = match place {
                Place::Stays(key) => {
                    if new_rows.waiting() {
                        new_rows.insert(list, self.item_of(key));
                    }
                    key
                }
                Place::Moves { key, before } => {
                    let before = self.item_of_before(before);
                    new_rows.insert(list, before);
                    if let Some(item) = self.item_of(key) {
                        let _ = list.insert_before(item, before.map(AsRef::as_ref));
                    }
                    key
                }
                Place::Comes { key, before } => {
                    let Some(shown) = build(key) else {
                        continue;
                    };
                    new_rows.add(list, shown.item(), self.item_of_before(before));
                    self.rows.insert(key.0, shown);
                    key
                }
            };
            order.push(key);
        }
        new_rows.insert(list, None);
        self.order = order;
        gone.into_iter().for_each(Shown::end);
    }

    fn item_of(&self, key: Key) -> Option<&HtmlElement> {
        self.rows.get(&key.0).map(Shown::item)
    }

    fn item_of_before(&self, before: Option<Key>) -> Option<&HtmlElement> {
        self.item_of(before?)
    }

    /// Takes the rows `leaving` out of the page and the table, and gives them back to be
    /// ended. With `none_stays`, every row at once.
    fn take_out(&mut self, list: &HtmlElement, leaving: &[Key], none_stays: bool) -> Vec<Shown> {
        if leaving.is_empty() {
            return Vec::new();
        }
        if none_stays {
            list.set_text_content(None);
            return self.rows.drain().map(|(_, shown)| shown).collect();
        }
        leaving
            .iter()
            .filter_map(|key| self.rows.remove(&key.0))
            .inspect(|shown| shown.item().remove())
            .collect()
    }

    /// Takes every row out of the page and the table, ending them: the list is going.
    /// Its element may stay, taken over by the list that replaces it (a board whose
    /// viewer became an editor), which must not find these rows there.
    pub fn clear(&mut self) {
        if let Some(list) = self.list.take()
            && list.is_connected()
        {
            if list.child_element_count() as usize == self.rows.len() {
                list.set_text_content(None);
            } else {
                self.rows.values().for_each(|shown| shown.item().remove());
            }
        }
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

    fn waiting(&self) -> bool {
        self.0.is_some()
    }

    /// Puts the rows gathered into `list` before `before` (at the end if `None`).
    fn insert(&mut self, list: &HtmlElement, before: Option<&HtmlElement>) {
        if let Some(fragment) = self.0.take() {
            let _ = list.insert_before(&fragment, before.map(AsRef::as_ref));
        }
    }
}
