//! The bar on top of every signed-in page: where you are, who you are, the connection,
//! and the ways out.

use leptos::html;
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
/// With changes not sent yet, here or kept by closed tabs of this browser (a sign-out
/// deletes theirs too), signing out asks first: they would be lost.
#[component]
fn SignOutButtons() -> impl IntoView {
    let tw = Taskwire::expect();
    let busy = RwSignal::new(false);
    // The sign-out waiting for the person's word: `Some(everywhere)`.
    let asking = RwSignal::new(None::<bool>);
    let waiting = move || tw.pending().with(Vec::len);
    // Kept by closed tabs, as counted when the person asked to sign out.
    let elsewhere = RwSignal::new(0_usize);
    let sign_out = move |everywhere: bool| {
        asking.set(None);
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
    let ask = move |everywhere: bool| {
        busy.set(true);
        spawn_local(async move {
            let others = tw.kept_elsewhere().await;
            busy.set(false);
            elsewhere.set(others);
            if waiting() + others == 0 {
                sign_out(everywhere);
            } else {
                asking.set(Some(everywhere));
            }
        });
    };
    let unsent = move || {
        let (here, others) = (waiting(), elsewhere.get());
        let all = match here + others {
            1 => "1 change not sent yet".to_owned(),
            n => format!("{n} changes not sent yet"),
        };
        match (here, others) {
            (_, 0) => all,
            (0, 1) => format!("{all}, kept by a closed tab"),
            (0, _) => format!("{all}, kept by closed tabs"),
            (_, others) => format!("{all}, {others} of them kept by closed tabs"),
        }
    };
    // The question takes the focus as it opens (so it is read out), and staying gives it
    // back to the button that asked, as Escape does.
    let (this, everywhere_too, stay) = (
        NodeRef::<html::Button>::new(),
        NodeRef::<html::Button>::new(),
        NodeRef::<html::Button>::new(),
    );
    Effect::new(move || {
        if let Some(stay) = stay.get() {
            let _ = stay.focus();
        }
    });
    let back = move |everywhere: bool| {
        asking.set(None);
        let asked = if everywhere { everywhere_too } else { this };
        if let Some(button) = asked.get_untracked() {
            let _ = button.focus();
        }
    };
    view! {
        <button
            type="button"
            class="button ghost"
            node_ref=this
            disabled=busy
            on:click=move |_| ask(false)
        >
            "Sign out"
        </button>
        <button
            type="button"
            class="button ghost"
            node_ref=everywhere_too
            disabled=busy
            on:click=move |_| ask(true)
        >
            "Sign out everywhere"
        </button>
        {move || {
            asking
                .get()
                .map(|everywhere| {
                    view! {
                        <div
                            class="confirm card sign-out-confirm"
                            role="alertdialog"
                            aria-label="Sign out?"
                            on:keydown=move |ev| {
                                if ev.key() == "Escape" {
                                    back(everywhere);
                                }
                            }
                        >
                            <p>
                                {unsent}
                                ". Signing out now loses them."
                            </p>
                            <button
                                type="button"
                                class="button small danger"
                                on:click=move |_| sign_out(everywhere)
                            >
                                "Sign out anyway"
                            </button>
                            <button
                                type="button"
                                class="button ghost small"
                                node_ref=stay
                                on:click=move |_| back(everywhere)
                            >
                                "Stay"
                            </button>
                        </div>
                    }
                })
        }}
    }
}
