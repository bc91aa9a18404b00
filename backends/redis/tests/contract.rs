//! The contract suite (`atomic-stock-contract`) against a real Redis Cluster: three masters on
//! 127.0.0.1, started for the test and stopped after it. Each backend the suite asks for is a
//! fresh namespace on that cluster, driven by the suite's manual clock.
//!
//! Besides the suite's model, error and race tests, every run checks random concurrent
//! histories over two items on different shards for linearizability (`CONTRACT_LIN_HISTORIES`
//! sets how many).
//!
//! A second test runs a shorter suite with `Durability::Replicas` (`WAIT 1` after every step)
//! on three masters with a replica each: the same answers, waited for. The two tests take
//! turns (one cluster at a time on a small machine).
//!
//! The model test draws every verb, cart updates (`set_cart`) and partial releases
//! (`release_lines`) included; a directed test below checks them across shards.
//!
//! Needs Debian's `redis-server` and `redis-tools`; without them the test is reported as
//! skipped (printed), unless `ATOMIC_STOCK_REQUIRE_REDIS=1` (CI) makes that a failure.

use atomic_stock_contract::{
    bad_input, concurrent_audit, linearizability, model, races, Cases, Setup, Time,
};
use atomic_stock_redis::{Durability, LocalCluster, RedisCluster};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One cluster at a time.
static TURN: Mutex<()> = Mutex::new(());

fn start_cluster(replicas: usize) -> Option<LocalCluster> {
    let required = std::env::var("ATOMIC_STOCK_REQUIRE_REDIS").is_ok_and(|v| v == "1");
    match LocalCluster::start(3, replicas, Duration::from_secs(5)) {
        Ok(cluster) => Some(cluster),
        Err(e) if !required => {
            println!("SKIPPED: no local Redis Cluster could be started ({e})");
            None
        }
        Err(e) => panic!("cannot start a local Redis Cluster: {e}"),
    }
}

#[test]
fn contract_suite_on_a_three_master_cluster() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = start_cluster(0) else {
        return;
    };
    suite(&cluster, Durability::Async, |cases| cases);
    drop(cluster);
}

/// The suite with every step waited for by one replica. Shorter: `CONTRACT_CASES` sets the
/// async run's sequences; this one runs a quarter of them (at least 5).
#[test]
fn contract_suite_waiting_for_a_replica() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = start_cluster(1) else {
        return;
    };
    let durability = Durability::Replicas {
        count: 1,
        timeout: Duration::from_secs(2),
    };
    suite(&cluster, durability, |cases| Cases {
        cases: (cases.cases / 4).max(5),
        ..cases
    });
    drop(cluster);
}

fn suite(cluster: &LocalCluster, durability: Durability, shorter: impl Fn(Cases) -> Cases) {
    let urls = cluster.urls();
    let namespaces = AtomicU64::new(0);
    // 16 shards: every item and most carts on a shard of their own (carts cross shards);
    // 2 shards: items and cart records share shards (parts meet on one shard).
    let make_with = |shards: u32, setup: Setup| {
        let urls = urls.clone();
        let namespace = format!(
            "t{}-{}",
            std::process::id(),
            // Relaxed: a unique number.
            namespaces.fetch_add(1, Ordering::Relaxed)
        );
        async move {
            RedisCluster::builder(urls)
                .namespace(&namespace)
                .shards(shards)
                .clock(setup.clock)
                .max_ttl(setup.max_ttl)
                .durability(durability)
                .connect()
                .await
                .expect("connect to the local cluster")
        }
    };
    let make = |setup: Setup| make_with(16, setup);
    let make_few = |setup: Setup| make_with(2, setup);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Sequences draw every verb, cart updates and partial releases included.
        let cases = |n| shorter(Cases::from_env(n, 60));
        model(&make, Time::Driven, cases(60)).await;
        model(&make_few, Time::Driven, cases(40)).await;
        bad_input(&make, Time::Driven).await;
        races(&make, Time::Driven, 100).await;
        let ops = std::env::var("CONTRACT_CONCURRENT_OPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300);
        let ops = if durability == Durability::Async {
            ops
        } else {
            (ops / 4).max(50)
        };
        concurrent_audit(&make, Time::Driven, 16, ops).await;
        concurrent_audit(&make_few, Time::Driven, 16, ops).await;
        // Items 0 and 1 on shards 0 and 1 of 16 (and of 2): the two-item reserves cross shards,
        // and a compensated one must never turn another buyer away.
        let histories = if durability == Durability::Async {
            200
        } else {
            50
        };
        linearizability(&make, histories, 3, 5).await;
        linearizability(&make_few, histories / 2, 3, 5).await;
    });
    drop(runtime);
}

