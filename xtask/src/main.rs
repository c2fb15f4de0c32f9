//! `cargo xtask <command>`: the project's two commands (run, test) and their helpers,
//! in Rust so they work the same on every machine without a shell-script dialect.

mod browser_tmp;
mod bundle;
mod control;
mod dev_loop;
mod error;
mod fault_socket;
mod gate;
mod harness;
mod http;
mod local_server;
mod postgres;
mod release_app;
mod screenshot;
mod served_page;
mod setup;
mod steps;
mod webdriver;

use std::process::ExitCode;

use error::Error;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  run         install what is missing, build the app, start the server and print its URL
  test        install what is missing and run every check: fmt, clippy, native tests,
              the release build, and the browser suites in headless Chromium and Firefox;
              `test browser [SUITE [FILTER]]` runs only the browser suites (or one, e.g.
              `board`, or its tests whose names contain FILTER)
              in headless Chromium; `test served` only checks the built app as the
              server serves it (security headers) in Chromium and Firefox; `test dev`
              only checks the development loop (trunk serve beside the server)
  bench       run every benchmark and print its figures (server sockets, task store
              merge, and the app in headless Chromium); `bench browser [FILTER]` runs
              only the browser benchmarks (those whose name contains FILTER)
  screenshot  take a screenshot of the signed-in board in headless Chromium (docs/board.png)
  setup       only install what is missing (idempotent)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => harness::run(&args[1..]),
        Some("test") => harness::test(&args[1..]),
        Some("bench") => harness::bench(&args[1..]),
        Some("setup") => setup::all(),
        Some("screenshot") => screenshot::run(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace's top folder: every command runs from there.
fn root() -> std::path::PathBuf {
    let xtask = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// Cargo's target folder, as the builds here use it.
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root().join(dir))
        .unwrap_or_else(|| root().join("target"))
}

type Result<T = ()> = std::result::Result<T, Error>;
