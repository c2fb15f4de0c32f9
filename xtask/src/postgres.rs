//! A throwaway PostgreSQL cluster for one command: `pg_virtualenv` (from Debian's
//! `postgresql-common`) makes it, runs the command with `PG*` variables naming it, and
//! removes it after, whatever the command did. Nothing is downloaded at run time.

use std::process::Command;

/// `command` (a cargo invocation) run beside a fresh cluster, with `var` set to the
/// cluster's URL without a database name (`postgres://user:password@host:port`).
pub fn beside_cluster(var: &str, cargo_args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new("pg_virtualenv");
    // `-t`: in a temporary directory even as root, so it never meets another cluster
    // (another run's, or one of the machine's own).
    command.args([
        "-t",
        "sh",
        "-c",
        &format!("{var}=\"postgres://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT\" exec \"$0\" \"$@\""),
        &cargo,
    ]);
    command.args(cargo_args);
    command
}
