//! How fast a socket's changes go out. The server takes a burst of frames from a socket
//! and a steady rate after it, and closes a socket past that with 4429 (200 and 50 a
//! second by default: `--socket-burst`, `--socket-rate`). Sent all at once on
//! reconnecting, a queue of hundreds of changes made offline was cut off there, and its
//! tail, sent again and cut off again, rolled back. The app keeps to half of each, which
//! leaves room for its pings and subscribes.

/// Changes that go at once before pacing starts: half the server's burst.
pub const BURST: u32 = 100;
/// After a burst, one change every this long: 25 a second, half the server's rate.
pub const EVERY_MS: u64 = 40;

/// A token bucket of [`BURST`] changes, refilled one every [`EVERY_MS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    available: u32,
    /// Where the refill counts from.
    refilled_at_ms: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            available: BURST,
            refilled_at_ms: 0,
        }
    }
}

impl Pace {
    /// Takes one change's place at `now`; false when the next must wait for
    /// [`Pace::next_at`].
    pub fn take(&mut self, now: u64) -> bool {
        self.refill(now);
        if self.available == 0 {
            return false;
        }
        self.available -= 1;
        true
    }

    /// When the next place comes free.
    pub fn next_at(&self) -> u64 {
        self.refilled_at_ms.saturating_add(EVERY_MS)
    }

    fn refill(&mut self, now: u64) {
        // The browser's clock went back: count from now, or the wait would last as long
        // as the jump.
        self.refilled_at_ms = self.refilled_at_ms.min(now);
        let earned = now.saturating_sub(self.refilled_at_ms) / EVERY_MS;
        let room = u64::from(BURST - self.available);
        if earned >= room {
            self.available = BURST;
            self.refilled_at_ms = now;
        } else {
            // Below `room`, so below `BURST`: it fits.
            self.available += earned as u32;
            self.refilled_at_ms += earned * EVERY_MS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_one_every_forty_ms_and_a_pause_fills_it_again() {
        let mut pace = Pace::default();
        let now = 1_700_000_000_000;
        assert!((0..BURST).all(|_| pace.take(now)));
        assert!(!pace.take(now));
        assert_eq!(pace.next_at(), now + EVERY_MS);
        assert!(!pace.take(now + EVERY_MS - 1));
        assert!(pace.take(now + EVERY_MS));
        assert!(!pace.take(now + EVERY_MS));
        // A second's wait earns 25, not more.
        let later = now + EVERY_MS + 1_000;
        assert_eq!((0..BURST).filter(|_| pace.take(later)).count(), 25);
        // A clock set back an hour delays nothing beyond the next 40 ms.
        let back = later - 3_600_000;
        assert!(!pace.take(back));
        assert_eq!(pace.next_at(), back + EVERY_MS);
        // A long pause fills the burst, and no more.
        let much_later = later + 60_000;
        assert_eq!(
            (0..2 * BURST).filter(|_| pace.take(much_later)).count(),
            BURST as usize
        );
    }
}
