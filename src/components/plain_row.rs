//! A row not being edited, as a board shows thousands of them: the row's markup, written
//! once with `view!` and built once, is cloned whole, and the row's values are written
//! into the clone. Built element by element, a row is some 25 calls from wasm into the
//! DOM, each passing its strings across (every class name, type and label); cloned, it is
//! one call for its elements and one for each value (see `docs/performance.md`).

use leptos::prelude::*;
use leptos::tachys::html::attribute::any_attribute::AnyAttribute;
use leptos::tachys::html::node_ref::NodeRefContainer;
use leptos::tachys::hydration::Cursor;
use leptos::tachys::view::{Position, PositionState};
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::Element;

use super::task_item::{RowNodes, RowValues, delete_label, row_class};

/// A plain row: its values, and where the list reaches its elements. Its elements are
/// made when it is built into the page.
pub struct PlainRow {
    pub id: Uuid,
    pub values: RowValues,
    pub nodes: RowNodes,
    /// A viewer's row: a disabled checkbox, and no Edit or Delete.
    pub read_only: bool,
}

thread_local! {
    /// The row's markup, an editor's and a viewer's, built once.
    static MARKUP: [Option<Element>; 2] = [markup(false), markup(true)];
}

/// The row's elements with every attribute that is the same on every row.
fn markup(read_only: bool) -> Option<Element> {
    let elements = if read_only {
        view! {
            <li class="task">
                <input class="task-check" type="checkbox" disabled />
                <span class="task-title"></span>
                <span class="task-by"></span>
            </li>
        }
        .build()
        .elements()
    } else {
        view! {
            <li class="task">
                <input class="task-check" type="checkbox" />
                <span class="task-title"></span>
                <span class="task-by"></span>
                <button type="button" class="icon-button task-edit" aria-label="Edit"></button>
                <button type="button" class="icon-button danger task-delete"></button>
            </li>
        }
        .build()
        .elements()
    };
    elements.into_iter().next()
}

impl PlainRow {
    /// Clones the markup and writes the row's values into it. `None` only if the
    /// browser would not clone it.
    fn make(self) -> Option<Element> {
        let Self {
            id,
            values,
            nodes,
            read_only,
        } = self;
        let item: Element = MARKUP
            .with(|markup| {
                markup[usize::from(read_only)]
                    .as_ref()?
                    .clone_node_with_deep(true)
                    .ok()
            })?
            .dyn_into()
            .ok()?;
        let _ = item.set_attribute("data-task-id", &id.to_string());
        if values.done {
            item.set_class_name(&row_class(true, false));
        }
        let check = item.first_element_child()?;
        let _ = check.set_attribute("aria-label", &values.title);
        if values.done {
            check
                .unchecked_ref::<web_sys::HtmlInputElement>()
                .set_checked(true);
        }
        let title = check.next_element_sibling()?;
        title.set_text_content(Some(&values.title));
        let by = title.next_element_sibling()?;
        if let Some(line) = &values.by {
            by.set_text_content(Some(line));
        }
        nodes.item.load(&item);
        nodes.check.load(&check);
        nodes.title.load(&title);
        nodes.by.load(&by);
        if !read_only {
            let edit = by.next_element_sibling()?;
            let delete = edit.next_element_sibling()?;
            let _ = delete.set_attribute("aria-label", &delete_label(&values.title));
            nodes.edit.load(&edit);
            nodes.delete.load(&delete);
        }
        if values.pending {
            nodes.mark_pending(&item, true);
        }
        Some(item)
    }
}

impl Render for PlainRow {
    /// The row's `<li>`, mounted, moved and taken away as any element is; none if the
    /// browser would not clone the markup (the list then shows the others).
    type State = Option<Element>;

    fn build(self) -> Option<Element> {
        self.make()
    }

    fn rebuild(self, state: &mut Option<Element>) {
        let built = self.make();
        match (state.as_ref(), built.as_ref()) {
            (Some(old), Some(new)) => {
                let _ = old.replace_with_with_node_1(new);
            }
            (Some(old), None) => old.remove(),
            // Nothing in the page to take the place of (a keyed list builds a row anew
            // rather than rebuilding it, so this is never reached from the board).
            (None, _) => {}
        }
        *state = built;
    }
}

leptos::tachys::no_attrs!(PlainRow);

/// The app renders in the browser only: a row is never rendered on a server nor taken
/// over from its page, so these build it with the DOM as `Render` does.
impl RenderHtml for PlainRow {
    type AsyncOutput = Self;
    type Owned = Self;

    const MIN_LENGTH: usize = 0;

    fn dry_resolve(&mut self) {}

    async fn resolve(self) -> Self {
        self
    }

    fn to_html_with_buf(
        self,
        buf: &mut String,
        position: &mut Position,
        _escape: bool,
        _mark_branches: bool,
        _extra_attrs: Vec<AnyAttribute>,
    ) {
        if let Some(item) = self.make() {
            buf.push_str(&item.outer_html());
        }
        *position = Position::NextChild;
    }

    fn hydrate<const FROM_SERVER: bool>(
        self,
        _cursor: &Cursor,
        position: &PositionState,
    ) -> Option<Element> {
        position.set(Position::NextChild);
        self.build()
    }

    fn into_owned(self) -> Self {
        self
    }
}
