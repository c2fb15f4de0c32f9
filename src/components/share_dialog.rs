//! The board's members in a dialog: owners add people by username (as editor or
//! viewer) and remove them; everyone else sees who is on the board. A modal `<dialog>`:
//! the browser keeps focus and the screen reader inside it while it is open and Escape
//! closes it; focus moves into it when it opens and back to the button that opened it
//! when it closes.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::{BoardRole, Member};
use uuid::Uuid;

use crate::taskwire::Taskwire;

#[component]
pub fn ShareDialog(
    id: Uuid,
    #[prop(into)] name: Signal<String>,
    #[prop(into)] owner: Signal<bool>,
    #[prop(into)] on_close: Callback<()>,
) -> impl IntoView {
    let tw = Taskwire::expect();
    let members = RwSignal::new(None::<Vec<Member>>);
    let problem = RwSignal::new(None::<String>);
    let username = RwSignal::new(String::new());
    let role = RwSignal::new(BoardRole::Editor);
    let busy = RwSignal::new(false);
    // What the last add or removal did, read out (the list itself changes silently).
    let done = RwSignal::new(String::new());
    let first = NodeRef::<html::Input>::new();
    let close_button = NodeRef::<html::Button>::new();
    let dialog = NodeRef::<html::Dialog>::new();
    // Closed here first: while it is modal, the page outside it cannot take the focus
    // that `on_close` gives back.
    let close = move || {
        if let Some(dialog) = dialog.get_untracked() {
            dialog.close();
        }
        on_close.run(());
    };
    let reload = move || {
        spawn_local(async move {
            match tw.members(id).await {
                Ok(list) => members.set(Some(list)),
                Err(error) => problem.set(Some(error.to_string())),
            }
        });
    };
    reload();
    Effect::new(move || {
        if let Some(dialog) = dialog.get()
            && !dialog.open()
        {
            // Only fails for a dialog not in the document, or open already.
            drop(dialog.show_modal());
        }
        // The username field for owners, else the close button.
        if let Some(field) = first.get() {
            let _ = field.focus();
        } else if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    });
    let add = move || {
        busy.set(true);
        spawn_local(async move {
            let typed = username.get_untracked();
            match tw.share(id, &typed, role.get_untracked()).await {
                Ok(_) => {
                    username.set(String::new());
                    problem.set(None);
                    done.set(format!("{typed} added."));
                    reload();
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
            busy.set(false);
        });
    };
    let remove = move |who: String| {
        spawn_local(async move {
            match tw.remove_member(id, &who).await {
                Ok(()) => {
                    problem.set(None);
                    done.set(format!("{who} removed."));
                    reload();
                    // The list is drawn again, and the focused Remove with it: the
                    // keyboard goes on from the username field, not the top of the page
                    // or another member's Remove.
                    if let Some(field) = first.get_untracked() {
                        let _ = field.focus();
                    }
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
        });
    };
    let heading = move || {
        if owner.get() {
            format!("Share {}", name.get())
        } else {
            format!("Members of {}", name.get())
        }
    };
    view! {
        <dialog
            node_ref=dialog
            class="dialog card"
            aria-label=heading
            // Escape: the page closes it, so that focus goes back where it came from (the
            // keydown is what a keyboard sends; `cancel` covers the browser's other ways).
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    ev.prevent_default();
                    close();
                }
            }
            on:cancel=move |ev: web_sys::Event| {
                ev.prevent_default();
                close();
            }
            // A click on the backdrop lands on the dialog itself.
            on:click=move |ev| {
                let target = ev.target();
                if dialog.get_untracked().is_some_and(|d| target.as_ref() == Some(d.as_ref())) {
                    close();
                }
            }
        >
            <div class="dialog-body">
                <h2 class="dialog-title">{heading}</h2>
                <Show when=move || owner.get()>
                    <form
                        class="share-form"
                        on:submit=move |ev| {
                            ev.prevent_default();
                            add();
                        }
                    >
                        <label class="field">
                            <span>"Username"</span>
                            <input
                                node_ref=first
                                type="text"
                                autocomplete="off"
                                maxlength="32"
                                prop:value=username
                                on:input=move |ev| {
                                    username.set(event_target_value(&ev));
                                    problem.set(None);
                                }
                            />
                        </label>
                        <label class="field">
                            <span>"Role"</span>
                            <select aria-label="Role" on:change=move |ev| {
                                role.set(
                                    if event_target_value(&ev) == "viewer" {
                                        BoardRole::Viewer
                                    } else {
                                        BoardRole::Editor
                                    },
                                );
                            }>
                                <option value="editor" selected=move || role.get() == BoardRole::Editor>
                                    "Editor"
                                </option>
                                <option value="viewer" selected=move || role.get() == BoardRole::Viewer>
                                    "Viewer"
                                </option>
                            </select>
                        </label>
                        <button type="submit" class="button primary small" disabled=busy>
                            "Add"
                        </button>
                    </form>
                </Show>
                {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
                <p class="muted" role="status">{done}</p>
                <ul class="members" aria-label="Members">
                    {move || {
                        members
                            .get()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|member| {
                                let who = member.user.username.clone();
                                let removable = owner.get() && member.role != BoardRole::Owner;
                                view! {
                                    <li class="member">
                                        <span class="member-name">{member.user.username.clone()}</span>
                                        <span class="member-role">{role_name(member.role)}</span>
                                        {removable
                                            .then(|| {
                                                let label = format!("Remove {who}");
                                                view! {
                                                    <button
                                                        type="button"
                                                        class="button ghost small"
                                                        aria-label=label
                                                        on:click=move |_| remove(who.clone())
                                                    >
                                                        "Remove"
                                                    </button>
                                                }
                                            })}
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ul>
                <button
                    node_ref=close_button
                    type="button"
                    class="button ghost small"
                    on:click=move |_| close()
                >
                    "Close"
                </button>
            </div>
        </dialog>
    }
}

fn role_name(role: BoardRole) -> &'static str {
    match role {
        BoardRole::Owner => "Owner",
        BoardRole::Editor => "Editor",
        BoardRole::Viewer => "Viewer",
    }
}
