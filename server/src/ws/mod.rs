//! The socket at `GET /ws` (contract section 2).

mod connection;
mod paced;
mod upgrade;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::state::AppState;
use upgrade::Upgrade;

/// Per-socket buffers, kept small because thousands of mostly idle sockets each hold
/// them. The read buffer, allocated with the socket, is also the most one read takes: a
/// client sends a few small frames a second at most (an auth with its token, some 350
/// bytes, takes two reads), and a larger frame grows the buffer to hold it whole (for
/// good). Writes go straight to the kernel (events are small and sent one at a time).
const READ_BUFFER: usize = 256;
/// The most a socket may have queued in the WebSocket layer while the peer does not read
/// (beyond that, writing fails and the socket is dropped). A frame is queued whole, so
/// this must hold the largest frame a client reads (a snapshot of thousands of tasks;
/// at 1 MiB, anyone with over some 7,000 tasks could never open the board) and the
/// events behind it. A bound, not an allocation: idle sockets hold nothing here.
const MAX_WRITE_BUFFER: usize = protocol::MAX_SERVER_FRAME_BYTES + 1024 * 1024;

pub async fn handshake(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: Upgrade,
) -> Response {
    // A frame or message over the contract's 64 KiB is refused while its header is read,
    // never buffered; the socket then answers 1009 (`connection`).
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(protocol::MAX_FRAME_BYTES))
        .max_frame_size(Some(protocol::MAX_FRAME_BYTES));
    let subprotocol = upgrade.protocol();
    upgrade.on_upgrade(config, move |socket| {
        connection::run(state, socket, peer, subprotocol)
    })
}
