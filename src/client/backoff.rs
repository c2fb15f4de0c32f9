//! Reconnect delays: exponential backoff with full jitter (contract, section 2), held to
//! 4 s while nothing answers at all.
//!
//! Full jitter (a uniform delay in `[0, ceiling]`) spreads the reconnects of many
//! clients dropped at once, e.g. by a server restart, instead of having them all knock at
//! the same instants. The random number comes from the shell, so this stays testable.
//!
//! The contract's ceiling doubles to 30 s whatever failed, so after a restart the last
//! clients came back long after the server did (up to 30 s; see the `storm` benchmark).
//! A socket that never opened (refused, no answer in time) only says the server is away,
//! so its ceiling stops at [`UNANSWERED_CAP_MS`]: whatever the outage, every client tries
//! again within 4 s of the server's return. At that cap the delay is drawn from the
//! upper half, `[2, 4]` s: a third fewer tries against an absent server than full jitter
//! would make, and the full-jitter steps before it have spread the clients already. A
//! socket the server opened and then closed (it chose to: 1011, 4408, a crash after
//! accepting) still grows to 30 s, and 4429 still waits the longest.

/// The first ceiling: 0.5 s.
pub const BASE_MS: u64 = 500;
/// The ceiling never grows past 30 s: the longest backoff.
pub const CAP_MS: u64 = 30_000;
/// The ceiling while sockets fail without the server answering: the longest a client
/// can take to notice the server is back, leaving a second of a 5 s target for the
/// handshake, `auth` and `subscribe`.
pub const UNANSWERED_CAP_MS: u64 = 4_000;
/// A connection live this long counts as healthy: the next drop starts from `BASE_MS`
/// again. Ten seconds is longer than a server that accepts and then kills every socket
/// needs, so such a server keeps getting slower retries, and short enough that a normal
/// session is always past it.
pub const STABLE_MS: u64 = 10_000;

