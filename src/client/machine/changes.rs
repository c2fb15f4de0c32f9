//! A person's changes on their way: queued in the outbox and shown at once, sent in
//! order once live, and settled by their result, by a refusal, or (when the result was
//! lost with its socket) by what the next snapshot or replay shows. Nothing is applied
//! twice; see the outbox docs for why.

use protocol::{ApiError, ClientFrame, ErrorCode, MethodCall, MethodValue, Outcome};
use uuid::Uuid;

use super::connection::Phase;
use super::{Command, Machine, MutationError, Notice, Purpose, Waiting, notice, push_rows};
use crate::client::outbox::{Delivery, Kept, MutationId, Reconciled, Shows};

/// How many of this person's own task versions are remembered (see `Machine::rebase`).
const OWN_VERSIONS_KEPT: usize = 256;

impl Machine {
    pub(super) fn mutate(&mut self, now: u64, call: MethodCall, out: &mut Vec<Command>) {
        let based_on = self.based_on(&call);
        match self.outbox.push(call, based_on) {
            Ok(mutation) => {
                if let Some(entry) = self.outbox.get(mutation) {
                    let topic = self.subscriptions.changes_topic();
                    let store = self.subscriptions.changes_store_mut();
                    let rows = store.apply_local(mutation, &entry.call, now);
                    push_rows(topic, store, rows, out);
                }
                out.push(notice(Notice::Queued(mutation)));
                self.push_outbox(out);
                self.flush(now, out);
            }
            Err(error) => out.push(notice(Notice::Refused(error))),
        }
    }

    /// The version of the task `call` updates, as the open board shows it confirmed,
    /// when no other change of this person's to that task waits (it would move the
    /// version first, and what the update is made on would be unknown).
    fn based_on(&self, call: &MethodCall) -> Option<u64> {
        self.base_behind(call, self.outbox.entries())
    }

