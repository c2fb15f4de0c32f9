//! Headless Chromium and Firefox driven over the W3C WebDriver HTTP API (chromedriver,
//! geckodriver): for the screenshot and for the check of the app as the server serves
//! it. Plain HTTP/1.1 and `serde_json` are all it takes, so xtask gains no client crate.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Result;
use crate::browser_tmp::BrowserTmp;
use crate::error::Error;
use crate::http::http;
use crate::local_server::free_port;

#[derive(Clone, Copy)]
pub enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    pub fn name(self) -> &'static str {
        match self {
            Self::Chromium => "Chromium",
            Self::Firefox => "Firefox",
        }
    }

    /// The WebDriver server's env var for wasm-bindgen-test-runner, and its program.
    pub fn driver(self) -> (&'static str, &'static str) {
        match self {
            Self::Chromium => ("CHROMEDRIVER", "chromedriver"),
            Self::Firefox => ("GECKODRIVER", "geckodriver"),
        }
    }

    /// A new headless session's capabilities, with a window of `size`.
    fn capabilities(self, size: (u32, u32)) -> Value {
        match self {
            Self::Chromium => json!({
                "browserName": "chrome",
                "goog:chromeOptions": { "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                    format!("--window-size={},{}", size.0, size.1),
                ]},
            }),
            Self::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": { "args": [
                    "-headless",
                    "-width", size.0.to_string(),
                    "-height", size.1.to_string(),
                ]},
            }),
        }
    }
}

/// A WebDriver server with one headless browser session, both ended when dropped.
pub struct Driver {
    child: Child,
    address: String,
    session: String,
    /// Dropped after the driver is stopped (fields drop in order).
    _tmp: BrowserTmp,
}

impl Driver {
    pub fn start(browser: Browser, window: (u32, u32)) -> Result<Self> {
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let (_, program) = browser.driver();
        let tmp = BrowserTmp::create(&format!("webdriver-{program}-tmp"))?;
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.into(),
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
            return Err(Error::Other(format!("{program} did not become ready")));
        }
        let capabilities =
            json!({ "capabilities": { "alwaysMatch": browser.capabilities(window) } });
        let session = driver.call("POST", "/session", Some(&capabilities))?;
        driver.session = session["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| Error::Other(format!("no WebDriver session: {session}")))?
            .to_owned();
        Ok(driver)
    }

    pub fn open(&self, url: &str) -> Result {
        self.session_call("POST", "/url", Some(&json!({ "url": url })))
            .map(drop)
    }

    /// Signs in through the form at `origin`/login and waits for the live board.
    pub fn sign_in(&self, origin: &str, (username, password): (&str, &str)) -> Result {
        self.open(&format!("{origin}/login"))?;
        self.fill_sign_in((username, password))
    }

    /// Fills the sign-in form already on the page and waits for the live board.
    pub fn fill_sign_in(&self, (username, password): (&str, &str)) -> Result {
        // Found by their labels and names, as the browser suites find them.
        let field = self.wait_for("//label[normalize-space(span)='Username']//input")?;
        self.type_into(&field, username)?;
        let field = self.wait_for("//label[normalize-space(span)='Password']//input")?;
        self.type_into(&field, password)?;
        let sign_in = self.wait_for("//button[normalize-space()='Sign in' and not(@disabled)]")?;
        self.click(&sign_in)?;
        self.wait_for("//*[@role='status' and @data-connection='live']")
            .map(drop)
    }

    pub fn type_into(&self, element: &str, text: &str) -> Result {
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        )
        .map(drop)
    }

    pub fn click(&self, element: &str) -> Result {
        self.session_call(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        )
        .map(drop)
    }

    /// Runs `script` (a function body) in the page and gives back what it returns.
    pub fn execute(&self, script: &str) -> Result<Value> {
        let answer = self.session_call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": [] })),
        )?;
        Ok(answer["value"].clone())
    }

    /// Moves the pointer to the top-left corner (so nothing shows a hover state).
    pub fn park_pointer(&self) -> Result {
        let park = json!({ "actions": [{
            "type": "pointer",
            "id": "mouse",
            "parameters": { "pointerType": "mouse" },
            "actions": [{ "type": "pointerMove", "x": 0, "y": 0, "origin": "viewport" }],
        }]});
        self.session_call("POST", "/actions", Some(&park)).map(drop)
    }

    /// The page as a PNG.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let shot = self.session_call("GET", "/screenshot", None)?;
        let encoded = shot["value"]
            .as_str()
            .ok_or_else(|| Error::Other("no screenshot in the answer".into()))?;
        base64_decode(encoded)
    }

    /// Waits up to 20 s for an element matching `xpath`; gives back its WebDriver id.
    pub fn wait_for(&self, xpath: &str) -> Result<String> {
        let query = json!({ "using": "xpath", "value": xpath });
        let found = poll(Duration::from_secs(20), || {
            let answer = self.session_call("POST", "/element", Some(&query));
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

    fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
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
