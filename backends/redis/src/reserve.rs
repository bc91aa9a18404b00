//! Reserve: the crate's all-or-nothing take lifted one level, from items to shards.
//!
//! 1. Validate (typed errors before anything is touched), merge duplicate lines, group the
//!    lines by shard.
//! 2. Take one part per shard, in ascending shard order (`take.lua`: all the part's lines or
//!    none). On the first shortfall, give back the parts already taken, expire what is due
//!    (an expired hold must never turn a buyer away), and take once more.
//! 3. Commit on the cart's home shard (`commit.lua`): the attempt becomes the cart's
//!    reservation, or is added to its live one. Only the commit makes the parts count; until
//!    then they are an attempt.
//!
//! No phantom shortfall: every part but an attempt's last is taken *tentatively* (`take.lua`):
//! a later shard's shortfall would give it back, so its units are counted as on their way
//! back (the item's `tentative` count, changed in the same script as `available`). A take that
//! finds too little available while enough units are on their way back does not answer
//! "short": it gives back its own parts, waits (bounded backoff) and takes again, until the
//! units are given back (then it gets them) or firmed, once every shard of their attempt is
//! taken (then the shortfall is real). A refusal is thus answered only when, in one script, the units were
//! neither available nor on their way back. A tentative part outlives its lease only if its
//! caller died or stalled; the waiting taker then sweeps the shard, which aborts that attempt
//! and gives the part back (see `sweep.rs`).
//!
//! A cart update (`set_cart`) is the same take of what its new lines add beyond the held ones,
//! read first from the cart's home shard (`decide.lua`, "read"), committed as an update
//! (`commit.lua`, "set"): only if the reservation is still the one read, with the same lines;
//! the units dropped are cut from its parts there and trimmed on their shards (`trim.lua`). A
//! commit that finds the cart changed (another call on it) aborts the attempt, its parts go
//! back, and the update reads again. With no live reservation, the update commits a new one
//! ("new"), unless one was made meanwhile.
//!
//! Compensation is structural: the parts taken are held by a [`Taken`] guard. On a refusal
//! they are given back before the error returns. If the caller is cancelled or the commit's
//! answer is lost, the guard's `Drop` (or, if there is no runtime, the sweeper at the
//! deadline) *heals* each part: it asks the home shard what became of the attempt, which marks
//! a never-committed attempt aborted for good (so a commit still in flight fails), and settles
//! the part accordingly.

use crate::backend::{Engine, MAX_PARTS};
use crate::error::RedisError;
use crate::fate::Decision;
use crate::part::{format_lines, format_parts, parse_lines, parse_parts, Part};
use atomic_stock::limits::{MAX_LINES, MAX_LINE_QUANTITY};
use atomic_stock::{
    validate_lines, CartId, Failure, ItemId, Line, Receipt, ReserveError, TakeError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many times a cart update reads the cart again after its commit found the cart changed
/// since its read (by another call on the same cart).
const MAX_STALE_UPDATES: u32 = 16;

/// How many times a reserve takes again after a sweeper aborted its attempt (its deadline, or
/// a tentative part's lease, passed before the commit: a time to live shorter than the reserve's
/// own round trips, or a caller stalled between its takes).
const MAX_ABORTED_ATTEMPTS: u32 = 3;

/// Longest pause between two takes of a reserve waiting for units on their way back.
const MAX_BACKOFF: Duration = Duration::from_millis(32);

/// How long a reserve waits for units on their way back before it sweeps their shard at every
/// pause: a live caller settles its tentative parts within a few round trips; units still
/// tentative after this may be a dead caller's, healed by the sweep once their lease passes.
const SWEEP_AFTER: Duration = Duration::from_millis(50);

/// Why taking the parts stopped.
enum Stop {
    Short {
        item: ItemId,
        requested: i64,
        available: i64,
        /// Units of the item held by tentative parts (on their way back, maybe).
        tentative: i64,
        /// Index of the part that was short.
        at: usize,
    },
    Unknown(ItemId),
    Backend(RedisError),
}

/// Parts taken for an attempt and not yet committed (see the module docs).
struct Taken {
    backend: Arc<Engine>,
    parts: Vec<Part>,
    cart: CartId,
}

impl Taken {
    /// Gives every part back; only for attempts that were never sent to commit (or whose
    /// commit refused them).
    async fn give_back(mut self) -> Result<(), RedisError> {
        let parts = std::mem::take(&mut self.parts);
        self.backend.settle_parts(&parts, false).await
    }

    /// The parts are the reservation's now.
    fn disarm(mut self) {
        self.parts.clear();
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if self.parts.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to heal on: the sweeper finds the parts at their deadline.
            return;
        };
        let parts = std::mem::take(&mut self.parts);
        let engine = self.backend.clone();
        let cart = self.cart;
        runtime.spawn(async move {
            for part in parts {
                // Best effort: whatever fails here, the sweeper heals at the deadline.
                let _ = engine
                    .heal(part.shard, part.attempt, cart, &part.lines)
                    .await;
            }
        });
    }
}

