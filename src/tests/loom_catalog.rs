//! loom models of the catalog's stock-word protocols (`crate::stock::slot`, "Delisting" and "Absolute
//! levels"): a compare-and-set of the level racing a compensation, on a plain and on a
//! promoted item; a delisting racing a take in flight; a delisting racing a split and a
//! give-back to a shard.

use crate::stock::slot::{LevelRefused, Slot};
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

/// A failed two-line reserve takes a unit tentatively and gives it back (its compensation)
/// while a stock count sets the level from 2 to 5. The level compared is never the transient
/// 1: the set waits for the unit in flight, and always succeeds; the unit comes back on top
/// of nothing it was not taken from.
#[test]
fn set_level_races_compensation() {
    model(|| {
        let slot = Arc::new(Slot::new(2));
        let compensating = {
            let slot = slot.clone();
            thread::spawn(move || {
                let taken = slot.take(1, TakeMode::Tentative, 1).unwrap();
                slot.give_back_tentative(1, taken.source);
            })
        };
        let counted = slot.set_available(2, 5);
        compensating.join().unwrap();
        assert_eq!(
            counted,
            Ok(()),
            "a level compared while a unit was in flight"
        );
        assert_eq!((slot.available(), slot.in_flight()), (5, 0));
    });
}

/// On a promoted item units sit in shards: shard 0 holds 3 of the item's 15 (a refill of 4,
/// one taken), and a take of 1 there races a set of the level from 15 to 20. Either the set
/// came first (20, then the take: 19) or the take did (the set finds 14, the whole item's
/// level, never the central word's 12 alone, and changes nothing).
#[test]
fn set_level_races_shard_take() {
    model(|| {
        let slot = Arc::new(Slot::new(16));
        slot.promote(SHARDS);
        shard::set_thread_number(0);
        slot.take(1, TakeMode::Final, SHARDS).unwrap();
        let taker = {
            let slot = slot.clone();
            thread::spawn(move || {
                shard::set_thread_number(0);
                slot.take(1, TakeMode::Final, SHARDS).unwrap();
            })
        };
        shard::set_thread_number(1);
        let counted = slot.set_available(15, 20);
        taker.join().unwrap();
        match counted {
            Ok(()) => assert_eq!(slot.available(), 19),
            Err(refused) => {
                assert_eq!(refused, LevelRefused::Mismatch { actual: 14 });
                assert_eq!(slot.available(), 14);
            }
        }
        assert_eq!(slot.in_flight(), 0);
    });
}

/// A reserve's tentative take (later committed: it becomes a hold) races a delisting. When
/// `delist` returns, nothing is in flight on the item: every take that began before it has
/// finished, and every take after it is refused.
#[test]
fn delist_races_tentative_take() {
    model(|| {
        let slot = Arc::new(Slot::new(2));
        let reserving = {
            let slot = slot.clone();
            thread::spawn(move || match slot.take(1, TakeMode::Tentative, 1) {
                Ok(taken) => {
                    slot.commit(taken.source);
                    true
                }
                Err(short) => {
                    assert!(short.delisted);
                    false
                }
            })
        };
        assert!(slot.delist());
        assert_eq!(slot.in_flight(), 0, "delist returned with a take in flight");
        let refused = slot.take(1, TakeMode::Final, 1).unwrap_err();
        assert!(refused.delisted);
        let took = reserving.join().unwrap();
        assert_eq!(slot.available(), if took { 1 } else { 2 });
    });
}

/// A promoted item holds a unit taken tentatively on shard 0 (a reserve half-way). Its
/// compensation gives it back while a split (a re-promotion) and a delisting run. Once all are
/// done, no shard may take anything: the split must not reopen a shard the delisting sealed,
/// or the unit given back to it would be taken after the delisting.
#[test]
fn delist_races_split_and_give_back() {
    model(|| {
        let slot = Arc::new(Slot::new(4));
        slot.promote(SHARDS);
        shard::set_thread_number(0);
        let taken = slot.take(2, TakeMode::Tentative, SHARDS).unwrap();
        assert_eq!(taken.source, Source::shard(0));
        let giver = {
            let slot = slot.clone();
            thread::spawn(move || slot.give_back_tentative(2, taken.source))
        };
        let splitter = {
            let slot = slot.clone();
            thread::spawn(move || slot.hot().unwrap().split(slot.central()))
        };
        assert!(slot.delist());
        giver.join().unwrap();
        splitter.join().unwrap();
        let hot = slot.hot().unwrap();
        for shard in 0..SHARDS {
            assert!(
                hot.take_at(shard, slot.central(), 1, TakeMode::Final)
                    .is_none(),
                "shard {shard} took a unit of a delisted item"
            );
        }
        assert!(slot.take(1, TakeMode::Final, SHARDS).unwrap_err().delisted);
        assert_eq!((slot.available(), slot.in_flight()), (4, 0));
    });
}
