//! What a failover loses: 3 masters with one replica each; 20 clients reserve two-item carts
//! and confirm them; about 2 s in, one master is killed (SIGKILL) and its replica promoted.
//! Two scenarios, one after the other: the replica in sync (loopback: it never lags), and the
//! replica *lagging*: paused (SIGSTOP) and cut off from its master (`CLIENT KILL TYPE
//! replica`) for the 0.8 s before the kill, and resumed right after, so the writes its master
//! acknowledged in that window exist nowhere else when it dies.
//! After the load, the test waits for the cluster to serve every slot again, settles every
//! part (the clock is manual: advancing it past every deadline lets the sweeper heal whatever
//! a failed call left behind), and compares what the clients were told with what the cluster
//! holds:
//!
//! - acknowledged confirms that are gone (confirming again answers `Unknown`, `Expired`,
//!   `Released`, or `Confirmed` anew: the decision was lost);
//! - units sold to acknowledged buyers but not counted as sold (per item, acknowledged sold
//!   units minus the item's `sold`): units the cluster can sell again, i.e. oversold;
//! - items whose counts no longer add up (`available + held + sold != received`), or with
//!   negative availability.
//!
//! Redis replication is asynchronous, so losses are expected and *reported*, not asserted:
//! the test fails only if the cluster does not come back. Bounded: about 6 s of load.
//! Skipped (printed) without `redis-server`, unless `ATOMIC_STOCK_REQUIRE_REDIS=1`.

use atomic_stock::{
    Backend, CartId, Confirmation, Failure, ItemId, Line, ManualClock, ReservationError,
    ReservationId,
};
use atomic_stock_redis::{LocalCluster, RedisCluster};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;
const ITEMS: u32 = 24;
const STOCK: i64 = 1_000_000;
const LOAD: Duration = Duration::from_secs(6);
const KILL_AFTER: Duration = Duration::from_secs(2);
/// How long the victim's replica is paused before the kill in the lagging scenario (less than
/// the node timeout, so that nobody marks the replica itself as failed).
const LAG: Duration = Duration::from_millis(800);
const TTL: Duration = Duration::from_secs(600);

/// What one client was told.
#[derive(Default)]
struct Told {
    reserved: Vec<(ReservationId, [Line; 2])>,
    confirmed: Vec<(ReservationId, [Line; 2])>,
    failures: usize,
    refusals: usize,
    /// Longest reserve-and-confirm, as the client saw it (the stall during failover).
    longest: Duration,
}

#[test]
fn failover_loses_what_it_loses() {
    let required = std::env::var("ATOMIC_STOCK_REQUIRE_REDIS").is_ok_and(|v| v == "1");
    for lagging in [false, true] {
        let cluster = match LocalCluster::start(3, 1, Duration::from_millis(1_000)) {
            Ok(c) => c,
            Err(e) if !required => {
                println!("SKIPPED: no local Redis Cluster could be started ({e})");
                return;
            }
            Err(e) => panic!("cannot start a local Redis Cluster: {e}"),
        };
        scenario(cluster, lagging);
    }
}

