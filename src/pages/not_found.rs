use leptos::prelude::*;
use leptos_router::components::A;

/// Any path the router does not know.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Not found"</h1>
            <p>"There is no page at this address."</p>
            <A href="/">"Go to your tasks"</A>
        </main>
    }
}
