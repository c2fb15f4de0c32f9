//! Reconnect delays: exponential backoff with full jitter (contract, section 2).
//!
//! Full jitter (a uniform delay in `[0, ceiling]`) spreads the reconnects of many
//! clients dropped at once, e.g. by a server restart, instead of having them all knock at
//! the same instants. The random number comes from the shell, so this stays testable.

/// The first ceiling: 0.5 s.
pub const BASE_MS: u64 = 500;
/// The ceiling never grows past 30 s: the longest backoff.
pub const CAP_MS: u64 = 30_000;
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
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reconnects in a row since the last stable connection.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The upper bound of the next delay: `min(CAP_MS, BASE_MS * 2^exponent)`, where the
    /// exponent counts the failures (or jumps to the cap after 4429).
    pub fn ceiling_ms(&self) -> u64 {
        let factor = 1u64.checked_shl(self.exponent).unwrap_or(u64::MAX);
        BASE_MS.saturating_mul(factor).min(CAP_MS)
    }

    /// The next delay, uniform in `[0, ceiling]` for `random` uniform in `[0, 1)` (e.g.
    /// `Math.random()`); out-of-range or NaN randoms are clamped rather than trusted.
    pub fn next_delay_ms(&mut self, random: f64) -> u64 {
        let ceiling = self.ceiling_ms();
        self.attempt = self.attempt.saturating_add(1);
        self.exponent = self.exponent.saturating_add(1);
        let unit = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // `ceiling + 1` buckets so that both ends of the closed range can be drawn.
        ((unit * (ceiling + 1) as f64) as u64).min(ceiling)
    }

    /// The wait after 4429 (too many connections or requests): the longest backoff in
    /// full, no jitter, since the server asked us to slow down. Later retries stay at the
    /// capped ceiling until a stable connection resets them.
    pub fn longest_ms(&mut self) -> u64 {
        while self.ceiling_ms() < CAP_MS {
            self.exponent += 1;
        }
        self.attempt = self.attempt.saturating_add(1);
        CAP_MS
    }

    /// Called when a connection closes: one that stayed live for `STABLE_MS` or more
    /// proves the server fine, so the count starts over.
    pub fn note_live_for(&mut self, live_ms: u64) {
        if live_ms >= STABLE_MS {
            *self = Self::default();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_half_a_second_to_thirty() {
        let mut backoff = Backoff::new();
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            ceilings.push(backoff.ceiling_ms());
            backoff.next_delay_ms(0.0);
        }
        assert_eq!(
            ceilings,
            [
                500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000
            ]
        );
    }

    #[test]
    fn unlimited_attempts_never_overflow() {
        let mut backoff = Backoff {
            attempt: u32::MAX - 1,
            exponent: u32::MAX - 1,
        };
        for _ in 0..5 {
            assert!(backoff.next_delay_ms(0.999_999) <= CAP_MS);
        }
        assert_eq!((backoff.attempt, backoff.exponent), (u32::MAX, u32::MAX));
        assert_eq!(backoff.ceiling_ms(), CAP_MS);
    }

    #[test]
    fn delays_stay_within_zero_and_the_ceiling() {
        for exponent in 0..40 {
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
                };
                let ceiling = backoff.ceiling_ms();
                let delay = backoff.next_delay_ms(random);
                assert!(delay <= ceiling, "exponent {exponent} random {random}");
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
        let mut buckets = [0u32; 10];
        for i in 0..10_000 {
            let mut backoff = Backoff {
                attempt: 6,
                exponent: 6,
            };
            let delay = backoff.next_delay_ms(f64::from(i) / 10_000.0);
            buckets[(delay * 10 / (CAP_MS + 1)) as usize] += 1;
        }
        for count in buckets {
            assert!((900..=1100).contains(&count), "uneven spread: {buckets:?}");
        }
    }

    #[test]
    fn too_many_waits_the_longest_and_stays_capped() {
        let mut backoff = Backoff::new();
        assert_eq!(backoff.longest_ms(), CAP_MS);
        assert_eq!(backoff.ceiling_ms(), CAP_MS);
        // One attempt, as the status counts it, not the seven a 30 s ceiling takes.
        assert_eq!(backoff.attempt(), 1);
        assert_eq!(backoff.next_delay_ms(0.999_999_9), CAP_MS);
        assert_eq!(backoff.attempt(), 2);
    }

    #[test]
    fn a_stable_connection_resets_and_a_short_one_does_not() {
        let mut backoff = Backoff::new();
        for _ in 0..4 {
            backoff.next_delay_ms(0.5);
        }
        backoff.note_live_for(STABLE_MS - 1);
        assert_eq!(backoff.attempt, 4);
        backoff.note_live_for(STABLE_MS);
        assert_eq!(backoff, Backoff::new());
        assert_eq!(backoff.ceiling_ms(), BASE_MS);
    }
}
