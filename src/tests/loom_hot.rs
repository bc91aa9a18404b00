//! loom models of the hot-item protocol (`crate::stock::hot`): split against join, a give-back racing
//! a drain, a shortfall decision racing a compensation. Each thread picks its shard explicitly
//! (`shard::set_thread_number`) so that every execution of a model is deterministic.

use crate::stock::slot::Slot;
use crate::stock::word::{Source, TakeMode};
use crate::sync::shard;
use loom::sync::Arc;
use loom::thread;

const SHARDS: usize = 2;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// A promoted slot with `initial` units, all in the central word, split over 2 shards.
fn hot_slot(initial: i64) -> Arc<Slot> {
    let slot = Arc::new(Slot::new(initial));
    slot.promote(SHARDS);
    slot
}

fn on_shard(n: usize) {
    shard::set_thread_number(n);
}

/// Whatever happened, at the end the whole item must add up and nothing may be in flight.
fn assert_quiet(slot: &Slot, expected_available: i64) {
    assert_eq!(slot.in_flight(), 0);
    assert_eq!(slot.available(), expected_available);
}

/// A take that refills its shard from the central word races a join that freezes and drains
/// every shard: the refilled chunk is never lost or counted twice, and the take either gets
/// its unit or (never, here: there is stock) is refused.
#[test]
fn refill_races_join() {
    model(|| {
        let slot = hot_slot(4);
        let taker = {
            let slot = slot.clone();
            thread::spawn(move || {
                on_shard(0);
                slot.take(1, TakeMode::Final, SHARDS).is_ok()
            })
        };
        let joiner = {
            let slot = slot.clone();
            thread::spawn(move || {
                slot.hot().unwrap().join(slot.central());
            })
        };
        assert!(taker.join().unwrap(), "4 units and one take of 1");
        joiner.join().unwrap();
        assert_quiet(&slot, 3);
        // Exactly three more units can be had, wherever they sit.
        on_shard(1);
        for _ in 0..3 {
            slot.take(1, TakeMode::Final, SHARDS).unwrap();
        }
        assert!(slot.take(1, TakeMode::Final, SHARDS).is_err());
        assert_quiet(&slot, 0);
    });
}

/// A compensation returning units to a shard races the join draining it: the units land in
/// the shard (and are drained) or in the central word (the shard was frozen), never nowhere.
#[test]
fn give_back_races_drain() {
    model(|| {
        let slot = hot_slot(4);
        on_shard(0);
        let taken = slot.take(2, TakeMode::Tentative, SHARDS).unwrap();
        assert_eq!(taken.source, Source::shard(0));
        let giver = {
            let slot = slot.clone();
            thread::spawn(move || slot.give_back_tentative(2, taken.source))
        };
        let joiner = {
            let slot = slot.clone();
            thread::spawn(move || slot.hot().unwrap().join(slot.central()))
        };
        giver.join().unwrap();
        joiner.join().unwrap();
        assert_quiet(&slot, 4);
    });
}

/// The phantom-shortfall race on a hot item: T1 holds the only unit tentatively in its shard
/// and will give it back (a compensation); T2, on another shard, wants it. T2 must get it: its
/// shortfall decision joins, finds T1's shard busy, waits, and sees the unit come back.
#[test]
fn shortfall_decision_races_compensation() {
    model(|| {
        let slot = hot_slot(1);
        on_shard(0);
        let taken = slot.take(1, TakeMode::Tentative, SHARDS).unwrap();
        let compensating = {
            let slot = slot.clone();
            thread::spawn(move || slot.give_back_tentative(1, taken.source))
        };
        let buyer = {
            let slot = slot.clone();
            thread::spawn(move || {
                on_shard(1);
                slot.take(1, TakeMode::Final, SHARDS)
            })
        };
        compensating.join().unwrap();
        assert!(
            buyer.join().unwrap().is_ok(),
            "phantom shortfall on a hot item"
        );
        assert_quiet(&slot, 0);
    });
}

/// A split (re-promotion) races a join and a take: shards are unfrozen only when empty, a
/// decision that overlaps the split notices the generation change, and the stock adds up.
#[test]
fn split_races_join_and_take() {
    model(|| {
        let slot = hot_slot(3);
        slot.hot().unwrap().join(slot.central());
        let splitter = {
            let slot = slot.clone();
            thread::spawn(move || slot.hot().unwrap().split(slot.central()))
        };
        let joiner = {
            let slot = slot.clone();
            thread::spawn(move || slot.hot().unwrap().join(slot.central()))
        };
        on_shard(1);
        let took = slot.take(2, TakeMode::Final, SHARDS).is_ok();
        splitter.join().unwrap();
        joiner.join().unwrap();
        assert!(took, "3 units and one take of 2");
        assert_quiet(&slot, 1);
    });
}

/// A decider racing a refill in transit: T1 refills its shard with the only unit (which leaves
/// the central word before it lands in the shard), takes it tentatively and gives it back; T2
/// wants it from another shard. In every sequential history T2 gets the unit, so T2 may not be
/// refused while the chunk travels.
#[test]
fn shortfall_decision_races_refill() {
    model(|| {
        let slot = hot_slot(1);
        let refiller = {
            let slot = slot.clone();
            thread::spawn(move || {
                on_shard(0);
                if let Ok(taken) = slot.take(1, TakeMode::Tentative, SHARDS) {
                    slot.give_back_tentative(1, taken.source);
                }
            })
        };
        let buyer = {
            let slot = slot.clone();
            thread::spawn(move || {
                on_shard(1);
                slot.take(1, TakeMode::Final, SHARDS)
            })
        };
        refiller.join().unwrap();
        assert!(
            buyer.join().unwrap().is_ok(),
            "refused while the unit was in transit"
        );
        assert_quiet(&slot, 0);
    });
}

/// A restock that fits exactly races a join draining a shard into the central word. The
/// restock's bound reads the central word, then the shards: having seen the drained units
/// arrive centrally, it must not also read them still in the shard (counted twice, the item
/// would look over `MAX_STOCK` and a restock that fits would be refused). This holds only if
/// the central read is Acquire (pairing with the drain's Release give-back).
#[test]
fn restock_races_drain() {
    use crate::limits::MAX_STOCK;
    use crate::stock::word::available;
    use crate::sync::atomic::Ordering;
    model(|| {
        let slot = hot_slot(MAX_STOCK - 1);
        on_shard(0);
        // A refill moves a chunk into shard 0; one unit of it is sold.
        slot.take(1, TakeMode::Final, SHARDS).unwrap();
        let joiner = {
            let slot = slot.clone();
            thread::spawn(move || slot.hot().unwrap().join(slot.central()))
        };
        // Wait, without synchronizing (Relaxed), until the drained units show in the central
        // word: loom then lets the shard reads inside the bound return any value the model
        // allows, which is where a Relaxed central read would count the units twice.
        while available(slot.central().load(Ordering::Relaxed)) != MAX_STOCK - 2 {
            thread::yield_now();
        }
        let restocked = slot.add_checked(2);
        joiner.join().unwrap();
        assert_eq!(restocked, Ok(()), "a restock that fits was refused");
        assert_quiet(&slot, MAX_STOCK);
    });
}
