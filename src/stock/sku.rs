//! The SKU index: SKU → item and item → SKU, both read without a lock.
//!
//! It owns two structures, written only by the catalog's registration (one writer at a time,
//! serialized by the catalog's mutex) and read by any number of threads with loads alone:
//!
//! * *Names* (item → SKU): a [`Segmented`] array with one cell per registered item, dense by
//!   id like the stock slots, so the reverse lookup is two loads and a pointer chase. A cell is
//!   filled before the item's slot is published, and never changes afterwards.
//! * *Table* (SKU → item): an open-addressing hash table of 64-bit words, `tag << 32 | id + 1`
//!   (0 is an empty bucket; the tag is the upper half of the SKU's hash, so a probe compares
//!   the SKU string only when 32 bits of hash already match), linear probing, at most half
//!   full. The table is published through [`arc_swap::ArcSwap`]: a reader loads the current
//!   table (arc-swap's lock-free fast path), hashes the SKU and probes. The writer inserts into
//!   the current table in place, one word store per SKU; when the table would pass half full it
//!   builds one of twice the size (or, for a bulk load, of the size the load needs), rehashes
//!   every entry into it and swaps it in.
//!
//! # Cost model
//!
//! * Lookup, SKU → item: one arc-swap load, one SipHash-1-3 of the SKU (std's `RandomState`:
//!   a client cannot pick SKUs that collide), 1-2 expected probes at load ≤ 1/2, and one string
//!   comparison. Lookup, item → SKU: two loads. Neither writes shared memory except arc-swap's
//!   per-thread debt slot.
//! * Registration: O(1) amortized. The table doubles, so the rehashing over `n` single
//!   registrations costs at most `2n` hashes in all; a bulk load of `k` SKUs grows the table
//!   once, to fit, and then inserts in place: O(n + k), never O(n × k). (A copy-on-write map
//!   in an `ArcSwap`, the obvious alternative, copies all `n` entries on every registration:
//!   O(n²) for a catalog registered one item at a time.)
//! * Memory: a name cell per item (24 bytes, SKU or not), the SKU's bytes in their own
//!   allocation, and 16 to 32 bytes of table per SKU (8-byte buckets, half to a quarter full).
//!   A replaced table is freed when the last reader that loaded it drops its guard.
//!
//! A reader that loaded the table before a growth keeps probing the old one: it finds every
//! SKU registered before the growth began (the writer inserts only into the newest table), so
//! a lookup misses only SKUs whose registration had not returned when the lookup started.

use crate::ids::ItemId;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::segmented::Segmented;
use arc_swap::ArcSwap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};

/// Buckets of the first table.
const FIRST_BUCKETS: usize = 64;

/// SKU → item and item → SKU, lock-free to read (see the module docs).
#[derive(Debug)]
pub(crate) struct SkuIndex {
    names: Segmented<OnceLock<Box<str>>>,
    table: ArcSwap<Table>,
    hasher: RandomState,
}

/// One generation of the SKU → item table.
#[derive(Debug)]
struct Table {
    buckets: Box<[AtomicU64]>,
}

impl Table {
    fn with_buckets(buckets: usize) -> Self {
        debug_assert!(buckets.is_power_of_two());
        Table {
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }
}

/// A bucket word for `id` under `hash`.
#[inline]
fn bucket(hash: u64, id: ItemId) -> u64 {
    (hash & !0xFFFF_FFFF) | (u64::from(id.get()) + 1)
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
            hasher: RandomState::new(),
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
        let table = self.table.load();
        let mask = table.mask();
        let tag = hash & !0xFFFF_FFFF;
        let mut at = hash as usize & mask;
        loop {
            // Acquire: pairs with the Release store in `insert`; having seen the bucket, the
            // reader sees the name cell filled and its length published before it.
            let word = table.buckets[at].load(Ordering::Acquire);
            if word == 0 {
                return None;
            }
            if word & !0xFFFF_FFFF == tag {
                let id = ItemId::new((word & 0xFFFF_FFFF) as u32 - 1);
                if self.name(id) == Some(sku) {
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
    #[cfg(test)]
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
            let word = old.load(Ordering::Relaxed);
            if word != 0 {
                let id = ItemId::new((word & 0xFFFF_FFFF) as u32 - 1);
                let sku = self.name(id).expect("an indexed item has a name");
                place(&grown, self.hash(sku), id);
            }
        }
        // arc-swap's store publishes the filled table (its swap is SeqCst) to every later
        // `load`; readers of the old table keep it alive until their guards drop.
        self.table.store(Arc::new(grown));
    }

    /// Indexes `id` (whose name cell holds a SKU hashing to `hash`, not in the index yet).
    pub(crate) fn insert(&self, writer: &mut Writer, hash: u64, id: ItemId) {
        self.reserve(writer, 1);
        place(&self.table.load(), hash, id);
        writer.skus += 1;
    }
}

/// Stores `id` in the first empty bucket of its probe sequence.
fn place(table: &Table, hash: u64, id: ItemId) {
    let mask = table.mask();
    let mut at = hash as usize & mask;
    loop {
        // Relaxed: only the writer stores buckets, and it wrote every bucket it reads.
        if table.buckets[at].load(Ordering::Relaxed) == 0 {
            // Release: publishes the name cell (and the item's slot, published before) to the
            // Acquire load in `get_hashed`.
            table.buckets[at].store(bucket(hash, id), Ordering::Release);
            return;
        }
        at = (at + 1) & mask;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lookups_survive_growth_and_colliding_tags() {
        // Enough SKUs to grow the table several times; fewer under Miri, which interprets every
        // hash (5,000 took over ten minutes there).
        let skus: u32 = if cfg!(miri) { 300 } else { 5000 };
        let index = SkuIndex::new();
        let mut writer = Writer::default();
        for i in 0..skus {
            let sku = format!("SKU-{i}");
            let hash = index.hash(&sku);
            let cell = index.push_name(&mut writer, Some(sku.into())).unwrap();
            index.insert(&mut writer, hash, ItemId::new(cell));
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
        // Two SKUs filed under one hash (a forced collision): each is still found by its text.
        let a = index.push_name(&mut writer, Some("A".into())).unwrap();
        let b = index.push_name(&mut writer, Some("B".into())).unwrap();
        index.insert(&mut writer, 42, ItemId::new(a));
        index.insert(&mut writer, 42, ItemId::new(b));
        assert_eq!(index.get_hashed("A", 42), Some(ItemId::new(a)));
        assert_eq!(index.get_hashed("B", 42), Some(ItemId::new(b)));
        assert_eq!(index.get_hashed("C", 42), None);
    }
}
