//! How long an access token lives, read from the token itself.
//!
//! The session's `expires_at` is a time on the server's clock, and the browser's clock
//! may be minutes off. A refresh timed from it fires too late (every socket closed with
//! 4401 once a token's life) or, with the browser's clock ahead, at once and again with
//! each new token. The token's own claims give its life as a duration, `exp - iat`,
//! which is the same on every clock; the app counts it from when the token arrived.

use serde::Deserialize;

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
}

/// The life in ms of a token whose JWT payload (decoded JSON) is `payload`, or `None`
/// when it does not say (the caller then falls back on `expires_at`).
pub fn lifetime_ms(payload: &str) -> Option<u64> {
    let claims: Claims = serde_json::from_str(payload).ok()?;
    let seconds = u64::try_from(claims.exp.checked_sub(claims.iat)?).ok()?;
    seconds.checked_mul(1000)
}

/// The middle part of a JWT (`header.payload.signature`), as standard, padded base64
/// for the browser's `atob`.
pub fn payload_base64(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let mut standard: String = payload
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    Some(standard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_life_is_exp_minus_iat_whatever_the_clock() {
        let payload = r#"{"sub":"u","sid":"s","iat":1800000000,"exp":1800000900,"jti":"j"}"#;
        assert_eq!(lifetime_ms(payload), Some(900_000));
    }

    #[test]
    fn claims_that_do_not_say_give_no_life() {
        for payload in [
            "",
            "not json",
            r#"{"exp":1800000900}"#,
            r#"{"iat":1800000900,"exp":1800000000}"#,
            r#"{"iat":"soon","exp":1800000900}"#,
        ] {
            assert_eq!(lifetime_ms(payload), None, "{payload:?}");
        }
    }

    #[test]
    fn the_payload_is_the_middle_part_made_standard_base64() {
        assert_eq!(payload_base64("h.eyJ-_w.s").as_deref(), Some("eyJ+/w=="));
        assert_eq!(payload_base64("h.abcd.s").as_deref(), Some("abcd"));
        assert_eq!(payload_base64("no-dots"), None);
        assert_eq!(payload_base64("a.b"), None);
        assert_eq!(payload_base64("a.b.c.d"), None);
    }
}
