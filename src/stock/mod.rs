//! [`Stock`]: the lock-free stock core, and [`StockEngine`], the operations it shares with the
//! baselines it is measured against.

pub(crate) mod catalog;
pub(crate) mod hot;
pub(crate) mod inline;
pub(crate) mod lines;
pub(crate) mod load;
pub(crate) mod park;
pub(crate) mod sku;
pub(crate) mod slot;
pub(crate) mod stats;
pub(crate) mod take;
pub(crate) mod waitlist;
pub(crate) mod word;

use crate::error::{AdjustError, CatalogError, LoadError, TakeError};
use crate::ids::{ItemId, Line};
use crate::limits::MAX_STOCK;
use crate::stock::catalog::Catalog;
use crate::stock::load::Loaded;
use crate::stock::slot::Slot;
use crate::stock::stats::{Counters, Stats};
use crate::stock::take::Canonical;
use crate::stock::word::TakeMode;
use crate::sync::shard;

/// The operations every stock engine in this crate offers: the lock-free [`Stock`] and the
/// baselines (`baseline::ItemLocks`, `baseline::GlobalLock`, behind the `baselines` feature).
/// Benchmarks and tests drive all of them through this trait, so every comparison runs the same
/// code around the engine.
pub trait StockEngine: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &'static str;

    /// Registers an item with `initial` units on hand and returns its dense id.
    fn register(&self, initial: i64) -> Result<ItemId, CatalogError>;

    /// Takes every line or none. Duplicate items are merged; lines are taken in ascending item
    /// order. On a shortfall, nothing is taken.
    fn take(&self, lines: &[Line]) -> Result<(), TakeError>;

    /// Returns units that an earlier successful [`take`](StockEngine::take) removed. Validated
    /// like a take; the caller is trusted to give back only what it took.
    fn give_back(&self, lines: &[Line]) -> Result<(), TakeError>;

    /// Adds `quantity` units of `item` (a delivery).
    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError>;

    /// Removes `quantity` available units of `item` (damage, loss), or refuses if fewer are
    /// available.
    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError>;

    /// Units of `item` available now, or `None` for an unknown item.
    fn available(&self, item: ItemId) -> Option<i64>;
}

/// The lock-free stock core: available counts of dense items, taken all-or-nothing.
///
/// Each item's stock is one atomic word; a multi-item take decrements the words one by one in
/// ascending item order with compare-and-swap, and gives every decrement back at once if a
/// later item is short. No lock is taken on the take path; registration takes a mutex.
///
/// Most users want [`Inventory`](crate::Inventory), which adds reservations, expiry and carts
/// on top of this core. `Stock` is for callers that manage their own holds (and for the
/// benchmarks, which compare it with the baselines).
///
/// ```
/// use atomic_stock::{Line, Stock, TakeError};
///
/// let stock = Stock::new();
/// let shirt = stock.register(3).unwrap();
/// let socks = stock.register(1).unwrap();
///
/// stock.take(&[Line::new(shirt, 2), Line::new(socks, 1)]).unwrap();
/// // Socks are gone, so this take fails as a whole and leaves the shirts alone.
/// let err = stock.take(&[Line::new(shirt, 1), Line::new(socks, 1)]).unwrap_err();
/// assert_eq!(err, TakeError::Shortfall { item: socks, requested: 1, available: 0 });
/// assert_eq!(stock.available(shirt), Some(1));
/// ```
#[derive(Debug)]
pub struct Stock {
    catalog: Catalog,
    counters: Counters,
}

impl Default for Stock {
    fn default() -> Self {
        Stock::new()
    }
}

impl Stock {
    /// An empty catalog.
    #[must_use]
    pub fn new() -> Self {
        Stock::with_shards(shard::default_shards())
    }

    pub(crate) fn with_shards(shards: usize) -> Self {
        Stock {
            catalog: Catalog::new(),
            counters: Counters::new(shards),
        }
    }

    /// Registers an item with `initial` units (`0..=MAX_STOCK`) and returns its id. Safe to call
    /// while other threads take.
    pub fn register(&self, initial: i64) -> Result<ItemId, CatalogError> {
        self.catalog.register(initial, None)
    }

    /// Registers an item under an external key (a SKU), refusing duplicates.
    pub fn register_sku(&self, sku: &str, initial: i64) -> Result<ItemId, CatalogError> {
        self.catalog.register(initial, Some(sku))
    }

