//! `cargo xtask screenshot`: a picture of the signed-in board for the README
//! (docs/board.png), taken from the real release build.
//!
//! The board needs a session, which lives in an HttpOnly cookie and in memory, so a
//! plain `chromium --screenshot URL` cannot show it (and tokens never go in URLs).
//! Instead Chromium is driven over WebDriver: open /login, fill the form as a person
//! would, wait for the live board, take the picture.

use std::time::Duration;

use serde_json::json;

use crate::error::Error;
use crate::harness::{cargo, server_binary};
use crate::http::http;
use crate::local_server::LocalServer;
use crate::steps::Timings;
use crate::webdriver::{Browser, Driver};
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
    setup::release_tools_and_browsers()?;
    let mut timings = Timings::default();
    crate::harness::release_app(&mut timings)?;
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
    seed(&server)?;
    let driver = Driver::start(Browser::Chromium, WINDOW)?;
    println!("==> signing in through the page and taking the picture");
    driver.sign_in(&server.url(), USER)?;
    driver.wait_for("//ul[@aria-label='Tasks']/li")?;
    // Park the pointer off the list (no hover highlight), and let transitions settle.
    driver.park_pointer()?;
    std::thread::sleep(Duration::from_millis(400));
    let png = driver.screenshot()?;
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
fn seed(server: &LocalServer) -> Result {
    let address = &server.address();
    let session = server.register(USER.0, USER.1)?;
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
