//! [`TigerBeetle`]: the [`Backend`] verbs as TigerBeetle requests (see the crate docs).

use crate::ids::{
    self, CODE_ITEM, CODE_OPERATOR, CODE_RESTOCK, CODE_SHRINK, CODE_SHRUNK, CODE_SKU,
};
use atomic_stock::limits::{MAX_ITEMS, MAX_LINES, MAX_LINE_QUANTITY, MAX_SKU_LEN, MAX_STOCK};
use atomic_stock::{
    validate_lines, AdjustError, Backend, CartId, CatalogError, Clock, Confirmation, Failure,
    ItemId, ItemLevels, Line, Receipt, ReservationError, ReservationId, ReservationState,
    ReserveError, SystemClock, TakeError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tb::{
    AccountFlags, CreateAccountStatus, CreateTransferStatus, QueryFilterFlags, TransferFlags,
};
use tigerbeetle as tb;

/// How the TigerBeetle backend itself fails.
#[derive(Debug)]
#[non_exhaustive]
pub enum TigerBeetleError {
    /// The client could not be created.
    Init(String),
    /// A request failed (the client's error); none of its events were applied.
    Request(String),
    /// The server answered something this crate does not expect.
    Protocol(String),
}

impl fmt::Display for TigerBeetleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TigerBeetleError::Init(e) => write!(f, "tigerbeetle client: {e}"),
            TigerBeetleError::Request(e) => write!(f, "tigerbeetle request: {e}"),
            TigerBeetleError::Protocol(e) => write!(f, "unexpected tigerbeetle answer: {e}"),
        }
    }
}

impl std::error::Error for TigerBeetleError {}

fn request(e: impl fmt::Debug) -> TigerBeetleError {
    TigerBeetleError::Request(format!("{e:?}"))
}

/// The reservation contract on a TigerBeetle cluster.
pub struct TigerBeetle {
    client: tb::Client,
    /// The inventory: its accounts' id prefix, the ledger of all its accounts and transfers,
    /// and the tag of its reservation ids.
    namespace: u32,
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
    /// Item ids below this are known to exist.
    known_items: AtomicU32,
}

impl fmt::Debug for TigerBeetle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TigerBeetle")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The first event of a failed linked chain that failed for its own reason (the others answer
/// `LinkedEventFailed`), with its index.
fn first_failure(results: &[tb::CreateTransferResult]) -> Option<(usize, CreateTransferStatus)> {
    results
        .iter()
        .enumerate()
        .find(|(_, r)| {
            !matches!(
                r.status,
                CreateTransferStatus::Created | CreateTransferStatus::LinkedEventFailed
            )
        })
        .map(|(i, r)| (i, r.status))
}

/// Marks every event of a chain but the last as linked to the next.
fn link(transfers: &mut [tb::Transfer]) {
    let n = transfers.len();
    for t in &mut transfers[..n.saturating_sub(1)] {
        t.flags = t.flags | TransferFlags::Linked;
    }
}

/// How many times a verb re-reads a reservation that another verb changed under it (an extend
/// or an added line voids a generation and pends the next) before it gives up.
const MAX_ATTEMPTS: usize = 64;

/// The first limit of a query for a reservation's transfers: enough for the holds, posts and
/// voids of a reservation of up to 3 lines.
const QUERY_LIMIT_FIRST: u32 = 8;
/// The limit that always holds the latest generation: its holds and their posts or voids
/// (`MAX_LINES` each), and one earlier transfer.
const QUERY_LIMIT_MAX: u32 = 2 * MAX_LINES as u32 + 1;

/// What a cart update does with the cart's live reservation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Update {
    /// Adds the lines to it (`reserve`).
    Add,
    /// Replaces its lines with these (`set_cart`).
    Set,
}

/// Which way a reservation's holds are resolved.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Post,
    Void,
}

/// Why a chain on an existing generation of holds did not go through.
enum Settled {
    /// The reservation ended: confirmed, released or expired.
    Ended(ReservationError),
    /// This generation was voided: released, or superseded by an extend or added lines.
    Voided,
    /// Our posts exist already: confirmed before, by this call's twin.
    Posted,
}

/// The live lines of a reservation: its latest generation of pending transfers.
struct Current {
    generation: u32,
    holds: Vec<tb::Transfer>,
}

