//! The app's root: routes per `shared/spec/ui.md`.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::pages::{Admin, Board, Diagnostics, Login, NotFound};

#[component]
pub fn App() -> impl IntoView {
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
