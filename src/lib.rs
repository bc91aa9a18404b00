//! Lock-free, all-or-nothing stock reservations.
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod catalog;
mod clock;
mod engine;
mod epoch;
mod error;
mod expiry;
mod hot;
mod ids;
mod inline;
mod inventory;
pub mod limits;
mod park;
mod reaper;
mod registry;
mod reservation;
mod segmented;
mod shard;
mod slot;
mod stats;
mod stock;
mod sync;
mod take;

#[cfg(feature = "baselines")]
pub mod baseline;

#[cfg(all(test, loom))]
mod tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::ReservationEngine;
pub use error::{AdjustError, CatalogError, TakeError};
pub use expiry::LagHistogram;
pub use ids::{ItemId, Line};
pub use inventory::{AuditError, AuditReport, Inventory, InventoryBuilder, ItemLevels};
pub use reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError,
};
pub use stats::Stats;
pub use stock::{Stock, StockEngine};
