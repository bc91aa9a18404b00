//! Error types, one enum per family of operations. Every variant carries the facts a caller
//! needs to act on it; none of them is ever produced by a panic path, and every operation that
//! returns one of them has changed nothing.

use crate::ids::ItemId;
use std::fmt;
use std::time::Duration;

/// Why an all-or-nothing take (or the stock part of a reservation) was refused.
///
/// Every variant except [`Shortfall`](TakeError::Shortfall) is bad input, detected before any
/// stock is touched. A shortfall is detected while taking; by the time it is returned, every
/// unit already taken for the request has been given back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TakeError {
    /// The request had no lines.
    EmptyCart,
    /// The request had more lines than [`MAX_LINES`](crate::limits::MAX_LINES).
    TooManyLines {
        /// Lines in the request.
        lines: usize,
        /// The limit.
        max: usize,
    },
    /// A line asked for zero, a negative number, or more than
    /// [`MAX_LINE_QUANTITY`](crate::limits::MAX_LINE_QUANTITY) units.
    InvalidQuantity {
        /// The item of the offending line.
        item: ItemId,
        /// The quantity it asked for.
        quantity: i64,
    },
    /// A line named an item this catalog never registered.
    UnknownItem {
        /// The unknown id.
        item: ItemId,
    },
    /// Several lines for the same item add up to more than
    /// [`MAX_LINE_QUANTITY`](crate::limits::MAX_LINE_QUANTITY).
    QuantityOverflow {
        /// The item whose lines overflow.
        item: ItemId,
    },
    /// Not enough stock of `item`: `requested` units were asked, `available` were seen.
    ///
    /// The answer is exact: at an instant during the call, the item had fewer than `requested`
    /// units available *counting units that other requests had taken only tentatively* (see
    /// the crate docs, "No phantom shortfall").
    Shortfall {
        /// The first item (in item-id order) that was short.
        item: ItemId,
        /// Units asked for (after merging duplicate lines).
        requested: i64,
        /// Units available when the shortfall was decided.
        available: i64,
    },
    /// The item was delisted ([`Inventory::delist`](crate::Inventory::delist)): it takes no
    /// new holds. Holds taken before the delisting are unaffected.
    Delisted {
        /// The delisted item.
        item: ItemId,
    },
    /// Not decided: `item` looked short while other requests had units of it in flight, and
    /// they did not settle within the caller's wait bound
    /// ([`InventoryBuilder::max_wait`](crate::InventoryBuilder::max_wait), or none at all in
    /// [`Inventory::reserve_async`](crate::Inventory::reserve_async)'s polls). Nothing was
    /// taken; asking again may succeed. Never a shortfall in disguise: a shortfall is only
    /// decided with nothing in flight.
    Busy {
        /// The item whose in-flight operations were waited for.
        item: ItemId,
    },
}

impl fmt::Display for TakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TakeError::EmptyCart => f.write_str("the request has no lines"),
            TakeError::TooManyLines { lines, max } => {
                write!(
                    f,
                    "the request has {lines} lines, more than the limit of {max}"
                )
            }
            TakeError::InvalidQuantity { item, quantity } => {
                write!(f, "invalid quantity {quantity} for {item}")
            }
            TakeError::UnknownItem { item } => write!(f, "{item} is not in the catalog"),
            TakeError::QuantityOverflow { item } => {
                write!(
                    f,
                    "the lines for {item} add up to more than the per-line limit"
                )
            }
            TakeError::Shortfall {
                item,
                requested,
                available,
            } => write!(
                f,
                "not enough stock of {item}: {requested} requested, {available} available"
            ),
            TakeError::Delisted { item } => write!(f, "{item} is delisted"),
            TakeError::Busy { item } => write!(
                f,
                "{item}: requests in flight did not settle within the wait bound; nothing taken"
            ),
        }
    }
}

impl TakeError {
    /// The shortfall's detail if this is one, so a caller matches it in one step.
    ///
    /// ```
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(1).unwrap();
    /// let refused = inventory
    ///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(60))
    ///     .unwrap_err();
    /// let short = refused.shortfall().unwrap();
    /// assert_eq!((short.item, short.requested, short.available), (mug, 2, 1));
    /// ```
    #[must_use]
    pub fn shortfall(&self) -> Option<Shortage> {
        match *self {
            TakeError::Shortfall {
                item,
                requested,
                available,
            } => Some(Shortage {
                item,
                requested,
                available,
            }),
            _ => None,
        }
    }
}

/// The detail of a shortfall ([`TakeError::Shortfall`]), as [`TakeError::shortfall`],
/// [`ReserveError::shortfall`](crate::ReserveError::shortfall) and
/// [`Failure::shortfall`](crate::Failure::shortfall) return it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Shortage {
    /// The first item found short (in ascending item order).
    pub item: ItemId,
    /// Units the request asked for.
    pub requested: i64,
    /// Units available when the shortfall was decided.
    pub available: i64,
}

impl std::error::Error for TakeError {}

