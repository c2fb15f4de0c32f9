//! The long chaos run (issue "proof"): prints what it did and what it found.
//!
//! Six users, each with five socket subscribers of their `tasks` topic, two writers over
//! HTTP and two over their own sockets, all through a proxy that drops, stalls,
//! half-opens, cuts and garbles their connections for three minutes, while the server
//! (this build's binary, on a SQLite file) is killed with SIGKILL and restarted on the
//! same file and port six times. Then every acknowledged write must be on the server,
//! none twice, no client may have seen an event twice or past a gap, and every client's
//! copy must equal the server's list. The engine is `tests/chaos_engine` (its header says
//! how each part works), shared with the short run in the server suite.
//!
//! Run: `cargo bench -p taskwire-server --bench chaos`. The seed is printed first;
//! `TASKWIRE_CHAOS_SEED=N` draws the same faults again. Exits non-zero when something
//! was lost, doubled or out of step.

use std::time::Duration;

#[path = "../tests/chaos_engine/mod.rs"]
mod chaos_engine;

use chaos_engine::{Chaos, Config, run, seed_from_env};

#[tokio::main]
async fn main() -> Chaos<()> {
    let config = Config {
        seed: seed_from_env()?,
        users: 6,
        sockets_per_user: 5,
        http_writers_per_user: 2,
        socket_writers_per_user: 2,
        faults_for: Duration::from_secs(180),
        kills: 6,
        log_events: 100,
        fault_percent: 70,
        write_pause: (Duration::from_millis(20), Duration::from_millis(150)),
        settle_limit: Duration::from_secs(60),
    };
    let seed = config.seed;
    let summary = run(config).await?;
    println!("{summary}");
    println!("{}", summary.details());
    if !summary.is_clean() {
        return Err(format!(
            "chaos seed {seed} found writes lost or doubled, or clients out of step; replay with TASKWIRE_CHAOS_SEED={seed}"
        )
        .into());
    }
    Ok(())
}
