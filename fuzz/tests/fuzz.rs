//! The fuzzer as part of the test suite: every kept regression replayed, and a short
//! fixed-seed run of each target (the long run is `cargo xtask bench`).

use std::path::Path;

use taskwire_fuzz::{Target, fuzz, regression_target, run_caught};

/// Enough to pass through every mutation many times, in about a second each in a debug
/// build: a frame is read in some 50 µs there, a store or machine script in some 300.
const SHORT_RUN: u64 = 20_000;
const SHORT_SCRIPT_RUN: u64 = 5_000;
const SEED: u64 = 17;

#[test]
fn every_kept_regression_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".bin") {
            continue;
        }
        let target = regression_target(&name)
            .unwrap_or_else(|| panic!("{name}: the name does not start with a target's"));
        let input = std::fs::read(&path).unwrap();
        if let Err(caught) = run_caught(target, &input) {
            panic!(
                "{name} panics again at {}: {}",
                caught.location, caught.message
            );
        }
        replayed += 1;
    }
    println!("replayed {replayed} regression(s)");
}

fn short_run(target: Target, execs: u64) {
    let report = fuzz(target, execs, SEED);
    assert_eq!(report.execs, execs);
    let found: Vec<String> = report
        .found
        .iter()
        .map(|f| {
            format!(
                "{}: {} (input {:?})",
                f.caught.location,
                f.caught.message,
                String::from_utf8_lossy(&f.input)
            )
        })
        .collect();
    assert!(found.is_empty(), "{}: {found:#?}", target.name());
}

#[test]
fn server_decode_short_run() {
    short_run(Target::ServerDecode, SHORT_RUN);
}

#[test]
fn server_handler_short_run() {
    short_run(Target::ServerHandler, SHORT_RUN);
}

#[test]
fn app_decode_short_run() {
    short_run(Target::AppDecode, SHORT_RUN);
}

#[test]
fn store_merge_short_run() {
    short_run(Target::StoreMerge, SHORT_SCRIPT_RUN);
}

#[test]
fn machine_short_run() {
    short_run(Target::Machine, SHORT_SCRIPT_RUN);
}

/// The seeds of the frame readers are frames they read: mutation starts from inputs
/// that reach past the JSON parser.
#[test]
fn the_frame_seeds_are_read() {
    for target in [Target::ServerDecode, Target::AppDecode] {
        let read = target
            .seeds()
            .iter()
            .filter(|seed| run_caught(target, seed) == Ok(true))
            .count();
        assert!(read >= 13, "{}: only {read} seeds read", target.name());
    }
}

/// The first machine script is a live session that loads its tasks: the ids it answers
/// are the ones the machine asks with.
#[test]
fn the_machine_session_seed_loads() {
    let seeds = Target::Machine.seeds();
    assert_eq!(run_caught(Target::Machine, &seeds[0]), Ok(true));
}
