//! A Taskwire server that xtask runs on loopback over a fresh SQLite file: for the
//! browser suites, the benchmarks and the screenshot. It can be stopped and started
//! again on the same port and database (see [`crate::control`]); it stops when dropped.

use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::Duration;

use crate::error::Error;
use crate::{Result, root};

pub struct LocalServer {
    child: Option<Child>,
    binary: PathBuf,
    args: Vec<String>,
    port: u16,
    db: PathBuf,
    log: PathBuf,
}

impl LocalServer {
    /// Starts `binary` with `args` on a free port, with its database and log named
    /// `name` under target/xtask (the database starts empty).
    ///
    /// A port found free can be taken by another process before the server binds it;
    /// the server then exits at once, saying it cannot listen, and is started again on
    /// another port.
    pub fn start(name: &str, binary: PathBuf, args: &[&str]) -> Result<Self> {
        let mut tries_left = 2;
        loop {
            match Self::start_on(name, binary.clone(), free_port()?, args) {
                Err(Error::ServerExited { log })
                    if tries_left > 0
                        && std::fs::read_to_string(&log)
                            .is_ok_and(|said| said.contains("cannot listen on")) =>
                {
                    tries_left -= 1;
                }
                started => return started,
            }
        }
    }

    /// As [`LocalServer::start`], on `port`.
    pub fn start_on(name: &str, binary: PathBuf, port: u16, args: &[&str]) -> Result<Self> {
        let dir = root().join("target/xtask");
        std::fs::create_dir_all(&dir).map_err(Error::io("creating target/xtask"))?;
        let db = dir.join(format!("{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let log = dir.join(format!("{name}-server.log"));
        let _ = std::fs::remove_file(&log);
        let mut server = Self {
            child: None,
            binary,
            args: args.iter().map(|arg| arg.to_string()).collect(),
            port,
            db,
            log,
        };
        println!(
            "\n==> starting the server for {name} (log: {})",
            server.log.display()
        );
        server.spawn()?;
        println!("    serving at {}", server.url());
        Ok(server)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Registers an account over the API; gives back the session (with its token).
    pub fn register(&self, username: &str, password: &str) -> Result<serde_json::Value> {
        let credentials = serde_json::json!({ "username": username, "password": password });
        crate::http::http(
            &self.address(),
            "POST",
            "/api/register",
            None,
            Some(&credentials),
        )
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address())
    }

    pub fn db(&self) -> &Path {
        &self.db
    }

    /// Starts the server unless it runs already, and waits until it serves.
    pub fn spawn(&mut self) -> Result {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(Error::io("opening the server log"))?;
        let mut child = Command::new(&self.binary)
            .arg("serve")
            .args(["--addr", &self.address()])
            .arg("--db")
            .arg(&self.db)
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(log)
            .current_dir(root())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: self.binary.display().to_string(),
                source,
            })?;
        let started = wait_until_serving(&mut child, &self.log);
        self.child = Some(child);
        started
    }

    /// Stops the server with SIGTERM, as an operator would: it closes sockets with 1001
    /// and finishes its writes first.
    pub fn stop(&mut self) -> Result {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        Command::new("kill")
            .arg(child.id().to_string())
            .status()
            .map_err(Error::io("signalling the server"))?;
        child
            .wait()
            .map_err(Error::io("waiting for the server"))
            .map(drop)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Waits for the server's "Taskwire is running at URL" line, draining its output after,
/// so the server never writes to a closed pipe.
fn wait_until_serving(child: &mut Child, log: &Path) -> Result {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::ServerDidNotStart { log: log.into() })?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|line| line.ok()) {
            if line.starts_with("Taskwire is running at ") {
                let _ = tx.send(());
            }
        }
    });
    // The reader ends, dropping `tx`, when the server's output does: it exited.
    rx.recv_timeout(Duration::from_secs(60))
        .map_err(|error| match error {
            mpsc::RecvTimeoutError::Timeout => Error::ServerDidNotStart { log: log.into() },
            mpsc::RecvTimeoutError::Disconnected => Error::ServerExited { log: log.into() },
        })
}

/// Listens on a free loopback port, calling `handle` with each connection on a thread
/// of its own that lives as long as the process; gives back the address. `what` names
/// the listener in errors.
pub fn serve_loopback(
    what: &str,
    mut handle: impl FnMut(TcpStream) + Send + 'static,
) -> Result<SocketAddr> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(Error::io(format!("binding {what}")))?;
    let addr = listener
        .local_addr()
        .map_err(Error::io(format!("reading the address of {what}")))?;
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(|s| s.ok()) {
            handle(stream);
        }
    });
    Ok(addr)
}

/// A loopback port that is free now.
///
/// Picked below the kernel's range for the ports of outgoing connections: a port the
/// kernel hands out (bind to port 0) lies inside it, where any connection the suites
/// open (a browser's, a client's) may take it before the program meant to listen on it
/// binds it, which for the browser suites' page is minutes later.
///
/// Never the same port twice in a run, since one handed out may not be bound yet.
pub fn free_port() -> Result<u16> {
    if let Some(range) = picked_from() {
        let picks = RandomState::new();
        let span = u64::from(range.end - range.start);
        for attempt in 0..100u32 {
            let offset = u16::try_from(picks.hash_one(attempt) % span).unwrap_or_default();
            let port = range.start + offset;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() && hand_out(port) {
                return Ok(port);
            }
        }
    }
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(Error::io("finding a free port"))?;
        if hand_out(port) {
            return Ok(port);
        }
    }
}

/// Where [`free_port`] picks: from [`FIRST_PICKED`] up to the kernel's range for outgoing
/// connections, if that leaves room (on a machine whose outgoing range starts lower, the
/// kernel picks).
fn picked_from() -> Option<Range<u16>> {
    let outgoing_from = outgoing_ports_from();
    (outgoing_from >= FIRST_PICKED + 1_000).then_some(FIRST_PICKED..outgoing_from)
}

/// The ports handed out in this run.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Records `port` as handed out; false if it was already.
fn hand_out(port: u16) -> bool {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    if handed_out.contains(&port) {
        return false;
    }
    handed_out.push(port);
    true
}

/// The first port of the kernel's range for outgoing connections (Linux's default when
/// it cannot be read).
fn outgoing_ports_from() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The lowest port [`free_port`] picks: above the ports services commonly listen on (the
/// development loop's 8080 and 8081 among them).
const FIRST_PICKED: u16 = 20_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The ports picked lie outside the kernel's range for outgoing connections (where
    /// it leaves room below), are free to listen on, and are never handed out twice.
    #[test]
    fn free_ports_are_picked_below_the_outgoing_range_and_never_twice() {
        let mut seen = Vec::new();
        for _ in 0..20 {
            let port = free_port().expect("a port");
            if let Some(range) = picked_from() {
                assert!(range.contains(&port), "{port} outside {range:?}");
            }
            assert!(!seen.contains(&port), "{port} twice");
            seen.push(port);
            TcpListener::bind(("127.0.0.1", port)).expect("free to listen on");
        }
    }
}
