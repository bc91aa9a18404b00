//! The designs every claim of this crate is measured against (feature `baselines`).
//!
//! Stock only ([`StockEngine`](crate::StockEngine)):
//!
//! * [`ItemLocks`]: one mutex per item, taken in ascending item order, check then apply: the
//!   classic design, as a careful engineer would write it (no allocation on the take path,
//!   locks held only while needed). Generic over the mutex so the benchmarks can compare
//!   `std::sync::Mutex` with `parking_lot::Mutex`; [`ItemLocks`] defaults to the faster one
//!   measured here (see `DESIGN.md`).
//! * [`GlobalLock`]: every item behind one mutex.
//!
//! The whole reservation lifecycle ([`ReservationEngine`](crate::ReservationEngine)):
//!
//! * [`ItemLocksInventory`]: per-item `parking_lot` mutexes in ascending item order for the
//!   stock, per-cart mutexes picked from a fixed array by the cart's hash, reservations in 64
//!   locked shards, a locked `BTreeMap` deadline index.
//! * [`GlobalLockInventory`]: items, reservations, carts and deadlines under one mutex.
//!
//! Both are a [`Lifecycle`] over their locking ([`ItemLocking`], [`GlobalLocking`]): the
//! façade (validation, time, ids, receipts, status, audit, every public method) is written
//! once, and each engine's file holds only how it locks.
//!
//! All validate input exactly as the lock-free engines do (the same code), and the lifecycle
//! baselines answer every call as [`Inventory`](crate::Inventory) does (the model test in
//! `tests/lifecycle_model.rs` runs all three against one specification), so a benchmark swaps
//! engines and nothing else.

mod global_lock;
mod global_lock_inventory;
mod item_locks;
mod item_locks_inventory;
mod lifecycle;

pub use global_lock::GlobalLock;
pub use global_lock_inventory::{GlobalLockInventory, GlobalLocking};
pub use item_locks::{ItemLocks, ItemMutex, ItemState, StdItemLocks};
pub use item_locks_inventory::{ItemLocking, ItemLocksInventory};
pub use lifecycle::{Lifecycle, LifecycleSettings};
