//! A real server on a free loopback port over a temporary database, and real HTTP and
//! WebSocket clients to talk to it.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use taskwire_server::{DbTarget, ServeArgs, Server};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A new, empty database on the PostgreSQL server at `server` (a `postgres://` URL
/// without a database name), for one test.
pub async fn fresh_postgres_database(server: &str) -> DbTarget {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("a test database");
    admin.close().await.expect("close");
    DbTarget::Postgres(format!("{server}/{name}"))
}

/// How long a test waits for something that should arrive promptly.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub server: Option<Server>,
    pub addr: SocketAddr,
    /// Kept so the database outlives restarts; removed with the server.
    _dir: TempDir,
    pub args: ServeArgs,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server on a fresh database: a SQLite file, or, when `TASKWIRE_TEST_PG` names a
    /// PostgreSQL server (`cargo xtask test` runs the suite once each way), a database
    /// of its own there.
    pub async fn start_with(configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args = ServeArgs::for_tests(dir.path().join("taskwire.db"));
        if let Ok(server) = std::env::var("TASKWIRE_TEST_PG") {
            args.db = fresh_postgres_database(&server).await;
        }
        args.static_dir = dir.path().join("dist");
        configure(&mut args);
        let server = Server::start(args.clone()).await.expect("server starts");
        Self {
            addr: server.addr(),
            server: Some(server),
            _dir: dir,
            args,
        }
    }

    pub fn db(&self) -> DbTarget {
        self.args.db.clone()
    }

    /// Stops the server and starts it again on the same database (and port).
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut args = self.args.clone();
        args.addr = self.addr;
        let server = Server::start(args).await.expect("server restarts");
        self.server = Some(server);
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client that keeps no cookies: tests pass the refresh cookie by hand.
    pub fn client(&self) -> Client {
        Client {
            base: self.url(""),
            http: reqwest::Client::new(),
        }
    }

    /// Registers `name` and returns its session and refresh cookie.
    pub async fn register(&self, name: &str) -> Signed {
        let response = self
            .client()
            .post(
                "/api/register",
                None,
                json!({"username": name, "password": "correct horse"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {name}");
        Signed::from_response(response).await
    }

    pub async fn login(&self, name: &str) -> Signed {
        let response = self
            .client()
            .post(
                "/api/login",
                None,
                json!({"username": name, "password": "correct horse"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "login {name}");
        Signed::from_response(response).await
    }

    /// A socket that offered the subprotocol and is authenticated as `token`.
    pub async fn socket(&self, token: &str) -> Ws {
        let mut ws = self.connect(true).await;
        ws.send(json!({"type": "auth", "id": 1, "token": token}))
            .await;
        let ok = ws.recv().await;
        assert_eq!(ok["type"], "auth_ok", "{ok}");
        ws
    }

    /// A socket, authenticated and subscribed; returns the snapshot too.
    pub async fn subscribed(&self, token: &str) -> (Ws, Value) {
        let mut ws = self.socket(token).await;
        ws.send(json!({"type": "subscribe", "id": 2, "topic": "tasks"}))
            .await;
        let snapshot = ws.recv().await;
        assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
        (ws, snapshot)
    }

    /// A socket that offered `taskwire.v2` (shared boards), authenticated as `token`.
    pub async fn socket_v2(&self, token: &str) -> Ws {
        let mut ws = self.connect_offering(Some("taskwire.v2")).await;
        assert_eq!(ws.protocol.as_deref(), Some("taskwire.v2"));
        ws.send(json!({"type": "auth", "id": 1, "token": token}))
            .await;
        let ok = ws.recv().await;
        assert_eq!(ok["type"], "auth_ok", "{ok}");
        ws
    }

    /// Offers `taskwire.v1`, or no subprotocol at all.
    pub async fn connect(&self, offer_protocol: bool) -> Ws {
        self.connect_offering(offer_protocol.then_some("taskwire.v1"))
            .await
    }

    /// Offers `offer` (a `Sec-WebSocket-Protocol` value) when given.
    pub async fn connect_offering(&self, offer: Option<&'static str>) -> Ws {
        connect_at(&self.addr.to_string(), offer).await
    }
}

/// A socket to the server at `addr` (`host:port`), offering `offer` when given.
pub async fn connect_at(addr: &str, offer: Option<&'static str>) -> Ws {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    if let Some(offer) = offer {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(offer));
    }
    let (stream, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("socket opens");
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    Ws { stream, protocol }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A server left running ends with the test's runtime; nothing to wait for.
        self.server.take();
    }
}

/// A signed-in user: the access token and the refresh cookie's value.
#[derive(Debug, Clone)]
pub struct Signed {
    pub body: Value,
    pub token: String,
    pub cookie: String,
    pub set_cookie: String,
}

impl Signed {
    pub async fn from_response(response: Response) -> Self {
        let set_cookie = set_cookie(response.headers()).expect("a refresh cookie");
        let cookie = cookie_value(&set_cookie);
        let body: Value = response.json().await.expect("session body");
        Self {
            token: body["token"].as_str().expect("token").to_owned(),
            body,
            cookie,
            set_cookie,
        }
    }
}

pub fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `taskwire_refresh=VALUE; ...` -> VALUE.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("cookie value")
}

pub struct Client {
    base: String,
    pub http: reqwest::Client,
}

impl Client {
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// `POST /api/refresh` with the given refresh cookie.
    pub async fn refresh(&self, cookie: &str) -> Response {
        self.http
            .post(format!("{}/api/refresh", self.base))
            .header("cookie", format!("taskwire_refresh={cookie}"))
            .send()
            .await
            .expect("refresh")
    }
}

/// Asserts the contract's error body and status.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Option<String>,
}

/// How a socket ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16),
    /// Ended without a close frame.
    Dropped,
}

