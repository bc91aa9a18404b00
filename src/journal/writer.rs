//! The appending side of the journal: callers encode records into their lane's buffer (one
//! of 64, each under its own short mutex, picked per thread); one flusher thread per journal
//! takes every lane's buffer, writes the batch out and syncs it (group commit), then wakes
//! everyone whose records that sync covered.
//!
//! Positions are batch numbers: a record's position is the number of the batch its lane was
//! filling when it was appended, and `flushed` is the last batch that is on disk. The flusher
//! numbers a new batch before it takes the lanes and hands each lane the next number as it
//! empties it, so a record is written in the batch its position names, and batches reach the
//! file in their order. Within a batch the lanes' records are concatenated: each thread's own
//! records stay in the order it appended them (a thread always uses the same lane), and
//! records of different threads commute (see `DESIGN.md`, "Records are facts that commute").

use super::format::{Header, SEGMENT_MAGIC};
use super::{Durability, JournalError, JournalFailure};
use crossbeam_utils::CachePadded;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Duration;

/// In buffered mode a batch is flushed early once the lanes hold about this many bytes, so the
/// buffers' memory stays bounded whatever the window.
const EARLY_FLUSH_BYTES: usize = 1 << 20;

/// In buffered mode a caller waits for the disk once about this many bytes are appended and
/// not yet synced (the disk has fallen behind): the memory the journal buffers stays bounded.
/// Half of it may be in the batch being written, half in the lanes: once the lanes hold more
/// than that half, a caller waits for its batch.
const MAX_BACKLOG: usize = 8 << 20;

/// A lane adds what it holds to the journal's count of pending bytes ([`Shared::pending`]) in
/// steps of at least this many bytes, so that the shared counter is touched once per a hundred
/// records or so, not on every append. The count is short by less than this per lane.
const ACCOUNT_STEP: usize = 16 << 10;

/// Lanes of a journal. Not tied to the shard count: a lane's lock is held only for encoding a
/// record, but a holder preempted there stalls every thread of its lane, and with many more
/// threads than cores (256 callers on 2 cores) a few lanes become convoys.
const LANES: usize = 64;
const _: () = assert!(LANES.is_power_of_two());

/// Bytes after which a segment is closed and the next begun, by default (see
/// `InventoryBuilder::journal_segment_bytes`).
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;

/// The smallest and largest segment sizes a journal accepts (settings are clamped to them).
pub(crate) const MIN_SEGMENT_BYTES: u64 = 64 << 10;
pub(crate) const MAX_SEGMENT_BYTES: u64 = 4 << 30;

/// The path of segment `index` in `dir`.
pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:016x}.journal"))
}

/// The path of snapshot `index` in `dir` (covering every segment below `index`).
pub(crate) fn snapshot_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:016x}.snapshot"))
}

/// Creates segment `index`, writes its header and syncs it and the directory.
pub(crate) fn create_segment(
    dir: &Path,
    index: u64,
    instance: u32,
    shards: u32,
) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, index))?;
    let header = Header {
        magic: SEGMENT_MAGIC,
        instance,
        shards,
        index,
    };
    file.write_all(&header.encode())?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes a directory's entries (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// One lane: records appended by the threads that use it, not yet taken by the flusher.
#[derive(Debug)]
struct Lane {
    buffer: Mutex<LaneBuffer>,
}

#[derive(Debug)]
struct LaneBuffer {
    bytes: Vec<u8>,
    /// The batch these bytes will be written in.
    batch: u64,
    /// How many of `bytes` are counted in [`Shared::pending`].
    accounted: usize,
}

/// What callers tell the flusher.
#[derive(Debug)]
struct Control {
    /// The flusher is waiting for work (appenders in durable mode wake it).
    idle: bool,
    /// Close: flush what is pending and stop.
    stop: bool,
    /// Rotations asked for (by snapshots): the flusher starts a new segment after the next
    /// batch while it has served fewer than this.
    rotations_asked: u64,
    /// The highest batch a caller waits for: the flusher publishes it even if it holds no
    /// records (a caller that appended nothing waits for everything before it).
    wanted: u64,
}

