//! [`Backend`]: the reservation contract as an asynchronous trait, so that an order service
//! can move from the in-process [`Inventory`] to a shared engine (Redis Cluster, TigerBeetle:
//! separate crates) by changing a constructor.
//!
//! Every method means exactly what the [`Inventory`] method of the same name documents. A
//! remote backend can fail in a way the in-process engine cannot (the network, the server), so
//! every error is a [`Failure`]: either the operation's own typed refusal, exactly as the
//! in-process engine would give it, or the backend's error. The contract test suite (crate
//! `atomic-stock-contract`) runs the same model test, bad-input cases and races against every
//! backend.
//!
//! Every in-process engine (every [`ReservationEngine`]: [`Inventory`] and the baselines) is a
//! `Backend` through one blanket implementation; nothing is written twice.
//!
//! For [`Inventory`] the work happens when the method is *called*, and the returned future is
//! already complete: dropping it, or wrapping it in a timeout, cancels nothing. (A remote
//! backend does its work when awaited; code that must behave the same on both should always
//! await what it starts.) Nothing here blocks an executor thread, apart from the exact
//! shortfall decision's wait described in the crate docs ("Progress"; bound it with
//! [`InventoryBuilder::max_wait`](crate::InventoryBuilder::max_wait), or call
//! [`Inventory::reserve_async`], which never parks); the backend error is
//! [`Infallible`].
//!
//! [`Receipt::deadline`](crate::Receipt::deadline) is an instant on the backend's clock; with
//! an injected clock (tests, simulations) it is not comparable with `Instant::now()`.
//!
//! [`Inventory`]: crate::Inventory

use crate::error::{AdjustError, CatalogError};
use crate::ids::{ItemId, Line};
use crate::inventory::engine::ReservationEngine;
use crate::inventory::ItemLevels;
use crate::reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationState, ReserveError,
};
use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Future};
use std::pin::Pin;
use std::time::Duration;

/// Why a backend operation did not succeed: the operation was refused (the same typed error the
/// in-process engine gives), or the backend could not answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Failure<E, B> {
    /// The operation was refused; nothing changed.
    Refused(E),
    /// The backend failed (connection, server, timeout). The operation may or may not have
    /// taken effect; reservations that did are settled by expiry if nobody confirms them.
    Backend(B),
}

impl<B> Failure<crate::reservation::ReserveError, B> {
    /// The shortfall's detail if the backend refused for stock, in one step instead of
    /// `Failure::Refused(ReserveError::Stock(TakeError::Shortfall { .. }))`.
    #[must_use]
    pub fn shortfall(&self) -> Option<crate::error::Shortage> {
        match self {
            Failure::Refused(e) => e.shortfall(),
            Failure::Backend(_) => None,
        }
    }
}

impl<E: fmt::Display, B: fmt::Display> fmt::Display for Failure<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(e) => e.fmt(f),
            Failure::Backend(b) => write!(f, "backend failure: {b}"),
        }
    }
}

impl<E, B> std::error::Error for Failure<E, B>
where
    E: std::error::Error + 'static,
    B: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Refused(e) => Some(e),
            Failure::Backend(b) => Some(b),
        }
    }
}

impl<E> From<E> for Failure<E, Infallible> {
    fn from(e: E) -> Self {
        Failure::Refused(e)
    }
}

/// The reservation contract every engine offers, in-process or remote.
pub trait Backend: Send + Sync {
    /// How the backend itself fails.
    type Error: std::error::Error + Send + Sync + 'static;

    /// A short name for reports.
    fn name(&self) -> &str;

    /// Registers an item with `initial` units.
    fn register_item(
        &self,
        initial: i64,
    ) -> impl Future<Output = Result<ItemId, Failure<CatalogError, Self::Error>>> + Send;

    /// Adds units of an item.
    fn restock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, Self::Error>>> + Send;

    /// Reserves `lines` for `cart` until `ttl` from now, all or nothing.
    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, Self::Error>>> + Send;

