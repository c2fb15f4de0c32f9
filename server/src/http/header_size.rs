//! A bound on a request's headers as a whole. hyper refuses headers that overflow its
//! read buffer (about 400 KiB), but only when they arrive in more than one read: a
//! request whose headers come in one read is parsed whatever its size, so the same
//! 500 KiB header was refused or served depending on how the kernel split it.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The most header bytes (names, values and their separators) a request may carry:
/// far above what the app sends (a token, a cookie, an origin), far below hyper's buffer.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Refuses a request whose headers are over [`MAX_HEADER_BYTES`] with 431 and no body,
/// as hyper does for the larger ones, before any handler runs.
pub async fn bounded(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
    }
    next.run(request).await
}
