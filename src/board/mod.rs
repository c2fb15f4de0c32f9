//! The board's state: everything the views read (the rows, the counts, the connection
//! status, alerts, the diagnostics), as signals, and the one place they are written from
//! the socket core's notices.
//!
//! The core ([`crate::client`]) decides; the socket shell ([`crate::socket`]) executes
//! and hands each notice, with the values it reports, to [`Board`]; the views read
//! [`Views`] through the facade ([`crate::taskwire`]). Nothing here reads the core back.

mod rows;
mod words;

use std::collections::VecDeque;

use leptos::prelude::*;
use protocol::{Board as BoardInfo, Ended, MemberUser, Topic, User};
use rustc_hash::FxHashMap;
use uuid::Uuid;

use crate::client::machine::{
    ConnectionState, Diagnostics, LastClose, MutationError, Notice, Problem, Transport,
};
pub use crate::client::rows::TaskRow;
pub use rows::RowWatchers;

/// The socket whose connection the status element shows and whose store the board lists.
pub const TASKS: &str = "tasks";
/// RTT samples kept per socket for the diagnostics chart.
const RTT_SAMPLES: usize = 120;
/// Why the sign-in page is shown after the server ended the session (close 4409).
const SIGNED_OUT_EVERYWHERE: &str = "You were signed out on every device.";
/// Why the sign-in page is shown after the session was lost (close 4401 and no refresh).
const SESSION_ENDED: &str = "Your session has ended. Sign in again.";

/// The signals the views read. [`Board`] writes what the socket service reports; the
/// facade ([`crate::taskwire`]) writes the sign-in flow's: `restoring` (and whether it is
/// retrying), and
/// `user`, `alert` and `ended` as a sign-in, a sign-out or a dismissal goes.
#[derive(Clone, Copy)]
pub struct Views {
    pub user: RwSignal<Option<User>>,
    pub restoring: RwSignal<bool>,
    /// Restoring found the server out of reach, and tries again.
    pub restore_retrying: RwSignal<bool>,
    /// A sign-out the server has not heard of yet ([`crate::pending_sign_out`]).
    pub sign_out_owed: RwSignal<bool>,
    pub status: RwSignal<Status>,
    pub diagnostics: RwSignal<Vec<SocketDiagnostics>>,
    pub task_ids: RwSignal<Vec<Uuid>>,
    /// The tasks socket has had its first snapshot this session: until then an empty
    /// list means "not known yet", not "no tasks".
    pub loaded: RwSignal<bool>,
    /// One signal per row shown, created on insert and disposed on removal.
    pub rows: StoredValue<FxHashMap<Uuid, RwSignal<TaskRow>>>,
    /// The task lists told of each row's change.
    pub row_watchers: RowWatchers,
    /// Kept up to date from the row changes, so that no one reads every row to count.
    pub counts: RwSignal<TaskCounts>,
    pub alert: RwSignal<Option<String>>,
    /// Why the last session ended without the person asking, for the sign-in page.
    pub ended: RwSignal<Option<String>>,
    pub pending: RwSignal<Vec<PendingChange>>,
    /// The person's boards; `None` until the board list first arrives.
    pub boards: RwSignal<Option<Vec<BoardInfo>>>,
    /// The board the page shows (the facade writes it when a page opens one).
    pub open: RwSignal<Option<Uuid>>,
    /// Who is looking at the open board now.
    pub here: RwSignal<Vec<MemberUser>>,
    /// The open board is not one of the person's ("Not found").
    pub unavailable: RwSignal<Option<Uuid>>,
    /// The person lost access to this board while it was open: the page moves on.
    pub lost: RwSignal<Option<Uuid>>,
    /// A title edit that met someone else's change.
    pub conflict: RwSignal<Option<Conflict>>,
}

/// A title edit refused because the task changed meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub board: Uuid,
    pub task: Uuid,
    /// What the person typed.
    pub mine: String,
    /// Who changed it, and the version it is at now.
    pub by: String,
    pub version: u64,
}

