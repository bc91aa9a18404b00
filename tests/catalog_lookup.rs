//! The catalog's SKU lookups and bulk loads, through the public API: registration stays exact
//! under concurrency (one id per SKU), lookups both ways agree with what was registered while
//! registrations run, and bad input is refused with a typed error that changes nothing.

use atomic_stock::limits::MAX_SKU_LEN;
use atomic_stock::{AdjustError, CatalogError, Inventory, ItemId, LoadError};
use std::collections::HashSet;
use std::sync::Barrier;

#[test]
fn concurrent_registration_of_one_sku_gives_one_id() {
    const THREADS: usize = 16;
    const SKUS: usize = 300;
    let inventory = Inventory::new();
    let barrier = Barrier::new(THREADS);
    let wins: Vec<Vec<(usize, ItemId)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (inventory, barrier) = (&inventory, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let mut won = Vec::new();
                    // Each thread walks the SKUs from its own offset, so every SKU is raced.
                    for k in 0..SKUS {
                        let sku = (k + t * 7) % SKUS;
                        match inventory.register_sku(&format!("SKU-{sku}"), 1) {
                            Ok(id) => won.push((sku, id)),
                            Err(CatalogError::DuplicateSku { existing }) => {
                                assert_eq!(inventory.sku(existing), Some(&*format!("SKU-{sku}")));
                            }
                            Err(other) => panic!("unexpected {other:?}"),
                        }
                        // Whoever won, the lookup answers one id from now on.
                        let seen = inventory.item_by_sku(&format!("SKU-{sku}")).unwrap();
                        assert_eq!(inventory.sku(seen), Some(&*format!("SKU-{sku}")));
                    }
                    won
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<(usize, ItemId)> = wins.into_iter().flatten().collect();
    assert_eq!(
        won.len(),
        SKUS,
        "exactly one registration per SKU succeeded"
    );
    assert_eq!(inventory.items(), SKUS);
    let skus: HashSet<usize> = won.iter().map(|&(sku, _)| sku).collect();
    assert_eq!(skus.len(), SKUS);
    for (sku, id) in won {
        assert_eq!(inventory.item_by_sku(&format!("SKU-{sku}")), Some(id));
    }
}

#[test]
fn lookups_during_registration_never_answer_a_wrong_item() {
    const ITEMS: usize = 20_000;
    let inventory = Inventory::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..ITEMS {
                inventory.register_sku(&format!("S{i}"), 1).unwrap();
            }
        });
        // A bulk load racing the single registrations (other SKUs).
        scope.spawn(|| {
            inventory
                .load_catalog((0..ITEMS).map(|i| (format!("B{i}"), 2)))
                .unwrap();
        });
        for _ in 0..2 {
            scope.spawn(|| {
                let mut found = 0;
                while found < ITEMS {
                    for i in (0..ITEMS).step_by(97) {
                        for sku in [format!("S{i}"), format!("B{i}")] {
                            if let Some(id) = inventory.item_by_sku(&sku) {
                                assert_eq!(inventory.sku(id), Some(&*sku));
                                found += 1;
                            }
                        }
                    }
                }
            });
        }
    });
    assert_eq!(inventory.items(), 2 * ITEMS);
    for i in 0..ITEMS {
        let id = inventory.item_by_sku(&format!("B{i}")).unwrap();
        assert_eq!(inventory.item(id).unwrap().available, 2);
    }
}

#[test]
fn bad_skus_are_typed_and_change_nothing() {
    let inventory = Inventory::new();
    let a = inventory.register_sku("A", 1).unwrap();
    let long = "x".repeat(MAX_SKU_LEN + 1);
    assert_eq!(
        inventory.register_sku("", 1),
        Err(CatalogError::InvalidSku { len: 0 })
    );
    assert_eq!(
        inventory.register_sku(&long, 1),
        Err(CatalogError::InvalidSku { len: long.len() })
    );
    assert_eq!(
        inventory.register_sku("A", 1),
        Err(CatalogError::DuplicateSku { existing: a })
    );
    assert_eq!(inventory.item_by_sku("B"), None);
    assert_eq!(inventory.item_by_sku(""), None);
    assert_eq!(inventory.sku(ItemId::new(1)), None);
    assert_eq!(inventory.items(), 1);
    // A SKU of exactly the bound is fine.
    let max = "y".repeat(MAX_SKU_LEN);
    let b = inventory.register_sku(&max, 1).unwrap();
    assert_eq!(inventory.sku(b), Some(&*max));
}

