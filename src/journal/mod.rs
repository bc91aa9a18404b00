//! The journal: every change of an [`Inventory`](crate::Inventory) appended to a log on disk,
//! so that the inventory survives a restart, and readable as a stream of [`Event`]s.
//!
//! Off by default. [`Inventory::open`](crate::Inventory::open) (or
//! [`InventoryBuilder::journal`](crate::InventoryBuilder::journal) and
//! [`InventoryBuilder::open`](crate::InventoryBuilder::open)) turns it on for a directory:
//! the inventory is rebuilt from what the directory holds (items with their ids and SKUs,
//! levels, live reservations with their deadlines, remembered outcomes, counters, request
//! keys), and every change from then on is appended.
//!
//! # Durability
//!
//! * [`Durability::Durable`] (the default): a call that changes something returns once its
//!   record is on disk (written and `fdatasync`ed). Callers waiting at the same time share one
//!   sync (group commit): one flusher thread writes whatever accumulated while the previous
//!   sync ran. The `_async` calls and the waiting reserve await the sync instead of blocking;
//!   the other calls (confirm, release, extend, ...) block their thread for it, so async code
//!   calls them where blocking is allowed (a blocking pool), or uses buffered mode and awaits
//!   [`Inventory::sync_async`](crate::Inventory::sync_async) where it needs durability.
//! * [`Durability::Buffered`]: calls return at once; the flusher syncs every `window`. A crash
//!   (process killed, or power lost) loses at most the changes appended during the last
//!   `window` plus the batch being written then. The flusher starts early once about 1 MiB
//!   is pending, and a caller waits for the disk once about 4 MiB wait besides the batch being
//!   written, so the memory buffered, and the loss, stay bounded (about 10 MiB of records:
//!   about 170,000 reserve+confirm lifecycles) when the disk falls behind.
//!   [`Inventory::sync`](crate::Inventory::sync) waits for everything appended so far.
//!
//! Changes take effect in memory first and are acknowledged after their record is appended
//! (durable mode: synced), so another caller may see a change that a crash then loses; it
//! was never acknowledged to the caller that made it.
//!
//! # Records
//!
//! Records are facts that commute, so the order in which concurrent operations append them
//! does not matter: item registrations (by id, with SKU), level changes as signed deltas,
//! each version of a reservation's hold (numbered, the highest wins), and each reservation's
//! final outcome (which wins over any hold). See `DESIGN.md`, "The journal".

pub(crate) mod format;
pub(crate) mod keys;
pub(crate) mod reader;
pub(crate) mod replay;
pub(crate) mod writer;

pub use reader::{JournalReader, Position};

use crate::ids::{ItemId, Line};
use crate::reservation::ReservationId;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Numbers the holds a reservation goes through, so that replay keeps the latest whatever order
/// their records reach the file in (see `DESIGN.md`, "Records are facts that commute").
#[derive(Debug)]
pub(crate) struct HoldVersions(crate::sync::atomic::AtomicU64);

impl HoldVersions {
    /// Versions from `first` on.
    pub(crate) fn starting_at(first: u64) -> Self {
        HoldVersions(crate::sync::atomic::AtomicU64::new(first))
    }

    /// The version of a hold about to replace one: taken after the caller read the hold it
    /// replaces and before its compare-and-swap, so versions grow along each reservation's
    /// chain of holds (`src/tests/loom_journal.rs` explores the race).
    #[inline(always)]
    pub(crate) fn next(&self) -> u64 {
        // Relaxed: a hold installed by a swap that replaced hold H was read (the Acquire load
        // in `Entry::snapshot`) after H's swap (the Release in `Entry::replace`), which came
        // after H's version was taken here; two fetch-adds of one atomic ordered by
        // happens-before take their values in that order (coherence).
        self.0.fetch_add(1, crate::sync::atomic::Ordering::Relaxed)
    }
}

/// When a change counts as done. See the [module docs](self#durability).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Durability {
    /// A call returns once its record is on disk.
    #[default]
    Durable,
    /// A call returns at once; records are synced every `window` (at least 100 µs).
    Buffered {
        /// The longest a change stays only in memory (the loss window, plus one sync).
        window: Duration,
    },
}

