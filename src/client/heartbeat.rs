//! Liveness of one authenticated socket (contract, section 2, "Heartbeat").
//!
//! Everything is judged from *when frames arrived*, never from when a timer fired:
//! background tabs throttle timers to about once a minute, so a timer may fire long after
//! its time. A late timer that finds a recent frame only reschedules; a socket is declared
//! dead only when a ping has been out for [`PONG_TIMEOUT_MS`] with nothing at all
//! arriving since it was sent.

pub use protocol::DEFAULT_HEARTBEAT_MS;
/// How long after a ping a silent socket is declared dead.
pub const PONG_TIMEOUT_MS: u64 = 10_000;
/// A floor for the server's `heartbeat_ms`, so a bad value cannot make a ping storm.
pub const MIN_HEARTBEAT_MS: u64 = 1_000;

/// What a heartbeat timer should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Not due yet (a frame arrived recently, or the ping is young): reschedule only.
    Wait,
    /// Idle for the whole interval: send a ping.
    Ping,
    /// A ping went unanswered and nothing else arrived within the timeout.
    Dead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    interval_ms: u64,
    last_frame_ms: u64,
    /// When the unanswered ping was sent; cleared by *any* frame, since any frame proves
    /// the socket alive.
    awaiting_since_ms: Option<u64>,
    /// The last ping's id and send time, kept apart from liveness to measure the RTT.
    last_ping: Option<(u64, u64)>,
}

impl Heartbeat {
    /// Starts at `auth_ok`, which is itself the frame that just arrived.
    pub fn new(heartbeat_ms: u64, now_ms: u64) -> Self {
        let interval_ms = if heartbeat_ms == 0 {
            DEFAULT_HEARTBEAT_MS
        } else {
            heartbeat_ms.max(MIN_HEARTBEAT_MS)
        };
        Self {
            interval_ms,
            last_frame_ms: now_ms,
            awaiting_since_ms: None,
            last_ping: None,
        }
    }

    /// Every inbound frame, whatever it is.
    pub fn frame_arrived(&mut self, now_ms: u64) {
        self.last_frame_ms = self.last_frame_ms.max(now_ms);
        self.awaiting_since_ms = None;
    }

    /// A `pong`: the round-trip time when it answers the last ping.
    pub fn pong(&mut self, id: u64, now_ms: u64) -> Option<u64> {
        match self.last_ping {
            Some((ping_id, sent_ms)) if ping_id == id => {
                self.last_ping = None;
                Some(now_ms.saturating_sub(sent_ms))
            }
            _ => None,
        }
    }

    /// Records a ping the caller is sending now with `id`.
    pub fn ping_sent(&mut self, id: u64, now_ms: u64) {
        self.awaiting_since_ms = Some(now_ms);
        self.last_ping = Some((id, now_ms));
    }

    /// The unanswered ping's id.
    pub fn unanswered(&self) -> Option<u64> {
        self.awaiting_since_ms?;
        self.last_ping.map(|(id, _)| id)
    }

    /// An answer known to be on its way ahead of the pong (a big snapshot: the server
    /// answers in order): the unanswered ping's timeout starts again, as if it were sent
    /// now. What waits for that answer has a deadline of its own.
    pub fn keep_waiting(&mut self, now_ms: u64) {
        if self.awaiting_since_ms.is_some() {
            self.awaiting_since_ms = Some(now_ms);
        }
    }

    /// A visible-again tab or an `online` event: ping at once, unless a ping is already
    /// out (its timeout is running and a second one would prove nothing more).
    pub fn should_probe(&self) -> bool {
        self.awaiting_since_ms.is_none()
    }

    /// When the heartbeat timer should next fire.
    pub fn deadline_ms(&self) -> u64 {
        match self.awaiting_since_ms {
            Some(sent) => sent.saturating_add(PONG_TIMEOUT_MS),
            None => self.last_frame_ms.saturating_add(self.interval_ms),
        }
    }