#[test]
fn a_failed_bulk_load_registers_nothing() {
    let inventory = Inventory::new();
    let existing = inventory.register_sku("OLD", 3).unwrap();
    let long = "x".repeat(MAX_SKU_LEN + 1);
    let cases: Vec<(Vec<(String, i64)>, LoadError)> = vec![
        (
            vec![("N1".into(), 1), ("N2".into(), -5)],
            LoadError::Invalid {
                line: 2,
                error: CatalogError::InvalidQuantity { quantity: -5 },
            },
        ),
        (
            vec![("N1".into(), 1), (long.clone(), 1)],
            LoadError::Invalid {
                line: 2,
                error: CatalogError::InvalidSku { len: long.len() },
            },
        ),
        (
            vec![("N1".into(), 1), ("N2".into(), 1), ("N1".into(), 1)],
            LoadError::DuplicateInLoad {
                line: 3,
                first_line: 1,
            },
        ),
        (
            vec![("N1".into(), 1), ("OLD".into(), 1)],
            LoadError::AlreadyRegistered { line: 2, existing },
        ),
    ];
    for (entries, expected) in cases {
        assert_eq!(inventory.load_catalog(entries).unwrap_err(), expected);
        assert_eq!(inventory.items(), 1);
        assert_eq!(inventory.item_by_sku("N1"), None);
    }
    // The same through CSV: the error names the file's line.
    let csv = "sku,initial\nN1,1\n\nN2,1\nN1,4\n";
    assert_eq!(
        inventory.load_csv(csv.as_bytes()).unwrap_err(),
        LoadError::DuplicateInLoad {
            line: 5,
            first_line: 2
        }
    );
    assert_eq!(inventory.items(), 1);
    assert!(inventory.audit().is_ok());
}

#[test]
fn a_large_load_registers_in_order_and_audits() {
    let inventory = Inventory::new();
    inventory.register_item(1).unwrap();
    let csv: String = (0..100_000).map(|i| format!("P{i},{}\n", i % 50)).collect();
    let loaded = inventory.load_csv(csv.as_bytes()).unwrap();
    assert_eq!((loaded.first, loaded.count), (ItemId::new(1), 100_000));
    for (i, id) in loaded.ids().enumerate().step_by(997) {
        assert_eq!(inventory.item_by_sku(&format!("P{i}")), Some(id));
        assert_eq!(inventory.sku(id), Some(&*format!("P{i}")));
        assert_eq!(inventory.item(id).unwrap().available, (i % 50) as i64);
    }
    let report = inventory.audit().unwrap();
    assert_eq!(report.items, 100_001);
}

#[test]
fn unknown_skus_and_ids_answer_none_or_a_typed_error() {
    let inventory = Inventory::new();
    // SKUs on both sides of the length kept inline in the index (24 bytes), and of the bound.
    // One letter per SKU, so that a SKU one byte shorter or longer is not another one.
    let skus: Vec<String> = [1, 8, 23, 24, 25, 64, MAX_SKU_LEN]
        .iter()
        .zip('a'..)
        .map(|(&len, letter)| letter.to_string().repeat(len))
        .collect();
    for sku in &skus {
        inventory.register_sku(sku, 1).unwrap();
    }
    for (i, sku) in skus.iter().enumerate() {
        assert_eq!(inventory.item_by_sku(sku), Some(ItemId::new(i as u32)));
        // One byte more, one byte less, one byte changed at the end: unknown.
        assert_eq!(inventory.item_by_sku(&format!("{sku}z")), None);
        assert_eq!(inventory.item_by_sku(&sku[1..]), None);
        let changed = format!("{}z", &sku[1..]);
        assert_eq!(inventory.item_by_sku(&changed), None);
    }
    assert_eq!(inventory.item_by_sku(&"g".repeat(MAX_SKU_LEN + 1)), None);
    assert_eq!(inventory.item_by_sku("a\0"), None);

    let unknown = ItemId::new(skus.len() as u32);
    assert_eq!(inventory.sku(unknown), None);
    assert_eq!(inventory.item(unknown), None);
    assert_eq!(inventory.is_delisted(unknown), None);
    assert_eq!(
        inventory.delist(unknown),
        Err(AdjustError::UnknownItem { item: unknown })
    );
    assert_eq!(
        inventory.set_available(unknown, 0, 1),
        Err(AdjustError::UnknownItem { item: unknown })
    );
    assert_eq!(inventory.items(), skus.len());
    assert!(inventory.audit().is_ok());
}

#[test]
fn an_empty_sku_refuses_a_bulk_load() {
    let inventory = Inventory::new();
    assert_eq!(
        inventory
            .load_catalog([("A", 1), ("", 1), ("B", 1)])
            .unwrap_err(),
        LoadError::Invalid {
            line: 2,
            error: CatalogError::InvalidSku { len: 0 },
        }
    );
    // An empty SKU field in CSV input is refused the same way, naming the file's line.
    assert!(matches!(
        inventory.load_csv("A,1\n,1\n".as_bytes()).unwrap_err(),
        LoadError::Invalid { line: 2, .. } | LoadError::Malformed { line: 2, .. }
    ));
    assert_eq!((inventory.items(), inventory.item_by_sku("A")), (0, None));
}
