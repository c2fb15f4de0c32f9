//! Rate limits: token buckets, one per socket, and keyed ones for sign-in attempts (per
//! IP address and per username); a cap on what one person holds at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Allows bursts of `capacity` and `per_second` on average.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, per_second: f64) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self {
            tokens: capacity,
            capacity,
            per_second,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back a token taken for an attempt that turned out fine.
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// One bucket per key (an IP address, a username). Full buckets are forgotten now and
/// then, so the map holds only keys that were active recently.
#[derive(Debug)]
pub struct KeyedLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

/// Past this many keys, a `check` first drops the buckets that have refilled.
const PRUNE_AT: usize = 10_000;

impl KeyedLimiter {
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for `key`; false when the key is over its limit.
    pub fn check(&self, key: &str) -> bool {
        // A poisoned lock only means another thread panicked mid-update of plain
        // numbers; the map is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            let now = Instant::now();
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        let per_minute = self.per_minute;
        buckets
            .entry(key.to_owned())
            .or_insert_with(|| TokenBucket::new(per_minute, f64::from(per_minute) / 60.0))
            .try_take()
    }

    /// Gives back the attempt counted for `key`: only failures should use up the limit.
    pub fn give_back(&self, key: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.give_back();
        }
    }
}

/// How many of something each key holds at once (a person's waiting long polls), up to
/// a cap: a slot is held until its [`Slot`] is dropped, however the holder ends.
#[derive(Debug)]
pub struct KeyedSlots<K> {
    cap: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

/// One slot of a [`KeyedSlots`], given back when dropped.
#[derive(Debug)]
pub struct Slot<K: Hash + Eq> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq + Clone> KeyedSlots<K> {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for `key`; `None` when it holds `cap` already.
    pub fn take(&self, key: &K) -> Option<Slot<K>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(key).copied().unwrap_or(0) >= self.cap {
            return None;
        }
        *held.entry(key.clone()).or_default() += 1;
        Some(Slot {
            key: key.clone(),
            held: Arc::clone(&self.held),
        })
    }
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_its_burst_then_refuses() {
        let mut bucket = TokenBucket::new(3, 0.0);
        assert!(bucket.try_take() && bucket.try_take() && bucket.try_take());
        assert!(!bucket.try_take());
    }

    #[test]
    fn slots_are_capped_per_key_and_given_back_when_dropped() {
        let slots = KeyedSlots::new(2);
        let (one, two) = (slots.take(&"a"), slots.take(&"a"));
        assert!(one.is_some() && two.is_some());
        assert!(slots.take(&"a").is_none());
        assert!(slots.take(&"b").is_some(), "another key has its own");
        drop(one);
        assert!(slots.take(&"a").is_some());
    }

    #[test]
    fn keys_are_limited_separately() {
        let limiter = KeyedLimiter::per_minute(2);
        assert!(limiter.check("a") && limiter.check("a"));
        assert!(!limiter.check("a"));
        assert!(limiter.check("b"));
        limiter.give_back("a");
        assert!(limiter.check("a"));
        assert!(!limiter.check("a"));
    }
}
