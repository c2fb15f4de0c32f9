//! The `boards` topic: the person's board list, followed beside the open board. It is
//! small and the server never replays it, so every (re)subscribe brings it whole, and a
//! gap in its events asks for it again.

use protocol::{Board, BoardChange, BoardsEvent, ClientFrame, Position, Topic};

use super::{Command, Machine, Notice, Problem, Purpose, notice};
use crate::client::store::SyncError;

#[derive(Debug, Clone, Default)]
pub(super) struct BoardList {
    items: Vec<Board>,
    pub(super) position: Option<Position>,
    /// A subscribe is out: events wait for its snapshot.
    pub(super) syncing: bool,
}

impl BoardList {
    /// The whole list, from a subscribe's snapshot or a poll: shown as it is.
    pub(super) fn replace(
        &mut self,
        position: Position,
        items: Vec<Board>,
        out: &mut Vec<Command>,
    ) {
        self.items = items;
        self.position = Some(position);
        self.syncing = false;
        out.push(notice(Notice::Boards(self.items.clone())));
    }

    /// Applies one event in step with the log; says what is wrong when it is not.
    fn apply(&mut self, event: BoardsEvent) -> Result<bool, SyncError> {
        let Some(position) = &mut self.position else {
            return Err(SyncError::NoPosition);
        };
        if position.epoch != event.epoch {
            return Err(SyncError::WrongEpoch {
                expected: position.epoch.clone(),
                got: event.epoch,
            });
        }
        if event.seq <= position.seq {
            return Ok(false);
        }
        if event.seq != position.seq + 1 {
            return Err(SyncError::Gap {
                last: position.seq,
                got: event.seq,
            });
        }
        position.seq = event.seq;
        match event.change {
            BoardChange::Upsert { item } => {
                match self.items.iter_mut().find(|board| board.id == item.id) {
                    Some(board) => *board = item,
                    None => self.items.push(item),
                }
            }
            BoardChange::Delete { id } => self.items.retain(|board| board.id != id),
        }
        Ok(true)
    }
}

impl Machine {
    pub(super) fn subscribe_boards(&mut self, now: u64, out: &mut Vec<Command>) {
        let Some(boards) = &mut self.subscriptions.boards else {
            return;
        };
        boards.syncing = true;
        let id = self.requests.issue(
            Purpose::Subscribe(Topic::Boards),
            now,
            self.config.subscribe_timeout_ms,
        );
        let since = None;
        self.send(
            ClientFrame::Subscribe {
                id,
                topic: Topic::Boards,
                since,
            },
            out,
        );
    }

    pub(super) fn on_boards_snapshot(
        &mut self,
        now: u64,
        id: u64,
        position: Position,
        items: Vec<Board>,
        out: &mut Vec<Command>,
    ) {
        let answered = self
            .requests
            .settle_if(id, |p| *p == Purpose::Subscribe(Topic::Boards));
        let (Some(_), Some(boards)) = (answered, &mut self.subscriptions.boards) else {
            return;
        };
        boards.replace(position, items, out);
        self.synced(now, out);
    }

