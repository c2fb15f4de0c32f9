//! One `WebSocket` and its four handlers, which live and die together.
//!
//! Dropping a [`Socket`] unhooks every handler (`on* = null`) and frees its closure, so
//! replacing sockets a hundred times leaves nothing behind; [`live_sockets`] counts the
//! wrappers alive, which the browser tests use to prove it.

use std::cell::Cell;
use std::rc::Rc;

use protocol::CloseCode;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

/// What happened to a socket, as the service needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketEvent {
    Open,
    Text(String),
    /// A binary frame: the protocol has none, so it is a protocol violation.
    Binary,
    Close {
        code: u16,
        reason: String,
        clean: bool,
    },
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    #[error("the socket could not be created: {0}")]
    Create(String),
    #[error("the frame could not be sent: {0}")]
    Send(String),
}

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
}

/// How many [`Socket`]s exist (and so how many sets of handlers): a leak check.
pub fn live_sockets() -> usize {
    LIVE.with(Cell::get)
}

type Handler<E> = Closure<dyn FnMut(E)>;

/// A `WebSocket` offering `taskwire.v2`, reporting every event to one callback.
pub struct Socket {
    ws: WebSocket,
    _on_open: Handler<Event>,
    _on_message: Handler<MessageEvent>,
    _on_close: Handler<CloseEvent>,
    _on_error: Handler<Event>,
}

impl Socket {
    pub fn open(url: &str, on_event: impl Fn(SocketEvent) + 'static) -> Result<Self, SocketError> {
        let ws = WebSocket::new_with_str(url, protocol::SUBPROTOCOL)
            .map_err(|error| SocketError::Create(describe(&error)))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_event: Rc<dyn Fn(SocketEvent)> = Rc::new(on_event);

        let call = on_event.clone();
        let on_open = Handler::<Event>::new(move |_| call(SocketEvent::Open));
        let call = on_event.clone();
        let on_message = Handler::<MessageEvent>::new(move |event: MessageEvent| {
            call(match event.data().as_string() {
                Some(text) => SocketEvent::Text(text),
                None => SocketEvent::Binary,
            })
        });
        let call = on_event.clone();
        let on_close = Handler::<CloseEvent>::new(move |event: CloseEvent| {
            call(SocketEvent::Close {
                code: event.code(),
                reason: event.reason(),
                clean: event.was_clean(),
            })
        });
        let on_error = Handler::<Event>::new(move |_| on_event(SocketEvent::Error));

        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        LIVE.with(|live| live.set(live.get() + 1));
        Ok(Self {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
        })
    }

    pub fn send(&self, text: &str) -> Result<(), SocketError> {
        self.ws
            .send_with_str(text)
            .map_err(|error| SocketError::Send(describe(&error)))
    }

    /// Starts the closing handshake; the close event still arrives.
    pub fn close(&self, code: CloseCode, reason: &str) {
        // Throws only for a code outside 1000/3000-4999 or a reason over 123 bytes; the
        // machine's codes and reasons are neither, and a socket that will not close is
        // released on drop anyway.
        let _ = self.ws.close_with_code_and_reason(code.as_u16(), reason);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        // A socket dropped while still open would stay open, unseen: close it. Its owner
        // let it go (the app was taken off the page), which is a normal close, not one
        // given up on.
        if matches!(
            self.ws.ready_state(),
            WebSocket::CONNECTING | WebSocket::OPEN
        ) {
            let _ = self
                .ws
                .close_with_code_and_reason(CloseCode::Normal.as_u16(), "released");
        }
        LIVE.with(|live| live.set(live.get().saturating_sub(1)));
    }
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|error| String::from(error.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}
