//! The reservation contract of `atomic-stock`, written once and run against every
//! [`Backend`](atomic_stock::Backend): the in-process [`Inventory`](atomic_stock::Inventory)
//! (`tests/in_process.rs` here), Redis Cluster (`atomic-stock-redis`) and TigerBeetle
//! (`atomic-stock-tigerbeetle`).
//!
//! Every test function is generic over a *factory*: an async function that builds a fresh,
//! empty backend from a [`Setup`] (a [`ManualClock`](atomic_stock::ManualClock) and the
//! longest time to live the backend must accept). A backend whose clock the test can drive
//! ([`Time::Driven`]) reads every deadline from that clock; one whose time is the server's
//! ([`Time::Wall`], TigerBeetle) is run without the time-dependent cases, and with times to
//! live long enough that nothing expires during a test.
//!
//! - [`model`]: random sequences of the backend verbs (register and restock, reserve with a
//!   time to live, confirm, release, extend, `expire_due`, item counts), each compared step by
//!   step with the sequential model of [`spec`] (the same model the core crate's model test,
//!   its linearizability checker and the fuzz targets use): every answer and every item's
//!   counts. A failing sequence is shrunk and printed with its seed.
//! - [`bad_input`]: every typed error of every verb, each followed by a check that nothing
//!   changed.
//! - [`races`]: tasks on a multi-threaded runtime released together by a barrier call confirm,
//!   release and `expire_due` on the same reservation; exactly one decides its fate, and its
//!   stock moves exactly once.
//! - [`concurrent_audit`]: many tasks reserving, confirming, releasing, extending and expiring
//!   over a few scarce items at once; at the end, every unit sold is a confirm some task was
//!   told succeeded, and nothing else is missing.
//! - [`linearizability`]: short concurrent histories over two items (reserves of one or both,
//!   confirms, releases, restocks), each required to be explained by a sequential order of
//!   the model that respects real time (a Wing & Gong search). Not in [`run_all`]: a backend
//!   runs it where it promises linearizable answers.
//! - After every test, the conservation [`audit`]: for every item
//!   `available + held + sold = received`, and `held` equals the units of the reservations the
//!   test itself knows to be live.
//!
//! A backend failure ([`Failure::Backend`](atomic_stock::Failure::Backend)) fails the test:
//! the suite runs against healthy servers. What a backend loses when a server fails is
//! measured by its own failover test.
//!
//! # Modules and features
//! - [`spec`]: the sequential model, plain data, no engine in it.
//! - [`harness`]: a real engine and the model stepped together: [`Mirror`](harness::Mirror)
//!   (the model, the clock and the id map both harnesses share) and the synchronous
//!   [`Harness`](harness::Harness) over any [`Engine`](harness::Engine).
//! - The async suite above, with the `suite` feature (on by default; it needs tokio). The core
//!   crate's own tests use [`spec`] and [`harness`] without it, as a dev-dependency; the
//!   `baselines` feature implements [`Engine`](harness::Engine) for the lifecycle baselines.

// Without the suite, the paragraphs above name functions that are not built.
#![cfg_attr(not(feature = "suite"), allow(rustdoc::broken_intra_doc_links))]

pub mod harness;
#[cfg(feature = "suite")]
mod linear;
pub mod spec;
#[cfg(feature = "suite")]
mod suite;

#[cfg(feature = "suite")]
pub use linear::linearizability;
#[cfg(feature = "suite")]
pub use suite::{audit, bad_input, concurrent_audit, model, races, run_all, Cases, Setup, Time};