impl TigerBeetle {
    /// Connects to the cluster `cluster_id` at `addresses` (e.g. `"3000"` or
    /// `"127.0.0.1:3000,127.0.0.1:3001"`), in the inventory `namespace`, not 0 (the ledger of
    /// its accounts and transfers and their ids' prefix: every client of one inventory uses the
    /// same one; a new namespace is a new, empty inventory). `clock` only converts timeouts
    /// into receipt instants.
    pub async fn connect(
        cluster_id: u128,
        addresses: &str,
        namespace: u32,
        max_ttl: Duration,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Self, TigerBeetleError> {
        if namespace == 0 {
            return Err(TigerBeetleError::Init(
                "namespace 0: a TigerBeetle ledger is never 0".into(),
            ));
        }
        let client = tb::Client::new(cluster_id, addresses)
            .map_err(|e| TigerBeetleError::Init(format!("{e:?}")))?;
        let operator = |id| tb::Account {
            id,
            ledger: namespace,
            code: CODE_OPERATOR,
            ..Default::default()
        };
        let results = client
            .create_accounts(&[
                operator(ids::operator(namespace)),
                operator(ids::customers(namespace)),
            ])
            .await
            .map_err(request)?;
        for r in results {
            if !matches!(
                r.status,
                CreateAccountStatus::Created | CreateAccountStatus::Exists
            ) {
                return Err(TigerBeetleError::Protocol(format!(
                    "creating the operator accounts: {:?}",
                    r.status
                )));
            }
        }
        Ok(TigerBeetle {
            client,
            namespace,
            clock: clock.unwrap_or_else(|| Arc::new(SystemClock)),
            max_ttl: max_ttl.min(Duration::from_secs(u64::from(u32::MAX))),
            known_items: AtomicU32::new(0),
        })
    }

    /// The timeout for `ttl`: whole seconds, rounded up.
    fn timeout(&self, ttl: Duration) -> Option<u32> {
        if ttl.is_zero() || ttl > self.max_ttl {
            return None;
        }
        u32::try_from(ttl.as_nanos().div_ceil(1_000_000_000)).ok()
    }

    async fn account(&self, item: ItemId) -> Result<Option<tb::Account>, TigerBeetleError> {
        let accounts = self
            .client
            .lookup_accounts(&[ids::item(self.namespace, item.get())])
            .await
            .map_err(request)?;
        Ok(accounts.into_iter().next())
    }

    /// The item's levels: its account's, less what shrinks took off (one request, two
    /// accounts; the shrinkage account exists once the item was first shrunk).
    async fn item_levels(&self, item: ItemId) -> Result<Option<ItemLevels>, TigerBeetleError> {
        let accounts = self
            .client
            .lookup_accounts(&[
                ids::item(self.namespace, item.get()),
                ids::shrunk(self.namespace, item.get()),
            ])
            .await
            .map_err(request)?;
        let Some(account) = accounts.iter().find(|a| a.code == CODE_ITEM) else {
            return Ok(None);
        };
        let shrunk = accounts
            .iter()
            .find(|a| a.code == CODE_SHRUNK)
            .map_or(0, |a| a.credits_posted as i64);
        let mut levels = Self::levels(account);
        levels.received -= shrunk;
        levels.sold -= shrunk;
        Ok(Some(levels))
    }

    async fn known(&self, item: ItemId) -> Result<bool, TigerBeetleError> {
        // Relaxed: a cache of a number that only grows.
        if item.get() < self.known_items.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let known = self.account(item).await?.is_some();
        if known {
            // Relaxed: as above.
            self.known_items
                .fetch_max(item.get() + 1, Ordering::Relaxed);
        }
        Ok(known)
    }

    fn levels(account: &tb::Account) -> ItemLevels {
        let (credits, debits, pending) = (
            account.credits_posted as i64,
            account.debits_posted as i64,
            account.debits_pending as i64,
        );
        ItemLevels {
            available: credits - debits - pending,
            in_flight: 0,
            held: pending,
            sold: debits,
            received: credits,
        }
    }

    async fn register(
        &self,
        initial: i64,
        sku: Option<&str>,
    ) -> Result<ItemId, Failure<CatalogError, TigerBeetleError>> {
        if !(0..=MAX_STOCK).contains(&initial) {
            return Err(Failure::Refused(CatalogError::InvalidQuantity {
                quantity: initial,
            }));
        }
        if let Some(sku) = sku {
            if sku.is_empty() || sku.len() > MAX_SKU_LEN {
                return Err(Failure::Refused(CatalogError::InvalidSku {
                    len: sku.len(),
                }));
            }
        }
        // Ids are dense: claim the first one whose account does not exist yet (the server
        // answers `Exists` for ids another client claimed first).
        // Relaxed: a hint where to start; the server decides which id is free.
        let mut next = self.known_items.load(Ordering::Relaxed);
        loop {
            if next >= MAX_ITEMS {
                return Err(Failure::Refused(CatalogError::CatalogFull {
                    max: MAX_ITEMS,
                }));
            }
            let mut accounts = vec![tb::Account {
                id: ids::item(self.namespace, next),
                ledger: self.namespace,
                code: CODE_ITEM,
                flags: AccountFlags::DebitsMustNotExceedCredits,
                ..Default::default()
            }];
            if let Some(sku) = sku {
                // The item and its SKU's account in one linked chain: both or neither.
                accounts[0].flags = accounts[0].flags | AccountFlags::Linked;
                accounts.push(tb::Account {
                    id: ids::sku(self.namespace, sku),
                    ledger: self.namespace,
                    code: CODE_SKU,
                    user_data_32: next,
                    ..Default::default()
                });
            }
            let results = self
                .client
                .create_accounts(&accounts)
                .await
                .map_err(|e| Failure::Backend(request(e)))?;
            let failed = results
                .iter()
                .enumerate()
                .find(|(_, r)| {
                    !matches!(
                        r.status,
                        CreateAccountStatus::Created | CreateAccountStatus::LinkedEventFailed
                    )
                })
                .map(|(i, r)| (i, r.status));
            match failed {
                None => break,
                Some((0, CreateAccountStatus::Exists)) => next += 1,
                // The SKU's account exists (whatever item it names): the SKU is taken.
                Some((1, _)) if sku.is_some() => {
                    let existing = self
                        .item_of_sku(sku.unwrap_or_default())
                        .await
                        .map_err(Failure::Backend)?;
                    return Err(match existing {
                        Some(existing) => Failure::Refused(CatalogError::DuplicateSku { existing }),
                        None => Failure::Backend(TigerBeetleError::Protocol(format!(
                            "create SKU account: {:?}",
                            results.get(1).map(|r| r.status)
                        ))),
                    });
                }
                Some((_, status)) => {
                    return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                        "create item account: {status:?}"
                    ))))
                }
            }
        }
        // Relaxed: the cache of a number that only grows.
        self.known_items.fetch_max(next + 1, Ordering::Relaxed);
        let item = ItemId::new(next);
        if initial > 0 {
            self.receive(item, initial)
                .await
                .map_err(Failure::Backend)?;
        }
        Ok(item)
    }

    /// The item `sku` names, if it was registered.
    async fn item_of_sku(&self, sku: &str) -> Result<Option<ItemId>, TigerBeetleError> {
        if sku.is_empty() || sku.len() > MAX_SKU_LEN {
            return Ok(None);
        }
        let accounts = self
            .client
            .lookup_accounts(&[ids::sku(self.namespace, sku)])
            .await
            .map_err(request)?;
        Ok(accounts
            .first()
            .filter(|a| a.code == CODE_SKU)
            .map(|a| ItemId::new(a.user_data_32)))
    }

    /// Takes `quantity` available units off `item`, into its shrinkage account (created at the
    /// item's first shrink). The item account's `debits_must_not_exceed_credits` refuses a
    /// shrink of more than is available, held units counted as taken.
    async fn shrink_stock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> Result<(), Failure<AdjustError, TigerBeetleError>> {
        if !self.known(item).await.map_err(Failure::Backend)? {
            return Err(Failure::Refused(AdjustError::UnknownItem { item }));
        }
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(Failure::Refused(AdjustError::InvalidQuantity {
                item,
                quantity,
            }));
        }
        let shrunk = ids::shrunk(self.namespace, item.get());
        let created = self
            .client
            .create_accounts(&[tb::Account {
                id: shrunk,
                ledger: self.namespace,
                code: CODE_SHRUNK,
                ..Default::default()
            }])
            .await
            .map_err(|e| Failure::Backend(request(e)))?;
        if let Some(r) = created.first() {
            if !matches!(
                r.status,
                CreateAccountStatus::Created | CreateAccountStatus::Exists
            ) {
                return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                    "create shrinkage account: {:?}",
                    r.status
                ))));
            }
        }
        let results = self
            .client
            .create_transfers(&[tb::Transfer {
                id: ids::restock(),
                debit_account_id: ids::item(self.namespace, item.get()),
                credit_account_id: shrunk,
                amount: quantity as u128,
                ledger: self.namespace,
                code: CODE_SHRINK,
                ..Default::default()
            }])
            .await
            .map_err(|e| Failure::Backend(request(e)))?;
        match results.first().map(|r| r.status) {
            Some(CreateTransferStatus::Created) => Ok(()),
            Some(CreateTransferStatus::ExceedsCredits) => {
                let available = self
                    .account(item)
                    .await
                    .map_err(Failure::Backend)?
                    .map_or(0, |a| Self::levels(&a).available);
                Err(Failure::Refused(AdjustError::Shortfall {
                    item,
                    requested: quantity,
                    available,
                }))
            }
            other => Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                "shrink: {other:?}"
            )))),
        }
    }

    async fn receive(&self, item: ItemId, quantity: i64) -> Result<(), TigerBeetleError> {
        let results = self
            .client
            .create_transfers(&[tb::Transfer {
                id: ids::restock(),
                debit_account_id: ids::operator(self.namespace),
                credit_account_id: ids::item(self.namespace, item.get()),
                amount: quantity as u128,
                ledger: self.namespace,
                code: CODE_RESTOCK,
                ..Default::default()
            }])
            .await
            .map_err(request)?;
        match results.first().map(|r| r.status) {
            Some(CreateTransferStatus::Created) => Ok(()),
            other => Err(TigerBeetleError::Protocol(format!("restock: {other:?}"))),
        }
    }

    async fn add_stock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> Result<(), Failure<AdjustError, TigerBeetleError>> {
        let Some(account) = self.account(item).await.map_err(Failure::Backend)? else {
            return Err(Failure::Refused(AdjustError::UnknownItem { item }));
        };
        if !(1..=MAX_STOCK).contains(&quantity) {
            return Err(Failure::Refused(AdjustError::InvalidQuantity {
                item,
                quantity,
            }));
        }
        // Checked before the transfer, not atomically with it: racing restocks can pass
        // MAX_STOCK together (the ledger stays exact; only the bound is soft here).
        let levels = Self::levels(&account);
        let on_hand = levels.received - levels.sold;
        if on_hand + quantity > MAX_STOCK {
            return Err(Failure::Refused(AdjustError::Overflow {
                item,
                on_hand,
                quantity,
            }));
        }
        self.receive(item, quantity).await.map_err(Failure::Backend)
    }

    /// Validates and merges lines with the in-process engine's own [`validate_lines`] (so the
    /// same input gets the same error), in ascending item order. Which items exist is asked
    /// first, once per distinct item, of the cache or the cluster.
    async fn canonical(
        &self,
        lines: &[Line],
    ) -> Result<Vec<Line>, Failure<TakeError, TigerBeetleError>> {
        let mut known = BTreeSet::new();
        if lines.len() <= MAX_LINES {
            for line in lines {
                if !known.contains(&line.item)
                    && self.known(line.item).await.map_err(Failure::Backend)?
                {
                    known.insert(line.item);
                }
            }
        }
        validate_lines(lines, |item| known.contains(&item)).map_err(Failure::Refused)
    }

    /// The latest generation of pending transfers of reservation `seq` of `cart`, if any
    /// (whatever became of them since: posted, voided, expired or still pending).
    async fn current(&self, seq: u64, cart: CartId) -> Result<Option<Current>, TigerBeetleError> {
        // Newest first: the latest generation's holds come after every earlier transfer of the
        // reservation (the voids of the generation before are earlier events of their chain),
        // followed at most by their posts or voids. The answer is complete once it is shorter
        // than the limit or reaches an earlier generation; a small first limit keeps the
        // common case cheap (a query reserves reply space for its limit, and so limits how
        // many queries the client can batch into one request).
        let mut transfers = Vec::new();
        for limit in [QUERY_LIMIT_FIRST, QUERY_LIMIT_MAX] {
            transfers = self
                .client
                .query_transfers(tb::QueryFilter {
                    user_data_128: ids::reservation(cart.get(), seq),
                    ledger: self.namespace,
                    code: ids::hold_code(cart.get()),
                    limit,
                    flags: QueryFilterFlags::Reversed,
                    ..Default::default()
                })
                .await
                .map_err(request)?;
            let newest = transfers.iter().map(|t| t.user_data_32).max();
            let complete = transfers.len() < limit as usize
                || transfers.iter().any(|t| Some(t.user_data_32) < newest);
            if complete {
                break;
            }
        }
        // Posts and voids carry their holds' code and user data too: keep the holds.
        let holds: Vec<tb::Transfer> = transfers
            .into_iter()
            .filter(|t| t.flags.0 & TransferFlags::Pending.0 != 0)
            .collect();
        let Some(generation) = holds.iter().map(|t| t.user_data_32).max() else {
            return Ok(None);
        };
        let mut holds: Vec<tb::Transfer> = holds
            .into_iter()
            .filter(|t| t.user_data_32 == generation)
            .collect();
        holds.sort_by_key(|t| t.debit_account_id);
        Ok(Some(Current { generation, holds }))
    }

    /// The cart's latest reservation: its number, and its latest generation if neither posted
    /// nor voided; `None` if the cart never had one. Expiry leaves no transfer behind, so an
    /// expired reservation is reported live; a chain on it fails as expired, and the caller
    /// skips it.
    async fn latest_reservation(
        &self,
        cart: CartId,
    ) -> Result<Option<(u64, Option<Current>)>, TigerBeetleError> {
        let latest = self
            .client
            .query_transfers(tb::QueryFilter {
                user_data_64: cart.get(),
                ledger: self.namespace,
                code: ids::hold_code(cart.get()),
                limit: 1,
                flags: QueryFilterFlags::Reversed,
                ..Default::default()
            })
            .await
            .map_err(request)?;
        let Some(latest) = latest.first() else {
            return Ok(None);
        };
        let seq = latest.user_data_128 as u64;
        let Some(current) = self.current(seq, cart).await? else {
            return Ok(Some((seq, None)));
        };
        // A generation is posted or voided as a unit (one linked chain): its first hold tells.
        let first = current.holds[0].id;
        let resolved = self
            .client
            .lookup_transfers(&[ids::post(first), ids::void(first)])
            .await
            .map_err(request)?;
        Ok(Some((seq, resolved.is_empty().then_some(current))))
    }

    /// The zero-amount transfer that claims number `seq` for a reservation of `cart`: its id
    /// is derived from the cart and the number, so of two reserves racing to create the
    /// cart's next reservation, one creates it and the other is answered `Exists`.
    fn anchor(&self, cart: CartId, seq: u64) -> tb::Transfer {
        tb::Transfer {
            id: ids::anchor(self.namespace, cart.get(), seq),
            debit_account_id: ids::operator(self.namespace),
            credit_account_id: ids::customers(self.namespace),
            amount: 0,
            user_data_128: ids::reservation(cart.get(), seq),
            user_data_64: cart.get(),
            ledger: self.namespace,
            code: ids::CODE_ANCHOR,
            ..Default::default()
        }
    }

    fn hold(
        &self,
        cart: CartId,
        seq: u64,
        generation: u32,
        line: Line,
        timeout: u32,
    ) -> tb::Transfer {
        tb::Transfer {
            id: ids::hold(),
            debit_account_id: ids::item(self.namespace, line.item.get()),
            credit_account_id: ids::customers(self.namespace),
            amount: line.quantity as u128,
            user_data_128: ids::reservation(cart.get(), seq),
            user_data_64: cart.get(),
            user_data_32: generation,
            timeout,
            ledger: self.namespace,
            code: ids::hold_code(cart.get()),
            flags: TransferFlags::Pending,
            ..Default::default()
        }
    }

    /// The posts or voids of every hold of `current`, unlinked.
    fn resolve(current: &Current, kind: Kind) -> Vec<tb::Transfer> {
        current
            .holds
            .iter()
            .map(|h| tb::Transfer {
                id: match kind {
                    Kind::Post => ids::post(h.id),
                    Kind::Void => ids::void(h.id),
                },
                debit_account_id: h.debit_account_id,
                credit_account_id: h.credit_account_id,
                amount: h.amount,
                pending_id: h.id,
                user_data_128: h.user_data_128,
                user_data_64: h.user_data_64,
                user_data_32: h.user_data_32,
                // A post or void must repeat the pending transfer's ledger and code (or leave
                // them zero); the server stores the pending transfer's either way.
                ledger: h.ledger,
                code: h.code,
                flags: match kind {
                    Kind::Post => TransferFlags::PostPendingTransfer,
                    Kind::Void => TransferFlags::VoidPendingTransfer,
                },
                ..Default::default()
            })
            .collect()
    }

    /// The lines a generation holds.
    fn lines_of(current: &Current) -> Vec<Line> {
        current
            .holds
            .iter()
            .map(|h| {
                Line::new(
                    ItemId::new(ids::item_of(h.debit_account_id)),
                    h.amount as i64,
                )
            })
            .collect()
    }

    /// What a failed post or void of an existing generation means.
    fn settled(status: CreateTransferStatus, kind: Kind) -> Result<Settled, TigerBeetleError> {
        Ok(match status {
            CreateTransferStatus::PendingTransferAlreadyPosted => {
                Settled::Ended(ReservationError::Confirmed)
            }
            CreateTransferStatus::PendingTransferExpired => {
                Settled::Ended(ReservationError::Expired)
            }
            CreateTransferStatus::PendingTransferAlreadyVoided => Settled::Voided,
            // Our own ids exist: this post or void was applied before. Only the `linked` flag
            // can differ (a one-line release is a chain of one, unlinked; an extend's voids
            // are linked to its holds).
            CreateTransferStatus::Exists | CreateTransferStatus::ExistsWithDifferentFlags
                if kind == Kind::Post =>
            {
                Settled::Posted
            }
            CreateTransferStatus::Exists | CreateTransferStatus::ExistsWithDifferentFlags => {
                Settled::Voided
            }
            other => return Err(TigerBeetleError::Protocol(format!("{other:?}"))),
        })
    }

    /// The shortfall to report for `line` (the server refused its hold): the units available
    /// when read after the refusal.
    async fn shortfall(&self, line: Line) -> Failure<ReserveError, TigerBeetleError> {
        match self.account(line.item).await {
            Ok(account) => Failure::Refused(ReserveError::Stock(TakeError::Shortfall {
                item: line.item,
                requested: line.quantity,
                available: account.map_or(0, |a| Self::levels(&a).available),
            })),
            Err(e) => Failure::Backend(e),
        }
    }

    /// A reserve (`Update::Add`) or a cart update (`Update::Set`) for `cart`.
    async fn update(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
        update: Update,
    ) -> Result<Receipt, Failure<ReserveError, TigerBeetleError>> {
        let timeout = self
            .timeout(ttl)
            .ok_or(Failure::Refused(ReserveError::InvalidTtl { ttl }))?;
        let lines = self.canonical(lines).await.map_err(|f| match f {
            Failure::Refused(e) => Failure::Refused(ReserveError::Stock(e)),
            Failure::Backend(b) => Failure::Backend(b),
        })?;
        let start = self.clock.now();
        let receipt = |seq| Receipt {
            id: ReservationId::new(cart, seq, self.namespace),
            deadline: start + Duration::from_secs(u64::from(timeout)),
        };
        // A generation found live whose void failed: it ended meanwhile (expired, say).
        let mut ended: Option<(u64, u32)> = None;
        for _ in 0..MAX_ATTEMPTS {
            let latest = self
                .latest_reservation(cart)
                .await
                .map_err(Failure::Backend)?;
            let last = latest.as_ref().map_or(0, |(seq, _)| *seq);
            let live = latest
                .and_then(|(seq, current)| current.map(|c| (seq, c)))
                .filter(|(seq, current)| ended != Some((*seq, current.generation)));
            let Some((seq, current)) = live else {
                // A new reservation, the cart's next: its anchor and its holds, one linked chain.
                let seq = last + 1;
                if seq > ids::MAX_RESERVATIONS_PER_CART {
                    return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                        "{cart} has had {} reservations, the most a cart can",
                        ids::MAX_RESERVATIONS_PER_CART
                    ))));
                }
                let mut chain = vec![self.anchor(cart, seq)];
                for &line in &lines {
                    chain.push(self.hold(cart, seq, 0, line, timeout));
                }
                link(&mut chain);
                let results = self
                    .client
                    .create_transfers(&chain)
                    .await
                    .map_err(|e| Failure::Backend(request(e)))?;
                match first_failure(&results) {
                    None => return Ok(receipt(seq)),
                    Some((k, CreateTransferStatus::ExceedsCredits)) if k > 0 => {
                        return Err(self.shortfall(lines[k - 1]).await)
                    }
                    // Another reserve created the cart's next reservation first: add to it.
                    Some((0, CreateTransferStatus::Exists)) => continue,
                    Some((_, status)) => {
                        return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                            "reserve: {status:?}"
                        ))))
                    }
                }
            };
            // The cart holds a live reservation: the lines are added to it, or replace its
            // lines. Void its holds and hold the new lines, in one linked chain.
            let held = Self::lines_of(&current);
            let mut merged: BTreeMap<ItemId, i64> = BTreeMap::new();
            let kept: &[Line] = if update == Update::Add { &held } else { &[] };
            for line in kept.iter().chain(&lines) {
                *merged.entry(line.item).or_insert(0) += line.quantity;
            }
            let overflow = merged.iter().find(|(_, &q)| q > MAX_LINE_QUANTITY);
            let refusal = match overflow {
                Some((&item, _)) => Some(TakeError::QuantityOverflow { item }),
                None if merged.len() > MAX_LINES => Some(TakeError::TooManyLines {
                    lines: merged.len(),
                    max: MAX_LINES,
                }),
                None => None,
            };
            if let Some(refusal) = refusal {
                // As the in-process engine: a shortfall of the added lines comes first.
                for &line in &lines {
                    let account = self.account(line.item).await.map_err(Failure::Backend)?;
                    if account.is_some_and(|a| Self::levels(&a).available < line.quantity) {
                        return Err(self.shortfall(line).await);
                    }
                }
                return Err(Failure::Refused(ReserveError::Stock(refusal)));
            }
            let mut chain = Self::resolve(&current, Kind::Void);
            let voids = chain.len();
            for (&item, &quantity) in &merged {
                let line = Line::new(item, quantity);
                chain.push(self.hold(cart, seq, current.generation + 1, line, timeout));
            }
            link(&mut chain);
            let results = self
                .client
                .create_transfers(&chain)
                .await
                .map_err(|e| Failure::Backend(request(e)))?;
            match first_failure(&results) {
                None => return Ok(receipt(seq)),
                Some((k, CreateTransferStatus::ExceedsCredits)) if k >= voids => {
                    // As in the in-process engine, the shortfall names what was to be added:
                    // a reserve's line, or what a cart update wants beyond what was held.
                    let item = ItemId::new(ids::item_of(chain[k].debit_account_id));
                    let had = held
                        .iter()
                        .find(|l| l.item == item)
                        .map_or(0, |l| l.quantity);
                    let added = match update {
                        Update::Add => lines.iter().find(|l| l.item == item).copied(),
                        Update::Set => merged
                            .get(&item)
                            .filter(|&&wanted| wanted > had)
                            .map(|&wanted| Line::new(item, wanted - had)),
                    };
                    let added = added.ok_or_else(|| {
                        Failure::Backend(TigerBeetleError::Protocol(format!(
                            "re-holding {item}, which no line adds, exceeded its stock"
                        )))
                    })?;
                    return Err(self.shortfall(added).await);
                }
                Some((k, status)) if k < voids => {
                    match Self::settled(status, Kind::Void).map_err(Failure::Backend)? {
                        // Superseded by an extend or added lines: the next attempt finds the
                        // newer generation. Released: the next finds no live reservation.
                        Settled::Voided => {}
                        Settled::Ended(_) | Settled::Posted => {
                            ended = Some((seq, current.generation));
                        }
                    }
                }
                Some((_, status)) => {
                    return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                        "reserve: {status:?}"
                    ))))
                }
            }
        }
        Err(Failure::Backend(TigerBeetleError::Protocol(format!(
            "reserve for {cart}: its reservation changed under {MAX_ATTEMPTS} attempts"
        ))))
    }

    /// Posts or voids the reservation's current holds, as one chain: `Ok(true)` if this call
    /// did, `Ok(false)` if its posts existed already, else why not.
    async fn resolve_all(
        &self,
        id: ReservationId,
        kind: Kind,
    ) -> Result<Result<bool, ReservationError>, TigerBeetleError> {
        if id.tag() != self.namespace {
            return Ok(Err(ReservationError::Unknown));
        }
        let mut voided = None;
        for _ in 0..MAX_ATTEMPTS {
            let Some(current) = self.current(id.seq(), id.cart()).await? else {
                return Ok(Err(ReservationError::Unknown));
            };
            if voided == Some(current.generation) {
                // Voided, and no newer generation: released.
                return Ok(Err(ReservationError::Released));
            }
            let mut chain = Self::resolve(&current, kind);
            link(&mut chain);
            let results = self
                .client
                .create_transfers(&chain)
                .await
                .map_err(request)?;
            let Some((_, status)) = first_failure(&results) else {
                return Ok(Ok(true));
            };
            match Self::settled(status, kind)? {
                Settled::Ended(e) => return Ok(Err(e)),
                Settled::Posted => return Ok(Ok(false)),
                // Released, or superseded by an extend: the next look tells which.
                Settled::Voided => voided = Some(current.generation),
            }
        }
        Err(TigerBeetleError::Protocol(format!(
            "{id}: its reservation changed under {MAX_ATTEMPTS} attempts"
        )))
    }

    async fn confirm_reservation(
        &self,
        id: ReservationId,
    ) -> Result<Confirmation, Failure<ReservationError, TigerBeetleError>> {
        match self
            .resolve_all(id, Kind::Post)
            .await
            .map_err(Failure::Backend)?
        {
            Ok(true) => Ok(Confirmation::Confirmed),
            Ok(false) | Err(ReservationError::Confirmed) => Ok(Confirmation::AlreadyConfirmed),
            Err(e) => Err(Failure::Refused(e)),
        }
    }

    async fn release_reservation(
        &self,
        id: ReservationId,
    ) -> Result<(), Failure<ReservationError, TigerBeetleError>> {
        match self
            .resolve_all(id, Kind::Void)
            .await
            .map_err(Failure::Backend)?
        {
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::Refused(e)),
        }
    }

    async fn extend_reservation(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReservationError, TigerBeetleError>> {
        let timeout = self
            .timeout(ttl)
            .ok_or(Failure::Refused(ReservationError::InvalidTtl { ttl }))?;
        if id.tag() != self.namespace {
            return Err(Failure::Refused(ReservationError::Unknown));
        }
        let start = self.clock.now();
        let mut voided = None;
        for _ in 0..MAX_ATTEMPTS {
            let Some(current) = self
                .current(id.seq(), id.cart())
                .await
                .map_err(Failure::Backend)?
            else {
                return Err(Failure::Refused(ReservationError::Unknown));
            };
            if voided == Some(current.generation) {
                return Err(Failure::Refused(ReservationError::Released));
            }
            // Void and re-pend in one linked chain: the hold never lapses, and never doubles.
            let mut chain = Self::resolve(&current, Kind::Void);
            let voids = chain.len();
            for line in Self::lines_of(&current) {
                chain.push(self.hold(id.cart(), id.seq(), current.generation + 1, line, timeout));
            }
            link(&mut chain);
            let results = self
                .client
                .create_transfers(&chain)
                .await
                .map_err(|e| Failure::Backend(request(e)))?;
            let Some((k, status)) = first_failure(&results) else {
                return Ok(Receipt {
                    id,
                    deadline: start + Duration::from_secs(u64::from(timeout)),
                });
            };
            if k >= voids {
                return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                    "extend: re-holding what was just voided: {status:?}"
                ))));
            }
            match Self::settled(status, Kind::Void).map_err(Failure::Backend)? {
                Settled::Ended(e) => return Err(Failure::Refused(e)),
                Settled::Posted => return Err(Failure::Refused(ReservationError::Confirmed)),
                Settled::Voided => voided = Some(current.generation),
            }
        }
        Err(Failure::Backend(TigerBeetleError::Protocol(format!(
            "{id}: its reservation changed under {MAX_ATTEMPTS} attempts"
        ))))
    }
}

