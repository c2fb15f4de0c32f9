//! The board's members in a dialog: owners add people by username (as editor or
//! viewer) and remove them; everyone else sees who is on the board. Focus moves into
//! the dialog when it opens and back to the button that opened it when it closes;
//! Escape closes it.

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
    let first = NodeRef::<html::Input>::new();
    let close_button = NodeRef::<html::Button>::new();
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
                    reload();
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
        <div class="dialog-backdrop" on:click=move |_| on_close.run(())>
            <div
                class="dialog card"
                role="dialog"
                aria-modal="true"
                aria-label=heading
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        ev.prevent_default();
                        on_close.run(());
                    }
                }
            >
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
                            <select on:change=move |ev| {
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
                    on:click=move |_| on_close.run(())
                >
                    "Close"
                </button>
            </div>
        </div>
    }
}

fn role_name(role: BoardRole) -> &'static str {
    match role {
        BoardRole::Owner => "Owner",
        BoardRole::Editor => "Editor",
        BoardRole::Viewer => "Viewer",
    }
}
