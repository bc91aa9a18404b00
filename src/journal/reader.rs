//! Reading the journal back: the files of a directory, the records of a file, and the public
//! [`JournalReader`] that streams them as [`Event`]s.

use super::format::{self, Frame, Header, HEADER_LEN, SEGMENT_MAGIC, SNAPSHOT_MAGIC};
use super::{Event, JournalError};
use std::path::{Path, PathBuf};

/// The segment and snapshot indexes found in `dir`, each ascending. Files with other names
/// (a snapshot being written, anything the host keeps there) are ignored.
pub(crate) fn list(dir: &Path) -> Result<(Vec<u64>, Vec<u64>), JournalError> {
    let mut segments = Vec::new();
    let mut snapshots = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| JournalError::io(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, &e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        if stem.len() != 16 {
            continue;
        }
        let Ok(index) = u64::from_str_radix(stem, 16) else {
            continue;
        };
        match ext {
            "journal" => segments.push(index),
            "snapshot" => snapshots.push(index),
            _ => {}
        }
    }
    segments.sort_unstable();
    snapshots.sort_unstable();
    Ok((segments, snapshots))
}

/// A whole file read into memory, its header checked.
#[derive(Debug)]
pub(crate) struct File {
    pub(crate) path: PathBuf,
    pub(crate) header: Header,
    pub(crate) bytes: Vec<u8>,
}

impl File {
    /// Reads `path`, which must start with a valid header with `magic`.
    pub(crate) fn read(path: PathBuf, magic: [u8; 8]) -> Result<File, JournalError> {
        let bytes = std::fs::read(&path).map_err(|e| JournalError::io(&path, &e))?;
        match Header::decode(&bytes) {
            Some(header) if header.magic == magic => Ok(File {
                path,
                header,
                bytes,
            }),
            _ => Err(JournalError::Corrupt {
                path,
                offset: 0,
                reason: "no valid header",
            }),
        }
    }

    /// The records from `offset` (at least the header's end), decoded, in order, and where
    /// the valid records end. A damaged record stops the scan: what follows it is returned as
    /// `Err` with its offset, for the caller to judge (a torn tail, or corruption).
    pub(crate) fn records(&self, offset: usize) -> Records<'_> {
        Records {
            file: self,
            offset: offset.max(HEADER_LEN),
            done: false,
        }
    }
}

/// The records of one [`File`].
#[derive(Debug)]
pub(crate) struct Records<'a> {
    file: &'a File,
    pub(crate) offset: usize,
    done: bool,
}

/// A record that could not be read, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) offset: usize,
    pub(crate) reason: &'static str,
}

impl Iterator for Records<'_> {
    type Item = Result<Event, Damage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.file.bytes.get(self.offset..).unwrap_or(&[]);
        match format::frame(rest) {
            Frame::End => {
                self.done = true;
                None
            }
            Frame::Bad => {
                self.done = true;
                Some(Err(Damage {
                    offset: self.offset,
                    reason: "bad length or checksum",
                }))
            }
            Frame::Record(payload, len) => match format::decode(payload, self.file.header.instance)
            {
                Some(event) => {
                    self.offset += len;
                    Some(Ok(event))
                }
                None => {
                    self.done = true;
                    Some(Err(Damage {
                        offset: self.offset,
                        reason: "unknown record",
                    }))
                }
            },
        }
    }
}

/// Where a [`JournalReader`] stands: a segment and a byte offset in it. Store it next to what
/// the events were turned into, and resume from it with [`JournalReader::from_position`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Position {
    /// The segment's index.
    pub segment: u64,
    /// Bytes from the segment's start (its header included).
    pub offset: u64,
}

