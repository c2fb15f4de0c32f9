//! `/admin`: the users, and acting as one of them. Only admins get the list.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;
use protocol::{Role, User};

use crate::components::SignedInPage;
use crate::taskwire::Taskwire;

#[component]
pub fn Admin() -> impl IntoView {
    let user = Taskwire::expect().user();
    let is_admin =
        Memo::new(move |_| user.with(|u| u.as_ref().is_some_and(|u| u.role == Role::Admin)));
    view! {
        <SignedInPage title="Admin">
            <Show when=move || is_admin.get() fallback=NotAllowed>
                <UserList />
            </Show>
        </SignedInPage>
    }
}

#[component]
fn NotAllowed() -> impl IntoView {
    view! {
        <section class="card notice">
            <h2>"Not allowed"</h2>
            <p>"Only administrators can open this page."</p>
        </section>
    }
}

/// Where the list of users stands.
#[derive(Clone)]
enum Users {
    Loading,
    /// The alert says why; the page offers to try again rather than wait for good.
    Failed,
    Loaded(Vec<User>),
}

/// The users, loaded when the page opens. A plain task and signal rather than a
/// resource with `Suspense`: the page needs no more, and the bundle stays smaller.
#[component]
fn UserList() -> impl IntoView {
    let tw = Taskwire::expect();
    let users = RwSignal::new(Users::Loading);
    let failure = RwSignal::new(None::<String>);
    let load = move || {
        users.set(Users::Loading);
        failure.set(None);
        spawn_local(async move {
            match tw.users().await {
                Ok(list) => users.set(Users::Loaded(list)),
                Err(error) => {
                    failure.set(Some(error.to_string()));
                    users.set(Users::Failed);
                }
            }
        });
    };
    load();
    // Try again goes as it is pressed: the focus goes to the list's section, where the
    // keyboard finds the users (or Try again) next, not back to the top of the page.
    let area = NodeRef::<html::Section>::new();
    let again = move || {
        load();
        if let Some(area) = area.get_untracked() {
            let _ = area.focus();
        }
    };
    view! {
        {move || failure.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
        <section
            class="card"
            node_ref=area
            tabindex="-1"
            aria-busy=move || users.with(|users| matches!(users, Users::Loading)).then_some("true")
        >
            {move || match users.get() {
                Users::Loading => view! { <p class="notice muted">"Loading users…"</p> }.into_any(),
                Users::Failed => {
                    view! {
                        <div class="notice">
                            <p class="muted">"The users could not be loaded."</p>
                            <button type="button" class="button" on:click=move |_| again()>
                                "Try again"
                            </button>
                        </div>
                    }
                        .into_any()
                }
                Users::Loaded(list) => {
                    view! {
                        <ul class="users" aria-label="Users">
                            {list
                                .into_iter()
                                .map(|user| view! { <UserRow user failure /> })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn UserRow(user: User, failure: RwSignal<Option<String>>) -> impl IntoView {
    let tw = Taskwire::expect();
    let navigate = use_navigate();
    let busy = RwSignal::new(false);
    let is_admin = user.role == Role::Admin;
    let name = user.username;
    let log_in_as = {
        let name = name.clone();
        move |_| {
            let name = name.clone();
            let navigate = navigate.clone();
            busy.set(true);
            failure.set(None);
            spawn_local(async move {
                match tw.login_as(name).await {
                    Ok(()) => navigate("/", NavigateOptions::default()),
                    Err(error) => failure.set(Some(error.to_string())),
                }
                busy.set(false);
            });
        }
    };
    view! {
        <li class="user-row">
            <span class="avatar" aria-hidden="true">
                {name.chars().next().map(|c| c.to_ascii_uppercase().to_string())}
            </span>
            <span class="username">{name.clone()}</span>
            {is_admin.then(|| view! { <span class="badge">"admin"</span> })}
            <button type="button" class="button small" disabled=busy on:click=log_in_as>
                {format!("Log in as {name}")}
            </button>
        </li>
    }
}
