//! A sign-out the server has not heard of yet.
//!
//! Signing out always ends the session on this device at once. When `POST /api/logout`
//! cannot be made (offline), the refresh cookie would otherwise stay valid for weeks and
//! sign the next person at this computer in as the last one. So the app remembers, in
//! local storage, only *that* a sign-out is owed (never a token: the HttpOnly cookie is
//! what ends the session), refuses to restore a session while it is owed, and finishes
//! it with the cookie alone at the next occasion: a page load, the browser coming
//! online, or a sign-in, before anything else.

use uuid::Uuid;

use crate::api::{Api, CallError};

const KEY: &str = "taskwire.sign_out_pending";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The sign-out the server still has to hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    /// This browser's session.
    This,
    /// Every session of this person: `Sign out everywhere`.
    Everywhere(Uuid),
}

const EVERYWHERE: &str = "everywhere:";

impl Owed {
    fn stored(self) -> String {
        match self {
            Self::This => "1".to_owned(),
            Self::Everywhere(user) => format!("{EVERYWHERE}{user}"),
        }
    }

    fn read(stored: &str) -> Self {
        stored
            .strip_prefix(EVERYWHERE)
            .and_then(|user| user.parse().ok())
            .map_or(Self::This, Self::Everywhere)
    }
}

/// Remembers that the server still has to end the session (or all of them); false if
/// the browser would not store it (private modes may refuse).
pub fn owe(what: Owed) -> bool {
    storage().is_some_and(|storage| storage.set_item(KEY, &what.stored()).is_ok())
}

fn owed_now() -> Option<Owed> {
    Some(Owed::read(&storage()?.get_item(KEY).ok()??))
}

pub fn owed() -> bool {
    owed_now().is_some()
}

/// A sign-out of every session is owed.
pub fn owed_everywhere() -> bool {
    matches!(owed_now(), Some(Owed::Everywhere(_)))
}

/// Forgets the debt: the session ended, or a new sign-in replaced its cookie.
pub fn forget() {
    if let Some(storage) = storage() {
        drop(storage.remove_item(KEY));
    }
}

/// Whether a storage event from another tab says it owes a sign-out now (that tab
/// signed out: this one follows).
pub fn is_owed_by(event: &web_sys::StorageEvent) -> bool {
    event.key().as_deref() == Some(KEY) && event.new_value().is_some()
}

/// Ends the owed session on the server, if one is owed; true when nothing is owed any
/// more. Every session of the person takes a token, which the cookie gets first, and
/// only while the debt and the cookie are still that person's. A 401 means the server
/// holds no session for the cookie: nothing left to end.
pub async fn settle(api: &Api) -> bool {
    let Some(what) = owed_now() else {
        return true;
    };
    let ended = match what {
        Owed::This => api.logout_by_cookie().await,
        Owed::Everywhere(user) => match api.refresh().await {
            // Still owed, and still this person's cookie: another tab may have settled it
            // while this one waited for the refresh, and signed someone else in.
            Ok(session) if owed_now() == Some(Owed::Everywhere(user)) => {
                if session.user.id == user {
                    api.logout_all(&session.token).await
                } else {
                    Ok(())
                }
            }
            Ok(_) => return !owed(),
            Err(error) => Err(error),
        },
    };
    match ended {
        Ok(()) => {
            forget();
            true
        }
        Err(CallError::Api(error)) if error.code == protocol::ErrorCode::Unauthorized => {
            forget();
            true
        }
        Err(error) => {
            web_sys::console::warn_1(&format!("sign-out still owed: {error}").into());
            false
        }
    }
}
