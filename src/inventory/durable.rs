//! The inventory's side of the journal (see [`crate::journal`]): the hooks that append a record
//! for every change, the wait that makes a call durable before it returns, recovery from a
//! directory, snapshots, and request keys for retried reserves.
//!
//! With no journal every hook is one branch on `Inner::journal` (`None`), taken the same way
//! on every call.

use crate::carts::registry::{Entry, Hold, State};
use crate::ids::Line;
use crate::journal::format;
use crate::journal::keys::{Answer, Keys};
use crate::journal::reader::{self, Damage, File};
use crate::journal::replay::{self, Replay};
use crate::journal::writer::{self, Writer};
use crate::journal::{
    unix_now_ns, Durability, Event, HoldChange, JournalError, JournalFailure, Outcome, Recovery,
    RequestKey,
};
use crate::reservation::{instance_tag, CartId, Receipt, ReserveError};
use crate::stock::stats::bump;
use crate::timer::reaper::Reaper;
use crate::timer::Token;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::builder::InventoryBuilder;
use super::shared::{Inner, Inventory, SHARD_BITS};

/// Segments closed between two automatic snapshots, by default (see
/// `InventoryBuilder::journal_snapshot_every`).
const DEFAULT_SNAPSHOT_EVERY: u64 = 4;

/// How often the snapshot thread looks at how many segments were closed since the last
/// snapshot.
const SNAPSHOT_POLL: Duration = Duration::from_millis(100);

/// Reservation numbers skipped per shard on every open: an id acknowledged in buffered mode
/// whose records a crash lost is never issued again (unless a shard issued more than this
/// many in one loss window).
const NUMBER_GAP: u64 = 1 << 24;

thread_local! {
    /// Position of the last record this thread appended during the current call.
    static LAST: Cell<u64> = const { Cell::new(0) };
    /// The request key of the `reserve_once` running on this thread, and when it started.
    static KEY: Cell<Option<(RequestKey, u64)>> = const { Cell::new(None) };
}

/// An inventory's journal.
#[derive(Debug)]
pub(crate) struct Journal {
    /// Held while the inventory is open (see `DirLock`).
    _lock: crate::journal::DirLock,
    writer: Writer,
    /// The next hold version (see `Inner::journal_stamp`).
    stamps: crate::journal::HoldVersions,
    dir: PathBuf,
    instance: u32,
    shards: u32,
    /// Finished reservations a snapshot keeps per shard.
    keep_finished: u64,
    /// One snapshot at a time.
    snapshotting: Mutex<()>,
    /// Index of the newest snapshot (0 if none), for automatic snapshots.
    last_snapshot: std::sync::atomic::AtomicU64,
    recovery: OnceLock<Recovery>,
}

impl Journal {
    /// Runs `change` and waits for what it appended (see `Inner::logged`).
    #[inline(never)]
    fn logged<T, E: From<JournalFailure>>(
        &self,
        change: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        LAST.with(|last| last.set(0));
        let result = change();
        let position = LAST.with(|last| last.replace(0));
        self.settle(result, position)
    }

    /// Waits for what a successful call appended (or, if it appended nothing, for everything
    /// appended before it answered: it may have answered from a change not yet on disk).
    fn settle<T, E: From<JournalFailure>>(
        &self,
        result: Result<T, E>,
        position: u64,
    ) -> Result<T, E> {
        let durable = if result.is_err() {
            Ok(())
        } else if !self.writer.is_durable() && !self.writer.over_backlog() {
            self.writer.failure().map_or(Ok(()), Err)
        } else if position == 0 {
            self.writer.wait(self.writer.appended())
        } else {
            self.writer.wait(position)
        };
        match durable {
            Ok(()) => result,
            Err(failure) => Err(failure.into()),
        }
    }
}

fn outcome(state: State) -> Outcome {
    match state {
        State::Confirmed => Outcome::Confirmed,
        State::Released => Outcome::Released,
        _ => Outcome::Expired,
    }
}

