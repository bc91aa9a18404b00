//! The crate's `tracing` events (feature `tracing`), through one crate-internal macro that
//! expands to nothing without the feature: a build without it compiles no event, no field
//! and no callsite.
//!
//! The event names, levels and fields are documented in the crate docs ("Events").

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
