//! Installs what the build and the tests need, skipping whatever is already there, so a
//! fresh machine needs nothing but rustup's toolchain, Node/npm and apt.

use std::process::Command;
use std::time::Instant;

use crate::Result;
use crate::error::Error;
use crate::steps::{Background, output};

/// trunk 0.22 needs a newer rustc than this project's.
const TRUNK_VERSION: &str = "0.21.14";

/// What a full `cargo xtask test` leaves in target/, with some room for the tools.
const DISK_NEEDED_GB: f64 = 4.0;

/// Says so up front when the disk under the project looks too small for a full run: a
/// build that runs out of space fails much later, and obscurely (the linker dies with a
/// bus error). Only a warning, since what a build needs depends on what it reuses.
fn warn_if_disk_is_short() {
    let root = crate::root();
    let root = root.to_string_lossy();
    // `df -Pk`: POSIX output, 1 KiB blocks; the fourth field of the second line is free.
    let free_kib = output("df", &["-Pk", &root]).and_then(|df| {
        df.lines()
            .nth(1)?
            .split_whitespace()
            .nth(3)?
            .parse::<u64>()
            .ok()
    });
    if let Some(free_kib) = free_kib {
        let free_gb = free_kib as f64 * 1024.0 / 1e9;
        if free_gb < DISK_NEEDED_GB {
            println!(
                "==> warning: {free_gb:.1} GB free on the disk under {root}; a full test run needs about {DISK_NEEDED_GB:.0} GB"
            );
        }
    }
}

/// What the release bundle needs: the wasm target and wasm-opt (wasm-bindgen is built
/// into xtask).
pub fn release_tools() -> Result {
    warn_if_disk_is_short();
    install_missing("the build tools", release_tool_list())
}

/// The release bundle's tools and the browsers with their drivers: what a screenshot of
/// the release build needs.
pub fn release_tools_and_browsers() -> Result {
    let mut tools = release_tool_list();
    tools.extend(browser_list());
    install_missing("the build tools and the browsers", tools)
}

/// Everything: the app's build tools and the two browsers with their drivers, the
/// missing ones installed side by side.
pub fn all() -> Result {
    warn_if_disk_is_short();
    let mut tools = release_tool_list();
    tools.extend(dev_tool_list()?);
    tools.extend(browser_list());
    install_missing("the build tools and the browsers", tools)
}

/// One thing to have, how to tell it is there, and how to install it.
struct Tool {
    what: String,
    present: Box<dyn Fn() -> bool + Send + Sync>,
    install: Command,
}

impl Tool {
    fn new(
        what: impl Into<String>,
        present: impl Fn() -> bool + Send + Sync + 'static,
        install: Command,
    ) -> Self {
        Self {
            what: what.into(),
            present: Box::new(present),
            install,
        }
    }
}

/// A crate's command-line tool built the quick way: these are tools the project runs,
/// not code it ships, so link-time optimisation and a single codegen unit buy nothing,
/// and optimisation only where the tool's own work is heavy (building trunk is most of a
/// fresh machine's set-up; its own work beside wasm-opt's is a few copies and hashes).
fn cargo_install(opt_level: Optimised, args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("install")
        .args(args)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", opt_level.level())
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        // A tool installed without its lock file takes the newest of each dependency:
        // the day one needs a newer compiler than this machine's, the install would fail.
        // Take the newest this compiler builds.
        .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback");
    command
}

/// How much of the optimiser a tool's build gets.
#[derive(Clone, Copy)]
enum Optimised {
    /// None: the tool mostly starts other programs.
    No,
    /// The quick passes: the tool itself rewrites every test binary (wasm-bindgen's
    /// test runner), several times slower unoptimised.
    Lightly,
}

impl Optimised {
    fn level(self) -> &'static str {
        match self {
            Self::No => "0",
            Self::Lightly => "1",
        }
    }
}

/// binaryen's release, whose `wasm-opt` shrinks the bundle.
const BINARYEN: u32 = 132;

/// The wasm target and wasm-opt: what the release bundle needs beside xtask itself.
fn release_tool_list() -> Vec<Tool> {
    let mut target = Command::new("rustup");
    target.args(["target", "add", "wasm32-unknown-unknown"]);
    // The version the bundle's flags and figures were made with: an older one lacks
    // some of the flags (`--enable-bulk-memory-opt`), a newer one may shrink otherwise.
    let mut wasm_opt = as_owner_of_npm_prefix();
    wasm_opt.args([
        "npm",
        "install",
        "--global",
        &format!("binaryen@{BINARYEN}.0.0"),
    ]);
    vec![
        Tool::new(
            "the wasm32-unknown-unknown target",
            || {
                output("rustup", &["target", "list", "--installed"])
                    .is_some_and(|targets| targets.lines().any(|t| t == "wasm32-unknown-unknown"))
            },
            target,
        ),
        Tool::new(
            "wasm-opt (binaryen)",
            || {
                output("wasm-opt", &["--version"])
                    .is_some_and(|v| v.starts_with(&format!("wasm-opt version {BINARYEN} ")))
            },
            wasm_opt,
        ),
    ]
}

/// npm's global installs go where npm's prefix is: a folder of root's on a system Node
/// (`/usr`), one of the user's own under a version manager. Through `sudo` only when the
/// user cannot write there.
fn as_owner_of_npm_prefix() -> Command {
    let writable = output(
        "sh",
        &[
            "-c",
            r#"prefix="$(npm config get prefix)" && test -w "$prefix/lib" && echo yes"#,
        ],
    )
    .is_some_and(|yes| yes.trim() == "yes");
    if is_root() || writable {
        let mut command = Command::new("env");
        command.arg("--");
        command
    } else {
        Command::new("sudo")
    }
}

