//! [`RedisCluster`]: the handle an order service holds, its settings, its clock, and the verbs
//! that touch one key (register, restock, item counts). The reservation protocol is in
//! `reserve.rs` (taking parts, committing), `fate.rs` (confirm, release, extend) and
//! `sweep.rs` (expiry).

use crate::durability::{fence_of, Durability};
use crate::error::RedisError;
use crate::fate::On;
use crate::keys::Keys;
use crate::reply::Reply;
use crate::reserve::Waiting;
use crate::scripts::Scripts;
use atomic_stock::limits::{MAX_ITEMS, MAX_SKU_LEN, MAX_STOCK};
use atomic_stock::{
    AdjustError, Backend, CartId, CatalogError, Clock, Confirmation, Failure, ItemId, ItemLevels,
    Line, Receipt, ReservationError, ReservationId, ReservationState, ReserveError, SystemClock,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, ErrorKind, Pipeline, Script, ServerErrorKind, Value};
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default number of logical shards (hash tags) items and carts are spread over.
pub const DEFAULT_SHARDS: u32 = 16;

/// Most logical shards a namespace may have.
pub const MAX_SHARDS: u32 = 1024;

/// Most parts one reservation may have: a cart that adds lines to its live reservation again and
/// again gains a part per shard per addition; past this bound the addition is refused with
/// [`ReserveError::TooManyReservations`] (whose `max` is then this bound).
pub const MAX_PARTS: u32 = 64;

/// Default of [`RedisClusterBuilder::tentative_lease`].
pub const DEFAULT_TENTATIVE_LEASE: Duration = Duration::from_secs(2);

/// Most due parts the sweeper reads from one shard per script call.
pub(crate) const SWEEP_BATCH: u32 = 128;

/// Configures a [`RedisCluster`].
#[derive(Clone, Debug)]
pub struct RedisClusterBuilder {
    nodes: Vec<String>,
    namespace: String,
    shards: u32,
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
    max_reservations: u64,
    outcome_memory: Duration,
    durability: Durability,
    tentative_lease: Duration,
}

impl RedisClusterBuilder {
    /// The namespace every key starts with (default `atomic-stock`). Every client of one
    /// inventory must use the same namespace and shard count; reservation ids carry a tag
    /// derived from the namespace, so an id from another namespace is refused as unknown.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Number of logical shards (default [`DEFAULT_SHARDS`], at most [`MAX_SHARDS`]). More
    /// shards than masters, so that shards spread over the cluster.
    #[must_use]
    pub fn shards(mut self, shards: u32) -> Self {
        self.shards = shards.clamp(1, MAX_SHARDS);
        self
    }

