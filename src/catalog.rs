//! The item catalog: dense ids to stock slots, plus an optional SKU index.
//!
//! Slots live in [`Segmented`] storage, so a reference to a slot stays valid while other
//! threads register new items, and the take path finds a slot with two loads and no lock.
//! Registration is serialized by a mutex: it is rare, and the lock also guards the SKU index.

use crate::error::CatalogError;
use crate::ids::ItemId;
use crate::limits::{MAX_ITEMS, MAX_SKU_LEN, MAX_STOCK};
use crate::segmented::Segmented;
use crate::slot::Slot;
use crate::sync::{lock, Mutex};
use std::collections::HashMap;

/// Dense ids to slots.
#[derive(Debug)]
pub(crate) struct Catalog {
    slots: Segmented<Slot>,
    skus: Mutex<HashMap<Box<str>, ItemId>>,
    /// [`MAX_ITEMS`], lowered only by tests of the bound.
    max_items: u32,
}

impl Catalog {
    pub(crate) fn new() -> Self {
        Catalog {
            slots: Segmented::new(),
            skus: Mutex::new(HashMap::new()),
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
        let mut skus = lock(&self.skus);
        if let Some(&existing) = sku.and_then(|sku| skus.get(sku)) {
            return Err(CatalogError::DuplicateSku { existing });
        }
        if self.slots.len() >= self.max_items {
            return Err(CatalogError::CatalogFull {
                max: self.max_items,
            });
        }
        let index = self
            .slots
            .push(|| Slot::new(0), |slot| slot.reset(initial))
            .ok_or(CatalogError::CatalogFull { max: MAX_ITEMS })?;
        let id = ItemId::new(index);
        if let Some(sku) = sku {
            skus.insert(sku.into(), id);
        }
        Ok(id)
    }

    /// The item registered under `sku`.
    pub(crate) fn by_sku(&self, sku: &str) -> Option<ItemId> {
        lock(&self.skus).get(sku).copied()
    }
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

    #[test]
    fn register_assigns_dense_ids() {
        let catalog = Catalog::new();
        for i in 0..200 {
            assert_eq!(catalog.register(i, None).unwrap(), ItemId::new(i as u32));
        }
        assert_eq!(catalog.len(), 200);
        assert!(catalog.slot(ItemId::new(200)).is_none());
    }

    #[test]
    fn a_full_catalog_refuses_and_changes_nothing() {
        let mut catalog = Catalog::new();
        catalog.max_items = 3;
        for _ in 0..3 {
            catalog.register(1, Some("x").filter(|_| false)).unwrap();
        }
        assert_eq!(
            catalog.register(1, Some("late")),
            Err(CatalogError::CatalogFull { max: 3 })
        );
        assert_eq!(catalog.len(), 3);
        assert_eq!(catalog.by_sku("late"), None);
    }

    #[test]
    fn skus_are_unique_and_validated() {
        let catalog = Catalog::new();
        let a = catalog.register(1, Some("SKU-A")).unwrap();
        assert_eq!(catalog.by_sku("SKU-A"), Some(a));
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
}
