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

/// Line updates racing the other verbs on shared carts: 8 tasks, each a random mix of
/// `set_cart`, `release_lines` (of the cart's last receipt), reserve, confirm and release by
/// cart, `expire_due`, restocks and clock advances, over 3 carts and 3 scarce items, on 16 and
/// on 2 shards. Every call answers a typed refusal or succeeds (no backend failure: a cart
/// update whose cart changed under it reads it again); at rest, every item's `held` is what the
/// live reservations hold by their home shards (nothing in flight); and once every deadline has
/// passed and the sweeper ran, nothing is held and every item's `available + sold = received`.
#[test]
fn line_updates_racing_every_verb_keep_the_ledgers() {
    use atomic_stock::limits::MAX_LINE_QUANTITY;
    use atomic_stock::{
        Backend, CartId, Failure, Line, ManualClock, ReservationError, ReservationId,
    };
    use std::sync::Arc;
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = start_cluster(0) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for shards in [16, 2] {
            let clock = Arc::new(ManualClock::new());
            let backend = Arc::new(
                RedisCluster::builder(cluster.urls())
                    .namespace(&format!("race{}-{shards}", std::process::id()))
                    .shards(shards)
                    .clock(clock.clone())
                    .connect()
                    .await
                    .expect("connect"),
            );
            let mut items = Vec::new();
            for _ in 0..3 {
                items.push(backend.register_item(6).await.unwrap());
            }
            let receipts: Arc<Mutex<[Option<ReservationId>; 3]>> = Arc::new(Mutex::new([None; 3]));
            let (updated, released) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let tasks = (0..8u64).map(|task| {
                let (backend, clock, items, receipts) = (
                    backend.clone(),
                    clock.clone(),
                    items.clone(),
                    receipts.clone(),
                );
                let (updated, released) = (updated.clone(), released.clone());
                tokio::spawn(async move {
                    // splitmix64, seeded per task.
                    let mut state = task.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32;
                    let mut next = move |n: u64| {
                        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                        let mut z = state;
                        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                        (z ^ (z >> 31)) % n
                    };
                    let ttl = Duration::from_millis(40);
                    fn fail(what: &str, e: &dyn std::fmt::Debug) -> ! {
                        panic!("{what}: backend failure {e:?}")
                    }
                    for _ in 0..150 {
                        let c = next(3);
                        let cart = CartId::new(c);
                        let lines: Vec<Line> = (0..1 + next(3))
                            .map(|_| Line::new(items[next(3) as usize], 1 + next(3) as i64))
                            .collect();
                        match next(11) {
                            0..=2 => match backend.set_cart(cart, &lines, ttl).await {
                                Ok(r) => {
                                    receipts.lock().unwrap()[c as usize] = Some(r.id);
                                    // Relaxed: a count read after the tasks are joined.
                                    updated.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(Failure::Backend(e)) => fail("set_cart", &e),
                                Err(Failure::Refused(_)) => {}
                            },
                            3 | 4 => {
                                let id = receipts.lock().unwrap()[c as usize];
                                if let Some(id) = id {
                                    match backend.release_lines(id, &lines[..1]).await {
                                        Ok(()) => {
                                            // Relaxed: a count read after the tasks are joined.
                                            released.fetch_add(1, Ordering::Relaxed);
                                        }
                                        Err(Failure::Backend(e)) => fail("release_lines", &e),
                                        Err(Failure::Refused(_)) => {}
                                    }
                                }
                            }
                            5 => match backend.reserve(cart, &lines, ttl).await {
                                Ok(r) => receipts.lock().unwrap()[c as usize] = Some(r.id),
                                Err(Failure::Backend(e)) => fail("reserve", &e),
                                Err(Failure::Refused(_)) => {}
                            },
                            6 => {
                                if let Err(Failure::Backend(e)) = backend.confirm_cart(cart).await {
                                    fail("confirm_cart", &e);
                                }
                            }
                            7 => {
                                if let Err(Failure::Backend(e)) = backend.release_cart(cart).await {
                                    fail("release_cart", &e);
                                }
                            }
                            8 => {
                                if let Err(e) = backend.expire_due().await {
                                    fail("expire_due", &e);
                                }
                            }
                            9 => {
                                let item = items[next(3) as usize];
                                if let Err(Failure::Backend(e)) =
                                    backend.restock(item, 1 + next(2) as i64).await
                                {
                                    fail("restock", &e);
                                }
                            }
                            _ => clock.advance(Duration::from_millis(1 + next(5))),
                        }
                    }
                })
            });
            for task in futures_util::future::join_all(tasks).await {
                task.expect("a task panicked");
            }
            // At rest, the shards hold exactly what the home shards say the live reservations
            // hold: each cart's live reservation (its id from extend_cart) tells, per item, how
            // many units it holds, through the NotHeld refusal of a release of more (which
            // changes nothing).
            let mut home_held = vec![0; items.len()];
            for c in 0..3 {
                let Ok(live) = backend
                    .extend_cart(CartId::new(c), Duration::from_millis(40))
                    .await
                else {
                    continue;
                };
                for (k, &item) in items.iter().enumerate() {
                    let probe = [Line::new(item, MAX_LINE_QUANTITY)];
                    match backend.release_lines(live.id, &probe).await {
                        Err(Failure::Refused(ReservationError::NotHeld { held, .. })) => {
                            home_held[k] += held
                        }
                        other => panic!("{shards} shards: probe of cart {c}: {other:?}"),
                    }
                }
            }
            for (k, &item) in items.iter().enumerate() {
                let l = backend.item(item).await.unwrap().unwrap();
                assert_eq!(
                    (l.held, l.in_flight),
                    (home_held[k], 0),
                    "{shards} shards: {item:?} at rest, held by the live reservations {}",
                    home_held[k]
                );
            }
            // Every deadline passes; the sweeper gives back what is still held.
            clock.advance(Duration::from_secs(3));
            backend.expire_due().await.unwrap();
            let mut sold = 0;
            for &item in &items {
                let l: atomic_stock::ItemLevels = backend.item(item).await.unwrap().unwrap();
                assert_eq!(
                    (l.held, l.in_flight, l.available + l.sold),
                    (0, 0, l.received),
                    "{shards} shards: {item:?} after every deadline: {l:?}"
                );
                sold += l.sold;
            }
            // Relaxed: the tasks are joined.
            let (updated, released) = (
                updated.load(Ordering::Relaxed),
                released.load(Ordering::Relaxed),
            );
            assert!(
                updated > 0 && released > 0,
                "{shards} shards: the races must include line updates that took effect"
            );
            println!(
                "line updates racing every verb [{shards} shards]: 8 tasks x 150 operations, \
                 {updated} cart updates and {released} partial releases done, {} units held at \
                 rest as the home shards say, {sold} units sold, ledgers balanced",
                home_held.iter().sum::<i64>()
            );
        }
    });
    drop(runtime);
    drop(cluster);
}
