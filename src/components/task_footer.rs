//! Under the list: how much is left, the filters, and clearing what is done.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use super::{Filter, focus_new_task};
use crate::taskwire::Taskwire;

/// `read_only` (a viewer's board) leaves out `Clear completed`.
#[component]
pub fn TaskFooter(filter: Memo<Filter>, #[prop(optional)] read_only: bool) -> impl IntoView {
    let tw = Taskwire::expect();
    // Counted by the board as rows change: no row is read here.
    let counts = tw.counts();
    let pathname = use_location().pathname;
    let left = move || match counts.with(|c| c.left) {
        1 => "1 item left".to_owned(),
        n => format!("{n} items left"),
    };
    view! {
        <footer class="board-footer" hidden=move || counts.with(|c| c.left + c.done == 0)>
            <span class="items-left">{left}</span>
            <nav class="filters" aria-label="Filter tasks">
                {Filter::EVERY
                    .map(|f| {
                        view! {
                            // Only the query changes: the page stays where it is scrolled.
                            <a
                                class="filter"
                                href=move || pathname.with(|path| f.href(path))
                                data-noscroll
                                aria-current=move || (filter.get() == f).then_some("page")
                            >
                                {f.label()}
                            </a>
                        }
                    })}
            </nav>
            {(!read_only)
                .then(|| {
                    view! {
                        <button
                            type="button"
                            class="button ghost small"
                            disabled=move || counts.with(|c| c.done == 0)
                            on:click=move |ev| {
                                tw.clear_done();
                                focus_new_task(&ev);
                            }
                        >
                            "Clear completed"
                        </button>
                    }
                })}
        </footer>
    }
}