    /// The version `call` is made on as the open board shows it, behind `before` (the
    /// changes ahead of it): unknown when one of those touches its task.
    fn base_behind<'a>(
        &self,
        call: &MethodCall,
        mut before: impl Iterator<Item = &'a crate::client::outbox::Entry>,
    ) -> Option<u64> {
        let MethodCall::Update(params) = call else {
            return None;
        };
        let waiting = before.any(|entry| match &entry.call {
            MethodCall::Create(other) => other.id == Some(params.id),
            MethodCall::Update(other) => other.id == params.id,
            MethodCall::Delete(other) => other.id == params.id,
            MethodCall::ClearDone(_) => false,
        });
        if waiting || !on_board(call, self.subscriptions.changes_topic()) {
            return None;
        }
        let store = self.subscriptions.changes_store();
        store.confirmed(params.id).map(|task| task.version)
    }

    /// Puts `mutation` on the wire. Going out the first time on the open board, it is
    /// made on the version shown now rather than the one it was made on: it may have
    /// waited (offline) while others changed the task, and a sending again goes as of
    /// that version (`Outbox::as_of_base`).
    pub(super) fn mark_sent(&mut self, mutation: MutationId) {
        // Only from a store in step with the server (the open board's subscribe
        // answered), and only a version known: else the one it was made on stands.
        let fresh = self.outbox.get(mutation).and_then(|entry| {
            let first = entry.sends == 0
                && self.subscriptions.changes_in_step()
                && on_board(&entry.call, self.subscriptions.changes_topic());
            if !first {
                return None;
            }
            let before = self.outbox.entries().take_while(|e| e.id != mutation);
            self.base_behind(&entry.call, before)
        });
        if let Some(base) = fresh {
            self.outbox.set_base(mutation, base);
        }
        self.outbox.mark_sent(mutation);
    }

    /// Changes kept across a reload come back into the outbox, in order, shown at once
    /// where they belong to the open board. Those that may have reached the server
    /// already wait for what it shows (a live socket resubscribes to learn it now), but
    /// for a clearing of what was done, which is reported unconfirmed.
    pub(super) fn restore(&mut self, now: u64, kept: Vec<Kept>, out: &mut Vec<Command>) {
        let mut unknown = false;
        for kept in kept {
            match self.outbox.restore(kept) {
                Ok(mutation) => {
                    let Some(entry) = self.outbox.get(mutation) else {
                        continue;
                    };
                    if entry.delivery == Delivery::Unknown
                        && matches!(entry.call, MethodCall::ClearDone(_))
                    {
                        // Which tasks it cleared left with the page that sent it: whether
                        // it landed cannot be told, and sent again it could clear what
                        // was done since.
                        self.outbox.settle(mutation);
                        out.push(notice(Notice::Settled {
                            mutation,
                            result: Err(MutationError::ClearUntold),
                        }));
                        continue;
                    }
                    unknown |= entry.delivery == Delivery::Unknown;
                    let topic = self.subscriptions.changes_topic();
                    if on_board(&entry.call, topic) {
                        let store = self.subscriptions.changes_store_mut();
                        let rows = store.apply_local(mutation, &entry.call, now);
                        push_rows(topic, store, rows, out);
                    }
                }
                Err(error) => out.push(notice(Notice::Refused(error))),
            }
        }
        self.push_outbox(out);
        if unknown
            && matches!(self.phase, Phase::Live { .. })
            && !self.subscriptions.changes_syncing()
        {
            self.subscribe(now, self.subscriptions.changes_topic(), out);
        }
        self.flush(now, out);
    }

    /// Shows the changes still waiting for the board just opened (made there before
    /// another was opened, or kept across a reload before it was): its store is new.
    /// Clearing what is done is left out: on a store that knows no tasks yet it would
    /// cover none, and a lost result of it would then be judged by nothing.
    pub(super) fn show_waiting(&mut self, now: u64, out: &mut Vec<Command>) {
        let topic = self.subscriptions.changes_topic();
        let store = self.subscriptions.changes_store_mut();
        let mut rows = Vec::new();
        for entry in self.outbox.entries() {
            if on_board(&entry.call, topic) && !matches!(entry.call, MethodCall::ClearDone(_)) {
                rows.extend(store.apply_local(entry.id, &entry.call, now));
            }
        }
        push_rows(topic, store, rows, out);
    }

    pub(super) fn discard(&mut self, mutation: MutationId, out: &mut Vec<Command>) {
        match self.outbox.discard(mutation) {
            Ok(_) => {
                let topic = self.subscriptions.changes_topic();
                let store = self.subscriptions.changes_store_mut();
                let rows = store.reject(mutation);
                push_rows(topic, store, rows, out);
                out.push(notice(Notice::Settled {
                    mutation,
                    result: Err(MutationError::Discarded),
                }));
                self.push_outbox(out);
            }
            Err(error) => out.push(notice(Notice::Refused(error))),
        }
    }

    /// Settles the changes whose delivery the last connection left unknown, by what the
    /// store now shows. A change to a board no longer open cannot be checked there, so it
    /// is sent again (every call is safe to repeat; a refusal that says the first one
    /// landed is taken as done, see `landed_before`), an update as of the version it was
    /// made on, so that it cannot undo another person's change made after it landed
    /// (`Outbox::as_of_base`); except clearing what is done: again, it could clear what
    /// was done since, so it is given up and reported instead.
    pub(super) fn reconcile(&mut self, out: &mut Vec<Command>) {
        let store = self.subscriptions.changes_store();
        let open = self.subscriptions.changes_topic();
        let mut unseen = Vec::new();
        let decided = self.outbox.reconcile(|mutation, call| {
            if on_board(call, open) && store.can_tell(mutation, call) {
                if store.shows_applied(mutation, call) {
                    Shows::Applied
                } else {
                    Shows::NotApplied
                }
            } else if matches!(call, MethodCall::ClearDone(_)) {
                Shows::CannotTell
            } else {
                unseen.push(mutation);
                Shows::NotApplied
            }
        });
        for decision in &decided {
            match decision {
                Reconciled::Applied(entry) => {
                    let topic = self.subscriptions.changes_topic();
                    let store = self.subscriptions.changes_store_mut();
                    let rows = store.confirm(entry.id, None);
                    push_rows(topic, store, rows, out);
                    out.push(notice(Notice::Settled {
                        mutation: entry.id,
                        result: Ok(()),
                    }));
                }
                Reconciled::GaveUp(entry) | Reconciled::Untold(entry) => {
                    let topic = self.subscriptions.changes_topic();
                    let why = if matches!(decision, Reconciled::Untold(_)) {
                        MutationError::ClearUntold
                    } else {
                        MutationError::Unconfirmed
                    };
                    let store = self.subscriptions.changes_store_mut();
                    let rows = store.reject(entry.id);
                    push_rows(topic, store, rows, out);
                    out.push(notice(Notice::Settled {
                        mutation: entry.id,
                        result: Err(why),
                    }));
                }
                Reconciled::Resend(mutation) => {
                    if unseen.contains(mutation) {
                        self.outbox.as_of_base(*mutation);
                    }
                }
            }
        }
        if !decided.is_empty() {
            self.push_outbox(out);
        }
    }

    /// Sends every waiting change, in order, while live: on the socket, or one at a time
    /// over HTTP on the fallback. The socket waits for a change still out over HTTP, so
    /// that none overtakes it.
    pub(super) fn flush(&mut self, now: u64, out: &mut Vec<Command>) {
        if self.fallback.as_ref().is_some_and(|f| f.carries_changes()) {
            self.flush_http(out);
            return;
        }
        if !matches!(self.phase, Phase::Live { .. }) || self.http_call.is_some() {
            return;
        }
        if self.paced_until.is_some() {
            return;
        }
        let mut sendable = self.outbox.sendable();
        if let Some(waits) = sendable.iter().position(|_| !self.pace.take(now)) {
            sendable.truncate(waits);
            self.paced_until = Some(self.pace.next_at());
        }
        for (mutation, call) in &sendable {
            let id = self.requests.issue(
                Purpose::Mutation(*mutation),
                now,
                self.config.request_timeout_ms,
            );
            self.mark_sent(*mutation);
            self.send(
                ClientFrame::Request {
                    id,
                    call: call.clone(),
                },
                out,
            );
        }
        if !sendable.is_empty() {
            self.push_outbox(out);
        }
    }

    /// A `result` frame: settles the change it answers, if it answers one, or the
    /// unsubscribe it answers (which asks nothing more).
    pub(super) fn on_result(
        &mut self,
        now: u64,
        id: u64,
        outcome: Outcome,
        out: &mut Vec<Command>,
    ) {
        let answered = self.requests.settle_if(id, |p| {
            matches!(p, Purpose::Mutation(_) | Purpose::Unsubscribe)
        });
        if let Some(Purpose::Mutation(mutation)) = answered {
            let result = match outcome {
                Outcome::Ok(value) => Ok(value),
                Outcome::Error(error) => Err(error),
            };
            self.settle_mutation(mutation, result, out);
            self.flush(now, out);
        }
    }

    pub(super) fn settle_mutation(
        &mut self,
        mutation: MutationId,
        result: Result<MethodValue, ApiError>,
        out: &mut Vec<Command>,
    ) {
        if let Err(error) = &result
            && self.rebase(mutation, error)
        {
            self.push_outbox(out);
            return;
        }
        let result = match result {
            Err(error) => self.landed_before(mutation, error),
            ok => ok,
        };
        if let Ok(MethodValue {
            task: Some(task), ..
        }) = &result
        {
            if self.own_versions.len() == OWN_VERSIONS_KEPT {
                self.own_versions.remove(0);
            }
            self.own_versions.push((task.id, task.version));
        }
        let entry = self.outbox.settle(mutation);
        let topic = self.subscriptions.changes_topic();
        // The task a result carries belongs to the change's board, which may no longer
        // be the one open.
        let here = entry
            .as_ref()
            .is_some_and(|entry| on_board(&entry.call, topic));
        let store = self.subscriptions.changes_store_mut();
        let (rows, result) = match result {
            // A task for create and update; none for delete and clear.
            Ok(value) => (store.confirm(mutation, value.task.filter(|_| here)), Ok(())),
            Err(error) => {
                let rows = store.reject(mutation);
                // A title typed against an old version, on the board open: the person
                // chooses. On a board left since, there is no task shown to choose on.
                let conflict = match (error.code, &error.current, entry.map(|entry| entry.call)) {
                    (ErrorCode::Conflict, Some(current), Some(MethodCall::Update(mine)))
                        if here && mine.title.is_some() =>
                    {
                        Some(Notice::Conflict {
                            mine,
                            current: (**current).clone(),
                        })
                    }
                    _ => None,
                };
                let why = match conflict {
                    Some(conflict) => {
                        out.push(notice(conflict));
                        MutationError::Conflicted
                    }
                    None => MutationError::Refused(error),
                };
                (rows, Err(why))
            }
        };
        push_rows(topic, store, rows, out);
        out.push(notice(Notice::Settled { mutation, result }));
        self.push_outbox(out);
    }

    /// A change sent again because its first answer was lost and its board was not open
    /// to tell, refused in a way that says the first one landed: a delete's `not_found`
    /// (the task is gone, as asked, whoever deleted it), or a title edit's `conflict`
    /// whose task is already as it asked (its first sending moved the version it was
    /// made against). Reporting either refused would be false.
    fn landed_before(
        &self,
        mutation: MutationId,
        error: ApiError,
    ) -> Result<MethodValue, ApiError> {
        let Some(entry) = self.outbox.get(mutation).filter(|entry| entry.sends > 1) else {
            return Err(error);
        };
        match (&entry.call, error.code, &error.current) {
            (MethodCall::Delete(_), ErrorCode::NotFound, _) => Ok(MethodValue::default()),
            (MethodCall::Update(mine), ErrorCode::Conflict, Some(current))
                if current.id == mine.id
                    && mine
                        .title
                        .as_ref()
                        .is_none_or(|title| *title == current.title)
                    && mine.done.is_none_or(|done| done == current.done) =>
            {
                // Without the task: its version may be another person's by now, and the
                // versions kept as this person's own must be theirs.
                Ok(MethodValue::default())
            }
            _ => Err(error),
        }
    }

    /// A title edit refused as a conflict when every version since the one it was made
    /// against is this person's own (a tick of theirs still on its way as they renamed
    /// the task): nobody else changed the task, so it goes again against the version
    /// now, rather than asking the person to choose between themselves.
    ///
    /// Also a tick sent again as of the version it was made on (`Outbox::as_of_base`),
    /// refused for one change made since that left the task as it was: its first sending
    /// did not land (it would have made that very version, as it asked), so it goes again
    /// against the version now, as it would have had it come late.
    fn rebase(&mut self, mutation: MutationId, error: &ApiError) -> bool {
        let (ErrorCode::Conflict, Some(current)) = (error.code, &error.current) else {
            return false;
        };
        let Some(entry) = self.outbox.get(mutation) else {
            return false;
        };
        let MethodCall::Update(mine) = &entry.call else {
            return false;
        };
        let Some(seen) = mine.if_version else {
            return false;
        };
        if current.id != mine.id || current.version <= seen {
            return false;
        }
        let own = |version| self.own_versions.contains(&(current.id, version));
        let first_not_landed = entry.sends > 1
            && entry.based_on == Some(seen)
            && mine.title.is_none()
            && current.version == seen + 1
            && mine.done.is_some_and(|done| done != current.done);
        if !first_not_landed && !(seen + 1..=current.version).all(own) {
            return false;
        }
        self.outbox.rebase(mutation, current.version)
    }

    /// Tells the UI what the outbox holds now, each change with its task's title.
    pub(super) fn push_outbox(&self, out: &mut Vec<Command>) {
        let store = self.subscriptions.changes_store();
        let title = |id: Uuid| {
            store
                .get(id)
                .map(|view| view.task)
                .or_else(|| store.confirmed(id))
                .map(|task| task.title.clone())
        };
        let waiting = self
            .outbox
            .entries()
            .map(|entry| Waiting {
                title: match &entry.call {
                    MethodCall::Update(params) => title(params.id),
                    MethodCall::Delete(params) => title(params.id),
                    MethodCall::Create(_) | MethodCall::ClearDone(_) => None,
                },
                call: entry.call.clone(),
                sends: entry.sends,
                based_on: entry.based_on,
            })
            .collect();
        out.push(notice(Notice::Outbox(waiting)));
    }
}

