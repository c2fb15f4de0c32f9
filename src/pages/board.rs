//! `/`: the task board.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::components::{
    Filter, NewTaskForm, PendingChanges, ServiceAlert, SignedInPage, TaskFooter, TaskList,
};

#[component]
pub fn Board() -> impl IntoView {
    view! {
        <SignedInPage title="Tasks">
            <TaskBoard />
        </SignedInPage>
    }
}

#[component]
fn TaskBoard() -> impl IntoView {
    // The router's own query, current as soon as the address is: the matched route's
    // copy (`use_query_map`) follows a tick later, and a click in between (a box ticked
    // right after choosing Active) would see the filter before.
    let query = use_location().query;
    let filter = Memo::new(move |_| query.with(|q| Filter::from_query(q.get_str("filter"))));
    view! {
        <ServiceAlert />
        <PendingChanges />
        <section class="card board" aria-label="Task board">
            <NewTaskForm />
            <TaskList filter />
            <TaskFooter filter />
        </section>
    }
}