/// The hooks. Each is one branch when there is no journal.
impl Inner {
    /// See [`Inventory::snapshot`].
    pub(super) fn snapshot(&self) -> Result<u64, JournalError> {
        let journal = self.journal.as_deref().ok_or(JournalError::Off)?;
        let _one = journal
            .snapshotting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = journal.writer.rotate()?;
        let dir = &journal.dir;
        let (segments, snapshots) = reader::list(dir)?;
        let base = snapshots.iter().copied().filter(|&s| s < index).max();
        let mut replay = Replay::default();
        if let Some(base) = base {
            let (_, events) = reader::read_snapshot(dir, base)?;
            replay.in_snapshot = true;
            for event in events {
                replay.apply(event);
            }
            replay.in_snapshot = false;
        }
        let covered: Vec<u64> = segments
            .iter()
            .copied()
            .filter(|&s| s >= base.unwrap_or(0) && s < index)
            .collect();
        for &segment in &covered {
            let file = File::read(writer::segment_path(dir, segment), format::SEGMENT_MAGIC)?;
            for record in file.records(0) {
                match record {
                    Ok(event) => replay.apply(event),
                    Err(Damage { offset, reason }) => {
                        return Err(JournalError::Corrupt {
                            path: file.path.clone(),
                            offset: offset as u64,
                            reason,
                        })
                    }
                }
            }
        }
        let keys_since = unix_now_ns().saturating_sub(self.keys.retention_ns());
        let events = replay.events(journal.instance, journal.keep_finished, keys_since);
        replay::write_snapshot(dir, index, journal.instance, journal.shards, &events)?;
        for segment in segments.into_iter().filter(|&s| s < index) {
            let path = writer::segment_path(dir, segment);
            std::fs::remove_file(&path).map_err(|e| JournalError::io(&path, &e))?;
        }
        for snapshot in snapshots.into_iter().filter(|&s| s < index) {
            let path = writer::snapshot_path(dir, snapshot);
            std::fs::remove_file(&path).map_err(|e| JournalError::io(&path, &e))?;
        }
        writer::sync_dir(dir).map_err(|e| JournalError::io(dir, &e))?;
        journal.last_snapshot.fetch_max(index, Ordering::Relaxed);
        Ok(index)
    }

    /// The automatic snapshot's pass (see `InventoryBuilder::journal_snapshot_every`): a
    /// snapshot once `every` segments were closed since the last one.
    fn snapshot_if_due(&self, every: u64) {
        let Some(journal) = self.journal.as_deref() else {
            return;
        };
        // Relaxed: a hint read by the one thread that writes snapshots automatically; a
        // manual snapshot only makes it later.
        let last = journal.last_snapshot.load(Ordering::Relaxed);
        let segment = journal.writer.segment();
        if segment >= last.saturating_add(every) && self.snapshot().is_err() {
            // The journal's failure (the writer reports it to every caller) or the
            // directory's (a damaged segment, which recovery reports): tried again once
            // `every` more segments are closed, not on every pass (a snapshot reads them all).
            // Relaxed: as above.
            journal.last_snapshot.fetch_max(segment, Ordering::Relaxed);
        }
    }

    /// Runs a change and, with a journal, makes it durable before answering (see
    /// [`Durability`]).
    #[inline(always)]
    pub(super) fn logged<T, E: From<JournalFailure>>(
        &self,
        change: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        match self.journal.as_deref() {
            None => change(),
            Some(journal) => journal.logged(change),
        }
    }

    /// [`logged`](Inner::logged) for async callers: awaits the disk instead of blocking.
    pub(super) async fn logged_async<T, E: From<JournalFailure>>(
        &self,
        result: Result<T, E>,
    ) -> Result<T, E> {
        let Some(journal) = self.journal.as_deref() else {
            return result;
        };
        if result.is_err() || !journal.writer.is_durable() {
            return journal.settle(result, 1);
        }
        // Everything appended so far, this call's records included.
        match journal.writer.wait_async(journal.writer.appended()).await {
            Ok(()) => result,
            Err(failure) => Err(failure.into()),
        }
    }

    /// A version for a hold about to replace one read from its entry (0 without a journal);
    /// see [`HoldVersions::next`](crate::journal::HoldVersions::next) for when to take it.
    #[inline(always)]
    pub(super) fn journal_stamp(&self) -> u64 {
        match self.journal.as_deref() {
            None => 0,
            Some(journal) => journal.stamps.next(),
        }
    }

    /// Appends the record of `hold`, which this thread has just installed (a successful swap
    /// or insertion) as version `version` of reservation `seq` of `cart`. The record is
    /// encoded straight into this thread's journal lane from the installed hold, which the
    /// caller's guard keeps alive even if another thread has replaced it since.
    #[inline(always)]
    pub(super) fn journal_held(
        &self,
        change: HoldChange,
        cart: u64,
        seq: u64,
        version: u64,
        hold: &Hold,
    ) {
        if let Some(journal) = self.journal.as_deref() {
            self.append_held(journal, change, cart, seq, version, hold);
        }
    }

