//! Carts: the registry that maps a cart to its live reservation and serializes operations on
//! it, the reservation entries it holds, and the epoch collector that reclaims them.

pub(crate) mod epoch;
pub(crate) mod registry;
