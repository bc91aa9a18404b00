//! Append-only storage in segments of doubling size: an element never moves once created, so
//! readers hold plain references while writers append, and finding an element is two loads.
//!
//! Segments hold 64, 128, 256, ... elements. A segment is allocated once, by the append that
//! first needs it, and freed only when the storage is dropped. Appends must be serialized by the
//! caller (the catalog's registration mutex); reads are lock-free.
//!
//! Publication: an appender initializes the element, then stores the new length with Release; a
//! reader loads the length with Acquire and only then touches elements below it.

use crate::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// log2 of the first segment's size.
const FIRST_SEGMENT_BITS: u32 = 6;
/// Segments needed for `u32` indices below 2^30: 2^6 + 2^7 + ... + 2^29 >= 2^30.
const SEGMENTS: usize = 25;
/// Largest number of elements.
pub(crate) const CAPACITY: u32 = 1 << 30;

/// Which segment holds `index`, and where in it.
#[inline]
const fn locate(index: usize) -> (usize, usize) {
    let shifted = index + (1 << FIRST_SEGMENT_BITS);
    let bits = usize::BITS - 1 - shifted.leading_zeros();
    let segment = (bits - FIRST_SEGMENT_BITS) as usize;
    (segment, shifted - (1 << bits))
}

const fn segment_len(segment: usize) -> usize {
    1 << (segment as u32 + FIRST_SEGMENT_BITS)
}

/// Append-only, never-moving storage.
#[derive(Debug)]
pub(crate) struct Segmented<T> {
    segments: [OnceLock<Box<[T]>>; SEGMENTS],
    len: AtomicU32,
}

impl<T> Segmented<T> {
    pub(crate) fn new() -> Self {
        Segmented {
            segments: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicU32::new(0),
        }
    }

    /// Number of elements.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        // Acquire: pairs with the Release store in `push`; every element below the length is
        // initialized before a reader looks at it.
        self.len.load(Ordering::Acquire)
    }

    /// The element at `index`, if there is one.
    #[inline]
    pub(crate) fn get(&self, index: u32) -> Option<&T> {
        if index >= self.len() {
            return None;
        }
        let (segment, offset) = locate(index as usize);
        // The segment exists: it was allocated before the length covering `index` was
        // published, and `OnceLock::get` is itself an Acquire load.
        self.segments[segment].get().map(|s| &s[offset])
    }

    /// Appends an element and returns its index, or `None` at [`CAPACITY`].
    ///
    /// Callers must serialize appends. `blank` makes the placeholder elements of a new segment;
    /// `init` then sets up the appended one before it is published.
    pub(crate) fn push(&self, blank: impl Fn() -> T, init: impl FnOnce(&T)) -> Option<u32> {
        // Relaxed: appends are serialized by the caller's lock (the catalog's registration
        // mutex), which orders this load after the previous append's Release store.
        let index = self.len.load(Ordering::Relaxed);
        if index >= CAPACITY {
            return None;
        }
        let (segment, offset) = locate(index as usize);
        let elements = self.segments[segment]
            .get_or_init(|| (0..segment_len(segment)).map(|_| blank()).collect());
        init(&elements[offset]);
        // Release: publishes the initialized element to the Acquire load in `len`.
        self.len.store(index + 1, Ordering::Release);
        Some(index)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_indices_densely() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        let (segment, offset) = locate(CAPACITY as usize - 1);
        assert!(segment < SEGMENTS);
        assert!(offset < segment_len(segment));
    }

    #[test]
    fn elements_never_move() {
        let storage = Segmented::<std::sync::atomic::AtomicU32>::new();
        storage.push(Default::default, |e| {
            // Relaxed: one thread; `push`'s Release store of the length publishes it anyway.
            e.store(7, std::sync::atomic::Ordering::Relaxed)
        });
        let first = storage.get(0).unwrap() as *const _;
        for i in 1..1000u32 {
            assert_eq!(storage.push(Default::default, |_| {}), Some(i));
        }
        assert_eq!(storage.get(0).unwrap() as *const _, first);
        assert_eq!(storage.len(), 1000);
        assert!(storage.get(1000).is_none());
    }
}