    #[inline(never)]
    fn append_held(
        &self,
        journal: &Journal,
        change: HoldChange,
        cart: u64,
        seq: u64,
        version: u64,
        hold: &Hold,
    ) {
        let key = match change {
            HoldChange::Reserve => KEY.with(Cell::get),
            _ => None,
        };
        let deadline = self.anchor_unix_ns.saturating_add(hold.deadline);
        let position = journal.writer.append_with(|out| {
            format::held(
                out,
                cart,
                seq,
                version,
                change,
                deadline,
                key,
                hold.lines().iter().copied(),
            );
        });
        LAST.with(|last| last.set(position));
    }

    /// Appends the outcome of a reservation this thread just finished.
    #[inline(always)]
    pub(super) fn journal_finished(&self, entry: &Entry, to: State, lines: &[Line]) {
        if self.journal.is_some() {
            self.append_finished(entry, to, lines);
        }
    }

    #[inline(never)]
    fn append_finished(&self, entry: &Entry, to: State, lines: &[Line]) {
        if let Some(journal) = self.journal.as_deref() {
            let position = journal.writer.append_with(|out| {
                format::finished(out, entry.cart, entry.seq, outcome(to), lines);
            });
            LAST.with(|last| last.set(position));
        }
    }

    /// Appends a catalog event (built only with a journal).
    #[inline]
    pub(super) fn journal_event(&self, event: impl FnOnce() -> Event) {
        if let Some(journal) = self.journal.as_deref() {
            let event = event();
            let position = journal.writer.append_with(|out| format::event(out, &event));
            LAST.with(|last| last.set(position));
        }
    }

    /// For a change just made outside [`logged`](Inner::logged) (the waiting reserve): the
    /// position to wait for with a durable journal (everything appended so far), or the
    /// journal's failure; `Ok(None)` when there is nothing to wait for.
    pub(super) fn durable_position(&self) -> Result<Option<u64>, JournalFailure> {
        let Some(journal) = self.journal.as_deref() else {
            return Ok(None);
        };
        if let Some(failure) = journal.writer.failure() {
            return Err(failure);
        }
        Ok(journal
            .writer
            .is_durable()
            .then(|| journal.writer.appended()))
    }

    /// Polls until everything up to `position` is on disk (see
    /// [`durable_position`](Inner::durable_position)).
    pub(super) fn poll_durable(
        &self,
        position: u64,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), JournalFailure>> {
        match self.journal.as_deref() {
            None => std::task::Poll::Ready(Ok(())),
            Some(journal) => journal.writer.poll_wait(position, cx),
        }
    }

    pub(super) fn has_journal(&self) -> bool {
        self.journal.is_some()
    }
}

impl InventoryBuilder {
    /// Keeps the inventory in `dir`: [`open`](InventoryBuilder::open) rebuilds it from there
    /// and appends every change to its journal. [`build`](InventoryBuilder::build) and
    /// [`try_build`](InventoryBuilder::try_build) ignore this setting (they cannot report an
    /// I/O error). Default: no journal.
    #[must_use]
    pub fn journal(mut self, dir: impl AsRef<Path>) -> Self {
        self.journal_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// When a change counts as done (see [`Durability`]). Default: [`Durability::Durable`].
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.journal.durability = durability;
        self
    }

    /// How long and how many request keys of [`Inventory::reserve_once`] are remembered:
    /// a key is forgotten once it is older than `retention` or when `count` newer ones were
    /// answered (counted per stripe of 1/64 of the keys), whichever comes first. Memory: at
    /// most about 120 bytes per key. Default: 24 hours and 262 144 keys (about 30 MB at most).
    #[must_use]
    pub fn remember_requests(mut self, retention: Duration, count: usize) -> Self {
        self.journal.key_retention = retention;
        self.journal.keys = count;
        self
    }

