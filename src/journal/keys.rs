//! Request keys answered recently, so that a retried request gets its first answer.
//!
//! Striped: a key's stripe is locked while its request runs, so two concurrent tries of one
//! request never both reserve; requests with other keys of the same stripe wait meanwhile
//! (one reserve, plus in durable mode nothing: the wait for the disk happens after the stripe
//! is unlocked). Each stripe forgets its keys in the order they were answered, once they are
//! older than the retention or when the stripe is full.

use super::RequestKey;
use crate::reservation::ReservationId;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Stripes of the key table.
const STRIPES: usize = 64;

/// Default time a request key is remembered.
pub(crate) const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Default number of request keys remembered (at most about 120 bytes each: about 30 MB).
pub(crate) const DEFAULT_KEYS: usize = 1 << 18;

/// The answer a key got: the receipt's id and deadline, and when it was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) id: ReservationId,
    /// Unix nanoseconds (the inventory's anchor plus its clock).
    pub(crate) deadline_unix_ns: u64,
    pub(crate) at_unix_ns: u64,
}

/// One stripe's keys.
#[derive(Debug, Default)]
pub(crate) struct Stripe {
    map: HashMap<RequestKey, Answer>,
    /// Keys in the order they were answered.
    order: VecDeque<RequestKey>,
}

/// The remembered keys.
#[derive(Debug)]
pub(crate) struct Keys {
    stripes: Box<[Mutex<Stripe>]>,
    hasher: foldhash::fast::RandomState,
    retention_ns: u64,
    per_stripe: usize,
}

impl Keys {
    /// Remembers up to `count` keys (at least one per stripe) for `retention` each.
    pub(crate) fn new(retention: Duration, count: usize) -> Self {
        Keys {
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            retention_ns: u64::try_from(retention.as_nanos()).unwrap_or(u64::MAX),
            per_stripe: count.div_ceil(STRIPES).max(1),
        }
    }

    /// Locks `key`'s stripe. A poisoned stripe (a panic while it was locked) holds a
    /// consistent map: every update is a single insert or remove.
    pub(crate) fn stripe(&self, key: RequestKey) -> MutexGuard<'_, Stripe> {
        let index = (self.hasher.hash_one(key) as usize) % STRIPES;
        self.stripes[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `answer` for `key` (a restored one, or a new one).
    pub(crate) fn insert(&self, key: RequestKey, answer: Answer) {
        let per_stripe = self.per_stripe;
        self.stripe(key).insert(key, answer, per_stripe);
    }

    pub(crate) fn per_stripe(&self) -> usize {
        self.per_stripe
    }

    pub(crate) fn retention_ns(&self) -> u64 {
        self.retention_ns
    }
}

impl Stripe {
    /// `key`'s answer, if remembered at `now_unix_ns`; forgets what is older than `retention_ns`.
    pub(crate) fn get(
        &mut self,
        key: RequestKey,
        now_unix_ns: u64,
        retention_ns: u64,
    ) -> Option<Answer> {
        while let Some(oldest) = self.order.front() {
            match self.map.get(oldest) {
                Some(answer) if answer.at_unix_ns.saturating_add(retention_ns) > now_unix_ns => {
                    break
                }
                _ => {
                    let oldest = *oldest;
                    self.order.pop_front();
                    self.map.remove(&oldest);
                }
            }
        }
        self.map.get(&key).copied()
    }

    /// Remembers `answer` for `key`, forgetting the oldest key if the stripe holds `max`.
    pub(crate) fn insert(&mut self, key: RequestKey, answer: Answer, max: usize) {
        while self.map.len() >= max {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.map.remove(&oldest);
                }
                None => break,
            }
        }
        if self.map.insert(key, answer).is_none() {
            self.order.push_back(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservation::CartId;

    fn answer(at: u64) -> Answer {
        Answer {
            id: ReservationId::new(CartId::new(1), 256, 7),
            deadline_unix_ns: at + 10,
            at_unix_ns: at,
        }
    }

    #[test]
    fn keys_are_forgotten_by_age_and_by_count() {
        let mut stripe = Stripe::default();
        for k in 0..4 {
            stripe.insert(RequestKey(k), answer(k as u64 * 100), 3);
        }
        // The oldest went for room.
        assert_eq!(stripe.get(RequestKey(0), 300, 1000), None);
        assert_eq!(stripe.get(RequestKey(1), 300, 1000), Some(answer(100)));
        // At 1150, key 1 (answered at 100) is older than the retention of 1000.
        assert_eq!(stripe.get(RequestKey(1), 1150, 1000), None);
        assert_eq!(stripe.get(RequestKey(3), 1150, 1000), Some(answer(300)));
    }
}
