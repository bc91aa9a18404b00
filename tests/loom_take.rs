//! loom models of the take / compensate protocol (run with `RUSTFLAGS="--cfg loom"`, see
//! README). Two or three threads, two items, every interleaving up to the preemption bound.
#![cfg(loom)]

use atomic_stock::{ItemId, Line, Stock, TakeError};
use loom::sync::Arc;
use loom::thread;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn lines(spec: &[(ItemId, i64)]) -> Vec<Line> {
    spec.iter().map(|&(i, q)| Line::new(i, q)).collect()
}

/// Two carts want the last unit of both items: exactly one gets them, and nothing is left in
/// flight or oversold.
#[test]
fn take_races_take_for_the_last_units() {
    model(|| {
        let stock = Arc::new(Stock::new());
        let a = stock.register(1).unwrap();
        let b = stock.register(1).unwrap();
        let spawn = |cart: Vec<Line>| {
            let stock = stock.clone();
            thread::spawn(move || stock.take(&cart).is_ok())
        };
        let t1 = spawn(lines(&[(a, 1), (b, 1)]));
        let t2 = spawn(lines(&[(b, 1), (a, 1)]));
        let wins = [t1.join().unwrap(), t2.join().unwrap()];
        assert_eq!(wins.iter().filter(|&&w| w).count(), 1, "{wins:?}");
        assert_eq!(stock.available(a), Some(0));
        assert_eq!(stock.available(b), Some(0));
    });
}

/// The phantom-shortfall race: T1's cart always fails on `b` (empty) after taking `a`
/// tentatively; T2 wants `a` alone. In every sequential history T2 succeeds, so it must here
/// too: it may not be told "short" while T1's unit is only in flight.
#[test]
fn compensation_is_never_a_phantom_shortfall() {
    model(|| {
        let stock = Arc::new(Stock::new());
        let a = stock.register(1).unwrap();
        let b = stock.register(0).unwrap();
        let t1 = {
            let stock = stock.clone();
            thread::spawn(move || stock.take(&lines(&[(a, 1), (b, 1)])))
        };
        let t2 = {
            let stock = stock.clone();
            thread::spawn(move || stock.take(&lines(&[(a, 1)])))
        };
        // T1 fails on `b`, or on `a` if T2 already holds it for good: both are real shortfalls.
        match t1.join().unwrap() {
            Err(TakeError::Shortfall { item, .. }) => assert!(item == a || item == b),
            other => panic!("T1 cannot succeed: {other:?}"),
        }
        assert_eq!(t2.join().unwrap(), Ok(()), "phantom shortfall");
        assert_eq!(stock.available(a), Some(0));
        assert_eq!(stock.available(b), Some(0));
    });
}

/// A take, a give-back and a restock race on two items: conservation holds, a failed take
/// leaves no trace once compensated, and no count goes below zero.
#[test]
fn give_back_and_restock_race_a_take() {
    model(|| {
        let stock = Arc::new(Stock::new());
        let a = stock.register(1).unwrap();
        let b = stock.register(1).unwrap();
        // T1 holds one unit of `a` from the start and gives it back.
        stock.take(&lines(&[(a, 1)])).unwrap();
        let t1 = {
            let stock = stock.clone();
            thread::spawn(move || stock.give_back(&lines(&[(a, 1)])).unwrap())
        };
        let t2 = {
            let stock = stock.clone();
            thread::spawn(move || stock.take(&lines(&[(a, 1), (b, 2)])).is_ok())
        };
        let t3 = {
            let stock = stock.clone();
            thread::spawn(move || stock.restock(b, 1).unwrap())
        };
        t1.join().unwrap();
        let took = t2.join().unwrap();
        t3.join().unwrap();
        // Whatever the interleaving: initial 1 + 1, restocked 1 on b.
        let (held_a, held_b) = if took { (1, 2) } else { (0, 0) };
        assert_eq!(stock.available(a).unwrap() + held_a, 1);
        assert_eq!(stock.available(b).unwrap() + held_b, 2);
    });
}