/// How many reconnects in a row failed, and how long the next one waits. The two are
/// kept apart: after 4429 the wait jumps to the longest while the count, which people
/// read in the status ("attempt 3"), goes up by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    attempt: u32,
    exponent: u32,
    /// The socket being tried opened: if it fails, the server chose that.
    answered: bool,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reconnects in a row since the last stable connection.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A new socket is being tried: nothing has answered it yet.
    pub fn note_connecting(&mut self) {
        self.answered = false;
    }

    /// The socket opened: the server is there, and if it closes the socket now the full
    /// backoff applies.
    pub fn note_opened(&mut self) {
        self.answered = true;
    }

    /// The upper bound of the next delay: `min(CAP_MS, BASE_MS * 2^exponent)`, where the
    /// exponent counts the failures (or jumps to the cap after 4429), and no more than
    /// `UNANSWERED_CAP_MS` when the socket never opened.
    pub fn ceiling_ms(&self) -> u64 {
        if self.answered {
            self.grown_ms()
        } else {
            self.grown_ms().min(UNANSWERED_CAP_MS)
        }
    }

    /// `min(CAP_MS, BASE_MS * 2^exponent)`: the ceiling had the server answered.
    fn grown_ms(&self) -> u64 {
        let factor = 1u64.checked_shl(self.exponent).unwrap_or(u64::MAX);
        BASE_MS.saturating_mul(factor).min(CAP_MS)
    }

    /// The next delay, uniform in `[0, ceiling]` for `random` uniform in `[0, 1)` (e.g.
    /// `Math.random()`), or in `[ceiling / 2, ceiling]` once `UNANSWERED_CAP_MS` holds the
    /// ceiling back; out-of-range or NaN randoms are clamped rather than trusted.
    pub fn next_delay_ms(&mut self, random: f64) -> u64 {
        let ceiling = self.ceiling_ms();
        let floor = if ceiling < self.grown_ms() {
            ceiling / 2
        } else {
            0
        };
        self.attempt = self.attempt.saturating_add(1);
        self.exponent = self.exponent.saturating_add(1);
        let unit = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // `span + 1` buckets so that both ends of the closed range can be drawn.
        let span = ceiling - floor;
        floor + ((unit * (span + 1) as f64) as u64).min(span)
    }

    /// The wait after 4429 (too many connections or requests): the longest backoff in
    /// full, no jitter, since the server asked us to slow down. Later retries stay at the
    /// capped ceiling until a stable connection resets them.
    pub fn longest_ms(&mut self) -> u64 {
        while self.grown_ms() < CAP_MS {
            self.exponent += 1;
        }
        self.attempt = self.attempt.saturating_add(1);
        CAP_MS
    }

    /// Called when a connection closes: one that stayed live for `STABLE_MS` or more
    /// proves the server fine, so the count starts over.
    pub fn note_live_for(&mut self, live_ms: u64) {
        if live_ms >= STABLE_MS {
            self.attempt = 0;
            self.exponent = 0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;

    /// The ceilings of ten failures in a row, each socket opened (`answered`) or not.
    fn ceilings(answered: bool) -> Vec<u64> {
        let mut backoff = Backoff::new();
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            backoff.note_connecting();
            if answered {
                backoff.note_opened();
            }
            ceilings.push(backoff.ceiling_ms());
            backoff.next_delay_ms(0.0);
        }
        ceilings
    }

    #[test]
    fn ceilings_double_from_half_a_second_to_thirty_when_the_server_closes() {
        assert_eq!(
            ceilings(true),
            [
                500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000
            ]
        );
    }

    #[test]
    fn ceilings_stop_at_four_seconds_while_nothing_answers() {
        assert_eq!(
            ceilings(false),
            [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]
        );
    }

    #[test]
    fn held_at_the_unanswered_cap_the_delay_is_its_upper_half() {
        let mut backoff = Backoff {
            attempt: 4,
            exponent: 4,
            answered: false,
        };
        assert_eq!(backoff.clone().next_delay_ms(0.0), 2_000);
        assert_eq!(backoff.clone().next_delay_ms(0.5), 3_000);
        assert_eq!(backoff.next_delay_ms(0.999_999_9), 4_000);
        // At exactly 4 s the ceiling is the doubling's own: full jitter still.
        let mut backoff = Backoff {
            attempt: 3,
            exponent: 3,
            answered: false,
        };
        assert_eq!(backoff.next_delay_ms(0.0), 0);
    }

    #[test]
    fn a_server_that_answers_again_gets_the_grown_ceiling_at_once() {
        let mut backoff = Backoff::new();
        for _ in 0..6 {
            backoff.note_connecting();
            backoff.next_delay_ms(0.5);
        }
        assert_eq!(backoff.ceiling_ms(), UNANSWERED_CAP_MS);
        // It opened the socket and closed it: slow down as the contract says.
        backoff.note_connecting();
        backoff.note_opened();
        assert_eq!(backoff.ceiling_ms(), CAP_MS);
        assert_eq!(backoff.next_delay_ms(0.0), 0, "full jitter, from zero");
    }

    #[test]
    fn unlimited_attempts_never_overflow() {
        for answered in [false, true] {
            let mut backoff = Backoff {
                attempt: u32::MAX - 1,
                exponent: u32::MAX - 1,
                answered,
            };
            for _ in 0..5 {
                assert!(backoff.next_delay_ms(0.999_999) <= CAP_MS);
            }
            assert_eq!((backoff.attempt, backoff.exponent), (u32::MAX, u32::MAX));
            assert!(backoff.ceiling_ms() <= CAP_MS);
        }
    }

    #[test]
    fn delays_stay_within_zero_and_the_ceiling() {
        for exponent in 0..40 {
            for answered in [false, true] {
                for random in [
                    0.0,
                    0.25,
                    0.5,
                    0.999_999_9,
                    -1.0,
                    7.0,
                    f64::NAN,
                    f64::INFINITY,
                ] {
                    let mut backoff = Backoff {
                        attempt: exponent,
                        exponent,
                        answered,
                    };
                    let ceiling = backoff.ceiling_ms();
                    let delay = backoff.next_delay_ms(random);
                    assert!(delay <= ceiling, "exponent {exponent} random {random}");
                }
            }
        }
        assert_eq!(Backoff::new().next_delay_ms(0.0), 0);
        assert_eq!(Backoff::new().next_delay_ms(0.999_999_9), 500);
        assert_eq!(Backoff::new().next_delay_ms(2.0), 500);
        assert_eq!(Backoff::new().next_delay_ms(f64::NAN), 0);
    }

    #[test]
    fn jitter_spreads_over_the_whole_range() {
        // A deterministic stand-in for `Math.random()`: an even grid over [0, 1).
        for (answered, low, high) in [(true, 0, CAP_MS), (false, 2_000, UNANSWERED_CAP_MS)] {
            let mut buckets = [0u32; 10];
            for i in 0..10_000 {
                let mut backoff = Backoff {
                    attempt: 6,
                    exponent: 6,
                    answered,
                };
                let delay = backoff.next_delay_ms(f64::from(i) / 10_000.0);
                buckets[((delay - low) * 10 / (high - low + 1)) as usize] += 1;
            }
            for count in buckets {
                assert!((900..=1100).contains(&count), "uneven spread: {buckets:?}");
            }
        }
    }

    #[test]
    fn too_many_waits_the_longest_and_stays_capped() {
        let mut backoff = Backoff::new();
        backoff.note_opened();
        assert_eq!(backoff.longest_ms(), CAP_MS);
        assert_eq!(backoff.ceiling_ms(), CAP_MS);
        // One attempt, as the status counts it, not the seven a 30 s ceiling takes.
        assert_eq!(backoff.attempt(), 1);
        assert_eq!(backoff.next_delay_ms(0.999_999_9), CAP_MS);
        assert_eq!(backoff.attempt(), 2);
        // 4429 comes on an open socket; without one the wait is the same, and no loop.
        assert_eq!(Backoff::new().longest_ms(), CAP_MS);
    }

    #[test]
    fn a_stable_connection_resets_and_a_short_one_does_not() {
        let mut backoff = Backoff::new();
        for _ in 0..4 {
            backoff.next_delay_ms(0.5);
        }
        backoff.note_opened();
        backoff.note_live_for(STABLE_MS - 1);
        assert_eq!(backoff.attempt, 4);
        backoff.note_live_for(STABLE_MS);
        assert_eq!((backoff.attempt(), backoff.exponent), (0, 0));
        assert_eq!(backoff.ceiling_ms(), BASE_MS);
    }
}
