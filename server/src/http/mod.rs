//! The HTTP side: the API under /api, the socket at /ws, /healthz, and the app's files.

mod account;
mod boards;
mod changes;
mod cookie;
mod extract;
mod header_size;
mod headers;
mod origin;
mod tasks;
mod to_end;

use std::path::Path;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use protocol::{ApiError, ErrorBody, ErrorCode};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use crate::config::MAX_BODY_BYTES;
use crate::error::AppError;
use crate::state::AppState;
use crate::ws;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/register", post(account::register))
        .route("/login", post(account::login))
        .route("/refresh", post(account::refresh))
        .route("/logout", post(account::logout))
        .route("/logout-all", post(account::logout_all))
        .route("/login-as", post(account::login_as))
        .route("/login-as/exit", post(account::exit_login_as))
        .route("/me", get(account::me))
        .route("/admin/users", get(account::users))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/changes", get(changes::poll))
        .route("/tasks/clear-done", post(tasks::clear_done))
        .route("/tasks/{id}", patch(tasks::update).delete(tasks::delete))
        .route("/boards", get(boards::list).post(boards::create))
        .route(
            "/boards/{board}",
            patch(boards::rename).delete(boards::delete),
        )
        .route("/boards/{board}/members", get(boards::members))
        .route(
            "/boards/{board}/members/{username}",
            put(boards::set_member).delete(boards::remove_member),
        )
        .route(
            "/boards/{board}/tasks",
            get(boards::tasks).post(boards::create_task),
        )
        .route("/boards/{board}/tasks/clear-done", post(boards::clear_done))
        .route(
            "/boards/{board}/tasks/{task}",
            patch(boards::update_task).delete(boards::delete_task),
        )
        .fallback(|| async { AppError::NotFound("No such API call.".into()) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            to_end::run_to_end,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), origin::check))
        .layer(middleware::from_fn(json_errors))
        .layer(CompressionLayer::new());
    let socket = Router::new()
        .route("/ws", get(ws::handshake))
        .layer(middleware::from_fn_with_state(state.clone(), origin::check))
        .layer(middleware::from_fn(json_errors));
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api", api)
        .merge(socket)
        .fallback_service(app_files(&state.config.static_dir))
        .layer(middleware::from_fn(header_size::bounded))
        .layer(middleware::from_fn(headers::everywhere))
        .layer(cors(&state.origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Cross-origin calls (e.g. tests served from another port) from the allow-listed
/// origins only, with credentials so the refresh cookie travels.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([CONTENT_TYPE, AUTHORIZATION])
}

/// The built app. Unknown paths get index.html, so that the app's own routes
/// (/login, /admin, ...) survive a reload; precompressed `.br`/`.gz` files are served
/// when the browser accepts them, and anything else is compressed on the fly.
fn app_files(dir: &Path) -> Router {
    if !dir.join("index.html").is_file() {
        tracing::warn!(dir = %dir.display(), "no index.html in the static directory: the app is not served");
    }
    let index = ServeFile::new(dir.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(unservable_as_unknown))
        .layer(middleware::from_fn_with_state(
            headers::AppPolicy::new(dir.join("index.html")),
            headers::app,
        ))
        .layer(CompressionLayer::new())
}

/// The longest file name the file system takes (`NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;
/// The longest request path looked up as a file: well under `PATH_MAX` (4,096) with the
/// static directory before it, and far over any path of the app's.
const MAX_PATH_BYTES: usize = 1024;

/// Answers a path that names no file of the app as an unknown path (index.html): a
/// hidden file or folder (`.git/`, `.env`), which a build never means to publish but the
/// file service would serve, and a name too long for the file system, whose error the
/// file service turned into a 500.
async fn unservable_as_unknown(mut request: Request, next: Next) -> Response {
    if !servable(request.uri().path()) {
        *request.uri_mut() = axum::http::Uri::from_static("/");
    }
    next.run(request).await
}

/// Whether `path`, decoded as the file service decodes it, may name an app file.
fn servable(path: &str) -> bool {
    let path = percent_decoded(path);
    path.len() <= MAX_PATH_BYTES
        && path
            .split(|&byte| byte == b'/')
            .all(|name| name.len() <= MAX_NAME_BYTES && !name.starts_with(b"."))
}

/// `path` with its `%XX` escapes decoded (an invalid escape stays as it is).
fn percent_decoded(path: &str) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(path.len());
    let mut at = 0;
    while let Some(&byte) = path.as_bytes().get(at) {
        let escaped = path
            .get(at + 1..at + 3)
            .filter(|hex| byte == b'%' && hex.bytes().all(|digit| digit.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        decoded.push(escaped.unwrap_or(byte));
        at += if escaped.is_some() { 3 } else { 1 };
    }
    decoded
}

async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    crate::db::query("SELECT 1")
        .execute(state.db.read())
        .await?;
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

/// Makes every error under /api and /ws answer with the contract's JSON body, including
/// those produced by axum and tower themselves (method not allowed, a body over the
/// limit, a request that is not a WebSocket upgrade...), which are plain text.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .filter(|text| !text.trim().is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned());
    let code = match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        status if status.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let body = ErrorBody {
        error: ApiError::new(code, text),
    };
    let mut response = (status, Json(body)).into_response();
    for (name, value) in parts
        .headers
        .iter()
        .filter(|(name, _)| *name != CONTENT_TYPE && *name != axum::http::header::CONTENT_LENGTH)
    {
        response.headers_mut().append(name, value.clone());
    }
    response
}
