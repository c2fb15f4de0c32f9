use leptos::prelude::*;

#[component]
pub fn Admin() -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Admin"</h1>
        </main>
    }
}
