//! Which page the address shows, and moving between pages without reloading.
//!
//! The app has four static paths and one query value (`?filter=`). leptos_router brings
//! nested and async routing this app does not use, and measured 51 kB brotli on its own
//! (a two-route app against the same app without it, README "Bundle"): more than
//! two-fifths of the 120 kB budget. This module keeps what the app uses of it: the
//! address as a signal, push/replace, back and forward, and same-origin links followed
//! in place.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlAnchorElement, MouseEvent};

/// The pages of `shared/spec/ui.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Board,
    Login,
    Diagnostics,
    Admin,
    NotFound,
}

impl Route {
    /// The page at `path`; a trailing slash names the same page.
    pub fn at(path: &str) -> Self {
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        match path {
            "/" | "" => Self::Board,
            "/login" => Self::Login,
            "/diagnostics" => Self::Diagnostics,
            "/admin" => Self::Admin,
            _ => Self::NotFound,
        }
    }
}

/// The part of the address routing reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    /// With its leading `?`, or empty.
    pub search: String,
}

impl Location {
    fn current() -> Self {
        let location = web_sys::window().map(|w| w.location());
        let read = |part: fn(&web_sys::Location) -> Result<String, JsValue>| {
            location
                .as_ref()
                .and_then(|l| part(l).ok())
                .unwrap_or_default()
        };
        Self {
            path: read(web_sys::Location::pathname),
            search: read(web_sys::Location::search),
        }
    }

    /// The raw value of `key` in the query string (the app's values need no decoding).
    pub fn query(&self, key: &str) -> Option<&str> {
        self.search
            .strip_prefix('?')
            .unwrap_or(&self.search)
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some((name, value)) if name == key => Some(value),
                None if pair == key => Some(""),
                _ => None,
            })
    }
}

/// The address of one mounted app, provided through context. Two mounts on one page
/// (the suites' two tabs) each follow their own navigations, but share the page's one
/// history: back and forward, and a redirect's replace, move both (as with
/// leptos_router).
#[derive(Clone, Copy)]
pub struct Router {
    location: RwSignal<Location>,
    route: Memo<Route>,
}

impl Router {
    /// Reads the page's address and follows back and forward until the owner is gone.
    pub fn provide() -> Self {
        let location = RwSignal::new(Location::current());
        let this = Self {
            location,
            route: Memo::new(move |_| location.with(|l| Route::at(&l.path))),
        };
        let popstate = window_event_listener(leptos::ev::popstate, move |_| {
            location.set(Location::current());
        });
        on_cleanup(move || popstate.remove());
        provide_context(this);
        this
    }

    pub fn expect() -> Self {
        expect_context()
    }

    /// The page shown; unchanged by a new query, so a filter does not rebuild the page.
    pub fn route(&self) -> Memo<Route> {
        self.route
    }

    pub fn location(&self) -> Signal<Location> {
        self.location.into()
    }

    /// Goes to `href` (a path with an optional query) as a link would; `replace` keeps
    /// the current entry out of the history, as a redirect should, and so does going to
    /// the address already shown (as browsers do). The page scrolls to the top when the
    /// page changes, not when only the query (a filter) does. Does nothing once the app
    /// is gone (an answer arriving after unmount).
    pub fn navigate(&self, href: &str, replace: bool) {
        let Some(before) = self.route.try_get_untracked() else {
            return;
        };
        let Some(window) = web_sys::window() else {
            return;
        };
        let Ok(history) = window.history() else {
            return;
        };
        let here = self
            .location
            .with_untracked(|l| format!("{}{}", l.path, l.search));
        let moved = if replace || here == href {
            history.replace_state_with_url(&JsValue::NULL, "", Some(href))
        } else {
            history.push_state_with_url(&JsValue::NULL, "", Some(href))
        };
        if moved.is_err() {
            return;
        }
        self.location.set(Location::current());
        if self.route.get_untracked() != before {
            window.scroll_to_with_x_and_y(0.0, 0.0);
        }
    }

    /// Follows a click on a same-origin link inside the app in place, as a browser
    /// would but without a reload. Clicks a browser gives another meaning (a modifier, a
    /// middle button, `target`, `download`, `rel="external"`) are left to it, and so are
    /// links with a `#fragment`, which the browser scrolls to itself.
    pub fn follow_link(&self, event: &MouseEvent) {
        if event.default_prevented()
            || event.button() != 0
            || event.meta_key()
            || event.ctrl_key()
            || event.shift_key()
            || event.alt_key()
        {
            return;
        }
        let Some(anchor) = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("a[href]").ok().flatten())
            .and_then(|element| element.dyn_into::<HtmlAnchorElement>().ok())
        else {
            return;
        };
        let elsewhere = !matches!(anchor.target().as_str(), "" | "_self")
            || !anchor.hash().is_empty()
            || anchor.has_attribute("download")
            || anchor.rel().split_whitespace().any(|rel| rel == "external");
        let same_origin = web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .is_some_and(|origin| origin == anchor.origin());
        if elsewhere || !same_origin {
            return;
        }
        event.prevent_default();
        self.navigate(&format!("{}{}", anchor.pathname(), anchor.search()), false);
    }
}

/// A link in the app's navigation, marked `aria-current="page"` while its page shows.
#[component]
pub fn NavLink(href: &'static str, children: Children) -> impl IntoView {
    let route = Router::expect().route();
    let target = Route::at(href);
    view! {
        <a href=href aria-current=move || (route.get() == target).then_some("page")>
            {children()}
        </a>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_of_the_contract_names_its_page() {
        assert_eq!(Route::at("/"), Route::Board);
        assert_eq!(Route::at("/login"), Route::Login);
        assert_eq!(Route::at("/login/"), Route::Login);
        assert_eq!(Route::at("/diagnostics"), Route::Diagnostics);
        assert_eq!(Route::at("/admin"), Route::Admin);
        assert_eq!(Route::at("/admin/users"), Route::NotFound);
        assert_eq!(Route::at("/Login"), Route::NotFound);
    }

    #[test]
    fn a_query_value_is_found_by_its_exact_name() {
        let at = |search: &str| Location {
            path: "/".to_owned(),
            search: search.to_owned(),
        };
        assert_eq!(at("?filter=active").query("filter"), Some("active"));
        assert_eq!(
            at("?x=1&filter=completed").query("filter"),
            Some("completed")
        );
        assert_eq!(at("?filters=active").query("filter"), None);
        assert_eq!(at("?filter").query("filter"), Some(""));
        assert_eq!(at("").query("filter"), None);
    }
}