/// Why registering an item failed.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum CatalogError {
    /// The catalog already holds [`MAX_ITEMS`](crate::limits::MAX_ITEMS) items.
    CatalogFull {
        /// The limit.
        max: u32,
    },
    /// The initial quantity was negative or above [`MAX_STOCK`](crate::limits::MAX_STOCK).
    InvalidQuantity {
        /// The quantity given.
        quantity: i64,
    },
    /// The SKU was empty or longer than [`MAX_SKU_LEN`](crate::limits::MAX_SKU_LEN) bytes.
    InvalidSku {
        /// Its length in bytes.
        len: usize,
    },
    /// The SKU is already registered.
    DuplicateSku {
        /// The item already registered under it.
        existing: ItemId,
    },
    /// The change took effect in memory but the journal stopped after an I/O error, so it
    /// may be missing after a restart (see [`JournalFailure`](crate::journal::JournalFailure)).
    /// The only variant that does not mean "nothing changed".
    Journal(crate::journal::JournalFailure),
}

impl From<crate::journal::JournalFailure> for CatalogError {
    fn from(failure: crate::journal::JournalFailure) -> Self {
        CatalogError::Journal(failure)
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::CatalogFull { max } => write!(f, "the catalog is full ({max} items)"),
            CatalogError::InvalidQuantity { quantity } => {
                write!(f, "invalid initial quantity {quantity}")
            }
            CatalogError::InvalidSku { len } => {
                write!(f, "a SKU must be 1 to 256 bytes long, this one has {len}")
            }
            CatalogError::DuplicateSku { existing } => {
                write!(f, "the SKU is already registered as {existing}")
            }
            CatalogError::Journal(failure) => failure.fmt(f),
        }
    }
}

impl std::error::Error for CatalogError {}

/// Why a bulk load ([`Inventory::load_catalog`](crate::Inventory::load_catalog),
/// [`Inventory::load_csv`](crate::Inventory::load_csv)) registered nothing. `line` is the
/// 1-based line of the CSV input, or the 1-based position in the iterator.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// A CSV line was not `sku,initial` (a non-empty SKU without `,`, a comma, and a decimal
    /// integer).
    Malformed {
        /// The line.
        line: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// An entry's SKU or initial level was refused, as
    /// [`Inventory::register_sku`](crate::Inventory::register_sku) would refuse it.
    Invalid {
        /// The entry's line.
        line: usize,
        /// Why it was refused.
        error: CatalogError,
    },
    /// The SKU on `line` was given already, on `first_line`.
    DuplicateInLoad {
        /// The line with the repeated SKU.
        line: usize,
        /// The line that gave it first.
        first_line: usize,
    },
    /// The SKU on `line` is registered already.
    AlreadyRegistered {
        /// The line.
        line: usize,
        /// The item registered under it.
        existing: ItemId,
    },
    /// The load has more entries than the catalog has room for.
    CatalogFull {
        /// [`MAX_ITEMS`](crate::limits::MAX_ITEMS).
        max: u32,
        /// Items the catalog can still take.
        room: usize,
        /// Entries in the load.
        entries: usize,
    },
    /// The load has more than [`MAX_LOAD_ENTRIES`](crate::limits::MAX_LOAD_ENTRIES) entries
    /// (refused when the entry past the bound is read, before anything is registered).
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// Reading the input failed at `line`.
    Io {
        /// The line being read.
        line: usize,
        /// The reader's error kind.
        kind: std::io::ErrorKind,
    },
    /// The change took effect in memory but the journal stopped after an I/O error, so it
    /// may be missing after a restart (see [`JournalFailure`](crate::journal::JournalFailure)).
    /// The only variant that does not mean "nothing changed".
    Journal(crate::journal::JournalFailure),
}

