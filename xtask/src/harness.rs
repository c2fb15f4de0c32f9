//! The two commands: `run` serves Taskwire, `test` checks all of it.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::steps::Timings;
use crate::{Result, bundle, root, setup};

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
    timings.run("native tests", &mut cargo(&["test", "--workspace"]))?;
    build_app(timings)?;
    timings.run(
        "build the server",
        &mut cargo(&["build", "-p", "taskwire-server"]),
    )?;

    let page = free_port()?;
    let server = TestServer::start(&format!("http://127.0.0.1:{page}"))?;
    let geckodriver = which("geckodriver")?;
    let chromedriver = which("chromedriver")?;
    for (browser, driver, path, other) in [
        ("Chromium", "CHROMEDRIVER", &chromedriver, "GECKODRIVER"),
        ("Firefox", "GECKODRIVER", &geckodriver, "CHROMEDRIVER"),
    ] {
        timings.run(
            &format!("browser tests in headless {browser}"),
            cargo(&["test", "-p", "taskwire", "--target", WASM, "--test", "*"])
                .env(driver, path)
                .env_remove(other)
                .env("TASKWIRE_TEST_SERVER", &server.url)
                .env("WASM_BINDGEN_TEST_ADDRESS", format!("127.0.0.1:{page}"))
                .env("WASM_BINDGEN_TEST_TIMEOUT", "180"),
        )?;
    }
    Ok(())
}

const WASM: &str = "wasm32-unknown-unknown";

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
/// allowing the test page's origin. Stopped when dropped.
struct TestServer {
    child: Child,
    url: String,
}

impl TestServer {
    fn start(page_origin: &str) -> Result<Self> {
        let dir = root().join("target/xtask");
        std::fs::create_dir_all(&dir).map_err(Error::io("creating target/xtask"))?;
        let db = dir.join("browser-tests.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let log = dir.join("browser-tests-server.log");
        let log_file = std::fs::File::create(&log).map_err(Error::io("creating the server log"))?;
        let port = free_port()?;
        let binary = root().join("target/debug/taskwire-server");
        println!("\n==> starting the test server (log: {})", log.display());
        let mut child = Command::new(&binary)
            .arg("serve")
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--db")
            .arg(&db)
            .args(["--allow-origin", page_origin])
            .stdout(Stdio::piped())
            .stderr(log_file)
            .current_dir(root())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: binary.display().to_string(),
                source,
            })?;
        let url = announced_url(&mut child, &log)?;
        println!("    serving at {url}, allowing {page_origin}");
        Ok(Self { child, url })
    }
}

/// Reads the server's "Taskwire is running at URL" line; keeps echoing what follows.
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
        // SIGTERM lets it close sockets with 1001 and finish writes, as in production.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