impl Engine {
    /// Validates and merges lines with the in-process engine's own [`validate_lines`] (so the
    /// same input gets the same error), in ascending item order. Which items exist is asked
    /// first, once per distinct item, of the cache or the server.
    pub(crate) async fn canonical(
        &self,
        lines: &[Line],
    ) -> Result<Vec<Line>, Failure<TakeError, RedisError>> {
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

    /// The attempt's parts, one per shard, in ascending shard order.
    fn split(&self, attempt: u64, lines: &[Line]) -> Vec<Part> {
        let mut by_shard: BTreeMap<u32, Vec<Line>> = BTreeMap::new();
        for line in lines {
            by_shard
                .entry(self.keys.shard_of_item(line.item))
                .or_default()
                .push(*line);
        }
        by_shard
            .into_iter()
            .map(|(shard, lines)| Part {
                shard,
                attempt,
                lines,
            })
            .collect()
    }

    /// Takes `parts` in order into `taken`; stops at the first part refused. Every part but the
    /// last is taken tentatively, with a lease until `lease` (ms).
    async fn take_parts(
        &self,
        parts: &[Part],
        cart: CartId,
        deadline: u64,
        lease: u64,
        taken: &mut Taken,
    ) -> Result<(), Stop> {
        let home = self.keys.home_of_cart(cart).to_string();
        for (at, part) in parts.iter().enumerate() {
            let keys = self.keys.part(part.shard, &part.lines);
            // The last part is never given back for a shortfall (none is left to find), so it
            // is taken firm: a reserve on one shard pays nothing for the accounting.
            let lease = if at + 1 < parts.len() { lease } else { 0 };
            let mut args = vec![
                part.attempt.to_string(),
                home.clone(),
                cart.get().to_string(),
                deadline.to_string(),
                format_lines(&part.lines, ';'),
                lease.to_string(),
            ];
            args.extend(part.lines.iter().map(|l| l.quantity.to_string()));
            let reply = self
                .run(&self.scripts.take, &keys, &args)
                .await
                .map_err(Stop::Backend)?;
            let line = |k: i64| part.lines.get((k - 1) as usize).copied();
            match reply.code().map_err(Stop::Backend)? {
                0 => taken.parts.push(part.clone()),
                1 => {
                    let short = reply.int(1).ok().and_then(line).ok_or_else(|| {
                        Stop::Backend(RedisError::Protocol("take: bad line".into()))
                    })?;
                    return Err(Stop::Short {
                        item: short.item,
                        requested: short.quantity,
                        available: reply.int(2).map_err(Stop::Backend)?,
                        tentative: reply.int(3).map_err(Stop::Backend)?,
                        at,
                    });
                }
                2 => {
                    let unknown = reply.int(1).ok().and_then(line).ok_or_else(|| {
                        Stop::Backend(RedisError::Protocol("take: bad line".into()))
                    })?;
                    return Err(Stop::Unknown(unknown.item));
                }
                other => {
                    return Err(Stop::Backend(RedisError::Protocol(format!(
                        "take answered {other}"
                    ))))
                }
            }
        }
        Ok(())
    }

    /// The shortfall to report: the first item *in id order* that was short. Parts are taken
    /// in shard order, so a later shard may hold a lower item that is short too; those were
    /// never tried, and are read now.
    async fn first_short(
        &self,
        parts: &[Part],
        found: (ItemId, i64, i64),
        at: usize,
    ) -> Result<(ItemId, i64, i64), RedisError> {
        let mut first = found;
        let untried: Vec<Line> = parts[at + 1..]
            .iter()
            .flat_map(|p| p.lines.iter().copied())
            .collect();
        for line in untried {
            if line.item >= first.0 {
                continue;
            }
            if let Some(levels) = self.levels(line.item).await? {
                if levels.available < line.quantity {
                    first = (line.item, line.quantity, levels.available);
                }
            }
        }
        Ok(first)
    }

    pub(crate) async fn reserve_lines(
        self: &Arc<Self>,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReserveError, RedisError>> {
        let ttl_ms = self
            .ttl_ms(ttl)
            .ok_or(Failure::Refused(ReserveError::InvalidTtl { ttl }))?;
        let lines = self.canonical(lines).await.map_err(stock_refusal)?;
        match self
            .take_and_commit(cart, &lines, ttl_ms, &Mode::Add)
            .await?
        {
            Some(receipt) => Ok(receipt),
            None => Err(Failure::Backend(RedisError::Protocol(
                "commit answered a cart update's answer to a reserve".into(),
            ))),
        }
    }

    /// A cart update: `cart`'s reservation becomes exactly `lines` (see the module docs).
    pub(crate) async fn set_lines(
        self: &Arc<Self>,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReserveError, RedisError>> {
        self.set_lines_as(cart, lines, ttl, Finish::Whole).await
    }

    async fn set_lines_as(
        self: &Arc<Self>,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
        finish: Finish,
    ) -> Result<Receipt, Failure<ReserveError, RedisError>> {
        let ttl_ms = self
            .ttl_ms(ttl)
            .ok_or(Failure::Refused(ReserveError::InvalidTtl { ttl }))?;
        let wanted = self.canonical(lines).await.map_err(stock_refusal)?;
        for _ in 0..MAX_STALE_UPDATES {
            let now = self.now_ms();
            let decision = self
                .decide(cart, "read", None, now, 0)
                .await
                .map_err(Failure::Backend)?;
            let (mode, take) = match decision {
                Decision::NoReservation => (Mode::New, wanted.clone()),
                // The cart's reservation was past its deadline: expired by the read.
                Decision::Expired(parts) => {
                    self.settle_parts(&parts, false)
                        .await
                        .map_err(Failure::Backend)?;
                    (Mode::New, wanted.clone())
                }
                Decision::Current { seq, lines } => {
                    let held = parse_lines(&lines, ',').map_err(Failure::Backend)?;
                    (
                        Mode::Set {
                            seq,
                            current: lines,
                            wanted: format_lines(&wanted, ','),
                        },
                        additions(&wanted, &held),
                    )
                }
                _ => {
                    return Err(Failure::Backend(RedisError::Protocol(
                        "decide answered another verb's answer to a read".into(),
                    )))
                }
            };
            if let Some(receipt) = self
                .take_and_commit_as(cart, &take, ttl_ms, &mode, finish)
                .await?
            {
                return Ok(receipt);
            }
            // Stale: the cart changed between the read and the commit (another call on the
            // same cart, or its deadline passed); the attempt's parts were given back.
        }
        Err(Failure::Backend(RedisError::Protocol(
            "the cart changed under every attempt of the update".into(),
        )))
    }

    /// Takes `lines` (all or nothing, across shards, no phantom shortfall) and commits them as
    /// `mode` says; `None` if the commit found the cart changed since the caller read it
    /// (`Mode::New`, `Mode::Set`): the parts were given back.
    async fn take_and_commit(
        self: &Arc<Self>,
        cart: CartId,
        lines: &[Line],
        ttl_ms: u64,
        mode: &Mode,
    ) -> Result<Option<Receipt>, Failure<ReserveError, RedisError>> {
        self.take_and_commit_as(cart, lines, ttl_ms, mode, Finish::Whole)
            .await
    }

    async fn take_and_commit_as(
        self: &Arc<Self>,
        cart: CartId,
        lines: &[Line],
        ttl_ms: u64,
        mode: &Mode,
        finish: Finish,
    ) -> Result<Option<Receipt>, Failure<ReserveError, RedisError>> {
        let mut expired_first = false;
        let mut aborted = 0;
        let mut waiting: Option<Waiting> = None;
        let lease_ms = self.lease_ms();
        loop {
            let now = self.now_ms();
            let deadline = now + ttl_ms;
            let attempt = self.next_seq();
            let parts = self.split(attempt, lines);
            let mut taken = Taken {
                backend: self.clone(),
                parts: Vec::with_capacity(parts.len()),
                cart,
            };
            match self
                .take_parts(&parts, cart, deadline, now + lease_ms, &mut taken)
                .await
            {
                Ok(()) => {
                    match self
                        .commit(taken, attempt, lines, (now, deadline), (mode, finish))
                        .await?
                    {
                        Committed::Receipt(receipt) => return Ok(Some(receipt)),
                        Committed::Stale => return Ok(None),
                        // The deadline or a tentative part's lease passed before the commit and a
                        // sweeper aborted the attempt (its parts are given back): take again, with
                        // a deadline and a lease from now.
                        Committed::Aborted if aborted < MAX_ABORTED_ATTEMPTS => aborted += 1,
                        Committed::Aborted => return Err(Failure::Backend(RedisError::Protocol(
                            "every attempt outlived its deadline or lease before it was committed"
                                .into(),
                        ))),
                    }
                }
                Err(Stop::Backend(e)) => {
                    // The guard heals what was taken.
                    return Err(Failure::Backend(e));
                }
                Err(Stop::Unknown(item)) => {
                    taken.give_back().await.map_err(Failure::Backend)?;
                    return Err(Failure::Refused(ReserveError::Stock(
                        TakeError::UnknownItem { item },
                    )));
                }
                Err(Stop::Short {
                    item,
                    requested,
                    available,
                    tentative,
                    at,
                }) => {
                    // Our own parts go back before any wait: a taker never holds units while
                    // it waits for others' (no two takers wait for each other).
                    taken.give_back().await.map_err(Failure::Backend)?;
                    if !expired_first {
                        expired_first = true;
                        self.sweep_all().await.map_err(Failure::Backend)?;
                        continue;
                    }
                    // Enough units may be on their way back: not "short" yet. If even all of
                    // them could not make up the line, the shortfall is real now.
                    if tentative > 0 && available + tentative >= requested {
                        let patience = self.tentative_lease + Duration::from_secs(1);
                        let waiting = waiting.get_or_insert_with(|| Waiting::new(patience));
                        let shard = self.keys.shard_of_item(item);
                        if waiting.pause(self, shard).await.map_err(Failure::Backend)? {
                            continue;
                        }
                    }
                    let (item, requested, available) = self
                        .first_short(&parts, (item, requested, available), at)
                        .await
                        .map_err(Failure::Backend)?;
                    return Err(Failure::Refused(ReserveError::Stock(
                        TakeError::Shortfall {
                            item,
                            requested,
                            available,
                        },
                    )));
                }
            }
        }
    }

    /// Commits the attempt whose parts are `taken`, made at `now` with `deadline`, as `mode`
    /// says (and as `finish` says, stops right after the commit).
    async fn commit(
        &self,
        taken: Taken,
        attempt: u64,
        lines: &[Line],
        (now, deadline): (u64, u64),
        (mode, finish): (&Mode, Finish),
    ) -> Result<Committed, Failure<ReserveError, RedisError>> {
        let cart = taken.cart;
        let (mode_name, seq, current, wanted) = match mode {
            Mode::Add => ("add", String::new(), "", ""),
            Mode::New => ("new", String::new(), "", ""),
            Mode::Set {
                seq,
                current,
                wanted,
            } => ("set", seq.to_string(), current.as_str(), wanted.as_str()),
        };
        let args = [
            attempt.to_string(),
            now.to_string(),
            deadline.to_string(),
            format_lines(lines, ','),
            format_parts(&taken.parts),
            self.max_live_per_shard.to_string(),
            MAX_LINES.to_string(),
            MAX_LINE_QUANTITY.to_string(),
            MAX_PARTS.to_string(),
            self.outcome_memory_ms.to_string(),
            self.attempt_memory_ms().to_string(),
            mode_name.to_owned(),
            seq,
            current.to_owned(),
            wanted.to_owned(),
            self.lease_ms().to_string(),
        ];
        // Every shard's take succeeded, so no part of this attempt will be given back for a
        // shortfall: the tentative parts (all but the last) are firmed now, concurrently with
        // the commit, at no extra round trip. Only a commit that refuses, finds the attempt
        // aborted or finds the cart changed (rare: limits, a deadline or lease that passed, a
        // concurrent call on the same cart) gives them back, as it does the last part, which
        // was never tentative.
        let tentative = taken
            .parts
            .split_last()
            .map(|(_, earlier)| earlier.to_vec())
            .unwrap_or_default();
        // If the commit's answer is lost, the guard heals the parts through the home shard,
        // which knows whether this commit happened.
        let home = self.keys.home(cart);
        let (reply, firmed) = tokio::join!(
            self.run(&self.scripts.commit, &home, &args),
            self.firm_parts(&tentative, deadline)
        );
        let reply = reply.map_err(Failure::Backend)?;
        let code = reply.code().map_err(Failure::Backend)?;
        if code == 1 {
            taken.give_back().await.map_err(Failure::Backend)?;
            return Ok(Committed::Aborted);
        }
        if code == 6 {
            // The commit aborted the attempt: its parts go back, with the parts of the cart's
            // reservation it found past its deadline and expired.
            let expired =
                parse_parts(&reply.text(1).map_err(Failure::Backend)?).map_err(Failure::Backend)?;
            let (given, settled) =
                tokio::join!(taken.give_back(), self.settle_parts(&expired, false));
            given.map_err(Failure::Backend)?;
            settled.map_err(Failure::Backend)?;
            return Ok(Committed::Stale);
        }
        if code != 0 {
            let refusal = match code {
                2 => Failure::Refused(ReserveError::Stock(TakeError::QuantityOverflow {
                    item: ItemId::new(reply.int(1).map_err(Failure::Backend)? as u32),
                })),
                3 => Failure::Refused(ReserveError::Stock(TakeError::TooManyLines {
                    lines: reply.int(1).map_err(Failure::Backend)? as usize,
                    max: MAX_LINES,
                })),
                4 => Failure::Refused(ReserveError::TooManyReservations {
                    max: self.max_live_per_shard * u64::from(self.keys.shards()),
                }),
                5 => Failure::Refused(ReserveError::TooManyReservations {
                    max: u64::from(MAX_PARTS),
                }),
                other => {
                    // Not an answer commit.lua gives: the guard heals the parts.
                    return Err(Failure::Backend(RedisError::Protocol(format!(
                        "commit answered {other}"
                    ))));
                }
            };
            // Refused: the commit changed nothing, so the parts are given back directly.
            taken.give_back().await.map_err(Failure::Backend)?;
            return Err(refusal);
        }
        taken.disarm();
        // A firm that failed leaves the parts tentative: the sweeper firms them when their
        // lease passes. The caller is told, as for any step of a call that failed.
        firmed.map_err(Failure::Backend)?;
        let seq: u64 = reply
            .text(1)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Failure::Backend(RedisError::Protocol("commit: bad seq".into())))?;
        let receipt = Receipt {
            id: self.id(cart, seq),
            deadline: self.instant(deadline),
        };
        if finish == Finish::CrashAfterCommit {
            return Ok(Committed::Receipt(receipt));
        }
        let expired =
            parse_parts(&reply.text(2).map_err(Failure::Backend)?).map_err(Failure::Backend)?;
        let moved =
            parse_parts(&reply.text(3).map_err(Failure::Backend)?).map_err(Failure::Backend)?;
        // A cart update's cut parts (a replayed commit answers none: the sweeper trims them).
        let cut = if reply.len() > 4 {
            parse_parts(&reply.text(4).map_err(Failure::Backend)?).map_err(Failure::Backend)?
        } else {
            Vec::new()
        };
        // The cart's previous reservation expired here: its stock comes back. The live one's
        // older parts follow the new deadline; those a cart update cut give back their units.
        let (settled, touched, trimmed) = tokio::join!(
            self.settle_parts(&expired, false),
            self.touch_parts(&moved, deadline),
            self.trim_parts(&cut)
        );
        settled.map_err(Failure::Backend)?;
        touched.map_err(Failure::Backend)?;
        trimmed.map_err(Failure::Backend)?;
        Ok(Committed::Receipt(receipt))
    }
}

/// A validation refusal as a reserve's.
fn stock_refusal(f: Failure<TakeError, RedisError>) -> Failure<ReserveError, RedisError> {
    match f {
        Failure::Refused(e) => Failure::Refused(ReserveError::Stock(e)),
        Failure::Backend(b) => Failure::Backend(b),
    }
}

/// What a cart update must take: per item, the units wanted beyond those held (ascending item).
fn additions(wanted: &[Line], held: &[Line]) -> Vec<Line> {
    wanted
        .iter()
        .filter_map(|w| {
            let h = held
                .iter()
                .find(|h| h.item == w.item)
                .map_or(0, |h| h.quantity);
            (w.quantity > h).then(|| Line::new(w.item, w.quantity - h))
        })
        .collect()
}

/// What a commit makes of an attempt (see `commit.lua`).
enum Mode {
    /// A reserve: a new reservation, or added to the cart's live one.
    Add,
    /// A cart update that found no live reservation: a new one, unless one was made meanwhile.
    New,
    /// A cart update of live reservation `seq`, read with `current` lines: the attempt adds what
    /// `wanted` needs beyond them, and the rest is cut.
    Set {
        seq: u64,
        current: String,
        wanted: String,
    },
}

/// Whether a call runs to its end, or stops as a caller that dies right after its commit (a
/// test hook).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    Whole,
    CrashAfterCommit,
}

/// What a commit answered.
enum Committed {
    Receipt(Receipt),
    /// A sweeper aborted the attempt before its commit; its parts were given back.
    Aborted,
    /// The cart is not as the update read it; the attempt's parts were given back.
    Stale,
}

/// A reserve waiting for units on their way back: bounded, growing pauses between takes.
pub(crate) struct Waiting {
    started: Instant,
    patience: Duration,
    backoff: Duration,
}

impl Waiting {
    pub(crate) fn new(patience: Duration) -> Self {
        Waiting {
            started: Instant::now(),
            patience,
            backoff: Duration::ZERO,
        }
    }

