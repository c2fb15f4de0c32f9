//! The banner an admin sees while acting as someone else, so they never forget whose
//! tasks they are changing.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::taskwire::Taskwire;

#[component]
pub fn ActingAsBanner() -> impl IntoView {
    let tw = Taskwire::expect();
    let user = tw.user();
    let acting = move || {
        user.with(|u| {
            u.as_ref()
                .and_then(|u| Some((u.username.clone(), u.acting_as_admin.clone()?)))
        })
    };
    let navigate = use_navigate();
    let busy = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let back = move |_| {
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            match tw.exit_login_as().await {
                Ok(()) => navigate("/admin", NavigateOptions::default()),
                Err(error) => failure.set(Some(error.to_string())),
            }
            busy.set(false);
        });
    };
    move || {
        let back = back.clone();
        acting().map(|(who, admin)| {
            view! {
                <aside class="acting-as" aria-label="Acting as another user">
                    <p>
                        "You are acting as " <strong>{who}</strong> " (signed in as " {admin}
                        ")."
                    </p>
                    <button type="button" class="button small" disabled=busy on:click=back>
                        "Back to my account"
                    </button>
                    {move || failure.get().map(|text| view! { <p role="alert">{text}</p> })}
                </aside>
            }
        })
    }
}
