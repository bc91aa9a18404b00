//! Operation counters, sharded so that counting never becomes the contended cache line.
//!
//! Each thread bumps the counters of its own shard with a Relaxed read-modify-write; a snapshot
//! sums the shards. A snapshot taken while operations run is a lower bound of each counter at
//! the end of the snapshot; at quiescence it is exact.

use crate::sync::shard;
// Plain std atomics even under loom: counters are statistics that no decision reads, so
// exploring their interleavings would only multiply the models' state space.
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

/// Names and documents every counter once; generates the shard struct, the public snapshot and
/// the summing code from the same list.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        #[derive(Debug, Default)]
        pub(crate) struct Shard {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// Counters of what an engine did since it was created. Exact at quiescence.
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
        #[non_exhaustive]
        pub struct Stats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Stats {
            /// Calls `f` with each counter's field name, its doc comment and its value, in
            /// declaration order (for exporting them without naming each one again).
            #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
            pub(crate) fn for_each(&self, mut f: impl FnMut(&'static str, &'static str, u64)) {
                $(f(stringify!($name), concat!($($doc),*).trim(), self.$name);)*
            }
        }

        impl Counters {
            /// Sums every shard.
            pub(crate) fn snapshot(&self) -> Stats {
                let mut stats = Stats::default();
                for shard in self.shards.iter() {
                    // Relaxed: counters are statistics; no decision depends on their order.
                    $(stats.$name += shard.$name.load(Ordering::Relaxed);)*
                }
                stats
            }
        }
    };
}

counters! {
    /// Takes refused for a shortfall.
    shortfalls,
    /// Takes that had already taken some lines when a later line was short, and gave them back.
    compensations,
    /// Failed compare-and-swap attempts on stock words (contention).
    cas_retries,
    /// Takes (successful or short) that waited for operations in flight on an item before they
    /// could decide.
    waits,
    /// Successful reservations (including additions to a cart's reservation).
    reserves,
    /// Reservations confirmed.
    confirms,
    /// Reservations released in full (by id or by cart).
    releases,
    /// Partial releases.
    partial_releases,
    /// Reservations whose deadline was extended.
    extends,
    /// Reservations expired.
    expiries,
}

/// The shards.
#[derive(Debug)]
pub(crate) struct Counters {
    shards: Box<[CachePadded<Shard>]>,
}

impl Counters {
    pub(crate) fn new(shards: usize) -> Self {
        Counters {
            shards: (0..shards)
                .map(|_| CachePadded::new(Shard::default()))
                .collect(),
        }
    }

    /// Number of shards.
    pub(crate) fn len(&self) -> usize {
        self.shards.len()
    }

    /// The current thread's shard.
    #[inline]
    pub(crate) fn local(&self) -> &Shard {
        &self.shards[shard::thread_number() & (self.shards.len() - 1)]
    }
}

/// Adds `n` to a counter.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    // Relaxed: a statistic, read only by snapshots.
    counter.fetch_add(n, Ordering::Relaxed);
}