    /// The item registered under `sku`. Lock-free (see [`Inventory::item_by_sku`] for the cost).
    ///
    /// [`Inventory::item_by_sku`]: crate::Inventory::item_by_sku
    ///
    /// ```
    /// use atomic_stock::Stock;
    ///
    /// let stock = Stock::new();
    /// let mug = stock.register_sku("MUG-1", 5).unwrap();
    /// assert_eq!(stock.item_by_sku("MUG-1"), Some(mug));
    /// assert_eq!(stock.item_by_sku("MUG-2"), None);
    /// ```
    #[must_use]
    pub fn item_by_sku(&self, sku: &str) -> Option<ItemId> {
        self.catalog.by_sku(sku)
    }

    /// The SKU `item` was registered under; `None` for an unknown item or one registered
    /// without a SKU. Lock-free: two loads.
    ///
    /// ```
    /// use atomic_stock::Stock;
    ///
    /// let stock = Stock::new();
    /// let mug = stock.register_sku("MUG-1", 5).unwrap();
    /// assert_eq!(stock.sku(mug), Some("MUG-1"));
    /// assert_eq!(stock.sku(stock.register(1).unwrap()), None);
    /// ```
    #[must_use]
    pub fn sku(&self, item: ItemId) -> Option<&str> {
        self.catalog.sku(item)
    }

    /// Registers every `(SKU, initial level)` entry with consecutive ids, or none of them; see
    /// [`Inventory::load_catalog`](crate::Inventory::load_catalog).
    ///
    /// ```
    /// use atomic_stock::{LoadError, Stock};
    ///
    /// let stock = Stock::new();
    /// let err = stock.load_catalog([("A", 1), ("B", 2), ("A", 3)]).unwrap_err();
    /// assert_eq!(err, LoadError::DuplicateInLoad { line: 3, first_line: 1 });
    /// assert!(stock.is_empty());
    /// ```
    pub fn load_catalog<I, S>(&self, entries: I) -> Result<Loaded, LoadError>
    where
        I: IntoIterator<Item = (S, i64)>,
        S: AsRef<str>,
    {
        self.register_loaded(load::from_iter(entries)?)
    }

    /// Registers the `sku,initial` lines of CSV input, all or none; see
    /// [`Inventory::load_csv`](crate::Inventory::load_csv).
    ///
    /// ```
    /// use atomic_stock::Stock;
    ///
    /// let stock = Stock::new();
    /// stock.load_csv("sku,initial\nMUG-1,5\nTEA-9,2\n".as_bytes()).unwrap();
    /// assert_eq!(stock.available(stock.item_by_sku("TEA-9").unwrap()), Some(2));
    /// ```
    pub fn load_csv(&self, input: impl std::io::BufRead) -> Result<Loaded, LoadError> {
        self.register_loaded(load::from_csv(input)?)
    }

    pub(crate) fn register_loaded(
        &self,
        entries: Vec<crate::stock::catalog::LoadEntry>,
    ) -> Result<Loaded, LoadError> {
        let count = entries.len();
        let first = self.catalog.register_all(entries)?;
        Ok(Loaded { first, count })
    }

