//! Installs what the build and the tests need, skipping whatever is already there, so a
//! fresh machine needs nothing but rustup's toolchain, Node/npm and apt.

use std::process::Command;
use std::time::Instant;

use crate::Result;
use crate::error::Error;
use crate::steps::{output, run};

/// trunk 0.22 needs a newer rustc than this project's.
const TRUNK_VERSION: &str = "0.21.14";

/// Everything: the app's build tools and the two browsers with their drivers.
pub fn all() -> Result {
    warn_if_disk_is_short();
    build_tools()?;
    browsers()
}

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

/// What `trunk build` needs: the wasm target, trunk, wasm-bindgen and wasm-opt.
pub fn build_tools() -> Result {
    let start = Instant::now();
    println!("==> checking the build tools");
    ensure(
        "the wasm32-unknown-unknown target",
        || {
            output("rustup", &["target", "list", "--installed"])
                .is_some_and(|targets| targets.lines().any(|t| t == "wasm32-unknown-unknown"))
        },
        Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
    )?;
    ensure(
        &format!("trunk {TRUNK_VERSION}"),
        || output("trunk", &["--version"]).is_some_and(|v| v == format!("trunk {TRUNK_VERSION}")),
        Command::new("cargo").args(["install", "--locked", &format!("trunk@{TRUNK_VERSION}")]),
    )?;
    let bindgen = wasm_bindgen_version()?;
    // Without --locked: the CLI's own lock file names a crate version the registry lacks.
    ensure(
        &format!("wasm-bindgen-cli {bindgen} (with wasm-bindgen-test-runner)"),
        || {
            output("wasm-bindgen", &["--version"])
                .is_some_and(|v| v == format!("wasm-bindgen {bindgen}"))
                && output("wasm-bindgen-test-runner", &["--version"]).is_some()
        },
        Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &bindgen]),
    )?;
    ensure(
        "wasm-opt (binaryen)",
        || output("wasm-opt", &["--version"]).is_some(),
        Command::new("npm").args(["install", "--global", "binaryen"]),
    )?;
    println!(
        "==> build tools ready in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Headless Chromium and Firefox with their WebDriver servers, for the browser suites.
pub fn browsers() -> Result {
    let start = Instant::now();
    println!("==> checking the browsers");
    let have = |program: &str| output("sh", &["-c", &format!("command -v {program}")]).is_some();
    ensure(
        "chromium, chromedriver and firefox-esr",
        || have("chromium") && have("chromedriver") && have("firefox-esr"),
        Command::new("sh").args([
            "-c",
            &format!(
                "{sudo}apt-get update && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install --yes chromium chromium-driver firefox-esr",
                sudo = if is_root() { "" } else { "sudo " }
            ),
        ]),
    )?;
    ensure(
        "geckodriver",
        || have("geckodriver"),
        Command::new("cargo").args(["install", "--locked", "geckodriver"]),
    )?;
    println!(
        "==> browsers ready in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `install` only when `present` says the tool is missing, and checks it after.
fn ensure(what: &str, present: impl Fn() -> bool, install: &mut Command) -> Result {
    if present() {
        println!("    {what}: present");
        return Ok(());
    }
    run(&format!("installing {what}"), install)?;
    if present() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "{what} is still missing after installing it"
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