    /// How large a journal segment grows before the next is begun. Recovery and
    /// [`JournalReader`](crate::journal::JournalReader) read one segment at a time, whole, so
    /// this bounds their memory (besides the state being rebuilt); a snapshot removes the
    /// segments it covers. Clamped to 64 KiB ..= 4 GiB when the inventory opens. Default:
    /// 64 MiB.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("atomic-stock-doc-segments-{}", std::process::id()));
    /// use atomic_stock::Inventory;
    ///
    /// let inventory = Inventory::builder()
    ///     .journal_segment_bytes(16 << 20)
    ///     .open_dir(&dir)?;
    /// # drop(inventory);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn journal_segment_bytes(mut self, bytes: u64) -> Self {
        self.journal.segment_bytes = bytes;
        self
    }

    /// Writes a snapshot (as [`Inventory::snapshot`] does) on a background thread every time
    /// `segments` more segments have been closed since the last one, so that the directory,
    /// and what recovery reads and keeps in memory while it folds the journal, stay bounded
    /// (about `segments + 1` times [`journal_segment_bytes`](Self::journal_segment_bytes) of
    /// journal beside one snapshot) however long the inventory runs. Default 4; 0 turns
    /// automatic snapshots off (then only [`Inventory::snapshot`] bounds them). Dropping the
    /// inventory waits for a snapshot in progress.
    ///
    /// ```
    /// use atomic_stock::Inventory;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = std::env::temp_dir().join(format!("atomic-stock-doc-every-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let inventory = Inventory::builder()
    ///     .journal_snapshot_every(8)
    ///     .open_dir(&dir)?;
    /// assert!(inventory.has_journal());
    /// # drop(inventory);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn journal_snapshot_every(mut self, segments: u64) -> Self {
        self.journal.snapshot_every = segments;
        self
    }

    pub(super) fn durability_setting(&self) -> Durability {
        self.journal.durability
    }

    /// Opens the inventory kept in `dir` (created if missing): rebuilds it from the newest
    /// snapshot and the journal after it, then appends every change to the journal, in the
    /// builder's [`durability`](InventoryBuilder::durability). Equivalent to setting
    /// [`journal`](InventoryBuilder::journal) and calling [`open`](InventoryBuilder::open).
    pub fn open_dir(self, dir: impl AsRef<Path>) -> Result<Inventory, JournalError> {
        self.journal(dir).open()
    }

    /// Builds the inventory with its journal in the directory set by
    /// [`journal`](InventoryBuilder::journal), recovering what the directory holds (see
    /// [`Inventory::open`]). Settings out of range are clamped as by
    /// [`build`](InventoryBuilder::build); the shard count is the one the directory was
    /// created with, whatever this builder says (reservation ids name their shard).
    pub fn open(self) -> Result<Inventory, JournalError> {
        let started = Instant::now();
        let Some(dir) = self.journal_dir.clone() else {
            return Err(JournalError::Off);
        };
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, &e))?;
        let lock = crate::journal::DirLock::take(&dir)?;
        let found = recover(&dir)?;
        let builder = match found.shards {
            Some(shards) => self.shards(shards as usize),
            None => self,
        };
        let (builder, reaper) = builder.clamped().without_reaper();
        let shards = builder.shard_count() as u32;
        let instance = found.instance.unwrap_or_else(instance_tag);
        let segment = found.last_index + 1;
        let file = writer::create_segment(&dir, segment, instance, shards)
            .map_err(|e| JournalError::io(&dir, &e))?;
        let journal = Journal {
            _lock: lock,
            writer: Writer::start(
                dir.clone(),
                file,
                segment,
                instance,
                shards,
                builder.durability_setting(),
                builder
                    .journal
                    .segment_bytes
                    .clamp(writer::MIN_SEGMENT_BYTES, writer::MAX_SEGMENT_BYTES),
            )?,
            stamps: crate::journal::HoldVersions::starting_at(found.replay.stamp.max(1)),
            dir,
            instance,
            shards,
            keep_finished: (builder.finished_setting() as u64).div_ceil(u64::from(shards)),
            snapshotting: Mutex::new(()),
            last_snapshot: std::sync::atomic::AtomicU64::new(found.snapshot.unwrap_or(0)),
            recovery: OnceLock::new(),
        };
        let snapshot_every = builder.journal.snapshot_every;
        let mut inventory = builder.assemble_with(instance, Some(Box::new(journal)));
        let mut recovery = restore(&inventory.inner, found.replay)?;
        recovery.snapshot = found.snapshot;
        recovery.torn_bytes = found.torn_bytes;
        recovery.expired_on_open = inventory.inner.expire_due();
        recovery.took = started.elapsed();
        inventory.reaper = reaper.map(|tick| super::builder::start_reaper(&inventory.inner, tick));
        if snapshot_every > 0 {
            let inner = inventory.inner.clone();
            inventory.snapshotter = Some(Reaper::start_named(
                "atomic-stock-snapshot",
                SNAPSHOT_POLL,
                move || {
                    inner.snapshot_if_due(snapshot_every);
                    None
                },
            ));
        }
        if let Some(journal) = inventory.inner.journal.as_deref() {
            let _ = journal.recovery.set(recovery);
        }
        Ok(inventory)
    }
}

