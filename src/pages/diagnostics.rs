use leptos::prelude::*;

#[component]
pub fn Diagnostics() -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Diagnostics"</h1>
        </main>
    }
}
