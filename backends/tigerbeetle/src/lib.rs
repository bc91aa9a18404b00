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
//!   A reserve for a cart that holds a live reservation does the same with the merged lines,
//!   a cart update (`set_cart`) with the lines it asks for, and a partial release
//!   (`release_lines`) with what is left, until the same deadline (rounded up to a second).
//! - **By cart**: the cart's latest reservation is found by a query, then the verb runs on it
//!   by id. The server expires holds at their timeout by itself, like a reaper that never
//!   falls behind, so a cart whose reservation expired has none (`NoReservation`), while a
//!   verb by id answers `Expired`.
//! - **Status** asks the server without changing anything: a linked chain of the void of the
//!   reservation's first hold and an event that always fails is never applied, and the void's
//!   own answer says whether it would have gone through (held), or why not.
//! - **Shrink** moves units from the item's account to its *shrinkage* account (created at
//!   the first shrink), so `received` and `sold` leave shrinks out; the item account's
//!   `debits_must_not_exceed_credits` refuses a shrink of more than is available.
//! - **SKUs** are accounts too: a SKU's account id is derived from a SHA-256 of the SKU and
//!   names its item in `user_data_32`; it is created in one linked chain with the item's
//!   account, so a SKU is registered once, with its item, or not at all.
//!
//! - **An inventory is a ledger**: the `namespace` given to [`TigerBeetle::connect`] is the
//!   ledger of all its accounts and transfers, and every query filters by it, so inventories
//!   sharing a cluster never see each other's carts.
//!
//! A hold's id is fresh for every attempt (a hold refused for want of stock burns its id); the
//! post and the void of a hold are derived from its id, so a repeated confirm posts the same
//! ids and is answered `Exists` (idempotent), and racing confirms and releases meet on the
//! server. A confirm, release or extend finds the reservation's latest holds with one query
//! (two for reservations of more than three lines), then sends one linked chain; a reserve
//! asks for the cart's live reservation first. When a verb's chain finds the holds it acted on
//! voided by an extend or an added line meanwhile, it reads the reservation again (at most 64
//! times): a confirm racing an extend confirms the extended reservation.
//!
//! A cart's reservations are numbered (1, 2, ...); creating one claims the cart's next number
//! with a zero-amount *anchor* transfer whose id is derived from the cart and the number, in
//! the same linked chain as the holds, so of two reserves racing for a cart with no live
//! reservation one creates it and the other adds its lines to it.
//!
//! **What is not exact.** The `available` figure of a shortfall is read after the refusal, not
//! at it. A restock's
//! `MAX_STOCK` bound is read-then-write (racing restocks can pass it together; the ledger
//! stays exact). [`LocalCluster`] starts throwaway clusters for tests and measurements.
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
