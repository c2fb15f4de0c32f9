//! Keeps the board socket's outbox in IndexedDB ([`crate::saved_changes`]) for the
//! signed-in person, so that changes not sent yet survive a reload, a closed tab or a
//! crash, and are made once.
//!
//! At sign-in it loads this tab's record and those of closed tabs and hands them to the
//! machine to restore ([`Input::Restore`](crate::client::machine::Input::Restore)). From
//! then on every change of the outbox is saved (only the calls and how often each went
//! out: never a token), the first save that lands taking the adopted records' place in
//! the same transaction. Nothing is saved before the restore: that would overwrite the very
//! record being restored.

use std::cell::RefCell;
use std::rc::Rc;

use uuid::Uuid;

use crate::client::kept::{self, Kept};
use crate::client::machine::Waiting;
use crate::saved_changes::{RecordKey, SavedChanges, orphaned};

/// The session's saved changes: cheap to clone, shared with the loading task.
#[derive(Clone, Default)]
pub(super) struct Keeper {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    /// Open: a sign-out clears through it.
    saved: Option<SavedChanges>,
    /// Restored: saves go through. Never when this tab's own record could not be read,
    /// which every save replaces.
    saving: bool,
    /// Records restored from other (closed) tabs, deleted with every save until one
    /// lands: a save that fails (storage full, the database closed under it) deletes
    /// nothing, and a record left behind would be restored, and its changes made, again.
    adopted: Vec<RecordKey>,
    /// Signed out: everything is cleared, nothing saved or restored any more.
    cleared: bool,
    /// The changes as last saved.
    last: Vec<Kept>,
}

impl Keeper {
    /// Opens `user`'s saved changes and hands them, oldest first, to `restore` (once,
    /// even when there are none, so saving can start). Storage that cannot be opened or
    /// read only costs the keeping: the app works on, as before, and what is stored
    /// stays as it is.
    pub(super) fn start(user: Uuid, restore: impl FnOnce(Vec<Kept>) + 'static) -> Self {
        let keeper = Self::default();
        let state = keeper.state.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let opened = SavedChanges::open(user).await;
            let saved = match opened {
                Ok(saved) => saved,
                Err(error) => return warn(&format!("changes will not survive a reload: {error}")),
            };
            let keeper = Self { state };
            let loaded = saved.load().await;
            let own = |key| saved.is_own(key);
            let kept = match loaded
                .map_err(|error| error.to_string())
                .and_then(|records| read(records, own))
            {
                Ok(kept) => Some(kept),
                Err(error) => {
                    warn(&format!(
                        "saved changes could not be read, and are left as they are; \
                         changes will not survive a reload: {error}"
                    ));
                    None
                }
            };
            let cleared = {
                let mut state = keeper.state.borrow_mut();
                state.saved = Some(saved);
                if let Some((_, adopted)) = &kept {
                    state.adopted = adopted.clone();
                    state.saving = true;
                }
                state.cleared
            };
            if cleared {
                keeper.clear();
            } else if let Some((kept, _)) = kept {
                restore(kept);
            }
        });
        keeper
    }

    /// The outbox now: saved, once restored.
    pub(super) fn save(&self, waiting: &[Waiting]) {
        let kept: Vec<Kept> = waiting
            .iter()
            .map(|waiting| Kept {
                call: waiting.call.clone(),
                sends: waiting.sends,
                based_on: waiting.based_on,
            })
            .collect();
        self.write(kept);
    }

    /// The session ended without a sign-out here (one in another tab, one everywhere
    /// from another device, the session revoked): the changes stay kept for this
    /// person's next sign-in, or a later tab's. Saved again, since another tab's sign-out
    /// may have cleared them.
    pub(super) fn session_ended(&self) {
        let last = std::mem::take(&mut self.state.borrow_mut().last);
        if !last.is_empty() {
            self.write(last);
        }
    }

    fn write(&self, kept: Vec<Kept>) {
        let mut state = self.state.borrow_mut();
        if !state.saving || state.cleared {
            return;
        }
        let adopted = state.adopted.clone();
        let json = match kept::to_json(&kept) {
            Ok(json) => json,
            Err(error) => return warn(&format!("changes could not be saved: {error}")),
        };
        let json = (!kept.is_empty()).then_some(json);
        state.last = kept;
        let Some(saved) = &state.saved else {
            return;
        };
        let landed = saved.save(json.as_deref(), &adopted);
        let keeper = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match landed.await {
                Ok(()) => keeper
                    .state
                    .borrow_mut()
                    .adopted
                    .retain(|key| !adopted.contains(key)),
                Err(error) => warn(&format!("changes could not be saved: {error}")),
            }
        });
    }

    /// How many changes closed tabs keep for the person now (tabs closed since this one
    /// took over the others'), which a sign-out here deletes with its own. Tabs still
    /// open keep theirs in memory and save them again, so theirs are not counted; nor
    /// are records taken over here (their changes are this tab's to send, counted among
    /// its own), nor records that cannot be read.
    pub(super) async fn kept_elsewhere(&self) -> usize {
        let (reading, adopted) = {
            let state = self.state.borrow();
            let Some(saved) = &state.saved else {
                return 0;
            };
            (saved.others(), state.adopted.clone())
        };
        let records = match reading.await {
            Ok(records) => records,
            Err(error) => {
                warn(&format!(
                    "other tabs' changes could not be counted: {error}"
                ));
                return 0;
            }
        };
        let mut count = 0;
        for (key, json) in records {
            if adopted.contains(&key) || !orphaned(key.tab).await.unwrap_or(false) {
                continue;
            }
            count += kept::from_json(&json).map_or(0, |changes| changes.len());
        }
        count
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

/// The changes of the records loaded, oldest first, and the keys of those adopted: every
/// record read whole. Another tab's that cannot be read is left where it is, not
/// adopted; this tab's own, which every save replaces, stops the keeping (`Err`).
fn read(
    records: Vec<(RecordKey, String)>,
    own: impl Fn(RecordKey) -> bool,
) -> Result<(Vec<Kept>, Vec<RecordKey>), String> {
    let mut kept = Vec::new();
    let mut adopted = Vec::new();
    for (key, json) in records {
        match kept::from_json(&json) {
            Ok(changes) => {
                kept.extend(changes);
                adopted.push(key);
            }
            Err(error) if own(key) => return Err(format!("this tab's record: {error}")),
            Err(error) => warn(&format!(
                "a saved record cannot be read, and is left as it is: {error}"
            )),
        }
    }
    Ok((kept, adopted))
}

fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}
