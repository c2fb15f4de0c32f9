//! `/`: the task board.

use leptos::prelude::*;

use crate::components::{
    Filter, NewTaskForm, PendingChanges, ServiceAlert, SignedInPage, TaskFooter, TaskList,
};
use crate::router::Router;

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
    let location = Router::expect().location();
    let filter = Memo::new(move |_| location.with(|l| Filter::from_query(l.query("filter"))));
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
