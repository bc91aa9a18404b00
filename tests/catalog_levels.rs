//! Absolute levels (compare-and-set) and delisting, through the public API: each against
//! concurrent reserves, with the audit invariant `received = available + held + sold` checked
//! at the end.

use atomic_stock::{AdjustError, CartId, Inventory, ItemId, Line, ReserveError, TakeError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(600);

#[test]
fn set_available_is_a_compare_and_set_booked_as_restock_or_shrink() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(10).unwrap();
    inventory
        .reserve(CartId::new(1), &[Line::new(mug, 4)], TTL)
        .unwrap();
    // Available is 6 now, not 10.
    assert_eq!(
        inventory.set_available(mug, 10, 3),
        Err(AdjustError::LevelMismatch {
            item: mug,
            expected: 10,
            actual: 6
        })
    );
    assert_eq!(inventory.set_available(mug, 6, 3), Ok(()));
    let levels = inventory.item(mug).unwrap();
    assert_eq!((levels.available, levels.held, levels.received), (3, 4, 7));
    assert_eq!(inventory.set_available(mug, 3, 20), Ok(()));
    assert_eq!(inventory.item(mug).unwrap().received, 24);
    inventory.audit().unwrap();
    // Bad input: typed, nothing changed.
    assert_eq!(
        inventory.set_available(mug, 20, -1),
        Err(AdjustError::InvalidQuantity {
            item: mug,
            quantity: -1
        })
    );
    assert_eq!(
        inventory.set_available(ItemId::new(9), 0, 1),
        Err(AdjustError::UnknownItem {
            item: ItemId::new(9)
        })
    );
    let overflow = inventory.set_available(mug, 20, atomic_stock::limits::MAX_STOCK);
    assert!(matches!(overflow, Err(AdjustError::Overflow { .. })));
    assert_eq!(inventory.item(mug).unwrap().available, 20);
    inventory.audit().unwrap();
}

/// Stock counters set the level from what they read while buyers reserve and release: every
/// set that succeeds compared the real level, and the ledger adds up at the end.
#[test]
fn concurrent_sets_and_reserves_keep_the_audit() {
    let inventory = Inventory::new();
    let items: Vec<ItemId> = (0..3)
        .map(|_| inventory.register_item(50).unwrap())
        .collect();
    let barrier = Barrier::new(4);
    let sets = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..2u64 {
            let (inventory, items, barrier) = (&inventory, &items, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for k in 0..3000u64 {
                    let cart = CartId::new(t << 32 | k);
                    let lines = [
                        Line::new(items[(k % 3) as usize], 2),
                        Line::new(items[((k + 1) % 3) as usize], 1),
                    ];
                    if let Ok(receipt) = inventory.reserve(cart, &lines, TTL) {
                        if k % 2 == 0 {
                            inventory.release(receipt.id).unwrap();
                        } else {
                            inventory.confirm(receipt.id).unwrap();
                        }
                    }
                }
            });
        }
        for t in 0..2u64 {
            let (inventory, items, barrier, sets) = (&inventory, &items, &barrier, &sets);
            scope.spawn(move || {
                barrier.wait();
                for k in 0..3000u64 {
                    let item = items[((k + t) % 3) as usize];
                    let seen = inventory.item(item).unwrap().available;
                    match inventory.set_available(item, seen, 40 + (k % 20) as i64) {
                        Ok(()) => {
                            sets.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(AdjustError::LevelMismatch { actual, .. }) => assert!(actual >= 0),
                        Err(other) => panic!("{other:?}"),
                    }
                }
            });
        }
    });
    assert!(sets.load(Ordering::Relaxed) > 0);
    inventory.audit().unwrap();
}

/// Buyers reserve while the item is delisted: once `delist` has returned, no reserve that
/// starts succeeds, holds taken before finish normally, and the audit adds up.
#[test]
fn no_hold_is_taken_after_delist_returns() {
    for round in 0..20u64 {
        let inventory = Inventory::new();
        let mug = inventory.register_sku("MUG", 1_000).unwrap();
        let other = inventory.register_item(1_000).unwrap();
        let delisted = AtomicBool::new(false);
        let barrier = Barrier::new(3);
        std::thread::scope(|scope| {
            for t in 0..2u64 {
                let (inventory, delisted, barrier) = (&inventory, &delisted, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for k in 0..400u64 {
                        // SeqCst: pairs with the store after `delist` returned; a reserve
                        // that starts after seeing it began after the delisting.
                        let after = delisted.load(Ordering::SeqCst);
                        let cart = CartId::new(round << 40 | t << 32 | k);
                        let lines = [Line::new(mug, 1), Line::new(other, 1)];
                        match inventory.reserve(cart, &lines, TTL) {
                            Ok(receipt) => {
                                assert!(!after, "a hold taken after delist returned");
                                if k % 2 == 0 {
                                    inventory.release(receipt.id).unwrap();
                                }
                            }
                            Err(ReserveError::Stock(TakeError::Delisted { item })) => {
                                assert_eq!(item, mug)
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                });
            }
            barrier.wait();
            std::thread::sleep(Duration::from_micros(50 * round));
            assert_eq!(inventory.delist(mug), Ok(true));
            // SeqCst: see the load above.
            delisted.store(true, Ordering::SeqCst);
        });
        assert_eq!(inventory.delist(mug), Ok(false));
        assert_eq!(inventory.is_delisted(mug), Some(true));
        assert_eq!(inventory.item_by_sku("MUG"), Some(mug));
        assert_eq!(
            inventory.set_available(mug, 0, 1),
            Err(AdjustError::Delisted { item: mug })
        );
        assert_eq!(
            inventory.shrink(mug, 1),
            Err(AdjustError::Delisted { item: mug })
        );
        // The other item of a refused reserve was given back.
        inventory.audit().unwrap();
        let held = inventory.item(mug).unwrap().held;
        assert_eq!(held, inventory.item(other).unwrap().held);
    }
}

/// `levels` and `audit` give the same answers serial and parallel, over more items than one
/// parallel task takes (the chunks' seams and the totals' sums are exercised).
#[test]
fn parallel_bulk_work_agrees_with_serial() {
    use atomic_stock::Run;
    let inventory = Inventory::new();
    let items: u32 = if cfg!(miri) { 200 } else { 70_000 };
    for i in 0..items {
        inventory.register_item(i64::from(i % 7) + 3).unwrap();
    }
    let ttl = std::time::Duration::from_secs(600);
    for k in 0..items / 97 {
        let line = Line::new(ItemId::new(k * 97), 2);
        let held = inventory
            .reserve(CartId::new(u64::from(k)), &[line], ttl)
            .unwrap();
        if k % 3 == 0 {
            inventory.confirm(held.id).unwrap();
        }
    }
    let serial = inventory.levels_with(Run::Serial);
    assert_eq!(serial.len(), items as usize);
    assert_eq!(inventory.levels_with(Run::Parallel), serial);
    assert_eq!(inventory.levels_with(Run::Auto), serial);
    let audit = inventory.audit_with(Run::Serial).unwrap();
    assert_eq!(inventory.audit_with(Run::Parallel).unwrap(), audit);
    assert_eq!(audit.items, items as usize);
    assert_eq!(audit.held, serial.iter().map(|l| l.held).sum::<i64>());
    assert_eq!(audit.sold, serial.iter().map(|l| l.sold).sum::<i64>());
}