/// What the directory held.
struct Found {
    replay: Replay,
    instance: Option<u32>,
    shards: Option<u32>,
    snapshot: Option<u64>,
    /// The highest file index present (0 if none).
    last_index: u64,
    torn_bytes: u64,
}

/// Checks that a file belongs with the others.
fn check(
    header: &crate::journal::format::Header,
    path: &Path,
    instance: &mut Option<u32>,
    shards: &mut Option<u32>,
) -> Result<(), JournalError> {
    if *instance.get_or_insert(header.instance) != header.instance
        || *shards.get_or_insert(header.shards) != header.shards
    {
        return Err(JournalError::Inconsistent {
            reason: format!(
                "{} was written by another inventory ({:08x}, {} shards)",
                path.display(),
                header.instance,
                header.shards
            ),
        });
    }
    Ok(())
}

/// Reads the newest snapshot and the segments after it; cuts a torn tail off the last one.
fn recover(dir: &Path) -> Result<Found, JournalError> {
    let (segments, snapshots) = reader::list(dir)?;
    let mut found = Found {
        replay: Replay::default(),
        instance: None,
        shards: None,
        snapshot: snapshots.last().copied(),
        last_index: segments
            .last()
            .copied()
            .max(snapshots.last().copied())
            .unwrap_or(0),
        torn_bytes: 0,
    };
    let base = found.snapshot.unwrap_or(0);
    if let Some(index) = found.snapshot {
        let (header, events) = reader::read_snapshot(dir, index)?;
        check(
            &header,
            &writer::snapshot_path(dir, index),
            &mut found.instance,
            &mut found.shards,
        )?;
        found.replay.in_snapshot = true;
        for event in events {
            found.replay.apply(event);
        }
        found.replay.in_snapshot = false;
        found.replay.records = 0;
    }
    let live: Vec<u64> = segments.into_iter().filter(|&s| s >= base).collect();
    for (n, &index) in live.iter().enumerate() {
        let path = writer::segment_path(dir, index);
        let last = n + 1 == live.len();
        let file = match File::read(path.clone(), format::SEGMENT_MAGIC) {
            Ok(file) => file,
            // A segment created but never given its whole header (a crash right after the
            // file was created): nothing in it was ever acknowledged.
            Err(JournalError::Corrupt { offset: 0, .. }) if last => {
                let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                if len < format::HEADER_LEN as u64 {
                    std::fs::remove_file(&path).map_err(|e| JournalError::io(&path, &e))?;
                    found.torn_bytes += len;
                    continue;
                }
                return Err(JournalError::Corrupt {
                    path,
                    offset: 0,
                    reason: "no valid header",
                });
            }
            Err(e) => return Err(e),
        };
        check(&file.header, &path, &mut found.instance, &mut found.shards)?;
        let mut records = file.records(0);
        for record in records.by_ref() {
            match record {
                Ok(event) => found.replay.apply(event),
                Err(Damage { offset, reason }) if !last => {
                    return Err(JournalError::Corrupt {
                        path,
                        offset: offset as u64,
                        reason,
                    })
                }
                Err(Damage { offset, .. }) => {
                    // A torn write: nothing after the last sync was acknowledged. Cut it, so
                    // that only the newest segment can ever end in damage.
                    found.torn_bytes += (file.bytes.len() - offset) as u64;
                    let handle = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| JournalError::io(&path, &e))?;
                    handle
                        .set_len(offset as u64)
                        .and_then(|()| handle.sync_all())
                        .map_err(|e| JournalError::io(&path, &e))?;
                }
            }
        }
    }
    Ok(found)
}