/// Cart updates and partial releases, directed, on 16 shards (one item per shard: every update
/// crosses shards) and on 2 (an update cuts parts of several lines): only the difference moves,
/// refusals change nothing, and a confirm sells exactly what the reservation holds then.
#[test]
fn line_updates_move_only_the_difference() {
    use atomic_stock::{
        Backend, CartId, Confirmation, Failure, ItemId, Line, ManualClock, ReservationError,
        ReservationState, ReserveError, TakeError,
    };
    use std::sync::Arc;
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = start_cluster(0) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for shards in [16, 2] {
            let clock = Arc::new(ManualClock::new());
            let backend = RedisCluster::builder(cluster.urls())
                .namespace(&format!("u{}-{shards}", std::process::id()))
                .shards(shards)
                .clock(clock.clone())
                .connect()
                .await
                .expect("connect");
            let (a, b, c) = (
                backend.register_item(5).await.unwrap(),
                backend.register_item(5).await.unwrap(),
                backend.register_item(5).await.unwrap(),
            );
            let levels = |item: ItemId| {
                let backend = &backend;
                async move {
                    let l = backend.item(item).await.unwrap().unwrap();
                    assert_eq!(l.in_flight, 0, "{item}: nothing in flight between calls");
                    (l.available, l.held, l.sold)
                }
            };
            let ttl = Duration::from_secs(60);
            let cart = CartId::new(1);
            let r = backend
                .reserve(cart, &[Line::new(a, 2), Line::new(b, 3)], ttl)
                .await
                .unwrap();

            // a 2 -> 4 (takes 2), b 3 -> 1 (gives back 2), c 0 -> 1 (takes 1).
            let updated = backend
                .set_cart(
                    cart,
                    &[Line::new(c, 1), Line::new(a, 4), Line::new(b, 1)],
                    ttl,
                )
                .await
                .unwrap();
            assert_eq!(updated.id, r.id, "{shards} shards: the same reservation");
            assert_eq!(levels(a).await, (1, 4, 0), "{shards} shards");
            assert_eq!(levels(b).await, (4, 1, 0), "{shards} shards");
            assert_eq!(levels(c).await, (4, 1, 0), "{shards} shards");

            // a 4 -> 7 needs 3 more, 1 is available: refused, nothing changed.
            let short = backend.set_cart(cart, &[Line::new(a, 7)], ttl).await;
            assert!(
                matches!(
                    short,
                    Err(Failure::Refused(ReserveError::Stock(TakeError::Shortfall {
                        item,
                        requested: 3,
                        available: 1,
                    }))) if item == a
                ),
                "{shards} shards: {short:?}"
            );
            assert_eq!(levels(a).await, (1, 4, 0), "{shards} shards");
            assert_eq!(levels(b).await, (4, 1, 0), "{shards} shards");

            // More than held: refused, nothing changed.
            let not_held = backend.release_lines(r.id, &[Line::new(b, 2)]).await;
            assert!(
                matches!(
                    not_held,
                    Err(Failure::Refused(ReservationError::NotHeld {
                        item,
                        requested: 2,
                        held: 1,
                    })) if item == b
                ),
                "{shards} shards: {not_held:?}"
            );
            assert_eq!(levels(b).await, (4, 1, 0), "{shards} shards");

            // Give back 3 of a and all of c; the rest stays held.
            backend
                .release_lines(r.id, &[Line::new(a, 3), Line::new(c, 1)])
                .await
                .unwrap();
            assert_eq!(levels(a).await, (4, 1, 0), "{shards} shards");
            assert_eq!(levels(c).await, (5, 0, 0), "{shards} shards");
            assert_eq!(
                backend.status(r.id).await.unwrap(),
                ReservationState::Held,
                "{shards} shards"
            );

            // A confirm sells what is held now.
            assert_eq!(
                backend.confirm(r.id).await.unwrap(),
                Confirmation::Confirmed
            );
            assert_eq!(levels(a).await, (4, 0, 1), "{shards} shards");
            assert_eq!(levels(b).await, (4, 0, 1), "{shards} shards");
            assert_eq!(levels(c).await, (5, 0, 0), "{shards} shards");

            // Giving back every line releases the reservation.
            let r2 = backend
                .reserve(CartId::new(2), &[Line::new(a, 1), Line::new(c, 2)], ttl)
                .await
                .unwrap();
            backend
                .release_lines(r2.id, &[Line::new(c, 2), Line::new(a, 1)])
                .await
                .unwrap();
            assert_eq!(
                backend.status(r2.id).await.unwrap(),
                ReservationState::Released
            );
            assert_eq!(levels(a).await, (4, 0, 1), "{shards} shards");
            assert_eq!(levels(c).await, (5, 0, 0), "{shards} shards");

            // No live reservation: a cart update reserves. Past its deadline: the update
            // expires it and reserves anew.
            let cart3 = CartId::new(3);
            let r3 = backend
                .set_cart(cart3, &[Line::new(b, 2)], ttl)
                .await
                .unwrap();
            assert_eq!(levels(b).await, (2, 2, 1), "{shards} shards");
            clock.advance(ttl);
            let r4 = backend
                .set_cart(cart3, &[Line::new(b, 1)], ttl)
                .await
                .unwrap();
            assert_ne!(r4.id, r3.id, "{shards} shards: a new reservation");
            assert_eq!(
                backend.status(r3.id).await.unwrap(),
                ReservationState::Expired
            );
            assert_eq!(levels(b).await, (3, 1, 1), "{shards} shards");
            backend.release_cart(cart3).await.unwrap();
            let late = backend.release_lines(r4.id, &[Line::new(b, 1)]).await;
            assert!(
                matches!(late, Err(Failure::Refused(ReservationError::Released))),
                "{shards} shards: {late:?}"
            );
            for item in [a, b, c] {
                let l = backend.item(item).await.unwrap().unwrap();
                assert_eq!(
                    (l.held, l.available + l.held + l.sold),
                    (0, l.received),
                    "{shards} shards: {item} conserved"
                );
            }
        }
    });
    drop(runtime);
    drop(cluster);
}
