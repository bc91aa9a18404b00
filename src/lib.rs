//! Lock-free, all-or-nothing stock reservations for e-commerce.
//!
//! An order service holds one [`Inventory`]: items with stock, carts that reserve stock for a
//! limited time, and the decision, made once per reservation, between *confirm* (payment
//! succeeded: the stock is sold), *release* (the shopper cancelled or payment failed: the
//! stock is available again at once) and *expiry* (the deadline passed first).
//!
//! ```
//! use atomic_stock::{CartId, Confirmation, Inventory, Line, ManualClock, ReservationError};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = Arc::new(ManualClock::new());
//! let inventory = Inventory::builder().clock(clock.clone()).build();
//! let mug = inventory.register_item(3).unwrap();
//! let tea = inventory.register_item(1).unwrap();
//!
//! // A cart reserves two mugs and the tea for ten minutes, all or nothing.
//! let ttl = Duration::from_secs(600);
//! let paid = inventory
//!     .reserve(CartId::new(1), &[Line::new(mug, 2), Line::new(tea, 1)], ttl)
//!     .unwrap();
//! // Another cart wants the tea too: refused, and its mug is not taken either.
//! assert!(inventory.reserve(CartId::new(2), &[Line::new(mug, 1), Line::new(tea, 1)], ttl).is_err());
//! assert_eq!(inventory.item(mug).unwrap().available, 1);
//!
//! // Payment succeeded: the stock is sold. Confirming again is idempotent.
//! assert_eq!(inventory.confirm(paid.id), Ok(Confirmation::Confirmed));
//! assert_eq!(inventory.confirm(paid.id), Ok(Confirmation::AlreadyConfirmed));
//!
//! // An abandoned checkout expires: after its deadline it can no longer be confirmed, and its
//! // stock comes back (here when the host drives expiry; a reaper thread can do it instead).
//! let abandoned = inventory.reserve(CartId::new(3), &[Line::new(mug, 1)], ttl).unwrap();
//! clock.advance(ttl);
//! assert_eq!(inventory.expire_due(), 1);
//! assert_eq!(inventory.confirm(abandoned.id), Err(ReservationError::Expired));
//! assert_eq!(inventory.item(mug).unwrap().available, 1);
//! ```
//!
//! # Guarantees
//!
//! **All or nothing.** A reserve (or a cart update, or a [`Stock::take`]) takes every line or
//! none. Lines are validated first (bad input changes nothing and gets a typed error), duplicate
//! items merged, then taken in ascending item order (the canonical order: two requests can
//! never wait on each other in a cycle); on the first shortfall every line already taken is
//! given back, also if the code panics half-way (a drop guard).
//!
//! **Exactly once.** Confirm, release and expiry of a reservation are decided by one
//! compare-and-swap on the reservation's state; exactly one of them wins, and only the winner
//! moves the stock (sold, or returned once). A confirm after the deadline fails as expired even
//! if no expiry has run yet. Reservation ids are never reused, so a late confirm or release can
//! never act on a newer reservation of the same cart, and a remembered outcome answers only for
//! the id (cart, sequence number, inventory) it was recorded under.
//!
//! **Final answers stay final.** Each call decides by the clock reading it takes when it starts;
//! a call that finds a reservation held past its deadline expires it on the spot, status reads
//! included. So once any call has answered `Expired` (or `Confirmed`, `Released`), every later
//! call agrees, whatever clock readings they took.
//!
//! **Linearizable.** Every operation on reservations and stock (reserve, set_cart, confirm,
//! release, release_lines, extend, expire_due, restock, shrink, and the take/give-back of
//! [`Stock`]) takes effect atomically at one instant between its call and its return, so every
//! concurrent history is equivalent to some sequential one that respects real-time order. The
//! test suite checks recorded histories against a sequential model. The read-only snapshots
//! ([`Inventory::item`], [`Inventory::stats`], [`Inventory::live_reservations`]) read several
//! atomics one after the other: each field was true during the call, and they are exact at
//! quiescence.
//!
//! **No phantom shortfall.** A reserve answers [`TakeError::Shortfall`] only if, at some
//! instant during the call, the item had fewer units than asked counting every unit that was
//! only tentatively taken by another request (which might still give it back) and every unit
//! being returned by a release, expiry or cart update. Units held by a reservation past its
//! deadline do not count either: a reserve that finds too little stock first expires what is
//! due. Per item, one atomic word holds the available count and the number of operations in
//! flight that may still return units; a shortfall is decided only on a word with nothing in
//! flight.
//!
//! # Progress
//!
//! Nothing on the confirm, release or extend paths takes a lock, nor on the reserve and
//! cart-update paths unless they find too little stock while a reservation is due (below). Every
//! compare-and-swap loop is lock-free (a failed attempt means another thread succeeded). The
//! one place a thread waits is the exact shortfall decision: when an item has too little
//! available *and* operations in flight on it, the answer depends on them, so the thread waits
//! until one of them finishes. Those operations never wait themselves (or wait only on
//! higher items), so the wait is bounded by their completion; the waiter spins briefly, yields,
//! then parks and is woken by the operation that finishes. A descheduled in-flight operation
//! therefore delays only requests that would otherwise have been refused. That wait is unbounded
//! by default; [`InventoryBuilder::max_wait`] bounds it (past the bound the call takes nothing
//! and answers [`TakeError::Busy`], never a shortfall it could not decide), and
//! [`Inventory::reserve_async`] and [`Inventory::set_cart_async`] never park: where the blocking
//! call would wait, they yield to the executor and ask again. `expire_due` and the
//! reaper take the timer's mutex; so does a reserve that finds too little stock while a
//! reservation may be due, to expire what is due before refusing (the one lock a reserve can
//! take; the timer's upkeep on the reserve path only ever `try_lock`s it). Such a reserve
//! expires 64 reservations at a time, earliest deadlines first, and stops as soon as its take
//! succeeds: what it expires is bounded by what is due, and usually by what it needs. Waiting
//! reserves ([`Inventory::reserve_waiting`]) keep their queues behind mutexes that only they
//! and the wake-up of an item they armed take: a give-back or restock on an armed item takes
//! one to wake the head of the item's queue, and no plain reserve ever takes one.
//!
//! Memory waiting for epoch reclamation is capped (about 10 MB, see [`Bounds`](#bounds)): above
//! the cap, an operation that allocates (reserve, cart update, extend, partial release) yields
//! the processor, unpinned, until reclamation catches up, for at most 10 ms. It holds nothing
//! while it does, so no other thread waits for it.
//!
//! # Waiting for stock
//!
//! [`Inventory::reserve_waiting`] is a reserve that waits until every line can be had: a
//! waitlist for a drop or a restock. Its future ([`WaitForStock`]) queues on each item of the
//! request, first come first served per item: only a waiter at the head of every one of its
//! items' queues tries to take (all or nothing, as any reserve), and when it has taken it
//! leaves the queues and wakes the next, so big carts are not starved by small ones that came
//! later. It is exact: a head that finds an item short arms the item and tries once more
//! before it sleeps, and the release, expiry, cart update or restock that returns units to an
//! armed item wakes it. It is cancel-safe: each try takes everything or nothing, and a dropped
//! future leaves its queues and passes on a wake-up it had not used. Plain reserves do not
//! queue: they take what is available when they run, whoever waits. The future uses only
//! [`std::task::Waker`] (any executor); give up after a while with your executor's timeout,
//! or with `Inventory::reserve_waiting_until` (feature `tokio`), which answers
//! [`ReserveError::WaitTimedOut`] with nothing taken.
//!
//! ```
//! use atomic_stock::{CartId, Inventory, Line};
//! use std::future::Future;
//! use std::task::{Context, Poll, Waker};
//! use std::time::Duration;
//!
//! let ttl = Duration::from_secs(600);
//! let inventory = Inventory::new();
//! let [a, b, c, d] = [1, 1, 1, 1].map(|units| inventory.register_item(units).unwrap());
//! let first = inventory.reserve(CartId::new(1), &[Line::new(a, 1)], ttl).unwrap();
//!
//! // A four-line cart starts waiting for `a`, then a one-line cart does.
//! let big_lines = [a, b, c, d].map(|item| Line::new(item, 1));
//! let small_lines = [Line::new(a, 1)];
//! let mut big = Box::pin(inventory.reserve_waiting(CartId::new(2), &big_lines, ttl));
//! let mut small = Box::pin(inventory.reserve_waiting(CartId::new(3), &small_lines, ttl));
//! let mut cx = Context::from_waker(Waker::noop());
//! assert!(big.as_mut().poll(&mut cx).is_pending());
//! assert!(small.as_mut().poll(&mut cx).is_pending());
//!
//! // The unit comes back: the cart that waited first gets it, whatever its size.
//! inventory.release(first.id).unwrap();
//! assert!(small.as_mut().poll(&mut cx).is_pending());
//! assert!(matches!(big.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
//! assert!(small.as_mut().poll(&mut cx).is_pending());
//! ```
//!
//! # Hot items
//!
//! An item whose stock word is contended is promoted automatically: its stock is spread over
//! per-shard escrow words while it is plentiful, and joined into one exact count before any
//! shortfall is decided (see `DESIGN.md`, "The flash sale"). Items that are never contended
//! pay nothing for it.
//!
//! # Bounds
//!
//! Everything that grows is bounded (see [`limits`] and [`InventoryBuilder`]): lines per
//! request, units per item, live reservations, remembered outcomes of finished reservations,
//! and the timer's bookkeeping. Finished carts leave the registry at once and their memory is
//! reclaimed through epochs (crossbeam-epoch); the memory waiting for reclamation is capped at
//! about 10 MB whatever the number of threads and however the scheduler treats them (a thread
//! preempted, or stopped, inside an operation holds reclamation back: see `DESIGN.md`, "Bounded
//! memory", for the bound and what it depends on).
//!
//! # Features
//!
//! None is on by default: the engine needs none of them. Each adds an integration and changes
//! nothing in the engine's behaviour.
//!
//! * `serde`: `Serialize`/`Deserialize` for [`ItemId`], [`CartId`], [`ReservationId`],
//!   [`Line`], [`Receipt`] and [`ItemLevels`] (see [Wire form](#wire-form-feature-serde)).
//! * `tracing`: events on reserve, confirm, release, expiry and shortfall (see
//!   [Events](#events-feature-tracing)). Without the feature no event is compiled in.
//! * `metrics`: `Inventory::export_metrics`, which publishes [`Stats`] and two gauges through
//!   the `metrics` facade for whatever exporter the host installed.
//! * `tokio`: `Inventory::reaper_task`, the reaper as a task of a tokio runtime instead of a
//!   thread: bounded steps that yield between them, and an inventory whose drop never waits.
//! * `baselines`: the per-item-mutex and global-lock engines every performance figure of this
//!   crate is compared against (module `baseline`).
//!
//! # Surviving a restart
//!
//! Off by default. [`Inventory::open`] keeps the inventory in a directory: every change is
//! appended to a checksummed journal (durable before the call returns, or buffered with a
//! stated loss window: [`journal::Durability`]), and opening the directory again rebuilds the
//! items, levels, live reservations, remembered outcomes and counters; ids issued before the
//! restart keep working. [`Inventory::reserve_once`] makes a retried reserve safe. The
//! journal reads back as a stream of [`journal::Event`]s. See the [`journal`] module.
//!
//! What is stable API and what may change before 1.0 is written down in `docs/STABILITY.md`.
//!
//! ## Wire form (feature `serde`)
//!
//! The forms are stable: a value serialized by one version of the crate deserializes in every
//! later one.
//!
//! | type | human-readable formats (JSON, TOML, ...) | binary formats (bincode, postcard, ...) |
//! | --- | --- | --- |
//! | [`ItemId`] | the raw `u32` | the raw `u32` |
//! | [`CartId`] | the raw `u64` | the raw `u64` |
//! | [`ReservationId`] | a string, `"{tag:08x}-{cart}-{seq}"` (its `Display` form) | 20 bytes, [`ReservationId::to_bytes`] |
//! | [`Line`] | `{"item": u32, "quantity": i64}` | the same struct |
//! | [`Receipt`] | `{"id": <ReservationId>, "deadline_unix_ms": u64}` | the same struct |
//! | [`ItemLevels`] | `{"available", "in_flight", "held", "sold", "received"}`, each `i64` | the same struct |
//!
//! A reservation id is a string in human-readable formats so that its two `u64`s survive
//! readers whose numbers are doubles (JavaScript), and so that the id reads the same in a log
//! line and in a stored order record. Its tag is always 8 lowercase hex digits; cart and
//! sequence number are decimal without sign or leading `+`.
//!
//! **Deserializing never creates a live reservation.** Any well-formed id deserializes (as
//! [`ReservationId::from_bytes`] accepts any bytes); whether it names a reservation is decided
//! where it is used, exactly as for the id the inventory returned: an id from another
//! inventory or another process, a forged one, or one whose outcome is no longer remembered is
//! refused with [`ReservationError::Unknown`]; one whose
//! outcome is still remembered gets that outcome, as the original id would. Malformed input
//! is a serde error, never a panic.
//!
//! **A receipt's deadline is wall-clock time on the wire.** An [`Instant`](std::time::Instant)
//! means nothing
//! outside the process that read it, so the deadline is converted through the system clock
//! at serialization (`SystemTime::now() + (deadline - Instant::now())`, in whole
//! milliseconds since the Unix epoch) and back at deserialization. The round trip is exact to
//! the millisecond within a process; across machines it is as good as their clocks agree.
//! The inventory itself never reads a deserialized deadline: confirm and release go by id.
//!
//! ## Events (feature `tracing`)
//!
//! Events are emitted where an operation's outcome is known, never inside a compare-and-swap
//! loop: by the winner of the one compare-and-swap that finishes a reservation, and by the
//! public entry points once they have their answer. Every event has target `atomic_stock` and
//! a stable name:
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
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod carts;
mod error;
mod ids;
mod integrations;
mod inventory;
pub mod journal;
pub mod limits;
mod reservation;
mod stock;
mod sync;
mod timer;

#[cfg(feature = "baselines")]
#[cfg_attr(docsrs, doc(cfg(feature = "baselines")))]
pub mod baseline;

#[cfg(all(test, loom))]
mod tests;

// README's Rust example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use error::{AdjustError, BuildError, CatalogError, LoadError, Shortage, TakeError};
pub use ids::{ItemId, Line};
pub use integrations::backend::{Backend, BoxError, BoxFuture, DynBackend, Failure};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use integrations::reaper_task::REAPER_TASK_BATCH;
#[doc(hidden)]
pub use inventory::audit::Run;
pub use inventory::engine::ReservationEngine;
pub use inventory::{
    AuditError, AuditReport, Inventory, InventoryBuilder, ItemLevels, WaitForStock,
};
pub use reservation::{
    CartId, Confirmation, Receipt, ReservationError, ReservationId, ReservationInfo,
    ReservationState, ReserveError,
};
pub use stock::load::Loaded;
pub use stock::stats::Stats;
pub use stock::take::validate_lines;
pub use stock::{Stock, StockEngine};
pub use timer::clock::{Clock, CoarseClock, ManualClock, SystemClock};
pub use timer::LagHistogram;
