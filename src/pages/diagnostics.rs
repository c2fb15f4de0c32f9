//! `/diagnostics`: every socket the app holds, with its figures and recent round trips.

use leptos::prelude::*;

use crate::client::machine::Transport;
use crate::components::{RttChart, SignedInPage, whole_ms};
use crate::taskwire::{SocketDiagnostics, Taskwire};

#[component]
pub fn Diagnostics() -> impl IntoView {
    view! {
        <SignedInPage title="Diagnostics">
            <SocketList />
        </SignedInPage>
    }
}

#[component]
fn SocketList() -> impl IntoView {
    let sockets = Taskwire::expect().diagnostics();
    move || {
        let now_ms = js_sys::Date::now();
        let list = sockets.get();
        if list.is_empty() {
            return view! { <p class="muted">"No sockets open."</p> }.into_any();
        }
        list.into_iter()
            .map(|socket| view! { <SocketCard socket now_ms /> })
            .collect_view()
            .into_any()
    }
}

#[component]
fn SocketCard(socket: SocketDiagnostics, now_ms: f64) -> impl IntoView {
    let rtt = socket
        .rtt_ms
        .map_or_else(|| "–".to_owned(), |ms| format!("{} ms", whole_ms(ms)));
    let last_close = socket.last_close.map_or_else(
        || "–".to_owned(),
        |(code, reason)| format!("{code} {reason}"),
    );
    let label = format!("Socket {}", socket.name);
    let transport = match socket.transport {
        Transport::WebSocket => "WebSocket",
        Transport::Http => "HTTP fallback",
    };
    let poll_rtt = socket
        .poll_rtt_ms
        .map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms"));
    let socket_try = socket
        .last_socket_try_ms
        .map_or_else(|| "–".to_owned(), |at| clock_time(at as f64));
    view! {
        <section class="card socket" aria-label=label>
            <header class="socket-head">
                <h2>{socket.name}</h2>
                <span class="pill" data-connection=socket.state.as_str()>
                    {socket.state.as_str()}
                </span>
            </header>
            <dl class="figures">
                <div><dt>"Transport"</dt><dd data-transport=socket.transport.as_str()>{transport}</dd></div>
                <div><dt>"Round trip"</dt><dd>{rtt}</dd></div>
                <div><dt>"Poll round trip"</dt><dd>{poll_rtt}</dd></div>
                <div><dt>"Last WebSocket try"</dt><dd>{socket_try}</dd></div>
                <div><dt>"Frames in"</dt><dd>{socket.frames_in}</dd></div>
                <div><dt>"Frames out"</dt><dd>{socket.frames_out}</dd></div>
                <div><dt>"Reconnects"</dt><dd>{socket.reconnects}</dd></div>
                <div class="wide"><dt>"Last close"</dt><dd>{last_close}</dd></div>
            </dl>
            <RttChart history=socket.rtt_history now_ms />
        </section>
    }
}

/// An epoch-ms time as the browser's local wall-clock time, e.g. `14:03:27`.
fn clock_time(epoch_ms: f64) -> String {
    let date = js_sys::Date::new(&epoch_ms.into());
    String::from(date.to_locale_time_string("default"))
}
