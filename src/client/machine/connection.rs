//! The socket's life: where the current socket is ([`Phase`]), opening it, giving it up
//! or losing it, the close-code table, the heartbeat, and the figures the diagnostics
//! page shows. A socket is only ever replaced by a new one with a new number, so nothing
//! from a socket given up can reach its successor.

use protocol::{ClientFrame, CloseAction, CloseCode};

use super::{
    Command, ConnId, ConnectionState, Env, LastClose, Machine, Notice, Problem, Purpose, notice,
};
use crate::client::heartbeat::{Beat, Heartbeat};
use crate::client::requests::Requests;

/// Where the current socket is in its life; the UI's [`ConnectionState`] follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Closed,
    Connecting {
        conn: ConnId,
        deadline_ms: u64,
    },
    /// `auth` sent (`authed` once `auth_ok` came), until the first snapshot or replay.
    Authenticating {
        conn: ConnId,
        authed: bool,
    },
    Live {
        conn: ConnId,
        since_ms: u64,
    },
    /// Waiting for the backoff (`at_ms`) or, with `None`, for a token refresh.
    Reconnecting {
        at_ms: Option<u64>,
    },
    Offline,
}

impl Phase {
    pub(super) fn conn(self) -> Option<ConnId> {
        match self {
            Self::Connecting { conn, .. }
            | Self::Authenticating { conn, .. }
            | Self::Live { conn, .. } => Some(conn),
            _ => None,
        }
    }

    pub(super) fn authed(self) -> bool {
        matches!(
            self,
            Self::Live { .. } | Self::Authenticating { authed: true, .. }
        )
    }

    pub(super) fn state(self) -> ConnectionState {
        match self {
            Self::Closed => ConnectionState::Closed,
            Self::Connecting { .. } => ConnectionState::Connecting,
            Self::Authenticating { .. } => ConnectionState::Authenticating,
            Self::Live { .. } => ConnectionState::Live,
            Self::Reconnecting { .. } => ConnectionState::Reconnecting,
            Self::Offline => ConnectionState::Offline,
        }
    }
}

/// How long to wait before the next socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    Backoff,
    Longest,
    /// On the HTTP fallback: the next socket try.
    SocketTry,
}

/// What the sockets saw, for the diagnostics page. The frame and reconnect counts are
/// the page's, kept across sessions; the last close and round trip are the session's.
#[derive(Debug, Clone, Default)]
pub(super) struct Stats {
    pub(super) frames_in: u64,
    pub(super) frames_out: u64,
    pub(super) reconnect_attempts: u64,
    pub(super) last_close: Option<LastClose>,
    pub(super) last_rtt_ms: Option<u64>,
    pub(super) poll_rtt_ms: Option<u64>,
    pub(super) last_socket_try_ms: Option<u64>,
}

impl Machine {
    pub(super) fn is_current(&self, conn: ConnId) -> bool {
        self.phase.conn() == Some(conn)
    }

    pub(super) fn close_socket(
        &mut self,
        conn: ConnId,
        code: CloseCode,
        reason: &str,
        out: &mut Vec<Command>,
    ) {
        self.stats.last_close = Some(LastClose {
            code,
            reason: reason.to_owned(),
            by_client: true,
        });
        out.push(Command::Close {
            conn,
            code,
            reason: reason.to_owned(),
        });
    }

    /// Opens a socket now, or waits for the browser to be online.
    pub(super) fn connect_or_wait(&mut self, now: u64, out: &mut Vec<Command>) {
        if !self.session.has_token() {
            self.phase = Phase::Closed;
        } else if self.navigator_offline {
            self.phase = Phase::Offline;
        } else {
            let conn = ConnId(self.next_conn);
            self.next_conn += 1;
            if self.fallback.is_some() {
                self.stats.last_socket_try_ms = Some(now);
            }
            self.phase = Phase::Connecting {
                conn,
                deadline_ms: now.saturating_add(self.config.connect_timeout_ms),
            };
            self.backoff.note_connecting();
            out.push(Command::Open { conn });
        }
    }

    pub(super) fn on_opened(&mut self, now: u64, conn: ConnId, out: &mut Vec<Command>) {
        if let Phase::Connecting { conn: current, .. } = self.phase
            && current == conn
        {
            // The server answered: if it closes this socket, the backoff grows in full.
            self.backoff.note_opened();
            // Ids are unique per connection: a fresh table starts at 1.
            self.requests = Requests::new();
            self.phase = Phase::Authenticating {
                conn,
                authed: false,
            };
            self.session.stale_auth = false;
            self.send_auth(now, Purpose::Auth, out);
        }
    }