/// A caller's key for one request, so that a retried request gets the first answer instead of
/// a second reservation (see [`Inventory::reserve_once`](crate::Inventory::reserve_once)).
/// Any 128 bits: a UUID, or a hash of the client's idempotency key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RequestKey(pub u128);

/// What changed a reservation's hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum HoldChange {
    /// A reserve: a new reservation, or lines added to the cart's.
    Reserve = 0,
    /// A cart update (`set_cart`).
    SetCart = 1,
    /// A new deadline (`extend`).
    Extend = 2,
    /// A partial release (`release_lines`).
    ReleaseLines = 3,
}

/// How a reservation finished.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Outcome {
    /// Confirmed: its lines were sold.
    Confirmed = 1,
    /// Released: its lines are available again.
    Released = 2,
    /// Expired: its lines are available again.
    Expired = 3,
}

/// What changed an item's level.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum AdjustKind {
    /// [`Inventory::restock`](crate::Inventory::restock) (positive delta).
    Restock = 0,
    /// [`Inventory::shrink`](crate::Inventory::shrink) (negative delta).
    Shrink = 1,
    /// [`Inventory::set_available`](crate::Inventory::set_available) (either sign).
    Level = 2,
}

/// One record of the journal.
///
/// Deadlines are wall-clock times (nanoseconds since the Unix epoch, read through the system
/// clock when the inventory started plus the inventory's clock since), since an `Instant`
/// means nothing to another process.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// An item was registered under `item`.
    Registered {
        /// Its id.
        item: ItemId,
        /// Its SKU, if it was registered under one.
        sku: Option<String>,
        /// Its initial units (in a snapshot: every unit received until then).
        initial: i64,
    },
    /// An item's units received changed by `delta`.
    Adjusted {
        /// The item.
        item: ItemId,
        /// Which call changed it.
        kind: AdjustKind,
        /// Units added (negative: removed).
        delta: i64,
    },
    /// An item was delisted.
    Delisted {
        /// The item.
        item: ItemId,
    },
    /// A reservation holds `lines` until the deadline: its hold number `version`. Of several
    /// holds of one reservation, the highest version is the current one.
    Held {
        /// The reservation.
        id: ReservationId,
        /// What made this hold.
        change: HoldChange,
        /// The hold's number within the reservation (0 for the first one).
        version: u64,
        /// Its deadline, in nanoseconds since the Unix epoch.
        deadline_unix_ns: u64,
        /// The request key of a [`reserve_once`](crate::Inventory::reserve_once), and when
        /// (Unix nanoseconds) it was answered.
        key: Option<(RequestKey, u64)>,
        /// Every line it holds, ascending by item.
        lines: Vec<Line>,
    },
    /// A reservation finished.
    Finished {
        /// The reservation.
        id: ReservationId,
        /// How.
        outcome: Outcome,
        /// The lines it held (sold for a confirm, given back otherwise); empty in a snapshot.
        lines: Vec<Line>,
    },
    /// Snapshot only: units of `item` sold until then.
    Sold {
        /// The item.
        item: ItemId,
        /// Units sold.
        units: i64,
    },
    /// Snapshot only: the next reservation number of each shard, and the next hold version.
    Numbers {
        /// The next hold version.
        stamp: u64,
        /// The next number of each shard.
        next: Vec<u64>,
    },
    /// Snapshot only: the counters reserves, confirms, releases, partial releases, extends,
    /// expiries (in that order).
    Counters {
        /// The counts.
        counts: [u64; 6],
    },
    /// Snapshot only: a remembered request key and the receipt it was answered with.
    Keyed {
        /// The key.
        key: RequestKey,
        /// The reservation it created or added to.
        id: ReservationId,
        /// The receipt's deadline (Unix nanoseconds).
        deadline_unix_ns: u64,
        /// When it was answered (Unix nanoseconds).
        at_unix_ns: u64,
    },
    /// Snapshot only: the last record, with the number of records before it.
    End {
        /// Records before this one.
        records: u64,
    },
}

