//! Fan-out: delivers each committed event to every socket of its user, and closes sockets
//! on sign-out and shutdown.
//!
//! Behind a trait so that several server processes could share events later (PostgreSQL
//! LISTEN/NOTIFY feeding each process's local registry); today one process holds every
//! socket in memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use protocol::{CloseCode, Event, ServerFrame};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

/// An event on its way to one socket: the frame is serialized once and shared by every
/// socket (cloning `Utf8Bytes` only bumps a reference count).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub epoch: Arc<str>,
    pub seq: u64,
    pub frame: Utf8Bytes,
}

/// What the registry and a socket's task share.
#[derive(Debug, Default)]
pub struct SocketShared {
    /// Whether the socket is subscribed to `tasks`; others are skipped by `publish`.
    pub subscribed: AtomicBool,
    close: Mutex<Option<(CloseCode, &'static str)>>,
    /// Wakes the socket's task when `close` is set.
    pub closing: Notify,
}

impl SocketShared {
    /// Asks the socket to close with `code`. The first request wins. It travels outside
    /// the event queue so that it works even when that queue is full.
    pub fn close(&self, code: CloseCode, reason: &'static str) {
        let mut close = lock(&self.close);
        if close.is_none() {
            *close = Some((code, reason));
            self.closing.notify_one();
        }
    }

