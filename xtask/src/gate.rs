//! A gate for the browser suites: a raw TCP proxy in front of the real server's socket
//! that refuses WebSocket upgrades, as some corporate proxies do, until a test opens it.
//! The HTTP fallback (contract section 5) can only be shown against a socket that fails
//! while HTTP works, and the real server never refuses its own upgrade.
//!
//! - `ws://…/gate/<key>`: while gate `<key>` is closed (the default), answers `403` and
//!   closes; while open, forwards the request to the server's `/ws` (every header kept)
//!   and pipes bytes both ways;
//! - `POST /open/<key>`, `POST /close/<key>`: switch a gate; closing one also cuts the
//!   sockets already through it, like a proxy that starts refusing mid-session.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use crate::Result;
use crate::local_server::serve_loopback;

/// The longest request head read; a browser's upgrade request is well under it.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the gate on a free loopback port in front of the server at `upstream`
/// (`127.0.0.1:<port>`); gives back its `http://` address.
pub fn start(upstream: String) -> Result<String> {
    let gates = Arc::new(Gates::default());
    let addr = serve_loopback("the gate", move |stream| {
        let (gates, upstream) = (gates.clone(), upstream.clone());
        thread::spawn(move || handle(stream, &gates, &upstream));
    })?;
    Ok(format!("http://{addr}"))
}

/// The open gates, by key, each with the tunnels through it (both of a tunnel's
/// streams, to cut them when the gate closes). A key that is absent is closed.
#[derive(Default)]
struct Gates {
    open: Mutex<HashMap<String, HashMap<u64, [TcpStream; 2]>>>,
    next_tunnel: AtomicU64,
}

impl Gates {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<u64, [TcpStream; 2]>>> {
        // A poisoned lock only means a connection's thread panicked; the map still holds.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self, key: &str) {
        self.lock().entry(key.to_owned()).or_default();
    }

    fn close(&self, key: &str) {
        for stream in self
            .lock()
            .remove(key)
            .into_iter()
            .flat_map(HashMap::into_values)
            .flatten()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn handle(mut client: TcpStream, gates: &Gates, upstream: &str) {
    let Some((head, rest)) = read_head(&mut client) else {
        return;
    };
    let Some(request_line) = head.lines().next() else {
        return;
    };
    let mut words = request_line.split(' ');
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        return;
    };
    if let Some(key) = target.strip_prefix("/gate/") {
        // The socket's query, if any, goes along to `/ws`.
        let (key, query) = key.split_at(key.find('?').unwrap_or(key.len()));
        let head = head.replacen(target, &format!("/ws{query}"), 1);
        let mut sent = head.into_bytes();
        sent.extend_from_slice(&rest);
        tunnel(client, gates, key, upstream, &sent);
        return;
    }
    let status = match (
        method,
        target.strip_prefix('/').and_then(|t| t.split_once('/')),
    ) {
        ("POST", Some(("open", key))) => {
            gates.open(key);
            "200 OK"
        }
        ("POST", Some(("close", key))) => {
            gates.close(key);
            "200 OK"
        }
        _ => "404 Not Found",
    };
    answer(&mut client, status);
}

/// Reads the request head (up to the blank line), giving it back with whatever was read
/// past it.
fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    client.set_read_timeout(Some(HEAD_TIMEOUT)).ok()?;
    let mut read = Vec::new();
    let mut buffer = [0; 4096];
    let end = loop {
        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if read.len() > MAX_HEAD {
            return None;
        }
        let n = client.read(&mut buffer).ok().filter(|n| *n > 0)?;
        read.extend_from_slice(&buffer[..n]);
    };
    client.set_read_timeout(None).ok()?;
    let rest = read.split_off(end);
    String::from_utf8(read).ok().map(|head| (head, rest))
}

/// Answers without a body and closes. Any origin may switch the gates: the test page's
/// `fetch` needs the CORS header to see the status.
fn answer(client: &mut TcpStream, status: &str) {
    let _ = write!(
        client,
        "HTTP/1.1 {status}\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = client.shutdown(Shutdown::Write);
}

/// Refuses the upgrade while gate `key` is closed; else sends `head` (already rewritten
/// to `/ws`) to the server and pipes both ways, registered with the gate until both
/// directions end.
fn tunnel(mut client: TcpStream, gates: &Gates, key: &str, upstream: &str, head: &[u8]) {
    let id = gates.next_tunnel.fetch_add(1, Ordering::Relaxed);
    // Checked and registered under one lock, so a gate closing meanwhile cuts this too.
    let server = {
        let mut open = gates.lock();
        let Some(tunnels) = open.get_mut(key) else {
            drop(open);
            return answer(&mut client, "403 Forbidden");
        };
        let connected = TcpStream::connect(upstream).and_then(|server| {
            let clones = [client.try_clone()?, server.try_clone()?];
            tunnels.insert(id, clones);
            Ok(server)
        });
        match connected {
            Ok(server) => server,
            Err(_) => {
                drop(open);
                return answer(&mut client, "502 Bad Gateway");
            }
        }
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (Ok(client_side), Ok(mut server_side)) = (client.try_clone(), server.try_clone()) else {
        return forget(gates, key, id);
    };
    if server_side.write_all(head).is_ok() {
        let upward = thread::spawn(move || pipe(client_side, server_side));
        pipe(server, client);
        let _ = upward.join();
    }
    forget(gates, key, id);
}

/// Copies `from` into `to` until `from` ends, then passes the end on: a half close as a
/// half close, a broken connection by cutting both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    if std::io::copy(&mut from, &mut to).is_ok() {
        let _ = to.shutdown(Shutdown::Write);
    } else {
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    }
}

