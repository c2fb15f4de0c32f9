//! The socket at `GET /ws` (contract section 2).

mod connection;

use std::net::SocketAddr;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

/// Frames up to this size are read whole and, when over the contract's 64 KiB, answered
/// with a clean close 1009. Larger ones are refused by the WebSocket layer while their
/// header is read (never buffered); the close 1009 is then sent, but the connection ends
/// without the closing handshake.
const HARD_FRAME_LIMIT: usize = 2 * protocol::MAX_FRAME_BYTES;

/// Per-socket buffers, kept small because thousands of mostly idle sockets each hold
/// them: reads grow past this only while a large frame arrives, and writes go straight
/// to the kernel (events are small and sent one at a time).
const READ_BUFFER: usize = 4 * 1024;
/// The most a socket may have queued in the WebSocket layer while the peer does not read
/// (beyond that, writing fails and the socket is dropped). A frame is queued whole, so
/// this must hold the largest frame a client reads (a snapshot of thousands of tasks;
/// at 1 MiB, anyone with over some 7,000 tasks could never open the board) and the
/// events behind it. A bound, not an allocation: idle sockets hold nothing here.
const MAX_WRITE_BUFFER: usize = protocol::MAX_SERVER_FRAME_BYTES + 1024 * 1024;

pub async fn handshake(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return AppError::bad_request(format!(
                "This is the Taskwire socket: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    upgrade
        .protocols([protocol::SUBPROTOCOL])
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .on_upgrade(move |socket| connection::run(state, socket, peer))
}
