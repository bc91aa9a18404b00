//! The SKU index: SKU → item and item → SKU, both read without a lock.
//!
//! It owns two structures, written only by the catalog's registration (one writer at a time,
//! serialized by the catalog's mutex) and read by any number of threads with loads alone:
//!
//! * *Names* (item → SKU): a [`Segmented`] array with one cell per registered item, dense by
//!   id like the stock slots, so the reverse lookup is two loads and a pointer chase. A cell is
//!   filled before the item's slot is published, and never changes afterwards.
//! * *Table* (SKU → item): an open-addressing hash table of 32-byte buckets (half a cache
//!   line), linear probing, at most half full. A bucket holds a word `tag | length << 32 |
//!   id + 1` (0 while empty; the tag is the upper 27 bits of the SKU's hash) and, for a SKU of
//!   at most 24 bytes, the SKU's bytes themselves. A probe of a short SKU so reads one cache
//!   line and compares four words, never leaving the table; a longer SKU is compared through
//!   its name cell, only when 27 bits of hash and the length field already match. The table is
//!   published through [`arc_swap::ArcSwap`]: a reader loads the current table (arc-swap's
//!   lock-free fast path), hashes the SKU and probes. The writer inserts into the current
//!   table in place (the bytes, then the word that publishes them); when the table would pass
//!   half full it builds one of twice the size (or, for a bulk load, of the size the load
//!   needs), rehashes every entry into it and swaps it in.
//!
//! # Cost model
//!
//! * Lookup, SKU → item: one arc-swap load, one foldhash of the SKU (seeded per index at
//!   random; only registration fills the table, so a client sending SKUs to look up cannot
//!   lengthen the probes), 1-2 expected probes at load ≤ 1/2, each one cache line. Lookup,
//!   item → SKU: two loads. Neither writes shared memory except arc-swap's per-thread debt
//!   slot. Where the time goes, measured: `DESIGN.md`, "7a. The catalog".
//! * Registration: O(1) amortized. The table doubles, so the rehashing over `n` single
//!   registrations costs at most `2n` hashes in all; a bulk load of `k` SKUs grows the table
//!   once, to fit, and then inserts in place: O(n + k), never O(n × k). (A copy-on-write map
//!   in an `ArcSwap`, the obvious alternative, copies all `n` entries on every registration:
//!   O(n²) for a catalog registered one item at a time.)
//! * Memory: a name cell per item (24 bytes, SKU or not), the SKU's bytes in their own
//!   allocation, and 64 to 128 bytes of table per SKU (32-byte buckets, half to a quarter
//!   full): four times the table of 8-byte buckets that compare through the name cell, the
//!   price of the two cache misses a lookup no longer takes. A replaced table is freed when
//!   the last reader that loaded it drops its guard.
//!
//! A reader that loaded the table before a growth keeps probing the old one: it finds every
//! SKU registered before the growth began (the writer inserts only into the newest table), so
//! a lookup misses only SKUs whose registration had not returned when the lookup started.

use crate::ids::ItemId;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::segmented::Segmented;
use arc_swap::ArcSwap;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

/// Buckets of the first table.
const FIRST_BUCKETS: usize = 64;

/// Longest SKU kept in its bucket, so that a lookup compares it without leaving the table.
const INLINE_LEN: usize = 24;

/// The bits of a bucket word that hold the item (`id + 1`).
const ID_BITS: u64 = 0xFFFF_FFFF;
/// The bits of a bucket word that hold the SKU's inline length (0: longer than [`INLINE_LEN`]).
const LEN_BITS: u64 = 0x1F << 32;
/// The bits of a bucket word that hold the upper 27 bits of the SKU's hash.
const HASH_BITS: u64 = !(ID_BITS | LEN_BITS);

/// SKU → item and item → SKU, lock-free to read (see the module docs).
#[derive(Debug)]
pub(crate) struct SkuIndex {
    names: Segmented<OnceLock<Box<str>>>,
    table: ArcSwap<Table>,
    hasher: foldhash::quality::RandomState,
}

