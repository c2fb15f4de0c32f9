//! One task: its checkbox (named by the title), the title, editing in place, delete.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::html;
use leptos::mount::{UnmountHandle, mount_to};
use leptos::prelude::*;
use leptos::tachys::view::any_view::AnyViewState;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTemplateElement};

use crate::taskwire::{TaskRow, Taskwire};

/// `row` and `tw` come from the list, so a row costs no context or map lookup; so do the
/// row being edited (`editing`, one at a time) and `edited`, which tells each row whether
/// it is the one, waking only the rows that start or stop being it.
///
/// A board may hold 10,000 rows. Built by `view!`, a row is fifteen elements and twenty
/// attributes created one call at a time across the wasm boundary, which was most of the
/// time a big board took to show. So Leptos makes the `<li>`, and [`build_row`] fills it
/// with one clone of [`ROW_MARKUP`] and writes what differs: three to six calls. One
/// render effect per row writes what changes, and only that ([`RowParts::show`]), so one
/// change still touches one row. Its clicks are handled by the list
/// ([`super::task_list`]); the editor exists only while editing ([`OpenEditor`]).
#[component]
pub fn TaskItem(
    id: Uuid,
    row: Signal<TaskRow>,
    tw: Taskwire,
    editing: RwSignal<Option<Uuid>>,
    edited: Selector<Option<Uuid>>,
) -> impl IntoView {
    // A row removed while edited (deleted elsewhere, filtered away) ends its edit, so
    // that it does not reopen when the row comes back.
    on_cleanup({
        let edited = edited.clone();
        move || {
            edited.remove(&Some(id));
            end_edit(editing, id);
        }
    });
    let built = BuiltRow::default();
    // The editor belongs to the row, not to the effect, whose children are disposed
    // each time it runs again.
    let owner = Owner::current();
    // A render effect, as Leptos's own bindings are. Its first run, before the row is
    // built, only subscribes. It lives as long as the row, and so does the open editor
    // it holds.
    let effect = RenderEffect::new({
        let built = Rc::clone(&built);
        move |editor: Option<Option<OpenEditor>>| {
            let now = row.with(|r| Shown::of(r, edited.selected(&Some(id))));
            let mut built = built.borrow_mut();
            let (parts, shown) = built.as_mut()?;
            parts.show(Some(shown), &now);
            *shown = now;
            match editor.flatten() {
                open @ Some(_) if shown.editing => open,
                None if shown.editing => {
                    OpenEditor::open(&parts.title, owner.as_ref(), move || {
                        view! { <TitleEditor id row tw editing /> }.into_any()
                    })
                }
                _ => None,
            }
        }
    });
    StoredValue::new_local(effect);
    view! { <li use:build_row=(id, row, built) /> }
}

/// The markup inside a row's `<li>` as a blank row shows it: no title, not done, not
/// pending, not edited. A constant, so no title is ever parsed as markup: titles are
/// only written as text.
const ROW_MARKUP: &str = concat!(
    r#"<input class="task-check" type="checkbox">"#,
    r#"<span class="task-title"></span>"#,
    r#"<span class="task-pending" aria-hidden="true" title="Waiting for the server"></span>"#,
    r#"<button type="button" class="icon-button task-edit">"#,
    r#"<svg viewBox="0 0 20 20" aria-hidden="true"><path d="M13.6 3.6l2.8 2.8-9 9H4.6v-2.8z"/></svg>"#,
    r#"<span class="sr-only">Edit</span></button>"#,
    r#"<button type="button" class="icon-button danger task-delete">"#,
    r#"<svg viewBox="0 0 20 20" aria-hidden="true"><path d="M5 5l10 10M15 5L5 15"/></svg>"#,
    r#"</button>"#,
);

thread_local! {
    /// [`ROW_MARKUP`], parsed once.
    static ROW_TEMPLATE: Option<HtmlTemplateElement> = document()
        .create_element("template")
        .ok()
        .and_then(|template| template.dyn_into::<HtmlTemplateElement>().ok())
        .inspect(|template| template.set_inner_html(ROW_MARKUP));
}

/// A row's elements and what they show, once [`build_row`] has built them.
type BuiltRow = Rc<RefCell<Option<(RowParts, Shown)>>>;

/// Fills the `<li>` Leptos has just made for task `id` (a directive runs as the element
/// is built, before it is in the document, so no row is ever seen half made).
fn build_row(item: Element, (id, row, built): (Uuid, Signal<TaskRow>, BuiltRow)) {
    let Some(parts) = RowParts::build(&item) else {
        return;
    };
    let _ = item.set_attribute("data-task-id", &id.to_string());
    // A new row is never the one edited: a row that goes away ends its edit.
    let now = row.with_untracked(|r| Shown::of(r, false));
    parts.show(None, &now);
    *built.borrow_mut() = Some((parts, now));
}

/// What a row shows.
#[derive(Clone, PartialEq)]
struct Shown {
    title: String,
    done: bool,
    pending: bool,
    editing: bool,
}

impl Shown {
    /// What [`ROW_MARKUP`] shows.
    const BLANK: Self = Self {
        title: String::new(),
        done: false,
        pending: false,
        editing: false,
    };

    fn of(row: &TaskRow, editing: bool) -> Self {
        Self {
            title: row.task.title.clone(),
            done: row.task.done,
            pending: row.pending,
            editing,
        }
    }
}

/// The elements of a row whose content changes.
struct RowParts {
    item: Element,
    check: HtmlInputElement,
    title: Element,
    edit: Element,
    delete: Element,
}

