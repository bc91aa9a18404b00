//! The appending side of the journal: callers encode records into one shared buffer under a
//! short mutex; one flusher thread per journal writes the buffer out and syncs it (group
//! commit), then wakes everyone whose records that sync covered.
//!
//! Positions are byte counts: a record's position is the number of bytes appended up to and
//! including it since the journal was opened, and `flushed` is the position up to which
//! everything is on disk. The file on disk is always a prefix of the append order, because one
//! thread writes the batches in the order they were taken.

use super::format::{Header, SEGMENT_MAGIC};
use super::{Durability, JournalError, JournalFailure};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Duration;

/// In buffered mode a batch is flushed early once it holds this many bytes, so the buffer's
/// memory stays bounded whatever the window.
const EARLY_FLUSH_BYTES: usize = 1 << 20;

/// In buffered mode a caller waits for the disk once this many bytes are appended and not yet
/// synced (the disk has fallen behind): the memory the journal buffers stays bounded.
const MAX_BACKLOG: u64 = 8 << 20;

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

/// What callers hand to the flusher.
#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    /// Position of the last byte appended.
    end: u64,
    /// The flusher is waiting for work (appenders in durable mode wake it).
    idle: bool,
    /// Close: flush what is pending and stop.
    stop: bool,
    /// Start a new segment after the next batch (requested by a snapshot).
    rotate: bool,
}

/// What the flusher reports back.
#[derive(Debug)]
struct Flushed {
    /// Position up to which everything is on disk.
    upto: u64,
    /// The first I/O failure; the journal accepts no more after it.
    failure: Option<JournalFailure>,
    /// Index of the segment being written.
    segment: u64,
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    /// The flusher waits on it for work.
    work: Condvar,
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
    /// Syncs done (batches written).
    syncs: AtomicU64,
}

/// An open journal: the appending side.
#[derive(Debug)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

