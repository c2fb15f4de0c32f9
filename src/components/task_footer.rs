//! Under the list: how much is left, the filters, and clearing what is done.

use leptos::prelude::*;

use super::Filter;
use crate::taskwire::Taskwire;

#[component]
pub fn TaskFooter(filter: Memo<Filter>) -> impl IntoView {
    let tw = Taskwire::expect();
    let ids = tw.task_ids();
    let counts = Memo::new(move |_| {
        ids.with(|ids| {
            let done = ids
                .iter()
                .filter(|id| tw.task(**id).is_some_and(|row| row.with(|r| r.task.done)))
                .count();
            (ids.len() - done, done)
        })
    });
    let left = move || match counts.get().0 {
        1 => "1 item left".to_owned(),
        n => format!("{n} items left"),
    };
    view! {
        <footer class="board-footer" hidden=move || ids.with(Vec::is_empty)>
            <span class="items-left">{left}</span>
            <nav class="filters" aria-label="Filter tasks">
                {Filter::EVERY
                    .map(|f| {
                        view! {
                            <a
                                class="filter"
                                href=f.href()
                                aria-current=move || (filter.get() == f).then_some("page")
                            >
                                {f.label()}
                            </a>
                        }
                    })}
            </nav>
            <button
                type="button"
                class="button ghost small"
                disabled=move || counts.get().1 == 0
                on:click=move |_| tw.clear_done()
            >
                "Clear completed"
            </button>
        </footer>
    }
}
