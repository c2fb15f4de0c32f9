//! Who is looking at the open board now (presence), the person included.

use leptos::prelude::*;

use crate::taskwire::Taskwire;

#[component]
pub fn HereNow() -> impl IntoView {
    let here = Taskwire::expect().here();
    view! {
        <div class="here-now" hidden=move || here.with(Vec::is_empty)>
            <span class="here-now-title" aria-hidden="true">
                "Here now"
            </span>
            <ul class="here-now-list" aria-label="Here now">
                <For each=move || here.get() key=|user| user.id let(user)>
                    <li class="here-now-person">
                        {user.username}
                    </li>
                </For>
            </ul>
        </div>
    }
}