/// Puts the replayed state into a freshly built inventory (before anyone else can use it).
fn restore(inner: &Inner, mut replay: Replay) -> Result<Recovery, JournalError> {
    let mut recovery = Recovery {
        records: replay.records,
        ..Recovery::default()
    };
    // What recovery decides beyond the records (a stale reservation expired, a level raised,
    // a placeholder item) is journaled too, so that the next recovery starts from it.
    let mut decided = Vec::new();
    for (cart, seq) in replay.one_per_cart() {
        format::finished(&mut decided, cart, seq, Outcome::Expired, &[]);
    }
    let held = replay.held();
    // Items, by id: every id up to the highest named anywhere, so that ids keep their meaning.
    let highest = replay
        .items
        .keys()
        .copied()
        .chain(held.keys().copied())
        .max();
    if let Some(highest) = highest {
        if highest >= crate::limits::MAX_ITEMS {
            return Err(JournalError::Inconsistent {
                reason: format!("item #{highest} is beyond the catalog's limit"),
            });
        }
        for index in 0..=highest {
            let item = replay.items.get(&index).cloned().unwrap_or_default();
            let held = held.get(&index).copied().unwrap_or(0);
            let mut received = item.received;
            if received < item.sold + held {
                format::event(
                    &mut decided,
                    &Event::Adjusted {
                        item: crate::ids::ItemId::new(index),
                        kind: crate::journal::AdjustKind::Level,
                        delta: item.sold + held - received,
                    },
                );
                received = item.sold + held;
                recovery.raised += 1;
            }
            let available = received - item.sold - held;
            let registered = match item.sku.as_deref().filter(|_| item.registered) {
                Some(sku) => inner.stock.register_sku(sku, available),
                None => inner.stock.register(available),
            };
            let id = registered.map_err(|e| JournalError::Inconsistent {
                reason: format!("item #{index} cannot be registered again: {e}"),
            })?;
            if id.get() != index {
                return Err(JournalError::Inconsistent {
                    reason: format!("item #{index} came back as {id}"),
                });
            }
            let slot = inner.stock.slot(id);
            slot.record_received(item.sold + held);
            if item.sold != 0 {
                slot.record_sold(item.sold);
            }
            if item.delisted || !item.registered {
                slot.delist();
            }
            if !item.registered {
                for event in [
                    Event::Registered {
                        item: id,
                        sku: None,
                        initial: 0,
                    },
                    Event::Delisted { item: id },
                ] {
                    format::event(&mut decided, &event);
                }
            }
            recovery.placeholders += usize::from(!item.registered);
        }
        recovery.items = highest as usize + 1;
    }
    // Reservation numbers: past everything issued, with a gap (see `NUMBER_GAP`).
    for (index, shard) in inner.shards.iter().enumerate() {
        let next = replay.next.get(index).copied().unwrap_or(0);
        // Relaxed: nobody else uses the inventory yet.
        shard
            .counter
            .store(next.max(1).saturating_add(NUMBER_GAP), Ordering::Relaxed);
    }
    // Outcomes.
    for (&(cart, seq), &outcome) in &replay.finished {
        if let Some(shard) = inner.shard_of(seq) {
            let state = match outcome {
                Outcome::Confirmed => State::Confirmed,
                Outcome::Released => State::Released,
                Outcome::Expired => State::Expired,
            };
            shard.finished.remember(seq >> SHARD_BITS, cart, state);
        }
    }
    // Live reservations, with their deadlines on this inventory's clock (a deadline that
    // passed while the inventory was down is 0: due now).
    let mut upkeep = Vec::new();
    {
        let guard = inner.epoch.pin();
        for (&(cart, seq), hold) in &replay.holds {
            let Some(shard) = inner.shard_of(seq) else {
                return Err(JournalError::Inconsistent {
                    reason: format!("reservation {seq} names a shard the inventory lacks"),
                });
            };
            let deadline = hold.deadline_unix_ns.saturating_sub(inner.anchor_unix_ns);
            let position = inner.registry.find(cart, &guard);
            let entry = Entry::new(cart, seq, Hold::new(deadline, hold.lines.iter().copied()));
            if inner.registry.insert(&position, entry, &guard).is_err() {
                return Err(JournalError::Inconsistent {
                    reason: format!("cart {cart} has two live reservations"),
                });
            }
            // Relaxed: see `Inner::admit`.
            shard.live.fetch_add(1, Ordering::Relaxed);
            let index = (seq & ((1 << SHARD_BITS) - 1)) as usize;
            let token = Token {
                deadline,
                cart,
                seq,
            };
            if inner.timer.schedule(index, token) {
                upkeep.push(index);
            }
        }
    }
    for index in upkeep {
        inner.timer.maintain(index, inner);
    }
    recovery.live = replay.holds.len();
    if !decided.is_empty() {
        if let Some(journal) = inner.journal.as_deref() {
            journal.writer.append(&decided);
        }
    }
    // Counters.
    let counters = inner.stock.counters().local();
    let [reserves, confirms, releases, partial, extends, expiries] = replay.counts;
    bump(&counters.reserves, reserves);
    bump(&counters.confirms, confirms);
    bump(&counters.releases, releases);
    bump(&counters.partial_releases, partial);
    bump(&counters.extends, extends);
    bump(&counters.expiries, expiries);
    // Request keys still within their retention.
    let now = unix_now_ns();
    for (key, k) in replay.keys {
        if k.at_unix_ns.saturating_add(inner.keys.retention_ns()) > now {
            inner.keys.insert(
                key,
                Answer {
                    id: crate::reservation::ReservationId::new(
                        CartId::new(k.cart),
                        k.seq,
                        inner.instance,
                    ),
                    deadline_unix_ns: k.deadline_unix_ns,
                    at_unix_ns: k.at_unix_ns,
                },
            );
        }
    }
    Ok(recovery)
}