impl Default for Views {
    /// Signed out, restoring the session.
    fn default() -> Self {
        Self {
            user: RwSignal::new(None),
            restoring: RwSignal::new(true),
            restore_retrying: RwSignal::new(false),
            sign_out_owed: RwSignal::new(false),
            status: RwSignal::new(Status::default()),
            diagnostics: RwSignal::new(Vec::new()),
            task_ids: RwSignal::new(Vec::new()),
            loaded: RwSignal::new(false),
            rows: StoredValue::new(FxHashMap::default()),
            row_watchers: RowWatchers::default(),
            counts: RwSignal::new(TaskCounts::default()),
            alert: RwSignal::new(None),
            ended: RwSignal::new(None),
            pending: RwSignal::new(Vec::new()),
            boards: RwSignal::new(None),
            open: RwSignal::new(None),
            here: RwSignal::new(Vec::new()),
            unavailable: RwSignal::new(None),
            lost: RwSignal::new(None),
            conflict: RwSignal::new(None),
        }
    }
}

impl Views {
    /// The row's own signal: a change to one task touches only its row.
    pub fn task(&self, id: Uuid) -> Option<RowSignal> {
        self.rows
            .try_with_value(|rows| rows.get(&id).copied().map(RowSignal))
            .flatten()
    }
}

/// One task's row, read-only: the board alone writes it.
///
/// A handle to the row's own signal. A `Signal` made from it would be two new arena
/// entries owned by whatever reactive owner asked, and disposed with that owner: an
/// effect that kept one past its next run found it gone. This allocates nothing and
/// lives exactly as long as the row.
#[derive(Clone, Copy)]
pub struct RowSignal(RwSignal<TaskRow>);

impl DefinedAt for RowSignal {
    fn defined_at(&self) -> Option<&'static std::panic::Location<'static>> {
        self.0.defined_at()
    }
}

impl Track for RowSignal {
    fn track(&self) {
        self.0.track();
    }
}

impl ReadUntracked for RowSignal {
    type Value = <RwSignal<TaskRow> as ReadUntracked>::Value;

    fn try_read_untracked(&self) -> Option<Self::Value> {
        self.0.try_read_untracked()
    }
}

/// How many rows are left to do and how many are done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub left: usize,
    pub done: usize,
}

/// The connection of the "tasks" socket, as the status element shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// `as_str()` gives the `data-connection` attribute.
    pub state: ConnectionState,
    /// `as_str()` gives the `data-transport` attribute.
    pub transport: Transport,
    /// "Live", "Reconnecting in 4 s (attempt 3)", ...; updates every second while
    /// reconnecting.
    pub text: String,
    pub retry_in_s: Option<u32>,
    pub attempt: u32,
    pub last_close: Option<(u16, String)>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            state: ConnectionState::Closed,
            transport: Transport::WebSocket,
            text: words::status_text(ConnectionState::Closed, Transport::WebSocket, None, 0),
            retry_in_s: None,
            attempt: 0,
            last_close: None,
        }
    }
}

/// One socket the app holds, for the diagnostics page.
#[derive(Clone, Debug, PartialEq)]
pub struct SocketDiagnostics {
    pub name: String,
    pub state: ConnectionState,
    pub rtt_ms: Option<f64>,
    /// `(epoch ms, rtt ms)` of the last pings, bounded.
    pub rtt_history: Vec<(f64, f64)>,
    pub frames_in: u64,
    pub frames_out: u64,
    pub reconnects: u64,
    /// The last close the machine acted on (by either side).
    pub last_close: Option<(u16, String)>,
    /// The browser's last close event for this name, including sockets the client
    /// closed itself (so a sign-out shows the handshake finished with 1000).
    pub closed_event: Option<ClosedEvent>,
    pub transport: Transport,
    /// On the HTTP fallback: the last short poll's round trip.
    pub poll_rtt_ms: Option<u64>,
    /// When a socket was last tried from the fallback (epoch ms).
    pub last_socket_try_ms: Option<u64>,
}