impl From<crate::journal::JournalFailure> for LoadError {
    fn from(failure: crate::journal::JournalFailure) -> Self {
        LoadError::Journal(failure)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
            LoadError::Invalid { line, error } => write!(f, "line {line}: {error}"),
            LoadError::DuplicateInLoad { line, first_line } => {
                write!(f, "line {line}: the SKU of line {first_line} again")
            }
            LoadError::AlreadyRegistered { line, existing } => {
                write!(
                    f,
                    "line {line}: the SKU is already registered as {existing}"
                )
            }
            LoadError::CatalogFull { max, room, entries } => write!(
                f,
                "{entries} entries, but room for {room} more items only (at most {max})"
            ),
            LoadError::TooLarge { max } => {
                write!(f, "more than {max} entries in one load")
            }
            LoadError::Io { line, kind } => write!(f, "line {line}: read failed ({kind})"),
            LoadError::Journal(failure) => failure.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why a restock, a shrink or a give-back of one item failed. Nothing changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum AdjustError {
    /// The item is not in the catalog.
    UnknownItem {
        /// The unknown id.
        item: ItemId,
    },
    /// The quantity was zero, negative or above [`MAX_STOCK`](crate::limits::MAX_STOCK).
    InvalidQuantity {
        /// The item.
        item: ItemId,
        /// The quantity given.
        quantity: i64,
    },
    /// Adding `quantity` would put more than [`MAX_STOCK`](crate::limits::MAX_STOCK) units on
    /// hand.
    Overflow {
        /// The item.
        item: ItemId,
        /// Units on hand (available, in flight and held) when the addition was refused.
        on_hand: i64,
        /// The quantity that did not fit.
        quantity: i64,
    },
    /// A shrink asked to remove more units than are available.
    Shortfall {
        /// The item.
        item: ItemId,
        /// Units asked for.
        requested: i64,
        /// Units available when the shortfall was decided.
        available: i64,
    },
    /// A compare-and-set of the level
    /// ([`Inventory::set_available`](crate::Inventory::set_available)) found another level
    /// than the one expected, and changed nothing.
    LevelMismatch {
        /// The item.
        item: ItemId,
        /// The level the caller expected.
        expected: i64,
        /// The level found: units available, with nothing in flight, at one instant during
        /// the call.
        actual: i64,
    },
    /// The item is delisted, and its level can no longer be set.
    Delisted {
        /// The item.
        item: ItemId,
    },
    /// The change took effect in memory but the journal stopped after an I/O error, so it
    /// may be missing after a restart (see [`JournalFailure`](crate::journal::JournalFailure)).
    /// The only variant that does not mean "nothing changed".
    Journal(crate::journal::JournalFailure),
}

impl From<crate::journal::JournalFailure> for AdjustError {
    fn from(failure: crate::journal::JournalFailure) -> Self {
        AdjustError::Journal(failure)
    }
}

impl fmt::Display for AdjustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AdjustError::UnknownItem { item } => write!(f, "{item} is not in the catalog"),
            AdjustError::InvalidQuantity { item, quantity } => {
                write!(f, "invalid quantity {quantity} for {item}")
            }
            AdjustError::Overflow {
                item,
                on_hand,
                quantity,
            } => write!(
                f,
                "adding {quantity} to the {on_hand} units of {item} on hand exceeds the limit"
            ),
            AdjustError::Shortfall {
                item,
                requested,
                available,
            } => write!(
                f,
                "cannot remove {requested} units of {item}: {available} available"
            ),
            AdjustError::LevelMismatch {
                item,
                expected,
                actual,
            } => write!(
                f,
                "{item} has {actual} units available, not the {expected} expected"
            ),
            AdjustError::Delisted { item } => write!(f, "{item} is delisted"),
            AdjustError::Journal(failure) => failure.fmt(f),
        }
    }
}

impl std::error::Error for AdjustError {}

/// Why [`InventoryBuilder::try_build`](crate::InventoryBuilder::try_build) refused a setting:
/// one variant per setting, naming the value given and the accepted range.
/// [`build`](crate::InventoryBuilder::build) clamps the same values instead.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// [`shards`](crate::InventoryBuilder::shards) outside `1..=max`.
    Shards {
        /// The value given.
        shards: usize,
        /// The largest accepted, [`MAX_SHARDS`](crate::limits::MAX_SHARDS).
        max: usize,
    },
    /// [`expected_carts`](crate::InventoryBuilder::expected_carts) was zero (accepted: 1 and
    /// above).
    ExpectedCarts {
        /// The value given.
        carts: usize,
    },
    /// [`max_reservations`](crate::InventoryBuilder::max_reservations) was zero (accepted: 1
    /// and above).
    MaxReservations {
        /// The value given.
        max: u64,
    },
    /// [`finished_memory`](crate::InventoryBuilder::finished_memory) outside `1..=max`.
    FinishedMemory {
        /// The value given.
        outcomes: usize,
        /// The largest accepted,
        /// [`MAX_FINISHED_MEMORY`](crate::limits::MAX_FINISHED_MEMORY).
        max: usize,
    },
    /// [`max_ttl`](crate::InventoryBuilder::max_ttl) was zero or above `max`.
    MaxTtl {
        /// The value given.
        ttl: Duration,
        /// The largest accepted, [`MAX_TTL`](crate::limits::MAX_TTL).
        max: Duration,
    },
    /// The [`reaper`](crate::InventoryBuilder::reaper) tick was shorter than `min`.
    ReaperTick {
        /// The value given.
        tick: Duration,
        /// The shortest accepted, [`MIN_REAPER_TICK`](crate::limits::MIN_REAPER_TICK).
        min: Duration,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BuildError::Shards { shards, max } => {
                write!(f, "{shards} shards: the accepted range is 1 to {max}")
            }
            BuildError::ExpectedCarts { carts } => {
                write!(f, "{carts} expected carts: at least 1 is needed")
            }
            BuildError::MaxReservations { max } => {
                write!(f, "at most {max} reservations: at least 1 is needed")
            }
            BuildError::FinishedMemory { outcomes, max } => write!(
                f,
                "{outcomes} remembered outcomes: the accepted range is 1 to {max}"
            ),
            BuildError::MaxTtl { ttl, max } => write!(
                f,
                "a longest time to live of {ttl:?}: the accepted range is above zero up to {max:?}"
            ),
            BuildError::ReaperTick { tick, min } => {
                write!(
                    f,
                    "a reaper tick of {tick:?}: the shortest accepted is {min:?}"
                )
            }
        }
    }
}

impl std::error::Error for BuildError {}
