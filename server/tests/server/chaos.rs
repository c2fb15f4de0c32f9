//! The short chaos run (issue "proof"): real clients through a fault-injecting proxy, the
//! server killed and restarted once, and no acknowledged write lost or doubled, no event
//! seen twice or past a gap, every client equal to the server at the end. The engine is
//! `tests/chaos_engine`, shared with the long run (`cargo bench --bench chaos`).
//!
//! A failing run prints its seed: `TASKWIRE_CHAOS_SEED=N cargo test -p taskwire-server
//! --test server chaos -- --nocapture` draws the same faults again.

use std::time::Duration;

#[path = "../chaos_engine/mod.rs"]
mod chaos_engine;

use chaos_engine::{Config, run, seed_from_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_loses_and_doubles_no_write_and_every_client_ends_equal_to_the_server() {
    let config = Config {
        seed: seed_from_env().unwrap(),
        users: 3,
        sockets_per_user: 3,
        http_writers_per_user: 1,
        socket_writers_per_user: 1,
        faults_for: Duration::from_secs(20),
        kills: 1,
        log_events: 20,
        fault_percent: 60,
        write_pause: (Duration::from_millis(20), Duration::from_millis(120)),
        settle_limit: Duration::from_secs(45),
    };
    let seed = config.seed;
    // Every phase inside is bounded; this bounds their sum.
    let summary = tokio::time::timeout(Duration::from_secs(240), run(config))
        .await
        .unwrap_or_else(|_| panic!("chaos seed {seed}: the run did not end in 240 s"))
        .unwrap_or_else(|error| panic!("chaos seed {seed}: {error}"));
    println!("{summary}");
    println!("{}", summary.details());
    let replay = format!(
        "replay with TASKWIRE_CHAOS_SEED={seed}\n{}",
        summary.details()
    );
    assert!(summary.acknowledged() > 0, "nothing was written; {replay}");
    assert!(summary.faults.kills == 1, "{replay}");
    assert_eq!(summary.lost, 0, "acknowledged writes lost; {replay}");
    assert_eq!(summary.duplicates, 0, "writes or events doubled; {replay}");
    assert_eq!(summary.gaps, 0, "events skipped; {replay}");
    assert_eq!(summary.unsettled, 0, "clients not caught up; {replay}");
    assert_eq!(
        summary.clients_unequal, 0,
        "clients unlike the server; {replay}"
    );
    assert!(summary.is_clean(), "{replay}");
}
