//! What the server benchmarks share: the release server as a child process (so its
//! memory and CPU time are its own), accounts, writes, sockets, and quantiles.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Bench<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A failed kill means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the server over a database in `dir`, with `extra` arguments.
    pub fn start(dir: &std::path::Path, extra: &[&str]) -> Bench<Self> {
        Self::start_at(dir, "127.0.0.1:0", extra)
    }

    /// Starts the server on `addr` (say the one a killed server had, to restart it).
    pub fn start_at(dir: &std::path::Path, addr: &str, extra: &[&str]) -> Bench<Self> {
        Self::start_over(dir.join("bench.db").as_os_str(), dir, addr, extra)
    }

    /// Starts the server on a free loopback port over `db` (a SQLite file or a
    /// `postgres://` URL, which several servers may share), serving `dir` as its static
    /// files, with `extra` arguments.
    #[allow(dead_code, reason = "only the cluster benchmark names its database")]
    pub fn start_with_db(db: &str, dir: &std::path::Path, extra: &[&str]) -> Bench<Self> {
        Self::start_over(std::ffi::OsStr::new(db), dir, "127.0.0.1:0", extra)
    }

    fn start_over(
        db: &std::ffi::OsStr,
        dir: &std::path::Path,
        addr: &str,
        extra: &[&str],
    ) -> Bench<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskwire-server"))
            .args(["serve", "--addr", addr, "--db"])
            .arg(db)
            .arg("--static-dir")
            .arg(dir)
            .args(["--max-sockets-per-user", "200", "--login-per-ip", "1000"])
            .args(extra)
            // Errors only: it serves no app here, which it would warn about.
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // Held from here on, so that the child is stopped if reading its address fails.
        let mut server = Self {
            child,
            base: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        server.base = line
            .trim()
            .strip_prefix("Taskwire is running at ")
            .and_then(|url| url.strip_suffix('/'))
            .ok_or_else(|| format!("unexpected first line {line:?}"))?
            .to_owned();
        println!("server: {} (pid {})", server.base, server.pid());
        Ok(server)
    }

    /// The server's process id, for reading its figures under `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_kib(&self) -> Bench<u64> {
        rss_kib_of(&self.pid().to_string())
    }
}

/// Raises this process's open-files limit (which the server inherits) to the hard limit,
/// warning when that is still too low for `connections` loopback connections, both ends.
pub fn raise_open_files(connections: usize) {
    let needed = 2 * connections as u64 + 100;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => {
            eprintln!(
                "open-files limit is {limit}; raise it (ulimit -n {needed}) for {connections} connections"
            );
        }
        Ok(_) => {}
        Err(error) => eprintln!("cannot raise the open-files limit: {error}"),
    }
}

/// Registers `count` users named `prefix0`, `prefix1`, ...; their access tokens.
pub async fn register(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    count: usize,
) -> Bench<Vec<String>> {
    let mut tokens = Vec::with_capacity(count);
    for user in 0..count {
        let session: Value = http
            .post(format!("{base}/api/register"))
            .json(&json!({"username": format!("{prefix}{user}"), "password": "benchmark password"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        tokens.push(session["token"].as_str().ok_or("no token")?.to_owned());
    }
    Ok(tokens)
}

/// Creates a task on the user's own board over HTTP.
pub async fn create_task(http: &reqwest::Client, base: &str, token: &str, n: usize) -> Bench<()> {
    http.post(format!("{base}/api/tasks"))
        .bearer_auth(token)
        .json(&json!({"title": format!("bench task {n}")}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// A client socket to `ws://{addr}/ws` offering `protocol`, with small buffers, as a
/// thousand of them are open at once.
#[allow(dead_code, reason = "long_polls opens no socket")]
pub async fn connect(addr: &str, protocol: &str) -> Bench<Socket> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse()?);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    Ok(ws)
}

#[allow(dead_code, reason = "long_polls opens no socket")]
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The middle of `values` (the upper one of an even count); NaN for none.
#[allow(dead_code, reason = "only sockets and socketio take medians")]
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `samples`' `q` quantile (sorting them).
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

/// The resident set of process `pid` (`"self"` for this one), in KiB.
pub fn rss_kib_of(pid: &str) -> Bench<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("bad VmRSS line")?
        .parse()?)
}

/// CPU time process `pid` has used so far, user and system, over all its threads (ended
/// ones too), in clock ticks (`ticks_per_second`).
#[allow(dead_code, reason = "not every benchmark reads CPU time")]
pub fn cpu_ticks(pid: u32) -> Bench<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // `state` (field 3) first, so `utime` and `stime` (14, 15) at 11, 12.
    let after_name = stat.rfind(')').ok_or("bad /proc stat")? + 1;
    let fields: Vec<&str> = stat[after_name..].split_whitespace().collect();
    let field = |n: usize| -> Bench<u64> { Ok(fields.get(n).ok_or("short /proc stat")?.parse()?) };
    Ok(field(11)? + field(12)?)
}

/// The kernel's clock ticks per second, in which `/proc` counts CPU time.
#[allow(dead_code, reason = "not every benchmark reads CPU time")]
pub fn ticks_per_second() -> Bench<f64> {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// The `seq` of an event frame, read without parsing the whole frame.
#[allow(dead_code, reason = "not every benchmark reads events")]
pub fn seq_of(text: &str) -> Option<u64> {
    if !text.starts_with("{\"type\":\"event\"") {
        return None;
    }
    let rest = &text[text.find("\"seq\":")? + 6..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

/// The next frame of `kind` (`"type"`) within 10 s, skipping `presence`; any other frame
/// is an error.
#[allow(dead_code, reason = "not every benchmark opens sockets")]
pub async fn answer(ws: &mut Socket, kind: &str) -> Bench<String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
    let wanted = format!("{{\"type\":\"{kind}\"");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| format!("no {kind} within {WAIT:?}"))?;
        match frame.ok_or("closed while waiting")?? {
            Message::Text(text) if text.starts_with(&wanted) => return Ok(text.to_string()),
            Message::Text(text) if text.starts_with("{\"type\":\"presence\"") => {}
            Message::Text(text) => return Err(format!("unexpected frame {text}").into()),
            _ => {}
        }
    }
}

/// Sends `auth` with `token` and `subscribe` to `topic` at once, as the app does, and
/// waits for both answers; returns the `auth_ok` and the `snapshot` frames.
#[allow(dead_code, reason = "not every benchmark opens sockets")]
pub async fn auth_and_subscribe(
    ws: &mut Socket,
    token: &str,
    topic: &str,
) -> Bench<(String, String)> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let auth = serde_json::json!({"type": "auth", "id": 1, "token": token});
    let subscribe = serde_json::json!({"type": "subscribe", "id": 2, "topic": topic});
    ws.send(Message::text(auth.to_string())).await?;
    ws.send(Message::text(subscribe.to_string())).await?;
    let auth_ok = answer(ws, "auth_ok").await?;
    let snapshot = answer(ws, "snapshot").await?;
    Ok((auth_ok, snapshot))
}
