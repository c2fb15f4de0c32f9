//! The app's root: one socket service and one router per mounted app, and the pages of
//! `shared/spec/ui.md`.

use leptos::prelude::*;
use leptos_router::components::{FlatRoutes, Route, Router};
use leptos_router::path;

use crate::api::Api;
use crate::pages::{Admin, BoardPage, BoardsShown, Diagnostics, Home, Login, NotFound};
use crate::taskwire::Taskwire;

/// The whole app. `api` is where the server lives: the page's own origin unless given
/// (the browser suites pass the test server). Each mount gets its own service, so two
/// mounts on one page behave like two tabs.
///
/// The routes are flat (no page inside another), so `FlatRoutes` matches them: it costs
/// 11 kB brotli less in the bundle than the nested `Routes`, whose outlets this app would
/// never use.
#[component]
pub fn App(#[prop(optional, into)] api: Option<Api>) -> impl IntoView {
    Taskwire::provide(api.unwrap_or_else(|| Api::new("")));
    BoardsShown::provide();
    view! {
        <Router>
            <FlatRoutes fallback=NotFound>
                <Route path=path!("/") view=Home />
                <Route path=path!("/b/:board_id") view=BoardPage />
                <Route path=path!("/login") view=Login />
                <Route path=path!("/diagnostics") view=Diagnostics />
                <Route path=path!("/admin") view=Admin />
            </FlatRoutes>
        </Router>
    }
}
