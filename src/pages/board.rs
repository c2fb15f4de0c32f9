//! `/` and `/b/:board_id`: a board. `/` shows the board opened last in this browser
//! (while it is still the person's), else their personal board.

use leptos::html;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate, use_params_map};
use protocol::BoardRole;
use uuid::Uuid;
use wasm_bindgen::JsCast;

use crate::components::{
    BoardHeading, BoardNav, ConflictAlert, Filter, HereNow, NewTaskForm, PendingChanges,
    ServiceAlert, SignedInPage, TaskFooter, TaskList, focus_is_lost,
};
use crate::taskwire::Taskwire;

#[component]
pub fn Home() -> impl IntoView {
    let tw = Taskwire::expect();
    let home =
        Memo::new(move |shown: Option<&Option<Uuid>>| tw.home_board(shown.copied().flatten()));
    let opened = BoardsShown::expect();
    view! {
        <SignedInPage>
            {move || match home.get() {
                Some(id) => open_board(opened, id),
                None => view! { <BoardsLoading /> }.into_any(),
            }}
        </SignedInPage>
    }
}

#[component]
pub fn BoardPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params.with(|p| p.get("board_id").and_then(|id| Uuid::try_parse(&id).ok()))
    });
    let opened = BoardsShown::expect();
    view! {
        <SignedInPage>
            {move || match id.get() {
                Some(id) => open_board(opened, id),
                None => view! { <BoardNotFound /> }.into_any(),
            }}
        </SignedInPage>
    }
}

/// Whether the app has shown a board yet. `/` and `/b/:board_id` are two pages to the
/// router, so it is kept above them: a board opened from `/` replaces the whole page,
/// and the control focus was on goes with it as it does within one page.
#[derive(Clone, Copy)]
pub struct BoardsShown(StoredValue<bool>);

impl BoardsShown {
    pub fn provide() {
        provide_context(Self(StoredValue::new(false)));
    }

    fn expect() -> StoredValue<bool> {
        use_context::<Self>().map_or_else(|| StoredValue::new(false), |shown| shown.0)
    }
}

/// Board `id`'s view. Each board shown after the app's first (`opened`) is a new view,
/// and the control focus was on (a board's link, Create board, Confirm delete) goes with
/// the old one.
fn open_board(opened: StoredValue<bool>, id: Uuid) -> AnyView {
    let after_another = opened.get_value();
    opened.set_value(true);
    view! { <OpenBoard id after_another /> }.into_any()
}

/// Focus left on nothing (the page's body) as a board replaced another goes to the new
/// board's heading, so a keyboard goes on from there and a screen reader reads its name,
/// rather than both starting again from the top of the page.
fn focus_heading_if_lost(main: NodeRef<html::Div>) {
    request_animation_frame(move || {
        if focus_is_lost()
            && let Some(heading) = main
                .get_untracked()
                .and_then(|main| main.query_selector("h1").ok().flatten())
                .and_then(|heading| heading.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = heading.focus();
        }
    });
}

/// Until the board list arrives; a connection that fails meanwhile says why.
#[component]
fn BoardsLoading() -> impl IntoView {
    view! {
        <ServiceAlert />
        <p class="restoring" aria-busy="true">
            <span class="spinner" aria-hidden="true"></span>
            "Loading your boards…"
        </p>
    }
}

/// The same page whether the board exists or not: nothing about it leaks.
#[component]
fn BoardNotFound() -> impl IntoView {
    view! {
        <div class="board-layout">
            <BoardNav shown=None />
            <div class="board-main">
                <h1 class="page-title">"Not found"</h1>
                <p class="muted">"There is no board of yours at this address."</p>
                <a href="/">"Go to your tasks"</a>
            </div>
        </div>
    }
}

/// Board `id`, opened on the socket while the page shows it. When the person loses it
/// (removed, or the board deleted), the alert says so and the page moves to their
/// personal board.
#[component]
fn OpenBoard(id: Uuid, after_another: bool) -> impl IntoView {
    let tw = Taskwire::expect();
    let user = tw.user();
    Effect::new(move || {
        if user.with(Option::is_some) {
            tw.open(id);
        }
    });
    // A board not found when it was opened is asked for again once the person's board
    // list gains it (shared with them since): the page shows it without a reload. Only
    // as it comes into the list, so a board the server still refuses is not asked for
    // again and again.
    let unavailable = tw.unavailable();
    Effect::new(move |was_listed: Option<bool>| {
        let listed = tw.board(id).is_some();
        if listed && was_listed == Some(false) {
            tw.reopen(id);
        }
        listed
    });
    let navigate = use_navigate();
    Effect::new(move || {
        if tw.lost().get() == Some(id) {
            navigate(
                &tw.personal_path(),
                NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                },
            );
        }
    });
    move || {
        if unavailable.get() == Some(id) {
            view! { <BoardNotFound /> }.into_any()
        } else {
            view! { <BoardView id after_another /> }.into_any()
        }
    }
}

#[component]
fn BoardView(id: Uuid, after_another: bool) -> impl IntoView {
    let tw = Taskwire::expect();
    // The router's own query, current as soon as the address is: the matched route's
    // copy (`use_query_map`) follows a tick later, and a click in between (a box ticked
    // right after choosing Active) would see the filter before.
    let query = use_location().query;
    let filter = Memo::new(move |_| query.with(|q| Filter::from_query(q.get_str("filter"))));
    // Until the board list says otherwise, nothing offers a change the server may refuse.
    let read_only = Memo::new(move |_| {
        tw.board(id)
            .is_none_or(|board| board.role == BoardRole::Viewer)
    });
    let main = NodeRef::<html::Div>::new();
    if after_another {
        Effect::new(move |_| focus_heading_if_lost(main));
    }
    view! {
        <div class="board-layout">
            <BoardNav shown=Some(id) />
            <div class="board-main" node_ref=main>
                <BoardHeading id />
                <HereNow />
                <ServiceAlert />
                <ConflictAlert />
                <PendingChanges />
                <section class="card board" aria-label="Task board">
                    {move || {
                        let read_only = read_only.get();
                        view! {
                            {(!read_only).then(|| view! { <NewTaskForm /> })}
                            <TaskList filter read_only />
                            <TaskFooter filter read_only />
                        }
                    }}
                </section>
            </div>
        </div>
    }
}
