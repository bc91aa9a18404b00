//! Every item behind one mutex.

use super::ItemState;
use crate::error::{AdjustError, CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::limits::{MAX_ITEMS, MAX_STOCK};
use crate::stock::catalog::validate_registration;
use crate::stock::take::{self, Canonical};
use crate::stock::StockEngine;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One `parking_lot` mutex around every item: check all lines, then apply all. The simplest
/// correct design, and on a single hot item a strong one in raw throughput, because one thread
/// re-acquires the lock in bursts while the others park (see `DESIGN.md` for why its tail
/// latency and fairness are poor).
#[derive(Debug, Default)]
pub struct GlobalLock {
    items: Mutex<Vec<ItemState>>,
    /// Items registered, readable without the lock so that input is validated before taking it.
    len: AtomicUsize,
}

impl GlobalLock {
    /// An empty catalog.
    #[must_use]
    pub fn new() -> Self {
        GlobalLock::default()
    }
}

impl GlobalLock {
    /// Validates outside the lock: ids only ever become known, so a length read before locking
    /// is a safe (if momentarily conservative) test.
    fn canonical(&self, lines: &[Line]) -> Result<Canonical<()>, TakeError> {
        Canonical::new(lines, self.known())
    }

    /// Whether an item is registered, by the count published before locking.
    #[inline]
    fn known(&self) -> impl Fn(ItemId) -> Option<()> {
        // Acquire: pairs with the Release store in `register`.
        let len = self.len.load(Ordering::Acquire);
        move |item| (item.index() < len).then_some(())
    }
}

impl StockEngine for GlobalLock {
    fn name(&self) -> &'static str {
        "global-lock"
    }

    fn register(&self, initial: i64) -> Result<ItemId, CatalogError> {
        validate_registration(initial, None)?;
        let mut items = self.items.lock();
        if items.len() >= MAX_ITEMS as usize {
            return Err(CatalogError::CatalogFull { max: MAX_ITEMS });
        }
        items.push(ItemState {
            available: initial,
            received: initial,
        });
        // Release: pairs with the Acquire load in `canonical`; the item exists before its id
        // is considered known (the lock orders the data itself).
        self.len.store(items.len(), Ordering::Release);
        Ok(ItemId::new((items.len() - 1) as u32))
    }

    fn take(&self, lines: &[Line]) -> Result<(), TakeError> {
        if let [line] = *lines {
            // One line, as `Stock::take`: validated alone, no sorting, no buffer.
            take::check(line, &self.known())?;
            let state = &mut self.items.lock()[line.item.index()];
            if state.available < line.quantity {
                return Err(TakeError::Shortfall {
                    item: line.item,
                    requested: line.quantity,
                    available: state.available,
                });
            }
            state.available -= line.quantity;
            return Ok(());
        }
        let canonical = self.canonical(lines)?;
        let mut items = self.items.lock();
        for line in canonical.lines() {
            let state = &items[line.item.index()];
            if state.available < line.quantity {
                return Err(TakeError::Shortfall {
                    item: line.item,
                    requested: line.quantity,
                    available: state.available,
                });
            }
        }
        for line in canonical.lines() {
            items[line.item.index()].available -= line.quantity;
        }
        Ok(())
    }

    fn give_back(&self, lines: &[Line]) -> Result<(), TakeError> {
        if let [line] = *lines {
            take::check(line, &self.known())?;
            let state = &mut self.items.lock()[line.item.index()];
            if state.available + line.quantity > MAX_STOCK {
                return Err(TakeError::QuantityOverflow { item: line.item });
            }
            state.available += line.quantity;
            return Ok(());
        }
        let canonical = self.canonical(lines)?;
        let mut items = self.items.lock();
        for line in canonical.lines() {
            if items[line.item.index()].available + line.quantity > MAX_STOCK {
                return Err(TakeError::QuantityOverflow { item: line.item });
            }
        }
        for line in canonical.lines() {
            items[line.item.index()].available += line.quantity;
        }
        Ok(())
    }

    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let mut items = self.items.lock();
        let state = items
            .get_mut(item.index())
            .ok_or(AdjustError::UnknownItem { item })?;
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(AdjustError::InvalidQuantity { item, quantity });
        }
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
    }

    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let mut items = self.items.lock();
        let state = items
            .get_mut(item.index())
            .ok_or(AdjustError::UnknownItem { item })?;
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(AdjustError::InvalidQuantity { item, quantity });
        }
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
    }

    fn available(&self, item: ItemId) -> Option<i64> {
        self.items.lock().get(item.index()).map(|s| s.available)
    }
}