/// Locks a mutex of the journal. None of them is held across user code or anything that can
/// panic halfway through an update, so a poisoned one holds consistent data: go on with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Writer {
    /// Starts a journal appending to `file` (segment `segment` of `dir`, header written).
    pub(crate) fn start(
        dir: PathBuf,
        file: File,
        segment: u64,
        instance: u32,
        shards: u32,
        durability: Durability,
    ) -> Result<Writer, JournalError> {
        let (durable, window) = match durability {
            Durability::Durable => (true, Duration::ZERO),
            Durability::Buffered { window } => (false, window.max(Duration::from_micros(100))),
        };
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                bytes: Vec::with_capacity(64 << 10),
                end: 0,
                idle: false,
                stop: false,
                rotate: false,
            }),
            work: Condvar::new(),
            flushed: Mutex::new(Flushed {
                upto: 0,
                failure: None,
                segment,
            }),
            done: Condvar::new(),
            upto: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            durable,
            window,
            syncs: AtomicU64::new(0),
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

    /// Whether callers wait for their records to be on disk.
    pub(crate) fn is_durable(&self) -> bool {
        self.shared.durable
    }

    /// Appends `bytes` (whole framed records) and returns the position of their end.
    pub(crate) fn append(&self, bytes: &[u8]) -> u64 {
        let mut pending = lock(&self.shared.pending);
        pending.bytes.extend_from_slice(bytes);
        pending.end += bytes.len() as u64;
        let end = pending.end;
        self.discard_if_failed(&mut pending);
        let wake = pending.idle
            && (self.shared.durable || pending.bytes.len() >= EARLY_FLUSH_BYTES || pending.stop);
        if wake {
            pending.idle = false;
        }
        drop(pending);
        if wake {
            self.shared.work.notify_one();
        }
        end
    }

    /// Appends the records `write` encodes, framed, and returns the position of their end.
    pub(crate) fn append_with(&self, write: impl FnOnce(&mut Vec<u8>)) -> u64 {
        let mut pending = lock(&self.shared.pending);
        let before = pending.bytes.len();
        write(&mut pending.bytes);
        // `write` only appends to the buffer; the position counts the bytes it added.
        pending.end += (pending.bytes.len() - before) as u64;
        let end = pending.end;
        self.discard_if_failed(&mut pending);
        let wake = pending.idle
            && (self.shared.durable || pending.bytes.len() >= EARLY_FLUSH_BYTES || pending.stop);
        if wake {
            pending.idle = false;
        }
        drop(pending);
        if wake {
            self.shared.work.notify_one();
        }
        end
    }

    /// Whether a caller whose record ends at `position` should wait for the disk even in
    /// buffered mode: more than [`MAX_BACKLOG`] bytes are not synced yet.
    pub(crate) fn over_backlog(&self, position: u64) -> bool {
        // Acquire: as in `wait` (a stale value only makes a caller wait, not skip a wait it
        // needs: buffered callers need none).
        position.saturating_sub(self.shared.upto.load(Ordering::Acquire)) > MAX_BACKLOG
    }

    /// Batches written and synced so far.
    pub(crate) fn syncs(&self) -> u64 {
        // Relaxed: a statistic.
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// After a failure nothing is written any more: what is appended is dropped, so that the
    /// buffer does not grow without bound (the callers are told of the failure).
    fn discard_if_failed(&self, pending: &mut Pending) {
        // Relaxed: a late view only keeps a few more bytes until the next append.
        if self.shared.failed.load(Ordering::Relaxed) {
            pending.bytes.clear();
        }
    }

    /// Position of everything appended so far.
    pub(crate) fn appended(&self) -> u64 {
        lock(&self.shared.pending).end
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
        self.kick();
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

    /// Wakes the flusher if it is idle (a caller waits, even in buffered mode).
    fn kick(&self) {
        let mut pending = lock(&self.shared.pending);
        if pending.idle {
            pending.idle = false;
            drop(pending);
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
        self.kick();
        std::task::Poll::Pending
    }

    /// Closes the current segment after what is pending and starts the next one; returns the
    /// new segment's index once it exists (every record appended before this call is in a
    /// lower segment).
    pub(crate) fn rotate(&self) -> Result<u64, JournalFailure> {
        let before = lock(&self.shared.flushed).segment;
        {
            let mut pending = lock(&self.shared.pending);
            pending.rotate = true;
            pending.idle = false;
        }
        self.shared.work.notify_one();
        let mut flushed = lock(&self.shared.flushed);
        loop {
            if let Some(failure) = flushed.failure {
                return Err(failure);
            }
            if flushed.segment > before {
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
            let mut pending = lock(&self.shared.pending);
            pending.stop = true;
            pending.idle = false;
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

/// The flusher: takes the pending batch, writes and syncs it, publishes the new position.
fn flush_loop(shared: &Shared, dir: PathBuf, mut file: File, instance: u32, shards: u32) {
    let mut spare: Vec<u8> = Vec::with_capacity(64 << 10);
    loop {
        let (end, stop, rotate) = {
            let mut pending = lock(&shared.pending);
            loop {
                if pending.stop || pending.rotate {
                    break;
                }
                if shared.durable && !pending.bytes.is_empty() {
                    break;
                }
                pending.idle = true;
                if shared.durable {
                    pending = shared
                        .work
                        .wait(pending)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                } else {
                    let (guard, timeout) = shared
                        .work
                        .wait_timeout(pending, shared.window)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    pending = guard;
                    if timeout.timed_out() && !pending.bytes.is_empty() {
                        break;
                    }
                }
                // Whoever notifies clears `idle` first (a spurious wake-up leaves it set): in
                // buffered mode a caller waiting, or a large buffer, flushes early.
                if !pending.idle && !pending.bytes.is_empty() {
                    break;
                }
            }
            pending.idle = false;
            std::mem::swap(&mut pending.bytes, &mut spare);
            let rotate = std::mem::take(&mut pending.rotate);
            (pending.end, pending.stop, rotate)
        };
        let mut result = Ok(());
        if !spare.is_empty() {
            result = file.write_all(&spare).and_then(|()| file.sync_data());
            spare.clear();
            // Relaxed: a statistic.
            shared.syncs.fetch_add(1, Ordering::Relaxed);
        }
        let mut rotated = None;
        if result.is_ok() && rotate {
            let next = lock(&shared.flushed).segment + 1;
            match create_segment(&dir, next, instance, shards) {
                Ok(new) => {
                    file = new;
                    rotated = Some(next);
                }
                Err(e) => result = Err(e),
            }
        }
        publish(shared, end, rotated, result.err());
        // Relaxed: this thread is the only writer of `failed`.
        if stop || shared.failed.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Publishes a flush (or its failure) to waiting callers.
fn publish(shared: &Shared, end: u64, rotated: Option<u64>, error: Option<std::io::Error>) {
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
    if let Some(index) = rotated {
        flushed.segment = index;
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
        let writer = Writer::start(dir.clone(), file, 1, 7, 1, Durability::Durable).unwrap();
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
        let writer = Writer::start(dir.clone(), read_only, 1, 7, 1, Durability::Durable).unwrap();
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
        let writer =
            Writer::start(dir.clone(), file, 1, 7, 1, Durability::Buffered { window }).unwrap();
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
