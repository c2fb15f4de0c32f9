//! The session on this socket: the access token, its refresh before it expires, the
//! `auth` handshake, and the contract's rule for a 4401 (refresh the token once; if the
//! fresh one is refused too, or cannot be had, go to the login page).

use protocol::ClientFrame;

use super::connection::{Phase, Wait};
use super::{Command, Env, Machine, Notice, Problem, Purpose, notice};
use crate::client::heartbeat::Heartbeat;

/// The access token is refreshed this long before it expires (contract: "about a
/// minute"), or halfway through its life if that is shorter: a token that lives under a
/// minute would otherwise be refreshed the moment it arrived, again and again.
pub const REFRESH_LEAD_MS: u64 = 60_000;

/// A scheduled refresh that got no answer (offline, the server away) is asked for again
/// this long after, until one answers: given up at once, the token would run out and
/// the socket close with 4401 a minute later.
pub const REFRESH_RETRY_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    value: String,
    expires_at_ms: u64,
    /// When it arrived: with the expiry, how long it lives.
    received_at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Refresh {
    #[default]
    Idle,
    InFlight {
        for_unauthorized: bool,
    },
    /// A scheduled refresh failed: no more until a new token; a 4401 still tries once.
    Failed,
    /// A scheduled refresh got no answer: asked for again at this time.
    RetryAt(u64),
}

/// The token and where its refresh stands.
#[derive(Debug, Clone, Default)]
pub(super) struct Session {
    token: Option<Token>,
    refresh: Refresh,
    /// A 4401 (or a 401 on the fallback) already led to a refresh, and the server has
    /// taken no token since: the expiry of the token that refresh brought. A refusal
    /// before then goes to the login page ("refresh the token once"); one after it is
    /// that token's own expiry (the network was out for its whole life), not the
    /// session's end, and is refreshed again.
    refreshed_for_unauthorized: Option<u64>,
    /// The token changed while `auth` with the old one was out: send it after `auth_ok`.
    pub(super) stale_auth: bool,
}

impl Session {
    pub(super) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// When the scheduled refresh is due, while one may be asked for.
    pub(super) fn refresh_due_at(&self) -> Option<u64> {
        let token = self.token.as_ref()?;
        match self.refresh {
            Refresh::Idle => {}
            Refresh::RetryAt(at) => return Some(at),
            Refresh::InFlight { .. } | Refresh::Failed => return None,
        }
        let life = token.expires_at_ms.saturating_sub(token.received_at_ms);
        Some(token.expires_at_ms - REFRESH_LEAD_MS.min(life / 2))
    }

    /// The server took the token: an `auth_ok`, or on the fallback an answered poll or
    /// call. A later refusal is refreshed again before it means the session ended.
    pub(super) fn token_accepted(&mut self) {
        self.refreshed_for_unauthorized = None;
    }

    /// Forgets the token and every refresh under way (the session ended).
    pub(super) fn forget(&mut self) {
        self.token = None;
        self.refresh = Refresh::Idle;
        self.refreshed_for_unauthorized = None;
    }
}

impl Machine {
    pub(super) fn sign_in(
        &mut self,
        now: u64,
        token: String,
        expires_at_ms: u64,
        out: &mut Vec<Command>,
    ) {
        if !self.session.has_token() {
            // A new session: the last one's close and round trip are not news to this
            // one (its status would open with "last close 1000: signed out").
            self.stats.last_close = None;
            self.stats.last_rtt_ms = None;
        }
        self.session.refreshed_for_unauthorized = None;
        self.new_token(now, token, expires_at_ms, out);
        if self.phase.conn().is_none() {
            self.connect_or_wait(now, out);
        }
    }

    fn new_token(&mut self, now: u64, value: String, expires_at_ms: u64, out: &mut Vec<Command>) {
        self.session.token = Some(Token {
            value,
            expires_at_ms,
            received_at_ms: now,
        });
        self.session.refresh = Refresh::Idle;
        // Swap the new token in on a socket that is authenticated, or will be.
        match self.phase {
            Phase::Live { .. } | Phase::Authenticating { authed: true, .. } => {
                self.send_auth(now, Purpose::Reauth, out);
            }
            Phase::Authenticating { authed: false, .. } => self.session.stale_auth = true,
            _ => {}
        }
    }

    pub(super) fn send_auth(&mut self, now: u64, purpose: Purpose, out: &mut Vec<Command>) {
        if let Some(token) = self.session.token.clone() {
            let id = self
                .requests
                .issue(purpose, now, self.config.request_timeout_ms);
            self.send(
                ClientFrame::Auth {
                    id,
                    token: token.value,
                },
                out,
            );
        }
    }

