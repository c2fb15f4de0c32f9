//! The entry point trunk builds: mount the app on the page's body.

use leptos::prelude::*;
use taskwire::app::App;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(|| view! { <App /> });
}
