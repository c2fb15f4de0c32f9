//! Time as the wire shows it (`protocol::time`): RFC 3339 UTC with millisecond
//! precision, fixed width.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::time::format_epoch_ms;

/// The last time `now_rfc3339` gave, in milliseconds.
static LAST_STAMP_MS: AtomicU64 = AtomicU64::new(0);

/// Now, as stored in tasks and sent on the wire: a millisecond after the last one given
/// when the clock has not moved on (or went back). Apps list tasks by `created_at`, so
/// two tasks created in the same millisecond would otherwise show in the order of their
/// random ids rather than the order they were made in.
pub fn now_rfc3339() -> String {
    let now = unix_now_ms();
    let previous = LAST_STAMP_MS
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(now);
    format_epoch_ms(now.max(previous.saturating_add(1)))
}

/// Seconds since the Unix epoch, as JWT `iat`/`exp` and session expiry use them.
pub fn unix_now() -> i64 {
    i64::try_from(unix_now_ms() / 1000).unwrap_or(i64::MAX)
}

/// A Unix time as RFC 3339; times before 1970 (never produced here) clamp to the epoch.
pub fn unix_to_rfc3339(secs: i64) -> String {
    format_epoch_ms(u64::try_from(secs).unwrap_or(0).saturating_mul(1000))
}

/// A clock set before 1970 reads as the epoch.
fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fixed_width_utc() {
        assert_eq!(unix_to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(unix_to_rfc3339(1_795_388_400), "2026-11-22T23:00:00.000Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), "1970-01-01T00:00:00.000Z".len());
        assert!(protocol::time::parse_rfc3339(&now).is_some());
    }

    #[test]
    fn stamps_given_in_a_row_are_in_order_and_never_equal() {
        let stamps: Vec<String> = (0..1_000).map(|_| now_rfc3339()).collect();
        assert!(
            stamps.windows(2).all(|pair| pair[0] < pair[1]),
            "{stamps:?}"
        );
    }
}
