//! Security headers on the app's pages and files, and on the API.

use reqwest::header::{CONTENT_SECURITY_POLICY, HeaderMap};
use sha2::{Digest, Sha256};

use crate::support::TestServer;

/// trunk's output has one inline script, the loader.
const LOADER: &str =
    "import init from '/taskwire-1.js';await init({module_or_path:'/taskwire-1_bg.wasm'});";

fn assert_page_headers(headers: &HeaderMap, loader_hash: &str, what: &str) {
    let policy = headers
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    for directive in [
        "default-src 'self'",
        "'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "connect-src 'self'",
        "style-src 'self'",
    ] {
        assert!(
            policy.contains(directive),
            "{what}: {directive} in {policy}"
        );
    }
    assert!(
        policy.contains(&format!("'sha256-{loader_hash}'")),
        "{what}: the loader's hash in {policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{what}: {policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
}

#[tokio::test]
async fn pages_client_routes_and_missing_files_carry_the_security_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dist = dir.path().join("app");
    std::fs::create_dir_all(&dist).expect("dist");
    let page = |loader: &str| {
        format!(
            "<!DOCTYPE html><html><head><link rel=\"modulepreload\" href=\"/taskwire-1.js\">\
             <script type=\"module\">{loader}</script></head><body></body></html>"
        )
    };
    std::fs::write(dist.join("index.html"), page(LOADER)).expect("index.html");
    let server = TestServer::start_with(|args| args.static_dir = dist.clone()).await;
    let hash = |script: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script))
    };
    let client = server.client();
    for path in ["/", "/login", "/b/123/missing.js"] {
        let response = client.get(path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_page_headers(response.headers(), &hash(LOADER), path);
    }

    // A rebuild changes the loader: the policy follows without a restart.
    let rebuilt = LOADER.replace("-1", "-2");
    // File times may have a coarse grain: make sure the new one differs.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    std::fs::write(dist.join("index.html"), page(&rebuilt)).expect("index.html");
    let file = std::fs::File::options()
        .write(true)
        .open(dist.join("index.html"))
        .expect("open");
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(1))
        .expect("mtime");
    let response = client.get("/", None).await;
    assert_page_headers(response.headers(), &hash(&rebuilt), "after a rebuild");

    // The API serves nothing to run or frame.
    let api = client.get("/api/me", None).await;
    assert_eq!(api.status(), 401);
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        api.headers()[CONTENT_SECURITY_POLICY],
        "default-src 'none'; frame-ancestors 'none'"
    );
}
