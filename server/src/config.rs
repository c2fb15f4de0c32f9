//! The command line and environment: every knob the server has, with its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use crate::db::DbTarget;

#[derive(Debug, Parser)]
#[command(
    name = "taskwire-server",
    version,
    about = "Taskwire: the real-time task board server",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Used when no subcommand is given: plain `taskwire-server` serves.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the app, the HTTP API and the socket (the default).
    Serve(ServeArgs),
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
        /// SQLite database file or `postgres://` URL.
        #[arg(
            long,
            env = "TASKWIRE_DB",
            default_value = "./taskwire.db",
            global = true
        )]
        db: DbTarget,
    },
    /// Manage the change log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
        /// SQLite database file or `postgres://` URL.
        #[arg(
            long,
            env = "TASKWIRE_DB",
            default_value = "./taskwire.db",
            global = true
        )]
        db: DbTarget,
    },
    /// Move a server's data from one database to another.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a SQLite database into an empty PostgreSQL database, all or nothing (stop
    /// the server first), then serve with `--db` set to the PostgreSQL URL.
    Copy {
        /// The SQLite database file.
        #[arg(long)]
        from: PathBuf,
        /// The `postgres://` URL of an empty database.
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make a user an admin.
    Promote { username: String },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Forget every stored event and start a new epoch: every client resubscribes and
    /// gets a snapshot.
    Reset,
}

/// Everything `serve` needs. Tests build it with [`ServeArgs::for_tests`] or by parsing
/// arguments, so the same defaults apply everywhere.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TASKWIRE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// SQLite database file, created if missing; or a `postgres://` URL, which several
    /// server nodes may share.
    #[arg(
        long,
        env = "TASKWIRE_DB",
        default_value = "./taskwire.db",
        hide_env_values = true
    )]
    pub db: DbTarget,
    /// Directory of the built app; unknown paths outside /api and /ws get its index.html.
    #[arg(long, env = "TASKWIRE_STATIC_DIR", default_value = "./dist")]
    pub static_dir: PathBuf,
    /// Extra origins allowed to call the API and open the socket (comma-separated), on
    /// top of the server's own address.
    #[arg(
        long = "allow-origin",
        env = "TASKWIRE_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,
    /// Secret that signs access tokens. Without it, a random one is made once and kept
    /// in the database, so tokens survive restarts.
    #[arg(long, env = "TASKWIRE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Events kept per board for replay; older ones are dropped (clients get a snapshot).
    #[arg(long, env = "TASKWIRE_LOG_EVENTS", default_value_t = 1000)]
    pub log_events: u32,
    /// Tasks one board may hold; a create past it is refused (`forbidden`). A board's
    /// snapshot is one frame, which must stay well under what a client reads.
    #[arg(long, env = "TASKWIRE_MAX_TASKS_PER_BOARD", default_value_t = crate::changelog::MAX_TASKS)]
    pub max_tasks_per_board: u32,
    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "TASKWIRE_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: u64,
    /// Lifetime of a session's refresh token since its last use, in days.
    #[arg(long, env = "TASKWIRE_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u64,
    /// Time a new socket has to send `auth`, in milliseconds.
    #[arg(long, env = "TASKWIRE_AUTH_TIMEOUT_MS", default_value_t = 10_000)]
    pub auth_timeout_ms: u64,
    /// Client ping interval announced in `auth_ok`, in milliseconds.
    #[arg(long, env = "TASKWIRE_HEARTBEAT_MS", default_value_t = 25_000)]
    pub heartbeat_ms: u64,
    /// A socket from which nothing arrived for this long is dropped, in milliseconds.
    #[arg(long, env = "TASKWIRE_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Open sockets per user; one more is closed with 4429.
    #[arg(long, env = "TASKWIRE_MAX_SOCKETS_PER_USER", default_value_t = 64)]
    pub max_sockets_per_user: usize,
    /// Long polls (`GET /api/changes` with a `wait`) one user may have waiting at once;
    /// one more is answered 429. Each is woken by every change of its topic and reads
    /// the log, so without a cap one person could hold thousands and starve the rest.
    #[arg(long, env = "TASKWIRE_MAX_POLLS_PER_USER", default_value_t = 64)]
    pub max_polls_per_user: usize,
    /// Frames a socket may send in a burst before it is closed with 4429.
    #[arg(long, env = "TASKWIRE_SOCKET_BURST", default_value_t = 200)]
    pub socket_burst: u32,
    /// Frames per second a socket may send on average.
    #[arg(long, env = "TASKWIRE_SOCKET_RATE", default_value_t = 50)]
    pub socket_rate: u32,
    /// Failed sign-in and registration attempts per minute from one IP address.
    #[arg(long, env = "TASKWIRE_LOGIN_PER_IP", default_value_t = 30)]
    pub login_per_ip: u32,
    /// Failed sign-in attempts per minute for one username.
    #[arg(long, env = "TASKWIRE_LOGIN_PER_USER", default_value_t = 10)]
    pub login_per_user: u32,
}

