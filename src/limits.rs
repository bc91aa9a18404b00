//! Every bound the crate enforces, in one place (TigerBeetle's habit: everything that grows has
//! a limit, and hitting it is a typed error, never a panic or an allocation failure).

/// Largest number of items a catalog holds. Registering one more fails with
/// [`CatalogError::CatalogFull`](crate::CatalogError::CatalogFull).
pub const MAX_ITEMS: u32 = crate::sync::segmented::CAPACITY;

/// Largest stock an item can have on hand (available, held and in flight together), and
/// the largest quantity a single line may ask for: `2^31 - 1`.
///
/// The bound comes from the stock word's layout (`src/stock/word.rs`): one 64-bit word holds the
/// available count (32 bits) and the count of operations still in flight, so both change in a
/// single compare-and-swap (see `DESIGN.md`, "The stock word"). Everything that
/// can come back to an item, available units plus units taken tentatively by operations in
/// flight, is kept within this bound, so a give-back never carries out of the 32-bit field.
pub const MAX_STOCK: i64 = (1 << 31) - 1;

/// Largest quantity one line of a take or reservation may ask for (after duplicate lines for
/// the same item are merged).
pub const MAX_LINE_QUANTITY: i64 = MAX_STOCK;

/// Largest number of lines in one take or reservation, counted before duplicates are merged,
/// so that a hostile request is refused before any work proportional to its size.
pub const MAX_LINES: usize = 256;

/// Largest length of a SKU string accepted by
/// [`Stock::register_sku`](crate::Stock::register_sku).
pub const MAX_SKU_LEN: usize = 256;

/// Largest number of entries of one bulk load
/// ([`Inventory::load_catalog`](crate::Inventory::load_catalog)): 2^24. The entries are held
/// in memory (about 40 bytes each plus the SKU) until they are validated; a larger catalog is
/// loaded in several calls.
pub const MAX_LOAD_ENTRIES: usize = 1 << 24;

/// Largest number of items `Inventory::export_item_metrics`
/// labels one by one (feature `metrics`): each exported item is three labelled gauges, so this
/// bounds the series one export adds to a recorder to 3 × 100. A larger request exports this many.
pub const MAX_EXPORTED_ITEMS: usize = 100;

/// Default of [`InventoryBuilder::expected_carts`](crate::InventoryBuilder::expected_carts).
pub const DEFAULT_EXPECTED_CARTS: usize = 1 << 16;

/// Largest bucket array of the cart registry: 2^24 buckets. A larger
/// [`InventoryBuilder::expected_carts`](crate::InventoryBuilder::expected_carts) is accepted
/// and gets this many buckets (the registry still holds any number of carts, in longer
/// chains).
pub const MAX_CART_BUCKETS: usize = 1 << 24;

/// Largest number of shards ([`InventoryBuilder::shards`](crate::InventoryBuilder::shards)).
pub const MAX_SHARDS: usize = crate::sync::shard::MAX_SHARDS;

/// Default of [`InventoryBuilder::max_reservations`](crate::InventoryBuilder::max_reservations).
pub const DEFAULT_MAX_RESERVATIONS: u64 = 1 << 24;

/// Default of [`InventoryBuilder::finished_memory`](crate::InventoryBuilder::finished_memory).
pub const DEFAULT_FINISHED_MEMORY: usize = 1 << 16;

/// Largest [`InventoryBuilder::finished_memory`](crate::InventoryBuilder::finished_memory):
/// 2^24 remembered outcomes, 256 MiB allocated up front (as many outcomes as the default
/// bound on live reservations). Each shard's ring is rounded up to a power of two, so the
/// allocation is at most twice this many outcomes.
pub const MAX_FINISHED_MEMORY: usize = 1 << 24;

/// Default of [`InventoryBuilder::max_ttl`](crate::InventoryBuilder::max_ttl): 30 days.
pub const DEFAULT_MAX_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Largest [`InventoryBuilder::max_ttl`](crate::InventoryBuilder::max_ttl): 2^62 ns, about
/// 146 years. Deadlines are nanoseconds since the inventory was built, in a `u64`; this bound
/// leaves three quarters of that range to the clock, so a deadline of any accepted time to
/// live is exact (not saturated) for an inventory younger than about 438 years. The timer
/// itself files any `u64` deadline.
pub const MAX_TTL: std::time::Duration = std::time::Duration::from_nanos(1 << 62);

/// Shortest [`InventoryBuilder::reaper`](crate::InventoryBuilder::reaper) tick: 50 µs (a
/// shorter one would keep a core busy expiring nothing).
pub const MIN_REAPER_TICK: std::time::Duration = std::time::Duration::from_micros(50);

/// Stale deadline tokens the timer tolerates beyond twice the live reservations before it
/// compacts (see [`Inventory::timer_tokens`](crate::Inventory::timer_tokens)).
pub const TIMER_SLACK: usize = 4096;