fn scenario(mut cluster: LocalCluster, lagging: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let namespace = format!("failover-{}", std::process::id());
    let clock = Arc::new(ManualClock::new());
    let connect = |urls: Vec<String>| {
        let (namespace, clock) = (namespace.clone(), clock.clone());
        async move {
            RedisCluster::builder(urls)
                .namespace(&namespace)
                .clock(clock)
                .connect()
                .await
                .expect("connect")
        }
    };
    let backend = Arc::new(runtime.block_on(connect(cluster.urls())));
    let items: Vec<ItemId> = runtime.block_on(async {
        let mut items = Vec::new();
        for _ in 0..ITEMS {
            items.push(backend.register_item(STOCK).await.expect("register"));
        }
        items
    });
    let victim = cluster.masters().expect("masters")[0];

    // The load, with the kill in the middle (on a blocking thread: it waits for the process).
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (backend, items) = (backend.clone(), items.clone());
            runtime.spawn(async move {
                let mut told = Told::default();
                let mut n = 0u64;
                while start.elapsed() < LOAD {
                    n += 1;
                    let a = (n as usize * 7 + client) % items.len();
                    let b = (a + 1 + (n as usize % (items.len() - 1))) % items.len();
                    let lines = [Line::new(items[a], 1), Line::new(items[b], 1)];
                    let cart = CartId::new((client as u64) << 32 | n);
                    let began = Instant::now();
                    let id = match backend.reserve(cart, &lines, TTL).await {
                        Ok(r) => r.id,
                        Err(Failure::Refused(_)) => {
                            told.refusals += 1;
                            continue;
                        }
                        Err(Failure::Backend(_)) => {
                            told.failures += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    told.reserved.push((id, lines));
                    let confirmed = backend.confirm(id).await;
                    told.longest = told.longest.max(began.elapsed());
                    match confirmed {
                        Ok(_) => told.confirmed.push((id, lines)),
                        Err(Failure::Refused(_)) => told.refusals += 1,
                        Err(Failure::Backend(_)) => {
                            told.failures += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                told
            })
        })
        .collect();
    let replica = cluster
        .replica_of(victim)
        .expect("replication info")
        .expect("the victim has a replica");
    if lagging {
        std::thread::sleep(KILL_AFTER - LAG);
        cluster.pause(replica).expect("pause the replica");
        cluster
            .cut_replication(victim)
            .expect("cut the replication link");
    }
    std::thread::sleep(KILL_AFTER.saturating_sub(start.elapsed()));
    cluster.kill(victim).expect("kill a master");
    let killed_at = start.elapsed();
    if lagging {
        cluster.resume(replica).expect("resume the replica");
    }
    let told: Vec<Told> = runtime.block_on(async {
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.expect("client"));
        }
        all
    });
    let load = start.elapsed();
    let recovering = Instant::now();
    cluster
        .wait_failover(3)
        .expect("the replica takes over and the cluster serves every slot");
    let recovered_in = recovering.elapsed();

    // Audit through a fresh connection (the old one may still point at the dead node).
    let audit = runtime.block_on(async {
        let fresh = connect(cluster.urls()).await;
        clock.advance(TTL + Duration::from_secs(1));
        let mut healed = Err(String::new());
        for _ in 0..50 {
            match fresh.expire_due().await {
                Ok(n) => {
                    healed = Ok(n);
                    break;
                }
                Err(e) => {
                    healed = Err(e.to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let healed = healed.expect("the sweeper runs after the failover");
        let mut lost_confirms = 0;
        let mut reconfirmed = 0;
        let mut unknown = 0;
        let mut acked_sold: BTreeMap<ItemId, i64> = BTreeMap::new();
        for t in &told {
            for (id, lines) in &t.confirmed {
                for l in lines {
                    *acked_sold.entry(l.item).or_insert(0) += l.quantity;
                }
                match fresh.confirm(*id).await {
                    Ok(Confirmation::AlreadyConfirmed) => {}
                    Ok(Confirmation::Confirmed) => reconfirmed += 1,
                    Err(Failure::Refused(ReservationError::Unknown)) => {
                        lost_confirms += 1;
                        unknown += 1;
                    }
                    Err(Failure::Refused(
                        ReservationError::Expired | ReservationError::Released,
                    )) => lost_confirms += 1,
                    Err(e) => panic!("confirm after failover: {e:?}"),
                }
            }
        }
        // Settle what the re-confirms decided.
        clock.advance(TTL + Duration::from_secs(1));
        fresh.expire_due().await.expect("sweep");
        let (mut oversold, mut broken, mut held) = (0, 0, 0);
        for &item in &items {
            let l = fresh.item(item).await.expect("item").expect("registered");
            let acked = acked_sold.get(&item).copied().unwrap_or(0);
            oversold += (acked - l.sold).max(0);
            held += l.held;
            if l.available + l.held + l.sold != l.received || l.available < 0 {
                broken += 1;
            }
        }
        (
            healed,
            (lost_confirms, unknown),
            reconfirmed,
            oversold,
            broken,
            held,
            acked_sold.values().sum::<i64>(),
        )
    });
    let (healed, (lost_confirms, unknown), reconfirmed, oversold, broken, held, acked_units) =
        audit;
    let reserved: usize = told.iter().map(|t| t.reserved.len()).sum();
    let confirmed: usize = told.iter().map(|t| t.confirmed.len()).sum();
    let failures: usize = told.iter().map(|t| t.failures).sum();
    let refusals: usize = told.iter().map(|t| t.refusals).sum();
    let longest = told.iter().map(|t| t.longest).max().unwrap_or_default();
    println!(
        "failover report, replica {} (3 masters + 3 replicas, {CLIENTS} clients, SIGKILL of one \
         master)",
        if lagging {
            "lagging (cut off 0.8 s before the kill)"
        } else {
            "in sync"
        }
    );
    println!(
        "  load {load:.1?}, master killed at {killed_at:.1?}, cluster ok again {recovered_in:.1?} \
         after the load"
    );
    println!(
        "  acknowledged: {reserved} reservations, {confirmed} confirms ({acked_units} units); \
         backend failures seen by clients: {failures}; refusals: {refusals}; longest \
         reserve+confirm {longest:.1?}"
    );
    println!("  parts healed by the sweeper afterwards: {healed} reservations expired");
    println!(
        "  acknowledged confirms lost: {lost_confirms} ({unknown} of them reservations unknown \
         now, the rest expired or released); confirms whose decision was lost but whose \
         reservation survived (confirmed again by the audit): {reconfirmed}"
    );
    println!(
        "  units sold to acknowledged buyers but not counted as sold (oversold): {oversold}; \
         items whose counts do not add up: {broken}; units still held after healing: {held}"
    );
}
