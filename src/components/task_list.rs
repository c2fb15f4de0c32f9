//! The list of tasks under the current filter, one keyed row per task so that a change
//! touches only its row.

use leptos::prelude::*;

use super::Filter;
use super::task_item::TaskItem;
use crate::taskwire::Taskwire;

#[component]
pub fn TaskList(filter: Memo<Filter>) -> impl IntoView {
    let tw = Taskwire::expect();
    let ids = tw.task_ids();
    // Under `All` no row is read, so a row's change does not recompute the list.
    let visible = Memo::new(move |_| {
        let filter = filter.get();
        ids.with(|ids| {
            ids.iter()
                .copied()
                .filter(|id| {
                    filter == Filter::All
                        || tw
                            .task(*id)
                            .is_some_and(|row| row.with(|r| filter.shows(r.task.done)))
                })
                .collect::<Vec<_>>()
        })
    });
    let empty_text = move || {
        if !visible.with(Vec::is_empty) {
            None
        } else if ids.with(Vec::is_empty) {
            Some(Filter::All.nothing_here())
        } else {
            Some(filter.get().nothing_here())
        }
    };
    view! {
        <ul class="tasks" aria-label="Tasks" hidden=move || visible.with(Vec::is_empty)>
            <For each=move || visible.get() key=|id| *id let(id)>
                // Looked up once here rather than by each row; the list holds only ids the
                // service knows, and a row gone meanwhile renders nothing.
                {tw.task(id).map(|row| view! { <TaskItem id row tw /> })}
            </For>
        </ul>
        {move || empty_text().map(|text| view! { <p class="empty">{text}</p> })}
    }
}
