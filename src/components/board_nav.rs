//! The person's boards as links, live (a board shared with them appears, one they lose
//! goes), and `New board`.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use uuid::Uuid;

use crate::taskwire::Taskwire;

/// `shown` is the board the page shows, marked as the current link: none on a page that
/// shows no board, though the board opened last is still followed behind it.
#[component]
pub fn BoardNav(#[prop(into)] shown: Signal<Option<Uuid>>) -> impl IntoView {
    let tw = Taskwire::expect();
    let boards = tw.boards();
    view! {
        <nav class="boards card" aria-label="Boards">
            <h2 class="boards-title">"Boards"</h2>
            <ul class="board-links">
                <For
                    each=move || boards.get().unwrap_or_default()
                    key=|board| (board.id, board.name.clone())
                    let(board)
                >
                    <li>
                        <a
                            class="board-link"
                            href=format!("/b/{}", board.id)
                            aria-current=move || (shown.get() == Some(board.id)).then_some("page")
                        >
                            {board.name}
                        </a>
                    </li>
                </For>
            </ul>
            <NewBoard />
        </nav>
    }
}

/// `New board` asks for a name, makes the board and opens it.
#[component]
fn NewBoard() -> impl IntoView {
    let tw = Taskwire::expect();
    let asking = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let opener = NodeRef::<html::Button>::new();
    let field = NodeRef::<html::Input>::new();
    let navigate = use_navigate();
    let close = move || {
        asking.set(false);
        problem.set(None);
        name.set(String::new());
        // Shown at once, not when `hidden` next follows `asking`: a hidden button takes
        // no focus, and focus would fall to the page.
        if let Some(opener) = opener.get_untracked() {
            opener.set_hidden(false);
            let _ = opener.focus();
        }
    };
    Effect::new(move || {
        if asking.get()
            && let Some(field) = field.get()
        {
            let _ = field.focus();
        }
    });
    let create = move || {
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            let typed = name.get_untracked();
            match tw.create_board(&typed).await {
                Ok(board) => {
                    asking.set(false);
                    name.set(String::new());
                    problem.set(None);
                    navigate(&format!("/b/{}", board.id), Default::default());
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <button
            node_ref=opener
            type="button"
            class="button ghost small"
            hidden=asking
            on:click=move |_| asking.set(true)
        >
            "New board"
        </button>
        <Show when=move || asking.get()>
            <form
                class="new-board"
                on:submit={
                    let create = create.clone();
                    move |ev| {
                        ev.prevent_default();
                        create();
                    }
                }
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        close();
                    }
                }
            >
                <input
                    node_ref=field
                    type="text"
                    aria-label="Board name"
                    placeholder="Board name"
                    // The browser counts UTF-16 units (an emoji is two) before trimming: 80
                    // characters may be 160; the name itself is checked as the server checks it.
                    maxlength="160"
                    autocomplete="off"
                    prop:value=name
                    on:input=move |ev| {
                        name.set(event_target_value(&ev));
                        problem.set(None);
                    }
                />
                <button type="submit" class="button primary small" disabled=busy>
                    "Create board"
                </button>
                <button type="button" class="button ghost small" on:click=move |_| close()>
                    "Cancel"
                </button>
            </form>
            {move || {
                problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })
            }}
        </Show>
    }
}
