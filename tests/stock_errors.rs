//! Every error variant of the stock core, through every engine: bad input is refused with the
//! right typed error and changes nothing.

use atomic_stock::baseline::{GlobalLock, ItemLocks};
use atomic_stock::limits::{MAX_LINES, MAX_LINE_QUANTITY, MAX_STOCK};
use atomic_stock::{AdjustError, CatalogError, ItemId, Line, Stock, StockEngine, TakeError};

fn engines() -> Vec<Box<dyn StockEngine>> {
    vec![
        Box::new(Stock::new()),
        Box::new(ItemLocks::new()),
        Box::new(GlobalLock::new()),
    ]
}

/// Available counts of `items`, to compare before and after a refused call.
fn counts(engine: &dyn StockEngine, items: &[ItemId]) -> Vec<i64> {
    items
        .iter()
        .map(|&i| engine.available(i).unwrap())
        .collect()
}

#[test]
fn take_errors_change_nothing() {
    for engine in engines() {
        let a = engine.register(10).unwrap();
        let b = engine.register(2).unwrap();
        let items = [a, b];
        let unknown = ItemId::new(99);
        let before = counts(&*engine, &items);
        let cases: Vec<(Vec<Line>, TakeError)> = vec![
            (vec![], TakeError::EmptyCart),
            (
                vec![Line::new(a, 1); MAX_LINES + 1],
                TakeError::TooManyLines {
                    lines: MAX_LINES + 1,
                    max: MAX_LINES,
                },
            ),
            (
                vec![Line::new(a, 1), Line::new(b, 0)],
                TakeError::InvalidQuantity {
                    item: b,
                    quantity: 0,
                },
            ),
            (
                vec![Line::new(a, -3)],
                TakeError::InvalidQuantity {
                    item: a,
                    quantity: -3,
                },
            ),
            (
                vec![Line::new(a, MAX_LINE_QUANTITY + 1)],
                TakeError::InvalidQuantity {
                    item: a,
                    quantity: MAX_LINE_QUANTITY + 1,
                },
            ),
            (
                vec![Line::new(a, 1), Line::new(unknown, 1)],
                TakeError::UnknownItem { item: unknown },
            ),
            (
                vec![
                    Line::new(b, MAX_LINE_QUANTITY),
                    Line::new(b, MAX_LINE_QUANTITY),
                ],
                TakeError::QuantityOverflow { item: b },
            ),
            // Duplicate lines are merged before checking: 2 + 1 > 2 available.
            (
                vec![Line::new(a, 4), Line::new(b, 2), Line::new(b, 1)],
                TakeError::Shortfall {
                    item: b,
                    requested: 3,
                    available: 2,
                },
            ),
            // Listed out of order: the shortfall names the short item after sorting.
            (
                vec![Line::new(b, 3), Line::new(a, 11)],
                TakeError::Shortfall {
                    item: a,
                    requested: 11,
                    available: 10,
                },
            ),
        ];
        for (lines, expected) in cases {
            assert_eq!(
                engine.take(&lines),
                Err(expected),
                "{}: {lines:?}",
                engine.name()
            );
            assert_eq!(
                counts(&*engine, &items),
                before,
                "{}: {lines:?} changed stock",
                engine.name()
            );
        }
        // The same validation guards give-back.
        assert_eq!(engine.give_back(&[]), Err(TakeError::EmptyCart));
        assert_eq!(
            engine.give_back(&[Line::new(unknown, 1)]),
            Err(TakeError::UnknownItem { item: unknown })
        );
        assert_eq!(
            engine.give_back(&[Line::new(a, MAX_STOCK)]),
            Err(TakeError::QuantityOverflow { item: a })
        );
        assert_eq!(counts(&*engine, &items), before);
        // And a valid take still works afterwards.
        engine.take(&[Line::new(b, 2), Line::new(a, 10)]).unwrap();
        assert_eq!(counts(&*engine, &items), vec![0, 0]);
    }
}

#[test]
fn adjust_errors_change_nothing() {
    for engine in engines() {
        let a = engine.register(5).unwrap();
        let unknown = ItemId::new(7);
        assert_eq!(
            engine.restock(unknown, 1),
            Err(AdjustError::UnknownItem { item: unknown })
        );
        assert_eq!(
            engine.shrink(unknown, 1),
            Err(AdjustError::UnknownItem { item: unknown })
        );
        for quantity in [0, -1, MAX_STOCK + 1] {
            assert_eq!(
                engine.restock(a, quantity),
                Err(AdjustError::InvalidQuantity { item: a, quantity })
            );
            assert_eq!(
                engine.shrink(a, quantity),
                Err(AdjustError::InvalidQuantity { item: a, quantity })
            );
        }
        assert_eq!(
            engine.restock(a, MAX_STOCK),
            Err(AdjustError::Overflow {
                item: a,
                on_hand: 5,
                quantity: MAX_STOCK
            })
        );
        assert_eq!(
            engine.shrink(a, 6),
            Err(AdjustError::Shortfall {
                item: a,
                requested: 6,
                available: 5
            })
        );
        assert_eq!(engine.available(a), Some(5));
        assert_eq!(engine.available(unknown), None);
        engine.restock(a, MAX_STOCK - 5).unwrap();
        assert_eq!(engine.available(a), Some(MAX_STOCK));
        engine.shrink(a, MAX_STOCK).unwrap();
        assert_eq!(engine.available(a), Some(0));
    }
}

#[test]
fn registration_errors() {
    for engine in engines() {
        for quantity in [-1, MAX_STOCK + 1, i64::MIN] {
            assert_eq!(
                engine.register(quantity),
                Err(CatalogError::InvalidQuantity { quantity })
            );
        }
        assert_eq!(engine.register(0).unwrap(), ItemId::new(0));
    }
    let stock = Stock::new();
    let a = stock.register_sku("A-1", 3).unwrap();
    assert_eq!(stock.item_by_sku("A-1"), Some(a));
    assert_eq!(
        stock.register_sku("A-1", 3),
        Err(CatalogError::DuplicateSku { existing: a })
    );
    assert_eq!(
        stock.register_sku("", 3),
        Err(CatalogError::InvalidSku { len: 0 })
    );
    assert_eq!(stock.len(), 1);
}
