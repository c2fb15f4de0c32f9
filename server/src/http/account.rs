//! Accounts and sessions over HTTP: register, sign in, refresh, sign out, admins.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json as Reply;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::{Credentials, LoginAs, User, UserList};

use super::cookie;
use super::extract::{Caller, Json, bearer};
use crate::auth::{EndedSessions, Exited, Issued, RefreshOutcome};
use crate::error::AppError;
use crate::state::AppState;

pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(credentials): Json<Credentials>,
) -> Result<Response, AppError> {
    let ip = peer.ip().to_string();
    if !state.login_per_ip.check(&ip) {
        return Err(AppError::RateLimited);
    }
    let issued = state.auth.register(credentials).await?;
    state.login_per_ip.give_back(&ip);
    Ok(session_reply(&state, &headers, StatusCode::CREATED, issued))
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(credentials): Json<Credentials>,
) -> Result<Response, AppError> {
    // Attempts are counted before the (slow, by design) password check, so a flood of
    // guesses costs the server almost nothing; a success gives its attempt back, so
    // only failures use up the limits.
    let ip = peer.ip().to_string();
    // An address over its limit is refused before its name is looked at: a flood of
    // made-up names from it adds no keys to the names' limiter.
    if !state.login_per_ip.check(&ip) {
        return Err(AppError::RateLimited);
    }
    // Names that cannot exist are not counted (nor kept as keys): they fail anyway.
    let user_ok = protocol::validate_username(&credentials.username).is_err()
        || state.login_per_user.check(&credentials.username);
    if !user_ok {
        return Err(AppError::RateLimited);
    }
    let username = credentials.username.clone();
    let issued = state.auth.login(credentials).await?;
    state.login_per_ip.give_back(&ip);
    state.login_per_user.give_back(&username);
    Ok(session_reply(&state, &headers, StatusCode::OK, issued))
}

pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(token) = cookie::refresh_token(&headers) else {
        return Err(AppError::unauthorized("No session to refresh; sign in."));
    };
    match state.auth.refresh(token).await? {
        RefreshOutcome::Rotated(issued) => {
            Ok(session_reply(&state, &headers, StatusCode::OK, issued))
        }
        RefreshOutcome::Reused(ended) => {
            close(&state, &ended);
            Ok(unauthorized_clearing_cookie(
                &headers,
                "This sign-in was used elsewhere and has been ended; sign in again.",
            ))
        }
        RefreshOutcome::Unknown => Ok(unauthorized_clearing_cookie(
            &headers,
            "The session has ended; sign in again.",
        )),
    }
}

/// Ends the caller's session: the one its access token names, or, when that token is
/// missing, expired or refused, the one its refresh cookie names, and the one an expired
/// token of this server's names. (The cookie may name another person's session by then,
/// signed in from another tab; the answer clears that cookie from the browser anyway.)
pub async fn logout(
    State(state): State<AppState>,
    caller: Result<Caller, AppError>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    match caller {
        Ok(Caller(caller)) => close(&state, &state.auth.logout(&caller).await?),
        Err(refused) => {
            let expired = match bearer(&headers) {
                Some(token) => state.auth.logout_expired(token).await?,
                None => None,
            };
            let by_cookie = match cookie::refresh_token(&headers) {
                Some(token) => Some(state.auth.logout_by_refresh(token).await?),
                None => None,
            };
            if expired.is_none() && by_cookie.is_none() {
                return Err(refused);
            }
            for ended in expired.iter().chain(&by_cookie) {
                close(&state, ended);
            }
        }
    }
    Ok((StatusCode::NO_CONTENT, [cookie::clear(&headers)]).into_response())
}

pub async fn logout_all(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    // Every session it ended, this user's own and those in which they, an admin, acted
    // as someone else; and only those: a sign-in that lands just after keeps its sockets.
    let ended = state.auth.logout_all(&caller).await?;
    close(&state, &ended);
    Ok((StatusCode::NO_CONTENT, [cookie::clear(&headers)]).into_response())
}

pub async fn login_as(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Json(body): Json<LoginAs>,
) -> Result<Response, AppError> {
    let issued = state.auth.login_as(&caller, &body.username).await?;
    Ok(session_reply(&state, &headers, StatusCode::OK, issued))
}

pub async fn exit_login_as(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (exited, ended) = state.auth.exit_login_as(&caller).await?;
    close(&state, &ended);
    match exited {
        Exited::Returned(issued) => Ok(session_reply(&state, &headers, StatusCode::OK, issued)),
        Exited::OwnSessionEnded => Err(AppError::unauthorized(
            "Your own session has ended; sign in again.",
        )),
    }
}

pub async fn me(Caller(caller): Caller) -> Reply<User> {
    Reply(caller.user)
}

pub async fn users(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Reply<UserList>, AppError> {
    let users = state.auth.list_users(&caller).await?;
    Ok(Reply(UserList { users }))
}

fn session_reply(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    issued: Issued,
) -> Response {
    let lifetime = Duration::from_secs(state.config.session_days.saturating_mul(86_400));
    let cookie = cookie::set(headers, issued.refresh.as_str(), lifetime);
    (status, [cookie], Reply(issued.session)).into_response()
}

fn unauthorized_clearing_cookie(headers: &HeaderMap, message: &str) -> Response {
    let mut response = AppError::unauthorized(message).into_response();
    let (name, value) = cookie::clear(headers);
    response.headers_mut().insert(name, value);
    response
}

/// Closes this node's sockets of the sessions a call ended (the other nodes were told in
/// its transaction).
fn close(state: &AppState, ended: &EndedSessions) {
    state
        .fanout
        .close_sessions(&ended.sessions, ended.code, ended.reason);
}