    pub(super) fn on_boards_event(&mut self, now: u64, event: BoardsEvent, out: &mut Vec<Command>) {
        if !self.phase.authed() {
            return;
        }
        let Some(boards) = &mut self.subscriptions.boards else {
            return;
        };
        if boards.syncing || boards.position.is_none() {
            return;
        }
        match boards.apply(event) {
            Ok(true) => out.push(notice(Notice::Boards(boards.items.clone()))),
            Ok(false) => {}
            Err(error) => {
                out.push(notice(Notice::Problem(Problem::Resync(error))));
                self.subscribe_boards(now, out);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::{Board, BoardChange, BoardRole, BoardsEvent, ClientFrame, ServerFrame, Topic};
    use uuid::Uuid;

    use crate::client::fixtures::machine::{Harness, auth_ok, notices, sent};
    use crate::client::machine::{Config, ConnectionState, Input, Notice, TimerKind};

    fn board(n: u128, name: &str) -> Board {
        Board {
            id: Uuid::from_u128(n),
            name: name.to_owned(),
            role: BoardRole::Owner,
            personal: n == 1,
        }
    }

    fn boards_event(seq: u64, change: BoardChange) -> ServerFrame {
        ServerFrame::BoardsEvent(BoardsEvent {
            topic: Topic::Boards,
            epoch: "e1".to_owned(),
            seq,
            change,
        })
    }

    fn lists(out: &[crate::client::machine::Command]) -> Vec<Vec<String>> {
        notices(out)
            .into_iter()
            .filter_map(|n| match n {
                Notice::Boards(items) => Some(items.into_iter().map(|b| b.name).collect()),
                _ => None,
            })
            .collect()
    }

    /// A socket that follows only the board list, live.
    fn live_on_boards() -> (Harness, crate::client::machine::ConnId) {
        let mut h = Harness::with(Config {
            subscribe: None,
            boards: true,
            ..Config::default()
        });
        let conn = h.signed_in();
        let out = h.frame(conn, auth_ok(1));
        let subscribe = sent(&out)
            .into_iter()
            .find_map(|frame| match frame {
                ClientFrame::Subscribe {
                    id,
                    topic: Topic::Boards,
                    since: None,
                } => Some(id),
                _ => None,
            })
            .unwrap();
        let out = h.frame(
            conn,
            ServerFrame::BoardsSnapshot {
                id: subscribe,
                topic: Topic::Boards,
                epoch: "e1".to_owned(),
                seq: 4,
                items: vec![board(1, "My tasks")],
            },
        );
        assert_eq!(lists(&out), [vec!["My tasks"]]);
        assert_eq!(h.state(), ConnectionState::Live);
        (h, conn)
    }

    #[test]
    fn the_board_list_follows_its_events_and_refetches_after_a_gap() {
        let (mut h, conn) = live_on_boards();
        let out = h.frame(
            conn,
            boards_event(
                5,
                BoardChange::Upsert {
                    item: board(2, "Trip"),
                },
            ),
        );
        assert_eq!(lists(&out), [vec!["My tasks", "Trip"]]);
        let out = h.frame(
            conn,
            boards_event(
                6,
                BoardChange::Upsert {
                    item: board(2, "Trip <2>"),
                },
            ),
        );
        assert_eq!(lists(&out), [vec!["My tasks", "Trip <2>"]]);
        // A duplicate changes nothing; a gap asks for the whole list again.
        assert!(
            lists(&h.frame(
                conn,
                boards_event(
                    6,
                    BoardChange::Delete {
                        id: Uuid::from_u128(2)
                    }
                )
            ))
            .is_empty()
        );
        let out = h.frame(
            conn,
            boards_event(
                8,
                BoardChange::Delete {
                    id: Uuid::from_u128(2),
                },
            ),
        );
        assert!(lists(&out).is_empty());
        assert!(matches!(
            sent(&out)[..],
            [ClientFrame::Subscribe {
                topic: Topic::Boards,
                since: None,
                ..
            }]
        ));
    }

    #[test]
    fn opening_a_board_leaves_the_last_one_and_an_unknown_board_is_reported() {
        let (mut h, conn) = live_on_boards();
        let first = Topic::Board(Uuid::from_u128(2));
        let out = h.feed(Input::Open(first));
        assert!(matches!(
            sent(&out)[..],
            [ClientFrame::Subscribe { topic, .. }] if topic == first
        ));
        let second = Topic::Board(Uuid::from_u128(3));
        let out = h.feed(Input::Open(second));
        let frames = sent(&out);
        assert!(matches!(
            frames[..],
            [ClientFrame::Unsubscribe { topic: a, .. }, ClientFrame::Subscribe { id, topic: b, .. }]
                if a == first && b == second && id > 0
        ));
        let ClientFrame::Subscribe { id, .. } = frames[1] else {
            unreachable!()
        };
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: Some(id),
                code: protocol::ErrorCode::NotFound,
                message: "No such board.".to_owned(),
            },
        );
        assert!(
            notices(&out)
                .iter()
                .any(|n| matches!(n, Notice::Unavailable { topic, .. } if *topic == second))
        );
        // The socket stays: only that board is out of reach.
        assert_eq!(h.state(), ConnectionState::Live);
    }

    #[test]
    fn presence_shows_and_a_board_whose_access_ends_is_not_followed_again() {
        let (mut h, conn) = live_on_boards();
        let board = Topic::Board(Uuid::from_u128(2));
        let out = h.feed(Input::Open(board));
        let [ClientFrame::Subscribe { id, .. }] = sent(&out)[..] else {
            panic!("one subscribe: {out:?}");
        };
        h.frame(
            conn,
            ServerFrame::Snapshot {
                id,
                topic: board,
                epoch: "e1".to_owned(),
                seq: 0,
                items: vec![],
            },
        );
        let users = vec![protocol::MemberUser {
            id: Uuid::from_u128(9),
            username: "ann".to_owned(),
        }];
        let out = h.frame(
            conn,
            ServerFrame::Presence {
                topic: board,
                users: users.clone(),
            },
        );
        assert_eq!(
            notices(&out),
            [Notice::Presence {
                topic: board,
                users
            }]
        );
        let out = h.frame(
            conn,
            ServerFrame::Unsubscribed {
                topic: board,
                reason: protocol::Ended::Removed,
            },
        );
        assert_eq!(
            notices(&out),
            [Notice::AccessEnded {
                topic: board,
                reason: protocol::Ended::Removed
            }]
        );
        // After a reconnect only the board list is asked for.
        let out = h.feed(crate::client::fixtures::machine::closed(conn, 1006));
        let delay = crate::client::fixtures::machine::timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        assert!(matches!(
            sent(&out)[..],
            [ClientFrame::Subscribe {
                topic: Topic::Boards,
                ..
            }]
        ));
    }
}
