//! Time as the wire shows it: RFC 3339 UTC with millisecond precision, fixed width.

use time::OffsetDateTime;

/// Now, as stored in tasks and sent on the wire.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// Seconds since the Unix epoch, as JWT `iat`/`exp` and session expiry use them.
pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A Unix time as RFC 3339; out-of-range values (never produced here) clamp to the epoch.
pub fn unix_to_rfc3339(secs: i64) -> String {
    rfc3339(OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Written by hand rather than with `well_known::Rfc3339`, which trims trailing zeros of
/// the fraction and so gives times of varying width.
fn rfc3339(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fixed_width_utc() {
        assert_eq!(unix_to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(unix_to_rfc3339(1_795_388_400), "2026-11-22T23:00:00.000Z");
        let parsed = OffsetDateTime::parse(
            &now_rfc3339(),
            &time::format_description::well_known::Rfc3339,
        );
        assert!(parsed.is_ok());
    }
}
