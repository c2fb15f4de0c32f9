//! The commands of the `taskwire-server` binary.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{Cli, Command, DbCommand, DbTarget, LogCommand, ServeArgs, UserCommand};
use crate::server::Server;
use crate::shutdown;

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::User {
            command: UserCommand::Promote { username },
            db,
        }) => promote(&db, &username).await,
        Some(Command::Log {
            command: LogCommand::Reset,
            db,
        }) => reset_log(&db).await,
        Some(Command::Db {
            command: DbCommand::Copy { from, to },
        }) => copy_db(&from, &to).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("taskwire-server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let server = Server::start(args).await.map_err(|e| e.to_string())?;
    // The one line on stdout: scripts and the test harness read the address from it.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "Taskwire is running at http://{}/", server.addr())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(stdout);
    shutdown::signal().await;
    server.shutdown().await;
    Ok(())
}

async fn promote(db: &DbTarget, username: &str) -> Result<(), String> {
    if crate::admin::promote(db, username).await? {
        println!("{username} is now an admin");
        Ok(())
    } else {
        Err(format!("no user named {username:?}"))
    }
}

async fn reset_log(db: &DbTarget) -> Result<(), String> {
    let epoch = crate::admin::reset_log(db).await?;
    println!("change log reset; new epoch {epoch}");
    Ok(())
}

async fn copy_db(from: &Path, to: &str) -> Result<(), String> {
    let copied = crate::admin::copy_sqlite_to_postgres(from, to)
        .await
        .map_err(|e| e.to_string())?;
    println!("{copied}");
    Ok(())
}