    pub(super) fn on_online(&mut self, now: u64, out: &mut Vec<Command>) {
        self.navigator_offline = false;
        match self.phase {
            Phase::Offline => self.connect_or_wait(now, out),
            Phase::Live { .. } => self.probe(now, out),
            // On the fallback, a network that changed may let a socket through now.
            Phase::Reconnecting { at_ms: Some(_) } if self.fallback.is_some() => {
                self.connect_or_wait(now, out);
            }
            _ => {}
        }
    }

    pub(super) fn on_offline(&mut self, now: u64, out: &mut Vec<Command>) {
        self.navigator_offline = true;
        self.leave_fallback(out);
        if let Some(conn) = self.phase.conn() {
            self.close_socket(conn, CloseCode::GaveUp, "browser offline", out);
            self.lose_connection(now, out);
            self.phase = Phase::Offline;
        } else if let Phase::Reconnecting { at_ms: Some(_) } = self.phase {
            self.phase = Phase::Offline;
        }
    }

    /// Pings at once if the heartbeat has nothing out (the tab came back, the browser
    /// went online): a dead socket is found out now rather than after the idle wait.
    pub(super) fn probe(&mut self, now: u64, out: &mut Vec<Command>) {
        if self.heartbeat.as_ref().is_some_and(Heartbeat::should_probe) {
            self.ping(now, out);
        }
    }

