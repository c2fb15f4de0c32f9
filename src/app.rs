//! The app's root: one socket service and one router per mounted app, and the pages of
//! `shared/spec/ui.md`.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::api::Api;
use crate::pages::{Admin, Board, Diagnostics, Login, NotFound};
use crate::taskwire::Taskwire;

/// The whole app. `api` is where the server lives: the page's own origin unless given
/// (the browser suites pass the test server). Each mount gets its own service, so two
/// mounts on one page behave like two tabs.
#[component]
pub fn App(#[prop(optional, into)] api: Option<Api>) -> impl IntoView {
    Taskwire::provide(api.unwrap_or_else(|| Api::new("")));
    view! {
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=Board />
                <Route path=path!("/login") view=Login />
                <Route path=path!("/diagnostics") view=Diagnostics />
                <Route path=path!("/admin") view=Admin />
            </Routes>
        </Router>
    }
}