    /// Pauses before the next take; `false` once the patience is spent (the caller answers the
    /// shortfall it saw). After `SWEEP_AFTER`, every pause ends with a sweep of `shard`, which
    /// heals tentative parts past their lease (a dead caller's).
    pub(crate) async fn pause(&mut self, engine: &Engine, shard: u32) -> Result<bool, RedisError> {
        let waited = self.started.elapsed();
        if waited >= self.patience {
            return Ok(false);
        }
        if self.backoff.is_zero() {
            // The first time, take again at once: a live caller gives its units back one round
            // trip after finding its shortfall, about the time a take takes.
            tokio::task::yield_now().await;
        } else {
            // Half the backoff plus a jitter of up to half, from the clock's nanoseconds, so
            // that takers waiting for the same units do not all take again at once.
            let half = self.backoff.as_micros() as u64 / 2;
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos()));
            let pause = Duration::from_micros(half + nanos % (half + 1));
            tokio::time::sleep(pause.min(self.patience - waited)).await;
        }
        self.backoff = (self.backoff * 2).clamp(Duration::from_millis(1), MAX_BACKOFF);
        if self.started.elapsed() >= SWEEP_AFTER {
            engine.sweep_shard(shard, engine.now_ms()).await?;
        }
        Ok(true)
    }
}

