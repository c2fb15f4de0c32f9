//! The outbox: a person's mutations, kept in order until the server has answered them.
//!
//! Every mutation goes through here, live or not: while the socket is not live it waits;
//! once live, waiting entries are sent in order (pipelined: the server answers one
//! socket's requests in order). An entry leaves the outbox only when its fate is known:
//! a `result` (ok or refused), a person discarding it, or the session ending.
//!
//! # Nothing is applied twice
//!
//! An entry sent on a connection that closed (or timed out) before its `result` came is
//! [`Delivery::Unknown`]: the server may or may not have applied it. It is never resent
//! blindly. After the next `snapshot` or `replay` (the server's state, seq-ordered), the
//! machine calls [`Outbox::reconcile`], which asks the store whether the server state
//! already shows the mutation:
//!
//! - it does: the entry is settled as applied and dropped, not resent;
//! - it does not, and the entry was sent only once: it is resent once, in its place in the
//!   order. Resending is safe even if the first copy did land in the meantime: creates
//!   carry a client-chosen id (the server answers the existing task), updates carry
//!   absolute values (`done: true`, not "toggle"), deletes of a missing task are refused
//!   harmlessly, and `clear_done` only deletes what is done at that moment. Where the
//!   state cannot show it (its board is not open), an update goes again as of the
//!   version it was made on ([`Outbox::as_of_base`]), so that, landed the first time,
//!   it cannot undo another person's change made since;
//! - it does not, and it was already sent twice: it is dropped as
//!   [`MutationError::Unconfirmed`](super::machine::MutationError) and its optimistic
//!   change rolled back, so a person sees it failed and can redo it;
//! - a later entry of unknown delivery overrides it (deletes its task, or sets every
//!   field it set) and stands (shown, or sent again): it is settled with that one, since
//!   the state shows only the later, and sent again after it, it would undo it. A
//!   create deleted since is refused by the server ("That task was deleted").
//!
//! So an entry is sent at most twice, the second time only when the server's own state
//! says the first did not take effect. Waiting entries behind an unknown one are held
//! back until it is reconciled, so the order of a person's changes is kept.

use std::collections::VecDeque;

use protocol::{MethodCall, ValidationError, validate_title};

pub use super::kept::Kept;

/// How many mutations may wait; past this the person is told to wait for the connection.
pub const OUTBOX_CAPACITY: usize = 500;
/// First send plus at most one resend after reconciliation.
pub const MAX_SENDS: u8 = 2;

/// A mutation's identity across connections (request ids are per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MutationId(pub u64);

/// Why the outbox would not take (or give back) a mutation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    #[error("{capacity} changes are already waiting to be sent; try again once connected")]
    Full { capacity: usize },
    #[error("a new task needs a client-chosen id, so that sending it again is harmless")]
    CreateWithoutId,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no waiting change {0:?}")]
    Unknown(MutationId),
    #[error("This change is on its way to the server and can no longer be discarded.")]
    InFlight(MutationId),
}

/// Where an entry is on its way to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not on the wire: waiting for a live socket, or to be resent once.
    Queued,
    /// Sent on the current connection; its `result` is awaited.
    Sent,
    /// Sent, but its connection closed or its request timed out without a result; the
    /// next snapshot or replay decides (see the module docs).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: MutationId,
    /// The call as it goes on the wire (titles trimmed).
    pub call: MethodCall,
    pub delivery: Delivery,
    /// How many times it was put on the wire.
    pub sends: u8,
    /// The version of its task this update was made on, when no other change of this
    /// person's to that task was waiting: see [`Outbox::as_of_base`].
    pub based_on: Option<u64>,
}

/// What reconciliation decided for an entry whose delivery was unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// The server state shows it: settled, dropped from the outbox.
    Applied(Entry),
    /// Not shown yet, sent once: queued to be resent.
    Resend(MutationId),
    /// Not shown after two sends: dropped; the caller rolls it back and reports it.
    GaveUp(Entry),
    /// Not to be told from the state, and not safe to send again: dropped; the caller
    /// rolls it back and reports it.
    Untold(Entry),
}

