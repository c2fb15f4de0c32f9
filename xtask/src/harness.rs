//! The two commands: `run` serves Taskwire, `test` checks all of it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::steps::Timings;
use crate::{Result, bundle, control, fault_socket, root, setup};

/// `cargo xtask run [server flags…]`: build the app and serve it on a SQLite file.
pub fn run(server_args: &[String]) -> Result {
    setup::build_tools()?;
    let mut timings = Timings::default();
    build_app(&mut timings)?;
    timings.run(
        "build the server (release)",
        &mut cargo(&["build", "--release", "-p", "taskwire-server"]),
    )?;
    println!("\n==> starting the server (Ctrl-C stops it)");
    let binary = root().join("target/release/taskwire-server");
    let status = Command::new(&binary)
        .arg("serve")
        .args(["--static-dir", "dist"])
        .args(server_args)
        .current_dir(root())
        .status()
        .map_err(|source| Error::Spawn {
            program: binary.display().to_string(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::StepFailed {
            step: "the server".into(),
            status: status.to_string(),
        })
    }
}

/// `cargo xtask test`: every check there is, failing on the first that fails.
pub fn test() -> Result {
    let start = Instant::now();
    setup::all()?;
    let mut timings = Timings::default();
    timings.record("setup", start.elapsed());
    let result = checks(&mut timings);
    timings.print();
    result
}

fn checks(timings: &mut Timings) -> Result {
    timings.run(
        "format (cargo fmt --check)",
        &mut cargo(&["fmt", "--all", "--check"]),
    )?;
    timings.run(
        "lint, native (clippy)",
        &mut cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    timings.run(
        "lint, wasm32 (clippy)",
        &mut cargo(&[
            "clippy",
            "-p",
            "taskwire",
            "--target",
            WASM,
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Also builds target/debug/taskwire-server (the server has integration tests), with
    // the same features the browser suites' server needs: no second build.
    timings.run("native tests", &mut cargo(&["test", "--workspace"]))?;
    build_app(timings)?;

    let suites = BrowserSuites::start()?;
    for browser in [Browser::Chromium, Browser::Firefox] {
        timings.run(
            &format!("browser tests in headless {}", browser.name()),
            &mut suites.cargo_test(browser, &["--test", "*"])?,
        )?;
    }
    Ok(())
}

/// `cargo xtask bench`: every benchmark, printing figures side by side in one run.
pub fn bench() -> Result {
    setup::all()?;
    let mut timings = Timings::default();
    timings.run(
        "server: 1,000 sockets (cargo bench -p taskwire-server --bench sockets)",
        &mut cargo(&["bench", "-p", "taskwire-server", "--bench", "sockets"]),
    )?;
    timings.run(
        "app: task store merge, native (cargo bench -p taskwire --bench store)",
        &mut cargo(&["bench", "-p", "taskwire", "--bench", "store"]),
    )?;
    build_app(&mut timings)?;
    timings.run(
        "build the server (as the test suites build it)",
        &mut cargo(&["test", "--workspace", "--no-run"]),
    )?;
    let suites = BrowserSuites::start()?;
    let mut benches = suites.cargo_test(
        Browser::Chromium,
        &[
            "--release",
            "--features",
            "browser-bench",
            "--test",
            "bench_*",
            "--",
            "--nocapture",
        ],
    )?;
    // Seeding 10,000 tasks for the render benchmark alone takes minutes.
    benches.env("WASM_BINDGEN_TEST_TIMEOUT", "900");
    timings.run(
        "app: browser benchmarks in headless Chromium (tests/bench_*.rs)",
        &mut benches,
    )?;
    timings.print();
    Ok(())
}

#[derive(Clone, Copy)]
enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Self::Chromium => "Chromium",
            Self::Firefox => "Firefox",
        }
    }

    /// The WebDriver server's env var for wasm-bindgen-test-runner, and its program.
    fn driver(self) -> (&'static str, &'static str) {
        match self {
            Self::Chromium => ("CHROMEDRIVER", "chromedriver"),
            Self::Firefox => ("GECKODRIVER", "geckodriver"),
        }
    }
}

/// What the browser suites run against: the real server (restartable through the
/// control endpoint) and the socket double, each on its own loopback port.
struct BrowserSuites {
    page: u16,
    server_url: String,
    control: String,
    faults: String,
    /// Held so the server lives as long as the suites.
    _server: Arc<Mutex<TestServer>>,
}

impl BrowserSuites {
    fn start() -> Result<Self> {
        let page = free_port()?;
        let page_origin = format!("http://127.0.0.1:{page}");
        let server = TestServer::new(&page_origin)?;
        let server_url = server.url();
        server.create_admin()?;
        let server = Arc::new(Mutex::new(server));
        Ok(Self {
            page,
            server_url,
            control: control::start(Arc::clone(&server), page_origin)?,
            faults: fault_socket::start()?,
            _server: server,
        })
    }

    /// `cargo test` of the app for wasm32 in `browser`, with the addresses the suites
    /// read at compile time.
    fn cargo_test(&self, browser: Browser, args: &[&str]) -> Result<Command> {
        let (var, program) = browser.driver();
        let mut command = cargo(&["test", "-p", "taskwire", "--target", WASM]);
        command.args(args);
        for (other, _) in [Browser::Chromium, Browser::Firefox].map(Browser::driver) {
            command.env_remove(other);
        }
        command
            .env(var, which(program)?)
            .env("TASKWIRE_TEST_SERVER", &self.server_url)
            .env("TASKWIRE_TEST_CONTROL", &self.control)
            .env("TASKWIRE_TEST_FAULTS", &self.faults)
            .env("TASKWIRE_TEST_ADMIN_USER", ADMIN.0)
            .env("TASKWIRE_TEST_ADMIN_PASSWORD", ADMIN.1)
            .env(
                "WASM_BINDGEN_TEST_ADDRESS",
                format!("127.0.0.1:{}", self.page),
            )
            .env("WASM_BINDGEN_TEST_TIMEOUT", "180");
        Ok(command)
    }
}

const WASM: &str = "wasm32-unknown-unknown";

/// The admin account the browser suites sign in with (a throwaway database on loopback).
const ADMIN: (&str, &str) = ("suite-admin", "suite-admin-password");

fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    command
}

/// The release bundle into dist/, with its size.
fn build_app(timings: &mut Timings) -> Result {
    timings.run(
        "release build of the app (trunk build --release --offline)",
        Command::new("trunk").args(["build", "--release", "--offline"]),
    )?;
    bundle::measure().map(drop)
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(Error::io("finding a free port"))
}

fn which(program: &str) -> Result<PathBuf> {
    crate::steps::output("sh", &["-c", &format!("command -v {program}")])
        .map(PathBuf::from)
        .ok_or_else(|| Error::Other(format!("{program} is not on PATH")))
}

/// The real server the browser suites talk to: a debug build on a fresh SQLite file,
/// allowing the test page's origin. It can be stopped and started again on the same port
/// and database (see [`crate::control`]); it is stopped when dropped.
pub struct TestServer {
    child: Option<Child>,
    port: u16,
    db: PathBuf,
    log: PathBuf,
    page_origin: String,
}

impl TestServer {
    fn new(page_origin: &str) -> Result<Self> {
        let dir = root().join("target/xtask");
        std::fs::create_dir_all(&dir).map_err(Error::io("creating target/xtask"))?;
        let db = dir.join("browser-tests.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let mut server = Self {
            child: None,
            port: free_port()?,
            db,
            log: dir.join("browser-tests-server.log"),
            page_origin: page_origin.to_owned(),
        };
        println!(
            "\n==> starting the test server (log: {})",
            server.log.display()
        );
        server.spawn()?;
        println!("    serving at {}, allowing {page_origin}", server.url());
        Ok(server)
    }

    /// Registers the suites' admin account over HTTP, then promotes it with the server's
    /// own command, the only way there is to make an admin.
    fn create_admin(&self) -> Result {
        let (username, password) = ADMIN;
        let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
        let request = format!(
            "POST /api/register HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .map_err(Error::io("connecting to the test server"))?;
        stream
            .write_all(request.as_bytes())
            .map_err(Error::io("registering the admin"))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(Error::io("registering the admin"))?;
        if !answer.starts_with("HTTP/1.1 201") {
            return Err(Error::Other(format!(
                "registering the admin failed: {}",
                answer.lines().next().unwrap_or_default()
            )));
        }
        crate::steps::run(
            "promoting the suites' admin",
            Command::new(root().join("target/debug/taskwire-server"))
                .args(["user", "promote", username, "--db"])
                .arg(&self.db),
        )
        .map(drop)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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
        let binary = root().join("target/debug/taskwire-server");
        let mut child = Command::new(&binary)
            .arg("serve")
            .args(["--addr", &format!("127.0.0.1:{}", self.port)])
            .arg("--db")
            .arg(&self.db)
            .args(["--allow-origin", &self.page_origin])
            .stdout(Stdio::piped())
            .stderr(log)
            .current_dir(root())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: binary.display().to_string(),
                source,
            })?;
        let started = announced_url(&mut child, &self.log);
        self.child = Some(child);
        started.map(drop)
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

/// Waits for the server's "Taskwire is running at URL" line.
fn announced_url(child: &mut Child, log: &Path) -> Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::ServerDidNotStart { log: log.into() })?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|line| line.ok()) {
            if let Some(url) = line.strip_prefix("Taskwire is running at ") {
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .map_err(|_| Error::ServerDidNotStart { log: log.into() })
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
