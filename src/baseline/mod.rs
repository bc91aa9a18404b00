//! The designs every claim of this crate is measured against (feature `baselines`).
//!
//! * [`ItemLocks`]: one mutex per item, taken in ascending item order, check then apply: the
//!   classic design, as a careful engineer would write it (no allocation on the take path,
//!   locks held only while needed). Generic over the mutex so the benchmarks can compare
//!   `std::sync::Mutex` with `parking_lot::Mutex`; [`ItemLocks`] defaults to the faster one
//!   measured here (see `DESIGN.md`).
//! * [`GlobalLock`]: every item behind one mutex.
//!
//! Both validate input exactly as [`Stock`](crate::Stock) does (the same code) and implement
//! [`StockEngine`](crate::StockEngine), so a benchmark swaps engines and nothing else.

mod global_lock;
mod item_locks;

pub use global_lock::GlobalLock;
pub use item_locks::{ItemLocks, ItemMutex, ItemState, StdItemLocks};
