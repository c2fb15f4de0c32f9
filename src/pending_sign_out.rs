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
    /// Every session of this person: `Sign out everywhere`. `None` when the stored
    /// person could not be read: every session of whoever the cookie is then.
    Everywhere(Option<Uuid>),
}

const EVERYWHERE: &str = "everywhere:";

impl Owed {
    fn stored(self) -> String {
        match self {
            Self::This => "1".to_owned(),
            Self::Everywhere(Some(user)) => format!("{EVERYWHERE}{user}"),
            Self::Everywhere(None) => EVERYWHERE.to_owned(),
        }
    }

    /// What is owed, from what was stored. Something other than this module wrote is
    /// still a debt: a sign-out of this session, or of every session when it says so,
    /// never less than that.
    fn read(stored: &str) -> Self {
        match stored.strip_prefix(EVERYWHERE) {
            Some(user) => Self::Everywhere(user.parse().ok()),
            None => Self::This,
        }
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
                if user.is_none_or(|user| session.user.id == user) {
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::Owed;

    #[test]
    fn a_debt_reads_back_as_it_was_stored_and_a_damaged_one_is_never_less() {
        let user = Uuid::from_u128(7);
        for owed in [
            Owed::This,
            Owed::Everywhere(Some(user)),
            Owed::Everywhere(None),
        ] {
            assert_eq!(Owed::read(&owed.stored()), owed);
        }
        assert_eq!(Owed::read("everywhere:nope"), Owed::Everywhere(None));
        assert_eq!(Owed::read("yes"), Owed::This);
    }
}
