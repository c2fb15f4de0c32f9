//! Mirrors the registry into the facade's signals: the status, the diagnostics, the
//! waiting changes and one signal per task row, each set only when it changed, so a
//! frame touching one row re-renders that row alone.

use leptos::prelude::*;
use protocol::{CloseCode, MethodCall};
use rustc_hash::FxHashSet;
use uuid::Uuid;

use super::{Shell, TASKS, now_ms};
use crate::client::machine::{ConnectionState, LastClose, Machine, MutationError, Notice, Problem};
use crate::client::store::RowChange;
use crate::taskwire::{PendingChange, SocketDiagnostics, Status, TaskCounts, TaskRow};

/// RTT samples kept per socket for the diagnostics chart.
const RTT_SAMPLES: usize = 120;

impl Shell {
    pub(super) fn notice(&mut self, name: &str, notice: Notice) {
        match notice {
            Notice::Rows(changes) if name == TASKS => self.apply_rows(changes),
            Notice::Refused(error) => self.views.alert.set(Some(error.to_string())),
            Notice::Settled {
                result: Err(error), ..
            } => match error {
                // The person asked for it, or signed out: nothing to announce.
                MutationError::Discarded | MutationError::SessionEnded => {}
                error => self.views.alert.set(Some(error.to_string())),
            },
            Notice::OutboxChanged if name == TASKS => self.publish_outbox(),
            Notice::Problem(problem) => {
                web_sys::console::warn_1(&format!("{name} socket: {problem}").into());
                match problem {
                    Problem::Server(error) => self.views.alert.set(Some(error.message)),
                    // The closes the contract says to report (1009, 4400, 4403, unknown).
                    Problem::Closed { code, .. } => self.views.alert.set(Some(close_report(code))),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Applies the store's row changes to `task_ids`, the per-row signals and the counts:
    /// one row's change sets one signal, and the counts follow from each row's change
    /// instead of a count over every row.
    fn apply_rows(&mut self, changes: Vec<RowChange>) {
        let Some(machine) = self.registry.machine(TASKS) else {
            return;
        };
        let store = machine.store();
        let rows = self.views.rows;
        let owner = &self.rows_owner;
        let row_of = |id: Uuid| {
            store.get(id).map(|view| TaskRow {
                task: view.task.clone(),
                pending: view.pending,
            })
        };
        // Done rows among the row signals, which are exactly the rows shown.
        let mut done = self.views.counts.with_untracked(|counts| counts.done);
        // Ids that left the list in this batch; a row that moves comes back at once.
        let mut gone: Vec<Uuid> = Vec::new();
        let mut upsert = |id: Uuid| {
            let Some(row) = row_of(id) else { return };
            let existing = rows.with_value(|rows| rows.get(&id).copied());
            match existing {
                Some(signal) => {
                    let was_done = signal
                        .with_untracked(|current| (*current != row).then_some(current.task.done));
                    if let Some(was_done) = was_done {
                        done =
                            done.saturating_sub(usize::from(was_done)) + usize::from(row.task.done);
                        signal.set(row);
                    }
                }
                None => {
                    done += usize::from(row.task.done);
                    let signal = owner.with(|| RwSignal::new(row));
                    rows.update_value(|rows| {
                        rows.insert(id, signal);
                    });
                }
            }
        };
        let mut shown = 0;
        self.views.task_ids.maybe_update(|ids| {
            // Only insertions and removals change the list; an update touches its row.
            let mut reordered = false;
            for change in changes {
                match change {
                    RowChange::Inserted { id, index } => {
                        reordered = true;
                        ids.insert(index.min(ids.len()), id);
                        upsert(id);
                    }
                    RowChange::Updated(id) => upsert(id),
                    RowChange::Removed { id, index } => {
                        reordered = true;
                        if ids.get(index) == Some(&id) {
                            ids.remove(index);
                        } else {
                            ids.retain(|known| *known != id);
                        }
                        gone.push(id);
                    }
                    RowChange::Reset => {
                        reordered = true;
                        gone.append(ids);
                        ids.extend(store.iter().map(|view| view.task.id));
                        for id in ids.iter() {
                            upsert(*id);
                        }
                    }
                }
            }
            if !gone.is_empty() {
                let shown: FxHashSet<Uuid> = ids.iter().copied().collect();
                gone.retain(|id| !shown.contains(id));
            }
            shown = ids.len();
            reordered
        });
        rows.update_value(|rows| {
            for id in gone {
                if let Some(signal) = rows.remove(&id) {
                    done = done
                        .saturating_sub(usize::from(signal.with_untracked(|row| row.task.done)));
                    signal.dispose();
                }
            }
        });
        let counts = TaskCounts {
            left: shown.saturating_sub(done),
            done,
        };
        if self.views.counts.with_untracked(|now| *now != counts) {
            self.views.counts.set(counts);
        }
    }

    fn publish_outbox(&mut self) {
        let pending: Vec<PendingChange> = self
            .registry
            .machine(TASKS)
            .map(|machine| {
                machine
                    .outbox()
                    .entries()
                    .map(|entry| PendingChange {
                        description: describe(&entry.call, machine),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if self.views.pending.with_untracked(|now| *now != pending) {
            self.views.pending.set(pending);
        }
    }

    pub(super) fn record_rtt(&mut self, name: &str) {
        let Some(rtt) = self
            .registry
            .machine(name)
            .and_then(|machine| machine.diagnostics().last_rtt_ms)
        else {
            return;
        };
        let samples = self.rtt.entry(name.to_owned()).or_default();
        samples.push_back((js_sys::Date::now(), rtt as f64));
        while samples.len() > RTT_SAMPLES {
            samples.pop_front();
        }
    }

    /// Mirrors the registry into the status and diagnostics signals (set only on change).
    pub(super) fn publish(&mut self) {
        let now = now_ms();
        let status = match self.registry.machine(TASKS) {
            Some(machine) => {
                let d = machine.diagnostics();
                let retry_in_s = d.reconnect_at_ms.map(|at| {
                    u32::try_from(at.saturating_sub(now).div_ceil(1000)).unwrap_or(u32::MAX)
                });
                Status {
                    state: d.state,
                    text: status_text(d.state, retry_in_s, d.failed_attempts),
                    retry_in_s,
                    attempt: d.failed_attempts,
                    last_close: d.last_close.map(shown_close),
                }
            }
            None => Status::default(),
        };
        if self.views.status.with_untracked(|shown| *shown != status) {
            self.views.status.set(status);
        }
        let loaded = self
            .registry
            .machine(TASKS)
            .is_some_and(|machine| machine.store().position().is_some());
        if self.views.loaded.get_untracked() != loaded {
            self.views.loaded.set(loaded);
        }
        let diagnostics: Vec<SocketDiagnostics> = self
            .registry
            .diagnostics()
            .into_iter()
            .map(|(name, d)| SocketDiagnostics {
                state: d.state,
                rtt_ms: d.last_rtt_ms.map(|rtt| rtt as f64),
                rtt_history: self
                    .rtt
                    .get(&name)
                    .map(|samples| samples.iter().copied().collect())
                    .unwrap_or_default(),
                frames_in: d.frames_in,
                frames_out: d.frames_out,
                reconnects: d.reconnect_attempts,
                last_close: d.last_close.map(shown_close),
                closed_event: self.closed_events.get(&name).cloned(),
                name,
            })
            .collect();
        if self
            .views
            .diagnostics
            .with_untracked(|shown| *shown != diagnostics)
        {
            self.views.diagnostics.set(diagnostics);
        }
    }
}

fn status_text(state: ConnectionState, retry_in_s: Option<u32>, attempt: u32) -> String {
    match (state, retry_in_s) {
        (ConnectionState::Live, _) => "Live".to_owned(),
        (ConnectionState::Connecting, _) => "Connecting".to_owned(),
        (ConnectionState::Authenticating, _) => "Authenticating".to_owned(),
        (ConnectionState::Reconnecting, Some(seconds)) => {
            format!("Reconnecting in {seconds} s (attempt {attempt})")
        }
        // No wait scheduled: the session is being refreshed, or a retry is under way.
        (ConnectionState::Reconnecting, None) if attempt == 0 => "Reconnecting".to_owned(),
        (ConnectionState::Reconnecting, None) => format!("Reconnecting (attempt {attempt})"),
        (ConnectionState::Offline, _) => "Offline".to_owned(),
        (ConnectionState::Closed, _) => "Closed".to_owned(),
    }
}

/// A reported close in words; the status beside it says whether the app reconnects.
fn close_report(code: CloseCode) -> String {
    let why = match code {
        CloseCode::TooBig => "a message was too large for it",
        CloseCode::ProtocolViolation => "it could not read what the app sent",
        CloseCode::Forbidden => "this page or account may not connect",
        _ => "for a reason the app does not know",
    };
    format!("The server closed the connection: {why} (code {code}).")
}

/// A waiting change in words, naming the task by its title where the store has it.
fn describe(call: &MethodCall, machine: &Machine) -> String {
    let title = |id: Uuid| {
        machine
            .store()
            .get(id)
            .map(|view| view.task.title.clone())
            .or_else(|| machine.store().confirmed(id).map(|task| task.title.clone()))
            .map(|title| format!("\u{201c}{title}\u{201d}"))
            .unwrap_or_else(|| "a task".to_owned())
    };
    match call {
        MethodCall::Create(params) => format!("Add \u{201c}{}\u{201d}", params.title),
        MethodCall::Update(params) => match (&params.title, params.done) {
            (Some(new), _) => format!("Rename {} to \u{201c}{new}\u{201d}", title(params.id)),
            (None, Some(true)) => format!("Complete {}", title(params.id)),
            (None, Some(false)) => format!("Reopen {}", title(params.id)),
            (None, None) => format!("Update {}", title(params.id)),
        },
        MethodCall::Delete(params) => format!("Delete {}", title(params.id)),
        MethodCall::ClearDone(_) => "Clear completed tasks".to_owned(),
    }
}

/// A close as the status and diagnostics show it: the code's number and the reason.
fn shown_close(close: LastClose) -> (u16, String) {
    (close.code.as_u16(), close.reason)
}
