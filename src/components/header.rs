//! The bar on top of every signed-in page: where you are, who you are, the connection,
//! and the ways out.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use protocol::Role;

use super::acting_as::ActingAsBanner;
use super::connection_status::ConnectionStatus;
use crate::taskwire::Taskwire;

#[component]
pub fn AppHeader() -> impl IntoView {
    let user = Taskwire::expect().user();
    let name = move || user.with(|u| u.as_ref().map(|u| u.username.clone()));
    let initial = move || {
        name()
            .and_then(|n| n.chars().next())
            .map(|c| c.to_ascii_uppercase().to_string())
    };
    let is_admin = move || user.with(|u| u.as_ref().is_some_and(|u| u.role == Role::Admin));
    view! {
        <ActingAsBanner />
        <header class="topbar">
            <div class="topbar-inner">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Taskwire"
                </a>
                <nav class="nav" aria-label="Main">
                    <A href="/">"Tasks"</A>
                    <A href="/diagnostics">"Diagnostics"</A>
                    <Show when=is_admin>
                        <A href="/admin">"Admin"</A>
                    </Show>
                </nav>
                <ConnectionStatus />
                <div class="account">
                    <span class="who">
                        <span class="avatar" aria-hidden="true">
                            {initial}
                        </span>
                        <span class="sr-only">"Signed in as "</span>
                        <span class="username">{name}</span>
                    </span>
                    <SignOutButtons />
                </div>
            </div>
        </header>
    }
}

/// `Sign out` ends this session; `Sign out everywhere` every session of the user. The
/// page follows on its own: without a user the signed-in frame goes to the sign-in page.
#[component]
fn SignOutButtons() -> impl IntoView {
    let tw = Taskwire::expect();
    let busy = RwSignal::new(false);
    let sign_out = move |everywhere: bool| {
        busy.set(true);
        spawn_local(async move {
            if everywhere {
                tw.sign_out_everywhere().await;
            } else {
                tw.sign_out().await;
            }
            busy.set(false);
        });
    };
    view! {
        <button type="button" class="button ghost" disabled=busy on:click=move |_| sign_out(false)>
            "Sign out"
        </button>
        <button type="button" class="button ghost" disabled=busy on:click=move |_| sign_out(true)>
            "Sign out everywhere"
        </button>
    }
}