/// The browser's close event of a socket, as the diagnostics page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedEvent {
    pub code: u16,
    pub reason: String,
    pub clean: bool,
}

/// A change waiting in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingChange {
    pub description: String,
}

/// Writes [`Views`] from what the socket shell reports. Owned by the shell.
pub struct Board {
    views: Views,
    /// Owns the per-row signals, apart from any page, so that a page going away does
    /// not dispose rows the board still updates.
    rows_owner: Owner,
    rtt: FxHashMap<String, VecDeque<(f64, f64)>>,
    closed_events: FxHashMap<String, ClosedEvent>,
    /// Every board name seen this session, so that a board already gone from the list
    /// can still be named when access to it ends.
    names: FxHashMap<Uuid, String>,
}

impl Board {
    pub fn new(views: Views) -> Self {
        Self {
            views,
            rows_owner: detached_owner(),
            rtt: FxHashMap::default(),
            closed_events: FxHashMap::default(),
            names: FxHashMap::default(),
        }
    }

    /// The signals still exist: a service outliving its page (an HTTP call finishing
    /// late holds it) must not write to disposed signals.
    pub fn alive(&self) -> bool {
        !self.views.status.is_disposed()
    }

    /// The status counts down to a reconnect (and so changes every second).
    pub fn counting_down(&self) -> bool {
        self.views
            .status
            .with_untracked(|status| status.retry_in_s.is_some())
    }

    /// The person lost the open board: the alert says so, and the page moves on.
    fn access_ended(&mut self, board: Uuid, reason: Ended) {
        let name = self.names.get(&board).map_or("this board", String::as_str);
        let text = match reason {
            Ended::Removed | Ended::Deleted => format!("You no longer have access to {name}."),
        };
        self.views.alert.set(Some(text));
        self.views.here.set(Vec::new());
        self.views.lost.set(Some(board));
    }