impl crate::RedisCluster {
    /// Test hook: a cart update (`set_cart`) that stops right after its commit on the home
    /// shard, as a caller that dies there: the parts it cut are not trimmed and the older parts'
    /// hints not moved (the sweeper must trim them).
    #[doc(hidden)]
    pub async fn crash_after_set_cart_commit(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, Failure<ReserveError, RedisError>> {
        self.engine
            .set_lines_as(cart, lines, ttl, Finish::CrashAfterCommit)
            .await
    }

    /// Test hook: takes the parts of a reserve and stops there, as a caller that dies between
    /// the take and the commit (nothing heals them at once; the sweeper must).
    #[doc(hidden)]
    pub async fn crash_after_take(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<(), RedisError> {
        let engine = &self.engine;
        let ttl_ms = engine
            .ttl_ms(ttl)
            .ok_or_else(|| RedisError::Protocol("bad ttl".into()))?;
        let now = engine.now_ms();
        let deadline = now + ttl_ms;
        let lease = now + engine.tentative_lease.as_millis() as u64;
        let parts = engine.split(engine.next_seq(), lines);
        let mut taken = Taken {
            backend: engine.clone(),
            parts: Vec::new(),
            cart,
        };
        let result = engine
            .take_parts(&parts, cart, deadline, lease, &mut taken)
            .await;
        taken.parts.clear();
        match result {
            Ok(()) => Ok(()),
            Err(_) => Err(RedisError::Protocol("take refused".into())),
        }
    }
}