    /// `auth_ok`: for the handshake's `auth`, the socket is authenticated and subscribes
    /// (or, without a topic, is live); for a refreshed token, it only answers the request.
    pub(super) fn on_auth_ok(
        &mut self,
        now: u64,
        id: u64,
        heartbeat_ms: u64,
        out: &mut Vec<Command>,
    ) {
        let answered = self
            .requests
            .settle_if(id, |p| matches!(p, Purpose::Auth | Purpose::Reauth));
        if answered == Some(Purpose::Auth)
            && let Phase::Authenticating { conn, .. } = self.phase
        {
            self.session.token_accepted();
            self.heartbeat = Some(Heartbeat::new(heartbeat_ms, now));
            self.phase = Phase::Authenticating { conn, authed: true };
            self.hand_over(out);
            if std::mem::take(&mut self.session.stale_auth) {
                self.send_auth(now, Purpose::Reauth, out);
            }
            if !self.subscribe_all(now, out) {
                self.synced(now, out);
            }
        }
    }

    /// The refresh timer fired: ask for a new token if it is due.
    pub(super) fn on_refresh_timer(&mut self, now: u64, out: &mut Vec<Command>) {
        if self.session.refresh_due_at().is_some_and(|at| now >= at) {
            self.session.refresh = Refresh::InFlight {
                for_unauthorized: false,
            };
            out.push(Command::RefreshToken);
        }
    }

    /// A 4401: refresh the token once (joining a scheduled refresh under way), then
    /// reconnect with it; a second 4401 before any `auth_ok`, while that fresh token
    /// should still be good, goes to the login page.
    pub(super) fn on_unauthorized(&mut self, now: u64, out: &mut Vec<Command>) {
        if self
            .session
            .refreshed_for_unauthorized
            .is_some_and(|expires_at_ms| now < expires_at_ms)
        {
            self.login_required(out);
        } else {
            if self.session.refresh
                != (Refresh::InFlight {
                    for_unauthorized: false,
                })
            {
                out.push(Command::RefreshToken);
            }
            self.session.refresh = Refresh::InFlight {
                for_unauthorized: true,
            };
            self.phase = Phase::Reconnecting { at_ms: None };
        }
    }

    pub(super) fn on_token_refreshed(
        &mut self,
        now: u64,
        token: String,
        expires_at_ms: u64,
        out: &mut Vec<Command>,
    ) {
        let for_unauthorized = self.session.refresh
            == Refresh::InFlight {
                for_unauthorized: true,
            };
        self.new_token(now, token, expires_at_ms, out);
        if for_unauthorized && self.phase == (Phase::Reconnecting { at_ms: None }) {
            self.session.refreshed_for_unauthorized = Some(expires_at_ms);
            self.connect_or_wait(now, out);
        }
    }

    pub(super) fn on_refresh_failed(&mut self, out: &mut Vec<Command>) {
        match self.session.refresh {
            Refresh::InFlight {
                for_unauthorized: true,
            } => self.login_required(out),
            Refresh::InFlight {
                for_unauthorized: false,
            } => {
                // The token still works for a minute; if it then expires, the 4401 path
                // tries once more before sending the person to the login page.
                self.session.refresh = Refresh::Failed;
                out.push(notice(Notice::Problem(Problem::RefreshFailed)));
            }
            Refresh::Idle | Refresh::Failed | Refresh::RetryAt(_) => {}
        }
    }

    pub(super) fn on_refresh_unavailable(&mut self, env: Env, out: &mut Vec<Command>) {
        match self.session.refresh {
            Refresh::InFlight {
                for_unauthorized: true,
            } => {
                // Reconnect after the backoff, as for any lost connection; if the token
                // is still refused then, that 4401 asks for a new one again.
                self.session.refresh = Refresh::Idle;
                self.reconnect_later(env, Wait::Backoff, out);
            }
            Refresh::InFlight {
                for_unauthorized: false,
            } => {
                self.session.refresh =
                    Refresh::RetryAt(env.now_ms.saturating_add(REFRESH_RETRY_MS));
            }
            Refresh::Idle | Refresh::Failed | Refresh::RetryAt(_) => {}
        }
    }

