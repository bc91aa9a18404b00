//! [`TigerBeetle`]: the [`Backend`] verbs as TigerBeetle requests (see the crate docs).

use crate::ids::{self, Kind, CODE_HOLD, CODE_ITEM, CODE_OPERATOR, CODE_POST, CODE_RESTOCK};
use crate::ids::{CODE_VOID, LEDGER};
use atomic_stock::limits::{MAX_ITEMS, MAX_LINES, MAX_LINE_QUANTITY, MAX_STOCK};
use atomic_stock::{
    AdjustError, Backend, CartId, CatalogError, Clock, Confirmation, Failure, ItemId, ItemLevels,
    Line, Receipt, ReservationError, ReservationId, ReserveError, SystemClock, TakeError,
};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
    namespace: u64,
    tag: u32,
    clock: Arc<dyn Clock>,
    max_ttl: Duration,
    /// Random high half of every reservation seq this client issues.
    instance: u64,
    counter: AtomicU64,
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

/// The live lines of a reservation: its latest generation of pending transfers.
struct Current {
    generation: u32,
    holds: Vec<tb::Transfer>,
}

impl TigerBeetle {
    /// Connects to the cluster `cluster_id` at `addresses` (e.g. `"3000"` or
    /// `"127.0.0.1:3000,127.0.0.1:3001"`), in the inventory `namespace` (its accounts' id
    /// prefix: every client of one inventory uses the same one; a new namespace is a new, empty
    /// inventory). `clock` only converts timeouts into receipt instants.
    pub async fn connect(
        cluster_id: u128,
        addresses: &str,
        namespace: u64,
        max_ttl: Duration,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Self, TigerBeetleError> {
        let client = tb::Client::new(cluster_id, addresses)
            .map_err(|e| TigerBeetleError::Init(format!("{e:?}")))?;
        let operator = |id| tb::Account {
            id,
            ledger: LEDGER,
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
        let instance = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(namespace);
            h.finish() | 1
        };
        Ok(TigerBeetle {
            client,
            namespace,
            tag: (namespace ^ (namespace >> 32)) as u32,
            clock: clock.unwrap_or_else(|| Arc::new(SystemClock)),
            max_ttl: max_ttl.min(Duration::from_secs(u64::from(u32::MAX))),
            instance,
            counter: AtomicU64::new(1),
            known_items: AtomicU32::new(0),
        })
    }

    fn next_seq(&self) -> u64 {
        // Relaxed: a unique number; nothing to order.
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (self.instance << 32) ^ n
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

    async fn item_levels(&self, item: ItemId) -> Result<Option<ItemLevels>, TigerBeetleError> {
        Ok(self.account(item).await?.as_ref().map(Self::levels))
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
    ) -> Result<ItemId, Failure<CatalogError, TigerBeetleError>> {
        if !(0..=MAX_STOCK).contains(&initial) {
            return Err(Failure::Refused(CatalogError::InvalidQuantity {
                quantity: initial,
            }));
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
            let results = self
                .client
                .create_accounts(&[tb::Account {
                    id: ids::item(self.namespace, next),
                    ledger: LEDGER,
                    code: CODE_ITEM,
                    flags: AccountFlags::DebitsMustNotExceedCredits,
                    ..Default::default()
                }])
                .await
                .map_err(|e| Failure::Backend(request(e)))?;
            match results.first().map(|r| r.status) {
                Some(CreateAccountStatus::Created) => break,
                Some(CreateAccountStatus::Exists) => next += 1,
                other => {
                    return Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                        "create item account: {other:?}"
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

    async fn receive(&self, item: ItemId, quantity: i64) -> Result<(), TigerBeetleError> {
        let results = self
            .client
            .create_transfers(&[tb::Transfer {
                id: tb::id(),
                debit_account_id: ids::operator(self.namespace),
                credit_account_id: ids::item(self.namespace, item.get()),
                amount: quantity as u128,
                ledger: LEDGER,
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

    /// Validates and merges lines exactly as the in-process engine does.
    async fn canonical(
        &self,
        lines: &[Line],
    ) -> Result<Vec<Line>, Failure<TakeError, TigerBeetleError>> {
        if lines.is_empty() {
            return Err(Failure::Refused(TakeError::EmptyCart));
        }
        if lines.len() > MAX_LINES {
            return Err(Failure::Refused(TakeError::TooManyLines {
                lines: lines.len(),
                max: MAX_LINES,
            }));
        }
        for line in lines {
            if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
                return Err(Failure::Refused(TakeError::InvalidQuantity {
                    item: line.item,
                    quantity: line.quantity,
                }));
            }
            if !self.known(line.item).await.map_err(Failure::Backend)? {
                return Err(Failure::Refused(TakeError::UnknownItem { item: line.item }));
            }
        }
        let mut merged: BTreeMap<ItemId, i64> = BTreeMap::new();
        for line in lines {
            *merged.entry(line.item).or_insert(0) += line.quantity;
        }
        if let Some((&item, _)) = merged.iter().find(|(_, &q)| q > MAX_LINE_QUANTITY) {
            return Err(Failure::Refused(TakeError::QuantityOverflow { item }));
        }
        Ok(merged.into_iter().map(|(i, q)| Line::new(i, q)).collect())
    }

    /// The latest generation of pending transfers of `seq` (for `cart`), if any.
    async fn current(&self, seq: u64, cart: CartId) -> Result<Option<Current>, TigerBeetleError> {
        let holds = self
            .client
            .query_transfers(tb::QueryFilter {
                user_data_128: u128::from(seq),
                ledger: LEDGER,
                code: CODE_HOLD,
                limit: MAX_LINES as u32 * 4,
                flags: QueryFilterFlags::Reversed,
                ..Default::default()
            })
            .await
            .map_err(request)?;
        let Some(generation) = holds.iter().map(|t| t.user_data_32).max() else {
            return Ok(None);
        };
        let mut holds: Vec<tb::Transfer> = holds
            .into_iter()
            .filter(|t| t.user_data_32 == generation && t.user_data_64 == cart.get())
            .collect();
        if holds.is_empty() {
            return Ok(None);
        }
        holds.sort_by_key(|t| t.id);
        Ok(Some(Current { generation, holds }))
    }

    /// The cart's live reservation, if its latest holds are neither posted nor voided (expiry
    /// is the server's; a chain on an expired hold fails as expired and is retried as new).
    async fn live_reservation(
        &self,
        cart: CartId,
    ) -> Result<Option<(u64, Current)>, TigerBeetleError> {
        let latest = self
            .client
            .query_transfers(tb::QueryFilter {
                user_data_64: cart.get(),
                ledger: LEDGER,
                code: CODE_HOLD,
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
            return Ok(None);
        };
        let first = &current.holds[0];
        let line = (first.id & 0xFFFF) as u16;
        let resolved = self
            .client
            .lookup_transfers(&[
                ids::transfer(seq, current.generation, Kind::Post, line),
                ids::transfer(seq, current.generation, Kind::Void, line),
            ])
            .await
            .map_err(request)?;
        Ok(resolved.is_empty().then_some((seq, current)))
    }

    fn hold(
        &self,
        cart: CartId,
        seq: u64,
        generation: u32,
        k: usize,
        line: Line,
        timeout: u32,
    ) -> tb::Transfer {
        tb::Transfer {
            id: ids::transfer(seq, generation, Kind::Hold, k as u16),
            debit_account_id: ids::item(self.namespace, line.item.get()),
            credit_account_id: ids::customers(self.namespace),
            amount: line.quantity as u128,
            user_data_128: u128::from(seq),
            user_data_64: cart.get(),
            user_data_32: generation,
            timeout,
            ledger: LEDGER,
            code: CODE_HOLD,
            flags: TransferFlags::Pending,
            ..Default::default()
        }
    }

    fn resolve(&self, seq: u64, current: &Current, kind: Kind) -> Vec<tb::Transfer> {
        current
            .holds
            .iter()
            .map(|h| {
                let line = (h.id & 0xFFFF) as u16;
                tb::Transfer {
                    id: ids::transfer(seq, current.generation, kind, line),
                    debit_account_id: h.debit_account_id,
                    credit_account_id: h.credit_account_id,
                    amount: h.amount,
                    pending_id: h.id,
                    user_data_128: h.user_data_128,
                    user_data_64: h.user_data_64,
                    user_data_32: h.user_data_32,
                    ledger: LEDGER,
                    code: match kind {
                        Kind::Post => CODE_POST,
                        _ => CODE_VOID,
                    },
                    flags: match kind {
                        Kind::Post => TransferFlags::PostPendingTransfer,
                        _ => TransferFlags::VoidPendingTransfer,
                    },
                    ..Default::default()
                }
            })
            .collect()
    }

    /// A refusal for a chain on an existing reservation that failed with `status`.
    fn refusal(
        status: CreateTransferStatus,
        posting: bool,
    ) -> Result<Option<ReservationError>, TigerBeetleError> {
        Ok(Some(match status {
            CreateTransferStatus::PendingTransferAlreadyPosted => ReservationError::Confirmed,
            CreateTransferStatus::PendingTransferAlreadyVoided => ReservationError::Released,
            CreateTransferStatus::PendingTransferExpired => ReservationError::Expired,
            CreateTransferStatus::Exists if posting => return Ok(None),
            CreateTransferStatus::Exists => ReservationError::Released,
            other => return Err(TigerBeetleError::Protocol(format!("{other:?}"))),
        }))
    }

    async fn reserve_lines(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReserveError, TigerBeetleError>> {
        let timeout = self
            .timeout(ttl)
            .ok_or(Failure::Refused(ReserveError::InvalidTtl { ttl }))?;
        let lines = self.canonical(lines).await.map_err(|f| match f {
            Failure::Refused(e) => Failure::Refused(ReserveError::Stock(e)),
            Failure::Backend(b) => Failure::Backend(b),
        })?;
        let start = self.clock.now();
        // A cart holding a live reservation gets the lines added: void its holds and hold the
        // merged lines anew, in one linked chain.
        let live = self
            .live_reservation(cart)
            .await
            .map_err(Failure::Backend)?;
        let (seq, generation, mut chain, wanted) = match &live {
            Some((seq, current)) => {
                let mut merged: BTreeMap<ItemId, i64> = BTreeMap::new();
                for h in &current.holds {
                    let item = ItemId::new((h.debit_account_id & 0xFFFF_FFFF) as u32);
                    *merged.entry(item).or_insert(0) += h.amount as i64;
                }
                for line in &lines {
                    *merged.entry(line.item).or_insert(0) += line.quantity;
                }
                if let Some((&item, _)) = merged.iter().find(|(_, &q)| q > MAX_LINE_QUANTITY) {
                    return Err(Failure::Refused(ReserveError::Stock(
                        TakeError::QuantityOverflow { item },
                    )));
                }
                let wanted: Vec<Line> = merged.into_iter().map(|(i, q)| Line::new(i, q)).collect();
                (
                    *seq,
                    current.generation + 1,
                    self.resolve(*seq, current, Kind::Void),
                    wanted,
                )
            }
            None => (self.next_seq(), 0, Vec::new(), lines.clone()),
        };
        let voids = chain.len();
        for (k, line) in wanted.iter().enumerate() {
            chain.push(self.hold(cart, seq, generation, k, *line, timeout));
        }
        link(&mut chain);
        let results = self
            .client
            .create_transfers(&chain)
            .await
            .map_err(|e| Failure::Backend(request(e)))?;
        match first_failure(&results) {
            None => Ok(Receipt {
                id: ReservationId::new(cart, seq, self.tag),
                deadline: start + Duration::from_secs(u64::from(timeout)),
            }),
            Some((k, CreateTransferStatus::ExceedsCredits)) if k >= voids => {
                let line = wanted[k - voids];
                let account = self
                    .account(line.item)
                    .await
                    .map_err(Failure::Backend)?
                    .ok_or_else(|| {
                        Failure::Backend(TigerBeetleError::Protocol("item vanished".into()))
                    })?;
                Err(Failure::Refused(ReserveError::Stock(
                    TakeError::Shortfall {
                        item: line.item,
                        requested: line.quantity,
                        available: Self::levels(&account).available,
                    },
                )))
            }
            // The live reservation was decided meanwhile (or expired): reserve anew.
            Some((k, _)) if k < voids => Box::pin(self.reserve_new(cart, &lines, ttl)).await,
            Some((_, status)) => Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                "reserve: {status:?}"
            )))),
        }
    }

    /// A reserve that never merges (after a merge lost a race with the reservation's end).
    async fn reserve_new(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReserveError, TigerBeetleError>> {
        let timeout = self.timeout(ttl).unwrap_or(1);
        let start = self.clock.now();
        let seq = self.next_seq();
        let mut chain: Vec<tb::Transfer> = lines
            .iter()
            .enumerate()
            .map(|(k, l)| self.hold(cart, seq, 0, k, *l, timeout))
            .collect();
        link(&mut chain);
        let results = self
            .client
            .create_transfers(&chain)
            .await
            .map_err(|e| Failure::Backend(request(e)))?;
        match first_failure(&results) {
            None => Ok(Receipt {
                id: ReservationId::new(cart, seq, self.tag),
                deadline: start + Duration::from_secs(u64::from(timeout)),
            }),
            Some((k, CreateTransferStatus::ExceedsCredits)) => {
                let line = lines[k];
                let available = self
                    .account(line.item)
                    .await
                    .map_err(Failure::Backend)?
                    .map_or(0, |a| Self::levels(&a).available);
                Err(Failure::Refused(ReserveError::Stock(
                    TakeError::Shortfall {
                        item: line.item,
                        requested: line.quantity,
                        available,
                    },
                )))
            }
            Some((_, status)) => Err(Failure::Backend(TigerBeetleError::Protocol(format!(
                "reserve: {status:?}"
            )))),
        }
    }

    /// Posts or voids the reservation's current holds, as one chain; `None` if the chain
    /// went through, else how it was refused (`Ok(None)` inside for "already posted by us").
    async fn resolve_all(
        &self,
        id: ReservationId,
        kind: Kind,
    ) -> Result<Result<bool, ReservationError>, TigerBeetleError> {
        if id.tag() != self.tag {
            return Ok(Err(ReservationError::Unknown));
        }
        let Some(current) = self.current(id.seq(), id.cart()).await? else {
            return Ok(Err(ReservationError::Unknown));
        };
        let mut chain = self.resolve(id.seq(), &current, kind);
        link(&mut chain);
        let results = self
            .client
            .create_transfers(&chain)
            .await
            .map_err(request)?;
        match first_failure(&results) {
            None => Ok(Ok(true)),
            Some((_, status)) => match Self::refusal(status, matches!(kind, Kind::Post))? {
                None => Ok(Ok(false)),
                Some(e) => Ok(Err(e)),
            },
        }
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
        if id.tag() != self.tag {
            return Err(Failure::Refused(ReservationError::Unknown));
        }
        let start = self.clock.now();
        let Some(current) = self
            .current(id.seq(), id.cart())
            .await
            .map_err(Failure::Backend)?
        else {
            return Err(Failure::Refused(ReservationError::Unknown));
        };
        // Void and re-pend in one linked chain: the hold never lapses, and never doubles.
        let mut chain = self.resolve(id.seq(), &current, Kind::Void);
        for h in &current.holds {
            let line = Line::new(
                ItemId::new((h.debit_account_id & 0xFFFF_FFFF) as u32),
                h.amount as i64,
            );
            let k = (h.id & 0xFFFF) as usize;
            chain.push(self.hold(
                id.cart(),
                id.seq(),
                current.generation + 1,
                k,
                line,
                timeout,
            ));
        }
        link(&mut chain);
        let results = self
            .client
            .create_transfers(&chain)
            .await
            .map_err(|e| Failure::Backend(request(e)))?;
        match first_failure(&results) {
            None => Ok(Receipt {
                id,
                deadline: start + Duration::from_secs(u64::from(timeout)),
            }),
            Some((_, status)) => match Self::refusal(status, false).map_err(Failure::Backend)? {
                Some(e) => Err(Failure::Refused(e)),
                None => Err(Failure::Refused(ReservationError::Released)),
            },
        }
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
        self.register(initial)
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
        async move { self.reserve_lines(cart, &lines, ttl).await }
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
}