    /// The clock deadlines are computed from (default [`SystemClock`]). Time is sent to the
    /// scripts as milliseconds since the Unix epoch, read once from the system clock when the
    /// backend is built and advanced by this clock since, so clients on different machines
    /// agree to within their system clocks' skew. Tests pass a
    /// [`ManualClock`](atomic_stock::ManualClock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Longest time to live a reservation may ask for (default 1 day).
    #[must_use]
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Most live reservations (default 16,777,216), kept per home shard (`max / shards`
    /// each), like the in-process engine's bound.
    #[must_use]
    pub fn max_reservations(mut self, max: u64) -> Self {
        self.max_reservations = max.max(1);
        self
    }

    /// How long a finished reservation's outcome is remembered (default 1 day), so that a
    /// repeated confirm is answered `AlreadyConfirmed` and a late release is told what
    /// happened. Measured on the backend's clock.
    #[must_use]
    pub fn outcome_memory(mut self, memory: Duration) -> Self {
        self.outcome_memory = memory;
        self
    }

    /// How long a cross-shard reserve may hold units tentatively (default
    /// [`DEFAULT_TENTATIVE_LEASE`]): the parts it takes before its last shard are given back if
    /// a later shard is short, so until it commits, a taker short of those units waits for them
    /// instead of answering "short". A part still tentative after this long belongs to a caller
    /// that died or stalled: the sweeper (or a waiting taker) aborts its attempt and gives it
    /// back (a stalled caller then takes again). A taker waits at most this long plus one
    /// second, then answers with the shortfall it sees. Measured on the backend's clock; at
    /// least 1 ms.
    #[must_use]
    pub fn tentative_lease(mut self, lease: Duration) -> Self {
        self.tentative_lease = lease.max(Duration::from_millis(1));
        self
    }

    /// When a state change is acknowledged (default [`Durability::Async`]: as soon as its
    /// master applied it). With [`Durability::Replicas`], every step of every call that
    /// changes state (reserve, cart update, confirm, release, partial release, extend, expiry,
    /// the sweeper's healing, register, restock) is followed by `WAIT` on its master, and the call answers `Ok` only
    /// if enough replicas acknowledged; otherwise it fails with
    /// [`RedisError::NotReplicated`]. See [`Durability`] for what that does and does not
    /// promise, and the README for what it costs.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), atomic_stock_redis::RedisError> {
    /// use atomic_stock_redis::{Durability, RedisCluster};
    /// use std::time::Duration;
    /// let stock = RedisCluster::builder(vec!["redis://127.0.0.1:7000".into()])
    ///     .durability(Durability::Replicas { count: 1, timeout: Duration::from_millis(200) })
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Connects to the cluster (any reachable subset of its nodes, as `redis://host:port`).
    pub async fn connect(self) -> Result<RedisCluster, RedisError> {
        let client = ClusterClientBuilder::new(self.nodes.clone())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(5))
            .build()?;
        let conn = client.get_async_connection().await?;
        let keys = Keys::new(&self.namespace, self.shards);
        // The client number keeps ids unique across clients: waited for like any state change.
        let mut numbering = redis::pipe();
        numbering.incr(keys.clients(), 1);
        let client_number: u64 = redis::from_redis_value(
            send(&conn, self.durability, numbering, &keys.clients()).await?,
        )
        .map_err(|e| RedisError::Protocol(format!("client number: {e}")))?;
        let clock = self.clock;
        let origin = clock.now();
        let origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(RedisCluster {
            engine: Arc::new(Engine {
                conn,
                tag: tag_of(&self.namespace),
                name: format!("redis-cluster ({} shards)", self.shards),
                keys,
                scripts: Scripts::new(),
                clock,
                origin,
                origin_ms,
                client_number,
                counter: AtomicU64::new(1),
                known_items: AtomicU32::new(0),
                max_ttl: self.max_ttl,
                max_live_per_shard: self.max_reservations.div_ceil(u64::from(self.shards)),
                outcome_memory_ms: self.outcome_memory.as_millis() as u64,
                tentative_lease: self.tentative_lease,
                durability: self.durability,
            }),
        })
    }
}

/// The reservation contract on Redis Cluster. See the crate docs for the protocol and its
/// guarantees. Share it (`Arc`) between the tasks of a service: every call clones a multiplexed
/// connection handle.
pub struct RedisCluster {
    pub(crate) engine: Arc<Engine>,
}

/// The backend's state, shared with the tasks that heal abandoned parts.
pub(crate) struct Engine {
    pub(crate) conn: ClusterConnection,
    pub(crate) keys: Keys,
    pub(crate) scripts: Scripts,
    pub(crate) tag: u32,
    pub(crate) name: String,
    clock: Arc<dyn Clock>,
    origin: Instant,
    origin_ms: u64,
    client_number: u64,
    counter: AtomicU64,
    /// Item ids below this are known to be registered (ids are dense and never removed).
    known_items: AtomicU32,
    pub(crate) max_ttl: Duration,
    pub(crate) max_live_per_shard: u64,
    pub(crate) outcome_memory_ms: u64,
    pub(crate) tentative_lease: Duration,
    pub(crate) durability: Durability,
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("keys", &self.engine.keys)
            .field("tag", &self.engine.tag)
            .finish_non_exhaustive()
    }
}