/// Drops an ended tunnel's streams from its gate, if the gate is still open.
fn forget(gates: &Gates, key: &str, id: u64) {
    if let Some(tunnels) = gates.lock().get_mut(key) {
        tunnels.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::mpsc;

    use tungstenite::Message;
    use tungstenite::client::IntoClientRequest;
    use tungstenite::handshake::server::{Request, Response};

    /// A WebSocket server that reports each request's path and offered subprotocol,
    /// then echoes text frames.
    fn echo_server() -> (String, mpsc::Receiver<(String, String)>) {
        let (seen, requests) = mpsc::channel();
        let addr = serve_loopback("the echo server", move |stream| {
            let seen = seen.clone();
            thread::spawn(move || echo(stream, &seen));
        })
        .expect("an echo server");
        (addr.to_string(), requests)
    }

    // tungstenite fixes the handshake callback's error type; it is not ours to shrink.
    #[allow(clippy::result_large_err)]
    fn echo(stream: TcpStream, seen: &mpsc::Sender<(String, String)>) {
        let accepted =
            tungstenite::accept_hdr(stream, |request: &Request, mut response: Response| {
                let protocol = request.headers().get("sec-websocket-protocol");
                let offered = protocol.and_then(|value| value.to_str().ok());
                let _ = seen.send((
                    request.uri().to_string(),
                    offered.unwrap_or_default().to_owned(),
                ));
                if let Some(protocol) = protocol {
                    response
                        .headers_mut()
                        .insert("sec-websocket-protocol", protocol.clone());
                }
                Ok(response)
            });
        let Ok(mut socket) = accepted else { return };
        while let Ok(message) = socket.read() {
            if message.is_text() && socket.send(message).is_err() {
                return;
            }
        }
    }

    /// Sends a raw request to the gate and gives back its whole answer.
    fn raw(gate: &str, request: &str) -> String {
        let mut stream =
            TcpStream::connect(gate.trim_start_matches("http://")).expect("the gate listens");
        stream.write_all(request.as_bytes()).expect("a request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        answer
    }

    fn switch(gate: &str, action: &str, key: &str) {
        let answer = raw(gate, &format!("POST /{action}/{key} HTTP/1.1\r\n\r\n"));
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.contains("Access-Control-Allow-Origin: *\r\n"),
            "{answer}"
        );
    }

    #[test]
    fn refuses_while_closed_tunnels_while_open_and_cuts_on_close() {
        let (upstream, requests) = echo_server();
        let gate = start(upstream).expect("a gate");
        let socket_url = format!("{}/gate/one", gate.replacen("http", "ws", 1));

        let refused = raw(
            &gate,
            "GET /gate/one HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        assert!(
            refused.starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{refused}"
        );
        assert!(refused.contains("Content-Length: 0\r\n"), "{refused}");

        switch(&gate, "open", "one");
        let mut request = format!("{socket_url}?x=1")
            .into_client_request()
            .expect("a request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "taskwire.v2".parse().expect("a value"),
        );
        let (mut socket, _) = tungstenite::connect(request).expect("through the open gate");
        let seen = requests
            .recv_timeout(Duration::from_secs(5))
            .expect("the server saw the upgrade");
        assert_eq!(seen, ("/ws?x=1".to_owned(), "taskwire.v2".to_owned()));
        socket.send(Message::text("ping")).expect("a frame out");
        assert_eq!(socket.read().expect("the echo"), Message::text("ping"));

        // Another gate's key is still closed.
        assert!(
            tungstenite::connect(format!("{gate}/gate/two").replacen("http", "ws", 1)).is_err()
        );

        switch(&gate, "close", "one");
        assert!(socket.read().is_err(), "the tunnel is cut");
        assert!(tungstenite::connect(socket_url).is_err());
    }
}
