//! The machine's timers: the one timer of each [`TimerKind`] the shell runs, kept in line
//! with the state after every input, and what each does when it fires. A timer may fire
//! late (a background tab) or early; each handler checks what is actually due.

use protocol::CloseCode;

use super::connection::Phase;
use super::{Command, Env, Machine, Notice, Problem, Purpose, notice};
use crate::client::heartbeat::Heartbeat;

/// The machine's timers. The shell runs at most one timer per kind: `StartTimer`
/// replaces a running one of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The socket must open in time.
    Connect,
    /// Idle ping, then the wait for any frame after it.
    Heartbeat,
    /// The earliest request deadline.
    Requests,
    /// The backoff before the next connection.
    Reconnect,
    /// About a minute before the access token expires.
    Refresh,
    /// The next change's turn, when changes wait for the pace (`client::pace`).
    Pace,
}

impl TimerKind {
    pub const ALL: [Self; 6] = [
        Self::Connect,
        Self::Heartbeat,
        Self::Requests,
        Self::Reconnect,
        Self::Refresh,
        Self::Pace,
    ];

    fn index(self) -> usize {
        match self {
            Self::Connect => 0,
            Self::Heartbeat => 1,
            Self::Requests => 2,
            Self::Reconnect => 3,
            Self::Refresh => 4,
            Self::Pace => 5,
        }
    }
}

/// The deadline (epoch ms) of each timer the shell is running.
#[derive(Debug, Clone, Default)]
pub(super) struct Timers {
    deadlines: [Option<u64>; TimerKind::ALL.len()],
}

impl Timers {
    /// The shell's timer of this kind fired: it runs no more.
    pub(super) fn fired(&mut self, kind: TimerKind) {
        self.deadlines[kind.index()] = None;
    }

    /// Brings the running timers in line with the deadlines wanted. A running timer that
    /// is due *earlier* than needed is left alone: when it fires, the handler finds
    /// nothing due and it is started again. This keeps frames from restarting the
    /// heartbeat timer each time one arrives.
    fn sync(
        &mut self,
        now: u64,
        wanted: impl Fn(TimerKind) -> Option<u64>,
        out: &mut Vec<Command>,
    ) {
        for kind in TimerKind::ALL {
            let slot = &mut self.deadlines[kind.index()];
            match (wanted(kind), *slot) {
                (None, Some(_)) => {
                    *slot = None;
                    out.push(Command::CancelTimer(kind));
                }
                (Some(wanted), running) if running.is_none_or(|at| at > wanted) => {
                    *slot = Some(wanted);
                    out.push(Command::StartTimer {
                        kind,
                        after_ms: wanted.saturating_sub(now),
                    });
                }
                _ => {}
            }
        }
    }
}

impl Machine {
    pub(super) fn on_timer(&mut self, env: Env, kind: TimerKind, out: &mut Vec<Command>) {
        let now = env.now_ms;
        match kind {
            TimerKind::Connect => {
                if let Phase::Connecting { deadline_ms, .. } = self.phase
                    && now >= deadline_ms
                {
                    self.give_up(env, CloseCode::GaveUp, "connect timed out", out);
                }
            }
            TimerKind::Heartbeat => self.on_heartbeat(env, out),
            TimerKind::Requests => self.on_requests_timer(env, out),
            TimerKind::Reconnect => {
                if let Phase::Reconnecting { at_ms: Some(at) } = self.phase
                    && now >= at
                {
                    self.connect_or_wait(now, out);
                }
            }
            TimerKind::Refresh => self.on_refresh_timer(now, out),
            TimerKind::Pace => {
                self.paced_until = None;
                self.flush(now, out);
            }
        }
    }

