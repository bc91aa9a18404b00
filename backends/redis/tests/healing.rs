//! A caller that dies half-way leaves parts that heal by expiry: a cross-shard reserve whose
//! caller died between the take and the commit gives its units back at the deadline, and a
//! confirm whose caller died between the decision and settling the parts ends sold. Skipped
//! (printed) without `redis-server`, unless `ATOMIC_STOCK_REQUIRE_REDIS=1`.

use atomic_stock::{Backend, CartId, Confirmation, ItemId, Line, ManualClock};
use atomic_stock_redis::{LocalCluster, RedisCluster};
use std::sync::Arc;
use std::time::Duration;

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
        println!("healing: abandoned take given back, decided confirm settled as sold");
    });
}