    pub(super) fn ping(&mut self, now: u64, out: &mut Vec<Command>) {
        let id = self.requests.next_id();
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.ping_sent(id, now);
        }
        self.send(ClientFrame::Ping { id }, out);
    }

    fn pong_behind_a_snapshot(&self) -> bool {
        self.heartbeat
            .as_ref()
            .and_then(Heartbeat::unanswered)
            .is_some_and(|ping| {
                self.requests
                    .pending_before(ping, |purpose| matches!(purpose, Purpose::Subscribe(_)))
            })
    }

    pub(super) fn on_pong(&mut self, now: u64, id: u64) {
        if let Some(rtt) = self.heartbeat.as_mut().and_then(|hb| hb.pong(id, now)) {
            self.stats.last_rtt_ms = Some(rtt);
        }
    }

    /// What the heartbeat timer found: a ping is due, the socket is dead, or nothing yet.
    pub(super) fn on_heartbeat(&mut self, env: Env, out: &mut Vec<Command>) {
        let now = env.now_ms;
        match self.heartbeat.as_ref().map(|hb| hb.on_timer(now)) {
            Some(Beat::Ping) => self.ping(now, out),
            // A subscribe sent before the ping is still unanswered, and the server answers
            // in order: the pong comes after its snapshot, which may take longer than a
            // pong's 10 s. The subscribe's own deadline judges the socket meanwhile.
            Some(Beat::Dead) if self.pong_behind_a_snapshot() => {
                if let Some(heartbeat) = &mut self.heartbeat {
                    heartbeat.keep_waiting(now);
                }
            }
            Some(Beat::Dead) => self.give_up(env, CloseCode::GaveUp, "no answer to ping", out),
            Some(Beat::Wait) | None => {}
        }
    }

    /// Forgets the current socket: its requests fail (mutations become of unknown
    /// delivery), its heartbeat stops.
    pub(super) fn lose_connection(&mut self, now: u64, out: &mut Vec<Command>) {
        if let Phase::Live { since_ms, .. } = self.phase {
            self.backoff.note_live_for(now.saturating_sub(since_ms));
        }
        let mut unknown = false;
        for failed in self.requests.close() {
            // `ConnectionClosed`: a change's result can no longer come on this socket;
            // the next snapshot or replay settles it (see the outbox docs).
            if let Purpose::Mutation(mutation) = failed.tag {
                unknown |= self.outbox.mark_unknown(mutation);
            }
        }
        if unknown {
            self.push_outbox(out);
        }
        self.heartbeat = None;
        self.subscriptions.stop_syncing();
        self.session.stale_auth = false;
    }

    /// The client gives the current socket up and reconnects with backoff.
    pub(super) fn give_up(
        &mut self,
        env: Env,
        code: CloseCode,
        reason: &str,
        out: &mut Vec<Command>,
    ) {
        if let Some(conn) = self.phase.conn() {
            self.close_socket(conn, code, reason, out);
            self.lose_connection(env.now_ms, out);
            self.reconnect_later(env, Wait::Backoff, out);
        }
    }

    /// Waits for the next socket: the current one (if any) failed, which may move the
    /// machine onto the HTTP fallback or back to polling (see [`super::fallback`]).
    pub(super) fn reconnect_later(&mut self, env: Env, wait: Wait, out: &mut Vec<Command>) {
        let wait = match self.phase {
            Phase::Connecting { .. } | Phase::Authenticating { .. } | Phase::Live { .. } => {
                // A socket refused for too many (4429) was heard by the server: it is
                // not blocked, and waits the longest backoff rather than falling back
                // (polls would get round the server's cap on sockets).
                let before_auth = !self.phase.authed() && wait != Wait::Longest;
                self.socket_failed(env.now_ms, before_auth, out)
                    .unwrap_or(wait)
            }
            _ => wait,
        };
        if !self.session.has_token() {
            self.phase = Phase::Closed;
        } else if self.navigator_offline {
            self.phase = Phase::Offline;
        } else {
            let delay = match wait {
                Wait::Backoff => self.backoff.next_delay_ms(env.random),
                Wait::Longest => self.backoff.longest_ms(),
                Wait::SocketTry => super::fallback::SOCKET_TRY_MS,
            };
            self.stats.reconnect_attempts += 1;
            self.phase = Phase::Reconnecting {
                at_ms: Some(env.now_ms.saturating_add(delay)),
            };
        }
    }

    /// The close-code table of the contract, through [`CloseCode::action`].
    pub(super) fn on_closed(
        &mut self,
        env: Env,
        code: CloseCode,
        reason: String,
        out: &mut Vec<Command>,
    ) {
        self.lose_connection(env.now_ms, out);
        self.stats.last_close = Some(LastClose {
            code,
            reason: reason.clone(),
            by_client: false,
        });
        let report = Notice::Problem(Problem::Closed { code, reason });
        match code.action() {
            CloseAction::StayClosed { report: tell } => {
                if tell {
                    out.push(notice(report));
                }
                self.phase = Phase::Closed;
            }
            CloseAction::Reconnect { report: tell } => {
                if tell {
                    out.push(notice(report));
                }
                self.reconnect_later(env, Wait::Backoff, out);
            }
            CloseAction::ReconnectAfterMaxBackoff => self.reconnect_later(env, Wait::Longest, out),
            CloseAction::RefreshThenLogin => self.on_unauthorized(env.now_ms, out),
            CloseAction::ClearSession => {
                self.end_session(out);
                out.push(Command::ClearSession);
                out.push(Command::GoToLogin);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::{Change, ClientFrame, CloseCode, Position, ServerFrame, Topic};

    use crate::client::fixtures::machine::{
        HOUR, Harness, TOKEN, auth_ok, closed, closes, create, notices, opened, problems, replay,
        rows, sent, since_of, snapshot, subscribe_id, timer, upsert,
    };
    use crate::client::fixtures::{event, task};
    use crate::client::machine::{
        CONNECT_TIMEOUT_MS, Command, ConnId, ConnectionState, HttpFailure, Input, LastClose,
        Notice, Problem, TimerKind,
    };
    use crate::client::requests::REQUEST_TIMEOUT_MS;
    use crate::client::rows::{RowUpdate, TaskRow};

    #[test]
    fn sign_in_authenticates_subscribes_and_goes_live() {
        let mut h = Harness::new();
        assert_eq!(h.state(), ConnectionState::Closed);
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + 15 * 60_000,
        });
        assert_eq!(opened(&out), Some(ConnId(1)));
        assert_eq!(timer(&out, TimerKind::Connect), Some(CONNECT_TIMEOUT_MS));
        assert_eq!(timer(&out, TimerKind::Refresh), Some(14 * 60_000));
        assert!(notices(&out).contains(&Notice::Status(ConnectionState::Connecting)));

        let out = h.feed(Input::Opened { conn: ConnId(1) });
        assert_eq!(
            sent(&out),
            [ClientFrame::Auth {
                id: 1,
                token: TOKEN.to_owned()
            }]
        );
        assert!(out.contains(&Command::CancelTimer(TimerKind::Connect)));
        assert_eq!(timer(&out, TimerKind::Requests), Some(REQUEST_TIMEOUT_MS));
        assert_eq!(h.state(), ConnectionState::Authenticating);

        let out = h.frame(ConnId(1), auth_ok(1));
        assert_eq!(
            sent(&out),
            [ClientFrame::Subscribe {
                id: 2,
                topic: Topic::Tasks,
                since: None
            }]
        );
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(25_000));
        assert_eq!(h.state(), ConnectionState::Authenticating);

        let out = h.frame(ConnId(1), snapshot(2, 41, vec![task(1)]));
        assert_eq!(
            notices(&out),
            [
                Notice::Rows {
                    topic: Topic::Tasks,
                    rows: vec![RowUpdate::Reset(vec![TaskRow {
                        task: task(1),
                        pending: false
                    }])]
                },
                Notice::Status(ConnectionState::Live)
            ]
        );
        assert!(out.contains(&Command::CancelTimer(TimerKind::Requests)));
        assert_eq!(h.machine.store().len(), 1);
    }

    #[test]
    fn a_reconnect_reauthenticates_and_resubscribes_from_the_last_position() {
        let mut h = Harness::new();
        let first = h.live(41);
        h.frame(first, upsert(42, 1));
        let out = h.feed(closed(first, 1006));
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        assert!(delay <= 500, "the first retry waits at most 0.5 s");
        assert!(out.contains(&Command::CancelTimer(TimerKind::Heartbeat)));

        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let second = h.open(&out);
        assert_ne!(first, second);
        let out = h.frame(second, auth_ok(1));
        assert_eq!(
            since_of(&out),
            Some(Position {
                epoch: "e1".to_owned(),
                seq: 42
            })
        );
        h.frame(
            second,
            replay(
                subscribe_id(&out),
                43,
                vec![event(43, Change::Upsert { item: task(2) })],
            ),
        );
        assert_eq!(h.state(), ConnectionState::Live);
        assert_eq!(h.machine.store().len(), 2);
    }

    #[test]
    fn every_close_code_gets_the_contracts_action() {
        #[derive(Debug, PartialEq)]
        enum Expect {
            StayClosed,
            Backoff,
            Longest,
            Refresh,
            Login,
        }
        let table = [
            (1000, Expect::StayClosed, false),
            (1001, Expect::Backoff, false),
            (1006, Expect::Backoff, false),
            (1011, Expect::Backoff, false),
            (1009, Expect::Backoff, true),
            (4400, Expect::Backoff, true),
            (4401, Expect::Refresh, false),
            (4403, Expect::StayClosed, true),
            (4408, Expect::Backoff, false),
            (4409, Expect::Login, false),
            (4429, Expect::Longest, false),
            (3000, Expect::Backoff, true),
        ];
        for (code, expect, report) in table {
            let mut h = Harness::new();
            let conn = h.live(1);
            let out = h.feed(closed(conn, code));
            let reported = problems(&out).contains(&Problem::Closed {
                code: CloseCode::from_u16(code),
                reason: format!("code {code}"),
            });
            assert_eq!(reported, report, "report for {code}");
            let reconnect = timer(&out, TimerKind::Reconnect);
            assert_eq!(
                h.machine.diagnostics().last_close,
                Some(LastClose {
                    code: CloseCode::from_u16(code),
                    reason: format!("code {code}"),
                    by_client: false
                })
            );
            match expect {
                Expect::StayClosed => {
                    assert_eq!(h.state(), ConnectionState::Closed, "{code}");
                    assert_eq!(reconnect, None, "{code}");
                }
                Expect::Backoff => {
                    assert_eq!(h.state(), ConnectionState::Reconnecting, "{code}");
                    assert!(
                        reconnect.is_some_and(|ms| ms <= 500),
                        "{code}: {reconnect:?}"
                    );
                }
                Expect::Longest => {
                    assert_eq!(h.state(), ConnectionState::Reconnecting);
                    assert_eq!(reconnect, Some(30_000));
                }
                Expect::Refresh => {
                    assert!(out.contains(&Command::RefreshToken));
                    assert_eq!(h.state(), ConnectionState::Reconnecting);
                    assert_eq!(reconnect, None, "waits for the token, not a timer");
                }
                Expect::Login => {
                    assert!(out.contains(&Command::ClearSession));
                    assert!(out.contains(&Command::GoToLogin));
                    assert_eq!(rows(&out), [RowUpdate::Reset(Vec::new())]);
                    assert_eq!(h.state(), ConnectionState::Closed);
                }
            }
            if expect != Expect::Refresh {
                assert!(!out.contains(&Command::RefreshToken), "{code}");
            }
            if expect != Expect::Login {
                assert!(!out.contains(&Command::GoToLogin), "{code}");
            }
            assert!(opened(&out).is_none(), "{code}: never reconnects at once");
        }
    }

    #[test]
    fn heartbeat_pings_after_silence_and_measures_rtt() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let start = h.now;
        let out = h.at(start + 25_000, Input::TimerFired(TimerKind::Heartbeat));
        let [ClientFrame::Ping { id }] = sent(&out)[..] else {
            panic!("a ping: {out:?}");
        };
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(10_000));
        h.at(
            start + 25_042,
            Input::Frame {
                conn,
                frame: ServerFrame::Pong { id },
            },
        );
        assert_eq!(h.machine.diagnostics().last_rtt_ms, Some(42));
        let out = h.at(start + 35_000, Input::TimerFired(TimerKind::Heartbeat));
        assert!(closes(&out).is_empty());
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(15_042));
    }

    #[test]
    fn a_silent_socket_is_closed_ten_seconds_after_the_ping_and_replaced() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let start = h.now;
        h.at(start + 25_000, Input::TimerFired(TimerKind::Heartbeat));
        let out = h.at(start + 35_000, Input::TimerFired(TimerKind::Heartbeat));
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        assert!(timer(&out, TimerKind::Reconnect).is_some());
        // Its close event, arriving later, is from a socket given up: ignored.
        let out = h.feed(closed(conn, 1006));
        assert!(out.is_empty());
        assert_eq!(h.machine.diagnostics().reconnect_attempts, 1);
    }

    #[test]
    fn visible_or_online_pings_at_once_but_not_twice() {
        let mut h = Harness::new();
        h.live(1);
        let out = h.at(h.now + 1_000, Input::Visible);
        assert!(matches!(sent(&out)[..], [ClientFrame::Ping { .. }]));
        assert!(
            sent(&h.feed(Input::Online)).is_empty(),
            "a ping is already out"
        );
        // The timer armed by the ping on going live fires first and waits out the rest
        // of this ping's 10 s.
        let out = h.at(h.now + 9_000, Input::TimerFired(TimerKind::Heartbeat));
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(1_000));
    }

    #[test]
    fn retry_now_skips_the_backoff_only_while_waiting_for_it() {
        let mut h = Harness::new();
        let conn = h.live(1);
        assert!(
            opened(&h.feed(Input::RetryNow)).is_none(),
            "live: nothing to do"
        );
        h.feed(closed(conn, 1006));
        let diagnostics = h.machine.diagnostics();
        assert_eq!(diagnostics.failed_attempts, 1);
        assert!(diagnostics.reconnect_at_ms.is_some());
        let out = h.feed(Input::RetryNow);
        assert!(opened(&out).is_some(), "reconnects at once");
        assert!(out.contains(&Command::CancelTimer(TimerKind::Reconnect)));
        assert_eq!(h.state(), ConnectionState::Connecting);
        assert_eq!(h.machine.diagnostics().reconnect_at_ms, None);
    }

    #[test]
    fn offline_stops_reconnecting_until_online() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Offline);
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
        assert_eq!(h.state(), ConnectionState::Offline);
        assert_eq!(timer(&out, TimerKind::Reconnect), None);
        assert!(
            h.feed(closed(conn, 1006)).is_empty(),
            "the old socket is ignored"
        );
        assert!(opened(&h.feed(Input::TimerFired(TimerKind::Reconnect))).is_none());
        let out = h.feed(Input::Online);
        assert!(opened(&out).is_some(), "online connects at once");
        assert_eq!(h.state(), ConnectionState::Connecting);
    }

    #[test]
    fn offline_while_waiting_cancels_the_retry_and_closes_while_offline_wait() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(closed(conn, 1006));
        let out = h.feed(Input::Offline);
        assert!(out.contains(&Command::CancelTimer(TimerKind::Reconnect)));
        assert_eq!(h.state(), ConnectionState::Offline);

        // Offline reported while connecting, then the socket fails: no retry timer.
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = opened(&out).unwrap();
        h.feed(Input::Offline);
        assert!(h.feed(closed(conn, 1006)).is_empty());
        assert_eq!(h.state(), ConnectionState::Offline);
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        assert!(opened(&out).is_none(), "still offline");
    }

    /// A frame of a type a newer server may send is passed over: the socket stays live,
    /// and what follows is read as ever.
    #[test]
    fn a_frame_of_an_unknown_type_is_passed_over() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::from_text(
            conn,
            r#"{"type":"typing","topic":"tasks"}"#,
        ));
        assert!(closes(&out).is_empty(), "{out:?}");
        assert!(matches!(problems(&out)[..], [Problem::Undecodable(_)]));
        assert_eq!(h.state(), ConnectionState::Live);
        h.frame(conn, upsert(2, 7));
        assert!(h.machine.store().get(uuid::Uuid::from_u128(7)).is_some());
    }

    /// One that answers a request of ours cannot be passed over: that answer is not to
    /// be read, and the request would wait out its time.
    #[test]
    fn a_frame_of_an_unknown_type_answering_a_request_is_a_protocol_violation() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let out = h.feed(Input::from_text(conn, r#"{"type":"welcome","id":1}"#));
        assert_eq!(closes(&out), [CloseCode::ProtocolViolation], "{out:?}");
    }

    #[test]
    fn an_unreadable_frame_is_a_protocol_violation() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::from_text(conn, "{not json"));
        assert_eq!(closes(&out), [CloseCode::ProtocolViolation]);
        assert!(matches!(problems(&out)[..], [Problem::Undecodable(_)]));
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        let decoded = Input::from_text(conn, r#"{"type":"pong","id":3}"#);
        assert_eq!(
            decoded,
            Input::Frame {
                conn,
                frame: ServerFrame::Pong { id: 3 }
            }
        );
    }

    #[test]
    fn a_socket_error_is_treated_as_a_drop() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Error { conn });
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        assert!(h.feed(Input::Error { conn }).is_empty());
    }

    #[test]
    fn backoff_grows_while_failing_and_resets_after_a_stable_connection() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + 10 * HOUR,
        });
        let mut conn = opened(&out).unwrap();
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            let mut out = h.feed(closed(conn, 1006));
            // From the second socket refused in a row, HTTP is tried: the server is down,
            // so that fails too, and the backoff goes on.
            let poll = out.iter().find_map(|command| match command {
                Command::Poll { poll, .. } => Some(*poll),
                _ => None,
            });
            if let Some(poll) = poll {
                out = h.feed(Input::Polled {
                    poll,
                    result: Err(HttpFailure::Unreachable),
                });
            }
            let delay = timer(&out, TimerKind::Reconnect).unwrap();
            ceilings.push(delay);
            let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
            conn = opened(&out).unwrap();
        }
        // Refused sockets: the ceiling stops at 4 s, so the server's return is seen soon.
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 4000, 4000]);
        // A server that opens the socket and then closes it gets the grown ceiling.
        h.feed(Input::Opened { conn });
        h.frame(conn, auth_ok(1));
        let out = h.feed(closed(conn, 1011));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        assert_eq!(delay, 30_000);
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        conn = opened(&out).unwrap();
        // Live for 10 s: the next drop starts over.
        h.feed(Input::Opened { conn });
        let out = h.frame(conn, auth_ok(1));
        h.frame(conn, snapshot(subscribe_id(&out), 1, vec![]));
        let out = h.at(h.now + 10_000, closed(conn, 1001));
        assert_eq!(timer(&out, TimerKind::Reconnect), Some(500));
        let diagnostics = h.machine.diagnostics();
        assert_eq!(diagnostics.reconnect_attempts, 8);
        assert_eq!(diagnostics.state, ConnectionState::Reconnecting);
    }

    #[test]
    fn diagnostics_count_frames_both_ways() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        let diagnostics = h.machine.diagnostics();
        // auth + subscribe + ping out; auth_ok + snapshot + pong + event in.
        assert_eq!((diagnostics.frames_out, diagnostics.frames_in), (3, 4));
        // The ping on going live was answered at once.
        assert_eq!(diagnostics.last_rtt_ms, Some(0));
        assert_eq!(diagnostics.pending_requests, 0);
        h.feed(Input::Mutate(create(1)));
        assert_eq!(h.machine.diagnostics().pending_requests, 1);
    }
}