impl TigerBeetle {
    /// The id of `cart`'s live reservation, if its latest generation is neither posted nor
    /// voided (an expired one still counts: the verb that acts on it finds it expired).
    async fn live_id(&self, cart: CartId) -> Result<Option<ReservationId>, TigerBeetleError> {
        Ok(match self.latest_reservation(cart).await? {
            Some((seq, Some(_))) => Some(ReservationId::new(cart, seq, self.namespace)),
            _ => None,
        })
    }

    /// Runs a verb on `cart`'s live reservation. The server expires holds by itself at their
    /// timeout, like a reaper that never falls behind: a cart whose reservation expired has
    /// none, as in the in-process engine once its reaper ran.
    async fn on_cart<T, F, Fut>(
        &self,
        cart: CartId,
        verb: F,
    ) -> Result<T, Failure<ReservationError, TigerBeetleError>>
    where
        F: FnOnce(ReservationId) -> Fut,
        Fut: Future<Output = Result<T, Failure<ReservationError, TigerBeetleError>>>,
    {
        let none = || Failure::Refused(ReservationError::NoReservation { cart });
        let id = self
            .live_id(cart)
            .await
            .map_err(Failure::Backend)?
            .ok_or_else(none)?;
        match verb(id).await {
            Err(Failure::Refused(ReservationError::Expired)) => Err(none()),
            other => other,
        }
    }

