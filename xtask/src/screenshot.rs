//! `cargo xtask screenshot`: a picture of the signed-in board for the README
//! (docs/board.png), taken from the real release build.
//!
//! The board needs a session, which lives in an HttpOnly cookie and in memory, so a
//! plain `chromium --screenshot URL` cannot show it (and tokens never go in URLs).
//! Instead Chromium is driven through chromedriver's WebDriver HTTP API: open /login,
//! fill the form as a person would, wait for the live board, take the picture. Plain
//! HTTP/1.1 over `TcpStream` and `serde_json` are all it takes, so xtask gains no HTTP
//! client dependency.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser_tmp::BrowserTmp;
use crate::error::Error;
use crate::harness::{cargo, server_binary};
use crate::http::http;
use crate::local_server::{LocalServer, free_port};
use crate::steps::Timings;
use crate::{Result, root, setup};

const USER: (&str, &str) = ("maya", "maya-screenshot-password");
/// (title, done): a board that shows every state a row can have at rest.
const TASKS: &[(&str, bool)] = &[
    ("Ship the Taskwire beta to the first ten teams", false),
    ("Review the reconnect backoff with Sam", true),
    ("Write the release notes", false),
    ("Book a room for the design review", true),
    ("Renew the TLS certificate before Friday", false),
    ("Reply to Priya about the roadmap", false),
];
const WINDOW: (u32, u32) = (1200, 800);
const OUTPUT: &str = "docs/board.png";

pub fn run() -> Result {
    setup::build_tools()?;
    let mut timings = Timings::default();
    timings.run(
        "release build of the app (trunk build --release --offline)",
        Command::new("trunk").args(["build", "--release", "--offline"]),
    )?;
    timings.run(
        "build the server (release)",
        &mut cargo(&["build", "--release", "-p", "taskwire-server"]),
    )?;

    let server = LocalServer::start(
        "screenshot",
        server_binary("release"),
        &["--static-dir", "dist"],
    )?;
    println!(
        "\n==> adding {} tasks for {} over HTTP",
        TASKS.len(),
        USER.0
    );
    seed(&server.address())?;
    let driver = Driver::start()?;
    println!("==> signing in through the page and taking the picture");
    let png = driver.screenshot_board(&server.url())?;
    let path = root().join(OUTPUT);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("creating docs/"))?;
    }
    std::fs::write(&path, png).map_err(Error::io(format!("writing {OUTPUT}")))?;
    println!("==> wrote {}", path.display());
    timings.print();
    Ok(())
}

/// Registers the user and adds the tasks through the HTTP API.
fn seed(address: &str) -> Result {
    let credentials = json!({ "username": USER.0, "password": USER.1 });
    let session = http(address, "POST", "/api/register", None, Some(&credentials))?;
    let token = session["token"]
        .as_str()
        .ok_or_else(|| Error::Other(format!("no token in the register answer: {session}")))?
        .to_owned();
    for (title, done) in TASKS {
        let task = http(
            address,
            "POST",
            "/api/tasks",
            Some(&token),
            Some(&json!({ "title": title })),
        )?;
        if *done {
            let id = task["id"].as_str().unwrap_or_default();
            let path = format!("/api/tasks/{id}");
            http(
                address,
                "PATCH",
                &path,
                Some(&token),
                Some(&json!({ "done": true })),
            )?;
        }
    }
    Ok(())
}

/// chromedriver with one headless Chromium session, both ended when dropped.
struct Driver {
    child: Child,
    address: String,
    session: String,
    /// Dropped after the driver is stopped (fields drop in order).
    _tmp: BrowserTmp,
}

