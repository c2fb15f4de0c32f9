use leptos::prelude::*;

/// The mark and name atop the sign-in and Not found cards.
#[component]
pub fn Brand() -> impl IntoView {
    view! {
        <p class="brand">
            <span class="brand-mark" aria-hidden="true"></span>
            "Taskwire"
        </p>
    }
}
