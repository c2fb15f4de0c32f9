//! The two commands: `run` serves Taskwire, `test` checks all of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::browser_tmp::BrowserTmp;
use crate::error::Error;
use crate::local_server::{LocalServer, free_port};
use crate::release_app::ReleaseApp;
use crate::steps::{Background, Timings};
use crate::webdriver::Browser;
use crate::{
    Result, bundle, control, dev_loop, fault_socket, gate, postgres, root, served_page, setup,
};

/// `cargo xtask run [server flags…]`: build the app and serve it on a SQLite file.
/// The server is built while the tools install: it needs none of them, and on a fresh
/// machine the two overlap for minutes.
pub fn run(server_args: &[String]) -> Result {
    let mut timings = Timings::default();
    let logs = root().join("target/xtask");
    std::fs::create_dir_all(&logs).map_err(Error::io("creating target/xtask"))?;
    let server = Background::start(
        "building the server (release)",
        &mut cargo(&["build", "--release", "-p", "taskwire-server"]),
        &logs.join("server-build.log"),
    )?;
    setup::release_tools()?;
    timings.record("the build tools", timings.elapsed());
    ReleaseApp::start(&logs)?.finish(&mut timings)?;
    timings.record(
        "building the server (release), begun first",
        server.finish()?,
    );
    timings.print();
    println!("\n==> starting the server (Ctrl-C stops it)");
    let binary = server_binary("release");
    let status = Command::new(&binary)
        .args(serve_args(server_args))
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

/// The server's arguments for `run`: serve the built app, then the person's own flags.
/// `cargo xtask run -- --addr X` hands xtask a `--` before them, which would make clap
/// read the flags as positional arguments: it is dropped.
fn serve_args(flags: &[String]) -> Vec<String> {
    let flags = match flags {
        [separator, rest @ ..] if separator == "--" => rest,
        flags => flags,
    };
    ["serve", "--static-dir", "dist"]
        .map(str::to_owned)
        .into_iter()
        .chain(flags.iter().cloned())
        .collect()
}

/// `cargo xtask test`: every check there is, failing on the first that fails;
/// `cargo xtask test browser [SUITE [FILTER]]` runs only the browser suites (or the one
/// named, e.g. `board`, or only its tests whose names contain FILTER) in headless
/// Chromium.
pub fn test(args: &[String]) -> Result {
    let mut timings = Timings::default();
    setup::all()?;
    timings.record("setup", timings.elapsed());
    let result = match args {
        [] => checks(&mut timings),
        [only] if only == "browser" => chromium_suites(&mut timings, &["--test", "*"]),
        [only, suite] if only == "browser" => chromium_suites(&mut timings, &["--test", suite]),
        [only, suite, filter] if only == "browser" => {
            chromium_suites(&mut timings, &["--test", suite, "--", filter])
        }
        [only] if only == "served" => served(&mut timings),
        [only] if only == "dev" => timings
            .run(
                "build the server",
                &mut cargo(&["build", "-p", "taskwire-server"]),
            )
            // trunk builds the app offline: the app's crates must be here already.
            .and_then(|()| timings.run("fetch the app's crates", &mut cargo(&["fetch"])))
            .and_then(|()| dev_loop_check(&mut timings)),
        _ => Err(Error::Other(
            "usage: cargo xtask test [browser [SUITE [FILTER]] | served | dev]".into(),
        )),
    };
    timings.print();
    result
}

fn chromium_suites(timings: &mut Timings, args: &[&str]) -> Result {
    // Built every time (nothing to do when current): a stale server gives stale results.
    timings.run(
        "build the server",
        &mut cargo(&["build", "-p", "taskwire-server"]),
    )?;
    let suites = BrowserSuites::start(server_binary("debug"))?;
    timings.run(
        "browser tests in headless Chromium",
        &mut suites.cargo_test(Browser::Chromium, args)?,
    )
}

/// The release app as the debug server serves it, in both browsers.
fn served(timings: &mut Timings) -> Result {
    build_app(timings)?;
    timings.run(
        "build the server",
        &mut cargo(&["build", "-p", "taskwire-server"]),
    )?;
    served_check(timings)
}

fn served_check(timings: &mut Timings) -> Result {
    let started = Instant::now();
    served_page::check(server_binary("debug"))?;
    timings.record(
        "the served app under its security headers, in Chromium and Firefox",
        started.elapsed(),
    );
    Ok(())
}

fn checks(timings: &mut Timings) -> Result {
    dev_loop::ports_free()?;
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
    // Not among --all-targets: the three-node suite runs only beside PostgreSQL.
    timings.run(
        "lint, the three-node suite (clippy)",
        &mut cargo(&[
            "clippy",
            "--workspace",
            "--test",
            "cluster",
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
    timings.run(
        "server tests on PostgreSQL, three nodes among them (a throwaway cluster)",
        &mut postgres::beside_cluster(
            "TASKWIRE_TEST_PG",
            // --workspace: the features of the step before, so nothing is built again.
            &[
                "test",
                "--workspace",
                "--test",
                "server",
                "--test",
                "cluster",
            ],
        ),
    )?;
    build_app(timings)?;

    served_check(timings)?;
    let suites = BrowserSuites::start(server_binary("debug"))?;
    for browser in [Browser::Chromium, Browser::Firefox] {
        timings.run(
            &format!("browser tests in headless {}", browser.name()),
            &mut suites.cargo_test(browser, &["--test", "*"])?,
        )?;
    }
    drop(suites);
    dev_loop_check(timings)
}

/// The README's development loop, `trunk serve` beside the server, signed in through.
fn dev_loop_check(timings: &mut Timings) -> Result {
    let started = Instant::now();
    dev_loop::check(server_binary("debug"))?;
    timings.record(
        "the development loop (trunk serve beside the server) in Chromium",
        started.elapsed(),
    );
    Ok(())
}

/// `cargo xtask bench [browser [FILTER]]`: every benchmark, printing figures side by side
/// in one run; `browser` runs only the browser benchmarks (the quick loop when working on
/// the app's speed), and FILTER picks benchmark tests by name as `cargo test` does.
pub fn bench(args: &[String]) -> Result {
    let (browser_only, filter) = match args {
        [] => (false, None),
        [only] if only == "browser" => (true, None),
        [only, filter] if only == "browser" => (true, Some(filter.as_str())),
        _ => {
            return Err(Error::Other(
                "usage: cargo xtask bench [browser [FILTER]]".into(),
            ));
        }
    };
    setup::all()?;
    let mut timings = Timings::default();
    if !browser_only {
        timings.run(
            "server: 1,000 sockets (cargo bench -p taskwire-server --bench sockets)",
            &mut cargo(&["bench", "-p", "taskwire-server", "--bench", "sockets"]),
        )?;
        timings.run(
            "server: three nodes on PostgreSQL, 1,000 sockets (cargo bench -p taskwire-server --bench cluster, beside a throwaway cluster)",
            &mut postgres::beside_cluster(
                "TASKWIRE_BENCH_PG",
                &["bench", "-p", "taskwire-server", "--bench", "cluster"],
            ),
        )?;
        timings.run(
            "server: chaos, 3 minutes of faults and 6 kills (cargo bench -p taskwire-server --bench chaos)",
            &mut cargo(&["bench", "-p", "taskwire-server", "--bench", "chaos"]),
        )?;
        timings.run(
            "server: reconnect storm, 1,000 sockets (cargo bench -p taskwire-server --bench storm)",
            &mut cargo(&["bench", "-p", "taskwire-server", "--bench", "storm"]),
        )?;
        timings.run(
            "server: 1,000 waiting long polls (cargo bench -p taskwire-server --bench long_polls)",
            &mut cargo(&["bench", "-p", "taskwire-server", "--bench", "long_polls"]),
        )?;
        timings.run(
            "server: beside socket.io 4.8.4 (cargo bench -p taskwire-server --bench socketio)",
            &mut cargo(&["bench", "-p", "taskwire-server", "--bench", "socketio"]),
        )?;
        timings.run(
            "server: hold, 10,000 sockets for 5 minutes (cargo bench -p taskwire-server --bench hold)",
            &mut cargo(&["bench", "-p", "taskwire-server", "--bench", "hold"]),
        )?;
        timings.run(
            "app: task store merge, native (cargo bench -p taskwire --features fixtures --bench store)",
            &mut cargo(&[
                "bench",
                "-p",
                "taskwire",
                "--features",
                "fixtures",
                "--bench",
                "store",
            ]),
        )?;
        timings.run(
            "fuzz: 10 million executions (cargo run --release -p taskwire-fuzz)",
            &mut cargo(&["run", "--release", "-p", "taskwire-fuzz"]),
        )?;
    }
    // The browser benchmarks need only the server (reused if built); a full run also
    // reports the bundle. They time the app against the server people run, the release
    // build: a debug server would add its own slowness to the write-to-DOM latency.
    if !browser_only {
        build_app(&mut timings)?;
    }
    timings.run(
        "build the server (release)",
        &mut cargo(&["build", "--release", "-p", "taskwire-server"]),
    )?;
    let suites = BrowserSuites::start(server_binary("release"))?;
    let mut args = vec![
        "--release",
        "--features",
        "browser-bench",
        "--test",
        "bench_*",
    ];
    args.push("--");
    args.extend(filter);
    args.push("--nocapture");
    let mut benches = suites.cargo_test(Browser::Chromium, &args)?;
    // Seeding 10,000 tasks for the render benchmark alone takes minutes.
    benches.env("WASM_BINDGEN_TEST_TIMEOUT", "900");
    timings.run(
        "app: browser benchmarks in headless Chromium (tests/bench_*.rs)",
        &mut benches,
    )?;
    timings.print();
    Ok(())
}

/// What the browser suites run against: the real server (restartable through the
/// control endpoint), a second one whose access tokens live four seconds (token
/// refresh), the socket double, and the gate in front of the first one's socket, each on
/// its own loopback port. Cookies ignore the port, so the two servers' refresh cookies
/// overwrite each other: harmless, as every test signs in afresh and a page-load refresh
/// with the other server's cookie is just refused.
struct BrowserSuites {
    page: u16,
    server_url: String,
    short_ttl_url: String,
    control: String,
    faults: String,
    unanswering: String,
    gate: String,
    /// Held so the servers live as long as the suites, and stop with them (the control
    /// endpoint holds the first only weakly).
    _server: Arc<Mutex<LocalServer>>,
    _short_ttl: LocalServer,
    browser_tmp: BrowserTmp,
}

impl BrowserSuites {
    /// Starts `binary` as the suites' server.
    fn start(binary: PathBuf) -> Result<Self> {
        let page = free_port()?;
        let page_origin = format!("http://127.0.0.1:{page}");
        let server = LocalServer::start(
            "browser-tests",
            binary.clone(),
            &["--allow-origin", &page_origin],
        )?;
        let server_url = server.url();
        let gate = gate::start(server.address())?;
        create_admin(&server, &binary)?;
        let short_ttl = LocalServer::start(
            "browser-tests-short-ttl",
            binary,
            &["--allow-origin", &page_origin, "--access-ttl-secs", "4"],
        )?;
        let server = Arc::new(Mutex::new(server));
        Ok(Self {
            page,
            server_url,
            short_ttl_url: short_ttl.url(),
            control: control::start(Arc::downgrade(&server), page_origin)?,
            faults: fault_socket::start()?,
            unanswering: fault_socket::start_unanswering()?,
            gate,
            _server: server,
            _short_ttl: short_ttl,
            browser_tmp: BrowserTmp::create("browser-tmp")?,
        })
    }

    /// `cargo test` of the app for wasm32 in `browser`, with the addresses the suites
    /// read at compile time.
    fn cargo_test(&self, browser: Browser, args: &[&str]) -> Result<Command> {
        let (var, program) = browser.driver();
        let mut command = cargo(&["test", "-p", "taskwire", "--target", WASM]);
        command.args(args);
        // The runner takes a remote driver, or Safari's or Edge's, before a local one:
        // any of these left in the environment would run both browsers' suites there.
        for driver in [
            "CHROMEDRIVER",
            "GECKODRIVER",
            "SAFARIDRIVER",
            "MSEDGEDRIVER",
        ] {
            command.env_remove(driver);
            command.env_remove(format!("{driver}_REMOTE"));
        }
        command
            .env(var, which(program)?)
            .env("TASKWIRE_TEST_SERVER", &self.server_url)
            .env("TASKWIRE_TEST_SHORT_TTL_SERVER", &self.short_ttl_url)
            .env("TASKWIRE_TEST_CONTROL", &self.control)
            .env("TASKWIRE_TEST_FAULTS", &self.faults)
            .env("TASKWIRE_TEST_UNANSWERING", &self.unanswering)
            .env("TASKWIRE_TEST_GATE", &self.gate)
            .env("TASKWIRE_TEST_ADMIN_USER", ADMIN.0)
            .env("TASKWIRE_TEST_ADMIN_PASSWORD", ADMIN.1)
            .env(
                "WASM_BINDGEN_TEST_ADDRESS",
                format!("127.0.0.1:{}", self.page),
            )
            // A ceiling on a whole suite's page (40 tests signing in, restarts, tokens
            // left to expire), not on one test: room for two busy cores.
            .env("WASM_BINDGEN_TEST_TIMEOUT", "600")
            .env("TMPDIR", self.browser_tmp.path());
        Ok(command)
    }
}

const WASM: &str = "wasm32-unknown-unknown";

/// The server binary cargo builds with `profile` ("debug" or "release"), in
/// `CARGO_TARGET_DIR` when that is set.
pub fn server_binary(profile: &str) -> PathBuf {
    crate::target_dir().join(profile).join("taskwire-server")
}

/// The admin account the browser suites sign in with (a throwaway database on loopback).
const ADMIN: (&str, &str) = ("suite-admin", "suite-admin-password");

/// Registers the suites' admin account over HTTP, then promotes it with the server's own
/// command, the only way there is to make an admin.
fn create_admin(server: &LocalServer, binary: &Path) -> Result {
    let (username, password) = ADMIN;
    server.register(username, password)?;
    crate::steps::run(
        "promoting the suites' admin",
        Command::new(binary)
            .args(["user", "promote", username, "--db"])
            .arg(server.db()),
    )
    .map(drop)
}

pub fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    command
}

/// The release bundle into dist/, with its size.
fn build_app(timings: &mut Timings) -> Result {
    release_app(timings)?;
    bundle::measure().map(drop)
}

/// The release bundle into dist/, timed.
pub fn release_app(timings: &mut Timings) -> Result {
    let logs = root().join("target/xtask");
    std::fs::create_dir_all(&logs).map_err(Error::io("creating target/xtask"))?;
    ReleaseApp::start(&logs)?.finish(timings)
}

fn which(program: &str) -> Result<PathBuf> {
    crate::steps::output("sh", &["-c", &format!("command -v {program}")])
        .map(PathBuf::from)
        .ok_or_else(|| Error::Other(format!("{program} is not on PATH")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn run_passes_the_flags_after_its_separator_to_the_server() {
        let serve = strings(&["serve", "--static-dir", "dist"]);
        let flags = strings(&["--addr", "0.0.0.0:3000", "--db", "/var/lib/taskwire.db"]);
        let with_separator = [strings(&["--"]), flags.clone()].concat();
        assert_eq!(
            serve_args(&with_separator),
            [serve.clone(), flags.clone()].concat()
        );
        assert_eq!(serve_args(&flags), [serve.clone(), flags].concat());
        assert_eq!(serve_args(&[]), serve);
    }
}
