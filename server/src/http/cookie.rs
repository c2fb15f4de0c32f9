//! The refresh cookie: HttpOnly (scripts never see it), SameSite=Strict and Path=/api
//! (sent only to the API, never from other sites), Secure whenever the request came over
//! https (directly or through a proxy that says so).

use std::time::Duration;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

const NAME: &str = "taskwire_refresh";

/// The refresh token the request carries, if any.
pub fn refresh_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Sets the cookie to `token` for `lifetime`.
pub fn set(headers: &HeaderMap, token: &str, lifetime: Duration) -> (HeaderName, HeaderValue) {
    header(headers, token, lifetime.as_secs())
}

/// Removes the cookie.
pub fn clear(headers: &HeaderMap) -> (HeaderName, HeaderValue) {
    header(headers, "", 0)
}

fn header(request: &HeaderMap, value: &str, max_age: u64) -> (HeaderName, HeaderValue) {
    let secure = if is_https(request) { "; Secure" } else { "" };
    let cookie =
        format!("{NAME}={value}; HttpOnly; SameSite=Strict; Path=/api; Max-Age={max_age}{secure}");
    // Refresh tokens are URL-safe base64, so the value is always a valid header.
    let value = HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""));
    (SET_COOKIE, value)
}

fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
        || headers
            .get("forwarded")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().contains("proto=https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; taskwire_refresh=abc; b=2"),
        );
        assert_eq!(refresh_token(&headers), Some("abc"));
        assert_eq!(refresh_token(&HeaderMap::new()), None);
    }

    #[test]
    fn secure_only_over_https() {
        let plain = set(&HeaderMap::new(), "t", Duration::from_secs(60)).1;
        assert_eq!(
            plain,
            "taskwire_refresh=t; HttpOnly; SameSite=Strict; Path=/api; Max-Age=60"
        );
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(
            clear(&proxied)
                .1
                .to_str()
                .is_ok_and(|v| v.ends_with("Max-Age=0; Secure"))
        );
    }
}