/// The journal stopped after an I/O error: the change this is returned for took effect in
/// memory but may be missing after a restart, and so may every later one. Copyable, so that
/// the engine's error types can carry it; [`JournalError`] has the details where it is
/// returned directly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct JournalFailure {
    /// The kind of the I/O error that stopped the journal.
    pub kind: std::io::ErrorKind,
}

impl fmt::Display for JournalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the journal stopped after an I/O error ({})", self.kind)
    }
}

impl std::error::Error for JournalFailure {}

/// Why a journal could not be opened, read, written or snapshotted.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// An I/O error on `path`.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Its kind.
        kind: std::io::ErrorKind,
        /// The error's text.
        message: String,
    },
    /// A file that is not what it should be: damage other than a torn write at the end of the
    /// last segment, or a record this version does not know.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where in it.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// The files of the directory belong to different inventories, or contradict each other.
    Inconsistent {
        /// What was wrong.
        reason: String,
    },
    /// The journal stopped after an earlier I/O error.
    Failed(JournalFailure),
    /// The operation needs a journal and the inventory has none.
    Off,
    /// Another open inventory (in this process or another) holds the directory: two writers
    /// would interleave their files. Nothing was read or written.
    Locked {
        /// The directory.
        path: PathBuf,
    },
}

impl JournalError {
    pub(crate) fn io(path: &Path, error: &std::io::Error) -> Self {
        JournalError::Io {
            path: path.to_path_buf(),
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io {
                path,
                kind: _,
                message,
            } => write!(f, "journal I/O error on {}: {message}", path.display()),
            JournalError::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "journal file {} is damaged at byte {offset}: {reason}",
                path.display()
            ),
            JournalError::Inconsistent { reason } => write!(f, "journal inconsistent: {reason}"),
            JournalError::Failed(failure) => failure.fmt(f),
            JournalError::Off => f.write_str("the inventory has no journal"),
            JournalError::Locked { path } => write!(
                f,
                "journal directory {} is held by another open inventory",
                path.display()
            ),
        }
    }
}

impl std::error::Error for JournalError {}

impl From<JournalFailure> for JournalError {
    fn from(failure: JournalFailure) -> Self {
        JournalError::Failed(failure)
    }
}

/// What [`Inventory::open`](crate::Inventory::open) found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The snapshot recovery started from, if any.
    pub snapshot: Option<u64>,
    /// Journal records replayed after it.
    pub records: u64,
    /// Bytes cut from the end of the last segment: a write torn by a crash (records never
    /// acknowledged in durable mode).
    pub torn_bytes: u64,
    /// Items rebuilt.
    pub items: usize,
    /// Live reservations rebuilt (including those expired on open).
    pub live: usize,
    /// Reservations whose deadline passed while the inventory was down, expired on open.
    pub expired_on_open: usize,
    /// Items whose units received had to be raised to cover what their records hold and sold
    /// (a level change lost in a buffered crash while the reservations using it survived).
    pub raised: usize,
    /// Item ids with no registration record, registered empty and delisted so that later
    /// ids keep their meaning.
    pub placeholders: usize,
    /// How long recovery took.
    pub took: Duration,
}

/// Nanoseconds since the Unix epoch now (0 if the system clock is before it).
pub(crate) fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The lock an open inventory holds on its journal directory: an exclusive `flock` on the file
/// `LOCK` in it, released by the system when the file is closed, also when the process dies
/// (a SIGKILL leaves no stale lock). Without it two inventories opened on one directory would
/// each append their own segments and recover a mix. On targets other than Linux no lock is
/// taken (the caller must not open a directory twice).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Takes the lock of `dir`, or answers [`JournalError::Locked`] at once if it is held.
    pub(crate) fn take(dir: &std::path::Path) -> Result<DirLock, JournalError> {
        let path = dir.join("LOCK");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| JournalError::io(&path, &e))?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: `flock` takes a file descriptor and flags and touches no memory of ours;
            // the descriptor is open for the duration of the call (`file` owns it).
            let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if taken != 0 {
                let error = std::io::Error::last_os_error();
                return Err(if error.kind() == std::io::ErrorKind::WouldBlock {
                    JournalError::Locked {
                        path: dir.to_path_buf(),
                    }
                } else {
                    JournalError::io(&path, &error)
                });
            }
        }
        Ok(DirLock { _file: file })
    }
}
