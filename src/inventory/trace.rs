//! The crate's `tracing` events (feature `tracing`), through crate-internal macros that expand
//! to nothing without the feature: a build without it compiles no event, no field, no callsite
//! and no branch.
//!
//! The event names, levels and fields are documented in the crate docs ("Events"). Each macro
//! takes the expressions of its fields unevaluated: they are computed only when a subscriber
//! wants the event.

/// Emits a `tracing` event named `$name` at `$level` (`TRACE` or `DEBUG`) with target
/// `atomic_stock`. Only the two macros below use it.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $name:literal, $($field:tt)*) => {
        ::tracing::event!(
            name: $name,
            target: "atomic_stock",
            ::tracing::Level::$level,
            $($field)*
        )
    };
}

/// Emits `reserve` or `shortfall` for the answer of a reserve or cart update (nothing for bad
/// input: that is the caller's bug, answered with a typed error).
#[cfg(feature = "tracing")]
macro_rules! reserved {
    ($cart:expr, $lines:expr, $result:expr) => {
        match $result {
            Ok(receipt) => $crate::inventory::trace::event!(
                TRACE,
                "reserve",
                cart = $cart.get(),
                id = %receipt.id,
                lines = $lines.len()
            ),
            Err($crate::reservation::ReserveError::Stock($crate::error::TakeError::Shortfall {
                item,
                requested,
                available,
            })) => $crate::inventory::trace::event!(
                DEBUG,
                "shortfall",
                cart = $cart.get(),
                item = item.get(),
                requested,
                available
            ),
            Err(_) => {}
        }
    };
}

/// Emits `confirm`, `release` or `expire` for a reservation that reached the final state
/// `$state`; called once per reservation, by the winner of the finishing compare-and-swap.
#[cfg(feature = "tracing")]
macro_rules! finished {
    ($state:expr, cart = $cart:expr, id = $id:expr, lines = $lines:expr, late_ns = $late:expr) => {
        match $state {
            $crate::carts::registry::State::Confirmed => $crate::inventory::trace::event!(
                TRACE,
                "confirm",
                cart = $cart,
                id = %$id,
                lines = $lines
            ),
            $crate::carts::registry::State::Released => $crate::inventory::trace::event!(
                TRACE,
                "release",
                cart = $cart,
                id = %$id,
                lines = $lines
            ),
            _ => $crate::inventory::trace::event!(
                DEBUG,
                "expire",
                cart = $cart,
                id = %$id,
                lines = $lines,
                late_ns = $late
            ),
        }
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! reserved {
    ($($anything:tt)*) => {};
}

#[cfg(not(feature = "tracing"))]
macro_rules! finished {
    ($($anything:tt)*) => {};
}

#[cfg(feature = "tracing")]
pub(crate) use event;
pub(crate) use {finished, reserved};
