//! Keeps the board socket's outbox in IndexedDB ([`crate::saved_changes`]) for the
//! signed-in person, so that changes not sent yet survive a reload, a closed tab or a
//! crash, and are made once.
//!
//! At sign-in it loads this tab's record and those of closed tabs and hands them to the
//! machine to restore ([`Input::Restore`](crate::client::machine::Input::Restore)). From
//! then on every change of the outbox is saved (only the calls and how often each went
//! out: never a token), the first save taking the adopted records' place in the same
//! transaction. Nothing is saved before the restore: that would overwrite the very
//! record being restored.

use std::cell::RefCell;
use std::rc::Rc;

use uuid::Uuid;

use crate::client::kept::{self, Kept};
use crate::client::machine::Waiting;
use crate::saved_changes::{RecordKey, SavedChanges};

/// The session's saved changes: cheap to clone, shared with the loading task.
#[derive(Clone, Default)]
pub(super) struct Keeper {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    /// Open and restored: saves go through.
    saved: Option<SavedChanges>,
    /// Records restored from other (closed) tabs, deleted by the first save.
    adopted: Vec<RecordKey>,
    /// Signed out before the records were even open: they are cleared, not restored.
    cleared: bool,
}

impl Keeper {
    /// Opens `user`'s saved changes and hands them, oldest first, to `restore` (once,
    /// even when there are none, so saving can start). Storage that cannot be opened
    /// only costs the keeping: the app works on, as before.
    pub(super) fn start(user: Uuid, restore: impl FnOnce(Vec<Kept>) + 'static) -> Self {
        let keeper = Self::default();
        let state = keeper.state.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let opened = SavedChanges::open(user).await;
            let saved = match opened {
                Ok(saved) => saved,
                Err(error) => return warn(&format!("changes will not survive a reload: {error}")),
            };
            // Records that cannot be read are left alone, never overwritten: if they
            // cannot be read at all, this session keeps nothing (its first save would
            // replace this tab's record); one that cannot be read is not adopted.
            let records = match saved.load().await {
                Ok(records) => records,
                Err(error) => {
                    return warn(&format!(
                        "saved changes could not be read, and are left as they are; \
                         changes will not survive a reload: {error}"
                    ));
                }
            };
            let mut kept = Vec::new();
            let mut adopted = Vec::new();
            for (key, json) in records {
                match kept::from_json(&json) {
                    Ok(changes) => {
                        kept.extend(changes);
                        adopted.push(key);
                    }
                    // This tab's own record is what every save writes.
                    Err(error) if saved.is_own(key) => {
                        return warn(&format!(
                            "this tab's saved changes cannot be read, and are left as they \
                             are; changes will not survive a reload: {error}"
                        ));
                    }
                    Err(error) => warn(&format!(
                        "a saved record cannot be read, and is left as it is: {error}"
                    )),
                }
            }
            let cleared = {
                let mut state = state.borrow_mut();
                state.adopted = adopted;
                state.saved = Some(saved);
                state.cleared
            };
            if cleared {
                Self { state }.clear();
            } else {
                restore(kept);
            }
        });
        keeper
    }

    /// The outbox now: saved, once restored.
    pub(super) fn save(&self, waiting: &[Waiting]) {
        let mut state = self.state.borrow_mut();
        if state.saved.is_none() || state.cleared {
            return;
        }
        let adopted = std::mem::take(&mut state.adopted);
        let Some(saved) = &state.saved else {
            return;
        };
        let kept: Vec<Kept> = waiting
            .iter()
            .map(|waiting| Kept {
                call: waiting.call.clone(),
                sends: waiting.sends,
            })
            .collect();
        let json = match kept::to_json(&kept) {
            Ok(json) => json,
            Err(error) => return warn(&format!("changes could not be saved: {error}")),
        };
        let json = (!kept.is_empty()).then_some(json);
        let landed = saved.save(json.as_deref(), &adopted);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = landed.await {
                warn(&format!("changes could not be saved: {error}"));
            }
        });
    }

    /// Sign-out: every saved change of the person goes, this tab's and any other's.
    pub(super) fn clear(&self) {
        let mut state = self.state.borrow_mut();
        state.cleared = true;
        if let Some(saved) = &state.saved {
            let cleared = saved.clear();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(error) = cleared.await {
                    warn(&format!("saved changes could not be cleared: {error}"));
                }
            });
        }
    }
}

fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}
