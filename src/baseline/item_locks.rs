//! Per-item mutexes in canonical order.

use crate::error::{AdjustError, CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::limits::{MAX_ITEMS, MAX_STOCK};
use crate::stock::catalog::validate_registration;
use crate::stock::take::{self, Canonical, Resolved};
use crate::stock::StockEngine;
use crate::sync::segmented::Segmented;
use std::sync::Mutex;

/// One item's state under its lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemState {
    /// Units available.
    pub available: i64,
    /// Initial + restocked − shrunk.
    pub received: i64,
}

/// A mutex around one item's state. Implemented for `parking_lot::Mutex` and
/// `std::sync::Mutex`.
pub trait ItemMutex: Send + Sync {
    /// The engine's name in reports.
    const ENGINE: &'static str;
    /// A mutex holding `state`.
    fn new(state: ItemState) -> Self;
    /// Runs `f` with the lock held.
    fn with<R>(&self, f: impl FnOnce(&mut ItemState) -> R) -> R;
}

impl ItemMutex for parking_lot::Mutex<ItemState> {
    const ENGINE: &'static str = "item-locks";

    fn new(state: ItemState) -> Self {
        parking_lot::Mutex::new(state)
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut ItemState) -> R) -> R {
        f(&mut self.lock())
    }
}

impl ItemMutex for Mutex<ItemState> {
    const ENGINE: &'static str = "item-locks-std";

    fn new(state: ItemState) -> Self {
        Mutex::new(state)
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut ItemState) -> R) -> R {
        // A panic never happens with this lock held (all code under it is arithmetic on
        // validated values), so poisoning cannot hide a half-applied change.
        f(&mut self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Per-item mutexes taken in ascending item order: lock every line's item in order, check each
/// as it is locked, and apply the decrements only once all are locked and sufficient. Holding
/// every lock before applying means a shortfall needs no rollback: nothing was changed yet.
/// Ascending order means two takes can never wait on each other in a cycle.
#[derive(Debug)]
pub struct ItemLocks<M = parking_lot::Mutex<ItemState>> {
    items: Segmented<M>,
    registration: Mutex<()>,
}

/// [`ItemLocks`] on `std::sync::Mutex`.
pub type StdItemLocks = ItemLocks<Mutex<ItemState>>;

impl<M: ItemMutex> Default for ItemLocks<M> {
    fn default() -> Self {
        Self::with_mutex()
    }
}

impl ItemLocks {
    /// An empty catalog on `parking_lot` mutexes (the faster of the two measured here).
    #[must_use]
    pub fn new() -> Self {
        Self::with_mutex()
    }
}

impl StdItemLocks {
    /// An empty catalog on `std::sync::Mutex`.
    #[must_use]
    pub fn new_std() -> Self {
        Self::with_mutex()
    }
}

impl<M: ItemMutex> ItemLocks<M> {
    /// An empty catalog on mutexes of type `M`.
    #[must_use]
    pub fn with_mutex() -> Self {
        ItemLocks {
            items: Segmented::new(),
            registration: Mutex::new(()),
        }
    }

    /// Locks `lines[0]`, checks it, recurses into the rest with the lock held, then applies.
    /// Recursion keeps the guards on the stack: no allocation, and the locks are released in
    /// reverse order as the calls return.
    fn take_sorted(&self, lines: &[Resolved<&M>]) -> Result<(), TakeError> {
        let Some((Resolved { line, at }, rest)) = lines.split_first() else {
            return Ok(());
        };
        at.with(|state| {
            if state.available < line.quantity {
                return Err(TakeError::Shortfall {
                    item: line.item,
                    requested: line.quantity,
                    available: state.available,
                });
            }
            self.take_sorted(rest)?;
            state.available -= line.quantity;
            Ok(())
        })
    }

    fn canonical(&self, lines: &[Line]) -> Result<Canonical<&M>, TakeError> {
        Canonical::new(lines, |item| self.items.get(item.get()))
    }

    fn adjustable(&self, item: ItemId, quantity: i64) -> Result<&M, AdjustError> {
        let lock = self
            .items
            .get(item.get())
            .ok_or(AdjustError::UnknownItem { item })?;
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(AdjustError::InvalidQuantity { item, quantity });
        }
        Ok(lock)
    }
}

impl<M: ItemMutex> StockEngine for ItemLocks<M> {
    fn name(&self) -> &'static str {
        M::ENGINE
    }

    fn register(&self, initial: i64) -> Result<ItemId, CatalogError> {
        validate_registration(initial, None)?;
        let _serial = self
            .registration
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.items
            .push(
                || M::new(ItemState::default()),
                |lock| {
                    lock.with(|state| {
                        *state = ItemState {
                            available: initial,
                            received: initial,
                        }
                    })
                },
            )
            .map(ItemId::new)
            .ok_or(CatalogError::CatalogFull { max: MAX_ITEMS })
    }

    fn take(&self, lines: &[Line]) -> Result<(), TakeError> {
        if let [line] = *lines {
            // One line, as `Stock::take`: validated alone, no sorting, no buffer.
            let at = take::check(line, &|item| self.items.get(item.get()))?;
            return self.take_sorted(&[Resolved { line, at }]);
        }
        let canonical = self.canonical(lines)?;
        self.take_sorted(canonical.entries())
    }

    fn give_back(&self, lines: &[Line]) -> Result<(), TakeError> {
        if let [line] = *lines {
            let at = take::check(line, &|item| self.items.get(item.get()))?;
            return give_back_one(Resolved { line, at });
        }
        let canonical = self.canonical(lines)?;
        for &entry in canonical.entries() {
            give_back_one(entry)?;
        }
        Ok(())
    }

    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjustable(item, quantity)?.with(|state| {
            if state.available + quantity > MAX_STOCK {
                return Err(AdjustError::Overflow {
                    item,
                    on_hand: state.available,
                    quantity,
                });
            }
            state.available += quantity;
            state.received += quantity;
            Ok(())
        })
    }

    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjustable(item, quantity)?.with(|state| {
            if state.available < quantity {
                return Err(AdjustError::Shortfall {
                    item,
                    requested: quantity,
                    available: state.available,
                });
            }
            state.available -= quantity;
            state.received -= quantity;
            Ok(())
        })
    }

    fn available(&self, item: ItemId) -> Option<i64> {
        self.items
            .get(item.get())
            .map(|lock| lock.with(|state| state.available))
    }
}

/// Gives one line's units back under its item's lock, refusing to exceed
/// [`MAX_STOCK`](crate::limits::MAX_STOCK).
fn give_back_one<M: ItemMutex>(Resolved { line, at }: Resolved<&M>) -> Result<(), TakeError> {
    at.with(|state| {
        if state.available + line.quantity > MAX_STOCK {
            return Err(TakeError::QuantityOverflow { item: line.item });
        }
        state.available += line.quantity;
        Ok(())
    })
}
