//! [`RedisCluster`]: the handle an order service holds, its settings, its clock, and the verbs
//! that touch one key (register, restock, item counts). The reservation protocol is in
//! `reserve.rs` (taking parts, committing), `fate.rs` (confirm, release, extend) and
//! `sweep.rs` (expiry).

use crate::error::RedisError;
use crate::keys::Keys;
use crate::reply::Reply;
use crate::scripts::Scripts;
use atomic_stock::limits::{MAX_ITEMS, MAX_STOCK};
use atomic_stock::{
    AdjustError, Backend, CartId, CatalogError, Clock, Confirmation, Failure, ItemId, ItemLevels,
    Line, Receipt, ReservationError, ReservationId, ReserveError, SystemClock,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, Script};
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

    /// Connects to the cluster (any reachable subset of its nodes, as `redis://host:port`).
    pub async fn connect(self) -> Result<RedisCluster, RedisError> {
        let client = ClusterClientBuilder::new(self.nodes.clone())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(5))
            .build()?;
        let mut conn = client.get_async_connection().await?;
        let keys = Keys::new(&self.namespace, self.shards);
        let client_number: u64 = conn.incr(keys.clients(), 1).await?;
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

    /// Runs a script on the shard of its first key.
    pub(crate) async fn run(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Reply, RedisError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        let value: redis::Value = invocation.invoke_async(&mut conn).await?;
        Reply::new(value)
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

    async fn register(&self, initial: i64) -> Result<ItemId, Failure<CatalogError, RedisError>> {
        if !(0..=MAX_STOCK).contains(&initial) {
            return Err(Failure::Refused(CatalogError::InvalidQuantity {
                quantity: initial,
            }));
        }
        let reply = self
            .run(
                &self.scripts.register,
                &[self.keys.items_issued()],
                &[MAX_ITEMS.to_string()],
            )
            .await
            .map_err(Failure::Backend)?;
        if reply.code().map_err(Failure::Backend)? != 0 {
            return Err(Failure::Refused(CatalogError::CatalogFull {
                max: MAX_ITEMS,
            }));
        }
        let item = ItemId::new(reply.int(1).map_err(Failure::Backend)? as u32);
        let mut conn = self.conn.clone();
        let () = conn
            .hset_multiple(
                self.keys.item(item),
                &[
                    ("available", initial),
                    ("held", 0),
                    ("sold", 0),
                    ("received", initial),
                ],
            )
            .await
            .map_err(|e| Failure::Backend(e.into()))?;
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

    /// An item's counts, read in one command (so they are consistent with each other).
    pub(crate) async fn levels(&self, item: ItemId) -> Result<Option<ItemLevels>, RedisError> {
        let mut conn = self.conn.clone();
        let fields: Vec<Option<i64>> = redis::cmd("HMGET")
            .arg(self.keys.item(item))
            .arg(&["available", "held", "sold", "received"])
            .query_async(&mut conn)
            .await?;
        match fields.as_slice() {
            [Some(available), Some(held), Some(sold), Some(received)] => Ok(Some(ItemLevels {
                available: *available,
                in_flight: 0,
                held: *held,
                sold: *sold,
                received: *received,
            })),
            _ => Ok(None),
        }
    }
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
        self.engine.register(initial)
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
        self.engine.confirm_reservation(id)
    }

    fn release(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, RedisError>>> + Send {
        self.engine.release_reservation(id)
    }

    fn extend(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, RedisError>>> + Send {
        self.engine.extend_reservation(id, ttl)
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
}