impl RowParts {
    /// Clones [`ROW_MARKUP`] into `item` and finds its parts.
    fn build(item: &Element) -> Option<Self> {
        let content = ROW_TEMPLATE
            .with(|template| template.as_ref()?.content().clone_node_with_deep(true).ok())?;
        item.append_child(&content).ok()?;
        let check = item.first_element_child()?;
        let title = check.next_element_sibling()?;
        let delete = item.last_element_child()?;
        let edit = delete.previous_element_sibling()?;
        Some(Self {
            item: item.clone(),
            check: check.dyn_into().ok()?,
            title,
            edit,
            delete,
        })
    }

    /// Writes what differs between what the row showed (`None`: just built, blank but
    /// for its classes) and `now`; titles only ever as text.
    fn show(&self, was: Option<&Shown>, now: &Shown) {
        let built = was.is_none();
        let blank = Shown::BLANK;
        let was = was.unwrap_or(&blank);
        if built || (was.done, was.editing) != (now.done, now.editing) {
            self.item.set_class_name(row_class(now.done, now.editing));
        }
        if was.pending != now.pending {
            let _ = if now.pending {
                self.item.set_attribute("data-pending", "true")
            } else {
                self.item.remove_attribute("data-pending")
            };
        }
        if was.done != now.done {
            self.check.set_checked(now.done);
        }
        if built || was.title != now.title {
            let title = &now.title;
            let _ = self.check.set_attribute("aria-label", title);
            self.title.set_text_content(Some(title));
            let _ = self
                .delete
                .set_attribute("aria-label", &format!("Delete {title}"));
        }
        if was.editing != now.editing {
            let _ = self
                .title
                .toggle_attribute_with_force("hidden", now.editing);
            let _ = self.edit.toggle_attribute_with_force("hidden", now.editing);
        }
    }
}

/// The title editor while it is open: a `div.task-editor` after the title, whose
/// contents Leptos mounts. Dropping it unmounts them and takes the `div` away.
struct OpenEditor {
    host: HtmlElement,
    _mounted: UnmountHandle<AnyViewState>,
}

impl OpenEditor {
    /// Opens the editor `view` after `title`, under `owner` (the row's).
    fn open(
        title: &Element,
        owner: Option<&Owner>,
        view: impl FnOnce() -> AnyView + 'static,
    ) -> Option<Self> {
        let host: HtmlElement = document().create_element("div").ok()?.dyn_into().ok()?;
        host.set_class_name("task-editor");
        title.after_with_node_1(&host).ok()?;
        let mount = || mount_to(host.clone(), view);
        let mounted = match owner {
            Some(owner) => owner.with(mount),
            None => mount(),
        };
        Some(Self {
            host,
            _mounted: mounted,
        })
    }
}

impl Drop for OpenEditor {
    fn drop(&mut self) {
        self.host.remove();
    }
}

/// The row's classes as one static string: one write instead of one per class.
fn row_class(done: bool, editing: bool) -> &'static str {
    match (done, editing) {
        (false, false) => "task",
        (true, false) => "task done",
        (false, true) => "task editing",
        (true, true) => "task done editing",
    }
}

/// Ends the edit of task `id`, if it is the one being edited.
fn end_edit(editing: RwSignal<Option<Uuid>>, id: Uuid) {
    editing.maybe_update(|edited| {
        let mine = *edited == Some(id);
        if mine {
            *edited = None;
        }
        mine
    });
}

/// The title as an input: Enter saves, Escape cancels (both hand focus back to `Edit`),
/// leaving the field saves a valid title.
#[component]
fn TitleEditor(
    id: Uuid,
    row: Signal<TaskRow>,
    tw: Taskwire,
    editing: RwSignal<Option<Uuid>>,
) -> impl IntoView {
    let draft = RwSignal::new(row.with_untracked(|r| r.task.title.clone()));
    let problem = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    Effect::new(move || {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    // The row's Edit button, looked up while the editor is still in the row (no row
    // holds a node ref for it).
    let edit_button = move || -> Option<HtmlElement> {
        let row = input.get_untracked()?.closest(".task").ok()??;
        row.query_selector(".task-edit").ok()??.dyn_into().ok()
    };
    let finish = move |refocus: bool| {
        let button = refocus.then(edit_button).flatten();
        end_edit(editing, id);
        if let Some(button) = button {
            // The button is shown again once `editing` is false.
            request_animation_frame(move || drop(button.focus()));
        }
    };
    // From the keyboard a refused title stays open with the reason; leaving the field
    // with one gives up the edit instead of trapping the person in it.
    let save = move |from_keyboard: bool| {
        let unchanged = row.with_untracked(|r| draft.with_untracked(|d| d.trim() == r.task.title));
        if unchanged {
            finish(from_keyboard);
            return;
        }
        match draft.with_untracked(|d| tw.rename(id, d)) {
            Ok(()) => finish(from_keyboard),
            Err(_) if !from_keyboard => finish(false),
            Err(error) => problem.set(Some(error.to_string())),
        }
    };
    view! {
        <input
            class="task-edit-input"
            type="text"
            aria-label="Edit task"
            maxlength="400"
            node_ref=input
            aria-invalid=move || problem.with(Option::is_some).then_some("true")
            prop:value=draft
            on:input=move |ev| {
                draft.set(event_target_value(&ev));
                problem.set(None);
            }
            on:keydown=move |ev| match ev.key().as_str() {
                _ if ev.is_composing() => {}
                "Enter" => {
                    ev.prevent_default();
                    save(true);
                }
                "Escape" => {
                    ev.prevent_default();
                    finish(true);
                }
                _ => {}
            }
            on:blur=move |_| {
                // Leaving a field that Enter or Escape already closed does nothing.
                if editing.with_untracked(|edited| *edited == Some(id)) {
                    save(false);
                }
            }
        />
        {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
    }
}