/// The test command's tools: rustfmt and clippy (its first checks; a toolchain installed
/// with rustup's minimal profile lacks them), trunk for the development loop, and
/// wasm-bindgen's CLI for its test runner.
fn dev_tool_list() -> Result<Vec<Tool>> {
    let bindgen = wasm_bindgen_version()?;
    let trunk = format!("trunk {TRUNK_VERSION}");
    let bindgen_cli = format!("wasm-bindgen {bindgen}");
    let mut lints = Command::new("rustup");
    lints.args(["component", "add", "rustfmt", "clippy"]);
    Ok(vec![
        Tool::new(
            "rustfmt and clippy",
            || {
                output("cargo", &["fmt", "--version"]).is_some()
                    && output("cargo", &["clippy", "--version"]).is_some()
            },
            lints,
        ),
        // Without its default features: no TLS and no update check, which only serve
        // downloads (every build here is --offline) and HTTPS, which the proxy to a local
        // server does not use.
        Tool::new(
            trunk.clone(),
            move || output("trunk", &["--version"]).is_some_and(|v| v == trunk),
            cargo_install(
                Optimised::No,
                &[
                    "--locked",
                    "--no-default-features",
                    &format!("trunk@{TRUNK_VERSION}"),
                ],
            ),
        ),
        // Without --locked: the CLI's own lock file names a crate version the registry
        // lacks. Without default features: TLS only serves downloads of WebDriver
        // servers, which the browsers' packages bring here.
        Tool::new(
            format!("wasm-bindgen-cli {bindgen} (with wasm-bindgen-test-runner)"),
            move || {
                output("wasm-bindgen", &["--version"]).is_some_and(|v| v == bindgen_cli)
                    && output("wasm-bindgen-test-runner", &["--version"]).is_some()
            },
            cargo_install(
                Optimised::Lightly,
                &[
                    "--no-default-features",
                    "wasm-bindgen-cli",
                    "--version",
                    &bindgen,
                ],
            ),
        ),
    ])
}

/// Headless Chromium and Firefox with their WebDriver servers, for the browser suites,
/// and PostgreSQL (from the same package manager, in the same run of it), for the server
/// suite's second pass and its three-node tests.
fn browser_list() -> Vec<Tool> {
    let have = |program: &'static str| {
        move || output("sh", &["-c", &format!("command -v {program}")]).is_some()
    };
    let mut packages = Command::new("sh");
    packages.args([
        "-c",
        &format!(
            "{sudo}apt-get update && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install --yes -o DPkg::Lock::Timeout=300 chromium chromium-driver firefox-esr postgresql",
            sudo = if is_root() { "" } else { "sudo " }
        ),
    ]);
    vec![
        Tool::new(
            "chromium, chromedriver, firefox-esr and postgresql",
            move || {
                have("chromium")()
                    && have("chromedriver")()
                    && have("firefox-esr")()
                    && have("pg_virtualenv")()
            },
            packages,
        ),
        Tool::new(
            "geckodriver",
            have("geckodriver"),
            // The version known to build with this compiler, with its own lock file.
            cargo_install(Optimised::No, &["--locked", "geckodriver@0.37.1"]),
        ),
    ]
}

/// Installs the tools that are missing, all at once (on two cores, one build's long
/// serial steps leave room for another's), each into a log of its own under
/// target/xtask, with a line when each starts and ends and every minute meanwhile;
/// then checks each is there.
fn install_missing(what: &str, tools: Vec<Tool>) -> Result {
    let start = Instant::now();
    println!("==> checking {what}");
    let missing: Vec<Tool> = tools
        .into_iter()
        .filter(|tool| {
            let present = (tool.present)();
            if present {
                println!("    {}: present", tool.what);
            }
            !present
        })
        .collect();
    let logs = crate::root().join("target/xtask");
    std::fs::create_dir_all(&logs).map_err(Error::io("creating target/xtask"))?;
    let results: Vec<Result> = std::thread::scope(|scope| {
        let installs: Vec<_> = missing
            .into_iter()
            .enumerate()
            .map(|(n, tool)| {
                let log = logs.join(format!("install-{n}.log"));
                scope.spawn(move || install(tool, &log))
            })
            .collect();
        installs
            .into_iter()
            .map(|install| {
                install
                    .join()
                    .unwrap_or_else(|_| Err(Error::Other("an install thread panicked".into())))
            })
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>>>()?;
    println!("==> {what} ready in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Runs one install with its output in `log`, reporting progress; checks the tool after.
fn install(mut tool: Tool, log: &std::path::Path) -> Result {
    let step = format!("installing {}", tool.what);
    Background::start(&step, &mut tool.install, log)?.finish()?;
    if (tool.present)() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "{} is still missing after installing it",
            tool.what
        )))
    }
}

/// The exact `wasm-bindgen` crate version in Cargo.lock: the CLI must match it.
pub fn wasm_bindgen_version() -> Result<String> {
    let path = crate::root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&path).map_err(Error::io("reading Cargo.lock"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    Err(Error::Other(
        "Cargo.lock names no wasm-bindgen version".into(),
    ))
}

fn is_root() -> bool {
    output("id", &["-u"]).is_some_and(|uid| uid == "0")
}