    /// Where reservation `id` stands, asked of the server without changing anything: a chain
    /// of the void of its latest generation's first hold and an event that always fails (id
    /// zero). The chain is never applied; the void's own answer says whether it would have
    /// gone through (held), or why not (posted, voided, expired).
    async fn status_of(
        &self,
        id: ReservationId,
    ) -> Result<ReservationState, Failure<ReservationError, TigerBeetleError>> {
        if id.tag() != self.namespace {
            return Err(Failure::Refused(ReservationError::Unknown));
        }
        let Some(current) = self
            .current(id.seq(), id.cart())
            .await
            .map_err(Failure::Backend)?
        else {
            return Err(Failure::Refused(ReservationError::Unknown));
        };
        let mut probe = Self::resolve(&current, Kind::Void);
        probe.truncate(1);
        probe.push(tb::Transfer::default());
        link(&mut probe);
        let results = self
            .client
            .create_transfers(&probe)
            .await
            .map_err(|e| Failure::Backend(request(e)))?;
        let first = results.first().map(|r| r.status);
        Ok(match first {
            Some(CreateTransferStatus::LinkedEventFailed) => ReservationState::Held,
            Some(CreateTransferStatus::PendingTransferAlreadyPosted) => ReservationState::Confirmed,
            Some(CreateTransferStatus::PendingTransferExpired) => ReservationState::Expired,
            // Voided by a release (the latest generation is never voided by anything else), or
            // by this very void's id, which only a release or a release of every line sends.
            Some(
                CreateTransferStatus::PendingTransferAlreadyVoided
                | CreateTransferStatus::Exists
                | CreateTransferStatus::ExistsWithDifferentFlags,
            ) => ReservationState::Released,
            other => {
                return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                    "status probe: {other:?}"
                ))))
            }
        })
    }

    /// Gives back `lines` of reservation `id`: voids its latest generation and holds what is
    /// left as the next, in one linked chain, until the same deadline (rounded up to the next
    /// second: the server's timeouts are whole seconds). Every line must be held in full;
    /// giving back everything releases the reservation.
    async fn release_some(
        &self,
        id: ReservationId,
        lines: &[Line],
    ) -> Result<(), Failure<ReservationError, TigerBeetleError>> {
        let released = self.canonical(lines).await.map_err(|f| match f {
            Failure::Refused(e) => Failure::Refused(ReservationError::Lines(e)),
            Failure::Backend(b) => Failure::Backend(b),
        })?;
        if id.tag() != self.namespace {
            return Err(Failure::Refused(ReservationError::Unknown));
        }
        let mut voided = None;
        for _ in 0..MAX_ATTEMPTS {
            let Some(current) = self
                .current(id.seq(), id.cart())
                .await
                .map_err(Failure::Backend)?
            else {
                return Err(Failure::Refused(ReservationError::Unknown));
            };
            if voided == Some(current.generation) {
                return Err(Failure::Refused(ReservationError::Released));
            }
            let held = Self::lines_of(&current);
            let mut remaining: BTreeMap<ItemId, i64> =
                held.iter().map(|l| (l.item, l.quantity)).collect();
            for line in &released {
                let have = remaining.get(&line.item).copied().unwrap_or(0);
                if line.quantity > have {
                    // A finished reservation holds nothing: say how it finished, as the
                    // in-process engine does before it compares lines.
                    return Err(Failure::Refused(match self.status_of(id).await? {
                        ReservationState::Held => ReservationError::NotHeld {
                            item: line.item,
                            requested: line.quantity,
                            held: have,
                        },
                        ReservationState::Confirmed => ReservationError::Confirmed,
                        ReservationState::Released => ReservationError::Released,
                        _ => ReservationError::Expired,
                    }));
                }
                if line.quantity == have {
                    remaining.remove(&line.item);
                } else {
                    remaining.insert(line.item, have - line.quantity);
                }
            }
            if remaining.is_empty() {
                return self.release_reservation(id).await;
            }
            let timeout = Self::time_left(&current);
            let mut chain = Self::resolve(&current, Kind::Void);
            let voids = chain.len();
            for (&item, &quantity) in &remaining {
                let line = Line::new(item, quantity);
                chain.push(self.hold(id.cart(), id.seq(), current.generation + 1, line, timeout));
            }
            link(&mut chain);
            let results = self
                .client
                .create_transfers(&chain)
                .await
                .map_err(|e| Failure::Backend(request(e)))?;
            let Some((k, status)) = first_failure(&results) else {
                return Ok(());
            };
            if k >= voids {
                return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                    "release_lines: re-holding part of what was just voided: {status:?}"
                ))));
            }
            match Self::settled(status, Kind::Void).map_err(Failure::Backend)? {
                Settled::Ended(e) => return Err(Failure::Refused(e)),
                Settled::Posted => return Err(Failure::Refused(ReservationError::Confirmed)),
                Settled::Voided => voided = Some(current.generation),
            }
        }
        Err(Failure::Backend(TigerBeetleError::Protocol(format!(
            "{id}: its reservation changed under {MAX_ATTEMPTS} attempts"
        ))))
    }

    /// Whole seconds from now (this client's clock) to the deadline of `current`'s holds,
    /// rounded up, at least 1 (a timeout of 0 would mean none). A deadline already passed
    /// makes the chain's voids fail as expired, so the new holds are never created.
    fn time_left(current: &Current) -> u32 {
        let hold = &current.holds[0];
        let deadline_ns = u128::from(hold.timestamp) + u128::from(hold.timeout) * 1_000_000_000;
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let left = deadline_ns.saturating_sub(now_ns).div_ceil(1_000_000_000);
        u32::try_from(left).unwrap_or(u32::MAX).max(1)
    }
}

