//! The browser suites' remote control over the real server: `POST /stop`, `/start` and
//! `/restart` (stop, then start on the same port and database). A page cannot restart a
//! process, and the suites must see a real restart: sockets closed with 1001, state kept
//! in SQLite.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Mutex, Weak};

use crate::Result;
use crate::error::Error;
use crate::local_server::{LocalServer, serve_loopback};

/// Serves the control endpoint on a free loopback port; gives back its `http://` address.
/// It holds the server weakly: the endpoint's thread outlives the suites, and the server
/// must stop when they drop it.
pub fn start(server: Weak<Mutex<LocalServer>>, page_origin: String) -> Result<String> {
    let addr = serve_loopback("the control endpoint", move |stream| {
        handle(stream, &server, &page_origin);
    })?;
    Ok(format!("http://{addr}"))
}

fn handle(stream: TcpStream, server: &Weak<Mutex<LocalServer>>, page_origin: &str) {
    let mut request_line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers; these requests carry no body.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let Some(server) = server.upgrade() else {
        return;
    };
    let outcome = match server.lock() {
        Ok(mut server) => match request_line.split_whitespace().nth(1) {
            Some("/stop") => server.stop(),
            Some("/start") => server.spawn(),
            Some("/restart") => server.stop().and_then(|()| server.spawn()),
            _ => Err(Error::Other("unknown control path".into())),
        },
        Err(_) => Err(Error::Other("the server handle is poisoned".into())),
    };
    let (status, body) = match outcome {
        Ok(()) => ("200 OK", "ok".to_owned()),
        Err(error) => ("500 Internal Server Error", error.to_string()),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nAccess-Control-Allow-Origin: {page_origin}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