/// Largest JSON body the API reads (the socket's frame limit, for symmetry).
pub const MAX_BODY_BYTES: usize = protocol::MAX_FRAME_BYTES;

impl ServeArgs {
    /// The defaults, with a database file and a free loopback port: what tests start from.
    pub fn for_tests(db: impl Into<PathBuf>) -> Self {
        let mut args = Self::defaults();
        args.db = DbTarget::Sqlite(db.into());
        args.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        args
    }

    fn defaults() -> Self {
        // Parsing no arguments cannot fail: every field has a default.
        Cli::parse_from(["taskwire-server"]).serve
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.access_ttl_secs.max(1))
    }

    pub fn auth_timeout(&self) -> Duration {
        Duration::from_millis(self.auth_timeout_ms.max(1))
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(1))
    }

    /// How often the server pings a socket: often enough that a healthy but quiet client
    /// answers (with a pong) several times before the idle timeout.
    pub fn server_ping_interval(&self) -> Duration {
        self.idle_timeout() / 3
    }

    /// The origins that may call the API and open the socket: the server's own address
    /// (and `localhost` when bound to loopback) plus the configured extras. `bound` is the
    /// address actually bound, so `--addr 127.0.0.1:0` gets the real port.
    pub fn allowed_origins(&self, bound: SocketAddr) -> Vec<String> {
        // Browsers leave the default port out of `Origin`.
        let port = match bound.port() {
            80 => String::new(),
            port => format!(":{port}"),
        };
        let host = match bound.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let mut origins = vec![format!("http://{host}{port}")];
        if bound.ip().is_loopback() {
            origins.push(format!("http://localhost{port}"));
        }
        for extra in &self.allow_origins {
            let extra = extra.trim().trim_end_matches('/');
            if !extra.is_empty() && !origins.iter().any(|o| o == extra) {
                origins.push(extra.to_owned());
            }
        }
        origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subcommand_means_serve_with_defaults() {
        let cli = Cli::parse_from(["taskwire-server"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(cli.serve.log_events, 1000);
    }

    #[test]
    fn origins_default_to_own_address_and_take_extras() {
        let mut args = ServeArgs::for_tests("x.db");
        args.allow_origins = vec!["http://127.0.0.1:9000/".into(), " ".into()];
        let bound = SocketAddr::from(([127, 0, 0, 1], 4000));
        assert_eq!(
            args.allowed_origins(bound),
            [
                "http://127.0.0.1:4000",
                "http://localhost:4000",
                "http://127.0.0.1:9000"
            ]
        );
        let public = SocketAddr::from(([10, 0, 0, 1], 80));
        assert_eq!(
            ServeArgs::for_tests("x.db").allowed_origins(public),
            ["http://10.0.0.1"]
        );
    }
}
