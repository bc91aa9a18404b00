//! Outcomes of finished reservations, remembered for a while so that a repeated confirm is
//! answered `AlreadyConfirmed` and a late call is told how the reservation ended.
//!
//! One ring per shard, indexed by the reservation's number (its sequence number without the
//! shard bits) modulo the ring's length. A slot holds the whole key and the outcome in one
//! 128-bit word, `number << 2 | state` above the cart id, so that:
//!
//! * an id is answered only if the slot names its cart *and* its number: an id built by hand
//!   with another cart's sequence number finds nothing;
//! * a slot only ever moves to a higher number (a compare-and-swap loop): a reservation that
//!   finishes late never evicts the outcome of a newer one that shares its slot.
//!
//! A slot is written by whoever finishes the reservation, and again (the same value) by any
//! thread that retires its registry entry, before the entry is marked deleted: a lookup that
//! no longer finds the entry finds the outcome (see `Inventory`'s `settle` and `Registry::retire`).
//!
//! The 128-bit word comes from `portable-atomic`: a native double-width compare-and-swap
//! (`cmpxchg16b` on x86-64, `casp` or `ldxp`/`stxp` on aarch64), with a lock-based fallback on
//! targets without one. Two 64-bit words would need a lock of our own to keep a slot's key
//! and outcome together when two finishers race for it.

use crate::carts::registry::State;

#[cfg(not(loom))]
use portable_atomic::AtomicU128;

/// Under loom, a mutex stands in for the double-width atomic, so the models explore the
/// protocol around it (portable-atomic's instructions are not loom's to model).
#[cfg(loom)]
#[derive(Debug)]
struct AtomicU128(crate::sync::Mutex<u128>);

#[cfg(loom)]
impl AtomicU128 {
    fn new(value: u128) -> Self {
        AtomicU128(crate::sync::Mutex::new(value))
    }

    fn load(&self, _: std::sync::atomic::Ordering) -> u128 {
        *self.0.lock().unwrap()
    }

    fn compare_exchange_weak(
        &self,
        current: u128,
        new: u128,
        _: std::sync::atomic::Ordering,
        _: std::sync::atomic::Ordering,
    ) -> Result<u128, u128> {
        let mut value = self.0.lock().unwrap();
        if *value == current {
            *value = new;
            Ok(current)
        } else {
            Err(*value)
        }
    }
}

use std::sync::atomic::Ordering;

/// One shard's remembered outcomes.
#[derive(Debug)]
pub(crate) struct Outcomes {
    slots: Box<[AtomicU128]>,
}

/// `state` of a slot's word; 0 means the slot is empty (no reservation has number 0).
fn word(number: u64, cart: u64, state: State) -> u128 {
    (u128::from(number << 2 | state as u64) << 64) | u128::from(cart)
}

impl Outcomes {
    /// A ring of `len` slots (a power of two, at least 1).
    pub(crate) fn new(len: usize) -> Self {
        debug_assert!(len.is_power_of_two());
        Outcomes {
            slots: (0..len).map(|_| AtomicU128::new(0)).collect(),
        }
    }

    fn slot(&self, number: u64) -> &AtomicU128 {
        &self.slots[(number as usize) & (self.slots.len() - 1)]
    }

    /// Remembers that reservation `number` of `cart` finished as `state`, unless its slot
    /// already holds a newer reservation's outcome (or this one's).
    pub(crate) fn remember(&self, number: u64, cart: u64, state: State) {
        debug_assert_ne!(state, State::Held);
        let slot = self.slot(number);
        let new = word(number, cart, state);
        // Relaxed: the first guess of a compare-and-swap loop.
        let mut current = slot.load(Ordering::Relaxed);
        // Numbers are below 2^62, so the upper word orders slots by number.
        while current >> 66 < u128::from(number) {
            // Release: pairs with the Acquire load in `recall`. A thread that reads this word
            // sees what the finisher did before remembering: the state swap that decided the
            // outcome (and so, through it, the stock it moved). Relaxed on failure: retried.
            match slot.compare_exchange_weak(current, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// How reservation `number` of `cart` finished, if it is remembered.
    pub(crate) fn recall(&self, number: u64, cart: u64) -> Option<State> {
        // Acquire: pairs with the Release compare-and-swap in `remember`.
        let value = self.slot(number).load(Ordering::Acquire);
        let upper = (value >> 64) as u64;
        let state = match upper & 3 {
            1 => State::Confirmed,
            2 => State::Released,
            _ => State::Expired,
        };
        (value as u64 == cart && upper >> 2 == number && upper != 0).then_some(state)
    }
}