impl Ws {
    pub async fn send(&mut self, frame: Value) {
        self.send_raw(Message::text(frame.to_string())).await;
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("send");
    }

    /// The next text frame as JSON (pings and pongs skipped).
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("readable frame");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends a frame to a socket the server may have closed already.
    pub async fn try_send(&mut self, frame: Value) {
        let _ = self.stream.send(Message::text(frame.to_string())).await;
    }

    /// The next text frame, or `None` when the socket closes first.
    pub async fn next_frame(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a frame in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    }

    /// Ends the connection with a TCP reset, as a client that vanishes does.
    pub fn reset(self) {
        if let MaybeTlsStream::Plain(tcp) = self.stream.get_ref() {
            tcp.set_zero_linger().expect("SO_LINGER 0");
        }
    }

    /// Whether a text frame arrives within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"));
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected a text frame, got {other:?}"),
                Err(_) => return None,
            }
        }
    }

    /// Reads until the socket closes, returning the close code; text frames before it
    /// are returned too.
    pub async fn closed(&mut self) -> (Closed, Vec<Value>) {
        let mut frames = Vec::new();
        loop {
            let next = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("the socket closes in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    frames.push(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Close(Some(CloseFrame { code, .. })))) => {
                    // Reading on sends the echo of the close, as a browser does at once.
                    let _ = tokio::time::timeout(WAIT, self.stream.next()).await;
                    return (Closed::Code(code.into()), frames);
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return (Closed::Dropped, frames);
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Asserts the socket closes with `code`, after at most an `error` frame; returns it.
    pub async fn expect_close(&mut self, code: u16) -> Option<Value> {
        let (closed, frames) = self.closed().await;
        assert_eq!(
            closed,
            Closed::Code(code),
            "frames before close: {frames:?}"
        );
        assert!(frames.len() <= 1, "{frames:?}");
        frames.into_iter().next()
    }

    /// Sends a `request` and returns its `result`, collecting the events before it.
    pub async fn request(&mut self, id: u64, method: &str, params: Value) -> (Value, Vec<Value>) {
        self.send(json!({"type": "request", "id": id, "method": method, "params": params}))
            .await;
        let mut events = Vec::new();
        loop {
            let frame = self.recv().await;
            if frame["type"] == "result" {
                assert_eq!(frame["id"], id, "{frame}");
                return (frame, events);
            }
            assert_eq!(frame["type"], "event", "{frame}");
            events.push(frame);
        }
    }
}

/// An answer read off a raw HTTP connection.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub body: String,
}

/// Sends `request` as bytes over a new TCP connection (for what an HTTP client would
/// tidy up first: `..` in a path, a false `Content-Length`) and reads the answer until
/// the server closes. The request should say `Connection: close`. A server that answers
/// before reading the whole request may reset the connection: what was read counts.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> RawAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {head:?}"));
    RawAnswer {
        status,
        body: body.to_owned(),
    }
}
