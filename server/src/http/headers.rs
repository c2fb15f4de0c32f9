//! Security headers. Every response says `nosniff`, may not be framed, and sends no
//! referrer; the app's pages carry a Content-Security-Policy that allows exactly what the
//! app and its release bundle need, so that a title ever rendered as markup by mistake still
//! could not run a script.
//!
//! The app's policy:
//! - `script-src 'self' 'wasm-unsafe-eval' 'sha256-…'`: the app's own JS files; compiling
//!   its WebAssembly; and the loader, the one inline script of `index.html`, by the
//!   hash of its text (no `unsafe-inline`). The hashes are read from `index.html` and read
//!   again when the file changes, so a rebuild needs no restart.
//! - `style-src 'self'`, `img-src 'self'`, `font-src 'self'`: the stylesheet; the app sets
//!   no inline styles.
//! - `connect-src 'self'`: the API and the socket, same origin (CSP 3 matches `ws:` and
//!   `wss:` of the page's own host with `'self'`).
//! - `object-src 'none'`, `base-uri 'none'`, `form-action 'self'`, `frame-ancestors
//!   'none'`; everything else `default-src 'self'`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// What the API and the socket answer with: they serve no content to run or show.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Headers for every response.
pub async fn everywhere(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_POLICY),
        );
    }
    response
}

/// The app's policy, kept for the `index.html` it was made from.
#[derive(Debug, Clone)]
pub struct AppPolicy {
    index: PathBuf,
    made_for: Arc<Mutex<Option<(SystemTime, HeaderValue)>>>,
}

impl AppPolicy {
    pub fn new(index: PathBuf) -> Self {
        Self {
            index,
            made_for: Arc::new(Mutex::new(None)),
        }
    }

    /// The policy for the current `index.html` (re-read only when its time changes).
    fn header(&self) -> HeaderValue {
        let modified = std::fs::metadata(&self.index).and_then(|meta| meta.modified());
        let mut made_for = self
            .made_for
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let (Ok(modified), Some((when, header))) = (&modified, made_for.as_ref())
            && when == modified
        {
            return header.clone();
        }
        let html = std::fs::read_to_string(&self.index).unwrap_or_default();
        let header = HeaderValue::from_str(&app_policy(&html))
            .unwrap_or_else(|_| HeaderValue::from_static(API_POLICY));
        if let Ok(modified) = modified {
            *made_for = Some((modified, header.clone()));
        }
        header
    }
}

/// The app's headers on every file it serves (pages, scripts, the wasm).
pub async fn app(State(policy): State<AppPolicy>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(CONTENT_SECURITY_POLICY, policy.header());
    response
}

/// The app's Content-Security-Policy for a page whose inline scripts are those of `html`.
pub fn app_policy(html: &str) -> String {
    // Browsers hash a script's text after turning CRLF (and lone CR) into LF.
    let hashes: String = inline_scripts(html)
        .map(|script| script.replace("\r\n", "\n").replace('\r', "\n"))
        .map(|script| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(script))))
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of each `<script>` without a `src`, exactly as written (a script's content is
/// raw text in HTML: what the browser hashes is these bytes).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let start = find_ascii_case(rest, "<script")?;
            let after_name = &rest[start + "<script".len()..];
            let tag_end = after_name.find('>')?;
            let attributes = &after_name[..tag_end];
            let body = &after_name[tag_end + 1..];
            let body_end = find_ascii_case(body, "</script")?;
            rest = &body[body_end..];
            if !has_src(attributes) {
                return Some(&body[..body_end]);
            }
        }
    })
}

fn has_src(attributes: &str) -> bool {
    attributes
        .split(|c: char| c.is_ascii_whitespace())
        .any(|attribute| {
            let name = attribute.split('=').next().unwrap_or_default();
            name.eq_ignore_ascii_case("src")
        })
}

fn find_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_nothing_else_inline() {
        let html = "<head><script type=\"module\" src=\"/a.js\"></script>\
                    <SCRIPT type=\"module\">import init from '/a.js';\nawait init();</SCRIPT>\
                    <script>x()</script></head>";
        let scripts: Vec<&str> = inline_scripts(html).collect();
        assert_eq!(scripts, ["import init from '/a.js';\nawait init();", "x()"]);
        let policy = app_policy(html);
        // echo -n "x()" | openssl dgst -sha256 -binary | base64
        assert!(
            policy.contains("'sha256-D6IGS8VMvCoyaR/l0h9tERrBTATY01CoPS7l6xDv0kI='"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn line_ends_are_hashed_as_the_browser_reads_them() {
        assert_eq!(
            app_policy("<script>a;\r\nb;</script>"),
            app_policy("<script>a;\nb;</script>")
        );
    }

    #[test]
    fn a_page_without_scripts_allows_no_inline_script() {
        assert!(!app_policy("<p>no scripts</p>").contains("sha256"));
        assert_eq!(inline_scripts("<script>never closed").count(), 0);
    }
}
