//! The app as the server serves it, in headless Chromium and Firefox: the real
//! release `index.html` and bundle under the server's Content-Security-Policy and other security
//! headers. The browser suites cannot show this, since they run in the page of
//! wasm-bindgen-test-runner, which carries none of our headers.
//!
//! A person's first minute: the page loads (the inline loader and the WebAssembly
//! are allowed), they sign in, the socket goes live, they add a task and see it, and the
//! browser reports no violation of the policy on the way.

use std::path::PathBuf;

use serde_json::json;

use crate::Result;
use crate::error::Error;
use crate::local_server::LocalServer;
use crate::webdriver::{Browser, Driver};

const WINDOW: (u32, u32) = (1000, 700);
const PASSWORD: &str = "served-page-password";
const TITLE: &str = "Added under the policy <b>as text</b>";

/// Collects every `securitypolicyviolation` the page reports from now on.
const WATCH_VIOLATIONS: &str = "window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__violations.push(`${event.effectiveDirective} blocked ${event.blockedURI || 'inline'}`);
});
return true;";

/// Signs in and adds a task through the page served by `binary`, in each browser.
pub fn check(binary: PathBuf) -> Result {
    let server = LocalServer::start("served-page", binary, &["--static-dir", "dist"])?;
    for browser in [Browser::Chromium, Browser::Firefox] {
        println!(
            "==> the served app under its security headers, in headless {}",
            browser.name()
        );
        let username = format!("served-{}", browser.name().to_lowercase());
        server.register(&username, PASSWORD)?;
        let driver = Driver::start(browser, WINDOW)?;
        driver.open(&format!("{}/login", server.url()))?;
        // The sign-in form shows once the loader and the WebAssembly have run.
        driver.wait_for("//button[normalize-space()='Sign in']")?;
        driver.execute(WATCH_VIOLATIONS)?;
        driver.fill_sign_in((&username, PASSWORD))?;
        let field = driver.wait_for("//input[@aria-label='New task']")?;
        driver.type_into(&field, &format!("{TITLE}\u{E007}"))?;
        driver.wait_for(&format!(
            "//ul[@aria-label='Tasks']/li[.//*[normalize-space()='{TITLE}']]"
        ))?;
        let violations = driver.execute("return window.__violations;")?;
        if violations != json!([]) {
            return Err(Error::Other(format!(
                "{}: the page broke its Content-Security-Policy: {violations}",
                browser.name()
            )));
        }
        println!("    signed in, live, a task added; no policy violation");
    }
    Ok(())
}
