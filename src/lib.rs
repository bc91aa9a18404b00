//! Lock-free, all-or-nothing stock reservations.
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod catalog;
mod error;
mod ids;
pub mod limits;
mod park;
mod segmented;
mod shard;
mod slot;
mod stats;
mod stock;
mod sync;
mod take;

#[cfg(feature = "baselines")]
pub mod baseline;

pub use error::{AdjustError, CatalogError, TakeError};
pub use ids::{ItemId, Line};
pub use stats::Stats;
pub use stock::{Stock, StockEngine};