    /// Confirms a reservation: its stock is sold.
    fn confirm(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, Self::Error>>> + Send;

    /// Releases a reservation: its stock is available again.
    fn release(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, Self::Error>>> + Send;

    /// Moves a held reservation's deadline to `ttl` from now.
    fn extend(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, Self::Error>>> + Send;

    /// Expires every reservation past its deadline; returns how many.
    fn expire_due(&self) -> impl Future<Output = Result<usize, Self::Error>> + Send;

    /// An item's counts (`None` for an unknown item).
    fn item(
        &self,
        item: ItemId,
    ) -> impl Future<Output = Result<Option<ItemLevels>, Self::Error>> + Send;

    /// Registers an item under a SKU, refusing a SKU already registered.
    fn register_sku(
        &self,
        sku: &str,
        initial: i64,
    ) -> impl Future<Output = Result<ItemId, Failure<CatalogError, Self::Error>>> + Send;

    /// The item registered under `sku` (`None` if none is).
    fn item_by_sku(
        &self,
        sku: &str,
    ) -> impl Future<Output = Result<Option<ItemId>, Self::Error>> + Send;

    /// Removes available units of an item (damage, loss).
    fn shrink(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, Self::Error>>> + Send;

    /// Sets `cart`'s lines to exactly `lines` until `ttl` from now, taking only what is added and giving back only what is dropped, all or nothing.
    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, Self::Error>>> + Send;

    /// Confirms `cart`'s live reservation.
    fn confirm_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, Self::Error>>> + Send;

    /// Releases `cart`'s live reservation.
    fn release_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, Self::Error>>> + Send;

    /// Gives back some lines of a held reservation (all of them: a release).
    fn release_lines(
        &self,
        id: ReservationId,
        lines: &[Line],
    ) -> impl Future<Output = Result<(), Failure<ReservationError, Self::Error>>> + Send;

    /// Moves `cart`'s live reservation's deadline to `ttl` from now.
    fn extend_cart(
        &self,
        cart: CartId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, Self::Error>>> + Send;

    /// Where a reservation stands: held, or how it finished (while remembered).
    fn status(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<ReservationState, Failure<ReservationError, Self::Error>>> + Send;
}

/// Every in-process engine is a backend: its [`ReservationEngine`] answers at once, so each
/// future is already complete when the method returns, and nothing fails but the operation
/// itself ([`Failure::Refused`]).
impl<E: ReservationEngine> Backend for E {
    type Error = Infallible;

    fn name(&self) -> &str {
        ReservationEngine::name(self)
    }

    fn register_item(
        &self,
        initial: i64,
    ) -> impl Future<Output = Result<ItemId, Failure<CatalogError, Infallible>>> + Send {
        ready(ReservationEngine::register_item(self, initial).map_err(Failure::Refused))
    }

    fn restock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, Infallible>>> + Send {
        ready(ReservationEngine::restock(self, item, quantity).map_err(Failure::Refused))
    }

    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, Infallible>>> + Send {
        ready(ReservationEngine::reserve(self, cart, lines, ttl).map_err(Failure::Refused))
    }

    fn confirm(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, Infallible>>> + Send
    {
        ready(ReservationEngine::confirm(self, id).map_err(Failure::Refused))
    }

    fn release(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, Infallible>>> + Send {
        ready(ReservationEngine::release(self, id).map_err(Failure::Refused))
    }

    fn extend(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, Infallible>>> + Send {
        ready(ReservationEngine::extend(self, id, ttl).map_err(Failure::Refused))
    }

    fn expire_due(&self) -> impl Future<Output = Result<usize, Infallible>> + Send {
        ready(Ok(ReservationEngine::expire_due(self)))
    }

    fn item(
        &self,
        item: ItemId,
    ) -> impl Future<Output = Result<Option<ItemLevels>, Infallible>> + Send {
        ready(Ok(ReservationEngine::item(self, item)))
    }

    fn register_sku(
        &self,
        sku: &str,
        initial: i64,
    ) -> impl Future<Output = Result<ItemId, Failure<CatalogError, Infallible>>> + Send {
        ready(ReservationEngine::register_sku(self, sku, initial).map_err(Failure::Refused))
    }

    fn item_by_sku(
        &self,
        sku: &str,
    ) -> impl Future<Output = Result<Option<ItemId>, Infallible>> + Send {
        ready(Ok(ReservationEngine::item_by_sku(self, sku)))
    }

    fn shrink(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, Infallible>>> + Send {
        ready(ReservationEngine::shrink(self, item, quantity).map_err(Failure::Refused))
    }

    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, Infallible>>> + Send {
        ready(ReservationEngine::set_cart(self, cart, lines, ttl).map_err(Failure::Refused))
    }

    fn confirm_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, Infallible>>> + Send
    {
        ready(ReservationEngine::confirm_cart(self, cart).map_err(Failure::Refused))
    }

    fn release_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, Infallible>>> + Send {
        ready(ReservationEngine::release_cart(self, cart).map_err(Failure::Refused))
    }

    fn release_lines(
        &self,
        id: ReservationId,
        lines: &[Line],
    ) -> impl Future<Output = Result<(), Failure<ReservationError, Infallible>>> + Send {
        ready(ReservationEngine::release_lines(self, id, lines).map_err(Failure::Refused))
    }

    fn extend_cart(
        &self,
        cart: CartId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, Infallible>>> + Send {
        ready(ReservationEngine::extend_cart(self, cart, ttl).map_err(Failure::Refused))
    }

    fn status(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<ReservationState, Failure<ReservationError, Infallible>>> + Send
    {
        ready(ReservationEngine::status(self, id).map_err(Failure::Refused))
    }
}

/// An error of any backend, for [`DynBackend`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed future, as [`DynBackend`]'s methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Backend`] as a trait object: the same methods, each returning a boxed future and the
/// backend's error boxed, so that a service can choose its engine at run time and hold it as
/// `Arc<dyn DynBackend>`. Implemented for every [`Backend`]; the price is one allocation per
/// call (and one more if the backend fails), which the static [`Backend`] does not pay.
///
/// ```
/// use atomic_stock::{CartId, Confirmation, DynBackend, Inventory, Line};
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Waker};
/// use std::time::Duration;
///
/// // Chosen from configuration; a remote backend crate's type fits here as well.
/// let backend: Arc<dyn DynBackend> = Arc::new(Inventory::new());
///
/// // In a service this is `.await`; the in-process engine's futures are ready at once.
/// fn now<T>(mut f: atomic_stock::BoxFuture<'_, T>) -> T {
///     match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
///         Poll::Ready(value) => value,
///         Poll::Pending => unreachable!("in-process futures are ready"),
///     }
/// }
/// let mug = now(backend.register_item(10)).unwrap();
/// let receipt = now(backend.reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(60)))
///     .unwrap();
/// assert!(matches!(now(backend.confirm(receipt.id)), Ok(Confirmation::Confirmed)));
/// assert_eq!(now(backend.item(mug)).unwrap().unwrap().sold, 2);
/// ```
pub trait DynBackend: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// [`Backend::register_item`].
    fn register_item(
        &self,
        initial: i64,
    ) -> BoxFuture<'_, Result<ItemId, Failure<CatalogError, BoxError>>>;

    /// [`Backend::restock`].
    fn restock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> BoxFuture<'_, Result<(), Failure<AdjustError, BoxError>>>;

    /// [`Backend::reserve`].
    fn reserve<'a>(
        &'a self,
        cart: CartId,
        lines: &'a [Line],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Receipt, Failure<ReserveError, BoxError>>>;

    /// [`Backend::confirm`].
    fn confirm(
        &self,
        id: ReservationId,
    ) -> BoxFuture<'_, Result<Confirmation, Failure<ReservationError, BoxError>>>;

    /// [`Backend::release`].
    fn release(
        &self,
        id: ReservationId,
    ) -> BoxFuture<'_, Result<(), Failure<ReservationError, BoxError>>>;

    /// [`Backend::extend`].
    fn extend(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Receipt, Failure<ReservationError, BoxError>>>;

    /// [`Backend::expire_due`].
    fn expire_due(&self) -> BoxFuture<'_, Result<usize, BoxError>>;

    /// [`Backend::item`].
    fn item(&self, item: ItemId) -> BoxFuture<'_, Result<Option<ItemLevels>, BoxError>>;

    /// [`Backend::register_sku`].
    fn register_sku<'a>(
        &'a self,
        sku: &'a str,
        initial: i64,
    ) -> BoxFuture<'a, Result<ItemId, Failure<CatalogError, BoxError>>>;

    /// [`Backend::item_by_sku`].
    fn item_by_sku<'a>(&'a self, sku: &'a str) -> BoxFuture<'a, Result<Option<ItemId>, BoxError>>;

    /// [`Backend::shrink`].
    fn shrink(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> BoxFuture<'_, Result<(), Failure<AdjustError, BoxError>>>;

    /// [`Backend::set_cart`].
    fn set_cart<'a>(
        &'a self,
        cart: CartId,
        lines: &'a [Line],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Receipt, Failure<ReserveError, BoxError>>>;

    /// [`Backend::confirm_cart`].
    fn confirm_cart(
        &self,
        cart: CartId,
    ) -> BoxFuture<'_, Result<Confirmation, Failure<ReservationError, BoxError>>>;

    /// [`Backend::release_cart`].
    fn release_cart(
        &self,
        cart: CartId,
    ) -> BoxFuture<'_, Result<(), Failure<ReservationError, BoxError>>>;

    /// [`Backend::release_lines`].
    fn release_lines<'a>(
        &'a self,
        id: ReservationId,
        lines: &'a [Line],
    ) -> BoxFuture<'a, Result<(), Failure<ReservationError, BoxError>>>;

    /// [`Backend::extend_cart`].
    fn extend_cart(
        &self,
        cart: CartId,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Receipt, Failure<ReservationError, BoxError>>>;

    /// [`Backend::status`].
    fn status(
        &self,
        id: ReservationId,
    ) -> BoxFuture<'_, Result<ReservationState, Failure<ReservationError, BoxError>>>;
}

/// The backend's own error, boxed; the refusal stays typed.
fn boxed<E, B: std::error::Error + Send + Sync + 'static>(
    failure: Failure<E, B>,
) -> Failure<E, BoxError> {
    match failure {
        Failure::Refused(e) => Failure::Refused(e),
        Failure::Backend(b) => Failure::Backend(Box::new(b)),
    }
}

impl<T: Backend> DynBackend for T {
    fn name(&self) -> &str {
        Backend::name(self)
    }

    fn register_item(
        &self,
        initial: i64,
    ) -> BoxFuture<'_, Result<ItemId, Failure<CatalogError, BoxError>>> {
        let call = Backend::register_item(self, initial);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn restock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> BoxFuture<'_, Result<(), Failure<AdjustError, BoxError>>> {
        let call = Backend::restock(self, item, quantity);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn reserve<'a>(
        &'a self,
        cart: CartId,
        lines: &'a [Line],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Receipt, Failure<ReserveError, BoxError>>> {
        let call = Backend::reserve(self, cart, lines, ttl);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn confirm(
        &self,
        id: ReservationId,
    ) -> BoxFuture<'_, Result<Confirmation, Failure<ReservationError, BoxError>>> {
        let call = Backend::confirm(self, id);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn release(
        &self,
        id: ReservationId,
    ) -> BoxFuture<'_, Result<(), Failure<ReservationError, BoxError>>> {
        let call = Backend::release(self, id);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn extend(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Receipt, Failure<ReservationError, BoxError>>> {
        let call = Backend::extend(self, id, ttl);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn expire_due(&self) -> BoxFuture<'_, Result<usize, BoxError>> {
        let call = Backend::expire_due(self);
        Box::pin(async move { call.await.map_err(|e| Box::new(e) as BoxError) })
    }

    fn item(&self, item: ItemId) -> BoxFuture<'_, Result<Option<ItemLevels>, BoxError>> {
        let call = Backend::item(self, item);
        Box::pin(async move { call.await.map_err(|e| Box::new(e) as BoxError) })
    }

    fn register_sku<'a>(
        &'a self,
        sku: &'a str,
        initial: i64,
    ) -> BoxFuture<'a, Result<ItemId, Failure<CatalogError, BoxError>>> {
        let call = Backend::register_sku(self, sku, initial);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn item_by_sku<'a>(&'a self, sku: &'a str) -> BoxFuture<'a, Result<Option<ItemId>, BoxError>> {
        let call = Backend::item_by_sku(self, sku);
        Box::pin(async move { call.await.map_err(|e| Box::new(e) as BoxError) })
    }

    fn shrink(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> BoxFuture<'_, Result<(), Failure<AdjustError, BoxError>>> {
        let call = Backend::shrink(self, item, quantity);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn set_cart<'a>(
        &'a self,
        cart: CartId,
        lines: &'a [Line],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Receipt, Failure<ReserveError, BoxError>>> {
        let call = Backend::set_cart(self, cart, lines, ttl);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn confirm_cart(
        &self,
        cart: CartId,
    ) -> BoxFuture<'_, Result<Confirmation, Failure<ReservationError, BoxError>>> {
        let call = Backend::confirm_cart(self, cart);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn release_cart(
        &self,
        cart: CartId,
    ) -> BoxFuture<'_, Result<(), Failure<ReservationError, BoxError>>> {
        let call = Backend::release_cart(self, cart);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn release_lines<'a>(
        &'a self,
        id: ReservationId,
        lines: &'a [Line],
    ) -> BoxFuture<'a, Result<(), Failure<ReservationError, BoxError>>> {
        let call = Backend::release_lines(self, id, lines);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn extend_cart(
        &self,
        cart: CartId,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Receipt, Failure<ReservationError, BoxError>>> {
        let call = Backend::extend_cart(self, cart, ttl);
        Box::pin(async move { call.await.map_err(boxed) })
    }

    fn status(
        &self,
        id: ReservationId,
    ) -> BoxFuture<'_, Result<ReservationState, Failure<ReservationError, BoxError>>> {
        let call = Backend::status(self, id);
        Box::pin(async move { call.await.map_err(boxed) })
    }
}
