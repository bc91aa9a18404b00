//! A caller that dies half-way leaves parts that heal by expiry: a cross-shard reserve whose
//! caller died between the take and the commit gives its units back at the deadline, and a
//! confirm whose caller died between the decision and settling the parts ends sold; a
//! tentative part whose caller died between its takes goes back to a waiting taker once its
//! lease passes, and to a waiting shrink. A line update (`set_cart`, `release_lines`) whose
//! caller died after its commit on the home shard, before trimming the parts it cut, is trimmed
//! by the sweeper once the tentative lease passes, and sold as cut if confirmed first; a
//! `set_cart` future dropped anywhere leaves every unit counted once. Skipped
//! (printed) without `redis-server`, unless `ATOMIC_STOCK_REQUIRE_REDIS=1`.

use atomic_stock::{
    Backend, CartId, Confirmation, Failure, ItemId, Line, ManualClock, ReservationState,
    ReserveError, TakeError,
};
use atomic_stock_redis::{LocalCluster, RedisCluster, DEFAULT_TENTATIVE_LEASE};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One cluster at a time.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start_cluster() -> Option<LocalCluster> {
    let required = std::env::var("ATOMIC_STOCK_REQUIRE_REDIS").is_ok_and(|v| v == "1");
    match LocalCluster::start(3, 0, Duration::from_secs(5)) {
        Ok(c) => Some(c),
        Err(e) if !required => {
            println!("SKIPPED: no local Redis Cluster could be started ({e})");
            None
        }
        Err(e) => panic!("cannot start a local Redis Cluster: {e}"),
    }
}