impl Driver {
    fn start() -> Result<Self> {
        let address = format!("127.0.0.1:{}", free_port()?);
        let port = address.rsplit(':').next().unwrap_or_default().to_owned();
        let tmp = BrowserTmp::create("screenshot-tmp")?;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "chromedriver".into(),
                source,
            })?;
        let mut driver = Self {
            child,
            address,
            session: String::new(),
            _tmp: tmp,
        };
        let ready = poll(Duration::from_secs(20), || {
            Ok(http(&driver.address, "GET", "/status", None, None)
                .ok()
                .filter(|status| status["value"]["ready"] == true))
        })?;
        if ready.is_none() {
            return Err(Error::Other("chromedriver did not become ready".into()));
        }
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "args": args },
        }}});
        let session = driver.call("POST", "/session", Some(&capabilities))?;
        driver.session = session["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| Error::Other(format!("no WebDriver session: {session}")))?
            .to_owned();
        Ok(driver)
    }

    /// Signs in through the form at `origin`/login and shoots the board once it is live.
    fn screenshot_board(&self, origin: &str) -> Result<Vec<u8>> {
        let session = format!("/session/{}", self.session);
        self.call(
            "POST",
            &format!("{session}/url"),
            Some(&json!({ "url": format!("{origin}/login") })),
        )?;
        // Found by their labels and names, as the browser suites find them.
        let username = self.wait_for("//label[normalize-space(span)='Username']//input")?;
        let password = self.wait_for("//label[normalize-space(span)='Password']//input")?;
        self.type_into(&username, USER.0)?;
        self.type_into(&password, USER.1)?;
        let sign_in = self.wait_for("//button[normalize-space()='Sign in' and not(@disabled)]")?;
        self.call(
            "POST",
            &format!("{session}/element/{sign_in}/click"),
            Some(&json!({})),
        )?;
        self.wait_for("//*[@role='status' and @data-connection='live']")?;
        self.wait_for("//ul[@aria-label='Tasks']/li")?;
        // Park the pointer off the list (no hover highlight), and let transitions settle.
        let park = json!({ "actions": [{
            "type": "pointer",
            "id": "mouse",
            "parameters": { "pointerType": "mouse" },
            "actions": [{ "type": "pointerMove", "x": 0, "y": 0, "origin": "viewport" }],
        }]});
        self.call("POST", &format!("{session}/actions"), Some(&park))?;
        std::thread::sleep(Duration::from_millis(400));
        let shot = self.call("GET", &format!("{session}/screenshot"), None)?;
        let encoded = shot["value"]
            .as_str()
            .ok_or_else(|| Error::Other("no screenshot in the answer".into()))?;
        base64_decode(encoded)
    }

    fn type_into(&self, element: &str, text: &str) -> Result {
        let path = format!("/session/{}/element/{element}/value", self.session);
        self.call("POST", &path, Some(&json!({ "text": text })))
            .map(drop)
    }

    /// Waits up to 20 s for an element matching `xpath`; gives back its WebDriver id.
    fn wait_for(&self, xpath: &str) -> Result<String> {
        let path = format!("/session/{}/element", self.session);
        let query = json!({ "using": "xpath", "value": xpath });
        let found = poll(Duration::from_secs(20), || {
            let answer = self.call("POST", &path, Some(&query));
            Ok(answer.ok().and_then(|answer| {
                answer["value"]
                    .as_object()
                    .and_then(|element| element.values().next())
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }))
        })?;
        found.ok_or_else(|| Error::Other(format!("no element {xpath} on the page")))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        http(&self.address, method, path, None, body)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `attempt` every 100 ms until it finds something or `timeout` passes.
fn poll<T>(timeout: Duration, mut attempt: impl FnMut() -> Result<Option<T>>) -> Result<Option<T>> {
    let start = Instant::now();
    loop {
        if let Some(found) = attempt()? {
            return Ok(Some(found));
        }
        if start.elapsed() > timeout {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Standard base64, as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|error| Error::Other(format!("the screenshot is not base64: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(
            base64_decode("aGVsbG8=").ok().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            base64_decode("iVBORw0KGgo=").ok().as_deref(),
            Some(&b"\x89PNG\r\n\x1a\n"[..])
        );
    }
}