/// One bucket of the SKU → item table: half a 64-byte cache line, so a probe reads one line.
#[derive(Debug)]
#[repr(align(32))]
struct Bucket {
    /// `hash tag | inline length << 32 | id + 1`, 0 while empty. Stored last.
    word: AtomicU64,
    /// The SKU's bytes, zero-padded, if it is at most [`INLINE_LEN`] long; zeros otherwise.
    text: [AtomicU64; 3],
}

/// One generation of the SKU → item table.
#[derive(Debug)]
struct Table {
    buckets: Box<[Bucket]>,
}

impl Table {
    fn with_buckets(buckets: usize) -> Self {
        debug_assert!(buckets.is_power_of_two());
        Table {
            buckets: (0..buckets)
                .map(|_| Bucket {
                    word: AtomicU64::new(0),
                    text: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
                })
                .collect(),
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }
}

/// A SKU as the table files it: the upper bits of its hash, its length if it is stored inline,
/// and its inline bytes.
#[derive(Clone, Copy, Debug)]
struct Key {
    /// The bucket word without the item: hash tag and inline length.
    tag: u64,
    /// The SKU's bytes, zero-padded, or zeros for a SKU longer than [`INLINE_LEN`].
    text: [u64; 3],
}

impl Key {
    #[inline]
    fn new(sku: &str, hash: u64) -> Self {
        let (len, text) = if sku.len() <= INLINE_LEN {
            (sku.len() as u64, pack(sku.as_bytes()))
        } else {
            (0, [0; 3])
        };
        Key {
            tag: (hash & HASH_BITS) | (len << 32),
            text,
        }
    }

    #[inline]
    fn inline(&self) -> bool {
        self.tag & LEN_BITS != 0
    }
}

/// `bytes` (at most [`INLINE_LEN`]) as three little-endian words, zero-padded. Each word is
/// read straight from `bytes` with loads of 8, 4, 2 or 1 bytes (the last ones overlapping),
/// not copied through a buffer: a byte-wise copy read back as words stalls store forwarding,
/// which cost more than the rest of a lookup.
#[inline]
fn pack(bytes: &[u8]) -> [u64; 3] {
    debug_assert!(bytes.len() <= INLINE_LEN);
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            bytes[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    let mut text = [0; 3];
    let whole = bytes.len() / 8;
    for (i, text) in text.iter_mut().enumerate().take(whole) {
        *text = word(8 * i);
    }
    let rest = bytes.len() % 8;
    if rest == 0 {
        return text;
    }
    text[whole] = if whole > 0 {
        // The last 8 bytes end at the SKU's end; shift out the ones already packed.
        word(bytes.len() - 8) >> (8 * (8 - rest))
    } else if rest >= 4 {
        // Two overlapping 4-byte loads; the bytes they share are the same.
        half(0) | (half(rest - 4) << (8 * (rest - 4)))
    } else {
        // Bytes 0, rest / 2 and rest - 1 cover 1 to 3 bytes.
        let byte = |at: usize| u64::from(bytes[at]) << (8 * at);
        byte(0) | byte(rest / 2) | byte(rest - 1)
    };
    text
}

/// The item of a bucket word.
#[inline]
fn item_of(word: u64) -> ItemId {
    ItemId::new((word & ID_BITS) as u32 - 1)
}

/// Buckets for `skus` entries at most half full.
fn buckets_for(skus: usize) -> usize {
    (skus * 2).next_power_of_two().max(FIRST_BUCKETS)
}

/// The writer's side of the index, held under the catalog's registration mutex.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// SKUs in the table.
    skus: usize,
}

impl SkuIndex {
    pub(crate) fn new() -> Self {
        SkuIndex {
            names: Segmented::new(),
            table: ArcSwap::from_pointee(Table::with_buckets(FIRST_BUCKETS)),
            hasher: foldhash::quality::RandomState::default(),
        }
    }

