//! The app's root: one socket service and one router per mounted app, and the pages of
//! `shared/spec/ui.md`.

use leptos::prelude::*;

use crate::api::Api;
use crate::pages::{Admin, Board, Diagnostics, Login, NotFound};
use crate::router::{Route, Router};
use crate::taskwire::Taskwire;

/// The whole app. `api` is where the server lives: the page's own origin unless given
/// (the browser suites pass the test server). Each mount gets its own service, so two
/// mounts on one page behave like two tabs.
#[component]
pub fn App(#[prop(optional, into)] api: Option<Api>) -> impl IntoView {
    Taskwire::provide(api.unwrap_or_else(|| Api::new("")));
    let router = Router::provide();
    let route = router.route();
    // `display: contents`: the wrapper only catches the app's link clicks.
    view! {
        <div class="app" on:click=move |ev| router.follow_link(&ev)>
            {move || match route.get() {
                Route::Board => view! { <Board /> }.into_any(),
                Route::Login => view! { <Login /> }.into_any(),
                Route::Diagnostics => view! { <Diagnostics /> }.into_any(),
                Route::Admin => view! { <Admin /> }.into_any(),
                Route::NotFound => view! { <NotFound /> }.into_any(),
            }}
        </div>
    }
}