    pub fn close_request(&self) -> Option<(CloseCode, &'static str)> {
        *lock(&self.close)
    }
}

/// A registered socket, as the registry holds it.
#[derive(Debug, Clone)]
pub struct SocketLink {
    pub id: u64,
    pub session: Uuid,
    pub queue: mpsc::Sender<Outbound>,
    pub shared: Arc<SocketShared>,
}

#[derive(Debug, thiserror::Error)]
#[error("too many open sockets for this user")]
pub struct TooManySockets;

/// What a long poll (`GET /api/changes`) waits on: woken whenever a change of its user
/// is published. Dropped with the poll.
pub type ChangeWatch = Arc<Notify>;

pub trait Fanout: Send + Sync {
    /// A watch on `user`'s changes, for a long poll.
    fn watch(&self, user: Uuid) -> ChangeWatch;
    /// Adds an authenticated socket of `user`, unless the user already has the most
    /// sockets allowed.
    fn register(&self, user: Uuid, link: SocketLink) -> Result<(), TooManySockets>;
    /// Moves a socket to another session of its user (an in-band `auth` with a token of
    /// a newer session).
    fn rebind(&self, user: Uuid, socket: u64, session: Uuid);
    fn unregister(&self, user: Uuid, socket: u64);
    /// Sends the event to every subscribed socket of `user`, and wakes the user's long
    /// polls.
    fn publish(&self, user: Uuid, event: &Event);
    fn close_sessions(&self, sessions: &[Uuid], code: CloseCode, reason: &'static str);
    fn close_user(&self, user: Uuid, code: CloseCode, reason: &'static str);
    fn close_all(&self, code: CloseCode, reason: &'static str);
}

/// Close code for a socket that fell so far behind that its queue filled up: it
/// reconnects and catches up by replay.
const TOO_SLOW: CloseCode = CloseCode::ServerError;

/// Every socket of this process, by user.
#[derive(Debug)]
pub struct LocalFanout {
    max_per_user: usize,
    sockets: Mutex<HashMap<Uuid, Vec<SocketLink>>>,
    /// The users whose long polls are waiting; an entry lives as long as one of them.
    watches: Mutex<HashMap<Uuid, Weak<Notify>>>,
}

impl LocalFanout {
    pub fn new(max_per_user: usize) -> Self {
        Self {
            max_per_user: max_per_user.max(1),
            sockets: Mutex::new(HashMap::new()),
            watches: Mutex::new(HashMap::new()),
        }
    }

    fn each(&self, mut visit: impl FnMut(&SocketLink)) {
        for link in lock(&self.sockets).values().flatten() {
            visit(link);
        }
    }
}

impl Fanout for LocalFanout {
    fn watch(&self, user: Uuid) -> ChangeWatch {
        let mut watches = lock(&self.watches);
        if let Some(watch) = watches.get(&user).and_then(Weak::upgrade) {
            return watch;
        }
        let watch = Arc::new(Notify::new());
        watches.insert(user, Arc::downgrade(&watch));
        watch
    }

    fn register(&self, user: Uuid, link: SocketLink) -> Result<(), TooManySockets> {
        let mut sockets = lock(&self.sockets);
        let links = sockets.entry(user).or_default();
        if links.len() >= self.max_per_user {
            return Err(TooManySockets);
        }
        links.push(link);
        Ok(())
    }

    fn rebind(&self, user: Uuid, socket: u64, session: Uuid) {
        if let Some(links) = lock(&self.sockets).get_mut(&user) {
            for link in links.iter_mut().filter(|link| link.id == socket) {
                link.session = session;
            }
        }
    }

    fn unregister(&self, user: Uuid, socket: u64) {
        let mut sockets = lock(&self.sockets);
        if let Some(links) = sockets.get_mut(&user) {
            links.retain(|link| link.id != socket);
            if links.is_empty() {
                sockets.remove(&user);
            }
        }
    }

    fn publish(&self, user: Uuid, event: &Event) {
        let frame = match serde_json::to_string(&ServerFrame::Event(event.clone())) {
            Ok(text) => Utf8Bytes::from(text),
            Err(error) => {
                tracing::error!(%error, "cannot encode an event");
                return;
            }
        };
        let outbound = Outbound {
            epoch: Arc::from(event.epoch.as_str()),
            seq: event.seq,
            frame,
        };
        {
            let mut watches = lock(&self.watches);
            match watches.get(&user).map(Weak::upgrade) {
                Some(Some(watch)) => watch.notify_waiters(),
                Some(None) => {
                    watches.remove(&user);
                }
                None => {}
            }
        }
        let sockets = lock(&self.sockets);
        for link in sockets.get(&user).into_iter().flatten() {
            if !link.shared.subscribed.load(Ordering::Acquire) {
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(_)) = link.queue.try_send(outbound.clone()) {
                link.shared.close(TOO_SLOW, "too far behind");
            }
        }
    }

    fn close_sessions(&self, sessions: &[Uuid], code: CloseCode, reason: &'static str) {
        self.each(|link| {
            if sessions.contains(&link.session) {
                link.shared.close(code, reason);
            }
        });
    }

    fn close_user(&self, user: Uuid, code: CloseCode, reason: &'static str) {
        for link in lock(&self.sockets).get(&user).into_iter().flatten() {
            link.shared.close(code, reason);
        }
    }

    fn close_all(&self, code: CloseCode, reason: &'static str) {
        self.each(|link| link.shared.close(code, reason));
    }
}

/// Locks a mutex of plain data; a panic elsewhere while it was held leaves nothing
/// half-done that matters here, so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Change, Topic};

    fn link(id: u64, session: Uuid) -> (SocketLink, mpsc::Receiver<Outbound>) {
        let (queue, rx) = mpsc::channel(1);
        let shared = Arc::new(SocketShared::default());
        shared.subscribed.store(true, Ordering::Release);
        (
            SocketLink {
                id,
                session,
                queue,
                shared,
            },
            rx,
        )
    }

    fn event(seq: u64) -> Event {
        Event {
            topic: Topic::Tasks,
            epoch: "e".into(),
            seq,
            change: Change::Delete { id: Uuid::nil() },
        }
    }

    #[test]
    fn one_frame_reaches_every_socket_of_the_user_only() {
        let fanout = LocalFanout::new(2);
        let (alice, bob, session) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (a1, mut rx1) = link(1, session);
        let (a2, mut rx2) = link(2, session);
        let (b1, mut rx3) = link(3, session);
        fanout.register(alice, a1).expect("room");
        fanout.register(alice, a2).expect("room");
        fanout.register(bob, b1).expect("room");
        let (a3, _rx) = link(4, session);
        assert!(fanout.register(alice, a3).is_err());
        fanout.publish(alice, &event(1));
        let (one, two) = (rx1.try_recv().expect("1"), rx2.try_recv().expect("2"));
        assert_eq!(one.frame.as_str().as_ptr(), two.frame.as_str().as_ptr());
        assert!(rx3.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_closes_the_socket() {
        let fanout = LocalFanout::new(1);
        let user = Uuid::new_v4();
        let (slow, _rx) = link(1, Uuid::new_v4());
        let shared = slow.shared.clone();
        fanout.register(user, slow).expect("room");
        fanout.publish(user, &event(1));
        assert_eq!(shared.close_request(), None);
        fanout.publish(user, &event(2));
        assert_eq!(shared.close_request(), Some((TOO_SLOW, "too far behind")));
    }
}
