//! The board's name as the page's heading, and what the person may do to the board:
//! owners share, rename and delete it; other members see who is on it and may leave.
//! The personal board has none of these.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;
use protocol::BoardRole;
use uuid::Uuid;

use super::share_dialog::ShareDialog;
use crate::taskwire::Taskwire;

/// What the heading shows besides the name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    Renaming,
    ConfirmingDelete,
}

#[component]
pub fn BoardHeading(id: Uuid) -> impl IntoView {
    let tw = Taskwire::expect();
    let info = Memo::new(move |_| tw.board(id));
    let name = move || info.with(|b| b.as_ref().map(|b| b.name.clone()).unwrap_or_default());
    let role = move || info.with(|b| b.as_ref().filter(|b| !b.personal).map(|b| b.role));
    let mode = RwSignal::new(Mode::Idle);
    let problem = RwSignal::new(None::<String>);
    let sharing = RwSignal::new(false);
    let share_button = NodeRef::<html::Button>::new();
    let rename_button = NodeRef::<html::Button>::new();
    let delete_button = NodeRef::<html::Button>::new();
    // The delete question takes the focus as it opens, on its safe answer, so that it is
    // read out and Enter does not delete; Escape and Cancel give it back to the button.
    let cancel_delete = NodeRef::<html::Button>::new();
    Effect::new(move || {
        if let Some(cancel) = cancel_delete.get() {
            let _ = cancel.focus();
        }
    });
    // A form or a confirmation closing gives focus back to the button that opened it,
    // not to the page: a keyboard user goes on from where they were.
    let done = move |closing: Mode| {
        // Already closed (a save answered after Escape): nothing to close, and focus
        // stays wherever the person has gone since.
        if mode.get_untracked() != closing {
            return;
        }
        mode.set(Mode::Idle);
        let opener = match closing {
            Mode::Renaming => rename_button,
            _ => delete_button,
        };
        if let Some(button) = opener.get_untracked() {
            let _ = button.focus();
        }
    };
    let close_rename = Callback::new(move |()| done(Mode::Renaming));
    let navigate = use_navigate();
    // Leaving or deleting moves to the personal board first, so that the board's end
    // does not come back as a "you no longer have access" alert.
    let to_personal = move || {
        navigate(
            &tw.personal_path(),
            NavigateOptions {
                replace: true,
                ..NavigateOptions::default()
            },
        );
    };
    let leave = {
        let to_personal = to_personal.clone();
        move |_| {
            let Some(me) = tw.user().get_untracked().map(|user| user.username) else {
                return;
            };
            to_personal();
            spawn_local(async move {
                if let Err(error) = tw.remove_member(id, &me).await {
                    tw.show_alert(format!("Could not leave the board: {error}"));
                }
            });
        }
    };
    let delete = move |_| {
        to_personal();
        spawn_local(async move {
            if let Err(error) = tw.delete_board(id).await {
                tw.show_alert(format!("Could not delete the board: {error}"));
            }
        });
    };
    view! {
        <div class="board-heading">
            {move || match mode.get() {
                // The name the form starts from, read once: a rename from elsewhere while
                // it is open must not build it anew over what the person is typing.
                Mode::Renaming => {
                    let current = untrack(name);
                    view! { <RenameForm id done=close_rename problem current /> }.into_any()
                }
                // Focusable from script only: a board opened after another hands it the
                // focus (`pages::board`).
                _ => view! { <h1 class="page-title" tabindex="-1">{name}</h1> }.into_any(),
            }}
            <div class="board-actions">
                {move || match role() {
                    None => ().into_any(),
                    Some(BoardRole::Owner) => {
                        view! {
                            <button
                                node_ref=share_button
                                type="button"
                                class="button small"
                                on:click=move |_| sharing.set(true)
                            >
                                "Share"
                            </button>
                            <button
                                node_ref=rename_button
                                type="button"
                                class="button ghost small"
                                on:click=move |_| mode.set(Mode::Renaming)
                            >
                                "Rename board"
                            </button>
                            <button
                                node_ref=delete_button
                                type="button"
                                class="button ghost small danger-text"
                                on:click=move |_| mode.set(Mode::ConfirmingDelete)
                            >
                                "Delete board"
                            </button>
                        }
                            .into_any()
                    }
                    Some(_) => {
                        let leave = leave.clone();
                        view! {
                            <button
                                node_ref=share_button
                                type="button"
                                class="button ghost small"
                                on:click=move |_| sharing.set(true)
                            >
                                "Members"
                            </button>
                            <button type="button" class="button ghost small" on:click=leave>
                                "Leave board"
                            </button>
                        }
                            .into_any()
                    }
                }}
            </div>
        </div>
        <Show when=move || mode.get() == Mode::ConfirmingDelete>
            <div
                class="confirm card"
                role="alertdialog"
                aria-label=move || format!("Delete {}?", name())
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        done(Mode::ConfirmingDelete);
                    }
                }
            >
                <p>{move || format!("Delete {} and all its tasks? This cannot be undone.", name())}</p>
                <button type="button" class="button small danger" on:click=delete.clone()>
                    "Confirm delete"
                </button>
                <button
                    type="button"
                    class="button ghost small"
                    node_ref=cancel_delete
                    on:click=move |_| done(Mode::ConfirmingDelete)
                >
                    "Cancel"
                </button>
            </div>
        </Show>
        {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
        <Show when=move || sharing.get()>
            <ShareDialog
                id
                name=Signal::derive(name)
                owner=move || role() == Some(BoardRole::Owner)
                on_close=move || {
                    sharing.set(false);
                    if let Some(button) = share_button.get_untracked() {
                        let _ = button.focus();
                    }
                }
            />
        </Show>
    }
}

/// The name as an input in place of the heading: Enter saves, Escape cancels.
#[component]
fn RenameForm(
    id: Uuid,
    /// Closes the form.
    done: Callback<()>,
    problem: RwSignal<Option<String>>,
    current: String,
) -> impl IntoView {
    let tw = Taskwire::expect();
    let name = RwSignal::new(current);
    let field = NodeRef::<html::Input>::new();
    Effect::new(move || {
        if let Some(field) = field.get() {
            let _ = field.focus();
            field.select();
        }
    });
    // One rename at a time: a second Enter while the first is on its way sends nothing.
    let saving = RwSignal::new(false);
    let save = move || {
        if saving.get_untracked() {
            return;
        }
        saving.set(true);
        spawn_local(async move {
            let renamed = tw.rename_board(id, &name.get_untracked()).await;
            // `try_`: the page may have moved on meanwhile; the heading's mode and
            // problem outlive the form.
            let _ = saving.try_set(false);
            match renamed {
                Ok(_) => {
                    if problem.try_set(None).is_none() {
                        done.run(());
                    }
                }
                Err(error) => {
                    let _ = problem.try_set(Some(error.to_string()));
                }
            }
        });
    };
    view! {
        <form
            class="rename-board"
            on:submit=move |ev| {
                ev.prevent_default();
                save();
            }
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    problem.set(None);
                    done.run(());
                }
            }
        >
            <input
                node_ref=field
                type="text"
                aria-label="Board name"
                // The browser counts UTF-16 units (an emoji is two) before trimming: 80
                // characters may be 160; the name itself is checked as the server checks it.
                maxlength="160"
                autocomplete="off"
                prop:value=name
                on:input=move |ev| name.set(event_target_value(&ev))
            />
            <button type="submit" class="button primary small" disabled=saving>
                "Save name"
            </button>
            <button type="button" class="button ghost small" on:click=move |_| done.run(())>
                "Cancel"
            </button>
        </form>
    }
}