/// The journal of an inventory's directory as a stream of [`Event`]s, in the order they were
/// appended: for a service that feeds its own outbox from it, or an audit.
///
/// Events come in the order they were appended, which for concurrent operations need not be
/// the order they took effect: a reservation's `Finished` can precede the `Held` record of the
/// reserve that created it (the confirming thread appended first), and two holds of one
/// reservation can come in either order. A consumer folds them as recovery does: the highest
/// `version` is a reservation's current hold, and `Finished` is final whatever follows.
///
/// It reads the segments present (a snapshot removes the segments it covers; events before
/// the oldest segment are gone). A damaged record at the end of the last segment is a write
/// torn by a crash: the stream ends before it. Damage anywhere else ends the stream with
/// [`JournalError::Corrupt`]. Each segment is read into memory whole when the reader reaches it.
///
/// ```
/// use atomic_stock::journal::{Event, JournalReader};
/// use atomic_stock::{CartId, Inventory, Line};
/// use std::time::Duration;
///
/// let dir = std::env::temp_dir().join(format!("atomic-stock-doc-reader-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let inventory = Inventory::open(&dir).unwrap();
/// let mug = inventory.register_sku("MUG-1", 5).unwrap();
/// let receipt = inventory
///     .reserve(CartId::new(1), &[Line::new(mug, 2)], Duration::from_secs(600))
///     .unwrap();
/// inventory.confirm(receipt.id).unwrap();
/// drop(inventory);
///
/// let kinds: Vec<&str> = JournalReader::open(&dir)
///     .unwrap()
///     .map(|event| match event.unwrap() {
///         Event::Registered { .. } => "registered",
///         Event::Held { .. } => "held",
///         Event::Finished { .. } => "finished",
///         _ => "other",
///     })
///     .collect();
/// assert_eq!(kinds, ["registered", "held", "finished"]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    /// Segments still to read, ascending.
    segments: std::collections::VecDeque<u64>,
    current: Option<File>,
    offset: usize,
    position: Position,
    failed: bool,
}

impl JournalReader {
    /// Reads every segment in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader, JournalError> {
        JournalReader::from_position(
            dir,
            Position {
                segment: 0,
                offset: 0,
            },
        )
    }

    /// Reads the segments of `dir` from `position` on (an offset inside the header means
    /// the segment's first record). If a snapshot removed that segment meanwhile, the stream
    /// starts at the oldest segment present: compare [`position`](JournalReader::position)'s
    /// segment with the one asked for to notice the gap.
    pub fn from_position(
        dir: impl AsRef<Path>,
        position: Position,
    ) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let (segments, _) = list(&dir)?;
        Ok(JournalReader {
            segments: segments
                .into_iter()
                .filter(|&s| s >= position.segment)
                .collect(),
            dir,
            current: None,
            offset: 0,
            position,
            failed: false,
        })
    }

    /// Where the stream stands: just after the last event it returned.
    #[must_use]
    pub fn position(&self) -> Position {
        self.position
    }
}

impl Iterator for JournalReader {
    type Item = Result<Event, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if self.current.is_none() {
                let index = self.segments.pop_front()?;
                let path = super::writer::segment_path(&self.dir, index);
                match File::read(path, SEGMENT_MAGIC) {
                    Ok(file) => {
                        self.offset = if index == self.position.segment {
                            usize::try_from(self.position.offset).unwrap_or(usize::MAX)
                        } else {
                            0
                        }
                        .max(HEADER_LEN);
                        self.position = Position {
                            segment: index,
                            offset: self.offset as u64,
                        };
                        self.current = Some(file);
                    }
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
            let file = self.current.as_ref()?;
            let mut records = file.records(self.offset);
            match records.next() {
                Some(Ok(event)) => {
                    self.offset = records.offset;
                    self.position.offset = self.offset as u64;
                    return Some(Ok(event));
                }
                None => self.current = None,
                Some(Err(damage)) => {
                    if self.segments.is_empty() {
                        // The tail of the last segment: a torn write. The stream ends here.
                        self.failed = true;
                        return None;
                    }
                    self.failed = true;
                    return Some(Err(JournalError::Corrupt {
                        path: file.path.clone(),
                        offset: damage.offset as u64,
                        reason: damage.reason,
                    }));
                }
            }
        }
    }
}

/// Reads a snapshot whole: its events, in order, ending with its `End` record.
pub(crate) fn read_snapshot(dir: &Path, index: u64) -> Result<(Header, Vec<Event>), JournalError> {
    let file = File::read(super::writer::snapshot_path(dir, index), SNAPSHOT_MAGIC)?;
    let mut events = Vec::new();
    for record in file.records(0) {
        match record {
            Ok(Event::End { records }) if records == events.len() as u64 => {
                return Ok((file.header, events));
            }
            Ok(event) => events.push(event),
            Err(damage) => {
                return Err(JournalError::Corrupt {
                    path: file.path.clone(),
                    offset: damage.offset as u64,
                    reason: damage.reason,
                })
            }
        }
    }
    Err(JournalError::Corrupt {
        path: file.path.clone(),
        offset: file.bytes.len() as u64,
        reason: "snapshot without its end record",
    })
}
