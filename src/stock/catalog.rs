//! The item catalog: dense ids to stock slots, and the SKU index beside them.
//!
//! Slots live in [`Segmented`] storage, so a reference to a slot stays valid while other
//! threads register new items, and the take path finds a slot with two loads and no lock. SKUs
//! are looked up both ways without a lock too (see [`crate::stock::sku`]). Registration, single or in
//! bulk, is serialized by one mutex: it keeps a SKU registered once (the check for an existing
//! SKU and the insert happen under it) and ids dense (a bulk load's ids are consecutive).
//!
//! A bulk load validates everything before it changes anything: a bad entry, a SKU given twice
//! or one already registered, or too little room refuses the whole load. The registration
//! itself is then not atomic to readers: items become visible one by one, in id order, while
//! the load runs (their ids are not returned before it ends).

use crate::error::{CatalogError, LoadError};
use crate::ids::ItemId;
use crate::limits::{MAX_ITEMS, MAX_SKU_LEN, MAX_STOCK};
use crate::stock::sku::{SkuIndex, Writer};
use crate::stock::slot::Slot;
use crate::sync::segmented::Segmented;
use crate::sync::{lock, Mutex};

/// Dense ids to slots.
#[derive(Debug)]
pub(crate) struct Catalog {
    slots: Segmented<Slot>,
    skus: SkuIndex,
    /// Serializes registrations; holds the SKU index's writer state.
    registration: Mutex<Writer>,
    /// [`MAX_ITEMS`], lowered only by tests of the bound.
    max_items: u32,
}

/// One entry of a bulk load, validated: a SKU, its initial level and where it came from (the
/// line of a CSV file, or the 1-based position in an iterator).
#[derive(Debug)]
pub(crate) struct LoadEntry {
    pub(crate) sku: Box<str>,
    pub(crate) initial: i64,
    pub(crate) line: usize,
}

impl Catalog {
    pub(crate) fn new() -> Self {
        Catalog {
            slots: Segmented::new(),
            skus: SkuIndex::new(),
            registration: Mutex::new(Writer::default()),
            max_items: MAX_ITEMS,
        }
    }

    /// Number of registered items.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.slots.len()
    }

    /// The slot of `item`, if it is registered. Lock-free: two loads.
    #[inline]
    pub(crate) fn slot(&self, item: ItemId) -> Option<&Slot> {
        self.slots.get(item.get())
    }

    /// Registers an item with `initial` units and returns its id.
    pub(crate) fn register(&self, initial: i64, sku: Option<&str>) -> Result<ItemId, CatalogError> {
        validate_registration(initial, sku)?;
        let hash = sku.map(|sku| self.skus.hash(sku));
        let mut writer = lock(&self.registration);
        if let Some((sku, hash)) = sku.zip(hash) {
            if let Some(existing) = self.skus.get_hashed(sku, hash) {
                return Err(CatalogError::DuplicateSku { existing });
            }
        }
        if self.slots.len() >= self.max_items {
            return Err(CatalogError::CatalogFull {
                max: self.max_items,
            });
        }
        let id = self.append(&mut writer, sku.map(Box::from), initial);
        if let Some((sku, hash)) = sku.zip(hash) {
            self.skus.insert(&mut writer, sku, hash, id);
        }
        Ok(id)
    }

    /// Registers every entry, with consecutive ids, or none of them; returns the first id.
    pub(crate) fn register_all(&self, entries: Vec<LoadEntry>) -> Result<ItemId, LoadError> {
        let hashes: Vec<u64> = entries.iter().map(|e| self.skus.hash(&e.sku)).collect();
        if let Some((line, first_line)) = first_duplicate(&entries, &hashes) {
            return Err(LoadError::DuplicateInLoad { line, first_line });
        }
        let mut writer = lock(&self.registration);
        let room = (self.max_items - self.slots.len()) as usize;
        if entries.len() > room {
            return Err(LoadError::CatalogFull {
                max: self.max_items,
                room,
                entries: entries.len(),
            });
        }
        for (entry, &hash) in entries.iter().zip(&hashes) {
            if let Some(existing) = self.skus.get_hashed(&entry.sku, hash) {
                return Err(LoadError::AlreadyRegistered {
                    line: entry.line,
                    existing,
                });
            }
        }
        // Nothing can fail from here on.
        self.skus.reserve(&mut writer, entries.len());
        let first = ItemId::new(self.slots.len());
        for (entry, hash) in entries.into_iter().zip(hashes) {
            let id = self.append(&mut writer, Some(entry.sku), entry.initial);
            let sku = self.skus.name(id).expect("appended with its SKU");
            self.skus.insert(&mut writer, sku, hash, id);
        }
        Ok(first)
    }

    /// Appends one item (room checked by the caller): its name cell first, then its slot, so
    /// that a registered item always has its cell.
    fn append(&self, writer: &mut Writer, sku: Option<Box<str>>, initial: i64) -> ItemId {
        let cell = self.skus.push_name(writer, sku);
        let index = self.slots.push(|| Slot::new(0), |slot| slot.reset(initial));
        assert!(
            cell.is_some() && cell == index,
            "name cells and slots are appended in step, below the capacity checked"
        );
        ItemId::new(index.unwrap_or_default())
    }

    /// The item registered under `sku`. Lock-free.
    #[inline]
    pub(crate) fn by_sku(&self, sku: &str) -> Option<ItemId> {
        self.skus.get(sku)
    }

    /// The SKU of `item`, if it was registered with one. Lock-free.
    #[inline]
    pub(crate) fn sku(&self, item: ItemId) -> Option<&str> {
        self.slot(item)?;
        self.skus.name(item)
    }
}

