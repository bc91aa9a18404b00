//! The reservation contract of [`atomic_stock`] on TigerBeetle.
//!
//! [`TigerBeetle`] implements [`atomic_stock::Backend`] with TigerBeetle's own primitives, so
//! that every guarantee is the server's:
//!
//! - **Items are accounts** with `debits_must_not_exceed_credits`: restocks credit the item
//!   (from an operator account), holds and sales debit it (to a customers account). The
//!   server refuses a debit that would exceed the credits, so stock can never be oversold.
//!   `available = credits_posted - debits_posted - debits_pending`, `held = debits_pending`,
//!   `sold = debits_posted`, `received = credits_posted`.
//! - **A reservation is a linked chain of pending transfers**, one per line: the chain succeeds
//!   or fails as a unit (all or nothing, across items, in one request).
//! - **Confirm = post** every pending transfer (one linked chain), **release = void**.
//!   "A pending transfer resolves at most once": exactly one of confirm, release and expiry
//!   wins, decided by the server.
//! - **Expiry = the transfer's timeout**, in whole seconds: a time to live is *rounded up* to
//!   the next second. The server expires pending transfers by itself at their timeout, on its
//!   own clock, so [`Backend::expire_due`](atomic_stock::Backend::expire_due) has nothing to do
//!   and returns 0; a post after the timeout fails as expired.
//! - **Extend = void and re-pend in one linked chain**: the old pending transfers are voided
//!   and new ones (the next *generation*) created with the new timeout, as a unit.
//!   A reserve for a cart that holds a live reservation does the same with the merged lines.
//!
//! Transfer ids are derived from the reservation (`seq`, generation, kind, line), so a
//! repeated confirm posts the same ids and is answered `Exists`: idempotent.
//!
//! The clock cannot be driven from a test (the contract suite runs it as
//! [`Time::Wall`](../atomic_stock_contract/enum.Time.html)): deadlines in receipts are the
//! client's estimate (`now + timeout`), the server's clock decides.
//!
//! The client crate is pinned exactly (`=0.17.9`): a client must not be newer than the
//! cluster it talks to.
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod backend;
mod ids;
pub mod local_cluster;

pub use backend::{TigerBeetle, TigerBeetleError};
pub use local_cluster::LocalCluster;
