//! [`ReservationEngine`]: the reservation lifecycle as a trait, implemented by [`Inventory`]
//! and by the lifecycle baselines (feature `baselines`), so that benchmarks and contract tests
//! drive every engine through the same code.

use crate::error::{AdjustError, CatalogError};
use crate::ids::{ItemId, Line};
use crate::inventory::{Inventory, ItemLevels};
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReserveError,
};
use std::time::Duration;

/// The reservation lifecycle of an in-process engine. Every method means exactly what the
/// [`Inventory`] method of the same name documents.
pub trait ReservationEngine: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &'static str;
    /// Registers an item with `initial` units.
    fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError>;
    /// Adds units of an item.
    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError>;
    /// Reserves `lines` for `cart`, all or nothing, adding to the cart's reservation.
    fn reserve(&self, cart: CartId, lines: &[Line], ttl: Duration)
        -> Result<Receipt, ReserveError>;
    /// Sets `cart`'s lines to exactly `lines`, applying only the difference.
    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError>;
    /// Confirms a reservation: its stock is sold.
    fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError>;
    /// Releases a reservation: its stock is available again.
    fn release(&self, id: ReservationId) -> Result<(), ReservationError>;
    /// Gives back some lines of a held reservation.
    fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError>;
    /// Moves a held reservation's deadline to `ttl` from now.
    fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError>;
    /// Expires every reservation past its deadline; returns how many.
    fn expire_due(&self) -> usize;
    /// An item's counts.
    fn item(&self, item: ItemId) -> Option<ItemLevels>;
}

impl ReservationEngine for Inventory {
    fn name(&self) -> &'static str {
        "lock-free"
    }
    fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError> {
        Inventory::register_item(self, initial)
    }
    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError> {
        Inventory::restock(self, item, quantity)
    }
    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        Inventory::reserve(self, cart, lines, ttl)
    }
    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        Inventory::set_cart(self, cart, lines, ttl)
    }
    fn confirm(&self, id: ReservationId) -> Result<Confirmation, ReservationError> {
        Inventory::confirm(self, id)
    }
    fn release(&self, id: ReservationId) -> Result<(), ReservationError> {
        Inventory::release(self, id)
    }
    fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError> {
        Inventory::release_lines(self, id, lines)
    }
    fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError> {
        Inventory::extend(self, id, ttl)
    }
    fn expire_due(&self) -> usize {
        Inventory::expire_due(self)
    }
    fn item(&self, item: ItemId) -> Option<ItemLevels> {
        Inventory::item(self, item)
    }
}
