//! The fuzzing loop: mutate, run under `catch_unwind`, count, and keep each distinct
//! panic with the input that caused it.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::mutate::Mutator;
use crate::rng::Rng;
use crate::targets::Target;

/// Inputs that got far, kept beside the seeds to mutate further: a cheap stand-in for
/// coverage feedback, bounded so that old finds keep being replaced.
const POOL: usize = 1024;
/// Larger inputs are not kept: each would slow every execution that starts from it.
const MAX_KEPT: usize = 8 * 1024;
/// Mutations stacked on one input.
const MAX_STACK: usize = 4;

/// A panic: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    pub location: String,
    pub message: String,
}

/// A distinct panic (by location) and the first input that caused it.
#[derive(Debug, Clone)]
pub struct Found {
    pub caught: Caught,
    pub input: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub target: Target,
    pub execs: u64,
    pub elapsed: Duration,
    /// The longest single execution: a hint of inputs that are slow to handle.
    pub slowest: Duration,
    pub found: Vec<Found>,
}

/// Runs `target` `execs` times: first on each seed, then on mutations of the seeds and
/// of kept inputs. The same `seed` gives the same run.
pub fn fuzz(target: Target, execs: u64, seed: u64) -> Report {
    let seeds = target.seeds();
    let mut pool = seeds.clone();
    let mutator = Mutator::new();
    let mut rng = Rng::new(seed ^ fnv1a(target.name().as_bytes()));
    let mut found: Vec<Found> = Vec::new();
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for n in 0..execs {
        let input = match seeds.get(n as usize) {
            Some(seed) => seed.clone(),
            None => {
                let mut input = rng.pick(&pool).clone();
                // Mostly one mutation: each more is likelier to leave a frame unreadable.
                let stack = if rng.one_in(2) {
                    1
                } else {
                    1 + rng.below(MAX_STACK)
                };
                for _ in 0..stack {
                    mutator.mutate(&mut rng, &mut input, &pool, target.max_input());
                }
                input
            }
        };
        let began = Instant::now();
        let outcome = run_caught(target, &input);
        slowest = slowest.max(began.elapsed());
        match outcome {
            Ok(true) if n as usize >= seeds.len() && input.len() <= MAX_KEPT => {
                if pool.len() < seeds.len() + POOL {
                    pool.push(input);
                } else {
                    let at = seeds.len() + rng.below(POOL);
                    pool[at] = input;
                }
            }
            Ok(_) => {}
            Err(caught) => {
                if !found.iter().any(|f| f.caught.location == caught.location) {
                    found.push(Found { caught, input });
                }
            }
        }
    }
    Report {
        target,
        execs,
        elapsed: start.elapsed(),
        slowest,
        found,
    }
}

thread_local! {
    /// Set while a target runs under [`run_caught`]: its panics are recorded, not printed.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// Runs `target` on `input`, turning a panic into its location and message.
pub fn run_caught(target: Target, input: &[u8]) -> Result<bool, Caught> {
    install_hook();
    CATCHING.set(true);
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    CATCHING.set(false);
    result.map_err(|_| {
        CAUGHT.take().unwrap_or_else(|| Caught {
            location: "unknown".to_owned(),
            message: "a panic the hook did not see".to_owned(),
        })
    })
}

/// A hook that records the panics of [`run_caught`] (millions would otherwise be
/// printed) and leaves all others to the hook it replaces, so tests still report theirs.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.get() {
                CAUGHT.set(Some(Caught {
                    location: info
                        .location()
                        .map_or_else(|| "unknown".to_owned(), ToString::to_string),
                    message: info.payload_as_str().unwrap_or("(no message)").to_owned(),
                }));
            } else {
                previous(info);
            }
        }));
    });
}

/// The file a panicking input is kept in under `regressions/`: the target's name, so
/// the replay knows what to run it on, and a hash of the input.
pub fn regression_name(target: Target, input: &[u8]) -> String {
    format!("{}-{:016x}.bin", target.name(), fnv1a(input))
}

/// The target a file of `regressions/` is for, from its name.
pub fn regression_target(file_name: &str) -> Option<Target> {
    let stem = file_name.strip_suffix(".bin")?;
    let (name, _hash) = stem.rsplit_once('-')?;
    Target::from_name(name)
}

/// FNV-1a, 64 bits: a stable hash (std's is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_names_lead_back_to_their_target() {
        for target in Target::ALL {
            let name = regression_name(target, b"{}");
            assert_eq!(regression_target(&name), Some(target), "{name}");
        }
        assert_eq!(regression_target("README.md"), None);
        assert_eq!(regression_target("nope-0123.bin"), None);
    }

    #[test]
    fn a_panic_is_caught_with_its_location() {
        install_hook();
        CATCHING.set(true);
        let result = panic::catch_unwind(|| panic!("boom"));
        CATCHING.set(false);
        assert!(result.is_err());
        let caught = CAUGHT.take().unwrap();
        assert_eq!(caught.message, "boom");
        assert!(caught.location.contains("runner.rs"), "{}", caught.location);
    }
}
