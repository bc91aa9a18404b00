//! The public API against the Rust API Guidelines, checked by the compiler rather
//! than by reading: what an order service stores, shares between threads and tasks, and puts
//! in its own error types must have the traits it needs.
//!
//! * C-SEND-SYNC: the engines are `Send + Sync` (one `Arc<Inventory>` shared by every thread
//!   and tokio task); the plain-data types are `Send + Sync` too.
//! * C-GOOD-ERR: every error type implements `std::error::Error + Send + Sync + 'static`, and
//!   `Display` says something a log reader can act on.
//! * C-COMMON-TRAITS: ids and lines are `Copy + Eq + Ord + Hash + Debug`, so they key maps and
//!   sort; snapshots are `Clone + PartialEq + Debug`.
//! * C-DEBUG: every public type implements `Debug` (also enforced crate-wide by
//!   `#![warn(missing_debug_implementations)]` under `-D warnings` in CI).

use atomic_stock::{
    AdjustError, AuditError, AuditReport, BuildError, CartId, CatalogError, CoarseClock,
    Confirmation, Inventory, InventoryBuilder, ItemId, ItemLevels, LagHistogram, Line, ManualClock,
    Receipt, ReservationError, ReservationId, ReservationInfo, ReservationState, ReserveError,
    Shortage, Stats, Stock, SystemClock, TakeError,
};
use std::error::Error;
use std::fmt::Debug;
use std::hash::Hash;

fn send_sync<T: Send + Sync>() {}
fn error<T: Error + Send + Sync + 'static>() {}
fn key<T: Copy + Eq + Ord + Hash + Debug + Send + Sync>() {}
fn snapshot<T: Clone + PartialEq + Debug + Send + Sync>() {}
fn debug<T: Debug>() {}

#[test]
fn engines_are_shared_between_threads() {
    send_sync::<Inventory>();
    send_sync::<Stock>();
    send_sync::<ManualClock>();
    send_sync::<SystemClock>();
    send_sync::<CoarseClock>();
    debug::<InventoryBuilder>();
    debug::<Inventory>();
    debug::<Stock>();
}

#[test]
fn errors_are_std_errors() {
    error::<TakeError>();
    error::<ReserveError>();
    error::<ReservationError>();
    error::<CatalogError>();
    error::<AdjustError>();
    error::<AuditError>();
    error::<BuildError>();
}

#[test]
fn ids_and_snapshots_have_the_common_traits() {
    key::<ItemId>();
    key::<CartId>();
    key::<ReservationId>();
    snapshot::<Line>();
    snapshot::<Receipt>();
    snapshot::<Confirmation>();
    snapshot::<ReservationState>();
    snapshot::<ReservationInfo>();
    snapshot::<ItemLevels>();
    snapshot::<AuditReport>();
    snapshot::<Stats>();
    snapshot::<LagHistogram>();
    snapshot::<Shortage>();
}

/// Errors say what went wrong in words, with the values that matter.
#[test]
fn errors_display_their_facts() {
    let stock = Stock::new();
    let item = stock.register(1).unwrap();
    let short = stock.take(&[Line::new(item, 2)]).unwrap_err();
    let text = short.to_string();
    assert!(text.contains('2') && text.contains('1'), "{text}");
    let bad = stock.take(&[Line::new(item, 0)]).unwrap_err().to_string();
    assert!(!bad.is_empty());
}

/// A shortfall matches in one step at every level it travels through: the take, the reserve,
/// and a backend's `Failure`; nothing else answers as one.
#[test]
fn a_shortfall_matches_in_one_step() {
    use atomic_stock::Failure;
    let item = ItemId::new(3);
    let take = TakeError::Shortfall {
        item,
        requested: 5,
        available: 2,
    };
    let expected = Some(Shortage {
        item,
        requested: 5,
        available: 2,
    });
    assert_eq!(take.shortfall(), expected);
    assert_eq!(ReserveError::Stock(take).shortfall(), expected);
    let refused: Failure<ReserveError, std::io::Error> =
        Failure::Refused(ReserveError::Stock(take));
    assert_eq!(refused.shortfall(), expected);
    assert_eq!(TakeError::EmptyCart.shortfall(), None);
    assert_eq!(
        ReserveError::Stock(TakeError::UnknownItem { item }).shortfall(),
        None
    );
    assert_eq!(
        ReserveError::TooManyReservations { max: 1 }.shortfall(),
        None
    );
    let failed: Failure<ReserveError, std::io::Error> =
        Failure::Backend(std::io::Error::other("down"));
    assert_eq!(failed.shortfall(), None);
}

/// Polls a future once: the in-process engines' futures are ready when returned.
fn ready_now<T>(mut f: atomic_stock::BoxFuture<'_, T>) -> T {
    use std::task::{Context, Poll, Waker};
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("an in-process future was not ready"),
    }
}

#[test]
fn backends_are_trait_objects() {
    use atomic_stock::{CartId, Confirmation, DynBackend, Failure, ReservationError};
    use std::sync::Arc;
    use std::time::Duration;

    let mut engines: Vec<Arc<dyn DynBackend>> = vec![Arc::new(Inventory::new())];
    #[cfg(feature = "baselines")]
    {
        engines.push(Arc::new(atomic_stock::baseline::ItemLocksInventory::new()));
        engines.push(Arc::new(atomic_stock::baseline::GlobalLockInventory::new()));
    }
    for engine in &engines {
        let mug = ready_now(engine.register_item(3)).unwrap();
        let ttl = Duration::from_secs(60);
        let receipt = ready_now(engine.reserve(CartId::new(1), &[Line::new(mug, 2)], ttl)).unwrap();
        let short = ready_now(engine.reserve(CartId::new(2), &[Line::new(mug, 2)], ttl));
        assert_eq!(
            short
                .as_ref()
                .map_err(Failure::shortfall)
                .err()
                .flatten()
                .map(|s| s.available),
            Some(1),
            "{}: {short:?}",
            engine.name()
        );
        assert!(matches!(
            ready_now(engine.confirm(receipt.id)),
            Ok(Confirmation::Confirmed)
        ));
        assert!(matches!(
            ready_now(engine.release(receipt.id)),
            Err(Failure::Refused(ReservationError::Confirmed))
        ));
        let levels = ready_now(engine.item(mug)).unwrap().unwrap();
        assert_eq!((levels.available, levels.sold), (1, 2), "{}", engine.name());
    }
}