/// FNV-1a of the namespace: the tag of every reservation id it issues.
fn tag_of(namespace: &str) -> u32 {
    namespace.bytes().fold(0x811C_9DC5, |h: u32, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl RedisCluster {
    /// Configures a backend on the cluster reachable at `nodes` (`redis://127.0.0.1:7000`...).
    #[must_use]
    pub fn builder(nodes: Vec<String>) -> RedisClusterBuilder {
        RedisClusterBuilder {
            nodes,
            namespace: "atomic-stock".to_owned(),
            shards: DEFAULT_SHARDS,
            clock: Arc::new(SystemClock),
            max_ttl: Duration::from_secs(24 * 3600),
            max_reservations: 1 << 24,
            outcome_memory: Duration::from_secs(24 * 3600),
            durability: Durability::Async,
            tentative_lease: DEFAULT_TENTATIVE_LEASE,
        }
    }
}

impl Engine {
    /// Milliseconds since the Unix epoch, on the backend's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.origin);
        self.origin_ms + elapsed.as_millis() as u64
    }

    /// The instant a deadline in milliseconds stands for.
    pub(crate) fn instant(&self, ms: u64) -> Instant {
        self.origin + Duration::from_millis(ms.saturating_sub(self.origin_ms))
    }

    /// A time to live in whole milliseconds (rounded up), if valid.
    pub(crate) fn ttl_ms(&self, ttl: Duration) -> Option<u64> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return None;
        }
        u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).ok()
    }

    /// The tentative lease in milliseconds (also how long a line update's caller has to trim the
    /// parts it cut before the sweeper does).
    pub(crate) fn lease_ms(&self) -> u64 {
        self.tentative_lease.as_millis() as u64
    }

    /// How long an attempt's mark must outlive its reservation: until every part can have been
    /// settled (a part's hint is at most one time to live away).
    pub(crate) fn attempt_memory_ms(&self) -> u64 {
        self.outcome_memory_ms + self.max_ttl.as_millis() as u64
    }

    /// A number never handed out before in this namespace: a reservation's seq, or an attempt.
    pub(crate) fn next_seq(&self) -> u64 {
        // Relaxed: a unique number; nothing to order.
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (self.client_number << 40) | (n & ((1 << 40) - 1))
    }

    pub(crate) fn id(&self, cart: CartId, seq: u64) -> ReservationId {
        ReservationId::new(cart, seq, self.tag)
    }

    /// Runs a script that changes state on the shard of its first key, acknowledged as the
    /// backend's [`Durability`] asks.
    pub(crate) async fn run(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Reply, RedisError> {
        Reply::new(self.invoke(script, keys, args, self.durability).await?)
    }

    /// Runs a script that changes nothing the caller is told about (the sweeper's listing):
    /// never waited for; the steps it leads to are.
    pub(crate) async fn run_read(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Reply, RedisError> {
        Reply::new(self.invoke(script, keys, args, Durability::Async).await?)
    }

    /// The script's raw answer.
    pub(crate) async fn invoke(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        durability: Durability,
    ) -> Result<Value, RedisError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        if durability.wait().is_none() {
            return Ok(invocation.invoke_async(&mut conn).await?);
        }
        let mut pipe = redis::pipe();
        pipe.invoke_script(&invocation);
        match send(&conn, durability, pipe.clone(), &keys[0]).await {
            // The master has not seen the script since it started (or became master): load it
            // on every master and send the step again. The failed pipeline ran nothing of it.
            Err(RedisError::Redis(e))
                if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) =>
            {
                invocation.load_async(&mut conn).await?;
                send(&conn, durability, pipe, &keys[0]).await
            }
            other => other,
        }
    }

    /// Whether `item` was registered (ids are dense: asks the cluster only for an id at or past
    /// the highest one seen so far).
    pub(crate) async fn known(&self, item: ItemId) -> Result<bool, RedisError> {
        // Relaxed: a cache of a number that only grows; a stale value costs one read.
        if item.get() < self.known_items.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let mut conn = self.conn.clone();
        let issued: Option<u32> = conn.get(self.keys.items_issued()).await?;
        let issued = issued.unwrap_or(0);
        // Relaxed: as above.
        self.known_items.fetch_max(issued, Ordering::Relaxed);
        Ok(item.get() < issued)
    }

    /// Registers an item, under `sku` if given (see `register.lua` and `sku.lua`).
    async fn register(
        &self,
        initial: i64,
        sku: Option<&str>,
    ) -> Result<ItemId, Failure<CatalogError, RedisError>> {
        if !(0..=MAX_STOCK).contains(&initial) {
            return Err(Failure::Refused(CatalogError::InvalidQuantity {
                quantity: initial,
            }));
        }
        let reply = match sku {
            None => {
                self.run(
                    &self.scripts.register,
                    &[self.keys.items_issued()],
                    &[MAX_ITEMS.to_string()],
                )
                .await
            }
            Some(sku) => {
                if sku.is_empty() || sku.len() > MAX_SKU_LEN {
                    return Err(Failure::Refused(CatalogError::InvalidSku {
                        len: sku.len(),
                    }));
                }
                self.run(
                    &self.scripts.sku,
                    &[self.keys.items_issued(), self.keys.skus()],
                    &[MAX_ITEMS.to_string(), sku.to_owned()],
                )
                .await
            }
        }
        .map_err(Failure::Backend)?;
        match reply.code().map_err(Failure::Backend)? {
            0 => {}
            1 => {
                return Err(Failure::Refused(CatalogError::CatalogFull {
                    max: MAX_ITEMS,
                }))
            }
            2 => {
                let existing = ItemId::new(reply.int(1).map_err(Failure::Backend)? as u32);
                return Err(Failure::Refused(CatalogError::DuplicateSku { existing }));
            }
            other => {
                return Err(Failure::Backend(RedisError::Protocol(format!(
                    "register answered {other}"
                ))))
            }
        }
        let item = ItemId::new(reply.int(1).map_err(Failure::Backend)? as u32);
        let key = self.keys.item(item);
        let mut write = redis::pipe();
        write.hset_multiple(
            &key,
            &[
                ("available", initial),
                ("held", 0),
                ("sold", 0),
                ("received", initial),
            ],
        );
        send(&self.conn, self.durability, write, &key)
            .await
            .map_err(Failure::Backend)?;
        Ok(item)
    }

    async fn add_stock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> Result<(), Failure<AdjustError, RedisError>> {
        let reply = self
            .run(
                &self.scripts.restock,
                &[self.keys.item(item)],
                &[quantity.to_string(), MAX_STOCK.to_string()],
            )
            .await
            .map_err(Failure::Backend)?;
        match reply.code().map_err(Failure::Backend)? {
            0 => Ok(()),
            1 => Err(Failure::Refused(AdjustError::UnknownItem { item })),
            2 => Err(Failure::Refused(AdjustError::InvalidQuantity {
                item,
                quantity,
            })),
            3 => Err(Failure::Refused(AdjustError::Overflow {
                item,
                on_hand: reply.int(1).map_err(Failure::Backend)?,
                quantity,
            })),
            other => Err(Failure::Backend(RedisError::Protocol(format!(
                "restock answered {other}"
            )))),
        }
    }

    /// The item registered under `sku`.
    async fn item_of_sku(&self, sku: &str) -> Result<Option<ItemId>, RedisError> {
        let mut conn = self.conn.clone();
        let item: Option<u32> = conn.hget(self.keys.skus(), sku).await?;
        Ok(item.map(ItemId::new))
    }

    /// Shrinks `item` by `quantity`, with a reserve's shortfall rule: short while enough
    /// units are on their way back (tentative parts), it waits for them as a take does.
    async fn take_off(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> Result<(), Failure<AdjustError, RedisError>> {
        let mut waiting = None;
        loop {
            let reply = self
                .run(
                    &self.scripts.shrink,
                    &[self.keys.item(item)],
                    &[quantity.to_string(), MAX_STOCK.to_string()],
                )
                .await
                .map_err(Failure::Backend)?;
            return match reply.code().map_err(Failure::Backend)? {
                0 => Ok(()),
                1 => Err(Failure::Refused(AdjustError::UnknownItem { item })),
                2 => Err(Failure::Refused(AdjustError::InvalidQuantity {
                    item,
                    quantity,
                })),
                3 => {
                    let available = reply.int(1).map_err(Failure::Backend)?;
                    let tentative = reply.int(2).map_err(Failure::Backend)?;
                    if tentative > 0 && available + tentative >= quantity {
                        let patience = self.tentative_lease + Duration::from_secs(1);
                        let waiting = waiting.get_or_insert_with(|| Waiting::new(patience));
                        let shard = self.keys.shard_of_item(item);
                        if waiting.pause(self, shard).await.map_err(Failure::Backend)? {
                            continue;
                        }
                    }
                    Err(Failure::Refused(AdjustError::Shortfall {
                        item,
                        requested: quantity,
                        available,
                    }))
                }
                other => Err(Failure::Backend(RedisError::Protocol(format!(
                    "shrink answered {other}"
                )))),
            };
        }
    }

    /// An item's counts, read in one command (so they are consistent with each other).
    /// `in_flight` counts the units of `held` taken tentatively (see `take.lua`).
    pub(crate) async fn levels(&self, item: ItemId) -> Result<Option<ItemLevels>, RedisError> {
        let mut conn = self.conn.clone();
        let fields: Vec<Option<i64>> = redis::cmd("HMGET")
            .arg(self.keys.item(item))
            .arg(&["available", "held", "sold", "received", "tentative"])
            .query_async(&mut conn)
            .await?;
        match fields.as_slice() {
            [Some(available), Some(held), Some(sold), Some(received), tentative] => {
                Ok(Some(ItemLevels {
                    available: *available,
                    // Units of `held` taken by cross-shard reserves still being made (the field is
                    // absent until an item's first tentative take).
                    in_flight: tentative.unwrap_or(0),
                    held: *held,
                    sold: *sold,
                    received: *received,
                }))
            }
            _ => Ok(None),
        }
    }
}

