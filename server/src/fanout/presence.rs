//! When a board's presence is sent: at once when its set of people changes, unless a
//! frame went out less than a second ago; then once that second is over, with the set
//! as it is by then, so a crowd joining at once costs one frame a second.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use protocol::MemberUser;
use tokio::time::Instant;
use uuid::Uuid;

use super::{LocalFanout, lock};

const EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Sent {
    users: Vec<MemberUser>,
    at: Option<Instant>,
    /// A send is waiting for the second to pass.
    scheduled: bool,
}

#[derive(Debug)]
pub(super) struct Presence {
    fanout: Weak<LocalFanout>,
    boards: Mutex<HashMap<Uuid, Sent>>,
}

impl Presence {
    pub(super) fn new(fanout: Weak<LocalFanout>) -> Self {
        Self {
            fanout,
            boards: Mutex::new(HashMap::new()),
        }
    }

    /// `board`'s subscribers changed.
    pub(super) fn touch(&self, board: Uuid) {
        let now = Instant::now();
        let due = {
            let mut boards = lock(&self.boards);
            let sent = boards.entry(board).or_default();
            if sent.scheduled {
                return;
            }
            match sent.at.map(|at| at + EVERY).filter(|due| *due > now) {
                Some(due) => match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        sent.scheduled = true;
                        Some((due, runtime))
                    }
                    Err(_) => None,
                },
                None => None,
            }
        };
        let Some(fanout) = self.fanout.upgrade() else {
            return;
        };
        match due {
            None => fanout.send_presence(board),
            Some((due, runtime)) => {
                let fanout = self.fanout.clone();
                drop(runtime.spawn(async move {
                    tokio::time::sleep_until(due).await;
                    if let Some(fanout) = fanout.upgrade() {
                        if let Some(sent) = lock(&fanout.presence.boards).get_mut(&board) {
                            sent.scheduled = false;
                        }
                        fanout.send_presence(board);
                    }
                }));
            }
        }
    }

    /// A subscribe answer told one socket `users`. If that is not what went out last,
    /// the next send goes out even when it equals that last one: this socket knows
    /// another set, and would otherwise keep it (someone who left a moment later shown
    /// as here for good).
    pub(super) fn answered(&self, board: Uuid, users: &[MemberUser]) {
        if let Some(sent) = lock(&self.boards).get_mut(&board)
            && sent.users != users
        {
            sent.users.clear();
        }
    }

    /// Records `users` as sent now, unless they are what was sent last; says whether
    /// they are new.
    pub(super) fn changed(&self, board: Uuid, users: &[MemberUser]) -> bool {
        let mut boards = lock(&self.boards);
        if users.is_empty() {
            // Nobody left to tell; a board nobody watches holds no entry.
            boards.remove(&board);
            return false;
        }
        let sent = boards.entry(board).or_default();
        if sent.users == users {
            return false;
        }
        sent.users = users.to_vec();
        sent.at = Some(Instant::now());
        true
    }
}
