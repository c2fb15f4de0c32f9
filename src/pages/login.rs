use leptos::prelude::*;

#[component]
pub fn Login() -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Sign in"</h1>
        </main>
    }
}
