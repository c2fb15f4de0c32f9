//! `GET /api/changes`: the HTTP fallback's long poll (contract section 5), for clients
//! whose network refuses WebSockets. It answers at once when the topic has events after
//! `since`, else waits for the next change of the board or board list (woken by the
//! fan-out, like a socket) for up to `wait` seconds. A read: a client that goes away just
//! stops waiting.
//!
//! Access is confirmed again after every read that answers (the session still alive, the
//! caller still a member): a poll that began before its caller was removed or signed out
//! must not hand over what was written after. Confirming after the read, not before, means
//! that everything answered was committed while the caller still had access.

use axum::Json as Reply;
use axum::extract::{Query, State};
use protocol::{
    Changes, ChangesBody, MAX_CHANGES, MAX_WAIT_SECS, Position, SnapshotItems, Topic, TopicSnapshot,
};
use serde::Deserialize;
use tokio::time::{Duration, Instant, sleep_until};

use super::extract::Caller;
use crate::auth::Authed;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    topic: Topic,
    /// `<epoch>:<seq>`, the last event the client has.
    since: Option<String>,
    /// Seconds to wait for a change when there is none yet; 0 is a short poll.
    #[serde(default)]
    wait: u64,
}

pub async fn poll(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ChangesQuery>,
) -> Result<Reply<Changes>, AppError> {
    if query.wait > MAX_WAIT_SECS {
        return Err(AppError::bad_request(format!(
            "wait is at most {MAX_WAIT_SECS} seconds."
        )));
    }
    // Held until the answer (or the caller's going away) drops it.
    let _slot = if query.wait > 0 {
        let slot = state.polls_per_user.take(&caller.user_id());
        Some(slot.ok_or(AppError::RateLimited)?)
    } else {
        None
    };
    let since = query.since.as_deref().map(parse_since).transpose()?;
    let topic = query.topic;
    let deadline = Instant::now() + Duration::from_secs(query.wait);
    let board = match topic {
        Topic::Tasks => caller.user_id(),
        Topic::Board(board) => state.boards.access(caller.user_id(), board).await?.board,
        Topic::Boards => return board_list(&state, &caller, since, deadline).await,
    };
    let Some(since) = since else {
        return snapshot(&state, &caller, board, topic).await;
    };
    let watch = state.fanout.watch(board);
    let session = state.fanout.watch_session(caller.session_id);
    let mut shutdown = state.shutdown.clone();
    loop {
        // Armed before the log is read, so a change committed after the read still wakes
        // this poll; and before the session is confirmed, so that its end does too.
        let changed = watch.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let ended = session.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        let Some(replay) = state.tasks.since(board, since.clone()).await? else {
            return snapshot(&state, &caller, board, topic).await;
        };
        // On every pass: a removal wakes the board's polls, and this answers it at once.
        confirm(&state, &caller, topic).await?;
        if !replay.events.is_empty() || Instant::now() >= deadline || *shutdown.borrow() {
            let mut events = replay.events;
            events.truncate(MAX_CHANGES);
            for event in &mut events {
                event.topic = topic;
            }
            let seq = events.last().map_or(replay.seq, |event| event.seq);
            return Ok(Reply(Changes {
                topic,
                epoch: replay.epoch,
                seq,
                body: ChangesBody::Events(events),
            }));
        }
        tokio::select! {
            () = &mut changed => {}
            // Confirmed again on the next pass: a 401 at once.
            () = &mut ended => {}
            () = sleep_until(deadline) => {}
            // A shutting-down server answers its long polls rather than holding them.
            _ = shutdown.changed() => {}
        }
    }
}

async fn snapshot(
    state: &AppState,
    caller: &Authed,
    board: uuid::Uuid,
    topic: Topic,
) -> Result<Reply<Changes>, AppError> {
    let list = state.tasks.snapshot(board).await?;
    confirm(state, caller, topic).await?;
    Ok(Reply(Changes {
        topic,
        epoch: list.epoch,
        seq: list.seq,
        body: ChangesBody::Snapshot(TopicSnapshot {
            items: SnapshotItems::Tasks(list.items),
        }),
    }))
}

/// The board list: kept in no log (as on the socket), so it comes whole whenever it is
/// not at `since`; at `since`, the poll waits for its next change.
async fn board_list(
    state: &AppState,
    caller: &Authed,
    since: Option<Position>,
    deadline: Instant,
) -> Result<Reply<Changes>, AppError> {
    let user = caller.user_id();
    let watch = state.fanout.watch_boards(user);
    let session = state.fanout.watch_session(caller.session_id);
    let mut shutdown = state.shutdown.clone();
    loop {
        // Armed before the list is read, as for tasks.
        let changed = watch.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let ended = session.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        let list = state.boards.list(user).await?;
        let unchanged = since
            .as_ref()
            .is_some_and(|since| since.epoch == list.epoch && since.seq == list.seq);
        let body = if !unchanged {
            ChangesBody::Snapshot(TopicSnapshot {
                items: SnapshotItems::Boards(list.items),
            })
        } else if Instant::now() >= deadline || *shutdown.borrow() {
            ChangesBody::Events(Vec::new())
        } else {
            tokio::select! {
                () = &mut changed => {}
                () = &mut ended => confirm(state, caller, Topic::Boards).await?,
                () = sleep_until(deadline) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        confirm(state, caller, Topic::Boards).await?;
        return Ok(Reply(Changes {
            topic: Topic::Boards,
            epoch: list.epoch,
            seq: list.seq,
            body,
        }));
    }
}

/// The caller may still read `topic`: their session is alive and, for a board, they are
/// still a member (an error as the call would get if made now: 401, or 404).
async fn confirm(state: &AppState, caller: &Authed, topic: Topic) -> Result<(), AppError> {
    if !state.auth.session_alive(caller.session_id).await? {
        return Err(AppError::unauthorized("The session has ended."));
    }
    if let Topic::Board(board) = topic {
        state.boards.access(caller.user_id(), board).await?;
    }
    Ok(())
}

/// `<epoch>:<seq>`; epochs hold no `:`.
fn parse_since(text: &str) -> Result<Position, AppError> {
    text.rsplit_once(':')
        .and_then(|(epoch, seq)| {
            Some(Position {
                epoch: epoch.to_owned(),
                seq: seq.parse().ok()?,
            })
        })
        .ok_or_else(|| AppError::bad_request("since is <epoch>:<seq>."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_epoch_and_seq() {
        let since = parse_since("Ab_9-x:42").ok();
        assert_eq!(
            since,
            Some(Position {
                epoch: "Ab_9-x".into(),
                seq: 42
            })
        );
        for bad in ["", "epoch", "epoch:", "epoch:-1", "epoch:x"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
