//! The entry point trunk builds: mount the app on the page's body.

use leptos::prelude::*;
use taskwire::api::Api;
use taskwire::app::App;

/// Where a development build (`trunk serve`) opens its sockets: straight at the server
/// beside it, since trunk 0.21's WebSocket proxy does not pass the chosen subprotocol
/// back, and browsers refuse such a socket. `.cargo/config.toml` sets it to the server
/// of the README's development loop; the environment may override it. A release build
/// always uses its page's own origin.
const DEV_SOCKET: Option<&str> = option_env!("TASKWIRE_DEV_SOCKET");

fn main() {
    console_error_panic_hook::set_once();
    let api = match DEV_SOCKET {
        Some(socket) if cfg!(debug_assertions) => Api::new("").with_socket_url(socket),
        _ => Api::new(""),
    };
    leptos::mount::mount_to_body(move || view! { <App api /> });
}
