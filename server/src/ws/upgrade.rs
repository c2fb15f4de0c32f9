//! The WebSocket handshake (RFC 6455 section 4.2), done here rather than by axum's
//! `WebSocketUpgrade` so that the socket keeps hold of its connection. After a frame over
//! the limit, tungstenite stops reading mid-frame; the rest of that frame must still be
//! read and dropped, because a connection closed with unread bytes ends in a TCP reset,
//! which can reach the client before the close 1009 and turn it into a 1006.

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::error::AppError;
use crate::ws::paced::Paced;

/// An accepted socket, with its connection within reach (`get_mut`), paced.
pub type Socket = WebSocketStream<Paced<TokioIo<Upgraded>>>;

/// A valid upgrade request: `GET` with `Connection: upgrade`, `Upgrade: websocket`,
/// version 13 and a key.
pub struct Upgrade {
    key: HeaderValue,
    /// Our subprotocol, when the client offered it.
    protocol: Option<&'static str>,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let refuse =
            |what: &str| AppError::bad_request(format!("This is the Taskwire socket: {what}."));
        if parts.method != Method::GET {
            return Err(refuse("open it with a GET upgrade request"));
        }
        if !header_has_token(&parts.headers, CONNECTION, "upgrade")
            || !header_has_token(&parts.headers, UPGRADE, "websocket")
        {
            return Err(refuse("the request is not a WebSocket upgrade"));
        }
        if !header_has_token(&parts.headers, SEC_WEBSOCKET_VERSION, "13") {
            return Err(refuse("only WebSocket version 13 is spoken here"));
        }
        let key = parts
            .headers
            .get(SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or_else(|| refuse("the Sec-WebSocket-Key header is missing"))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| refuse("this connection cannot be upgraded"))?;
        // Subprotocol names are compared exactly (RFC 6455 section 4.2.2): echoing ours
        // for a differently spelled offer would fail the client's own check. The newest
        // offered wins.
        let offered = |name: &str| {
            parts
                .headers
                .get_all(SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
                .any(|offer| offer.trim_ascii() == name.as_bytes())
        };
        let protocol = [protocol::SUBPROTOCOL, protocol::SUBPROTOCOL_V1]
            .into_iter()
            .find(|name| offered(name));
        Ok(Self {
            key,
            protocol,
            on_upgrade,
        })
    }
}

impl Upgrade {
    /// The subprotocol agreed on, if any.
    pub fn protocol(&self) -> Option<&'static str> {
        self.protocol
    }

    /// Answers 101 and, once the connection is handed over, runs `serve` on the socket in
    /// a task of its own.
    pub fn on_upgrade<F>(
        self,
        config: WebSocketConfig,
        serve: impl FnOnce(Socket) -> F + Send + 'static,
    ) -> Response
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Self {
            key,
            protocol,
            on_upgrade,
        } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        Paced::new(TokioIo::new(upgraded)),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    // A task of its own: this one's state (what it captured, the upgrade)
                    // would otherwise stay with the socket for its whole life.
                    tokio::spawn(serve(socket));
                }
                Err(error) => tracing::debug!(%error, "the socket upgrade did not complete"),
            }
        });
        let accept = derive_accept_key(key.as_bytes());
        let mut response = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (CONNECTION, HeaderValue::from_static("upgrade")),
                (UPGRADE, HeaderValue::from_static("websocket")),
            ],
            Body::empty(),
        )
            .into_response();
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            response.headers_mut().insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = protocol {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
        }
        response
    }
}

/// Whether a comma-separated header holds `token` (case-insensitively), as `Connection:
/// keep-alive, Upgrade` does.
fn header_has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}