/// Whether `call` goes to the board of `topic` (a call without `board` goes to the
/// personal board, `tasks`).
fn on_board(call: &MethodCall, topic: protocol::Topic) -> bool {
    match (call.board(), topic) {
        (None, protocol::Topic::Tasks) => true,
        (Some(board), protocol::Topic::Board(open)) => board == open,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::{
        ApiError, Change, ClearDoneParams, ClientFrame, CreateParams, DeleteParams, ErrorCode,
        MethodCall, MethodValue, Outcome, Position, ServerFrame, Task, TaskFields, Topic,
        UpdateParams,
    };
    use uuid::Uuid;

    use crate::client::fixtures::machine::{
        HOUR, Harness, TOKEN, app_live_on, app_machine, auth_ok, board_list, board_snapshot,
        closed, closes, create, create_on, notices, ok_task, problems, replay, request_ids, rows,
        sent, set_done, set_done_on, settled, since_of, snapshot, subscribe_id, subscribed, timer,
        upsert,
    };
    use crate::client::fixtures::{event, task};
    use crate::client::machine::{
        Command, Config, ConnId, ConnectionState, Input, MutationError, Notice, Problem, TimerKind,
    };
    use crate::client::outbox::OutboxError;
    use crate::client::outbox::{Kept, MutationId};
    use crate::client::requests::REQUEST_TIMEOUT_MS;
    use crate::client::rows::RowUpdate;

    #[test]
    fn changes_wait_while_not_live_and_go_in_order_once_live() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let out2 = h.feed(Input::Mutate(create(1)));
        assert!(sent(&out2).is_empty());
        assert!(notices(&out2).contains(&Notice::Queued(MutationId(1))));
        // The new task shows at once, waiting for the server.
        assert!(matches!(
            rows(&out2).as_slice(),
            [RowUpdate::Inserted { index: 0, row }] if row.task.id == Uuid::from_u128(1) && row.pending
        ));
        h.feed(Input::Mutate(set_done(1)));
        h.feed(Input::Mutate(create(2)));
        assert_eq!(h.machine.outbox().len(), 3);
        assert!(h.machine.store().get(Uuid::from_u128(1)).unwrap().pending);

        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        let out = h.frame(conn, snapshot(subscribe_id(&out), 1, vec![]));
        let requests = request_ids(&out);
        assert_eq!(
            requests.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(
            requests
                .into_iter()
                .map(|(_, call)| call)
                .collect::<Vec<_>>(),
            [create(1), set_done(1), create(2)]
        );
        assert!(h.machine.store().get(Uuid::from_u128(1)).unwrap().task.done);
    }

    #[test]
    fn changes_kept_across_a_reload_are_made_once() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        // One went out before the reload (its answer lost with the page), one did not.
        let out2 = h.feed(Input::Restore(vec![
            Kept {
                call: create(1),
                sends: 1,
                based_on: None,
            },
            Kept {
                call: create(2),
                sends: 0,
                based_on: None,
            },
        ]));
        assert_eq!(rows(&out2).len(), 2, "both shown at once, pending");
        assert!(h.machine.store().get(Uuid::from_u128(2)).unwrap().pending);
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        // The server shows the first: it is settled, not sent again; the second goes.
        let out = h.frame(conn, snapshot(subscribe_id(&out), 1, vec![task(1)]));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert_eq!(
            request_ids(&out)
                .into_iter()
                .map(|(_, call)| call)
                .collect::<Vec<_>>(),
            [create(2)]
        );
    }

    /// The kept changes of several closed tabs may come to more than the outbox holds:
    /// every one is taken (its record goes once the outbox is kept again) and sent.
    #[test]
    fn kept_changes_past_the_outbox_capacity_are_all_taken() {
        let mut h = Harness::with(Config {
            outbox_capacity: 2,
            ..Config::default()
        });
        h.live(1);
        let kept = (1..=3)
            .map(|n| Kept {
                call: create(n),
                sends: 0,
                based_on: None,
            })
            .collect();
        let out = h.feed(Input::Restore(kept));
        assert!(
            notices(&out)
                .iter()
                .all(|n| !matches!(n, Notice::Refused(_))),
            "{out:?}"
        );
        assert_eq!(request_ids(&out).len(), 3, "all three sent");
        let out = h.feed(Input::Mutate(create(4)));
        assert_eq!(
            notices(&out),
            [Notice::Refused(OutboxError::Full { capacity: 2 })],
            "a new change waits until fewer are waiting"
        );
    }

    #[test]
    fn changes_kept_across_a_reload_that_come_back_once_live_resubscribe_to_settle() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Restore(vec![Kept {
            call: create(1),
            sends: 1,
            based_on: None,
        }]));
        assert_eq!(
            since_of(&out),
            Some(Position {
                epoch: "e1".to_owned(),
                seq: 1
            })
        );
        assert!(request_ids(&out).is_empty(), "not sent blindly");
        let out = h.frame(conn, replay(subscribe_id(&out), 1, vec![]));
        let [(_, ref call)] = request_ids(&out)[..] else {
            panic!("not shown by the server: sent once more: {out:?}");
        };
        assert_eq!(*call, create(1));
    }

    #[test]
    fn results_confirm_or_roll_back() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        let out = h.feed(Input::Mutate(set_done(1)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        let confirmed = Task {
            done: true,
            version: 2,
            ..task(1)
        };
        let out = h.frame(conn, ok_task(id, confirmed.clone()));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert_eq!(
            h.machine.store().confirmed(Uuid::from_u128(1)),
            Some(&confirmed)
        );
        assert!(!h.machine.store().get(Uuid::from_u128(1)).unwrap().pending);

        let out = h.feed(Input::Mutate(create(5)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        assert_eq!(h.machine.store().len(), 2);
        let refusal = ApiError::new(ErrorCode::BadRequest, "nope");
        let out = h.frame(
            conn,
            ServerFrame::Result {
                id,
                outcome: Outcome::Error(refusal.clone()),
            },
        );
        assert_eq!(
            settled(&out),
            [(MutationId(2), Err(MutationError::Refused(refusal)))]
        );
        assert_eq!(
            rows(&out),
            [RowUpdate::Removed {
                id: Uuid::from_u128(5),
                index: 0
            }]
        );
        assert!(h.machine.outbox().is_empty());
    }

    #[test]
    fn an_answer_of_the_wrong_type_does_not_settle_a_request() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        let out = h.frame(conn, snapshot(id, 1, vec![]));
        assert!(notices(&out).is_empty());
        assert!(h.frame(conn, auth_ok(id)).is_empty());
        assert_eq!(h.machine.diagnostics().pending_requests, 1);
        let out = h.frame(conn, ok_task(id, task(1)));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
    }

    #[test]
    fn an_error_frame_refuses_its_request_or_is_reported() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: Some(id),
                code: ErrorCode::RateLimited,
                message: "slow down".to_owned(),
            },
        );
        assert!(matches!(
            settled(&out)[..],
            [(_, Err(MutationError::Refused(_)))]
        ));
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: None,
                code: ErrorCode::BadRequest,
                message: "what".to_owned(),
            },
        );
        assert!(matches!(problems(&out)[..], [Problem::Server(_)]));
        assert_eq!(h.state(), ConnectionState::Live);
    }

    #[test]
    fn nothing_is_applied_twice_across_reconnects() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        let out = h.feed(Input::Mutate(create(1)));
        assert_eq!(request_ids(&out).len(), 1);
        let out = h.feed(Input::Mutate(set_done(7)));
        assert_eq!(request_ids(&out).len(), 1);
        // The socket drops before either result.
        let out = h.feed(closed(conn, 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        // The replay shows the create landed; the update did not.
        let out = h.frame(
            conn,
            replay(
                subscribe_id(&out),
                3,
                vec![event(3, Change::Upsert { item: task(1) })],
            ),
        );
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert_eq!(
            request_ids(&out)
                .into_iter()
                .map(|(_, call)| call)
                .collect::<Vec<_>>(),
            [set_done(7)],
            "only the update is resent, once"
        );
        // Dropped again without a result; this time the server shows nothing either.
        let out = h.feed(closed(conn, 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        let out = h.frame(conn, replay(subscribe_id(&out), 3, vec![]));
        assert!(request_ids(&out).is_empty(), "never a third send");
        assert_eq!(
            settled(&out),
            [(MutationId(2), Err(MutationError::Unconfirmed))]
        );
        let view = h.machine.store().get(Uuid::from_u128(7)).unwrap();
        assert!(!view.task.done && !view.pending, "rolled back");
        assert!(h.machine.outbox().is_empty());
    }

    #[test]
    fn a_create_deleted_elsewhere_before_the_reconnect_is_not_resent() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(Input::Mutate(create(1)));
        let out = h.feed(closed(conn, 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        let events = vec![
            event(2, Change::Upsert { item: task(1) }),
            event(
                3,
                Change::Delete {
                    id: Uuid::from_u128(1),
                },
            ),
        ];
        let out = h.frame(conn, replay(subscribe_id(&out), 3, events));
        assert!(request_ids(&out).is_empty(), "resending would resurrect it");
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(h.machine.store().is_empty());
    }

    #[test]
    fn a_timed_out_change_is_settled_by_a_resubscribe_not_resent_blindly() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        let [(request, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        // The event came, the result did not.
        h.frame(conn, upsert(2, 1));
        let out = h.at(
            h.now + REQUEST_TIMEOUT_MS,
            Input::TimerFired(TimerKind::Requests),
        );
        assert!(
            closes(&out).is_empty(),
            "a slow answer does not kill the socket"
        );
        assert_eq!(
            since_of(&out),
            Some(Position {
                epoch: "e1".to_owned(),
                seq: 2
            })
        );
        let out = h.frame(conn, replay(subscribe_id(&out), 2, vec![]));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(request_ids(&out).is_empty());
        // The late result matches nothing any more.
        assert!(
            h.frame(conn, ok_task(request, task(1)))
                .iter()
                .all(|c| !matches!(c, Command::Notify(_)))
        );
    }

    /// A change sent while a resubscribe is out (a gap, answered by a replay that takes
    /// longer than a request may): its time runs out behind that answer, which was asked
    /// for before the change and cannot show it. It is not judged by it, so not sent a
    /// second time; its own answer, which comes after, settles it.
    #[test]
    fn a_change_behind_a_slow_resubscribe_is_not_judged_by_it_nor_sent_twice() {
        let mut h = Harness::new();
        let conn = h.live(10);
        h.frame(conn, upsert(11, 1));
        let out = h.frame(conn, upsert(13, 2));
        let resubscribe = subscribe_id(&out);
        let out = h.feed(Input::Mutate(set_done(1)));
        let [(request, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live: {out:?}");
        };
        let out = h.at(
            h.now + REQUEST_TIMEOUT_MS,
            Input::TimerFired(TimerKind::Requests),
        );
        assert!(
            closes(&out).is_empty() && request_ids(&out).is_empty(),
            "{out:?}"
        );
        let events = vec![
            event(12, Change::Upsert { item: task(3) }),
            event(13, Change::Upsert { item: task(2) }),
        ];
        let out = h.frame(conn, replay(resubscribe, 13, events));
        assert!(request_ids(&out).is_empty(), "not sent again: {out:?}");
        assert!(
            settled(&out).is_empty(),
            "not judged by the replay: {out:?}"
        );
        let done = Task {
            done: true,
            version: 2,
            ..task(1)
        };
        let out = h.frame(conn, ok_task(request, done));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
    }

    #[test]
    fn a_person_discards_a_waiting_change_but_not_one_on_the_wire() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        assert_eq!(request_ids(&out).len(), 1);
        let out = h.feed(Input::Discard(MutationId(1)));
        assert_eq!(
            notices(&out),
            [Notice::Refused(OutboxError::InFlight(MutationId(1)))]
        );
        h.feed(closed(conn, 1006));
        let out = h.feed(Input::Mutate(create(2)));
        assert!(request_ids(&out).is_empty());
        let out = h.feed(Input::Discard(MutationId(2)));
        assert_eq!(
            settled(&out),
            [(MutationId(2), Err(MutationError::Discarded))]
        );
        assert_eq!(
            rows(&out),
            [RowUpdate::Removed {
                id: Uuid::from_u128(2),
                index: 1
            }]
        );
        assert_eq!(h.machine.outbox().len(), 1);
    }

    #[test]
    fn bad_changes_are_refused_before_queueing() {
        let mut h = Harness::new();
        let out = h.feed(Input::Mutate(MethodCall::Create(CreateParams {
            board: None,
            id: None,
            title: "x".to_owned(),
        })));
        assert_eq!(
            notices(&out),
            [Notice::Refused(OutboxError::CreateWithoutId)]
        );
        let mut h = Harness::with(Config {
            outbox_capacity: 1,
            ..Config::default()
        });
        h.feed(Input::Mutate(create(1)));
        let out = h.feed(Input::Mutate(create(2)));
        assert_eq!(
            notices(&out),
            [Notice::Refused(OutboxError::Full { capacity: 1 })]
        );
    }

    #[test]
    fn a_title_typed_over_someone_elses_change_is_handed_back_as_a_conflict() {
        let mut h = Harness::new();
        let conn = h.live(0);
        h.frame(conn, upsert(1, 1));
        let mine = protocol::UpdateParams {
            board: None,
            id: Uuid::from_u128(1),
            title: Some("Mine".to_owned()),
            done: None,
            if_version: Some(1),
        };
        let out = h.feed(Input::Mutate(MethodCall::Update(mine.clone())));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("one request: {out:?}");
        };
        let mut theirs = task(1);
        theirs.title = "Theirs".to_owned();
        theirs.version = 2;
        theirs.updated_by = "sam".to_owned();
        let mut error = ApiError::new(ErrorCode::Conflict, "changed meanwhile");
        error.current = Some(Box::new(theirs.clone()));
        let out = h.frame(
            conn,
            ServerFrame::Result {
                id,
                outcome: Outcome::Error(error),
            },
        );
        assert!(notices(&out).contains(&Notice::Conflict {
            mine,
            current: theirs,
        }));
        // The row goes back to what the server confirmed; the person's text travels in
        // the notice.
        assert_eq!(
            h.machine
                .store()
                .get(Uuid::from_u128(1))
                .map(|t| t.task.title.clone()),
            Some("t1".to_owned())
        );
        assert!(matches!(
            settled(&out)[..],
            [(_, Err(MutationError::Conflicted))]
        ));
    }

    /// The subscribes after `auth_ok` on a socket that follows the board list beside the
    /// open board: (the board list's id, the open board's).
    fn subscribes(out: &[Command]) -> (u64, u64) {
        let ids: Vec<(u64, Topic)> = sent(out)
            .into_iter()
            .filter_map(|frame| match frame {
                ClientFrame::Subscribe { id, topic, .. } => Some((id, topic)),
                _ => None,
            })
            .collect();
        match ids[..] {
            [(boards, Topic::Boards), (open, Topic::Tasks)] => (boards, open),
            _ => panic!("the board list, then the open board: {ids:?}"),
        }
    }

    fn delete(n: u128) -> MethodCall {
        MethodCall::Delete(DeleteParams {
            board: None,
            id: Uuid::from_u128(n),
        })
    }

    fn set_undone(n: u128) -> MethodCall {
        MethodCall::Update(UpdateParams {
            done: Some(false),
            ..update_params(set_done(n))
        })
    }

    fn update_params(call: MethodCall) -> UpdateParams {
        match call {
            MethodCall::Update(params) => params,
            other => panic!("an update: {other:?}"),
        }
    }

    fn patch_done(seq: u64, n: u128, version: u64, done: bool) -> protocol::Event {
        event(
            seq,
            Change::Patch {
                id: Uuid::from_u128(n),
                version,
                fields: TaskFields {
                    done: Some(done),
                    ..TaskFields::default()
                },
            },
        )
    }

    /// A tick and then an untick, both results lost with the connection: the untick is
    /// what the person did last, and the server shows it. The tick is not sent again
    /// after it, which would leave the task ticked.
    #[test]
    fn a_change_overridden_by_a_later_lost_one_is_not_resent_after_it() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        h.feed(Input::Mutate(set_done(7)));
        h.feed(Input::Mutate(set_undone(7)));
        let (conn, out) = h.reconnect(conn);
        let events = vec![patch_done(3, 7, 2, true), patch_done(4, 7, 3, false)];
        let out = h.frame(conn, replay(subscribe_id(&out), 4, events));
        assert!(request_ids(&out).is_empty(), "nothing sent again: {out:?}");
        assert_eq!(
            settled(&out),
            [(MutationId(1), Ok(())), (MutationId(2), Ok(()))]
        );
        let row = h.machine.store().get(Uuid::from_u128(7)).unwrap();
        assert!(!row.task.done && !row.pending, "{row:?}");

        // Had only the tick landed, the untick alone goes again.
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        h.feed(Input::Mutate(set_done(7)));
        h.feed(Input::Mutate(set_undone(7)));
        let (conn, out) = h.reconnect(conn);
        let out = h.frame(
            conn,
            replay(subscribe_id(&out), 3, vec![patch_done(3, 7, 2, true)]),
        );
        let calls: Vec<MethodCall> = request_ids(&out).into_iter().map(|(_, c)| c).collect();
        assert_eq!(calls, [set_undone(7)]);
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
    }

    /// A tick whose answer was lost, then another person's untick: the replay shows the
    /// tick landed before the untick, so it is not sent again over the untick.
    #[test]
    fn a_lost_change_that_another_person_changed_back_is_not_resent() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        h.feed(Input::Mutate(set_done(7)));
        let (conn, out) = h.reconnect(conn);
        let events = vec![patch_done(3, 7, 2, true), patch_done(4, 7, 3, false)];
        let out = h.frame(conn, replay(subscribe_id(&out), 4, events));
        assert!(request_ids(&out).is_empty(), "nothing sent again: {out:?}");
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        let row = h.machine.store().get(Uuid::from_u128(7)).unwrap();
        assert!(!row.task.done && !row.pending, "{row:?}");
    }

    /// Three hundred changes made offline go out at the app's pace once live: a hundred
    /// at once, then one every 40 ms, under the server's limits (a burst of 200 frames,
    /// 50 a second), so that the socket is not closed with 4429 and none rolled back.
    #[test]
    fn a_long_queue_goes_out_at_a_pace_the_server_takes() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        for n in 0..300 {
            h.feed(Input::Mutate(create(1_000 + n)));
        }
        let out = h.frame(conn, auth_ok(1));
        let mut out = h.frame(conn, snapshot(subscribe_id(&out), 1, vec![]));
        assert_eq!(request_ids(&out).len(), 100, "a burst of a hundred");
        let started = h.now;
        for _ in 100..300 {
            let after = timer(&out, TimerKind::Pace).expect("a turn for the next change");
            out = h.at(h.now + after, Input::TimerFired(TimerKind::Pace));
            assert_eq!(request_ids(&out).len(), 1, "one at a time: {out:?}");
        }
        assert_eq!(timer(&out, TimerKind::Pace), None, "all sent");
        assert_eq!(h.now - started, 200 * 40, "the rest at 25 a second");
    }

    fn rename_against(version: u64) -> MethodCall {
        MethodCall::Update(UpdateParams {
            board: None,
            id: Uuid::from_u128(1),
            title: Some("Mine".to_owned()),
            done: None,
            if_version: Some(version),
        })
    }

    fn conflict(id: u64, current: Task) -> ServerFrame {
        let mut error = ApiError::new(ErrorCode::Conflict, "changed in the meantime.");
        error.current = Some(Box::new(current));
        ServerFrame::Result {
            id,
            outcome: Outcome::Error(error),
        }
    }

    /// A tick, then a rename made before the tick's answer came (against the version
    /// before it): the rename is refused for a version only this person moved on, so it
    /// goes again against the version now, with no conflict to choose on. A version
    /// someone else made is a conflict, as ever.
    #[test]
    fn a_conflict_with_ones_own_change_is_no_conflict() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        let out = h.feed(Input::Mutate(set_done(1)));
        let [(tick, _)] = request_ids(&out)[..] else {
            panic!("the tick sent: {out:?}");
        };
        let out = h.feed(Input::Mutate(rename_against(1)));
        let [(rename, _)] = request_ids(&out)[..] else {
            panic!("the rename sent: {out:?}");
        };
        let ticked = Task {
            done: true,
            version: 2,
            ..task(1)
        };
        h.frame(conn, ok_task(tick, ticked.clone()));
        let out = h.frame(conn, conflict(rename, ticked.clone()));
        assert!(
            !notices(&out)
                .iter()
                .any(|notice| matches!(notice, Notice::Conflict { .. })),
            "{out:?}"
        );
        let [(again, ref call)] = request_ids(&out)[..] else {
            panic!("the rename sent again: {out:?}");
        };
        assert_eq!(*call, rename_against(2));
        let renamed = Task {
            title: "Mine".to_owned(),
            version: 3,
            ..ticked.clone()
        };
        let out = h.frame(conn, ok_task(again, renamed));
        assert_eq!(settled(&out), [(MutationId(2), Ok(()))]);

        // Someone else's version in between: the person chooses.
        let out = h.feed(Input::Mutate(rename_against(3)));
        let [(theirs, _)] = request_ids(&out)[..] else {
            panic!("sent: {out:?}");
        };
        let current = Task {
            title: "Theirs".to_owned(),
            version: 4,
            ..ticked
        };
        let out = h.frame(conn, conflict(theirs, current));
        assert!(
            notices(&out)
                .iter()
                .any(|notice| matches!(notice, Notice::Conflict { .. })),
            "{out:?}"
        );
    }

    /// A task made and deleted, both kept across a reload with their results unknown:
    /// the board's snapshot has no such task, whichever of them landed. The create is
    /// not sent again: the task stays deleted, as the person left it.
    #[test]
    fn a_kept_create_and_delete_of_one_task_leave_it_deleted() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        h.feed(Input::Restore(vec![
            Kept {
                call: create(1),
                sends: 1,
                based_on: None,
            },
            Kept {
                call: delete(1),
                sends: 1,
                based_on: None,
            },
        ]));
        let out = h.frame(conn, auth_ok(1));
        let out = h.frame(conn, snapshot(subscribe_id(&out), 5, vec![]));
        assert!(request_ids(&out).is_empty(), "nothing sent again: {out:?}");
        assert_eq!(
            settled(&out),
            [(MutationId(1), Ok(())), (MutationId(2), Ok(()))]
        );
        assert!(h.machine.store().is_empty());
    }

    /// The board list answers a resubscribe first (the server answers a socket's frames
    /// in order); a change whose result was lost is settled by the open board's answer,
    /// not judged against the board as the last connection left it.
    #[test]
    fn a_lost_result_waits_for_the_open_boards_answer_not_the_board_lists() {
        let mut h = Harness::with(Config {
            boards: true,
            ..Config::default()
        });
        let conn = h.signed_in();
        let out = h.frame(conn, auth_ok(1));
        let (boards, open) = subscribes(&out);
        h.frame(conn, board_list(boards));
        h.frame(conn, snapshot(open, 5, vec![task(1)]));
        assert_eq!(h.state(), ConnectionState::Live);
        let out = h.feed(Input::Mutate(delete(1)));
        assert_eq!(request_ids(&out).len(), 1, "the delete goes");

        // Its socket breaks before the result: the server applied it.
        let (conn, out) = h.reconnect(conn);
        let (boards, open) = subscribes(&out);
        let out = h.frame(conn, board_list(boards));
        assert!(request_ids(&out).is_empty(), "not resent: {out:?}");
        assert!(settled(&out).is_empty(), "not settled yet: {out:?}");
        let out = h.frame(
            conn,
            replay(
                open,
                6,
                vec![event(
                    6,
                    Change::Delete {
                        id: Uuid::from_u128(1),
                    },
                )],
            ),
        );
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(request_ids(&out).is_empty(), "never sent twice");
    }

    /// After a reload the open board's store is empty until its snapshot: a kept delete
    /// that went out once is not taken as applied because the empty store lacks the task.
    #[test]
    fn a_kept_change_is_not_settled_by_the_empty_board_of_a_reload() {
        let mut h = Harness::with(Config {
            boards: true,
            ..Config::default()
        });
        let conn = h.signed_in();
        h.feed(Input::Restore(vec![Kept {
            call: delete(1),
            sends: 1,
            based_on: None,
        }]));
        let out = h.frame(conn, auth_ok(1));
        let (boards, open) = subscribes(&out);
        let out = h.frame(conn, board_list(boards));
        assert!(
            settled(&out).is_empty(),
            "not settled by the board list: {out:?}"
        );
        // The board still has the task: the delete never landed, and goes once now.
        let out = h.frame(conn, snapshot(open, 5, vec![task(1)]));
        assert!(settled(&out).is_empty());
        assert_eq!(
            request_ids(&out)
                .into_iter()
                .map(|(_, call)| call)
                .collect::<Vec<_>>(),
            [delete(1)]
        );
    }

    /// Clearing what is done, kept across a reload after it went out once: the tasks it
    /// cleared are not known any more, so it is reported unconfirmed and never sent
    /// again (it would clear what was done since); the same for one left on another board.
    #[test]
    fn a_clearing_of_unknown_delivery_is_never_sent_again() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let clear = MethodCall::ClearDone(ClearDoneParams { board: None });
        let out = h.feed(Input::Restore(vec![Kept {
            call: clear.clone(),
            sends: 1,
            based_on: None,
        }]));
        assert_eq!(
            settled(&out),
            [(MutationId(1), Err(MutationError::ClearUntold))]
        );
        let out = h.frame(conn, auth_ok(1));
        let done = Task {
            done: true,
            ..task(7)
        };
        let out = h.frame(conn, snapshot(subscribe_id(&out), 6, vec![done]));
        assert!(request_ids(&out).is_empty(), "{out:?}");

        // Sent on this board, its result lost; meanwhile another board is opened.
        let out = h.feed(Input::Mutate(clear.clone()));
        assert_eq!(request_ids(&out).len(), 1);
        let (_, out) = on_another_board(&mut h, conn);
        assert!(request_ids(&out).is_empty(), "{out:?}");
        assert_eq!(
            settled(&out),
            [(MutationId(2), Err(MutationError::ClearUntold))]
        );
    }

    /// Task 7 ticked, then what is done cleared, on a socket that drops before either
    /// answer: the harness, the next socket, what it sent (its resubscribe) and the
    /// clearing's call.
    fn ticked_and_cleared_then_reconnected() -> (Harness, ConnId, Vec<Command>, MethodCall) {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        let clear = MethodCall::ClearDone(ClearDoneParams { board: None });
        h.feed(Input::Mutate(set_done(7)));
        h.feed(Input::Mutate(clear.clone()));
        let (conn, out) = h.reconnect(conn);
        (h, conn, out, clear)
    }

    /// A tick, then clearing what is done (which covers the ticked task), both lost
    /// before reaching the server: the replay shows neither. The task, shown done only
    /// by the tick, tells nothing of the clearing, which is not taken as done: both go
    /// again, in order, so the task ends cleared as the person asked.
    #[test]
    fn a_clearing_of_a_task_ticked_just_before_goes_again_after_the_tick() {
        let (mut h, conn, out, clear) = ticked_and_cleared_then_reconnected();
        let out = h.frame(conn, replay(subscribe_id(&out), 2, Vec::new()));
        assert!(settled(&out).is_empty(), "{out:?}");
        let sent = sent_calls(&out);
        assert_eq!(sent, [set_done(7), clear]);
    }

    /// A task made here, ticked, and what is done cleared, none of it reaching the
    /// server: the task, never on the server, being missing from it tells nothing of
    /// the clearing, which goes again after the create and the tick.
    #[test]
    fn a_clearing_of_a_task_made_just_before_goes_again_after_it() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let clear = MethodCall::ClearDone(ClearDoneParams { board: None });
        h.feed(Input::Mutate(create(9)));
        h.feed(Input::Mutate(set_done(9)));
        h.feed(Input::Mutate(clear.clone()));
        let (conn, out) = h.reconnect(conn);
        let out = h.frame(conn, replay(subscribe_id(&out), 1, Vec::new()));
        assert!(settled(&out).is_empty(), "{out:?}");
        assert_eq!(sent_calls(&out), [create(9), set_done(9), clear]);
    }

    /// The same tick and clearing, both landed, the answers lost, and the log trimmed
    /// meanwhile: the snapshot has the task no more. Gone, it shows the clearing took
    /// effect: it is not sent again (it would clear what others have done since).
    #[test]
    fn a_clearing_whose_ticked_task_is_gone_is_not_sent_again() {
        let (mut h, conn, out, clear) = ticked_and_cleared_then_reconnected();
        let out = h.frame(conn, snapshot(subscribe_id(&out), 5, Vec::new()));
        let sent = sent_calls(&out);
        assert!(!sent.contains(&clear), "{sent:?}");
        assert!(settled(&out).contains(&(MutationId(2), Ok(()))), "{out:?}");
    }

    /// `call` made on the open board (task 7 at version 1), its answer lost as the socket
    /// drops while another board is opened: that board cannot tell whether it landed, so
    /// it is sent again, as `again`. Returns the harness, the socket and the id the call
    /// went again with.
    fn sent_again_as(call: MethodCall, again: MethodCall) -> (Harness, ConnId, u64) {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        assert_eq!(request_ids(&h.feed(Input::Mutate(call.clone()))).len(), 1);
        let (conn, out) = on_another_board(&mut h, conn);
        let [(id, ref sent)] = request_ids(&out)[..] else {
            panic!("the call goes again: {out:?}");
        };
        assert_eq!(*sent, again);
        (h, conn, id)
    }

    fn sent_again_from_another_board(call: MethodCall) -> (Harness, ConnId, u64) {
        sent_again_as(call.clone(), call)
    }

    /// The socket drops while another board is opened, and that board's snapshot (an
    /// empty one) comes on the next: returns that socket and what the snapshot led to.
    fn on_another_board(h: &mut Harness, conn: ConnId) -> (ConnId, Vec<Command>) {
        let other = Topic::Board(Uuid::from_u128(5));
        let (conn, out) = h.reconnect_after(conn, |h| {
            h.feed(Input::Open(other));
        });
        let out = h.frame(
            conn,
            ServerFrame::Snapshot {
                id: subscribe_id(&out),
                topic: other,
                epoch: "e1".to_owned(),
                seq: 1,
                items: Vec::new(),
            },
        );
        (conn, out)
    }

    /// The calls `out` sends, in order.
    fn sent_calls(out: &[Command]) -> Vec<MethodCall> {
        request_ids(out).into_iter().map(|(_, call)| call).collect()
    }

    /// The first change settles as done, with no alert.
    fn settled_quietly(out: &[Command]) {
        assert_eq!(settled(out), [(MutationId(1), Ok(()))]);
        assert!(problems(out).is_empty(), "{out:?}");
    }

    /// Task 7 ticked, as of `version`.
    fn tick_as_of(version: u64) -> MethodCall {
        MethodCall::Update(UpdateParams {
            if_version: Some(version),
            ..update_params(set_done(7))
        })
    }

    /// A tick sent again that way goes as of the version it was made on: its first
    /// sending landed and another person unticked the task since, so the server refuses
    /// it, with the task as it is, and it is not sent a third time over their untick.
    #[test]
    fn a_tick_sent_again_from_another_board_does_not_undo_a_later_change() {
        let (mut h, conn, id) = sent_again_as(set_done(7), tick_as_of(1));
        let out = h.frame(
            conn,
            conflict(
                id,
                Task {
                    done: false,
                    version: 3,
                    updated_by: "kim".to_owned(),
                    ..task(7)
                },
            ),
        );
        assert!(
            matches!(
                &settled(&out)[..],
                [(MutationId(1), Err(MutationError::Refused(error)))]
                    if error.code == ErrorCode::Conflict
            ),
            "{out:?}"
        );
        assert!(request_ids(&out).is_empty(), "not sent again: {out:?}");
    }

    /// The same tick whose first sending never landed, while another person renamed the
    /// task: one version since, and the task not as the tick asked, so the tick did not
    /// make it. It goes again against the version now, and is made.
    #[test]
    fn a_tick_sent_again_over_a_rename_alone_goes_again_against_it() {
        let (mut h, conn, id) = sent_again_as(set_done(7), tick_as_of(1));
        let out = h.frame(
            conn,
            conflict(
                id,
                Task {
                    title: "Renamed".to_owned(),
                    version: 2,
                    updated_by: "kim".to_owned(),
                    ..task(7)
                },
            ),
        );
        assert!(settled(&out).is_empty(), "{out:?}");
        assert_eq!(sent_calls(&out), [tick_as_of(2)]);
    }

    /// A tick made offline on version 1 goes out once live, after two changes of others
    /// (version 3): it is made on version 3, and sent again from another board (its
    /// answer lost) it goes as of that, not of the version it was made on.
    #[test]
    fn a_tick_that_waited_is_sent_again_as_of_the_version_it_first_went_out_on() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        let (conn, out) = h.reconnect_after(conn, |h| {
            h.feed(Input::Mutate(set_done(7)));
        });
        let events = vec![patch_done(3, 7, 2, false), patch_done(4, 7, 3, false)];
        let out = h.frame(conn, replay(subscribe_id(&out), 4, events));
        assert_eq!(request_ids(&out).len(), 1, "sent once live: {out:?}");
        let (_, out) = on_another_board(&mut h, conn);
        assert_eq!(sent_calls(&out), [tick_as_of(3)]);
    }

    /// A tick kept across a reload (made on version 1) goes out as soon as the board
    /// list is answered, its own board still syncing: that store knows no version yet,
    /// so the one it was made on stands, and a sending again from another board goes as
    /// of it.
    #[test]
    fn a_kept_tick_sent_before_its_board_is_in_step_keeps_its_version() {
        let board = Uuid::from_u128(3);
        let mut h = app_machine();
        let conn = h.signed_in();
        h.feed(Input::Open(Topic::Board(board)));
        h.feed(Input::Restore(vec![Kept {
            call: set_done_on(board, 7),
            sends: 0,
            based_on: Some(1),
        }]));
        let out = h.frame(conn, auth_ok(1));
        let Some(&(_, boards)) = subscribed(&out).iter().find(|(t, _)| *t == Topic::Boards) else {
            panic!("the board list subscribed: {out:?}");
        };
        let out = h.frame(conn, board_list(boards));
        assert_eq!(sent_calls(&out), [set_done_on(board, 7)]);
        let other = Uuid::from_u128(5);
        let (conn, out) = h.reconnect_after(conn, |h| {
            h.feed(Input::Open(Topic::Board(other)));
        });
        let subscribes = subscribed(&out);
        let mut sent = Vec::new();
        for (topic, id) in subscribes {
            let answer = match topic {
                Topic::Boards => board_list(id),
                _ => board_snapshot(id, other, Vec::new()),
            };
            sent.extend(sent_calls(&h.frame(conn, answer)));
        }
        let again = MethodCall::Update(UpdateParams {
            if_version: Some(1),
            ..update_params(set_done_on(board, 7))
        });
        assert_eq!(sent, [again]);
    }

    /// The same tick whose first sending landed and stood: its conflict shows the task
    /// as it asked, and it settles as done, with no alert.
    #[test]
    fn a_tick_sent_again_whose_first_sending_stood_settles_as_done() {
        let (mut h, conn, id) = sent_again_as(set_done(7), tick_as_of(1));
        let out = h.frame(
            conn,
            conflict(
                id,
                Task {
                    done: true,
                    version: 2,
                    ..task(7)
                },
            ),
        );
        settled_quietly(&out);
    }

    /// A tick made while an earlier change of the person's to the same task still
    /// waits is made on a version nobody knows yet: both answers lost and sent again
    /// from another board, the earlier is settled with the later, which goes as it is.
    #[test]
    fn a_tick_behind_another_waiting_change_to_its_task_goes_again_as_it_is() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        h.feed(Input::Mutate(set_undone(7)));
        h.feed(Input::Mutate(set_done(7)));
        let (_, out) = on_another_board(&mut h, conn);
        let sent = sent_calls(&out);
        assert_eq!(sent, [set_done(7)]);
    }

    /// A delete sent again that way: `not_found` says it landed, and it settles as
    /// done, with no alert.
    #[test]
    fn a_delete_sent_again_and_not_found_settles_as_done() {
        let (mut h, conn, id) = sent_again_from_another_board(delete(7));
        let out = h.frame(
            conn,
            ServerFrame::Result {
                id,
                outcome: Outcome::Error(ApiError::new(ErrorCode::NotFound, "No such task.")),
            },
        );
        settled_quietly(&out);
    }

    /// A title edit sent again that way: its `conflict` shows the task already as it
    /// asked (the first one landed), so it settles as done, with no alert and no
    /// question.
    #[test]
    fn a_title_edit_sent_again_and_refused_for_its_own_version_settles_as_done() {
        let (mut h, conn, id) = sent_again_from_another_board(MethodCall::Update(UpdateParams {
            board: None,
            id: Uuid::from_u128(7),
            title: Some("Renamed".to_owned()),
            done: None,
            if_version: Some(1),
        }));
        let renamed = Task {
            title: "Renamed".to_owned(),
            version: 2,
            ..task(7)
        };
        settled_quietly(&h.frame(conn, conflict(id, renamed)));
    }

    /// Opening another board unsubscribes from the last: the server's `result` answers
    /// that request, which then no longer counts as waiting.
    #[test]
    fn the_answer_to_an_unsubscribe_settles_it() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let board = Topic::Board(Uuid::from_u128(5));
        let out = h.feed(Input::Open(board));
        let unsubscribe = sent(&out)
            .into_iter()
            .find_map(|frame| match frame {
                ClientFrame::Unsubscribe { id, .. } => Some(id),
                _ => None,
            })
            .unwrap();
        assert_eq!(h.machine.diagnostics().pending_requests, 2);
        h.frame(
            conn,
            ServerFrame::Result {
                id: unsubscribe,
                outcome: Outcome::Ok(MethodValue::default()),
            },
        );
        assert_eq!(
            h.machine.diagnostics().pending_requests,
            1,
            "only the new board's subscribe"
        );
    }

    /// A clearing sent on this board, its result lost, and the board opened anew before
    /// the reconnect: the new store does not know which tasks it covered, so it is
    /// reported as not to be told, not as done (it may never have landed) nor resent.
    #[test]
    fn a_clearing_judged_on_a_board_opened_anew_is_not_to_be_told() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let clear = MethodCall::ClearDone(ClearDoneParams { board: None });
        assert_eq!(request_ids(&h.feed(Input::Mutate(clear))).len(), 1);
        let (conn, out) = h.reconnect_after(conn, |h| {
            h.feed(Input::Open(Topic::Board(Uuid::from_u128(5))));
            h.feed(Input::Open(Topic::Tasks));
        });
        let out = h.frame(conn, snapshot(subscribe_id(&out), 2, vec![]));
        assert!(request_ids(&out).is_empty(), "{out:?}");
        assert_eq!(
            settled(&out),
            [(MutationId(1), Err(MutationError::ClearUntold))]
        );
    }

    /// A change's result arrives after the person opened another board: the task it
    /// carries is the first board's, and does not show on the one open now.
    #[test]
    fn a_result_for_a_board_left_meanwhile_stays_off_the_open_board() {
        let (a, b) = (Uuid::from_u128(50), Uuid::from_u128(60));
        let (mut h, conn) = app_live_on(a, Vec::new());
        let out = h.feed(Input::Mutate(create_on(a, 1)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live: {out:?}");
        };
        let out = h.feed(Input::Open(Topic::Board(b)));
        h.frame(conn, board_snapshot(subscribe_id(&out), b, vec![task(2)]));

        let out = h.frame(conn, ok_task(id, task(1)));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(
            h.machine.store().get(Uuid::from_u128(1)).is_none(),
            "{out:?}"
        );
        assert_eq!(h.machine.store().len(), 1);
    }

    /// A title refused as a conflict after the person opened another board: there is no
    /// row there to choose on, so the refusal is reported as any other.
    #[test]
    fn a_conflict_on_a_board_left_meanwhile_is_a_plain_refusal() {
        let (a, b) = (Uuid::from_u128(50), Uuid::from_u128(60));
        let (mut h, conn) = app_live_on(a, vec![task(1)]);
        let rename = MethodCall::Update(protocol::UpdateParams {
            board: Some(a),
            id: Uuid::from_u128(1),
            title: Some("Mine".to_owned()),
            done: None,
            if_version: Some(1),
        });
        let out = h.feed(Input::Mutate(rename));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live: {out:?}");
        };
        let out = h.feed(Input::Open(Topic::Board(b)));
        h.frame(conn, board_snapshot(subscribe_id(&out), b, vec![]));

        let mut error = ApiError::new(
            ErrorCode::Conflict,
            "sam changed this task in the meantime.",
        );
        error.current = Some(Box::new(task(1)));
        let out = h.frame(
            conn,
            ServerFrame::Result {
                id,
                outcome: Outcome::Error(error),
            },
        );
        assert!(
            !notices(&out)
                .iter()
                .any(|notice| matches!(notice, Notice::Conflict { .. })),
            "{out:?}"
        );
        assert!(matches!(
            settled(&out)[..],
            [(
                _,
                Err(MutationError::Refused(ApiError {
                    code: ErrorCode::Conflict,
                    ..
                }))
            )]
        ));
    }

    /// After a reload the board list answers before the page has opened a board: a kept
    /// change that went out once waits for its board's own answer, and is not sent again
    /// when that shows it landed (sent again, it would undo what others did since).
    #[test]
    fn a_kept_change_waits_for_its_board_to_open_after_a_reload() {
        let b = Uuid::from_u128(60);
        let mut h = app_machine();
        let conn = h.signed_in();
        h.feed(Input::Restore(vec![Kept {
            call: set_done_on(b, 1),
            sends: 1,
            based_on: None,
        }]));
        let out = h.frame(conn, auth_ok(1));
        let [(Topic::Boards, boards)] = subscribed(&out)[..] else {
            panic!("the board list alone: {out:?}");
        };
        let out = h.frame(conn, board_list(boards));
        assert_eq!(h.state(), ConnectionState::Live);
        assert!(request_ids(&out).is_empty(), "not sent blindly: {out:?}");
        assert!(settled(&out).is_empty(), "not judged yet: {out:?}");

        let out = h.feed(Input::Open(Topic::Board(b)));
        let done = Task {
            done: true,
            ..task(1)
        };
        let out = h.frame(conn, board_snapshot(subscribe_id(&out), b, vec![done]));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(request_ids(&out).is_empty(), "never sent twice: {out:?}");
    }

    /// Changes kept across a reload come back before the page opens their board: they
    /// show there once it opens, a new task at once and a tick once the snapshot says
    /// which tasks there are, each waiting for the server.
    #[test]
    fn kept_changes_show_on_their_board_once_it_opens() {
        let b = Uuid::from_u128(60);
        let mut h = app_machine();
        let conn = h.signed_in();
        h.feed(Input::Restore(vec![
            Kept {
                call: create_on(b, 1),
                sends: 0,
                based_on: None,
            },
            Kept {
                call: set_done_on(b, 2),
                sends: 0,
                based_on: None,
            },
        ]));
        h.feed(Input::Open(Topic::Board(b)));
        let new = h.machine.store().get(Uuid::from_u128(1)).unwrap();
        assert!(new.pending, "the new task shows at once, waiting");

        let out = h.frame(conn, auth_ok(1));
        let [(Topic::Boards, boards), (Topic::Board(_), open)] = subscribed(&out)[..] else {
            panic!("the board list, then the board: {out:?}");
        };
        let out = h.frame(conn, board_list(boards));
        assert_eq!(request_ids(&out).len(), 2, "both go once live: {out:?}");
        let out = h.frame(conn, board_snapshot(open, b, vec![task(2)]));
        let ticked = h.machine.store().get(Uuid::from_u128(2)).unwrap();
        assert!(ticked.task.done && ticked.pending, "{out:?}");
        assert_eq!(h.machine.store().len(), 2);
    }
}