    /// A notice from socket `socket`'s machine.
    pub fn notice(&mut self, socket: &str, notice: Notice) {
        let shown = socket == TASKS;
        match notice {
            Notice::Rows { rows, .. } if shown => self.apply_rows(rows),
            Notice::Boards(boards) if shown => {
                for board in &boards {
                    self.names.insert(board.id, board.name.clone());
                }
                // The open board gone from the list is access lost, told here as well as
                // by its topic's end: after a reconnect the list's replay comes first, and
                // `/` would move on to another board before the old topic's refusal came
                // (about a board no longer followed, so never told). An empty list is the
                // session's end (a real one holds the personal board), not a loss.
                let dropped = self.views.open.get_untracked().filter(|open| {
                    let listed = |list: &[BoardInfo]| list.iter().any(|board| board.id == *open);
                    !boards.is_empty()
                        && self
                            .views
                            .boards
                            .with_untracked(|old| old.as_deref().is_some_and(listed))
                        && !listed(&boards)
                });
                set_if_changed(self.views.boards, Some(boards));
                if let Some(board) = dropped {
                    self.access_ended(board, Ended::Removed);
                }
            }
            Notice::Presence { users, .. } if shown => set_if_changed(self.views.here, users),
            Notice::Unavailable {
                topic: Topic::Board(board),
                ..
            } if shown => self.views.unavailable.set(Some(board)),
            Notice::AccessEnded {
                topic: Topic::Board(board),
                reason,
            } if shown => self.access_ended(board, reason),
            Notice::Conflict { mine, current } if shown => {
                let (Some(board), Some(title)) = (mine.board, mine.title) else {
                    return;
                };
                self.views.conflict.set(Some(Conflict {
                    board,
                    task: mine.id,
                    mine: title,
                    by: current.updated_by,
                    version: current.version,
                }));
            }
            Notice::Outbox(waiting) if shown => {
                let pending: Vec<PendingChange> = waiting
                    .iter()
                    .map(|waiting| PendingChange {
                        description: words::describe(waiting),
                    })
                    .collect();
                set_if_changed(self.views.pending, pending);
            }
            Notice::Refused(error) => self.views.alert.set(Some(error.to_string())),
            Notice::Settled {
                result: Err(error), ..
            } => match error {
                // The person asked for it, or signed out: nothing to announce.
                MutationError::Discarded | MutationError::SessionEnded => {}
                // The conflict alert says it, with what to do.
                MutationError::Conflicted => {}
                error => self.views.alert.set(Some(error.to_string())),
            },
            Notice::Problem(problem) => {
                web_sys::console::warn_1(&format!("{socket} socket: {problem}").into());
                match problem {
                    Problem::Server(error) => self.views.alert.set(Some(error.message)),
                    // The closes the contract says to report (1009, 4400, 4403, unknown).
                    Problem::Closed { code, .. } => {
                        self.views.alert.set(Some(words::close_report(code)));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// A pong gave socket `socket` a new round-trip time, at `now_ms`.
    pub fn record_rtt(&mut self, socket: &str, rtt_ms: u64, now_ms: f64) {
        let samples = self.rtt.entry(socket.to_owned()).or_default();
        samples.push_back((now_ms, rtt_ms as f64));
        while samples.len() > RTT_SAMPLES {
            samples.pop_front();
        }
    }

    /// The browser closed socket `socket`.
    pub fn socket_closed(&mut self, socket: &str, event: ClosedEvent) {
        self.closed_events.insert(socket.to_owned(), event);
    }

    pub fn signed_in(&self, user: User) {
        self.views.user.set(Some(user));
    }

    /// Who this page is signed in as.
    pub fn user_id(&self) -> Option<Uuid> {
        self.views
            .user
            .try_with_untracked(|user| user.as_ref().map(|user| user.id))
            .flatten()
    }

    /// The session is gone (signed out, ended by the server, or not refreshed), and so
    /// are its figures: the next person's Diagnostics start empty.
    pub fn signed_out(&mut self) {
        self.rtt.clear();
        self.closed_events.clear();
        self.names.clear();
        self.views.user.set(None);
        self.views.boards.set(None);
        self.views.open.set(None);
        self.views.here.set(Vec::new());
        self.views.conflict.set(None);
        self.views.lost.set(None);
    }

    /// The server ended the session on every device (close 4409): the sign-in page
    /// says so.
    pub fn signed_out_everywhere(&mut self) {
        self.signed_out();
        self.views.ended.set(Some(SIGNED_OUT_EVERYWHERE.to_owned()));
    }

    /// The session was lost (a 4401 and no refresh): the sign-in page says so, unless
    /// the server said first that it signed the person out everywhere.
    pub fn session_lost(&mut self) {
        self.signed_out();
        self.views.ended.update(|ended| {
            if ended.as_deref() != Some(SIGNED_OUT_EVERYWHERE) {
                *ended = Some(SESSION_ENDED.to_owned());
            }
        });
    }

    /// Shows every socket's figures (`sockets`, at `now_ms`): the status follows
    /// [`TASKS`]. Each signal is set only when its value changed.
    pub fn publish(&mut self, now_ms: u64, sockets: Vec<(String, Diagnostics)>) {
        let tasks = sockets
            .iter()
            .find(|(name, _)| name == TASKS)
            .map(|(_, d)| d);
        let status = tasks
            .map(|d| {
                let retry_in_s = d.reconnect_at_ms.map(|at| {
                    u32::try_from(at.saturating_sub(now_ms).div_ceil(1000)).unwrap_or(u32::MAX)
                });
                Status {
                    state: d.state,
                    transport: d.transport,
                    text: words::status_text(d.state, d.transport, retry_in_s, d.failed_attempts),
                    retry_in_s,
                    attempt: d.failed_attempts,
                    last_close: d.last_close.clone().map(shown_close),
                }
            })
            .unwrap_or_default();
        let loaded = tasks.is_some_and(|d| d.loaded);
        set_if_changed(self.views.status, status);
        set_if_changed(self.views.loaded, loaded);
        let diagnostics: Vec<SocketDiagnostics> = sockets
            .into_iter()
            .map(|(name, d)| SocketDiagnostics {
                state: d.state,
                rtt_ms: d.last_rtt_ms.map(|rtt| rtt as f64),
                rtt_history: self
                    .rtt
                    .get(&name)
                    .map(|samples| samples.iter().copied().collect())
                    .unwrap_or_default(),
                frames_in: d.frames_in,
                frames_out: d.frames_out,
                reconnects: d.reconnect_attempts,
                last_close: d.last_close.map(shown_close),
                closed_event: self.closed_events.get(&name).cloned(),
                transport: d.transport,
                poll_rtt_ms: d.poll_rtt_ms,
                last_socket_try_ms: d.last_socket_try_ms,
                name,
            })
            .collect();
        set_if_changed(self.views.diagnostics, diagnostics);
    }
}

fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.with_untracked(|shown| *shown != value) {
        signal.set(value);
    }
}

/// A close as the status and diagnostics show it: the code's number and the reason.
fn shown_close(close: LastClose) -> (u16, String) {
    (close.code.as_u16(), close.reason)
}

/// A root owner that, unlike a bare `Owner::new_root`, does not stay the current owner
/// (which would make every later owner its child, and dispose them with it).
fn detached_owner() -> Owner {
    let previous = Owner::current();
    let root = Owner::new_root(None);
    match previous {
        Some(previous) => previous.set(),
        None => root.clone().unset(),
    }
    root
}

#[cfg(test)]
mod tests {
    use protocol::BoardRole;

    use super::*;

    fn listed(id: u128, name: &str) -> BoardInfo {
        BoardInfo {
            id: Uuid::from_u128(id),
            name: name.to_owned(),
            role: BoardRole::Editor,
            personal: id == 1,
        }
    }

    /// The open board dropped from the board list (its replay after a reconnect, before
    /// the board's own topic is refused) is told as access lost; a list that keeps it
    /// tells nothing.
    #[test]
    fn the_open_board_gone_from_the_list_is_told_as_lost() {
        Owner::new().with(|| {
            let views = Views::default();
            let mut board = Board::new(views);
            let trip = Uuid::from_u128(2);
            views.open.set(Some(trip));
            let mine = listed(1, "My tasks");
            board.notice(TASKS, Notice::Boards(vec![mine.clone(), listed(2, "Trip")]));
            board.notice(
                TASKS,
                Notice::Boards(vec![mine.clone(), listed(2, "Trip"), listed(3, "New")]),
            );
            assert_eq!(views.alert.get_untracked(), None);
            assert_eq!(views.lost.get_untracked(), None);
            board.notice(TASKS, Notice::Boards(vec![mine, listed(3, "New")]));
            assert_eq!(
                views.alert.get_untracked().as_deref(),
                Some("You no longer have access to Trip.")
            );
            assert_eq!(views.lost.get_untracked(), Some(trip));
        });
    }

    /// The session's end empties the list: nothing is lost, and nothing is told.
    #[test]
    fn the_list_emptied_at_the_sessions_end_tells_no_loss() {
        Owner::new().with(|| {
            let views = Views::default();
            let mut board = Board::new(views);
            views.open.set(Some(Uuid::from_u128(2)));
            board.notice(
                TASKS,
                Notice::Boards(vec![listed(1, "My tasks"), listed(2, "Trip")]),
            );
            board.notice(TASKS, Notice::Boards(Vec::new()));
            assert_eq!(views.alert.get_untracked(), None);
            assert_eq!(views.lost.get_untracked(), None);
        });
    }
}