/// Sends `write` (a pipeline of one command, on the slot of `key`) and answers its reply; under
/// [`Durability::Replicas`], followed in the same pipeline by the shard's fence and `WAIT`
/// (see [`Durability`]), and an error unless enough replicas acknowledged.
async fn send(
    conn: &ClusterConnection,
    durability: Durability,
    mut write: Pipeline,
    key: &str,
) -> Result<Value, RedisError> {
    let mut conn = conn.clone();
    let Some((wanted, timeout_ms)) = durability.wait() else {
        let (value,): (Value,) = write.query_async(&mut conn).await?;
        return Ok(value);
    };
    write.incr(fence_of(key), 1).ignore();
    write.cmd("WAIT").arg(wanted).arg(timeout_ms);
    let (value, replicas): (Value, u32) = write.query_async(&mut conn).await?;
    if replicas < wanted {
        return Err(RedisError::NotReplicated { replicas, wanted });
    }
    Ok(value)
}

impl Backend for RedisCluster {
    type Error = RedisError;

    fn name(&self) -> &str {
        &self.engine.name
    }

    fn register_item(
        &self,
        initial: i64,
    ) -> impl Future<Output = Result<ItemId, Failure<CatalogError, RedisError>>> + Send {
        self.engine.register(initial, None)
    }

