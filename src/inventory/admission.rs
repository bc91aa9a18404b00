//! Admission: new reservation entries, numbered per shard and counted against the bound on
//! live reservations.

use crate::carts::registry::{Entry, Hold};
use crate::reservation::{CartId, ReserveError};
use crate::sync::atomic::Ordering;
use crossbeam_epoch::Owned;

use super::shared::{Inner, Shard, SHARD_BITS};

impl Inner {
    /// A new entry for `cart`, admitted against the bound on live reservations, with a fresh
    /// sequence number from this thread's shard.
    pub(super) fn new_entry(&self, cart: CartId, hold: Hold) -> Result<Owned<Entry>, ReserveError> {
        let index = self.shard_index();
        let shard = &self.shards[index];
        self.admit(shard)?;
        // Relaxed: a unique number; nothing to order.
        let number = shard.counter.fetch_add(1, Ordering::Relaxed);
        let seq = number << SHARD_BITS | index as u64;
        Ok(Entry::new(cart.get(), seq, hold))
    }

    /// Admits one more live reservation on the current shard, or refuses at the bound.
    ///
    /// Counting is per shard so that it never contends; a shard past its share of the bound
    /// sums every shard before refusing, so one busy thread can use the whole bound.
    pub(super) fn admit(&self, shard: &Shard) -> Result<(), ReserveError> {
        // Relaxed: a counter compared with a bound; it orders nothing.
        if shard.live.fetch_add(1, Ordering::Relaxed) >= self.max_live_per_shard
            && self.live_reservations() > self.max_live as usize
        {
            shard.live.fetch_sub(1, Ordering::Relaxed);
            return Err(ReserveError::TooManyReservations { max: self.max_live });
        }
        Ok(())
    }

    /// Gives back the admission of an entry that was never linked.
    pub(super) fn unadmit(&self, entry: &Entry) {
        if let Some(shard) = self.shard_of(entry.seq) {
            // Relaxed: see `admit`.
            shard.live.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub(super) fn live_reservations(&self) -> usize {
        let live: i64 = self
            .shards
            .iter()
            // Relaxed: a count compared with a bound (see `admit`); pairs with nothing.
            .map(|s| s.live.load(Ordering::Relaxed))
            .sum();
        usize::try_from(live).unwrap_or(0)
    }
}
