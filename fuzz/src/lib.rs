//! Fuzzing that runs on the stable toolchain (issue 17): a small mutational fuzzer
//! (seeded, so a run is reproduced by its seed) over the places where bytes from the
//! other side of a socket meet Taskwire's code — the server's frame reader and what its
//! handler does with a frame short of the database, the app's frame reader, its task
//! store's merge and its connection machine. See [`targets::Target`] for what each
//! covers.
//!
//! `cargo run --release -p taskwire-fuzz` runs them all (10 million executions by
//! default); `tests/fuzz.rs` replays `regressions/` and runs each target briefly.

pub mod corpus;
pub mod mutate;
pub mod rng;
pub mod runner;
pub mod targets;

pub use runner::{Caught, Found, Report, fuzz, regression_name, regression_target, run_caught};
pub use targets::Target;
