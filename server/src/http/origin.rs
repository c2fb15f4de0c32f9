//! The Origin check: browsers name the page that made a request, so a call from a
//! foreign page (cross-site request forgery, cross-site WebSocket hijacking) is refused
//! before it can use the refresh cookie or open a socket. Requests without `Origin`
//! (curl, native clients, same-origin GETs) cannot carry a victim's cookie from another
//! site, and pass.

use axum::extract::{Request, State};
use axum::http::header::ORIGIN;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| state.origins.iter().any(|o| o == origin));
        if !allowed {
            tracing::warn!(origin = ?origin, path = %request.uri().path(), "foreign origin refused");
            return AppError::forbidden("This origin is not allowed.").into_response();
        }
    }
    next.run(request).await
}
