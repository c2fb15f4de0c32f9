//! `cargo run --release -p taskwire-fuzz -- [--execs N] [--seed S] [--target NAME]`
//!
//! Runs every target (or the one named), `N` executions in total (default 10 million)
//! split evenly among them, prints each target's figures, and writes every distinct
//! panicking input to `fuzz/regressions/`. Fails when anything panicked.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use taskwire_fuzz::{Report, Target, fuzz, regression_name};

const DEFAULT_EXECS: u64 = 10_000_000;
const USAGE: &str = "usage: taskwire-fuzz [--execs N] [--seed S] [--target NAME]\n\
    N executions in total, split evenly among the targets (default 10000000); \
    targets: server-decode, server-handler, app-decode, store-merge, machine";

struct Options {
    execs: u64,
    seed: u64,
    targets: Vec<Target>,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let count = options.targets.len() as u64;
    println!(
        "taskwire-fuzz: seed {}, {} executions over {count} target(s)",
        options.seed, options.execs
    );
    println!(
        "{:<15} {:>11} {:>8} {:>11} {:>10} {:>7}",
        "target", "execs", "secs", "execs/s", "slowest", "panics"
    );
    let start = Instant::now();
    let mut total = 0;
    let mut panics = 0;
    let mut failed_writes = false;
    for (i, &target) in options.targets.iter().enumerate() {
        // The remainder goes to the first targets, so the total is exactly N.
        let execs = options.execs / count + u64::from((i as u64) < options.execs % count);
        let report = fuzz(target, execs, options.seed);
        print_report(&report);
        total += report.execs;
        panics += report.found.len();
        for found in &report.found {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
            let path = dir.join(regression_name(target, &found.input));
            println!(
                "  panic at {}: {}",
                found.caught.location, found.caught.message
            );
            match std::fs::write(&path, &found.input) {
                Ok(()) => println!("  input kept in {}", path.display()),
                Err(error) => {
                    eprintln!("  cannot write {}: {error}", path.display());
                    failed_writes = true;
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "total: {total} executions in {elapsed:.1} s ({:.0} execs/s), {panics} distinct panic(s)",
        total as f64 / elapsed.max(f64::EPSILON)
    );
    if panics == 0 && !failed_writes {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_report(report: &Report) {
    let secs = report.elapsed.as_secs_f64();
    println!(
        "{:<15} {:>11} {:>8.1} {:>11.0} {:>7.2} ms {:>7}",
        report.target.name(),
        report.execs,
        secs,
        report.execs as f64 / secs.max(f64::EPSILON),
        report.slowest.as_secs_f64() * 1000.0,
        report.found.len()
    );
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        execs: DEFAULT_EXECS,
        seed: 1,
        targets: Target::ALL.to_vec(),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--execs" => options.execs = number(&value()?)?,
            "--seed" => options.seed = number(&value()?)?,
            "--target" => {
                let name = value()?;
                let target = Target::from_name(&name).ok_or(format!("no target {name:?}"))?;
                options.targets = vec![target];
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// A count, `_` allowed between digits (`10_000_000`).
fn number(text: &str) -> Result<u64, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("not a number: {text:?}"))
}
