//! Every bound the crate enforces, in one place (TigerBeetle's habit: everything that grows has
//! a limit, and hitting it is a typed error, never a panic or an allocation failure).

/// Largest number of items a catalog holds. Registering one more fails with
/// [`CatalogError::CatalogFull`](crate::CatalogError::CatalogFull).
pub const MAX_ITEMS: u32 = crate::segmented::CAPACITY;

/// Largest stock an item can have on hand (available, held and in flight together), and
/// the largest quantity a single line may ask for: `2^31 - 1`.
///
/// The bound comes from the slot layout: one 64-bit word holds the available count (32 bits)
/// and the count of operations still in flight (30 bits), so both change in a single
/// compare-and-swap (see `DESIGN.md`, "The stock word", and `src/slot.rs`). Everything that
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

/// Default of [`InventoryBuilder::expected_carts`](crate::InventoryBuilder::expected_carts).
pub const DEFAULT_EXPECTED_CARTS: usize = 1 << 16;

/// Default of [`InventoryBuilder::max_reservations`](crate::InventoryBuilder::max_reservations).
pub const DEFAULT_MAX_RESERVATIONS: u64 = 1 << 24;

/// Default of [`InventoryBuilder::finished_memory`](crate::InventoryBuilder::finished_memory).
pub const DEFAULT_FINISHED_MEMORY: usize = 1 << 16;

/// Default of [`InventoryBuilder::max_ttl`](crate::InventoryBuilder::max_ttl): 30 days.
pub const DEFAULT_MAX_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Stale deadline tokens the timer tolerates beyond twice the live reservations before it
/// compacts (see [`Inventory::timer_tokens`](crate::Inventory::timer_tokens)).
pub const TIMER_SLACK: usize = 4096;