/// What the flusher reports back.
#[derive(Debug)]
struct Flushed {
    /// The last batch that is on disk.
    upto: u64,
    /// The first I/O failure; the journal accepts no more after it.
    failure: Option<JournalFailure>,
    /// Index of the segment being written.
    segment: u64,
    /// Rotations asked for that are done: every record appended before one was asked for is
    /// in a segment below `segment`.
    rotations_done: u64,
}

#[derive(Debug)]
struct Shared {
    lanes: Box<[CachePadded<Lane>]>,
    control: Mutex<Control>,
    /// The flusher waits on it for work.
    work: Condvar,
    /// The batch records appended now go into (at most: a lane the flusher has not reached yet
    /// still fills the batch before); every lane's batch is at most this.
    open: AtomicU64,
    flushed: Mutex<Flushed>,
    /// Callers wait on it for their position to be flushed.
    done: Condvar,
    /// `Flushed::upto`, readable without the lock.
    upto: AtomicU64,
    /// Whether `Flushed::failure` is set, readable without the lock.
    failed: AtomicBool,
    wakers: Mutex<Vec<(u64, Waker)>>,
    durable: bool,
    window: Duration,
    /// A segment that holds this many bytes is closed after its batch and the next begun, so
    /// no file (which recovery and `JournalReader` read whole) grows without bound.
    segment_bytes: u64,
    /// Syncs done (batches written).
    syncs: AtomicU64,
    /// Bytes the lanes hold, counted in steps of [`ACCOUNT_STEP`] (so short by less than one
    /// step per lane): the early flush and the backlog wait look at it.
    pending: AtomicUsize,
}

impl Shared {
    /// Whether any lane holds records. Takes every lane's lock (the flusher, once per wait).
    fn any_pending(&self) -> bool {
        self.lanes
            .iter()
            .any(|lane| !lock(&lane.buffer).bytes.is_empty())
    }
}

/// An open journal: the appending side.
#[derive(Debug)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

/// Threads started using a journal so far, to spread them over the lanes.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's lane number (modulo a journal's lanes).
    static LANE: usize = THREADS.fetch_add(1, Ordering::Relaxed);
}

