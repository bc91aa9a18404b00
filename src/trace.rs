//! The crate's `tracing` events (feature `tracing`), through one crate-internal macro that
//! expands to nothing without the feature: a build without it compiles no event, no field
//! and no callsite.
//!
//! Events are emitted where an operation's outcome is known, never inside a compare-and-swap
//! loop: by the winner of the one compare-and-swap that finishes a reservation (`settle`), and
//! by the public entry points once they have their answer. Every event has target
//! `atomic_stock` and a stable name:
//!
//! | name | level | when | fields |
//! | --- | --- | --- | --- |
//! | `reserve` | TRACE | a reserve or cart update succeeded | `cart`, `id`, `lines` |
//! | `confirm` | TRACE | a reservation was confirmed (by this call) | `cart`, `id`, `lines` |
//! | `release` | TRACE | a reservation was released in full | `cart`, `id`, `lines` |
//! | `expire` | DEBUG | a reservation expired (reaper, `expire_due`, or found due) | `cart`, `id`, `lines`, `late_ns` |
//! | `shortfall` | DEBUG | a reserve or cart update was refused for lack of stock | `cart`, `item`, `requested`, `available` |
//!
//! The frequent events are TRACE so that a DEBUG subscriber sees what an operator looks
//! for (expiries, refused buyers) without one event per sale.

/// Emits a `tracing` event named `$name` at `$level` (`TRACE` or `DEBUG`) with target
/// `atomic_stock`; expands to nothing without the `tracing` feature. Its fields must be
/// values the caller has anyway, so that nothing is computed for it when disabled.
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

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($($anything:tt)*) => {
        ()
    };
}

/// Emits `reserve` or `shortfall` for the answer of a reserve or cart update (nothing for bad
/// input: that is the caller's bug, answered with a typed error).
#[cfg(feature = "tracing")]
macro_rules! reserved {
    ($cart:expr, $lines:expr, $result:expr) => {
        match $result {
            Ok(receipt) => $crate::trace::event!(
                TRACE,
                "reserve",
                cart = $cart.get(),
                id = %receipt.id,
                lines = $lines.len()
            ),
            Err($crate::ReserveError::Stock($crate::TakeError::Shortfall {
                item,
                requested,
                available,
            })) => $crate::trace::event!(
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

#[cfg(not(feature = "tracing"))]
macro_rules! reserved {
    ($($anything:tt)*) => {};
}

pub(crate) use {event, reserved};
