//! The wire's timestamps, RFC 3339, for both sides and without a date library (the wasm
//! bundle stays small).
//!
//! The server writes them one way, fixed width in UTC with milliseconds
//! (`format_epoch_ms`), so they line up in logs and order as text. The app orders tasks
//! by `created_at` and so reads them into an instant (`parse_rfc3339`) that orders
//! correctly whatever their fractional digits or offset; an optimistic create has no
//! server time yet, so one is made from the app's clock.

/// An instant as whole seconds since 1970 plus nanoseconds: orders correctly whatever the
/// fractional precision or offset of the text it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    pub secs: i64,
    pub nanos: u32,
}

impl Instant {
    /// Sorts after every real time: where a timestamp the server sent cannot be read.
    pub const LAST: Self = Self {
        secs: i64::MAX,
        nanos: 0,
    };
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<Instant> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 is a leap second: kept as the last second of the minute.
    if second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: u32 = 0;
    if let Some((b'.', fraction)) = rest.split_first() {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, c) in fraction[..len].iter().enumerate() {
            if i < 9 {
                nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
            }
        }
        rest = &fraction[len..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_secs;
    Some(Instant { secs, nanos })
}

/// Writes epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form the server uses.
pub fn format_epoch_ms(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    let millis = ms % 1000;
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

// Howard Hinnant's days-from-civil and its inverse: exact for the proleptic Gregorian
// calendar, no tables.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;

    fn from_epoch_ms(ms: u64) -> Instant {
        Instant {
            secs: (ms / 1000) as i64,
            nanos: (ms % 1000) as u32 * 1_000_000,
        }
    }

    #[test]
    fn parses_the_forms_the_server_may_send() {
        let whole = parse_rfc3339("2026-11-22T23:00:00Z").unwrap();
        assert_eq!(whole.secs, 1_795_388_400);
        assert_eq!(whole.nanos, 0);
        let fraction = parse_rfc3339("2026-11-22T23:00:00.5Z").unwrap();
        assert_eq!(fraction.nanos, 500_000_000);
        assert!(
            whole < fraction,
            "the instant orders what the string would not"
        );
        assert!("2026-11-22T23:00:00Z" > "2026-11-22T23:00:00.5Z");
        let offset = parse_rfc3339("2026-11-23T00:30:00+01:30").unwrap();
        assert_eq!(offset, whole);
        let nanos = parse_rfc3339("1970-01-01T00:00:00.123456789123Z").unwrap();
        assert_eq!(
            nanos,
            Instant {
                secs: 0,
                nanos: 123_456_789
            }
        );
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for bad in [
            "",
            "..",
            "2026-11-22",
            "2026-13-22T23:00:00Z",
            "2026-11-22T23:00:00",
            "2026-11-22T23:00:00.Z",
            "2026-11-22T23:00:00+0100",
            "20x6-11-22T23:00:00Z",
            "2026-11-22T23:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_and_reads_back() {
        for ms in [0, 951_782_400_123, 1_795_388_400_000, 4_102_444_799_999] {
            let text = format_epoch_ms(ms);
            assert_eq!(parse_rfc3339(&text), Some(from_epoch_ms(ms)), "{text}");
        }
        assert_eq!(format_epoch_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }
}
