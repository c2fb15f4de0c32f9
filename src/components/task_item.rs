//! One task: its checkbox (named by the title), the title, editing in place, delete.

use std::cell::OnceCell;
use std::rc::Rc;

use leptos::html;
use leptos::mount::{UnmountHandle, mount_to};
use leptos::prelude::*;
use leptos::reactive::effect::ImmediateEffect;
use leptos::reactive::graph::ToAnySubscriber;
use leptos::tachys::view::any_view::AnyViewState;
use send_wrapper::SendWrapper;
use uuid::Uuid;
use wasm_bindgen::prelude::*;
use web_sys::{Element, HtmlElement};

use super::unsubscribe_on_cleanup;
use crate::board::{RowSignal, TaskRow};
use crate::taskwire::Taskwire;

/// The row's markup and how its values are written: one call a row built or changed.
#[wasm_bindgen(module = "/src/components/task_row.js")]
extern "C" {
    #[wasm_bindgen(js_name = buildRow)]
    fn build_row(item: &Element, id: &str, title: &str, done: bool, pending: bool);
    #[wasm_bindgen(js_name = showRow)]
    fn show_row(item: &Element, title: &str, done: bool, pending: bool, editing: bool);
    #[wasm_bindgen(js_name = editorHost)]
    fn editor_host(item: &Element) -> HtmlElement;
}

/// `row` comes from the list, so a row costs no context or map lookup.
///
/// A board may hold 10,000 rows. Built by `view!`, a row is fifteen elements and twenty
/// attributes created one call at a time across the wasm boundary, which was most of the
/// time a big board took to show. So Leptos makes the `<li>`, and `task_row.js` fills it
/// from a template in one call ([`fill`]). One effect per row rewrites it when the
/// row changes, so one change touches one row. What each row would otherwise hold for
/// the rare moments it matters is the list's: its clicks ([`super::task_list`]) and its
/// editing ([`Editing`]).
#[component]
pub fn TaskItem(id: Uuid, row: RowSignal, editing: RwSignal<Option<Uuid>>) -> impl IntoView {
    let item = Rc::new(OnceCell::new());
    // An immediate effect rather than a render effect: it runs as the row changes instead
    // of from a task of its own, so a row costs no spawned task, and a 10,000-row board
    // shows about 25 ms sooner. Its first run, before the row is built, only subscribes.
    let built = SendWrapper::new(Rc::clone(&item));
    let effect = ImmediateEffect::new(move || {
        row.with(|r| {
            if let Some(item) = built.get() {
                let edited = editing.with_untracked(|edited| *edited == Some(id));
                show(item, r, edited);
            }
        })
    });
    unsubscribe_on_cleanup(effect.to_any_subscriber());
    // The row's owner keeps the effect as long as the row.
    StoredValue::new(effect);
    view! { <li use:fill=(id, row, item) /> }
}

/// Fills the `<li>` Leptos has just made for task `id` (a directive runs as the element
/// is built, before it is in the document, so no row is ever seen half made).
fn fill(item: Element, (id, row, built): (Uuid, RowSignal, Rc<OnceCell<Element>>)) {
    // A new row is never the one edited: the list ends the edit of a row that leaves it.
    row.with_untracked(|r| {
        build_row(
            &item,
            &id.to_string(),
            &r.task.title,
            r.task.done,
            r.pending,
        )
    });
    let _ = built.set(item);
}

fn show(item: &Element, row: &TaskRow, edited: bool) {
    show_row(item, &row.task.title, row.task.done, row.pending, edited);
}

/// The one row being edited, kept by the list: it marks the row, opens the editor in it,
/// and undoes both when the edit ends or moves to another row.
pub struct Editing {
    id: Uuid,
    item: Element,
    row: RowSignal,
    /// Held for its `Drop`.
    _editor: OpenEditor,
}

impl Editing {
    /// Starts editing task `id`, shown by `item`, with the editor under `owner` (the
    /// list's: not the effect's that calls this, whose children are disposed each time
    /// it runs again).
    pub fn start(
        id: Uuid,
        item: Element,
        row: RowSignal,
        tw: Taskwire,
        editing: RwSignal<Option<Uuid>>,
        owner: Option<&Owner>,
    ) -> Self {
        row.with_untracked(|r| show(&item, r, true));
        let editor = OpenEditor::open(&item, owner, move || {
            view! { <TitleEditor id row tw editing /> }.into_any()
        });
        Self {
            id,
            item,
            row,
            _editor: editor,
        }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl Drop for Editing {
    fn drop(&mut self) {
        // The task may be gone (deleted elsewhere), and its signal with it.
        self.row.try_with_untracked(|r| show(&self.item, r, false));
    }
}

/// The title editor while it is open, in a `div.task-editor` after the title; Leptos
/// mounts its contents. Dropping it unmounts them and takes the `div` away.
struct OpenEditor {
    host: HtmlElement,
    _mounted: UnmountHandle<AnyViewState>,
}

impl OpenEditor {
    /// Opens the editor `view` in row `item`, under `owner`.
    fn open(
        item: &Element,
        owner: Option<&Owner>,
        view: impl FnOnce() -> AnyView + 'static,
    ) -> Self {
        let host = editor_host(item);
        let mount = || mount_to(host.clone(), view);
        let mounted = match owner {
            Some(owner) => owner.with(mount),
            None => mount(),
        };
        Self {
            host,
            _mounted: mounted,
        }
    }
}

impl Drop for OpenEditor {
    fn drop(&mut self) {
        self.host.remove();
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
    row: RowSignal,
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
        // A task deleted elsewhere has nothing left to save.
        let unchanged = row
            .try_with_untracked(|r| draft.with_untracked(|d| d.trim() == r.task.title))
            .unwrap_or(true);
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
                // Chromium also fires `blur` when the focused field is taken out of the
                // page, before it is gone: its row left the list (changed elsewhere) or
                // the page changed. That is no decision to save a half-typed title, so
                // the field decides once the event is over, if it is still there (and so
                // are its signals).
                queue_microtask(move || {
                    let there = input.try_get_untracked().flatten().is_some_and(|field| field.is_connected());
                    // Leaving a field that Enter or Escape already closed does nothing.
                    if there && editing.try_with_untracked(|edited| *edited == Some(id)) == Some(true) {
                        save(false);
                    }
                });
            }
        />
        {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
    }
}
