//! The development loop of the README, as a person starts it: the server on
//! 127.0.0.1:8080 allowing trunk's origin, `trunk serve` on 127.0.0.1:8081 (ports and
//! proxy from Trunk.toml), and headless Chromium signing in through trunk's page. The API
//! goes through trunk's proxy; the socket goes straight to the server (`src/main.rs`). A
//! save then rebuilds the app, the page reloads itself, and the board is live again.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::Error;
use crate::local_server::LocalServer;
use crate::steps::end_tree;
use crate::webdriver::{Browser, Driver};
use crate::{Result, root};

/// Trunk.toml's: the page on 8081, the API proxied to the server on 8080.
const SERVER_PORT: u16 = 8080;
const TRUNK_PORT: u16 = 8081;
const USER: (&str, &str) = ("dev-loop", "dev-loop-password");
/// The first build of the app in a development profile may take minutes.
const FIRST_BUILD: Duration = Duration::from_secs(600);

/// Fails when a port the loop needs is taken: checked before the other suites too, so a
/// run does not spend their minutes to fail at the end.
pub fn ports_free() -> Result {
    for port in [SERVER_PORT, TRUNK_PORT] {
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            return Err(Error::Other(format!(
                "port {port} is taken; the development loop check runs the loop of the \
                 README on 8080 and 8081 (stop your own `trunk serve` and server first)"
            )));
        }
    }
    Ok(())
}

pub fn check(binary: PathBuf) -> Result {
    ports_free()?;
    let origin = format!("http://127.0.0.1:{TRUNK_PORT}");
    let server = LocalServer::start_on(
        "dev-loop",
        binary,
        SERVER_PORT,
        &["--allow-origin", &origin],
    )?;
    server.register(USER.0, USER.1)?;

    let trunk = TrunkServe::start()?;
    trunk.wait_for_builds(1, FIRST_BUILD)?;
    println!("==> signing in through trunk's page in headless Chromium");
    let driver = Driver::start(Browser::Chromium, (1000, 700))?;
    driver.sign_in(&origin, USER)?;
    let field = driver.wait_for("//input[@aria-label='New task']")?;
    driver.type_into(&field, "Made in the development loop\u{E007}")?;
    driver.wait_for(
        "//ul[@aria-label='Tasks']/li[.//*[normalize-space()='Made in the development loop']]",
    )?;

    println!("==> saving a file: trunk rebuilds and the page reloads, still signed in");
    driver.execute("window.__beforeSave = true; return true;")?;
    let style = root().join("style/main.css");
    std::fs::File::options()
        .append(true)
        .open(&style)
        .and_then(|file| file.set_modified(std::time::SystemTime::now()))
        .map_err(Error::io("touching style/main.css"))?;
    trunk.wait_for_builds(2, Duration::from_secs(300))?;
    let reloaded = Instant::now();
    while driver.execute("return window.__beforeSave === true;")? == json!(true) {
        if reloaded.elapsed() > Duration::from_secs(30) {
            return Err(Error::Other(
                "the page did not reload after the rebuild".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    driver.wait_for("//*[@role='status' and @data-connection='live']")?;
    driver.wait_for(
        "//ul[@aria-label='Tasks']/li[.//*[normalize-space()='Made in the development loop']]",
    )?;
    println!(
        "    signed in through the proxy, live on the server's socket, and live again after a rebuild"
    );
    Ok(())
}

/// `trunk serve` in the project's root, its output in a log; stopped when dropped.
struct TrunkServe {
    child: Child,
    log: PathBuf,
}

impl TrunkServe {
    fn start() -> Result<Self> {
        let dir = root().join("target/xtask");
        std::fs::create_dir_all(&dir).map_err(Error::io("creating target/xtask"))?;
        let log = dir.join("trunk-serve.log");
        let output = std::fs::File::create(&log).map_err(Error::io("creating the trunk log"))?;
        let errors = output
            .try_clone()
            .map_err(Error::io("sharing the trunk log"))?;
        println!("\n==> starting trunk serve (log: {})", log.display());
        // Its own dist folder, so the release build in dist/ stays as it is.
        let child = Command::new("trunk")
            .args(["serve", "--offline", "--no-error-reporting", "--dist"])
            .arg(dir.join("dev-dist"))
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "trunk".into(),
                source,
            })?;
        Ok(Self { child, log })
    }

    /// Waits until trunk has finished `count` builds (its "success" lines).
    fn wait_for_builds(&self, count: usize, timeout: Duration) -> Result {
        let start = Instant::now();
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.matches("success").count() >= count {
                return Ok(());
            }
            // trunk's own failures; cargo's output passes through too, and crate names
            // such as `thiserror` hold the lowercase word.
            if log.contains(" ERROR ") {
                return Err(Error::Other(format!(
                    "trunk serve failed; see {}",
                    self.log.display()
                )));
            }
            if start.elapsed() > timeout {
                return Err(Error::Other(format!(
                    "trunk serve did not finish build {count} in {timeout:?}; see {}",
                    self.log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for TrunkServe {
    /// Ends trunk and whatever it started (a build still running when the check gave up
    /// would otherwise go on, holding target/ and the cores).
    fn drop(&mut self) {
        end_tree(&mut self.child);
    }
}
