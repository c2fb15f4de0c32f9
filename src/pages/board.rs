//! `/`: the task board.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

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
    let query = use_query_map();
    let filter = Memo::new(move |_| Filter::from_query(query.read().get_str("filter")));
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