#[test]
fn parts_of_a_dead_caller_heal_at_the_deadline() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = start_cluster() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let clock = Arc::new(ManualClock::new());
        let stock = RedisCluster::builder(cluster.urls())
            .namespace(&format!("heal-{}", std::process::id()))
            .clock(clock.clone())
            .connect()
            .await
            .unwrap();
        let (a, b) = (
            stock.register_item(5).await.unwrap(),
            stock.register_item(5).await.unwrap(),
        );
        let levels = |item: ItemId| {
            let stock = &stock;
            async move {
                let l = stock.item(item).await.unwrap().unwrap();
                (l.available, l.held, l.sold)
            }
        };
        let ttl = Duration::from_secs(60);
        // Items 0 and 1 live on shards 0 and 1: the cart crosses shards.
        let lines = [Line::new(a, 2), Line::new(b, 3)];

        // 1. Died after taking, before committing.
        stock
            .crash_after_take(CartId::new(1), &lines, ttl)
            .await
            .unwrap();
        assert_eq!(
            levels(a).await,
            (3, 2, 0),
            "the abandoned parts hold their units"
        );
        assert_eq!(levels(b).await, (2, 3, 0));
        assert_eq!(stock.expire_due().await.unwrap(), 0, "not due yet");
        clock.advance(ttl);
        assert_eq!(
            stock.expire_due().await.unwrap(),
            0,
            "an attempt never committed is not a reservation"
        );
        assert_eq!(levels(a).await, (5, 0, 0), "given back at the deadline");
        assert_eq!(levels(b).await, (5, 0, 0));

        // 2. Died after the confirm was decided, before the parts were settled.
        let receipt = stock.reserve(CartId::new(2), &lines, ttl).await.unwrap();
        stock
            .crash_after_confirm_decision(receipt.id)
            .await
            .unwrap();
        assert_eq!(levels(a).await, (3, 2, 0), "decided, not settled yet");
        assert_eq!(
            stock.confirm(receipt.id).await.unwrap(),
            Confirmation::AlreadyConfirmed,
            "the decision stands"
        );
        clock.advance(ttl);
        assert_eq!(
            stock.expire_due().await.unwrap(),
            0,
            "confirmed, not expired"
        );
        assert_eq!(levels(a).await, (3, 0, 2), "sold, as decided");
        assert_eq!(levels(b).await, (2, 0, 3));
        // 3. Died between its takes: the part taken on shard 0 is tentative (a later shard
        // could have been short), and takers short of its units wait for it. Its lease passes
        // long before its deadline, and a waiting taker's sweep gives it back.
        let short = stock
            .crash_after_take(CartId::new(3), &[Line::new(a, 2), Line::new(b, 9)], ttl)
            .await;
        assert!(
            short.is_err(),
            "b is short: only the part on a's shard was taken"
        );
        let tentative = stock.item(a).await.unwrap().unwrap();
        assert_eq!(
            (tentative.available, tentative.held, tentative.in_flight),
            (1, 2, 2),
            "a's part is held tentatively"
        );
        let too_many = stock.reserve(CartId::new(4), &[Line::new(a, 4)], ttl).await;
        assert!(
            matches!(
                too_many,
                Err(Failure::Refused(ReserveError::Stock(
                    TakeError::Shortfall { .. }
                )))
            ),
            "more than available and tentative together: short at once ({too_many:?})"
        );
        let started = Instant::now();
        let wanted = [Line::new(a, 3)];
        let (waited, ()) = tokio::join!(stock.reserve(CartId::new(4), &wanted, ttl), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            clock.advance(DEFAULT_TENTATIVE_LEASE);
        });
        waited.expect("the dead caller's tentative units, given back after the lease");
        assert!(started.elapsed() >= Duration::from_millis(200), "it waited");
        let after = stock.item(a).await.unwrap().unwrap();
        assert_eq!(
            (after.available, after.held, after.in_flight),
            (0, 3, 0),
            "the tentative part was given back, then taken"
        );
        let taker_waited = started.elapsed();

        // 4. A shrink waits for tentative units as a take does: short of what is available,
        // but not of what is on its way back, it is not refused.
        stock.restock(a, 2).await.unwrap();
        let short = stock
            .crash_after_take(CartId::new(5), &[Line::new(a, 2), Line::new(b, 9)], ttl)
            .await;
        assert!(
            short.is_err(),
            "b is short: only the part on a's shard was taken"
        );
        let tentative = stock.item(a).await.unwrap().unwrap();
        assert_eq!(
            (tentative.available, tentative.in_flight),
            (0, 2),
            "a's new part is held tentatively"
        );
        let (shrunk, ()) = tokio::join!(stock.shrink(a, 1), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            clock.advance(DEFAULT_TENTATIVE_LEASE);
        });
        shrunk.expect("the shrink waited for the dead caller's tentative units");
        let after = stock.item(a).await.unwrap().unwrap();
        assert_eq!(
            (after.available, after.held, after.in_flight),
            (1, 3, 0),
            "the tentative part was given back, then one unit shrunk"
        );
        println!(
            "healing: abandoned take given back, decided confirm settled as sold, dead caller's \
             tentative part given back to a waiting taker after its lease ({:.0} ms), and to a \
             waiting shrink",
            taker_waited.as_secs_f64() * 1e3
        );
    });
}

