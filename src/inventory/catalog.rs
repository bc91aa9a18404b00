//! The catalog side of [`Inventory`]: registering items (one by one, by SKU, in bulk),
//! restocking and shrinking, absolute levels, delisting, and reading one item's levels.

use crate::error::{AdjustError, CatalogError};
use crate::ids::ItemId;
use crate::limits::MAX_STOCK;
use crate::stock::slot;

use super::audit::ItemLevels;
use crate::journal::{AdjustKind, Event};

/// The journal record of a level change.
fn adjusted(item: ItemId, kind: AdjustKind, delta: i64) -> Event {
    Event::Adjusted { item, kind, delta }
}
use super::shared::Inventory;

impl Inventory {
    /// Registers an item with `initial` units and returns its dense id.
    pub fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        self.inner.logged(|| {
            let item = self.inner.stock.register(initial)?;
            self.inner.journal_event(|| Event::Registered {
                item,
                sku: None,
                initial,
            });
            Ok(item)
        })
    }

    /// Registers an item under a SKU, refusing a SKU already registered.
    pub fn register_sku(&self, sku: &str, initial: i64) -> Result<ItemId, CatalogError> {
        self.inner.logged(|| {
            let item = self.inner.stock.register_sku(sku, initial)?;
            self.inner.journal_event(|| Event::Registered {
                item,
                sku: Some(sku.to_owned()),
                initial,
            });
            Ok(item)
        })
    }

    /// The item registered under `sku`. Lock-free: one arc-swap load of the SKU table, a
    /// foldhash of the SKU and one or two probes of one cache line each (a SKU of at most 24
    /// bytes is compared inside its bucket), with no write to shared memory but arc-swap's
    /// per-thread slot. Alone, 1.5 to 6 times the rate of a mutex-guarded map on 2 cores;
    /// inside a reserve, about level with it (see `DESIGN.md`, "7a. The catalog"): resolve
    /// SKUs once per request, not per line.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// assert_eq!(inventory.item_by_sku("MUG-1"), Some(mug));
    /// assert_eq!(inventory.item_by_sku("NOPE"), None);
    /// ```
    #[must_use]
    pub fn item_by_sku(&self, sku: &str) -> Option<ItemId> {
        self.inner.stock.item_by_sku(sku)
    }

    /// Number of registered items.
    #[must_use]
    pub fn items(&self) -> usize {
        self.inner.stock.len()
    }

    /// Adds `quantity` units of `item`. Refused if more than
    /// [`MAX_STOCK`](crate::limits::MAX_STOCK) units would be on hand (available, in flight
    /// and held).
    pub fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.inner.logged(|| {
            let slot = self.adjustable(item, quantity)?;
            slot.receive_within_bound(quantity)
                .map_err(|on_hand| AdjustError::Overflow {
                    item,
                    on_hand,
                    quantity,
                })?;
            slot.give_back_held(quantity);
            self.inner
                .journal_event(|| adjusted(item, AdjustKind::Restock, quantity));
            Ok(())
        })
    }

    /// Removes `quantity` available units of `item` (damage, loss).
    pub fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        self.inner.logged(|| {
            self.inner.stock.shrink(item, quantity)?;
            self.inner
                .journal_event(|| adjusted(item, AdjustKind::Shrink, -quantity));
            Ok(())
        })
    }

    /// The slot of a registered item.
    fn known(&self, item: ItemId) -> Result<&slot::Slot, AdjustError> {
        self.inner
            .stock
            .catalog()
            .slot(item)
            .ok_or(AdjustError::UnknownItem { item })
    }

    fn adjustable(&self, item: ItemId, quantity: i64) -> Result<&slot::Slot, AdjustError> {
        let slot = self.known(item)?;
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(AdjustError::InvalidQuantity { item, quantity });
        }
        Ok(slot)
    }

    /// An item's counts (see [`ItemLevels`] for how exact they are).
    #[must_use]
    pub fn item(&self, item: ItemId) -> Option<ItemLevels> {
        Some(crate::inventory::audit::item_levels(
            self.inner.stock.catalog().slot(item)?,
        ))
    }

    /// The SKU `item` was registered under (for an error message or a log line); `None` for
    /// an unknown item or one registered without a SKU. Lock-free: two loads.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// assert_eq!(inventory.sku(mug), Some("MUG-1"));
    /// ```
    #[must_use]
    pub fn sku(&self, item: ItemId) -> Option<&str> {
        self.inner.stock.sku(item)
    }

    /// Registers a catalog of `(SKU, initial level)` entries with consecutive ids, in the
    /// order given, or registers nothing.
    ///
    /// Every entry is read and validated before any is registered: a bad SKU or level
    /// ([`LoadError::Invalid`](crate::LoadError::Invalid)), a SKU given twice ([`LoadError::DuplicateInLoad`](crate::LoadError::DuplicateInLoad)) or already
    /// registered ([`LoadError::AlreadyRegistered`](crate::LoadError::AlreadyRegistered)), more entries than the catalog has room
    /// for, or more than [`MAX_LOAD_ENTRIES`](crate::limits::MAX_LOAD_ENTRIES), refuses the
    /// whole load with an error naming the entry (its 1-based position). Registrations are
    /// serialized, so no other registration interleaves; items become visible to readers one
    /// by one while the load runs. O(entries): the SKU table grows once, to fit.
    ///
    /// ```
    /// use atomic_stock::{Inventory, LoadError};
    ///
    /// let inventory = Inventory::new();
    /// let loaded = inventory
    ///     .load_catalog((0..1000).map(|i| (format!("SKU-{i}"), 10)))
    ///     .unwrap();
    /// assert_eq!((loaded.count, inventory.items()), (1000, 1000));
    ///
    /// // One bad entry: nothing of the load is registered.
    /// let err = inventory.load_catalog([("NEW-1", 1), ("SKU-7", 1)]).unwrap_err();
    /// assert!(matches!(err, LoadError::AlreadyRegistered { line: 2, .. }));
    /// assert_eq!(inventory.item_by_sku("NEW-1"), None);
    /// ```
    pub fn load_catalog<I, S>(
        &self,
        entries: I,
    ) -> Result<crate::stock::load::Loaded, crate::error::LoadError>
    where
        I: IntoIterator<Item = (S, i64)>,
        S: AsRef<str>,
    {
        if !self.inner.has_journal() {
            return self.inner.stock.load_catalog(entries);
        }
        self.load_logged(crate::stock::load::from_iter(entries)?)
    }

    /// Registers the `sku,initial` lines of CSV input, all or nothing, like
    /// [`load_catalog`](Inventory::load_catalog); errors name the input line. The format: one
    /// pair per line, split at the first comma, surrounding whitespace ignored, empty lines
    /// and a first line reading `sku,initial` skipped, no quoting.
    ///
    /// ```
    /// use atomic_stock::{Inventory, LoadError};
    ///
    /// let inventory = Inventory::new();
    /// let csv = "sku,initial\nMUG-1,5\nTEA-9,two\n";
    /// let err = inventory.load_csv(csv.as_bytes()).unwrap_err();
    /// assert!(matches!(err, LoadError::Malformed { line: 3, .. }));
    /// assert_eq!(inventory.items(), 0);
    ///
    /// inventory.load_csv("MUG-1,5\nTEA-9,2\n".as_bytes()).unwrap();
    /// assert_eq!(inventory.item(inventory.item_by_sku("TEA-9").unwrap()).unwrap().available, 2);
    /// ```
    pub fn load_csv(
        &self,
        input: impl std::io::BufRead,
    ) -> Result<crate::stock::load::Loaded, crate::error::LoadError> {
        if !self.inner.has_journal() {
            return self.inner.stock.load_csv(input);
        }
        self.load_logged(crate::stock::load::from_csv(input)?)
    }

    /// Registers parsed entries and journals each registration.
    fn load_logged(
        &self,
        entries: Vec<crate::stock::catalog::LoadEntry>,
    ) -> Result<crate::stock::load::Loaded, crate::error::LoadError> {
        self.inner.logged(|| {
            let copy: Vec<(Box<str>, i64)> =
                entries.iter().map(|e| (e.sku.clone(), e.initial)).collect();
            let loaded = self.inner.stock.register_loaded(entries)?;
            for (item, (sku, initial)) in loaded.ids().zip(copy) {
                self.inner.journal_event(|| Event::Registered {
                    item,
                    sku: Some(sku.into()),
                    initial,
                });
            }
            Ok(loaded)
        })
    }

    /// Sets the units of `item` available to `new` if they are `expected` now, as after a stock
    /// count ("set to 40 if it is still 37"); otherwise changes nothing and returns
    /// [`AdjustError::LevelMismatch`] with the level found.
    ///
    /// The comparison and the change are one atomic step on the item's stock word, taken
    /// when nothing is in flight on it (a reserve half-way through, a release returning units):
    /// the level compared is the one every other operation agrees on, never a transient one.
    /// So the call may wait, like a shortfall decision, for operations in flight on the item.
    ///
    /// Accounting: the difference is booked as a restock (`new > expected`) or a shrink
    /// (`new < expected`) in the item's `received`, so `received = available + held + sold`
    /// keeps holding and [`audit`](Inventory::audit) passes. Refused with
    /// [`AdjustError::Overflow`] if the raise would put more than
    /// [`MAX_STOCK`](crate::limits::MAX_STOCK) units on hand, with
    /// [`AdjustError::Delisted`] for a delisted item, with
    /// [`AdjustError::InvalidQuantity`] for a level outside `0..=MAX_STOCK`.
    ///
    /// ```
    /// use atomic_stock::{AdjustError, Inventory};
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(37).unwrap();
    /// assert_eq!(inventory.set_available(mug, 37, 40), Ok(()));
    /// assert_eq!(
    ///     inventory.set_available(mug, 37, 45),
    ///     Err(AdjustError::LevelMismatch { item: mug, expected: 37, actual: 40 })
    /// );
    /// assert_eq!(inventory.item(mug).unwrap().received, 40);
    /// assert!(inventory.audit().is_ok());
    /// ```
    pub fn set_available(&self, item: ItemId, expected: i64, new: i64) -> Result<(), AdjustError> {
        self.inner
            .logged(|| self.set_available_unlogged(item, expected, new))
    }

    fn set_available_unlogged(
        &self,
        item: ItemId,
        expected: i64,
        new: i64,
    ) -> Result<(), AdjustError> {
        let slot = self.known(item)?;
        for quantity in [expected, new] {
            if !(0..=MAX_STOCK).contains(&quantity) {
                return Err(AdjustError::InvalidQuantity { item, quantity });
            }
        }
        let raise = new - expected;
        if raise > 0 {
            // Room first, as a restock books it: `received - sold` bounds everything on hand.
            slot.receive_within_bound(raise)
                .map_err(|on_hand| AdjustError::Overflow {
                    item,
                    on_hand,
                    quantity: raise,
                })?;
        }
        match slot.set_available(expected, new) {
            Ok(()) => {
                if raise < 0 {
                    slot.unreceive(-raise);
                }
                if raise != 0 {
                    self.inner
                        .journal_event(|| adjusted(item, AdjustKind::Level, raise));
                }
                Ok(())
            }
            Err(refused) => {
                if raise > 0 {
                    slot.unreceive(raise);
                }
                Err(match refused {
                    slot::LevelRefused::Mismatch { actual } => AdjustError::LevelMismatch {
                        item,
                        expected,
                        actual,
                    },
                    slot::LevelRefused::Delisted => AdjustError::Delisted { item },
                })
            }
        }
    }

    /// Delists `item`: from the instant this call takes effect, every reserve, cart update or
    /// shrink that needs units of it is refused with [`TakeError::Delisted`](crate::TakeError::Delisted)
    /// (`AdjustError::Delisted` for a shrink), while the holds it already has go on as usual
    /// (confirmed, released, expired; released units are counted as available but cannot be
    /// taken). When the call returns, every reserve of the item that began before it has
    /// finished taking (so the holds are exactly the live reservations'). The id stays
    /// registered, with its SKU, and its levels stay readable; delisting is final. Idempotent:
    /// returns `Ok(true)` if this call delisted the item, `Ok(false)` if it already was.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line, ReserveError, TakeError};
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// let ttl = Duration::from_secs(600);
    /// let held = inventory.reserve(CartId::new(1), &[Line::new(mug, 2)], ttl).unwrap();
    /// assert_eq!(inventory.delist(mug), Ok(true));
    /// assert_eq!(
    ///     inventory.reserve(CartId::new(2), &[Line::new(mug, 1)], ttl),
    ///     Err(ReserveError::Stock(TakeError::Delisted { item: mug }))
    /// );
    /// // The live hold finishes as usual.
    /// assert!(inventory.confirm(held.id).is_ok());
    /// assert_eq!(inventory.is_delisted(mug), Some(true));
    /// assert!(inventory.audit().is_ok());
    /// ```
    pub fn delist(&self, item: ItemId) -> Result<bool, AdjustError> {
        self.inner.logged(|| {
            let slot = self.known(item)?;
            let delisted = slot.delist();
            if delisted {
                self.inner.journal_event(|| Event::Delisted { item });
            }
            Ok(delisted)
        })
    }

    /// Whether `item` is delisted; `None` for an unknown item.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(1).unwrap();
    /// assert_eq!(inventory.is_delisted(mug), Some(false));
    /// ```
    #[must_use]
    pub fn is_delisted(&self, item: ItemId) -> Option<bool> {
        Some(self.inner.stock.catalog().slot(item)?.is_delisted())
    }
}
