//! Native benchmark of the task store: merge a 10,000-task snapshot and 1,000 live events
//! (`cargo bench -p taskwire --features fixtures --bench store`). Prints figures; asserts
//! nothing about time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskwire::client::fixtures::MergeFixture;

const TASKS: usize = 10_000;
const EVENTS: usize = 1_000;
const RUNS: usize = 15;

fn main() {
    let fixture = MergeFixture::new(TASKS, EVENTS);
    // One warm-up run, also a sanity check that the fixture merges as intended.
    let (store, rows) = fixture.run();
    println!(
        "store merge: {TASKS} tasks + {EVENTS} events -> {} rows shown, {rows} row changes",
        store.len()
    );
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            black_box(fixture.run());
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "store merge: {RUNS} runs, min {:.2} ms, median {:.2} ms, max {:.2} ms",
        ms(times[0]),
        ms(times[RUNS / 2]),
        ms(times[RUNS - 1])
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