    /// The heartbeat timer fired (possibly very late): decide from timestamps alone.
    pub fn on_timer(&self, now_ms: u64) -> Beat {
        if now_ms < self.deadline_ms() {
            Beat::Wait
        } else if self.awaiting_since_ms.is_some() {
            Beat::Dead
        } else {
            Beat::Ping
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;

    #[test]
    fn pings_after_the_interval_of_silence_then_dies_ten_seconds_later() {
        let mut hb = Heartbeat::new(25_000, 0);
        assert_eq!(hb.deadline_ms(), 25_000);
        assert_eq!(hb.on_timer(24_999), Beat::Wait);
        assert_eq!(hb.on_timer(25_000), Beat::Ping);
        hb.ping_sent(7, 25_000);
        assert_eq!(hb.deadline_ms(), 35_000);
        assert_eq!(hb.on_timer(34_999), Beat::Wait);
        assert_eq!(hb.on_timer(35_000), Beat::Dead);
    }

    #[test]
    fn any_frame_postpones_the_ping_and_answers_an_outstanding_one() {
        let mut hb = Heartbeat::new(25_000, 0);
        hb.frame_arrived(20_000);
        assert_eq!(hb.on_timer(25_000), Beat::Wait);
        assert_eq!(hb.deadline_ms(), 45_000);
        hb.ping_sent(1, 45_000);
        // An event, not the pong, arrives: the socket is alive all the same.
        hb.frame_arrived(50_000);
        assert_eq!(hb.on_timer(55_000), Beat::Wait);
        assert_eq!(hb.deadline_ms(), 75_000);
    }

    #[test]
    fn a_throttled_timer_firing_a_minute_late_never_drops_a_healthy_socket() {
        let mut hb = Heartbeat::new(25_000, 0);
        hb.ping_sent(1, 25_000);
        hb.frame_arrived(25_050);
        // The timer meant for 35 s fires at 95 s; a frame arrived a second ago.
        hb.frame_arrived(94_000);
        assert_eq!(hb.on_timer(95_000), Beat::Wait);
        // And with no ping out, a very late timer only pings: it never declares death.
        let hb = Heartbeat::new(25_000, 0);
        assert_eq!(hb.on_timer(600_000), Beat::Ping);
    }

    #[test]
    fn a_late_timer_still_detects_a_dead_socket() {
        let mut hb = Heartbeat::new(25_000, 0);
        hb.ping_sent(1, 25_000);
        assert_eq!(hb.on_timer(95_000), Beat::Dead);
    }

    #[test]
    fn rtt_is_measured_from_the_matching_pong_only() {
        let mut hb = Heartbeat::new(25_000, 0);
        hb.ping_sent(4, 1_000);
        assert_eq!(hb.pong(3, 1_020), None);
        assert_eq!(hb.pong(4, 1_042), Some(42));
        assert_eq!(hb.pong(4, 1_050), None, "a duplicate pong measures nothing");
    }

    #[test]
    fn probes_only_when_no_ping_is_out() {
        let mut hb = Heartbeat::new(25_000, 0);
        assert!(hb.should_probe());
        hb.ping_sent(1, 5);
        assert!(!hb.should_probe());
        hb.frame_arrived(6);
        assert!(hb.should_probe());
    }

    #[test]
    fn bad_intervals_are_replaced() {
        assert_eq!(Heartbeat::new(0, 0).interval_ms, DEFAULT_HEARTBEAT_MS);
        assert_eq!(Heartbeat::new(3, 0).interval_ms, MIN_HEARTBEAT_MS);
        assert_eq!(Heartbeat::new(40_000, 0).interval_ms, 40_000);
    }

    #[test]
    fn a_clock_stepping_back_cannot_panic_or_kill() {
        let mut hb = Heartbeat::new(25_000, 100_000);
        hb.frame_arrived(50_000);
        assert_eq!(hb.deadline_ms(), 125_000);
        assert_eq!(hb.on_timer(60_000), Beat::Wait);
        assert_eq!(hb.pong(9, 0), None);
        hb.ping_sent(9, 200_000);
        assert_eq!(hb.pong(9, 100), Some(0));
    }
}
