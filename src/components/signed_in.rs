//! The frame of every page that needs a session: wait while a session is restored or
//! switched,
//! send people without one to the sign-in page, and show the header.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use super::header::AppHeader;
use crate::taskwire::Taskwire;

#[derive(Clone, Copy, PartialEq)]
enum Gate {
    /// Waiting for a session: restored on page load, or switched (an admin logging in as
    /// someone, or back). The text says which.
    Waiting(&'static str),
    SignedOut,
    SignedIn,
}

/// A signed-in page titled `title` (a page without one gives its own heading). Until the
/// page-load refresh has answered, nobody is sent away: a reload must keep the session.
#[component]
pub fn SignedInPage(
    #[prop(optional)] title: Option<&'static str>,
    children: ChildrenFn,
) -> impl IntoView {
    let tw = Taskwire::expect();
    let (user, restoring, retrying) = (tw.user(), tw.restoring(), tw.restore_retrying());
    // A memo, so a refreshed token (the same user again) does not rebuild the page.
    let gate = Memo::new(move |_| {
        if user.with(Option::is_some) {
            Gate::SignedIn
        } else if restoring.get() {
            Gate::Waiting(if retrying.get() {
                "Cannot reach the server. Trying again to restore your session…"
            } else {
                "Restoring your session…"
            })
        } else {
            Gate::SignedOut
        }
    });
    let navigate = use_navigate();
    // After render, as a redirect: the sign-in page replaces this one in the history.
    Effect::new(move || {
        if gate.get() == Gate::SignedOut {
            navigate(
                "/login",
                NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                },
            );
        }
    });
    move || match gate.get() {
        Gate::Waiting(text) => view! {
            <main class="page page-centered" aria-busy="true">
                <p class="restoring">
                    <span class="spinner" aria-hidden="true"></span>
                    {text}
                </p>
            </main>
        }
        .into_any(),
        Gate::SignedOut => ().into_any(),
        Gate::SignedIn => view! {
            <AppHeader />
            <main class="page">
                {title.map(|title| view! { <h1 class="page-title">{title}</h1> })}
                {children()}
            </main>
        }
        .into_any(),
    }
}