    fn restock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, RedisError>>> + Send {
        self.engine.add_stock(item, quantity)
    }

    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, RedisError>>> + Send {
        let lines = lines.to_vec();
        async move { self.engine.reserve_lines(cart, &lines, ttl).await }
    }

    fn confirm(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, RedisError>>> + Send
    {
        self.engine.confirm_reservation(On::Id(id))
    }

    fn release(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, RedisError>>> + Send {
        self.engine.release_reservation(On::Id(id))
    }

    fn extend(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, RedisError>>> + Send {
        self.engine.extend_reservation(On::Id(id), ttl)
    }

    fn expire_due(&self) -> impl Future<Output = Result<usize, RedisError>> + Send {
        self.engine.sweep_all()
    }

    fn item(
        &self,
        item: ItemId,
    ) -> impl Future<Output = Result<Option<ItemLevels>, RedisError>> + Send {
        self.engine.levels(item)
    }

    async fn register_sku(
        &self,
        sku: &str,
        initial: i64,
    ) -> Result<ItemId, Failure<CatalogError, RedisError>> {
        self.engine.register(initial, Some(sku)).await
    }

    async fn item_by_sku(&self, sku: &str) -> Result<Option<ItemId>, RedisError> {
        self.engine.item_of_sku(sku).await
    }

    fn shrink(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, RedisError>>> + Send {
        self.engine.take_off(item, quantity)
    }

    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, RedisError>>> + Send {
        let lines = lines.to_vec();
        async move { self.engine.set_lines(cart, &lines, ttl).await }
    }

    fn confirm_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, RedisError>>> + Send
    {
        self.engine.confirm_reservation(On::Cart(cart))
    }

    fn release_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, RedisError>>> + Send {
        self.engine.release_reservation(On::Cart(cart))
    }

    fn release_lines(
        &self,
        id: ReservationId,
        lines: &[Line],
    ) -> impl Future<Output = Result<(), Failure<ReservationError, RedisError>>> + Send {
        let lines = lines.to_vec();
        async move { self.engine.release_some(id, &lines).await }
    }

    fn extend_cart(
        &self,
        cart: CartId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, RedisError>>> + Send {
        self.engine.extend_reservation(On::Cart(cart), ttl)
    }

    fn status(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<ReservationState, Failure<ReservationError, RedisError>>> + Send
    {
        self.engine.status_of(id)
    }
}