impl Backend for TigerBeetle {
    type Error = TigerBeetleError;

    fn name(&self) -> &str {
        "tigerbeetle"
    }

    fn register_item(
        &self,
        initial: i64,
    ) -> impl Future<Output = Result<ItemId, Failure<CatalogError, TigerBeetleError>>> + Send {
        self.register(initial, None)
    }

    fn restock(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, TigerBeetleError>>> + Send {
        self.add_stock(item, quantity)
    }

    fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, TigerBeetleError>>> + Send {
        let lines = lines.to_vec();
        async move { self.update(cart, &lines, ttl, Update::Add).await }
    }

    fn confirm(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, TigerBeetleError>>> + Send
    {
        self.confirm_reservation(id)
    }

    fn release(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, TigerBeetleError>>> + Send {
        self.release_reservation(id)
    }

    fn extend(
        &self,
        id: ReservationId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReservationError, TigerBeetleError>>> + Send
    {
        self.extend_reservation(id, ttl)
    }

    /// The server expires pending transfers at their timeout by itself: nothing to do here.
    fn expire_due(&self) -> impl Future<Output = Result<usize, TigerBeetleError>> + Send {
        std::future::ready(Ok(0))
    }

    fn item(
        &self,
        item: ItemId,
    ) -> impl Future<Output = Result<Option<ItemLevels>, TigerBeetleError>> + Send {
        self.item_levels(item)
    }

    fn register_sku(
        &self,
        sku: &str,
        initial: i64,
    ) -> impl Future<Output = Result<ItemId, Failure<CatalogError, TigerBeetleError>>> + Send {
        let sku = sku.to_owned();
        async move { self.register(initial, Some(&sku)).await }
    }

    fn item_by_sku(
        &self,
        sku: &str,
    ) -> impl Future<Output = Result<Option<ItemId>, TigerBeetleError>> + Send {
        let sku = sku.to_owned();
        async move { self.item_of_sku(&sku).await }
    }

    fn shrink(
        &self,
        item: ItemId,
        quantity: i64,
    ) -> impl Future<Output = Result<(), Failure<AdjustError, TigerBeetleError>>> + Send {
        self.shrink_stock(item, quantity)
    }

    fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> impl Future<Output = Result<Receipt, Failure<ReserveError, TigerBeetleError>>> + Send {
        let lines = lines.to_vec();
        async move { self.update(cart, &lines, ttl, Update::Set).await }
    }

    fn confirm_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<Confirmation, Failure<ReservationError, TigerBeetleError>>> + Send
    {
        self.on_cart(cart, move |id| self.confirm_reservation(id))
    }

    fn release_cart(
        &self,
        cart: CartId,
    ) -> impl Future<Output = Result<(), Failure<ReservationError, TigerBeetleError>>> + Send {
        self.on_cart(cart, move |id| self.release_reservation(id))
    }

    fn release_lines(
        &self,
        id: ReservationId,
        lines: &[Line],
    ) -> impl Future<Output = Result<(), Failure<ReservationError, TigerBeetleError>>> + Send {
        let lines = lines.to_vec();
        async move { self.release_some(id, &lines).await }
    }

    async fn extend_cart(
        &self,
        cart: CartId,
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReservationError, TigerBeetleError>> {
        if self.timeout(ttl).is_none() {
            return Err(Failure::Refused(ReservationError::InvalidTtl { ttl }));
        }
        self.on_cart(cart, move |id| self.extend_reservation(id, ttl))
            .await
    }

    fn status(
        &self,
        id: ReservationId,
    ) -> impl Future<Output = Result<ReservationState, Failure<ReservationError, TigerBeetleError>>> + Send
    {
        self.status_of(id)
    }
}
