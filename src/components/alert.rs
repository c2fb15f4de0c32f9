//! Why the server refused the latest change (already rolled back), or another problem
//! the service reports, announced at once.

use leptos::prelude::*;

use super::focus_new_task;
use crate::taskwire::Taskwire;

#[component]
pub fn ServiceAlert() -> impl IntoView {
    let tw = Taskwire::expect();
    let alert = tw.alert();
    move || {
        alert.get().map(|text| {
            view! {
                <div class="alert" role="alert">
                    <span class="alert-icon" aria-hidden="true">"!"</span>
                    <span class="alert-text">{text}</span>
                    <button type="button" class="button small ghost" on:click=move |ev| {
                        tw.dismiss_alert();
                        focus_new_task(&ev);
                    }>
                        "Dismiss"
                    </button>
                </div>
            }
        })
    }
}