    /// Requests past their deadline: a handshake without an answer gives the socket up;
    /// a change without one is of unknown delivery, settled by a resubscribe. A change
    /// sent behind a subscribe still unanswered (a large snapshot on a slow link) waits
    /// for it: that answer was asked for before the change and cannot show it, so it
    /// would judge the change not made and send it again, and the change's own answer
    /// comes after it anyway.
    fn on_requests_timer(&mut self, env: Env, out: &mut Vec<Command>) {
        let mut resync = false;
        let mut handshake = None;
        let behind = |due: &Purpose, earlier: &Purpose| {
            matches!(due, Purpose::Mutation(_)) && matches!(earlier, Purpose::Subscribe(_))
        };
        for failed in self.requests.expire(env.now_ms, behind) {
            match failed.tag {
                Purpose::Mutation(mutation) => {
                    self.outbox.mark_unknown(mutation);
                    resync = true;
                }
                Purpose::Auth | Purpose::Reauth | Purpose::Subscribe(_) => {
                    handshake = Some(failed.error);
                }
                Purpose::Unsubscribe => {}
            }
        }
        if let Some(error) = handshake {
            out.push(notice(Notice::Problem(Problem::Request(error))));
            self.give_up(env, CloseCode::GaveUp, "no answer in time", out);
        } else if resync {
            // The result may still come, or may never: the replay of a fresh subscribe
            // settles it either way (see the outbox docs).
            self.push_outbox(out);
            if !self.subscriptions.changes_syncing() {
                self.subscribe(env.now_ms, self.subscriptions.changes_topic(), out);
            }
        }
    }

    fn wanted_deadline(&self, kind: TimerKind) -> Option<u64> {
        match kind {
            TimerKind::Connect => match self.phase {
                Phase::Connecting { deadline_ms, .. } => Some(deadline_ms),
                _ => None,
            },
            TimerKind::Heartbeat => self.heartbeat.as_ref().map(Heartbeat::deadline_ms),
            TimerKind::Requests => self.requests.next_deadline_ms(),
            TimerKind::Reconnect => match self.phase {
                Phase::Reconnecting { at_ms } => at_ms,
                _ => None,
            },
            TimerKind::Refresh => match self.phase {
                Phase::Closed | Phase::Offline => None,
                _ => self.session.refresh_due_at(),
            },
            TimerKind::Pace => match self.phase {
                Phase::Live { .. } => self.paced_until,
                _ => None,
            },
        }
    }

    /// Brings the shell's timers in line with the state.
    pub(super) fn sync_timers(&mut self, now: u64, out: &mut Vec<Command>) {
        let mut timers = std::mem::take(&mut self.timers);
        timers.sync(now, |kind| self.wanted_deadline(kind), out);
        self.timers = timers;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::CloseCode;

    use crate::client::fixtures::machine::{
        HOUR, Harness, TOKEN, auth_ok, closes, opened, problems, timer, upsert,
    };
    use crate::client::machine::{ConnectionState, Input, Problem, TimerKind};
    use crate::client::requests::REQUEST_TIMEOUT_MS;
    use crate::client::requests::RequestError;

    #[test]
    fn a_throttled_timer_a_minute_late_does_not_drop_a_healthy_socket() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let start = h.now;
        h.at(start + 25_000, Input::TimerFired(TimerKind::Heartbeat));
        // The background tab's timer for +35 s fires at +95 s; an event came at +94 s.
        h.at(
            start + 94_000,
            Input::Frame {
                conn,
                frame: upsert(2, 1),
            },
        );
        let out = h.at(start + 95_000, Input::TimerFired(TimerKind::Heartbeat));
        assert!(closes(&out).is_empty());
        assert_eq!(h.state(), ConnectionState::Live);
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(24_000));
    }

    #[test]
    fn frames_do_not_restart_the_heartbeat_timer() {
        let mut h = Harness::new();
        let conn = h.live(1);
        for seq in 2..10 {
            let out = h.frame(conn, upsert(seq, u128::from(seq)));
            assert_eq!(timer(&out, TimerKind::Heartbeat), None);
        }
    }

    #[test]
    fn connect_and_auth_must_happen_in_time() {
        let mut h = Harness::new();
        let start = h.now;
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: start + HOUR,
        });
        let first = opened(&out).unwrap();
        let out = h.at(start + 5_000, Input::TimerFired(TimerKind::Connect));
        assert!(closes(&out).is_empty(), "early: just restarted");
        assert_eq!(timer(&out, TimerKind::Connect), Some(5_000));
        let out = h.at(start + 10_000, Input::TimerFired(TimerKind::Connect));
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        // A late `open` of the abandoned socket changes nothing.
        assert!(h.feed(Input::Opened { conn: first }).is_empty());

        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.at(
            h.now + REQUEST_TIMEOUT_MS,
            Input::TimerFired(TimerKind::Requests),
        );
        assert!(matches!(
            problems(&out)[..],
            [Problem::Request(RequestError::TimedOut { id: 1, .. })]
        ));
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
        assert!(
            h.feed(Input::Frame {
                conn,
                frame: auth_ok(1)
            })
            .is_empty()
        );
    }
}
