use leptos::prelude::*;

#[component]
pub fn Board() -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Tasks"</h1>
        </main>
    }
}
