//! Every item behind one mutex.

use super::item_locks::{check_adjustment, Adjust};
use super::ItemState;
use crate::error::{AdjustError, CatalogError, TakeError};
use crate::ids::{ItemId, Line};
use crate::limits::MAX_ITEMS;
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
    /// Whether an item is registered, by the count read before locking: input is validated
    /// outside the lock, and ids only ever become known, so the test is safe (if momentarily
    /// conservative).
    #[inline]
    fn known(&self) -> impl Fn(ItemId) -> Option<()> {
        // Acquire: pairs with the Release store in `register`.
        let len = self.len.load(Ordering::Acquire);
        move |item| (item.index() < len).then_some(())
    }

    /// Checks in `Stock`'s order (unknown item first, then quantity), then adjusts.
    fn adjust(&self, item: ItemId, quantity: i64, adjust: Adjust) -> Result<(), AdjustError> {
        let mut items = self.items.lock();
        let state = items
            .get_mut(item.index())
            .ok_or(AdjustError::UnknownItem { item })?;
        check_adjustment(item, quantity)?;
        adjust(state, item, quantity)
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
        // Release: pairs with the Acquire load in `known`; the item exists before its id
        // is considered known (the lock orders the data itself).
        self.len.store(items.len(), Ordering::Release);
        Ok(ItemId::new((items.len() - 1) as u32))
    }

    fn take(&self, lines: &[Line]) -> Result<(), TakeError> {
        if let [line] = *lines {
            // One line, as `Stock::take`: validated alone, no sorting, no buffer, one look-up.
            take::check(line, &self.known())?;
            let state = &mut self.items.lock()[line.item.index()];
            if let Some(short) = state.shortfall(line) {
                return Err(short);
            }
            state.available -= line.quantity;
            return Ok(());
        }
        let canonical = Canonical::new(lines, self.known())?;
        let mut items = self.items.lock();
        for line in canonical.lines() {
            if let Some(short) = items[line.item.index()].shortfall(line) {
                return Err(short);
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
            if let Some(refused) = state.overflow(line) {
                return Err(refused);
            }
            state.available += line.quantity;
            return Ok(());
        }
        let canonical = Canonical::new(lines, self.known())?;
        let mut items = self.items.lock();
        for line in canonical.lines() {
            if let Some(refused) = items[line.item.index()].overflow(line) {
                return Err(refused);
            }
        }
        for line in canonical.lines() {
            items[line.item.index()].available += line.quantity;
        }
        Ok(())
    }

    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjust(item, quantity, ItemState::restock)
    }

    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.adjust(item, quantity, ItemState::shrink)
    }

    fn available(&self, item: ItemId) -> Option<i64> {
        self.items.lock().get(item.index()).map(|s| s.available)
    }
}