/// The first entry whose SKU an earlier entry already has, as (its line, the earlier line).
/// A probe table over the entries' indices, sized for at most half full.
fn first_duplicate(entries: &[LoadEntry], hashes: &[u64]) -> Option<(usize, usize)> {
    let buckets = (entries.len() * 2).next_power_of_two().max(16);
    let mask = buckets - 1;
    let mut table = vec![u32::MAX; buckets];
    for (i, (entry, &hash)) in entries.iter().zip(hashes).enumerate() {
        let mut at = hash as usize & mask;
        loop {
            match table[at] {
                u32::MAX => {
                    table[at] = i as u32;
                    break;
                }
                j if hashes[j as usize] == hash && entries[j as usize].sku == entry.sku => {
                    return Some((entry.line, entries[j as usize].line));
                }
                _ => at = (at + 1) & mask,
            }
        }
    }
    None
}

/// Checks a registration's arguments (shared with the baselines).
pub(crate) fn validate_registration(initial: i64, sku: Option<&str>) -> Result<(), CatalogError> {
    if !(0..=MAX_STOCK).contains(&initial) {
        return Err(CatalogError::InvalidQuantity { quantity: initial });
    }
    match sku {
        Some(sku) if sku.is_empty() || sku.len() > MAX_SKU_LEN => {
            Err(CatalogError::InvalidSku { len: sku.len() })
        }
        _ => Ok(()),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn entry(sku: &str, initial: i64, line: usize) -> LoadEntry {
        LoadEntry {
            sku: sku.into(),
            initial,
            line,
        }
    }

    #[test]
    fn register_assigns_dense_ids() {
        let catalog = Catalog::new();
        for i in 0..200 {
            assert_eq!(catalog.register(i, None).unwrap(), ItemId::new(i as u32));
        }
        assert_eq!(catalog.len(), 200);
        assert!(catalog.slot(ItemId::new(200)).is_none());
        assert_eq!(catalog.sku(ItemId::new(0)), None);
    }

    #[test]
    fn a_full_catalog_refuses_and_changes_nothing() {
        let mut catalog = Catalog::new();
        catalog.max_items = 3;
        for _ in 0..2 {
            catalog.register(1, None).unwrap();
        }
        assert_eq!(
            catalog.register_all(vec![entry("a", 1, 1), entry("b", 1, 2)]),
            Err(LoadError::CatalogFull {
                max: 3,
                room: 1,
                entries: 2
            })
        );
        catalog.register(1, None).unwrap();
        assert_eq!(
            catalog.register(1, Some("late")),
            Err(CatalogError::CatalogFull { max: 3 })
        );
        assert_eq!(catalog.len(), 3);
        assert_eq!(catalog.by_sku("late"), None);
        assert_eq!(catalog.skus.cells(), 3);
    }

    #[test]
    fn skus_are_unique_and_validated() {
        let catalog = Catalog::new();
        let a = catalog.register(1, Some("SKU-A")).unwrap();
        assert_eq!(catalog.by_sku("SKU-A"), Some(a));
        assert_eq!(catalog.sku(a), Some("SKU-A"));
        assert_eq!(
            catalog.register(1, Some("SKU-A")),
            Err(CatalogError::DuplicateSku { existing: a })
        );
        assert_eq!(
            catalog.register(1, Some("")),
            Err(CatalogError::InvalidSku { len: 0 })
        );
        let long = "x".repeat(MAX_SKU_LEN + 1);
        assert_eq!(
            catalog.register(1, Some(&long)),
            Err(CatalogError::InvalidSku { len: long.len() })
        );
        assert_eq!(
            catalog.register(-1, None),
            Err(CatalogError::InvalidQuantity { quantity: -1 })
        );
        assert_eq!(catalog.len(), 1);
    }

    #[test]
    fn a_bulk_load_is_all_or_nothing() {
        let catalog = Catalog::new();
        let a = catalog.register(1, Some("A")).unwrap();
        assert_eq!(
            catalog.register_all(vec![entry("B", 1, 1), entry("C", 2, 2), entry("B", 3, 7)]),
            Err(LoadError::DuplicateInLoad {
                line: 7,
                first_line: 1
            })
        );
        assert_eq!(
            catalog.register_all(vec![entry("B", 1, 1), entry("A", 2, 2)]),
            Err(LoadError::AlreadyRegistered {
                line: 2,
                existing: a
            })
        );
        assert_eq!((catalog.len(), catalog.by_sku("B")), (1, None));
        let first = catalog
            .register_all(vec![entry("B", 1, 1), entry("C", 2, 2)])
            .unwrap();
        assert_eq!(first, ItemId::new(1));
        assert_eq!(catalog.by_sku("C"), Some(ItemId::new(2)));
        assert_eq!(catalog.slot(ItemId::new(2)).unwrap().available(), 2);
    }
}
