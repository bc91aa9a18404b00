//! A caller that dies half-way leaves parts that heal by expiry: a cross-shard reserve whose
//! caller died between the take and the commit gives its units back at the deadline, and a
//! confirm whose caller died between the decision and settling the parts ends sold; a
//! tentative part whose caller died between its takes goes back to a waiting taker once its
//! lease passes, and to a waiting shrink. Skipped
//! (printed) without `redis-server`, unless `ATOMIC_STOCK_REQUIRE_REDIS=1`.

use atomic_stock::{
    Backend, CartId, Confirmation, Failure, ItemId, Line, ManualClock, ReserveError, TakeError,
};
use atomic_stock_redis::{LocalCluster, RedisCluster, DEFAULT_TENTATIVE_LEASE};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn parts_of_a_dead_caller_heal_at_the_deadline() {
    let required = std::env::var("ATOMIC_STOCK_REQUIRE_REDIS").is_ok_and(|v| v == "1");
    let cluster = match LocalCluster::start(3, 0, Duration::from_secs(5)) {
        Ok(c) => c,
        Err(e) if !required => {
            println!("SKIPPED: no local Redis Cluster could be started ({e})");
            return;
        }
        Err(e) => panic!("cannot start a local Redis Cluster: {e}"),
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