    #[inline]
    pub(crate) fn hash(&self, sku: &str) -> u64 {
        self.hasher.hash_one(sku)
    }

    /// The item registered under `sku`. Lock-free.
    #[inline]
    pub(crate) fn get(&self, sku: &str) -> Option<ItemId> {
        self.get_hashed(sku, self.hash(sku))
    }

    /// [`get`](SkuIndex::get) with the hash already computed.
    pub(crate) fn get_hashed(&self, sku: &str, hash: u64) -> Option<ItemId> {
        let key = Key::new(sku, hash);
        let table = self.table.load();
        let mask = table.mask();
        let mut at = hash as usize & mask;
        loop {
            let bucket = &table.buckets[at];
            // Acquire: pairs with the Release store in `place`; having seen the word, the
            // reader sees the bucket's text and the item's name cell filled before it.
            let word = bucket.word.load(Ordering::Acquire);
            if word == 0 {
                return None;
            }
            if word & !ID_BITS == key.tag {
                let id = item_of(word);
                let found = if key.inline() {
                    key.text.iter().zip(&bucket.text).all(|(&mine, theirs)| {
                        // Relaxed: the text was stored before the word, whose Acquire load
                        // above ordered this one after it; it never changes afterwards.
                        mine == theirs.load(Ordering::Relaxed)
                    })
                } else {
                    self.name(id) == Some(sku)
                };
                if found {
                    return Some(id);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// The SKU of `item`, if it has one. Lock-free: two loads.
    #[inline]
    pub(crate) fn name(&self, item: ItemId) -> Option<&str> {
        self.names.get(item.get())?.get().map(|sku| &**sku)
    }

    /// Items with a name cell (registered, or being registered).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn cells(&self) -> u32 {
        self.names.len()
    }

    /// Appends the name cell of the next item (before its slot is published). Returns the
    /// cell's index, or `None` at capacity.
    pub(crate) fn push_name(&self, _writer: &mut Writer, sku: Option<Box<str>>) -> Option<u32> {
        self.names.push(OnceLock::new, |cell| {
            if let Some(sku) = sku {
                let fresh = cell.set(sku).is_ok();
                debug_assert!(fresh, "a name cell is filled once");
            }
        })
    }

    /// Makes room for `additional` more SKUs without a growth in between: one rehash at most.
    pub(crate) fn reserve(&self, writer: &mut Writer, additional: usize) {
        let needed = buckets_for(writer.skus + additional);
        let current = self.table.load();
        if needed <= current.buckets.len() {
            return;
        }
        let grown = Table::with_buckets(needed);
        for old in current.buckets.iter() {
            // Relaxed: this thread (the writer, under the registration mutex) wrote every
            // bucket it reads here.
            let word = old.word.load(Ordering::Relaxed);
            if word != 0 {
                let id = item_of(word);
                let sku = self.name(id).expect("an indexed item has a name");
                let hash = self.hash(sku);
                place(&grown, Key::new(sku, hash), hash, id);
            }
        }
        // arc-swap's store publishes the filled table (its swap is SeqCst) to every later
        // `load`; readers of the old table keep it alive until their guards drop.
        self.table.store(Arc::new(grown));
    }

    /// Indexes `id` (whose name cell holds `sku`, hashing to `hash`, not in the index yet).
    pub(crate) fn insert(&self, writer: &mut Writer, sku: &str, hash: u64, id: ItemId) {
        self.reserve(writer, 1);
        place(&self.table.load(), Key::new(sku, hash), hash, id);
        writer.skus += 1;
    }
}

/// Stores `id` under `key` in the first empty bucket of the probe sequence of `hash`.
fn place(table: &Table, key: Key, hash: u64, id: ItemId) {
    let mask = table.mask();
    let mut at = hash as usize & mask;
    loop {
        let bucket = &table.buckets[at];
        // Relaxed: only the writer stores buckets, and it wrote every bucket it reads.
        if bucket.word.load(Ordering::Relaxed) == 0 {
            for (word, &text) in bucket.text.iter().zip(&key.text) {
                // Relaxed: published by the Release store of the bucket's word below.
                word.store(text, Ordering::Relaxed);
            }
            // Release: publishes the bucket's text and the name cell (and the item's slot,
            // published before) to the Acquire load in `get_hashed`.
            bucket
                .word
                .store(key.tag | (u64::from(id.get()) + 1), Ordering::Release);
            return;
        }
        at = (at + 1) & mask;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "did not finish within ten minutes under Miri, even with 80 SKUs"
    )]
    fn lookups_survive_growth_and_colliding_tags() {
        // Enough SKUs to grow the table several times.
        let skus: u32 = 5000;
        let index = SkuIndex::new();
        let mut writer = Writer::default();
        for i in 0..skus {
            let sku = format!("SKU-{i}");
            let hash = index.hash(&sku);
            let cell = index
                .push_name(&mut writer, Some(sku.as_str().into()))
                .unwrap();
            index.insert(&mut writer, &sku, hash, ItemId::new(cell));
        }
        assert_eq!(index.cells(), skus);
        for i in 0..skus {
            assert_eq!(index.get(&format!("SKU-{i}")), Some(ItemId::new(i)));
            assert_eq!(
                index.name(ItemId::new(i)),
                Some(format!("SKU-{i}").as_str())
            );
        }
        assert_eq!(index.get(&format!("SKU-{skus}")), None);
        // SKUs filed under one hash (a forced collision), short (compared inline) and long
        // (compared through the name cell): each is still found by its text.
        let long = |c: char| c.to_string().repeat(INLINE_LEN + 1);
        for sku in ["A".to_string(), "B".to_string(), long('a'), long('b')] {
            let cell = index
                .push_name(&mut writer, Some(sku.as_str().into()))
                .unwrap();
            index.insert(&mut writer, &sku, 42, ItemId::new(cell));
        }
        assert_eq!(index.get_hashed("A", 42), Some(ItemId::new(skus)));
        assert_eq!(index.get_hashed("B", 42), Some(ItemId::new(skus + 1)));
        assert_eq!(
            index.get_hashed(&long('a'), 42),
            Some(ItemId::new(skus + 2))
        );
        assert_eq!(
            index.get_hashed(&long('b'), 42),
            Some(ItemId::new(skus + 3))
        );
        assert_eq!(index.get_hashed("C", 42), None);
        assert_eq!(index.get_hashed("A\0", 42), None);
        assert_eq!(index.get_hashed(&long('c'), 42), None);
        // Packing agrees with a plain copy at every inline length.
        let source: Vec<u8> = (1..=INLINE_LEN as u8).collect();
        for len in 0..=INLINE_LEN {
            let mut bytes = [0u8; INLINE_LEN];
            bytes[..len].copy_from_slice(&source[..len]);
            let expected: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap()))
                .collect();
            assert_eq!(pack(&source[..len]).to_vec(), expected, "length {len}");
        }
        // Inline and long SKUs of every length around the boundary, through growth.
        for len in 1..=INLINE_LEN + 2 {
            let sku = "z".repeat(len);
            let hash = index.hash(&sku);
            let cell = index
                .push_name(&mut writer, Some(sku.as_str().into()))
                .unwrap();
            index.insert(&mut writer, &sku, hash, ItemId::new(cell));
            assert_eq!(index.get(&sku), Some(ItemId::new(cell)));
        }
        index.reserve(&mut writer, 100_000);
        for len in 1..=INLINE_LEN + 2 {
            let sku = "z".repeat(len);
            assert_eq!(index.name(index.get(&sku).unwrap()), Some(sku.as_str()));
        }
        assert_eq!(index.get(&long('a')), Some(ItemId::new(skus + 2)));
    }
}
