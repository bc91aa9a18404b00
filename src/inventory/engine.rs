//! [`ReservationEngine`]: the reservation lifecycle as a trait, implemented by [`Inventory`]
//! and by the lifecycle baselines (feature `baselines`), so that benchmarks and contract tests
//! drive every engine through the same code.
//!
//! It is the one lifecycle trait written by hand. Its implementations are derived from the
//! engines' inherent methods of the same names (the macro below), and the async
//! [`Backend`](crate::Backend) is derived from it by one blanket implementation.

use crate::error::{AdjustError, CatalogError};
use crate::ids::{ItemId, Line};
use crate::inventory::{Inventory, ItemLevels};
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationState, ReserveError,
};
use std::time::Duration;

/// The reservation lifecycle of an in-process engine. Every method means exactly what the
/// [`Inventory`] method of the same name documents.
pub trait ReservationEngine: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &'static str;
    /// Registers an item with `initial` units.
    fn register_item(&self, initial: i64) -> Result<ItemId, CatalogError>;
    /// Registers an item under a SKU, refusing a SKU already registered.
    fn register_sku(&self, sku: &str, initial: i64) -> Result<ItemId, CatalogError>;
    /// The item registered under `sku`.
    fn item_by_sku(&self, sku: &str) -> Option<ItemId>;
    /// Adds units of an item.
    fn restock(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError>;
    /// Removes available units of an item.
    fn shrink(&self, item: ItemId, quantity: i64) -> Result<(), AdjustError>;
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
    /// Confirms `cart`'s live reservation.
    fn confirm_cart(&self, cart: CartId) -> Result<Confirmation, ReservationError>;
    /// Releases a reservation: its stock is available again.
    fn release(&self, id: ReservationId) -> Result<(), ReservationError>;
    /// Releases `cart`'s live reservation.
    fn release_cart(&self, cart: CartId) -> Result<(), ReservationError>;
    /// Gives back some lines of a held reservation.
    fn release_lines(&self, id: ReservationId, lines: &[Line]) -> Result<(), ReservationError>;
    /// Moves a held reservation's deadline to `ttl` from now.
    fn extend(&self, id: ReservationId, ttl: Duration) -> Result<Receipt, ReservationError>;
    /// Moves `cart`'s live reservation's deadline to `ttl` from now.
    fn extend_cart(&self, cart: CartId, ttl: Duration) -> Result<Receipt, ReservationError>;
    /// Where a reservation stands.
    fn status(&self, id: ReservationId) -> Result<ReservationState, ReservationError>;
    /// Expires every reservation past its deadline; returns how many.
    fn expire_due(&self) -> usize;
    /// An item's counts.
    fn item(&self, item: ItemId) -> Option<ItemLevels>;
}

/// Implements [`ReservationEngine`] for a type whose inherent methods of the same names are
/// the lifecycle, so the trait is derived from them and never written out again: `Inventory`
/// and the baselines' `Lifecycle`. `[generics] Type, name` (the name an expression, such as
/// `"lock-free"` or an associated constant of a generic parameter).
macro_rules! reservation_engine_by_inherent_methods {
    ($(#[$attr:meta])* [$($generics:tt)*] $ty:ty, $name:expr) => {
        $(#[$attr])*
        impl<$($generics)*> $crate::inventory::engine::ReservationEngine for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn register_item(&self, initial: i64) -> Result<$crate::ItemId, $crate::CatalogError> {
                <$ty>::register_item(self, initial)
            }
            fn register_sku(
                &self,
                sku: &str,
                initial: i64,
            ) -> Result<$crate::ItemId, $crate::CatalogError> {
                <$ty>::register_sku(self, sku, initial)
            }
            fn item_by_sku(&self, sku: &str) -> Option<$crate::ItemId> {
                <$ty>::item_by_sku(self, sku)
            }
            fn restock(&self, item: $crate::ItemId, quantity: i64) -> Result<(), $crate::AdjustError> {
                <$ty>::restock(self, item, quantity)
            }
            fn shrink(&self, item: $crate::ItemId, quantity: i64) -> Result<(), $crate::AdjustError> {
                <$ty>::shrink(self, item, quantity)
            }
            fn reserve(
                &self,
                cart: $crate::CartId,
                lines: &[$crate::Line],
                ttl: std::time::Duration,
            ) -> Result<$crate::Receipt, $crate::ReserveError> {
                <$ty>::reserve(self, cart, lines, ttl)
            }
            fn set_cart(
                &self,
                cart: $crate::CartId,
                lines: &[$crate::Line],
                ttl: std::time::Duration,
            ) -> Result<$crate::Receipt, $crate::ReserveError> {
                <$ty>::set_cart(self, cart, lines, ttl)
            }
            fn confirm(
                &self,
                id: $crate::ReservationId,
            ) -> Result<$crate::Confirmation, $crate::ReservationError> {
                <$ty>::confirm(self, id)
            }
            fn confirm_cart(
                &self,
                cart: $crate::CartId,
            ) -> Result<$crate::Confirmation, $crate::ReservationError> {
                <$ty>::confirm_cart(self, cart)
            }
            fn release(&self, id: $crate::ReservationId) -> Result<(), $crate::ReservationError> {
                <$ty>::release(self, id)
            }
            fn release_cart(&self, cart: $crate::CartId) -> Result<(), $crate::ReservationError> {
                <$ty>::release_cart(self, cart)
            }
            fn release_lines(
                &self,
                id: $crate::ReservationId,
                lines: &[$crate::Line],
            ) -> Result<(), $crate::ReservationError> {
                <$ty>::release_lines(self, id, lines)
            }
            fn extend(
                &self,
                id: $crate::ReservationId,
                ttl: std::time::Duration,
            ) -> Result<$crate::Receipt, $crate::ReservationError> {
                <$ty>::extend(self, id, ttl)
            }
            fn extend_cart(
                &self,
                cart: $crate::CartId,
                ttl: std::time::Duration,
            ) -> Result<$crate::Receipt, $crate::ReservationError> {
                <$ty>::extend_cart(self, cart, ttl)
            }
            fn status(
                &self,
                id: $crate::ReservationId,
            ) -> Result<$crate::ReservationState, $crate::ReservationError> {
                <$ty>::status(self, id)
            }
            fn expire_due(&self) -> usize {
                <$ty>::expire_due(self)
            }
            fn item(&self, item: $crate::ItemId) -> Option<$crate::ItemLevels> {
                <$ty>::item(self, item)
            }
        }
    };
}
#[cfg(feature = "baselines")]
pub(crate) use reservation_engine_by_inherent_methods;

reservation_engine_by_inherent_methods!([] Inventory, "lock-free");
