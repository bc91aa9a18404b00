//! The reservation contract of [`atomic_stock`] on Redis Cluster.
//!
//! [`RedisCluster`] implements [`atomic_stock::Backend`]: the same verbs, the same typed
//! refusals, checked by the same contract suite (`atomic-stock-contract`) as the in-process
//! [`Inventory`](atomic_stock::Inventory). See `README.md` beside this crate for the figures
//! (build cost, throughput, what a failover loses).
//!
//! # How it works
//!
//! Items and carts are spread over logical shards (hash tags, `{ns:s}`, default 16); each
//! step is one Lua script on one shard, atomic there (`src/scripts/*.lua`, one per step, each
//! with a header comment: keys, arguments, result).
//!
//! - **Reserve** is the in-process all-or-nothing take lifted one level: the cart's lines are
//!   grouped by shard and taken one shard at a time in ascending shard order (`take.lua`, all
//!   the shard's lines or none); on the first shortfall the parts already taken are given back
//!   (compensation), what is due is expired, and the take runs once more. Every part but the
//!   last is taken *tentatively* (its units counted as possibly on their way back, firmed once
//!   every shard is taken), and a take short of units that are on their way back waits for
//!   them instead of answering "short". Then the cart's
//!   *home shard* commits the attempt (`commit.lua`): it becomes the cart's reservation, or is
//!   added to the cart's live one, as in the in-process engine.
//! - **Confirm, release, extend and expiry** are decided on the home shard, in the cart record,
//!   by one script (`decide.lua`): exactly one of confirm, release and expiry wins. The parts
//!   then follow the decision on their shards (`settle.lua`: sold, or given back, once).
//! - **Cart updates and partial releases** (`set_cart`, `release_lines`) change a live
//!   reservation's lines on its home shard, which stays the truth: a cart update reads the
//!   reservation, takes what the new lines add as a new attempt (as a reserve takes, all or
//!   nothing), and commits it only if the reservation is still as read; the units dropped are
//!   *cut* from its parts there (a part only ever shrinks), remembered per part, and given back
//!   on the parts' shards (`trim.lua`) by the caller, or by the sweeper if the caller died.
//! - **Expiry** is a sweeper ([`Backend::expire_due`](atomic_stock::Backend::expire_due)):
//!   every shard indexes its parts by deadline in a sorted set (`sweep.lua` reads the due
//!   ones); for each, the home shard decides (expired, or already decided, or never
//!   committed) and the part is settled. Key TTLs are never used for stock: a TTL can delete
//!   a record but cannot give its units back.
//! - **A caller that dies half-way** leaves parts that heal: a part not yet committed is found
//!   by the sweeper at its deadline, the home shard marks its attempt aborted (so a late commit
//!   fails), and the part is given back; a part whose reservation was decided but not settled
//!   follows the decision (sold as cut, if a line update cut it); a part a line update cut is
//!   trimmed by the sweeper once the tentative lease passes. A reserve future dropped half-way
//!   heals its parts at once, on a spawned task.
//!
//! # Guarantees
//!
//! - **All or nothing, across shards**: a reserve that returns `Ok` holds every line; one that
//!   is refused holds nothing once it returns (its parts were given back).
//! - **No phantom shortfall, across shards**: a reserve is refused for a shortfall only if, in
//!   one script on the item's shard, the units were neither available nor held tentatively by
//!   a cross-shard reserve still being made; otherwise it waits for them (at most
//!   [`tentative_lease`](RedisClusterBuilder::tentative_lease) + 1 s: a dead caller's
//!   tentative units come back when its lease passes). A reserve refused by its commit (a
//!   limit, or an attempt aborted past its deadline) held its units for that round trip.
//! - **Exactly once**: a reservation's fate is decided once, in one script on its home shard;
//!   its stock is sold or returned once (each part settles once).
//! - **Line updates** answer as the in-process engine's: a cart update takes only what it adds
//!   (refused, phantom-free, with that shortfall) and gives back what it drops; a partial
//!   release refuses with `NotHeld` and releases the reservation when nothing is left. Units
//!   dropped come back on their shards one round trip after the home shard's commit (or, if
//!   the caller died, when the sweeper runs after the tentative lease); meanwhile a concurrent
//!   taker may be refused for them.
//! - **Time**: deadlines are whole milliseconds (a time to live is rounded up), computed by
//!   the client from its [`Clock`](atomic_stock::Clock) and sent to the scripts; expiry happens
//!   when someone calls `expire_due` (run a sweeper task), or when a reserve finds too little
//!   stock, or when a verb finds the reservation past its deadline.
//! - **Durability** is Redis's: replication is asynchronous, so by default
//!   ([`Durability::Async`]) a failover can lose acknowledged writes: confirms, and with them
//!   units sold twice. [`Durability::Replicas`] acknowledges a call only after `WAIT` counted
//!   enough replicas for every step it took, and otherwise fails it with
//!   [`RedisError::NotReplicated`] (outcome unknown): that narrows the loss, it does not make
//!   Redis strongly consistent (see [`Durability`]), and it costs throughput. The README has
//!   what the failover test measured in both modes.
//!
//! # Example
//!
//! ```no_run
//! use atomic_stock::{Backend, CartId, Line};
//! use atomic_stock_redis::RedisCluster;
//! use std::time::Duration;
//!
//! # async fn checkout() -> Result<(), Box<dyn std::error::Error>> {
//! let stock = RedisCluster::builder(vec!["redis://127.0.0.1:7000".into()])
//!     .namespace("shop")
//!     .connect()
//!     .await?;
//! let mug = stock.register_item(10).await?;
//! let receipt = stock
//!     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
//!     .await?;
//! stock.confirm(receipt.id).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod backend;
mod durability;
mod error;
mod fate;
mod keys;
pub mod local_cluster;
mod part;
mod reply;
mod reserve;
mod scripts;
mod sweep;

pub use backend::{
    RedisCluster, RedisClusterBuilder, DEFAULT_SHARDS, DEFAULT_TENTATIVE_LEASE, MAX_PARTS,
    MAX_SHARDS,
};
pub use durability::Durability;
pub use error::RedisError;
pub use local_cluster::LocalCluster;