/// What the server's state shows of a change whose delivery was unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shows {
    Applied,
    NotApplied,
    /// The state cannot tell, and the change is not safe to send again.
    CannotTell,
}

/// Whether `later` leaves nothing of what `earlier` did to its task: it deletes the task,
/// or sets every field `earlier` set. Whether `earlier` landed then no longer shows, nor
/// matters.
fn overrides(later: &MethodCall, earlier: &MethodCall) -> bool {
    if later.board() != earlier.board() {
        return false;
    }
    match (later, earlier) {
        (MethodCall::Delete(later), MethodCall::Create(earlier)) => earlier.id == Some(later.id),
        (MethodCall::Delete(later), MethodCall::Update(earlier)) => earlier.id == later.id,
        (MethodCall::Update(later), MethodCall::Update(earlier)) => {
            earlier.id == later.id
                && (earlier.title.is_none() || later.title.is_some())
                && (earlier.done.is_none() || later.done.is_some())
        }
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    entries: VecDeque<Entry>,
    next_id: u64,
    capacity: usize,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            next_id: 1,
            capacity,
        }
    }

    /// Takes a person's mutation: checked and normalised (titles trimmed, creates must
    /// carry their id) so that what is shown optimistically is what will be sent.
    /// `based_on` is the version of the task an update was made on, if known.
    pub fn push(
        &mut self,
        call: MethodCall,
        based_on: Option<u64>,
    ) -> Result<MutationId, OutboxError> {
        if self.entries.len() >= self.capacity {
            return Err(OutboxError::Full {
                capacity: self.capacity,
            });
        }
        self.admit(call, based_on)
    }

    /// Checks, normalises and queues `call`, however many wait.
    fn admit(
        &mut self,
        call: MethodCall,
        based_on: Option<u64>,
    ) -> Result<MutationId, OutboxError> {
        let call = match call {
            MethodCall::Create(mut params) => {
                if params.id.is_none() {
                    return Err(OutboxError::CreateWithoutId);
                }
                params.title = validate_title(&params.title)?.to_owned();
                MethodCall::Create(params)
            }
            MethodCall::Update(mut params) => {
                if let Some(title) = &params.title {
                    params.title = Some(validate_title(title)?.to_owned());
                }
                MethodCall::Update(params)
            }
            other => other,
        };
        let based_on = based_on.filter(|_| matches!(call, MethodCall::Update(_)));
        let id = MutationId(self.next_id);
        self.next_id += 1;
        self.entries.push_back(Entry {
            id,
            call,
            delivery: Delivery::Queued,
            sends: 0,
            based_on,
        });
        Ok(id)
    }

    /// Takes back a change kept across a reload, checked like a new one; one that went on
    /// the wire before is of unknown delivery. It is taken whatever the outbox holds (the
    /// kept changes of several closed tabs may come to more than its capacity): it was
    /// made already, and its record goes once the outbox is kept again, so refusing it
    /// would lose it. New changes wait until the outbox is under its capacity again.
    pub fn restore(&mut self, kept: Kept) -> Result<MutationId, OutboxError> {
        let id = self.admit(kept.call, kept.based_on)?;
        if let Some(entry) = self.entries.back_mut()
            && kept.sends > 0
        {
            entry.delivery = Delivery::Unknown;
            entry.sends = kept.sends.min(MAX_SENDS);
        }
        Ok(id)
    }

    /// Every entry, oldest first: what the UI lists as pending.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn get(&self, id: MutationId) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.id == id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The queued entries to put on the wire now, in order. Stops at the first entry of
    /// unknown delivery: what comes after it waits until it is reconciled.
    pub fn sendable(&self) -> Vec<(MutationId, MethodCall)> {
        self.entries
            .iter()
            .take_while(|entry| entry.delivery != Delivery::Unknown)
            .filter(|entry| entry.delivery == Delivery::Queued)
            .map(|entry| (entry.id, entry.call.clone()))
            .collect()
    }

    /// The entry is now on the wire.
    pub fn mark_sent(&mut self, id: MutationId) {
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.id == id) {
            entry.delivery = Delivery::Sent;
            entry.sends = entry.sends.saturating_add(1);
        }
    }

    /// Its request timed out or its connection closed: the server may have applied it
    /// or not. Returns whether the entry was on the wire (and so changed).
    pub fn mark_unknown(&mut self, id: MutationId) -> bool {
        let entry = self
            .entries
            .iter_mut()
            .find(|entry| entry.id == id && entry.delivery == Delivery::Sent);
        if let Some(entry) = entry {
            entry.delivery = Delivery::Unknown;
            true
        } else {
            false
        }
    }

    /// Its `result` arrived (ok or refused): the entry leaves.
    pub fn settle(&mut self, id: MutationId) -> Option<Entry> {
        let index = self.entries.iter().position(|entry| entry.id == id)?;
        self.entries.remove(index)
    }

    /// A person gives up a change that is not on the wire (waiting, or of unknown
    /// delivery: it will not be resent). An entry on the wire cannot be called back.
    pub fn discard(&mut self, id: MutationId) -> Result<Entry, OutboxError> {
        let index = self
            .entries
            .iter()
            .position(|entry| entry.id == id)
            .ok_or(OutboxError::Unknown(id))?;
        if self.entries[index].delivery == Delivery::Sent {
            return Err(OutboxError::InFlight(id));
        }
        self.entries.remove(index).ok_or(OutboxError::Unknown(id))
    }

    /// An update refused for a version only this person moved on: made against
    /// `version` instead, and queued to go again in its place. False if it is no such
    /// entry.
    pub fn rebase(&mut self, id: MutationId, version: u64) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|entry| entry.id == id) else {
            return false;
        };
        let MethodCall::Update(params) = &mut entry.call else {
            return false;
        };
        params.if_version = Some(version);
        entry.delivery = Delivery::Queued;
        // Refused, so known not made: it goes as a change not sent yet.
        entry.sends = 0;
        true
    }

    /// The version of its task `id` is made on, as known when it first goes out.
    pub fn set_base(&mut self, id: MutationId, based_on: u64) {
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.id == id)
            && matches!(entry.call, MethodCall::Update(_))
        {
            entry.based_on = Some(based_on);
        }
    }

    /// An update to be sent again whose first sending may have landed, where the state
    /// could not show it (its board not open): it goes as of the version it was made on
    /// (`if_version`). Landed and changed since by someone else, it is then refused
    /// (`conflict`, with the task as it is) instead of undoing their change; landed and
    /// not changed since, its conflict shows the task as it asked, which settles it as
    /// done. An update without a known version goes as it is.
    pub fn as_of_base(&mut self, id: MutationId) {
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.id == id)
            && let MethodCall::Update(params) = &mut entry.call
            && params.if_version.is_none()
        {
            params.if_version = entry.based_on;
        }
    }

    /// The entries that may still be discarded: all but those on the wire now, whose
    /// answer is awaited.
    pub fn discardable(&self) -> Vec<MutationId> {
        self.entries
            .iter()
            .filter(|entry| entry.delivery != Delivery::Sent)
            .map(|entry| entry.id)
            .collect()
    }

    /// After a snapshot or replay: settles every entry of unknown delivery, in order,
    /// by what `server_shows(id, call)` says the server state shows of it. An entry
    /// that a later one of unknown delivery overrides is settled with it, when that one
    /// stands (shown, or to be sent again): judged alone against the final state, a tick
    /// followed by an untick would look lost and be sent again, after the untick,
    /// undoing it.
    pub fn reconcile(
        &mut self,
        mut server_shows: impl FnMut(MutationId, &MethodCall) -> Shows,
    ) -> Vec<Reconciled> {
        let shown: Vec<Option<Shows>> = self
            .entries
            .iter()
            .map(|entry| {
                (entry.delivery == Delivery::Unknown).then(|| server_shows(entry.id, &entry.call))
            })
            .collect();
        let stands = |at: usize| match shown[at] {
            Some(Shows::Applied) => true,
            Some(Shows::NotApplied) => self.entries[at].sends < MAX_SENDS,
            Some(Shows::CannotTell) | None => false,
        };
        let overridden: Vec<bool> = (0..self.entries.len())
            .map(|at| {
                shown[at].is_some()
                    && (at + 1..self.entries.len()).any(|later| {
                        stands(later)
                            && overrides(&self.entries[later].call, &self.entries[at].call)
                    })
            })
            .collect();
        let mut decided = Vec::new();
        let mut kept = VecDeque::with_capacity(self.entries.len());
        let entries = std::mem::take(&mut self.entries);
        for ((mut entry, shown), overridden) in entries.into_iter().zip(shown).zip(overridden) {
            let Some(shown) = shown else {
                kept.push_back(entry);
                continue;
            };
            if overridden {
                decided.push(Reconciled::Applied(entry));
                continue;
            }
            match shown {
                Shows::Applied => decided.push(Reconciled::Applied(entry)),
                Shows::NotApplied if entry.sends < MAX_SENDS => {
                    entry.delivery = Delivery::Queued;
                    decided.push(Reconciled::Resend(entry.id));
                    kept.push_back(entry);
                }
                Shows::NotApplied => decided.push(Reconciled::GaveUp(entry)),
                Shows::CannotTell => decided.push(Reconciled::Untold(entry)),
            }
        }
        self.entries = kept;
        decided
    }

    /// The session ended: every entry, oldest first, for the caller to report.
    pub fn drain(&mut self) -> Vec<Entry> {
        self.entries.drain(..).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;
    use protocol::{ClearDoneParams, CreateParams, DeleteParams, UpdateParams};
    use uuid::Uuid;

    fn create(n: u128, title: &str) -> MethodCall {
        MethodCall::Create(CreateParams {
            board: None,
            id: Some(Uuid::from_u128(n)),
            title: title.to_owned(),
        })
    }

    #[test]
    fn a_kept_change_comes_back_checked_and_one_that_went_out_is_of_unknown_delivery() {
        let mut outbox = Outbox::new(2);
        let waiting = outbox
            .restore(Kept {
                call: create(1, "  waited "),
                sends: 0,
                based_on: None,
            })
            .unwrap();
        let went = outbox
            .restore(Kept {
                call: create(2, "went"),
                sends: 1,
                based_on: None,
            })
            .unwrap();
        assert_eq!(outbox.get(waiting).unwrap().call, create(1, "waited"));
        assert_eq!(outbox.get(waiting).unwrap().delivery, Delivery::Queued);
        assert_eq!(outbox.get(went).unwrap().delivery, Delivery::Unknown);
        // Waiting entries behind one of unknown delivery wait for it.
        assert_eq!(ids(&outbox.sendable()), [1]);
        assert!(matches!(
            outbox.restore(Kept {
                call: create(3, "   "),
                sends: 0,
                based_on: None
            }),
            Err(OutboxError::Invalid(_))
        ));
        // Past the capacity a kept change is still taken (refused, it would be lost); a
        // new one waits until the outbox is under it again.
        let third = outbox
            .restore(Kept {
                call: create(3, "third"),
                sends: 0,
                based_on: None,
            })
            .unwrap();
        assert_eq!(outbox.entries().count(), 3);
        assert!(matches!(
            outbox.push(create(4, "new"), None),
            Err(OutboxError::Full { capacity: 2 })
        ));
        outbox.settle(waiting);
        outbox.settle(third);
        assert!(outbox.push(create(4, "new"), None).is_ok());
    }

    /// An edit, then a delete of the same task, neither shown by the server: the delete
    /// went out twice already and is given up, so it settles nothing for the edit,
    /// which is judged alone (and sent again). One that will be sent again does.
    #[test]
    fn a_later_change_given_up_overrides_nothing() {
        let rename = MethodCall::Update(UpdateParams {
            board: None,
            id: Uuid::from_u128(1),
            title: Some("Renamed".to_owned()),
            done: None,
            if_version: None,
        });
        let delete = MethodCall::Delete(DeleteParams {
            board: None,
            id: Uuid::from_u128(1),
        });
        for (delete_sends, expected) in [(MAX_SENDS, "resent, given up"), (1, "applied, resent")] {
            let mut outbox = Outbox::new(OUTBOX_CAPACITY);
            let calls = [(rename.clone(), 1), (delete.clone(), delete_sends)];
            for (call, sends) in calls {
                outbox
                    .restore(Kept {
                        call,
                        sends,
                        based_on: None,
                    })
                    .unwrap();
            }
            let decided: Vec<&str> = outbox
                .reconcile(|_, _| Shows::NotApplied)
                .iter()
                .map(|decision| match decision {
                    Reconciled::Applied(_) => "applied",
                    Reconciled::Resend(_) => "resent",
                    Reconciled::GaveUp(_) => "given up",
                    Reconciled::Untold(_) => "untold",
                })
                .collect();
            assert_eq!(decided.join(", "), expected);
        }
    }

    fn ids(calls: &[(MutationId, MethodCall)]) -> Vec<u64> {
        calls.iter().map(|(id, _)| id.0).collect()
    }

    #[test]
    fn waits_and_sends_in_order() {
        let mut outbox = Outbox::new(OUTBOX_CAPACITY);
        let a = outbox.push(create(1, "a"), None).unwrap();
        let b = outbox
            .push(
                MethodCall::Delete(DeleteParams {
                    board: None,
                    id: Uuid::from_u128(1),
                }),
                None,
            )
            .unwrap();
        let c = outbox
            .push(MethodCall::ClearDone(ClearDoneParams { board: None }), None)
            .unwrap();
        assert_eq!((a.0, b.0, c.0), (1, 2, 3));
        assert_eq!(ids(&outbox.sendable()), [1, 2, 3]);
        outbox.mark_sent(a);
        outbox.mark_sent(b);
        assert_eq!(
            ids(&outbox.sendable()),
            [3],
            "sent entries are not sent again"
        );
        assert_eq!(outbox.settle(a).map(|entry| entry.sends), Some(1));
        assert_eq!(outbox.len(), 2);
        assert_eq!(outbox.entries().map(|e| e.id.0).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn normalises_and_refuses_bad_input() {
        let mut outbox = Outbox::new(OUTBOX_CAPACITY);
        let id = outbox.push(create(1, "  padded  "), None).unwrap();
        assert_eq!(outbox.get(id).unwrap().call, create(1, "padded"));
        let update = MethodCall::Update(UpdateParams {
            board: None,
            id: Uuid::from_u128(1),
            title: Some(" x ".to_owned()),
            done: None,
            if_version: None,
        });
        let id = outbox.push(update, None).unwrap();
        let MethodCall::Update(params) = &outbox.get(id).unwrap().call else {
            panic!("an update stays an update");
        };
        assert_eq!(params.title.as_deref(), Some("x"));
        assert_eq!(
            outbox.push(
                MethodCall::Create(CreateParams {
                    board: None,
                    id: None,
                    title: "x".to_owned()
                }),
                None
            ),
            Err(OutboxError::CreateWithoutId)
        );
        assert_eq!(
            outbox.push(create(2, "   "), None),
            Err(OutboxError::Invalid(ValidationError::EmptyTitle))
        );
        assert_eq!(outbox.len(), 2);
    }

    #[test]
    fn is_bounded() {
        let mut outbox = Outbox::new(2);
        outbox.push(create(1, "a"), None).unwrap();
        outbox.push(create(2, "b"), None).unwrap();
        assert_eq!(
            outbox.push(create(3, "c"), None),
            Err(OutboxError::Full { capacity: 2 })
        );
        assert_eq!(
            OutboxError::Full { capacity: 2 }.to_string(),
            "2 changes are already waiting to be sent; try again once connected"
        );
    }

    #[test]
    fn a_person_discards_waiting_changes_but_not_ones_on_the_wire() {
        let mut outbox = Outbox::new(OUTBOX_CAPACITY);
        let a = outbox.push(create(1, "a"), None).unwrap();
        let b = outbox.push(create(2, "b"), None).unwrap();
        outbox.mark_sent(a);
        assert_eq!(outbox.discardable(), [b], "not the one on the wire");
        assert_eq!(outbox.discard(a), Err(OutboxError::InFlight(a)));
        assert_eq!(outbox.discard(b).map(|entry| entry.id), Ok(b));
        assert_eq!(outbox.discard(b), Err(OutboxError::Unknown(b)));
        assert!(outbox.mark_unknown(a));
        assert_eq!(
            outbox.discard(a).map(|entry| entry.delivery),
            Ok(Delivery::Unknown)
        );
        assert!(outbox.is_empty());
    }

    #[test]
    fn nothing_is_sent_twice_across_a_reconnect_when_the_server_has_it() {
        let mut outbox = Outbox::new(OUTBOX_CAPACITY);
        let a = outbox.push(create(1, "a"), None).unwrap();
        let b = outbox.push(create(2, "b"), None).unwrap();
        let c = outbox.push(create(3, "c"), None).unwrap();
        for (id, _) in outbox.sendable() {
            outbox.mark_sent(id);
        }
        // The connection drops before any result.
        for id in [a, b, c] {
            assert!(outbox.mark_unknown(id));
        }
        assert!(!outbox.mark_unknown(a), "already unknown");
        assert!(
            outbox.sendable().is_empty(),
            "unknown entries are not resent blindly"
        );
        let d = outbox.push(create(4, "d"), None).unwrap();
        assert!(outbox.sendable().is_empty(), "and what follows them waits");
        // The replay shows `a` and `c` landed; `b` did not.
        let decided = outbox.reconcile(|id, _| {
            if id == b {
                Shows::NotApplied
            } else {
                Shows::Applied
            }
        });
        assert_eq!(decided.len(), 3);
        assert!(matches!(&decided[0], Reconciled::Applied(entry) if entry.id == a));
        assert_eq!(decided[1], Reconciled::Resend(b));
        assert!(matches!(&decided[2], Reconciled::Applied(entry) if entry.id == c));
        assert_eq!(ids(&outbox.sendable()), [b.0, d.0], "order is kept");
    }

    #[test]
    fn an_entry_is_resent_at_most_once() {
        let mut outbox = Outbox::new(OUTBOX_CAPACITY);
        let a = outbox.push(create(1, "a"), None).unwrap();
        outbox.mark_sent(a);
        outbox.mark_unknown(a);
        assert_eq!(
            outbox.reconcile(|_, _| Shows::NotApplied),
            [Reconciled::Resend(a)]
        );
        outbox.mark_sent(a);
        outbox.mark_unknown(a);
        let decided = outbox.reconcile(|_, _| Shows::NotApplied);
        assert!(
            matches!(&decided[..], [Reconciled::GaveUp(entry)] if entry.id == a && entry.sends == MAX_SENDS)
        );
        assert!(outbox.is_empty());
    }

    #[test]
    fn mark_unknown_only_touches_entries_on_the_wire_and_drain_empties() {
        let mut outbox = Outbox::new(OUTBOX_CAPACITY);
        let a = outbox.push(create(1, "a"), None).unwrap();
        assert!(!outbox.mark_unknown(a), "not on the wire");
        assert_eq!(outbox.get(a).unwrap().delivery, Delivery::Queued);
        assert!(
            outbox.reconcile(|_, _| Shows::Applied).is_empty(),
            "queued entries are not reconciled"
        );
        assert_eq!(outbox.drain().len(), 1);
        assert!(outbox.is_empty());
        assert_eq!(outbox.settle(a), None);
    }
}