    fn login_required(&mut self, out: &mut Vec<Command>) {
        out.push(notice(Notice::Problem(Problem::RefreshFailed)));
        self.end_session(out);
        out.push(Command::GoToLogin);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::{ClientFrame, CloseCode, ErrorCode, ServerFrame};

    use crate::client::fixtures::machine::{
        HOUR, Harness, TOKEN, auth_ok, closed, closes, opened, problems, rows, sent, set_done,
        settled, since_of, snapshot, subscribe_id, timer, upsert,
    };
    use crate::client::machine::{
        Command, ConnectionState, Input, MutationError, Problem, TimerKind,
    };
    use crate::client::outbox::MutationId;
    use crate::client::rows::RowUpdate;

    use super::REFRESH_RETRY_MS;

    #[test]
    fn an_expired_token_met_on_reconnect_raises_no_alert() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: Some(1),
                code: ErrorCode::Unauthorized,
                message: "The token has expired.".to_owned(),
            },
        );
        assert!(problems(&out).is_empty(), "{out:?}");
        // The 4401 after it decides: a refresh, and no alert either.
        let out = h.feed(Input::Closed {
            conn,
            code: CloseCode::Unauthorized,
            reason: "token expired".to_owned(),
        });
        assert!(out.contains(&Command::RefreshToken), "{out:?}");
        assert!(problems(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn unauthorized_refreshes_once_then_goes_to_login() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(closed(conn, 4401));
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = opened(&out).expect("reconnects with the new token at once");
        let out = h.feed(Input::Opened { conn });
        assert_eq!(
            sent(&out),
            [ClientFrame::Auth {
                id: 1,
                token: "token-2".to_owned()
            }]
        );
        // The fresh token is refused too: no second refresh, the login page.
        let out = h.feed(closed(conn, 4401));
        assert!(!out.contains(&Command::RefreshToken));
        assert!(out.contains(&Command::GoToLogin));
        assert_eq!(h.state(), ConnectionState::Closed);
    }

    /// The fresh token was never refused: the network went out before it reached the
    /// server, for longer than it lives. Its 4401 is its own expiry, refreshed again,
    /// not the session's end.
    #[test]
    fn a_fresh_token_that_expired_before_it_was_used_is_refreshed_again() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(closed(conn, 4401));
        let fifteen_minutes = 15 * 60_000;
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + fifteen_minutes,
        });
        opened(&out).expect("reconnects with the new token");
        h.feed(Input::Offline);
        let out = h.at(h.now + 20 * 60_000, Input::Online);
        let conn = h.open(&out);
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken), "{out:?}");
        assert!(!out.contains(&Command::GoToLogin), "{out:?}");
        assert_eq!(h.state(), ConnectionState::Reconnecting);
    }

    #[test]
    fn a_refresh_that_worked_allows_another_one_later() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(closed(conn, 4401));
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = h.open(&out);
        h.frame(conn, auth_ok(1));
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken));
        assert!(!out.contains(&Command::GoToLogin));
    }

    #[test]
    fn a_refresh_without_an_answer_after_unauthorized_is_tried_again_not_signed_out() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(Input::Mutate(set_done(1)));
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken));
        // The server is away: the person stays signed in, with their change, and the
        // status counts down to another try that Retry now can bring forward.
        let out = h.feed(Input::RefreshUnavailable);
        assert!(!out.contains(&Command::GoToLogin), "{out:?}");
        assert!(settled(&out).is_empty(), "{out:?}");
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        assert!(timer(&out, TimerKind::Reconnect).is_some(), "{out:?}");
        let out = h.feed(Input::RetryNow);
        let conn = h.open(&out);
        // Still refused on the new socket: a new token is asked for again.
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken), "{out:?}");
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = h.open(&out);
        h.frame(conn, auth_ok(1));
        assert_eq!(h.machine.outbox().len(), 1, "the change still waits");
    }

    #[test]
    fn a_failed_refresh_after_unauthorized_goes_to_login_and_forgets_everything() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        h.feed(Input::Mutate(set_done(1)));
        h.feed(closed(conn, 4401));
        let out = h.feed(Input::RefreshFailed);
        assert!(out.contains(&Command::GoToLogin));
        assert_eq!(
            settled(&out),
            [(MutationId(1), Err(MutationError::SessionEnded))]
        );
        assert!(h.machine.store().is_empty());
        assert!(h.machine.outbox().is_empty());
        assert_eq!(h.state(), ConnectionState::Closed);
    }

    #[test]
    fn the_token_is_refreshed_a_minute_early_and_sent_in_band() {
        let mut h = Harness::new();
        let expires = h.now + 15 * 60_000;
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: expires,
        });
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        h.frame(conn, snapshot(subscribe_id(&out), 1, vec![]));

        // A timer firing early does nothing but restart.
        let out = h.at(expires - 120_000, Input::TimerFired(TimerKind::Refresh));
        assert!(!out.contains(&Command::RefreshToken));
        assert_eq!(timer(&out, TimerKind::Refresh), Some(60_000));
        let out = h.at(expires - 60_000, Input::TimerFired(TimerKind::Refresh));
        assert!(out.contains(&Command::RefreshToken));
        assert!(
            timer(&out, TimerKind::Refresh).is_none(),
            "one refresh at a time"
        );

        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: expires + 15 * 60_000,
        });
        let [ClientFrame::Auth { id, token }] = &sent(&out)[..] else {
            panic!("a refreshed token goes in-band: {out:?}");
        };
        assert_eq!(token, "token-2");
        assert!(opened(&out).is_none());
        assert_eq!(timer(&out, TimerKind::Refresh), Some(15 * 60_000));
        // Its auth_ok does not resubscribe, and answers the request.
        let out = h.frame(conn, auth_ok(*id));
        assert!(sent(&out).is_empty());
        assert_eq!(h.state(), ConnectionState::Live);
        assert_eq!(h.machine.diagnostics().pending_requests, 0);
    }

    #[test]
    fn a_short_lived_token_is_refreshed_halfway_through_its_life_not_at_once() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + 4_000,
        });
        assert_eq!(timer(&out, TimerKind::Refresh), Some(2_000));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        assert!(!out.contains(&Command::RefreshToken));
        let refreshed_at = h.now + 2_000;
        let out = h.at(refreshed_at, Input::TimerFired(TimerKind::Refresh));
        assert!(out.contains(&Command::RefreshToken));
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: refreshed_at + 4_000,
        });
        assert_eq!(timer(&out, TimerKind::Refresh), Some(2_000));
    }

    /// A scheduled refresh with no answer (a moment offline) is asked for again 10 s
    /// later, quietly, until one answers: the token is new before it runs out.
    #[test]
    fn a_scheduled_refresh_with_no_answer_is_asked_for_again() {
        let mut h = Harness::new();
        h.live(1);
        let at = h.now + HOUR - 60_000;
        h.at(at, Input::TimerFired(TimerKind::Refresh));
        for _ in 0..2 {
            let out = h.feed(Input::RefreshUnavailable);
            assert!(problems(&out).is_empty(), "no alert: {out:?}");
            assert_eq!(timer(&out, TimerKind::Refresh), Some(REFRESH_RETRY_MS));
            let out = h.at(
                h.now + REFRESH_RETRY_MS,
                Input::TimerFired(TimerKind::Refresh),
            );
            assert!(out.contains(&Command::RefreshToken), "{out:?}");
        }
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        assert_eq!(timer(&out, TimerKind::Refresh), Some(HOUR - 60_000));
        assert_eq!(h.state(), ConnectionState::Live);
    }

    #[test]
    fn a_failed_scheduled_refresh_is_reported_and_not_retried_in_a_loop() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let at = h.now + HOUR - 60_000;
        h.at(at, Input::TimerFired(TimerKind::Refresh));
        let out = h.feed(Input::RefreshFailed);
        assert_eq!(problems(&out), [Problem::RefreshFailed]);
        assert_eq!(timer(&out, TimerKind::Refresh), None);
        assert_eq!(h.state(), ConnectionState::Live);
        // The token then expires: the server closes 4401 and one refresh is still tried.
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken));
    }

    #[test]
    fn a_token_refreshed_during_auth_is_sent_after_auth_ok() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + 2 * HOUR,
        });
        assert!(sent(&out).is_empty(), "auth is still out");
        let out = h.frame(conn, auth_ok(1));
        let frames = sent(&out);
        assert!(matches!(&frames[0], ClientFrame::Auth { token, .. } if token == "token-2"));
        assert!(matches!(frames[1], ClientFrame::Subscribe { .. }));
    }

    #[test]
    fn sign_out_closes_normally_and_forgets_everything() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        h.feed(Input::Mutate(set_done(1)));
        let out = h.feed(Input::SignOut);
        assert_eq!(closes(&out), [CloseCode::Normal]);
        assert_eq!(
            settled(&out),
            [(MutationId(1), Err(MutationError::SessionEnded))]
        );
        // Nothing of the person's stays on the board.
        assert_eq!(rows(&out), [RowUpdate::Reset(Vec::new())]);
        for kind in [
            TimerKind::Heartbeat,
            TimerKind::Requests,
            TimerKind::Refresh,
        ] {
            assert!(out.contains(&Command::CancelTimer(kind)), "{kind:?}");
        }
        assert_eq!(h.state(), ConnectionState::Closed);
        assert!(h.machine.store().is_empty());
        assert!(h.feed(closed(conn, 1000)).is_empty());
        // A later sign-in starts from scratch: no since, and no close or round trip of
        // the last session in its status.
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let diagnostics = h.machine.diagnostics();
        assert_eq!(
            (diagnostics.last_close, diagnostics.last_rtt_ms),
            (None, None)
        );
        let conn = h.open(&out);
        assert_eq!(since_of(&h.frame(conn, auth_ok(1))), None);
    }
}
