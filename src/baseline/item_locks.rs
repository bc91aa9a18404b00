//! Per-item mutexes in canonical order.

use crate::error::{AdjustError, CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::limits::{MAX_ITEMS, MAX_STOCK};
use crate::stock::catalog::validate_registration;
use crate::stock::take::{self, Resolved};
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

impl ItemState {
    /// The shortfall taking `line` would meet, if any.
    #[inline]
    pub(crate) fn shortfall(&self, line: Line) -> Option<TakeError> {
        shortfall(self.available, line)
    }

    /// The refusal giving `line` back would meet (more than `MAX_STOCK` units), if any.
    #[inline]
    pub(crate) fn overflow(&self, line: Line) -> Option<TakeError> {
        (self.available + line.quantity > MAX_STOCK)
            .then_some(TakeError::QuantityOverflow { item: line.item })
    }

    /// Adds `quantity` received units, refused if more than `MAX_STOCK` would be available.
    pub(crate) fn restock(&mut self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        if self.available + quantity > MAX_STOCK {
            return Err(AdjustError::Overflow {
                item,
                on_hand: self.available,
                quantity,
            });
        }
        self.available += quantity;
        self.received += quantity;
        Ok(())
    }

    /// Removes `quantity` available units, refused if fewer are available.
    pub(crate) fn shrink(&mut self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        shrink(&mut self.available, &mut self.received, item, quantity)
    }
}

/// The shortfall taking `line` from `available` units would meet, if any: in every
/// baseline's item state.
#[inline]
pub(crate) fn shortfall(available: i64, line: Line) -> Option<TakeError> {
    (available < line.quantity).then_some(TakeError::Shortfall {
        item: line.item,
        requested: line.quantity,
        available,
    })
}

/// Removes `quantity` units from `available` and `received`, refused if fewer are available:
/// a shrink, in every baseline's item state.
pub(crate) fn shrink(
    available: &mut i64,
    received: &mut i64,
    item: ItemId,
    quantity: i64,
) -> Result<(), AdjustError> {
    if *available < quantity {
        return Err(AdjustError::Shortfall {
            item,
            requested: quantity,
            available: *available,
        });
    }
    *available -= quantity;
    *received -= quantity;
    Ok(())
}

/// [`ItemState::restock`] or [`ItemState::shrink`].
pub(crate) type Adjust = fn(&mut ItemState, ItemId, i64) -> Result<(), AdjustError>;

/// Checks a restock or shrink quantity.
pub(crate) fn check_adjustment(item: ItemId, quantity: i64) -> Result<(), AdjustError> {
    if !(1..=MAX_STOCK).contains(&quantity) {
        return Err(AdjustError::InvalidQuantity { item, quantity });
    }
    Ok(())
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
            if let Some(short) = state.shortfall(*line) {
                return Err(short);
            }
            self.take_sorted(rest)?;
            state.available -= line.quantity;
            Ok(())
        })
    }

    #[inline]
    fn resolve(&self, item: ItemId) -> Option<&M> {
        self.items.get(item.get())
    }

    /// Checks in `Stock`'s order (unknown item first, then quantity), then adjusts.
    fn adjust(&self, item: ItemId, quantity: i64, adjust: Adjust) -> Result<(), AdjustError> {
        let lock = self
            .resolve(item)
            .ok_or(AdjustError::UnknownItem { item })?;
        check_adjustment(item, quantity)?;
        lock.with(|state| adjust(state, item, quantity))
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
        take::with_canonical(
            lines,
            |item| self.resolve(item),
            |entries| self.take_sorted(entries),
        )
    }

    fn give_back(&self, lines: &[Line]) -> Result<(), TakeError> {
        take::with_canonical(
            lines,
            |item| self.resolve(item),
            |entries| {
                for Resolved { line, at } in entries {
                    at.with(|state| match state.overflow(*line) {
                        Some(refused) => Err(refused),
                        None => {
                            state.available += line.quantity;
                            Ok(())
                        }
                    })?;
                }
                Ok(())
            },
        )
    }

    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjust(item, quantity, ItemState::restock)
    }

    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjust(item, quantity, ItemState::shrink)
    }

    fn available(&self, item: ItemId) -> Option<i64> {
        self.items
            .get(item.get())
            .map(|lock| lock.with(|state| state.available))
    }
}