    /// Number of registered items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.catalog.len() as usize
    }

    /// Whether no item is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every line or none; see [`StockEngine::take`].
    pub fn take(&self, lines: &[Line]) -> Result<(), TakeError> {
        if let [line] = lines {
            return self.take_one(*line);
        }
        let canonical = self.canonical(lines)?;
        take::take_all(&self.counters, canonical.entries(), TakeMode::Final).map(take::finish)
    }

    /// A single-line take: no sorting, no buffer, one compare-and-swap loop.
    fn take_one(&self, line: Line) -> Result<(), TakeError> {
        let slot = self.checked_slot(line)?;
        match slot.take(line.quantity, TakeMode::Final, self.counters.len()) {
            Ok(taken) => {
                if taken.retries > 0 {
                    let local = self.counters.local();
                    crate::stock::stats::bump(&local.cas_retries, u64::from(taken.retries));
                }
                Ok(())
            }
            Err(short) => {
                let local = self.counters.local();
                crate::stock::stats::bump(&local.shortfalls, 1);
                if short.waited {
                    crate::stock::stats::bump(&local.waits, 1);
                }
                if short.delisted {
                    return Err(TakeError::Delisted { item: line.item });
                }
                Err(TakeError::Shortfall {
                    item: line.item,
                    requested: line.quantity,
                    available: short.available,
                })
            }
        }
    }

    /// Gives back units a successful take removed; see [`StockEngine::give_back`].
    ///
    /// Validated like a take. If giving back would put more than
    /// [`MAX_STOCK`](crate::limits::MAX_STOCK) units in an item, counting the units that
    /// operations in flight took tentatively and may still return (more was given back than
    /// was ever taken, or a restock filled the room), that line and every later one is refused
    /// with [`TakeError::QuantityOverflow`] and the lines before it stay given back. Like
    /// [`restock`](Stock::restock), it may wait for takes in flight on the item to finish.
    pub fn give_back(&self, lines: &[Line]) -> Result<(), TakeError> {
        if let [line] = lines {
            let slot = self.checked_slot(*line)?;
            return slot
                .add_checked(line.quantity)
                .map_err(|_| TakeError::QuantityOverflow { item: line.item });
        }
        let canonical = self.canonical(lines)?;
        for r in canonical.entries() {
            r.at.add_checked(r.line.quantity)
                .map_err(|_| TakeError::QuantityOverflow { item: r.line.item })?;
        }
        Ok(())
    }

    /// Adds `quantity` units (`1..=MAX_STOCK`) of `item`, unless the units available plus the
    /// units that takes in flight took tentatively (and may give back) would then exceed
    /// [`MAX_STOCK`](crate::limits::MAX_STOCK): then it returns [`AdjustError::Overflow`] and
    /// changes nothing.
    ///
    /// The stock word counts takes in flight, not their units, so a restock that the available
    /// units alone allow waits until no take is in flight on the item (as a shortfall decision
    /// does; multi-line takes are in flight for the time of their later lines), then decides
    /// exactly. Refused at once if the available units alone do not leave room.
    ///
    /// ```
    /// use atomic_stock::{limits::MAX_STOCK, AdjustError, Stock};
    ///
    /// let stock = Stock::new();
    /// let item = stock.register(MAX_STOCK - 1).unwrap();
    /// assert!(stock.restock(item, 1).is_ok());
    /// assert!(matches!(stock.restock(item, 1), Err(AdjustError::Overflow { .. })));
    /// assert_eq!(stock.available(item), Some(MAX_STOCK));
    /// ```
    pub fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let slot = self.adjustable(item, quantity)?;
        slot.add_checked(quantity)
            .map_err(|on_hand| AdjustError::Overflow {
                item,
                on_hand,
                quantity,
            })?;
        slot.record_received(quantity);
        Ok(())
    }

    /// Removes `quantity` available units of `item`, with the same exact shortfall rule as a
    /// take.
    pub fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        let slot = self.adjustable(item, quantity)?;
        match slot.take(quantity, TakeMode::Final, self.counters.len()) {
            Ok(_) => {
                slot.unreceive(quantity);
                Ok(())
            }
            Err(short) if short.delisted => Err(AdjustError::Delisted { item }),
            Err(short) => Err(AdjustError::Shortfall {
                item,
                requested: quantity,
                available: short.available,
            }),
        }
    }

    /// Units of `item` available now (not counting units in flight).
    #[must_use]
    pub fn available(&self, item: ItemId) -> Option<i64> {
        self.catalog.slot(item).map(Slot::available)
    }

    /// Counters since creation.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Validates `lines` and resolves each item to its slot.
    #[inline(always)]
    pub(crate) fn canonical(&self, lines: &[Line]) -> Result<Canonical<&Slot>, TakeError> {
        Canonical::new(lines, |item| self.catalog.slot(item))
    }

    /// The slot of an item validated earlier.
    pub(crate) fn slot(&self, item: ItemId) -> &Slot {
        self.catalog
            .slot(item)
            .expect("validated item disappeared from the catalog")
    }

    fn checked_slot(&self, line: Line) -> Result<&Slot, TakeError> {
        take::check(line, &|item| self.catalog.slot(item))
    }

    fn adjustable(&self, item: ItemId, quantity: i64) -> Result<&Slot, AdjustError> {
        let slot = self
            .catalog
            .slot(item)
            .ok_or(AdjustError::UnknownItem { item })?;
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(AdjustError::InvalidQuantity { item, quantity });
        }
        Ok(slot)
    }
}

impl StockEngine for Stock {
    fn name(&self) -> &'static str {
        "lock-free"
    }

    fn register(&self, initial: i64) -> Result<ItemId, CatalogError> {
        Stock::register(self, initial)
    }

    fn take(&self, lines: &[Line]) -> Result<(), TakeError> {
        Stock::take(self, lines)
    }

    fn give_back(&self, lines: &[Line]) -> Result<(), TakeError> {
        Stock::give_back(self, lines)
    }

    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        Stock::restock(self, item, quantity)
    }

    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        Stock::shrink(self, item, quantity)
    }

    fn available(&self, item: ItemId) -> Option<i64> {
        Stock::available(self, item)
    }
}
