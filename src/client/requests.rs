//! The request table of one connection: ids, deadlines and answers matched by id.
//!
//! The contract makes ids unique per connection, so a table lives exactly as long as its
//! connection: a new connection starts a new table at id 1, and closing one fails every
//! request still in it, so nothing waits forever for an answer that cannot come.

use std::collections::VecDeque;

/// Default time a request may wait for its answer.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request {id} got no answer within {after_ms} ms")]
    TimedOut { id: u64, after_ms: u64 },
    #[error("request {id} was cut off by the connection closing")]
    ConnectionClosed { id: u64 },
}

/// A request that will get no answer, with what the caller tagged it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed<T> {
    pub id: u64,
    pub tag: T,
    pub error: RequestError,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending<T> {
    id: u64,
    tag: T,
    sent_ms: u64,
    timeout_ms: u64,
    deadline_ms: u64,
}

/// Pending requests of one connection, tagged with what each was for (`T`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requests<T> {
    next_id: u64,
    /// In id order: ids are issued in increasing order and only ever appended.
    pending: VecDeque<Pending<T>>,
}

impl<T> Default for Requests<T> {
    fn default() -> Self {
        Self {
            next_id: 1,
            pending: VecDeque::new(),
        }
    }
}

impl<T> Requests<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh id for a frame that is not tracked here (a ping: the heartbeat judges it).
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    /// Registers a request about to be sent and returns its id.
    pub fn issue(&mut self, tag: T, now_ms: u64, timeout_ms: u64) -> u64 {
        let id = self.next_id();
        self.pending.push_back(Pending {
            id,
            tag,
            sent_ms: now_ms,
            timeout_ms,
            deadline_ms: now_ms.saturating_add(timeout_ms),
        });
        id
    }

    /// The answer to `id` arrived: its tag, or `None` for an id not pending (already
    /// timed out, or never ours), which the caller ignores.
    pub fn settle(&mut self, id: u64) -> Option<T> {
        let at = self.position(id)?;
        self.pending.remove(at).map(|pending| pending.tag)
    }

    /// Whether a request `fits` accepts is pending that was sent before `id` (ids only
    /// grow): one the server answers first, since it answers a socket's frames in order.
    pub fn pending_before(&self, id: u64, fits: impl Fn(&T) -> bool) -> bool {
        self.pending
            .iter()
            .take_while(|pending| pending.id < id)
            .any(|pending| fits(&pending.tag))
    }

    /// Whether `id` awaits its answer.
    pub fn is_pending(&self, id: u64) -> bool {
        self.position(id).is_some()
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.pending
            .binary_search_by_key(&id, |pending| pending.id)
            .ok()
    }

    /// Like `settle`, but only when the pending request is one `fits` accepts: an
    /// answer of the wrong type (a server bug) must not take another request's place.
    pub fn settle_if(&mut self, id: u64, fits: impl FnOnce(&T) -> bool) -> Option<T> {
        if self
            .position(id)
            .and_then(|at| self.pending.get(at))
            .is_some_and(|pending| fits(&pending.tag))
        {
            self.settle(id)
        } else {
            None
        }
    }

    /// Removes and returns every request whose deadline has passed, but one that waits
    /// behind an earlier request still pending (`behind(due, earlier)`): the server
    /// answers a socket's frames in order, so its answer cannot come before that one's.
    /// It is given its time again from now.
    pub fn expire(&mut self, now_ms: u64, behind: impl Fn(&T, &T) -> bool) -> Vec<Failed<T>> {
        let mut kept: VecDeque<Pending<T>> = VecDeque::with_capacity(self.pending.len());
        let mut due = Vec::new();
        for mut pending in std::mem::take(&mut self.pending) {
            if pending.deadline_ms > now_ms {
                kept.push_back(pending);
            } else if kept
                .iter()
                .any(|earlier| behind(&pending.tag, &earlier.tag))
            {
                pending.deadline_ms = now_ms.saturating_add(pending.timeout_ms);
                kept.push_back(pending);
            } else {
                due.push(Failed {
                    id: pending.id,
                    error: RequestError::TimedOut {
                        id: pending.id,
                        after_ms: now_ms.saturating_sub(pending.sent_ms),
                    },
                    tag: pending.tag,
                });
            }
        }
        self.pending = kept;
        due
    }

    /// The connection closed: every pending request fails, oldest first.
    pub fn close(&mut self) -> Vec<Failed<T>> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|pending| Failed {
                id: pending.id,
                tag: pending.tag,
                error: RequestError::ConnectionClosed { id: pending.id },
            })
            .collect()
    }

    /// When the request timer should fire next.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.pending.iter().map(|pending| pending.deadline_ms).min()
    }

    /// Requests awaiting an answer (shown on the diagnostics page).
    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;

    #[test]
    fn ids_increase_from_one_and_answers_match_by_id() {
        let mut table = Requests::new();
        let a = table.issue("auth", 0, REQUEST_TIMEOUT_MS);
        let ping = table.next_id();
        let b = table.issue("subscribe", 0, REQUEST_TIMEOUT_MS);
        assert_eq!((a, ping, b), (1, 2, 3));
        assert_eq!(table.settle(b), Some("subscribe"));
        assert_eq!(table.settle(b), None, "a duplicate answer matches nothing");
        assert_eq!(table.settle(ping), None, "untracked ids match nothing");
        let c = table.issue("request", 0, REQUEST_TIMEOUT_MS);
        assert_eq!(table.settle_if(c, |tag| *tag == "subscribe"), None);
        assert_eq!(table.settle_if(c, |tag| *tag == "request"), Some("request"));
        assert_eq!(table.settle_if(c, |_| true), None);
        assert_eq!(table.len(), 1);
        assert_eq!(table.settle(a), Some("auth"));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn timeouts_are_typed_and_only_for_due_requests() {
        let mut table = Requests::new();
        let early = table.issue('a', 1_000, 5_000);
        let late = table.issue('b', 2_000, 10_000);
        assert_eq!(table.next_deadline_ms(), Some(6_000));
        assert!(table.expire(5_999, |_, _| false).is_empty());
        let failed = table.expire(7_000, |_, _| false);
        assert_eq!(
            failed,
            [Failed {
                id: early,
                tag: 'a',
                error: RequestError::TimedOut {
                    id: early,
                    after_ms: 6_000
                },
            }]
        );
        assert_eq!(table.next_deadline_ms(), Some(12_000));
        assert_eq!(table.settle(early), None, "a late answer is ignored");
        assert_eq!(table.settle(late), Some('b'));
        assert_eq!(table.next_deadline_ms(), None);
    }

    #[test]
    fn answers_still_match_after_a_request_in_the_middle_times_out() {
        let mut table = Requests::new();
        let first = table.issue("first", 0, 10_000);
        let quick = table.issue("quick", 0, 1_000);
        let last = table.issue("last", 0, 10_000);
        let failed = table.expire(1_000, |_, _| false);
        assert_eq!(failed.iter().map(|f| f.id).collect::<Vec<_>>(), [quick]);
        assert_eq!(table.settle(last), Some("last"));
        assert_eq!(table.settle(quick), None);
        assert_eq!(table.settle(first), Some("first"));
        let next = table.issue("next", 2_000, 10_000);
        assert_eq!(next, 4, "ids keep growing after expiries");
        assert_eq!(table.settle(next), Some("next"));
    }

    /// A request behind one still pending is not given up while that one waits: its
    /// time starts again, and it is given up once nothing holds it back.
    #[test]
    fn a_request_behind_a_pending_one_waits_for_it() {
        let mut table = Requests::new();
        let slow = table.issue("subscribe", 0, 30_000);
        let change = table.issue("change", 1_000, 10_000);
        let behind = |due: &&str, earlier: &&str| *due == "change" && *earlier == "subscribe";
        assert!(table.expire(11_000, behind).is_empty());
        assert_eq!(table.next_deadline_ms(), Some(21_000));
        // Held again: the same time again, not the time it has waited.
        assert!(table.expire(21_000, behind).is_empty());
        assert_eq!(
            table.next_deadline_ms(),
            Some(30_000),
            "the subscribe's own"
        );
        assert_eq!(table.settle(slow), Some("subscribe"));
        assert_eq!(table.next_deadline_ms(), Some(31_000));
        let failed = table.expire(31_000, behind);
        assert_eq!(failed.iter().map(|f| f.id).collect::<Vec<_>>(), [change]);
    }

    #[test]
    fn closing_fails_everything_pending_in_order() {
        let mut table = Requests::new();
        table.issue(10, 0, 1);
        table.issue(20, 0, 1);
        let failed = table.close();
        assert_eq!(
            failed
                .iter()
                .map(|f| (f.tag, f.error.clone()))
                .collect::<Vec<_>>(),
            [
                (10, RequestError::ConnectionClosed { id: 1 }),
                (20, RequestError::ConnectionClosed { id: 2 })
            ]
        );
        assert_eq!(table.len(), 0);
        assert_eq!(
            RequestError::TimedOut {
                id: 3,
                after_ms: 10
            }
            .to_string(),
            "request 3 got no answer within 10 ms"
        );
    }
}
