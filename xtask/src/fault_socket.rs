//! A socket double for the browser suites: it speaks just enough of the protocol to bring
//! a client to `live`, then misbehaves in the one way the real server never will.
//!
//! - `/garbage`: answers `auth` with a frame that is not JSON;
//! - `/silent`: goes live (`heartbeat_ms` 500, so the client pings soon), then never
//!   answers again, like a connection that died without a close;
//! - `/close/CODE`: goes live, then closes with CODE (1009, 4400, 4403: the closes the
//!   real server sends only to a client that misbehaves or a page it refuses).
//!
//! Beside it, [`start_unanswering`]: a server that takes every connection and never
//! answers a byte, for the app's HTTP calls; or, under `/stall/`, answers with its headers
//! and the start of a body, and never the rest; or, under `/portal/`, answers every call
//! `200` with an HTML page, as a captive portal or a proxy does in the server's place.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

use serde_json::json;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use crate::Result;
use crate::local_server::serve_loopback;

/// Starts the double on a free loopback port and gives back its `ws://` address.
pub fn start() -> Result<String> {
    let addr = serve_loopback("the socket double", |stream| {
        thread::spawn(move || serve(stream));
    })?;
    Ok(format!("ws://{addr}"))
}

/// Starts a server that accepts connections and reads them without ever answering (or,
/// under `/stall/`, without ever finishing its answer), and gives back its `http://`
/// address.
pub fn start_unanswering() -> Result<String> {
    let addr = serve_loopback("the unanswering server", |stream| {
        thread::spawn(move || unanswering(stream));
    })?;
    Ok(format!("http://{addr}"))
}

/// Reads a request's head. Under `/stall/`, answers `200` with what a page on another
/// origin needs to read it (its origin allowed, with credentials), a `Content-Length` of
/// 1,000 and the first bytes of the body; under `/portal/`, the same headers, any method
/// allowed, and a whole HTML page, the one answer of its connection; otherwise nothing.
/// Then reads on, answering nothing more, until the peer goes.
fn unanswering(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !head.windows(4).any(|end| end == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&chunk[..read]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or_default();
    let origin = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("origin").then(|| value.trim())
        })
        .unwrap_or("*");
    let allowed = format!(
        "Access-Control-Allow-Origin: {origin}\r\nAccess-Control-Allow-Credentials: true\r\n"
    );
    let answer = if path.starts_with("/stall/") {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\
             {allowed}\r\n{{\"token\": \""
        )
    } else if path.starts_with("/portal/") {
        // Any method and header allowed, so that a call the browser asks about first
        // (a `DELETE`, one with a token) reaches the page too; one call a connection.
        let page = "<!DOCTYPE html><title>Sign in to the network</title><p>Accept the terms";
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE\r\n\
             Access-Control-Allow-Headers: authorization, content-type\r\n\
             Connection: close\r\n{allowed}\r\n{page}",
            page.len()
        );
        if stream.write_all(answer.as_bytes()).is_ok() {
            // Unread bytes at close would reset the connection and lose the answer.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            while stream.read(&mut chunk).is_ok_and(|read| read > 0) {}
        }
        return;
    } else {
        String::new()
    };
    if stream.write_all(answer.as_bytes()).is_err() {
        return;
    }
    while stream.read(&mut chunk).is_ok_and(|read| read > 0) {}
}

// tungstenite fixes the handshake callback's error type; it is not ours to shrink.
#[allow(clippy::result_large_err)]
fn serve(stream: TcpStream) {
    let mut path = String::new();
    let accepted = tungstenite::accept_hdr(stream, |request: &Request, mut response: Response| {
        path = request.uri().path().to_owned();
        if let Ok(value) = protocol::SUBPROTOCOL.parse() {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", value);
        }
        Ok(response)
    });
    let Ok(mut socket) = accepted else { return };
    let close_code = path
        .strip_prefix("/close/")
        .and_then(|code| code.parse::<u16>().ok());
    match (path.as_str(), close_code) {
        ("/garbage", _) => garbage(&mut socket),
        ("/silent", _) => silent(&mut socket),
        (_, Some(code)) => close_when_live(&mut socket, code),
        _ => {}
    }
}

fn garbage(socket: &mut WebSocket<TcpStream>) {
    if socket.read().is_ok() {
        let _ = socket.send(Message::text("this is not a frame {"));
    }
    while socket.read().is_ok() {}
}

fn silent(socket: &mut WebSocket<TcpStream>) {
    if go_live(socket) {
        while socket.read().is_ok() {}
    }
}

fn close_when_live(socket: &mut WebSocket<TcpStream>, code: u16) {
    if go_live(socket) {
        let _ = socket.close(Some(CloseFrame {
            code: code.into(),
            reason: "closed by the socket double".into(),
        }));
        while socket.read().is_ok() {}
    }
}

/// The double's one user, whose personal board has the same id.
const DOUBLE_USER: &str = "00000000-0000-4000-8000-000000000000";

/// Answers `auth` and `subscribe` as the server would (a board list of the personal
/// board alone, or no tasks), and says whether the client got that far.
fn go_live(socket: &mut WebSocket<TcpStream>) -> bool {
    while let Ok(message) = socket.read() {
        let Ok(text) = message.to_text() else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        let id = frame["id"].clone();
        let (reply, live) = match frame["type"].as_str() {
            Some("auth") => (
                json!({
                    "type": "auth_ok", "id": id, "heartbeat_ms": 500,
                    "expires_at": "2099-01-01T00:00:00Z",
                    "user": {"id": DOUBLE_USER, "username": "double", "role": "user"},
                }),
                false,
            ),
            Some("subscribe") => {
                let topic = frame["topic"].clone();
                let items = if topic == "boards" {
                    json!([{"id": DOUBLE_USER, "name": "My tasks", "role": "owner", "personal": true}])
                } else {
                    json!([])
                };
                (
                    json!({"type": "snapshot", "id": id, "topic": topic, "epoch": "double", "seq": 0, "items": items}),
                    true,
                )
            }
            _ => continue,
        };
        if socket.send(Message::text(reply.to_string())).is_err() {
            return false;
        }
        if live {
            return true;
        }
    }
    false
}