impl Inventory {
    /// Opens the inventory kept in `dir` with default settings and [`Durability::Durable`]:
    /// the directory is created if missing; otherwise the inventory is rebuilt from it. Every
    /// change is then appended to its journal.
    ///
    /// What comes back: every item under its id and SKU, with its levels (`received`,
    /// `sold`, `held`, `available`); every live reservation, with its deadline (one that
    /// passed while the inventory was down is expired on open); the remembered outcomes of
    /// finished reservations; the counters of what happened to reservations (reserves,
    /// confirms, releases, partial releases, extends, expiries; not the contention and
    /// shortfall counters, which describe a run); the request keys of
    /// [`reserve_once`](Inventory::reserve_once). Ids issued before the restart keep working
    /// (the inventory keeps its tag); ids of another inventory are still refused.
    ///
    /// One inventory per directory at a time: an open inventory holds the directory (an
    /// exclusive `flock` on its `LOCK` file, on Linux; released when the inventory is dropped
    /// or its process dies), and another `open` of it answers [`JournalError::Locked`].
    /// [`JournalReader`](crate::journal::JournalReader) reads a held directory freely.
    ///
    /// ```
    /// use atomic_stock::{CartId, Confirmation, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// let dir = std::env::temp_dir().join(format!("atomic-stock-doc-open-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let inventory = Inventory::open(&dir).unwrap();
    /// let mug = inventory.register_sku("MUG-1", 5).unwrap();
    /// let receipt = inventory
    ///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
    ///     .unwrap();
    /// drop(inventory); // or a crash: the reserve returned, so its record is on disk
    ///
    /// let inventory = Inventory::open(&dir).unwrap();
    /// assert_eq!(inventory.item_by_sku("MUG-1"), Some(mug));
    /// assert_eq!(inventory.item(mug).unwrap().held, 2);
    /// assert_eq!(inventory.confirm(receipt.id), Ok(Confirmation::Confirmed));
    /// assert!(inventory.audit().is_ok());
    /// # drop(inventory);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Inventory, JournalError> {
        Inventory::builder().open_dir(dir)
    }

    /// What recovery found when this inventory was opened; `None` without a journal.
    #[must_use]
    pub fn recovery(&self) -> Option<&Recovery> {
        self.inner.journal.as_deref()?.recovery.get()
    }

    /// Waits until every change appended so far is on disk (for buffered mode; in durable mode
    /// every call already did).
    pub fn sync(&self) -> Result<(), JournalError> {
        let journal = self.inner.journal.as_deref().ok_or(JournalError::Off)?;
        Ok(journal.writer.wait(journal.writer.appended())?)
    }

    /// [`sync`](Inventory::sync) without blocking the thread.
    pub async fn sync_async(&self) -> Result<(), JournalError> {
        let journal = self.inner.journal.as_deref().ok_or(JournalError::Off)?;
        Ok(journal.writer.wait_async(journal.writer.appended()).await?)
    }

    /// Writes a snapshot of the journal so far and removes the segments it covers, so that
    /// recovery replays only what came after. Runs beside other calls (they go on appending
    /// to a new segment meanwhile); its cost is reading the segments it covers. Returns the
    /// snapshot's index.
    ///
    /// A snapshot keeps the items, live reservations, counters and request keys, and the
    /// outcomes of the newest finished reservations of each shard (as many as
    /// [`finished_memory`](InventoryBuilder::finished_memory) keeps in memory): outcomes
    /// older than that are forgotten by a restart after a snapshot, as they would be by the
    /// running inventory.
    pub fn snapshot(&self) -> Result<u64, JournalError> {
        self.inner.snapshot()
    }

    /// [`reserve`](Inventory::reserve) for a request that may be retried: the first call with
    /// `key` reserves; a later call with the same key (a retry after a timeout, a redelivered
    /// message) gets the first call's receipt and takes nothing, while the key is remembered.
    /// Two concurrent calls with one key never both reserve.
    ///
    /// Keys are remembered for [`remember_requests`](InventoryBuilder::remember_requests)'s
    /// time (default 24 hours) and count (default 262 144, at most about 120 bytes each),
    /// whichever runs out first, and with a journal across restarts (a key is in the same
    /// record as the reserve it made). Only successful answers are remembered: a refused
    /// request took nothing, so trying it again can take at most once.
    ///
    /// ```
    /// use atomic_stock::journal::RequestKey;
    /// use atomic_stock::{CartId, Inventory, Line};
    /// use std::time::Duration;
    ///
    /// let inventory = Inventory::new();
    /// let mug = inventory.register_item(5).unwrap();
    /// let (cart, ttl) = (CartId::new(1), Duration::from_secs(600));
    /// let key = RequestKey(0x5eed);
    /// let first = inventory.reserve_once(key, cart, &[Line::new(mug, 2)], ttl).unwrap();
    /// let retry = inventory.reserve_once(key, cart, &[Line::new(mug, 2)], ttl).unwrap();
    /// assert_eq!(first, retry);
    /// assert_eq!(inventory.item(mug).unwrap().held, 2);
    /// ```
    pub fn reserve_once(
        &self,
        key: RequestKey,
        cart: CartId,
        lines: &[Line],
        ttl: Duration,
    ) -> Result<Receipt, ReserveError> {
        self.inner.logged(|| {
            let mut stripe = self.inner.keys.stripe(key);
            let now = self.inner.anchor_unix_ns.saturating_add(self.inner.now());
            if let Some(answer) = stripe.get(key, now, self.inner.keys.retention_ns()) {
                return Ok(Receipt {
                    id: answer.id,
                    deadline: self.inner.instant(
                        answer
                            .deadline_unix_ns
                            .saturating_sub(self.inner.anchor_unix_ns),
                    ),
                });
            }
            /// Clears the thread's request key however the reserve ends (a panic included),
            /// so that no later record carries it.
            struct Keyed;
            impl Drop for Keyed {
                fn drop(&mut self) {
                    KEY.with(|k| k.set(None));
                }
            }
            KEY.with(|k| k.set(Some((key, now))));
            let keyed = Keyed;
            let result = self.within_max_wait(|| self.inner.reserve(cart, lines, ttl));
            drop(keyed);
            let receipt = result?;
            let since_origin = receipt
                .deadline
                .saturating_duration_since(self.inner.origin);
            let answer = Answer {
                id: receipt.id,
                deadline_unix_ns: self
                    .inner
                    .anchor_unix_ns
                    .saturating_add(u64::try_from(since_origin.as_nanos()).unwrap_or(u64::MAX)),
                at_unix_ns: now,
            };
            let per_stripe = self.inner.keys.per_stripe();
            stripe.insert(key, answer, per_stripe);
            Ok(receipt)
        })
    }

    /// Batches the journal has written and synced so far (for measurements of group
    /// commit); `None` without a journal.
    #[doc(hidden)]
    #[must_use]
    pub fn journal_syncs(&self) -> Option<u64> {
        Some(self.inner.journal.as_deref()?.writer.syncs())
    }

    /// Whether this inventory appends its changes to a journal.
    #[must_use]
    pub fn has_journal(&self) -> bool {
        self.inner.has_journal()
    }
}

/// Settings of the journal and of request keys, for the builder.
#[derive(Debug, Clone)]
pub(crate) struct JournalSettings {
    pub(crate) durability: Durability,
    pub(crate) key_retention: Duration,
    pub(crate) keys: usize,
    pub(crate) segment_bytes: u64,
    pub(crate) snapshot_every: u64,
}

impl Default for JournalSettings {
    fn default() -> Self {
        JournalSettings {
            durability: Durability::Durable,
            key_retention: crate::journal::keys::DEFAULT_RETENTION,
            keys: crate::journal::keys::DEFAULT_KEYS,
            segment_bytes: writer::SEGMENT_BYTES,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
        }
    }
}

impl JournalSettings {
    pub(crate) fn keys(&self) -> Keys {
        Keys::new(self.key_retention, self.keys)
    }
}