#[test]
fn a_line_update_whose_caller_died_heals() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cluster) = start_cluster() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let clock = Arc::new(ManualClock::new());
        let stock = RedisCluster::builder(cluster.urls())
            .namespace(&format!("heal-lines-{}", std::process::id()))
            .clock(clock.clone())
            .connect()
            .await
            .unwrap();
        // Items 0, 1 and 2 live on shards 0, 1 and 2: every update crosses shards.
        let items = [
            stock.register_item(20).await.unwrap(),
            stock.register_item(20).await.unwrap(),
            stock.register_item(20).await.unwrap(),
        ];
        let [a, b, c] = items;
        let levels = |item: ItemId| {
            let stock = &stock;
            async move {
                let l = stock.item(item).await.unwrap().unwrap();
                (l.available, l.held, l.sold)
            }
        };
        let ttl = Duration::from_secs(60);

        // 1. Died after the update's commit: the home shard holds a:1 b:6 c:2, the shards still
        // hold the 3 units of a it cut. Nothing is due before the lease passes; then the
        // sweeper trims the cut part, and a confirm sells what the reservation holds.
        let r = stock
            .reserve(CartId::new(1), &[Line::new(a, 4), Line::new(b, 4)], ttl)
            .await
            .unwrap();
        let updated = stock
            .crash_after_set_cart_commit(
                CartId::new(1),
                &[Line::new(a, 1), Line::new(b, 6), Line::new(c, 2)],
                ttl,
            )
            .await
            .unwrap();
        assert_eq!(updated.id, r.id);
        assert_eq!(
            levels(a).await,
            (16, 4, 0),
            "cut at home, not yet on a's shard"
        );
        assert_eq!(
            levels(b).await,
            (14, 6, 0),
            "the addition was taken before the commit"
        );
        assert_eq!(levels(c).await, (18, 2, 0));
        assert_eq!(stock.expire_due().await.unwrap(), 0);
        assert_eq!(
            levels(a).await,
            (16, 4, 0),
            "the cut is not due before the lease"
        );
        clock.advance(DEFAULT_TENTATIVE_LEASE);
        assert_eq!(stock.expire_due().await.unwrap(), 0, "trimmed, not expired");
        assert_eq!(
            levels(a).await,
            (19, 1, 0),
            "the sweeper trimmed the cut part"
        );
        assert_eq!(stock.confirm(r.id).await.unwrap(), Confirmation::Confirmed);
        assert_eq!(levels(a).await, (19, 0, 1));
        assert_eq!(levels(b).await, (14, 0, 6));
        assert_eq!(levels(c).await, (18, 0, 2));

        // 2. Died after the commit, then confirmed before any sweeper: sold as cut, the rest
        // given back by the confirm itself.
        let r = stock
            .reserve(CartId::new(2), &[Line::new(a, 3), Line::new(b, 1)], ttl)
            .await
            .unwrap();
        stock
            .crash_after_set_cart_commit(CartId::new(2), &[Line::new(a, 1), Line::new(b, 1)], ttl)
            .await
            .unwrap();
        assert_eq!(levels(a).await, (16, 3, 1));
        assert_eq!(stock.confirm(r.id).await.unwrap(), Confirmation::Confirmed);
        assert_eq!(levels(a).await, (18, 0, 2), "one unit sold, two given back");
        assert_eq!(levels(b).await, (13, 0, 7));

        // 3. A partial release cut a:1 at home and died; then a confirm was decided and its
        // caller died too. At the deadline the sweeper settles every part: sold as cut.
        let r = stock
            .reserve(CartId::new(3), &[Line::new(a, 2), Line::new(c, 2)], ttl)
            .await
            .unwrap();
        stock
            .crash_after_release_lines_decision(r.id, &[Line::new(a, 1)])
            .await
            .unwrap();
        stock.crash_after_confirm_decision(r.id).await.unwrap();
        assert_eq!(levels(a).await, (16, 2, 2), "neither cut nor settled yet");
        clock.advance(ttl);
        assert_eq!(
            stock.expire_due().await.unwrap(),
            0,
            "confirmed, not expired"
        );
        assert_eq!(levels(a).await, (17, 0, 3), "sold as cut: one unit");
        assert_eq!(levels(c).await, (16, 0, 4));

        // 4. A partial release whose caller died after the decision: trimmed once the lease
        // passes; the reservation holds the rest.
        let r = stock
            .reserve(CartId::new(4), &[Line::new(b, 3)], ttl)
            .await
            .unwrap();
        stock
            .crash_after_release_lines_decision(r.id, &[Line::new(b, 2)])
            .await
            .unwrap();
        assert_eq!(levels(b).await, (10, 3, 7));
        clock.advance(DEFAULT_TENTATIVE_LEASE);
        stock.expire_due().await.unwrap();
        assert_eq!(
            levels(b).await,
            (12, 1, 7),
            "the sweeper trimmed the cut part"
        );
        assert_eq!(stock.status(r.id).await.unwrap(), ReservationState::Held);
        stock.release(r.id).await.unwrap();
        assert_eq!(levels(b).await, (13, 0, 7));

        // 5. `set_cart` futures dropped at varied points (after more and more time): whatever
        // point each died at, once the lease passes and the sweeper runs, the cart's
        // reservation holds either its old or its new lines, and a confirm sells exactly those;
        // once the deadline passes too, nothing else is held and every unit is counted once.
        // Fresh items, on shards 3, 4 and 5.
        let items = [
            stock.register_item(100).await.unwrap(),
            stock.register_item(100).await.unwrap(),
            stock.register_item(100).await.unwrap(),
        ];
        let [a, b, c] = items;
        let old = [Line::new(a, 2), Line::new(b, 2)];
        let new = [Line::new(a, 1), Line::new(b, 3), Line::new(c, 1)];
        let quantities = |lines: &[Line]| {
            items.map(|item| {
                lines
                    .iter()
                    .find(|l| l.item == item)
                    .map_or(0, |l| l.quantity)
            })
        };
        let mut outcomes = [0; 2];
        let mut finished = 0;
        for round in 0..24u64 {
            let cart = CartId::new(100 + round);
            stock.reserve(cart, &old, ttl).await.unwrap();
            let mut sold_before = [0; 3];
            for (k, item) in items.into_iter().enumerate() {
                sold_before[k] = levels(item).await.2;
            }
            // Polled (yielding to the I/O driver between polls) until it completes or 60 us per
            // round have passed, then dropped wherever it stands. (tokio's timers tick in whole
            // milliseconds, longer than most of a set_cart: a timeout would rarely drop one
            // half-way.)
            let mut update = Box::pin(stock.set_cart(cart, &new, ttl));
            let budget = Duration::from_micros(60 * round);
            let polled = Instant::now();
            let mut done = false;
            while !done && polled.elapsed() < budget {
                done = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(update.as_mut().poll(cx).is_ready())
                })
                .await;
                tokio::task::yield_now().await;
            }
            finished += usize::from(done);
            // Dropped here: a reserve guard dropped half-way spawns its healing, which runs
            // beside the sweeper below.
            drop(update);
            clock.advance(DEFAULT_TENTATIVE_LEASE);
            stock.expire_due().await.unwrap();
            let mut held = [0; 3];
            for (k, item) in items.into_iter().enumerate() {
                held[k] = levels(item).await.1;
            }
            assert_eq!(
                stock.confirm_cart(cart).await.unwrap(),
                Confirmation::Confirmed,
                "round {round}"
            );
            let mut sold = [0; 3];
            for (k, item) in items.into_iter().enumerate() {
                sold[k] = levels(item).await.2 - sold_before[k];
            }
            let which = if sold == quantities(&old) {
                0
            } else {
                assert_eq!(
                    sold,
                    quantities(&new),
                    "round {round}: sold neither old nor new"
                );
                1
            };
            outcomes[which] += 1;
            // What was held beyond the reservation's lines after the sweeper: parts of an
            // attempt never committed (a dropped take's last part, due at its deadline).
            for k in 0..3 {
                assert!(
                    held[k] >= sold[k],
                    "round {round}: item {k} held {} after the sweeper, sold {}",
                    held[k],
                    sold[k]
                );
            }
            clock.advance(ttl);
            stock.expire_due().await.unwrap();
            for item in items {
                let l = stock.item(item).await.unwrap().unwrap();
                assert_eq!(
                    (l.held, l.in_flight, l.available + l.held + l.sold),
                    (0, 0, l.received),
                    "round {round}: {item} after the deadline"
                );
            }
        }
        println!(
            "healing of line updates: cut parts trimmed by the sweeper after a dead caller, sold \
             as cut; 24 set_cart futures polled 0 to 1,380 us, then dropped \
             ({finished} had completed): {} left the old lines, {} the new",
            outcomes[0], outcomes[1]
        );
    });
}
