//! Queues of tasks waiting for stock: per item, first come first served, woken by the
//! operations that make units available.
//!
//! A waiting reserve ([`crate::Inventory::reserve_waiting`]) queues on every item of its
//! request, in the order waiters arrive (a process-wide ticket), and only a waiter at the head
//! of every one of its items' queues tries to take. A head that finds an item short *arms* the
//! item's central stock word (sets [`WAITERS`], as a parked thread does) and then tries again,
//! so a give-back that lands between its failed try and the arming is seen by the second try,
//! and one that lands after the arming sees the bit in the value its read-modify-write returns.
//! Every operation that makes units available already checks that bit there and calls
//! [`park::wake`](crate::stock::park::wake), which calls [`wake`] here: the give-back, restock,
//! expiry and release paths pay nothing more than they did for parked threads.
//!
//! The queues are keyed by the address of the item's central word, like the parking lot keys
//! parked threads: items never move, and a waiter leaves its queues (when it takes, fails or
//! is dropped) before the inventory it borrows can be dropped. They live in a fixed table of
//! buckets, each behind its own mutex, shared by every inventory of the process; only waiters
//! and the wake path of an armed word take those mutexes, never a plain reserve.

use crate::stock::park::WAITERS;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::Mutex;
use crossbeam_utils::CachePadded;
use std::task::Waker;

/// Buckets of the table (a key's bucket is a hash of its address). Few under loom, so that the
/// models stay small.
#[cfg(not(loom))]
const BUCKETS: usize = 64;
#[cfg(loom)]
const BUCKETS: usize = 2;

/// One waiter in one item's queue.
#[derive(Debug)]
struct Queued {
    /// The ticket of the waiter (its place in arrival order).
    ticket: u64,
    /// The item (the address of its central word).
    key: usize,
    /// Wakes the waiter's task; refreshed at every poll.
    waker: Waker,
}

/// The waiters of the keys that hash to one bucket, sorted by (ticket, key): the first entry
/// of a key is the head of that key's queue.
#[derive(Debug, Default)]
struct Bucket {
    queued: Vec<Queued>,
}

impl Bucket {
    /// Where the entry of `(ticket, key)` is or would go.
    fn position(&self, ticket: u64, key: usize) -> usize {
        self.queued
            .partition_point(|q| (q.ticket, q.key) < (ticket, key))
    }

    /// The head of `key`'s queue.
    fn head(&self, key: usize) -> Option<&Queued> {
        self.queued.iter().find(|q| q.key == key)
    }
}

#[derive(Debug)]
struct Table {
    buckets: [CachePadded<Mutex<Bucket>>; BUCKETS],
    /// The next ticket (arrival order). Only the value matters: the buckets' mutexes order
    /// the queues.
    tickets: std::sync::atomic::AtomicU64,
    /// Waiters queued now, in any bucket: a wake-up with none (an armed word whose waiters
    /// left, or a word only threads are parked on) takes no mutex.
    queued: AtomicUsize,
}

impl Table {
    fn bucket(&self, key: usize) -> &Mutex<Bucket> {
        // Words are 8-byte aligned and slots a few words apart: drop the low bits, then mix.
        let hash = ((key >> 3) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.buckets[(hash >> 58) as usize % BUCKETS]
    }
}

#[cfg(not(loom))]
fn table() -> &'static Table {
    static TABLE: Table = Table {
        buckets: [const { CachePadded::new(Mutex::new(Bucket { queued: Vec::new() })) }; BUCKETS],
        tickets: std::sync::atomic::AtomicU64::new(0),
        queued: AtomicUsize::new(0),
    };
    &TABLE
}

#[cfg(loom)]
fn table() -> &'static Table {
    loom::lazy_static! {
        static ref TABLE: Table = Table {
            buckets: std::array::from_fn(|_| CachePadded::new(Mutex::new(Bucket::default()))),
            tickets: std::sync::atomic::AtomicU64::new(0),
            queued: AtomicUsize::new(0),
        };
    }
    &TABLE
}

/// A waiter's place in the queues of its items. Leaving them is explicit
/// ([`Registration::leave`]); the owner calls it on completion and on drop.
#[derive(Debug)]
pub(crate) struct Registration {
    ticket: u64,
    /// The items' keys, each once.
    keys: Vec<usize>,
}

