//! The lifecycle of one reservation, in the order a request meets it: `reserve` takes the
//! units tentatively, links or grows the cart's entry, tells the timer its deadline and
//! commits the units (`publish`); `set_cart` replaces a cart's lines; `confirm`, `release` and
//! expiry race on one compare-and-swap (`settle`), whose winner settles the stock and
//! remembers the outcome; `extend` and `release_lines` replace a live hold.

use crate::carts::registry::{Entry, Hold, Snapshot, State};
use crate::error::TakeError;
use crate::ids::Line;
use crate::journal::HoldChange;
use crate::reservation::{CartId, Confirmation, Receipt, ReservationError, ReserveError, Target};
use crate::stock::lines::{diff, merge, subtract};
use crate::stock::slot;
use crate::stock::stats::bump;
use crate::stock::take::{self, Pending, Resolved, Sources};
use crate::stock::word::TakeMode;
use crate::sync::atomic::Ordering;
use crate::timer::Token;
use crossbeam_epoch::{Guard, Owned};
use std::time::Duration;

use super::shared::{finished_error, Inner, SHARD_BITS};

/// Due reservations a reserve that finds too little stock expires before trying again.
pub(crate) const RECLAIM_BATCH: usize = 64;
use super::trace;

/// Where an operation on an existing reservation found it.
pub(super) enum Found<'g> {
    /// Live, with stock held and its deadline not passed.
    Held(&'g Entry, Snapshot<'g>),
    /// Finished that way (still in the registry, or remembered).
    Finished(State),
}

/// A new entry not linked yet, with its admission (see `Inner::admit`); dropping it unlinked
/// gives the admission back.
pub(super) struct Fresh<'a> {
    inner: &'a Inner,
    entry: Option<Owned<Entry>>,
}

impl Drop for Fresh<'_> {
    fn drop(&mut self) {
        if let Some(entry) = &self.entry {
            self.inner.unadmit(entry);
        }
    }
}

/// Timer upkeep owed by an operation, run when it is dropped.
///
/// Declared before the operation's epoch guard, it is dropped after it: the drain and
/// compaction it may run then happen unpinned, so they never hold back the reclamation of
/// other threads' retired entries (see DESIGN.md, "Bounded memory").
pub(super) struct Upkeep<'a> {
    inner: &'a Inner,
    /// The shard whose inbox asked for upkeep.
    shard: std::cell::Cell<Option<usize>>,
}

impl<'a> Upkeep<'a> {
    pub(super) fn new(inner: &'a Inner) -> Self {
        Upkeep {
            inner,
            shard: std::cell::Cell::new(None),
        }
    }
}

impl Drop for Upkeep<'_> {
    fn drop(&mut self) {
        if let Some(shard) = self.shard.get() {
            self.inner.timer.maintain(shard, self.inner);
        }
    }
}

impl Inner {
    /// Reserves `lines` for `cart`, adding them to the cart's reservation if it has one.
    pub(super) fn reserve(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let ttl_nanos = self.ttl(ttl).ok_or(ReserveError::InvalidTtl { ttl })?;
        let added = self.stock.canonical(lines)?;
        let (now, deadline) = self.deadline(ttl_nanos);
        // The stock is taken once, up front, and kept across retries: whether the lines end
        // up in a new reservation or merged into the cart's existing one, the same units are
        // needed. Until the hold is published they are in flight, so nobody is refused for
        // them in the meantime.
        self.epoch.throttle();
        let pending = self.take_reclaiming(added.entries())?;
        let upkeep = Upkeep::new(self);
        let guard = self.epoch.pin();
        let mut fresh = Fresh {
            inner: self,
            entry: None,
        };
        loop {
            let position = self.registry.find(cart.get(), &guard);
            if let Some(entry) = position.found(cart.get()) {
                let Some(current) = self.live_hold(entry, now, &guard) else {
                    continue;
                };
                let lines = merge(current.hold().lines(), added.lines())?;
                // Journal (one branch without one): the hold's version, recorded if the swap
                // succeeds.
                let version = self.journal_stamp();
                let hold = Owned::new(Hold::new(deadline, lines.into_iter()));
                // The replacement makes the filed token stale before `publish` files the new
                // one; meanwhile the held lines are covered by no bound (see `Timer::unfile`).
                let _unfiled = self.timer.unfile(self.shard_index());
                if let Ok(installed) = entry.replace(current, hold, &guard) {
                    self.journal_held(
                        HoldChange::Reserve,
                        cart.get(),
                        entry.seq,
                        version,
                        installed,
                    );
                    return Ok(self.publish(entry, deadline, pending, &upkeep));
                }
                continue;
            }
            let entry = match fresh.entry.take() {
                Some(entry) => entry,
                None => self.new_entry(cart, Hold::new(deadline, added.lines()))?,
            };
            match self.registry.insert(&position, entry, &guard) {
                Ok(entry) => {
                    self.journal_held(
                        HoldChange::Reserve,
                        cart.get(),
                        entry.seq,
                        0,
                        entry.first_hold(),
                    );
                    return Ok(self.publish(entry, deadline, pending, &upkeep));
                }
                Err(entry) => fresh.entry = Some(entry),
            }
        }
    }

