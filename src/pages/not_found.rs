use leptos::prelude::*;

use crate::components::Brand;

/// Any path the router does not know.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="auth">
            <div class="card auth-card">
                <Brand />
                <h1>"Not found"</h1>
                <p class="muted">"There is no page at this address."</p>
                <a href="/">"Go to your tasks"</a>
            </div>
        </main>
    }
}
