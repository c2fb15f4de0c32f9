//! Changes run to their end whether or not the client waits for the answer.
//!
//! hyper drops a request's future when its client goes away. A state-changing request
//! dropped at an `.await` could stop between `BEGIN` and the commit (leaving the single
//! writer connection inside a transaction), or between the commit and the push to the
//! sockets or the closing of a signed-out session's sockets. So every request that may
//! change something runs as a task of its own (`AppState::run_to_end`): the client's
//! disconnect drops only the wait for the answer.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn run_to_end(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // GET, HEAD and OPTIONS change nothing; they are dropped with their client as usual.
    if request.method().is_safe() {
        return next.run(request).await;
    }
    state
        .run_to_end(next.run(request))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