/// Locks a mutex of the journal. None of them is held across user code or anything that can
/// panic halfway through an update, so a poisoned one holds consistent data: go on with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Writer {
    /// Starts a journal appending to `file` (segment `segment` of `dir`, header written), with
    /// [`LANES`] lanes, starting a new segment once one holds `segment_bytes`.
    pub(crate) fn start(
        dir: PathBuf,
        file: File,
        segment: u64,
        instance: u32,
        shards: u32,
        durability: Durability,
        segment_bytes: u64,
    ) -> Result<Writer, JournalError> {
        let (durable, window) = match durability {
            Durability::Durable => (true, Duration::ZERO),
            Durability::Buffered { window } => (false, window.max(Duration::from_micros(100))),
        };
        let shared = Arc::new(Shared {
            lanes: (0..LANES)
                .map(|_| {
                    CachePadded::new(Lane {
                        buffer: Mutex::new(LaneBuffer {
                            bytes: Vec::new(),
                            batch: 1,
                            accounted: 0,
                        }),
                    })
                })
                .collect(),
            control: Mutex::new(Control {
                idle: false,
                stop: false,
                rotations_asked: 0,
                wanted: 0,
            }),
            work: Condvar::new(),
            open: AtomicU64::new(1),
            flushed: Mutex::new(Flushed {
                upto: 0,
                failure: None,
                segment,
                rotations_done: 0,
            }),
            done: Condvar::new(),
            upto: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            durable,
            window,
            segment_bytes,
            syncs: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("atomic-stock-journal".into())
                .spawn(move || flush_loop(&shared, dir, file, instance, shards))
                .map_err(|e| JournalError::Io {
                    path: PathBuf::new(),
                    kind: e.kind(),
                    message: e.to_string(),
                })?
        };
        Ok(Writer {
            shared,
            flusher: Mutex::new(Some(thread)),
        })
    }

    /// Index of the segment being written.
    pub(crate) fn segment(&self) -> u64 {
        lock(&self.shared.flushed).segment
    }

    /// Whether callers wait for their records to be on disk.
    pub(crate) fn is_durable(&self) -> bool {
        self.shared.durable
    }

    /// The current thread's lane.
    fn lane(&self) -> &Lane {
        let lanes = &self.shared.lanes;
        &lanes[LANE.with(|lane| *lane) % LANES]
    }

    /// Appends `bytes` (whole framed records) and returns their position.
    pub(crate) fn append(&self, bytes: &[u8]) -> u64 {
        self.append_with(|out| out.extend_from_slice(bytes))
    }

    /// Appends the records `write` encodes (it only appends to the buffer it is given) and
    /// returns their position.
    pub(crate) fn append_with(&self, write: impl FnOnce(&mut Vec<u8>)) -> u64 {
        let lane = self.lane();
        let mut buffer = lock(&lane.buffer);
        write(&mut buffer.bytes);
        // Relaxed: after a failure nothing is written any more, and what is appended is
        // dropped so the buffer does not grow without bound (callers are told of the failure);
        // a late view only keeps one more record until the next append.
        if self.shared.failed.load(Ordering::Relaxed) {
            buffer.bytes.clear();
        }
        let after = buffer.bytes.len();
        let batch = buffer.batch;
        let mut early = false;
        // Relaxed (both): a count for the early flush and `over_backlog`, which need no
        // ordering (a stale value makes one caller wait for one batch more or less, or
        // flushes one batch a little earlier or later).
        if after < buffer.accounted {
            // Dropped after a failure.
            let dropped = buffer.accounted - after;
            buffer.accounted = after;
            self.shared.pending.fetch_sub(dropped, Ordering::Relaxed);
        } else if after - buffer.accounted >= ACCOUNT_STEP {
            let added = after - buffer.accounted;
            buffer.accounted = after;
            let total = self.shared.pending.fetch_add(added, Ordering::Relaxed) + added;
            early = total - added < EARLY_FLUSH_BYTES && total >= EARLY_FLUSH_BYTES;
        }
        drop(buffer);
        // Durable callers always wake an idle flusher; buffered ones once the lanes pass an
        // early batch.
        if self.shared.durable || early {
            self.kick(0);
        }
        batch
    }

    /// Whether the current thread should wait for the disk even in buffered mode: the lanes
    /// hold more than half of [`MAX_BACKLOG`] (the disk has fallen behind).
    pub(crate) fn over_backlog(&self) -> bool {
        // Relaxed: as in `append_with`.
        self.shared.pending.load(Ordering::Relaxed) > MAX_BACKLOG / 2
    }

    /// Batches written and synced so far.
    pub(crate) fn syncs(&self) -> u64 {
        // Relaxed: a statistic.
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// Position of everything appended so far.
    pub(crate) fn appended(&self) -> u64 {
        // Acquire: pairs with the flusher's Release store when it opens a batch; any record
        // appended before this call is in a batch up to the value read (lanes get a batch
        // number only after it is opened).
        self.shared.open.load(Ordering::Acquire)
    }

    /// The failure that stopped the journal, if any.
    pub(crate) fn failure(&self) -> Option<JournalFailure> {
        // Acquire: pairs with the Release store in `publish`; the failure was written before.
        if self.shared.failed.load(Ordering::Acquire) {
            lock(&self.shared.flushed).failure
        } else {
            None
        }
    }

    /// Waits until everything up to `position` is on disk (waking the flusher if it idles).
    pub(crate) fn wait(&self, position: u64) -> Result<(), JournalFailure> {
        // Acquire: pairs with the Release store of `upto` by the flusher after its sync.
        if self.shared.upto.load(Ordering::Acquire) >= position {
            return Ok(());
        }
        self.kick(position);
        let mut flushed = lock(&self.shared.flushed);
        loop {
            if let Some(failure) = flushed.failure {
                return Err(failure);
            }
            if flushed.upto >= position {
                return Ok(());
            }
            flushed = self
                .shared
                .done
                .wait(flushed)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Wakes the flusher if it is idle, and tells it that a caller waits for batch `position`
    /// (0: none; an appender's records are in its lane). Taken after the caller's records are
    /// in its lane: the flusher checks the lanes and `wanted` while holding `control` and sets
    /// `idle` before it releases it in its wait, so either it sees them or this sees it idle.
    fn kick(&self, position: u64) {
        let mut control = lock(&self.shared.control);
        control.wanted = control.wanted.max(position);
        if control.idle {
            control.idle = false;
            drop(control);
            self.shared.work.notify_one();
        }
    }

    /// Waits, without blocking the thread, until everything up to `position` is on disk.
    pub(crate) async fn wait_async(&self, position: u64) -> Result<(), JournalFailure> {
        std::future::poll_fn(|cx| self.poll_wait(position, cx)).await
    }

    /// Whether everything up to `position` is on disk; if not, `cx`'s waker is woken once it
    /// is (or the journal failed).
    pub(crate) fn poll_wait(
        &self,
        position: u64,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), JournalFailure>> {
        // Acquire: as in `wait`.
        if self.shared.upto.load(Ordering::Acquire) >= position {
            return std::task::Poll::Ready(Ok(()));
        }
        // Registered under the `flushed` lock, which the flusher takes to publish a new
        // position before it drains the wakers: no wake-up can fall between the check and the
        // registration.
        let flushed = lock(&self.shared.flushed);
        if let Some(failure) = flushed.failure {
            return std::task::Poll::Ready(Err(failure));
        }
        if flushed.upto >= position {
            return std::task::Poll::Ready(Ok(()));
        }
        lock(&self.shared.wakers).push((position, cx.waker().clone()));
        drop(flushed);
        self.kick(position);
        std::task::Poll::Pending
    }

    /// Closes the current segment after what is pending and starts the next one; returns the
    /// new segment's index once it exists (every record appended before this call is in a
    /// lower segment).
    pub(crate) fn rotate(&self) -> Result<u64, JournalFailure> {
        // A ticket, not the segment index: a segment that fills up also moves the index, at a
        // batch that may not hold everything appended before this call.
        let ticket = {
            let mut control = lock(&self.shared.control);
            control.rotations_asked += 1;
            control.idle = false;
            control.rotations_asked
        };
        self.shared.work.notify_one();
        let mut flushed = lock(&self.shared.flushed);
        loop {
            if let Some(failure) = flushed.failure {
                return Err(failure);
            }
            if flushed.rotations_done >= ticket {
                return Ok(flushed.segment);
            }
            flushed = self
                .shared
                .done
                .wait(flushed)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Flushes what is pending and stops the flusher; idempotent.
    pub(crate) fn close(&self) {
        {
            let mut control = lock(&self.shared.control);
            control.stop = true;
            control.idle = false;
        }
        self.shared.work.notify_one();
        if let Some(thread) = lock(&self.flusher).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Writes every buffer of `buffers`, in order, with as few system calls as the file takes.
fn write_all_vectored(file: &mut File, buffers: &[Vec<u8>]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = buffers
        .iter()
        .filter(|bytes| !bytes.is_empty())
        .map(|bytes| std::io::IoSlice::new(bytes))
        .collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The flusher: takes every lane's records as one batch, writes and syncs it, publishes it.
fn flush_loop(shared: &Shared, dir: PathBuf, mut file: File, instance: u32, shards: u32) {
    // What the lanes held, one buffer per lane.
    let mut taken: Vec<Vec<u8>> = vec![Vec::new(); LANES];
    // The last batch published.
    let mut published = 0;
    // Rotations asked for that are done.
    let mut rotations = 0;
    // Bytes in the segment being written (it starts with its header).
    let mut written = super::format::HEADER_LEN as u64;
    loop {
        let (stop, asked) = {
            let mut control = lock(&shared.control);
            loop {
                if control.stop || control.rotations_asked > rotations || control.wanted > published
                {
                    break;
                }
                if shared.durable && shared.any_pending() {
                    break;
                }
                control.idle = true;
                if shared.durable {
                    control = shared
                        .work
                        .wait(control)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                } else {
                    let (guard, timeout) = shared
                        .work
                        .wait_timeout(control, shared.window)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    control = guard;
                    if timeout.timed_out() && shared.any_pending() {
                        break;
                    }
                }
                // Whoever notifies clears `idle` first (a spurious wake-up leaves it set): a
                // caller waiting (even for a batch with nothing in it: it is then published
                // without a write), or in buffered mode a full lane, flushes early.
                if !control.idle {
                    break;
                }
            }
            control.idle = false;
            (control.stop, control.rotations_asked)
        };
        // Relaxed: only this thread writes `open`.
        let batch = shared.open.load(Ordering::Relaxed);
        // Release: pairs with the Acquire load in `appended`; opened before any lane gets it.
        shared.open.store(batch + 1, Ordering::Release);
        // Each lane's buffer is swapped for the (empty) one it had last time, so a lane's lock
        // is held for a swap, never for a copy.
        let mut accounted = 0;
        for (lane, taken) in shared.lanes.iter().zip(taken.iter_mut()) {
            let mut buffer = lock(&lane.buffer);
            std::mem::swap(&mut buffer.bytes, taken);
            buffer.batch = batch + 1;
            accounted += std::mem::take(&mut buffer.accounted);
        }
        // Relaxed: as in `Writer::append_with`.
        shared.pending.fetch_sub(accounted, Ordering::Relaxed);
        let mut result = Ok(());
        if taken.iter().any(|bytes| !bytes.is_empty()) {
            // Callers append their records unsealed; their checksums are computed here, off
            // their path.
            for bytes in &mut taken {
                super::format::seal(bytes);
            }
            result = write_all_vectored(&mut file, &taken).and_then(|()| file.sync_data());
            written += taken.iter().map(|bytes| bytes.len() as u64).sum::<u64>();
            // Relaxed: a statistic.
            shared.syncs.fetch_add(1, Ordering::Relaxed);
        }
        for bytes in &mut taken {
            // A lane's buffer comes back to it at the next batch: it keeps room for about
            // twice what it held this time (a lane that fills up again does not regrow by
            // doubling, copying as it goes), and a burst's room is given back.
            let held = bytes.len();
            bytes.clear();
            if bytes.capacity() > 2 * held + ACCOUNT_STEP {
                bytes.shrink_to(2 * held);
            }
        }
        let mut rotated = None;
        if result.is_ok() && (asked > rotations || written >= shared.segment_bytes) {
            let next = lock(&shared.flushed).segment + 1;
            match create_segment(&dir, next, instance, shards) {
                Ok(new) => {
                    file = new;
                    written = super::format::HEADER_LEN as u64;
                    rotated = Some(next);
                    rotations = asked;
                }
                Err(e) => result = Err(e),
            }
        }
        publish(
            shared,
            batch,
            rotated.map(|index| (index, rotations)),
            result.err(),
        );
        published = batch;
        // Relaxed: this thread is the only writer of `failed`.
        if stop || shared.failed.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Publishes a flushed batch (or its failure) to waiting callers.
/// `rotated`: the new segment's index and the rotations asked for that are now done.
fn publish(shared: &Shared, end: u64, rotated: Option<(u64, u64)>, error: Option<std::io::Error>) {
    let mut flushed = lock(&shared.flushed);
    match error {
        None => {
            flushed.upto = end;
            // Release: pairs with the Acquire loads in `wait` and `wait_async`; the sync that
            // made these bytes durable happened before.
            shared.upto.store(end, Ordering::Release);
        }
        Some(e) => {
            flushed.failure = Some(JournalFailure { kind: e.kind() });
            // Release: pairs with the Acquire load in `failure`; the failure is written first.
            shared.failed.store(true, Ordering::Release);
        }
    }
    if let Some((index, done)) = rotated {
        flushed.segment = index;
        flushed.rotations_done = done;
    }
    let failed = flushed.failure.is_some();
    let mut wakers = lock(&shared.wakers);
    wakers.retain(|(position, waker)| {
        let ready = failed || *position <= flushed.upto;
        if ready {
            waker.wake_by_ref();
        }
        !ready
    });
    drop(wakers);
    drop(flushed);
    shared.done.notify_all();
}

// Not under Miri: these tests sync real files, which Miri does not support (`fsync` on these
// descriptors is an unsupported operation there); the writer holds no unsafe code.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use crate::journal::format::{self, Frame};

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("atomic-stock-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn record(thread: u64, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        format::framed(&mut out, |out| {
            out.extend_from_slice(&thread.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        });
        out
    }

    #[test]
    fn waiting_callers_share_syncs_and_every_record_lands_in_order() {
        let dir = dir("group");
        let file = create_segment(&dir, 1, 7, 1).unwrap();
        let writer = Writer::start(
            dir.clone(),
            file,
            1,
            7,
            1,
            Durability::Durable,
            SEGMENT_BYTES,
        )
        .unwrap();
        std::thread::scope(|s| {
            for thread in 0..8 {
                let writer = &writer;
                s.spawn(move || {
                    for n in 0..50 {
                        let position = writer.append(&record(thread, n));
                        writer.wait(position).unwrap();
                    }
                });
            }
        });
        let syncs = writer.syncs();
        assert!(syncs <= 400, "{syncs} syncs for 400 records");
        writer.close();
        let bytes = std::fs::read(segment_path(&dir, 1)).unwrap();
        let mut offset = format::HEADER_LEN;
        let mut next = [0u64; 8];
        while let Frame::Record(payload, len) = format::frame(&bytes[offset..]) {
            let thread = u64::from_le_bytes(payload[..8].try_into().unwrap()) as usize;
            let n = u64::from_le_bytes(payload[8..].try_into().unwrap());
            assert_eq!(n, next[thread], "thread {thread}'s records in order");
            next[thread] += 1;
            offset += len;
        }
        assert_eq!(offset, bytes.len());
        assert_eq!(next, [50; 8]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_io_error_stops_the_journal_and_every_waiter_hears_of_it() {
        let dir = dir("failure");
        drop(create_segment(&dir, 1, 7, 1).unwrap());
        // A handle that cannot write: the first batch fails.
        let read_only = File::open(segment_path(&dir, 1)).unwrap();
        let writer = Writer::start(
            dir.clone(),
            read_only,
            1,
            7,
            1,
            Durability::Durable,
            SEGMENT_BYTES,
        )
        .unwrap();
        let position = writer.append(&record(0, 0));
        let failure = writer.wait(position).unwrap_err();
        assert_eq!(writer.failure(), Some(failure));
        let later = writer.append(&record(0, 1));
        assert_eq!(writer.wait(later), Err(failure));
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn buffered_mode_syncs_within_its_window() {
        let dir = dir("buffered");
        let file = create_segment(&dir, 1, 7, 1).unwrap();
        let window = Duration::from_millis(20);
        let writer = Writer::start(
            dir.clone(),
            file,
            1,
            7,
            1,
            Durability::Buffered { window },
            SEGMENT_BYTES,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let position = writer.append(&record(0, 0));
        // Nobody waits: the flusher syncs on its own within the window. (Acquire: as in
        // `wait`.)
        while writer.shared.upto.load(Ordering::Acquire) < position {
            assert!(started.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