impl Registration {
    /// Queues a new waiter on every key of `keys` (distinct), behind every waiter already
    /// queued on them.
    pub(crate) fn new(keys: Vec<usize>, waker: &Waker) -> Self {
        let table = table();
        // Relaxed: a counter; each bucket's mutex orders the queue it is inserted in.
        let ticket = table.tickets.fetch_add(1, Ordering::Relaxed);
        // Relaxed: sequenced before the waiter arms a word (a Release), which is what makes it
        // visible to the `wake` that the armed word triggers (see there).
        table.queued.fetch_add(1, Ordering::Relaxed);
        for &key in &keys {
            let mut bucket = crate::sync::lock(table.bucket(key));
            let at = bucket.position(ticket, key);
            bucket.queued.insert(
                at,
                Queued {
                    ticket,
                    key,
                    waker: waker.clone(),
                },
            );
        }
        Registration { ticket, keys }
    }

    /// Whether the waiter heads every one of its queues. Stores `waker` in each of them first,
    /// so a waiter that leaves ahead of it, or a give-back on an item it heads, wakes the task
    /// as it is now.
    pub(crate) fn heads_all(&self, waker: &Waker) -> bool {
        let table = table();
        let mut heads = true;
        for &key in &self.keys {
            let mut bucket = crate::sync::lock(table.bucket(key));
            let at = bucket.position(self.ticket, key);
            let mine = &mut bucket.queued[at];
            debug_assert!(mine.ticket == self.ticket && mine.key == key);
            if !mine.waker.will_wake(waker) {
                mine.waker = waker.clone();
            }
            heads &= bucket.head(key).is_some_and(|q| q.ticket == self.ticket);
        }
        heads
    }

    /// Leaves every queue, and wakes the waiter that heads a queue once this one is gone: a
    /// wake-up meant for this waiter (it headed that queue) passes on, and the next waiter
    /// may now be at the head of all of its own.
    pub(crate) fn leave(self) {
        let table = table();
        let mut next = Vec::new();
        for &key in &self.keys {
            let mut bucket = crate::sync::lock(table.bucket(key));
            let at = bucket.position(self.ticket, key);
            let was_head = bucket.head(key).is_some_and(|q| q.ticket == self.ticket);
            bucket.queued.remove(at);
            if was_head {
                if let Some(head) = bucket.head(key) {
                    next.push(head.waker.clone());
                }
            }
            // Bounded memory: a bucket's vector shrinks as its waiters leave.
            let len = bucket.queued.len();
            if bucket.queued.capacity() > 16 && len < bucket.queued.capacity() / 4 {
                bucket.queued.shrink_to(len * 2);
            }
        }
        // Relaxed: a count; a waiter gone from every queue needs no wake-up.
        table.queued.fetch_sub(1, Ordering::Relaxed);
        // Woken after the buckets' mutexes are released: a waker may run arbitrary code.
        for waker in next {
            waker.wake();
        }
    }
}

/// Arms `word` (an item's central stock word) for the head of its queue: the next operation
/// that changes the word sees [`WAITERS`] in the value its read-modify-write returns and calls
/// [`wake`]. The caller queued on the word's key before, and tries to take again after.
pub(crate) fn arm(word: &AtomicU64) {
    // Release: pairs with the Acquire `fetch_and` in `park::wake` of the operation that sees
    // the bit, so that the caller's queue entry (inserted before, under a bucket mutex) is
    // visible to that operation's `wake`. The caller's next try reads the word after this in
    // its modification order (read-modify-writes and loads of one atomic are coherent), so it
    // sees every unit given back before this.
    word.fetch_or(WAITERS, Ordering::Release);
}

/// Wakes the head of the queue of the item whose central word is at `key`, if any (called by
/// [`park::wake`](crate::stock::park::wake) for any word that had [`WAITERS`] set; the keys of
/// shard words and of words that only threads parked on have no queue).
pub(crate) fn wake(key: usize) {
    let table = table();
    // Relaxed: `park::wake` Acquired the armed word, which synchronizes with the arming
    // waiter's Release `fetch_or`, and that waiter counted itself before it armed; so while
    // it is queued this reads at least 1 (every waiter's decrement follows its own increment).
    if table.queued.load(Ordering::Relaxed) == 0 {
        return;
    }
    let head = {
        let bucket = crate::sync::lock(table.bucket(key));
        bucket.head(key).map(|q| q.waker.clone())
    };
    if let Some(waker) = head {
        waker.wake();
    }
}