    /// Takes `entries` (canonical) tentatively. On a shortfall, first expires what is due (an
    /// expired hold must never turn a buyer away), [`RECLAIM_BATCH`] reservations at a time,
    /// earliest deadlines first, trying again after each batch: it stops as soon as the take
    /// succeeds, or once a batch came up short (nothing more was due).
    ///
    /// If nothing is due when checked, the shortfall stands unless the deadline bounds moved
    /// since the take began: an expiry may have returned the units between the take's read
    /// and the check (and then, rightly, left nothing due), and every such expiry raises a
    /// bound inside the seqlock's write section. Reservations created meanwhile are not due at
    /// `now`, so with the version unchanged no due hold was hiding units at the take's read.
    fn take_reclaiming<'a>(
        &self,
        entries: &'a [Resolved<&'a slot::Slot>],
    ) -> Result<Pending<'a>, TakeError> {
        let counters = self.stock.counters();
        let version = self.timer.bounds_version();
        match take::take_all(counters, entries, TakeMode::Tentative) {
            Err(short @ TakeError::Shortfall { .. }) => {
                if !self.timer.maybe_due(self.now()) {
                    if self.timer.bounds_unchanged(version) {
                        return Err(short);
                    }
                    return take::take_all(counters, entries, TakeMode::Tentative);
                }
                loop {
                    let expired = self.expire_due_at_most(RECLAIM_BATCH);
                    let result = take::take_all(counters, entries, TakeMode::Tentative);
                    // A short batch expired everything due when it ran: the answer stands.
                    if expired < RECLAIM_BATCH
                        || !matches!(result, Err(TakeError::Shortfall { .. }))
                    {
                        return result;
                    }
                }
            }
            result => result,
        }
    }

    /// The hold of the cart entry a reserve or cart update found, if it is live at `now`. A
    /// finished entry not yet unlinked is retired (helping its finisher), a due one expired;
    /// either way the caller looks again.
    fn live_hold<'g>(&self, entry: &'g Entry, now: u64, guard: &'g Guard) -> Option<Snapshot<'g>> {
        let current = entry.snapshot(guard);
        if current.state != State::Held {
            self.retire(entry, current.state, guard);
            return None;
        }
        if current.hold().deadline <= now {
            self.settle(entry, current, State::Expired, guard);
            return None;
        }
        Some(current)
    }

    /// Finishes a reserve whose hold is now in `entry`: tells the timer its deadline, commits
    /// the units taken for it (in that order, see [`crate::timer`]), counts it.
    fn publish(
        &self,
        entry: &Entry,
        deadline: u64,
        pending: Pending<'_>,
        upkeep: &Upkeep<'_>,
    ) -> Receipt {
        self.schedule(entry, deadline, upkeep);
        pending.commit();
        bump(&self.stock.counters().local().reserves, 1);
        self.receipt(entry, deadline)
    }

    /// Tells the timer about a (new) deadline. Called after the hold is published and before
    /// its stock is committed: see [`crate::timer`] for why this order matters. If the
    /// timer asks for upkeep, `upkeep` runs it once the caller has unpinned.
    fn schedule(&self, entry: &Entry, deadline: u64, upkeep: &Upkeep<'_>) {
        let shard = self.shard_index();
        let token = Token {
            deadline,
            cart: entry.cart,
            seq: entry.seq,
        };
        if self.timer.schedule(shard, token) {
            upkeep.shard.set(Some(shard));
        }
    }

    /// Sets a cart's lines to exactly `lines`, taking only what is added and giving back only
    /// what is dropped, atomically.
    pub(super) fn set_cart(
        &self,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        let ttl_nanos = self.ttl(ttl).ok_or(ReserveError::InvalidTtl { ttl })?;
        let wanted = self.stock.canonical(lines)?;
        let (now, deadline) = self.deadline(ttl_nanos);
        self.epoch.throttle();
        let upkeep = Upkeep::new(self);
        let guard = self.epoch.pin();
        let mut fresh = Fresh {
            inner: self,
            entry: None,
        };
        loop {
            let creations = self.registry.creations(cart.get());
            let position = self.registry.find(cart.get(), &guard);
            let Some(entry) = position.found(cart.get()) else {
                // No reservation: a new one holding exactly `wanted`, linked only if the cart
                // is still empty at this position. If another call creates the cart's
                // reservation first, the units go back (still in flight: nobody was refused
                // for them) and this call replaces that reservation's lines instead; adding to
                // it would give the cart both requests' lines, which no order of the two gives.
                let pending = match self.take_reclaiming(wanted.entries()) {
                    Ok(pending) => pending,
                    // Another call may have created the cart's reservation meanwhile (and
                    // hold the units this call wants, or have held them and finished since):
                    // the shortfall stands only if the cart had no reservation throughout.
                    Err(_) if self.registry.creations(cart.get()) != creations => continue,
                    Err(short) => return Err(short.into()),
                };
                let entry = match fresh.entry.take() {
                    Some(entry) => entry,
                    None => self.new_entry(cart, Hold::new(deadline, wanted.lines()))?,
                };
                match self.registry.insert(&position, entry, &guard) {
                    Ok(entry) => {
                        self.journal_held(
                            HoldChange::SetCart,
                            cart.get(),
                            entry.seq,
                            0,
                            entry.first_hold(),
                        );
                        return Ok(self.publish(entry, deadline, pending, &upkeep));
                    }
                    Err(entry) => {
                        fresh.entry = Some(entry);
                        continue;
                    }
                }
            };
            let Some(current) = self.live_hold(entry, now, &guard) else {
                continue;
            };
            let (additions, removals) = diff(current.hold().lines(), wanted.entries());
            // If the additions cannot be had, the error returns here and the cart keeps
            // exactly what it held.
            let pending = if additions.is_empty() {
                None
            } else {
                match self.take_reclaiming(&additions) {
                    Ok(pending) => Some(pending),
                    // The additions were computed from a hold that another call on this cart
                    // has replaced meanwhile (it may hold the units this call wants): decide
                    // again on what it left. The pointer cannot be reused while we are pinned.
                    Err(_) if entry.snapshot(&guard).ptr != current.ptr => continue,
                    Err(short) => return Err(short.into()),
                }
            };
            let version = self.journal_stamp();
            let hold = Owned::new(Hold::new(deadline, wanted.lines()));
            // Announced only now, after the additions were taken: an operation holding
            // announcements never waits (see `crate::stock::slot`).
            let mut announced = Sources::new();
            for line in &removals {
                announced.push(self.stock.slot(line.item).announce());
            }
            // As in `reserve`: unfiled from the replacement until the new token is scheduled.
            let _unfiled = self.timer.unfile(self.shard_index());
            if let Ok(installed) = entry.replace(current, hold, &guard) {
                self.journal_held(
                    HoldChange::SetCart,
                    cart.get(),
                    entry.seq,
                    version,
                    installed,
                );
                self.schedule(entry, deadline, &upkeep);
                if let Some(pending) = pending {
                    pending.commit();
                }
                // The replaced hold held these; only the winner of the swap returns them.
                for (i, line) in removals.iter().enumerate() {
                    self.stock
                        .slot(line.item)
                        .give_back_tentative(line.quantity, announced.get(i));
                }
                bump(&self.stock.counters().local().reserves, 1);
                return Ok(self.receipt(entry, deadline));
            }
            for (i, line) in removals.iter().enumerate() {
                self.stock.slot(line.item).commit(announced.get(i));
            }
            // Lost a race on this cart: `pending` drops here and gives the additions back
            // (they were only in flight); try again on what the winner left.
        }
    }

    pub(super) fn confirm(&self, target: Target) -> Result<Confirmation, ReservationError> {
        let now = self.now();
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    if self.settle(entry, current, State::Confirmed, &guard) {
                        return Ok(Confirmation::Confirmed);
                    }
                }
                Found::Finished(State::Confirmed) => return Ok(Confirmation::AlreadyConfirmed),
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    pub(super) fn release(&self, target: Target) -> Result<(), ReservationError> {
        let now = self.now();
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    if self.settle(entry, current, State::Released, &guard) {
                        return Ok(());
                    }
                }
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    pub(super) fn extend(
        &self,
        target: Target,
        ttl: Duration,
    ) -> Result<Receipt, ReservationError> {
        let ttl_nanos = self.ttl(ttl).ok_or(ReservationError::InvalidTtl { ttl })?;
        let (now, deadline) = self.deadline(ttl_nanos);
        self.epoch.throttle();
        let upkeep = Upkeep::new(self);
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    let hold = Hold::new(deadline, current.hold().lines().iter().copied());
                    let version = self.journal_stamp();
                    // As in `reserve`: unfiled from the replacement until the new token is
                    // scheduled.
                    let _unfiled = self.timer.unfile(self.shard_index());
                    if let Ok(installed) = entry.replace(current, Owned::new(hold), &guard) {
                        self.journal_held(
                            HoldChange::Extend,
                            entry.cart,
                            entry.seq,
                            version,
                            installed,
                        );
                        self.schedule(entry, deadline, &upkeep);
                        bump(&self.stock.counters().local().extends, 1);
                        return Ok(self.receipt(entry, deadline));
                    }
                }
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    pub(super) fn release_lines(
        &self,
        target: Target,
        lines: &[Line],
    ) -> Result<(), ReservationError> {
        let released = self
            .stock
            .canonical(lines)
            .map_err(ReservationError::Lines)?;
        let now = self.now();
        self.epoch.throttle();
        let guard = self.epoch.pin();
        loop {
            match self.resolve(target, now, &guard)? {
                Found::Held(entry, current) => {
                    let remaining = subtract(current.hold().lines(), released.lines())?;
                    if remaining.is_empty() {
                        if self.settle(entry, current, State::Released, &guard) {
                            return Ok(());
                        }
                        continue;
                    }
                    let version = self.journal_stamp();
                    let hold = Hold::new(current.hold().deadline, remaining.into_iter());
                    let mut announced = Sources::new();
                    for r in released.entries() {
                        announced.push(r.at.announce());
                    }
                    if let Ok(installed) = entry.replace(current, Owned::new(hold), &guard) {
                        self.journal_held(
                            HoldChange::ReleaseLines,
                            entry.cart,
                            entry.seq,
                            version,
                            installed,
                        );
                        // Only the thread whose compare-and-swap removed these lines returns
                        // them, so they come back exactly once.
                        for (i, r) in released.entries().iter().enumerate() {
                            r.at.give_back_tentative(r.line.quantity, announced.get(i));
                        }
                        bump(&self.stock.counters().local().partial_releases, 1);
                        return Ok(());
                    }
                    for (i, r) in released.entries().iter().enumerate() {
                        r.at.commit(announced.get(i));
                    }
                }
                Found::Finished(state) => return Err(finished_error(state)),
            }
        }
    }

    /// Finds the reservation `target` names; expires it on the way if its deadline passed.
    pub(super) fn resolve<'g>(
        &'g self,
        target: Target,
        now: u64,
        guard: &'g Guard,
    ) -> Result<Found<'g>, ReservationError> {
        let entry = match target {
            Target::Id(id) => {
                if id.instance != self.instance {
                    return Err(ReservationError::Unknown);
                }
                match self.registry.get(id.cart.get(), guard) {
                    Some(entry) if entry.seq == id.seq => entry,
                    _ => {
                        return self
                            .recall(id.cart.get(), id.seq)
                            .map(Found::Finished)
                            .ok_or(ReservationError::Unknown)
                    }
                }
            }
            Target::Cart(cart) => self
                .registry
                .get(cart.get(), guard)
                .ok_or(ReservationError::NoReservation { cart })?,
        };
        loop {
            let current = entry.snapshot(guard);
            match current.state {
                State::Held if current.hold().deadline <= now => {
                    // Due but not reaped yet: it is expired now, whoever settles it.
                    self.settle(entry, current, State::Expired, guard);
                }
                State::Held => return Ok(Found::Held(entry, current)),
                state => return Ok(Found::Finished(state)),
            }
        }
    }

    /// Finishes a reservation: the one compare-and-swap that decides between confirm, release
    /// and expiry. The winner settles the stock, remembers the outcome and retires the entry;
    /// returns whether this call won.
    pub(super) fn settle(
        &self,
        entry: &Entry,
        current: Snapshot<'_>,
        to: State,
        guard: &Guard,
    ) -> bool {
        let lines = current.hold().lines();
        let returns_stock = to != State::Confirmed;
        let mut announced = Sources::new();
        if returns_stock {
            // Announce first: until the units are back, a take that finds the item short
            // must wait for us rather than answer "short" (see `crate::stock::slot`).
            for line in lines {
                announced.push(self.stock.slot(line.item).announce());
            }
        }
        if !entry.finish(current, to, guard) {
            if returns_stock {
                for (i, line) in lines.iter().enumerate() {
                    self.stock.slot(line.item).commit(announced.get(i));
                }
            }
            return false;
        }
        // Remembered before anything else: from the swap above, another thread may retire the
        // entry (`retire`, helping), and a lookup that then misses it must find the outcome.
        self.remember(entry, to);
        self.journal_finished(entry, to, lines);
        let counters = self.stock.counters().local();
        for (i, line) in lines.iter().enumerate() {
            let slot = self.stock.slot(line.item);
            if returns_stock {
                slot.give_back_tentative(line.quantity, announced.get(i));
            } else {
                slot.record_sold(line.quantity);
            }
        }
        self.registry.retire(entry, guard);
        if let Some(shard) = self.shard_of(entry.seq) {
            // Relaxed: see `admit`.
            shard.live.fetch_sub(1, Ordering::Relaxed);
        }
        bump(
            match to {
                State::Confirmed => &counters.confirms,
                State::Released => &counters.releases,
                _ => &counters.expiries,
            },
            1,
        );
        // Only the winner gets here, once per reservation; the stock is already settled.
        trace::finished!(
            to,
            cart = entry.cart,
            id = self.id(entry),
            lines = lines.len(),
            late_ns = self.now().saturating_sub(current.hold().deadline)
        );
        true
    }

    /// Remembers how `entry`'s reservation finished (see [`crate::inventory::outcomes`]). Called by the
    /// thread that finished it, and by any thread before it marks the entry deleted.
    pub(super) fn remember(&self, entry: &Entry, state: State) {
        if let Some(shard) = self.shard_of(entry.seq) {
            shard
                .finished
                .remember(entry.seq >> SHARD_BITS, entry.cart, state);
        }
    }

    /// Retires an entry whose reservation reached a final state, found by a thread that did
    /// not finish it: remembers the outcome first (the finisher may not have yet), so that a
    /// lookup that misses the unlinked entry finds it.
    pub(super) fn retire(&self, entry: &Entry, state: State, guard: &Guard) {
        self.remember(entry, state);
        self.registry.retire(entry, guard);
    }

    /// The remembered outcome of reservation `seq` of `cart`, if it finished recently.
    pub(super) fn recall(&self, cart: u64, seq: u64) -> Option<State> {
        self.shard_of(seq)?.finished.recall(seq >> SHARD_BITS, cart)
    }

    /// Expires every reservation whose deadline has passed; returns how many.
    pub(crate) fn expire_due(&self) -> usize {
        self.expire_due_at_most(usize::MAX)
    }

    /// Expires reservations whose deadline has passed, at most `limit` of them (those due
    /// earliest first, by timer slot); returns how many.
    pub(crate) fn expire_due_at_most(&self, limit: usize) -> usize {
        self.timer.expire_due_at_most(limit, self)
    }

    /// Time until the earliest known deadline, if any (a hint for the reaper's sleep).
    pub(crate) fn time_to_next_deadline(&self) -> Option<Duration> {
        self.timer.time_to_next_deadline(self.now())
    }
}
