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
//! Each scenario runs with the clients' backend in one of two durability modes:
//!
//! - `Durability::Async` (the default): replication is asynchronous, so losses are expected
//!   and *reported*, not asserted;
//! - `Durability::Replicas { count: 1, .. }` (`WAIT 1` after every step): with one replica per
//!   master, the replica promoted is the one that acknowledged, so no acknowledged confirm may
//!   be lost and no unit oversold. Asserted; the errors the clients saw instead are reported.
//!
//! By default three scenarios run (async in sync, async lagging, waited lagging: about 45 s
//! with the clusters' start and recovery); `FAILOVER_ALL=1` adds the waited in-sync one.
//! The test fails if the cluster does not come back, or if the waited mode lost anything.
//! Skipped (printed) without `redis-server`, unless `ATOMIC_STOCK_REQUIRE_REDIS=1`.

use atomic_stock::{
    Backend, CartId, Confirmation, Failure, ItemId, Line, ManualClock, ReservationError,
    ReservationId,
};
use atomic_stock_redis::{Durability, LocalCluster, RedisCluster, RedisError};
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
/// The waited mode: every step acknowledged by the master's one replica, within this time.
const WAITED: Durability = Durability::Replicas {
    count: 1,
    timeout: Duration::from_millis(500),
};

/// What one client was told.
#[derive(Default)]
struct Told {
    reserved: Vec<(ReservationId, [Line; 2])>,
    confirmed: Vec<(ReservationId, [Line; 2])>,
    failures: usize,
    /// Of the failures, those where the replicas did not acknowledge in time.
    not_replicated: usize,
    /// One of the other failures, as an example.
    other_failure: Option<String>,
    refusals: usize,
    /// Latencies of acknowledged reserves and confirms.
    reserve_us: Vec<u64>,
    confirm_us: Vec<u64>,
    /// Longest reserve-and-confirm, as the client saw it (the stall during failover).
    longest: Duration,
}

#[test]
fn failover_loses_what_it_loses() {
    let required = std::env::var("ATOMIC_STOCK_REQUIRE_REDIS").is_ok_and(|v| v == "1");
    let mut scenarios = vec![
        (Durability::Async, false),
        (Durability::Async, true),
        (WAITED, true),
    ];
    if std::env::var("FAILOVER_ALL").is_ok_and(|v| v == "1") {
        scenarios.push((WAITED, false));
    }
    for (durability, lagging) in scenarios {
        let cluster = match LocalCluster::start(3, 1, Duration::from_millis(1_000)) {
            Ok(c) => c,
            Err(e) if !required => {
                println!("SKIPPED: no local Redis Cluster could be started ({e})");
                return;
            }
            Err(e) => panic!("cannot start a local Redis Cluster: {e}"),
        };
        scenario(cluster, durability, lagging);
    }
}

fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1_000.0
}

fn scenario(mut cluster: LocalCluster, durability: Durability, lagging: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let namespace = format!("failover-{}", std::process::id());
    let clock = Arc::new(ManualClock::new());
    let connect = |urls: Vec<String>, durability: Durability| {
        let (namespace, clock) = (namespace.clone(), clock.clone());
        async move {
            RedisCluster::builder(urls)
                .namespace(&namespace)
                .clock(clock)
                .durability(durability)
                .connect()
                .await
                .expect("connect")
        }
    };
    // The catalog is registered with a patient wait: the first acknowledgements of replicas
    // that have just synchronized can take longer than the load's timeout on a busy machine.
    let setup = match durability {
        Durability::Async => Durability::Async,
        _ => Durability::Replicas {
            count: 1,
            timeout: Duration::from_secs(4),
        },
    };
    let items: Vec<ItemId> = runtime.block_on(async {
        let catalog = connect(cluster.urls(), setup).await;
        let mut items = Vec::new();
        for _ in 0..ITEMS {
            items.push(catalog.register_item(STOCK).await.expect("register"));
        }
        items
    });
    let backend = Arc::new(runtime.block_on(connect(cluster.urls(), durability)));
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
                        Err(Failure::Backend(e)) => {
                            told.failed(&e);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    told.reserve_us.push(began.elapsed().as_micros() as u64);
                    told.reserved.push((id, lines));
                    let confirming = Instant::now();
                    let confirmed = backend.confirm(id).await;
                    told.longest = told.longest.max(began.elapsed());
                    match confirmed {
                        Ok(_) => {
                            told.confirm_us
                                .push(confirming.elapsed().as_micros() as u64);
                            told.confirmed.push((id, lines));
                        }
                        Err(Failure::Refused(_)) => told.refusals += 1,
                        Err(Failure::Backend(e)) => {
                            told.failed(&e);
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

    // Audit through a fresh connection (the old one may still point at the dead node), not
    // waited for: the promoted replica has no replica of its own, so nothing on it could be.
    let audit = runtime.block_on(async {
        let fresh = connect(cluster.urls(), Durability::Async).await;
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
    let not_replicated: usize = told.iter().map(|t| t.not_replicated).sum();
    let other_failure = told.iter().find_map(|t| t.other_failure.clone());
    let mut reserve_us: Vec<u64> = told.iter().flat_map(|t| t.reserve_us.clone()).collect();
    let mut confirm_us: Vec<u64> = told.iter().flat_map(|t| t.confirm_us.clone()).collect();
    reserve_us.sort_unstable();
    confirm_us.sort_unstable();
    let mode = match durability {
        Durability::Async => "async".to_owned(),
        Durability::Replicas { count, timeout } => format!("WAIT {count} {}", timeout.as_millis()),
        other => format!("{other:?}"),
    };
    let refusals: usize = told.iter().map(|t| t.refusals).sum();
    let longest = told.iter().map(|t| t.longest).max().unwrap_or_default();
    println!(
        "failover report, {mode}, replica {} (3 masters + 3 replicas, {CLIENTS} clients, SIGKILL \
         of one master)",
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
    println!(
        "  of the failures, not acknowledged by the replicas in time: {not_replicated}; \
         acknowledged reservations per second of load: {:.0}; reserve p50 {:.1} ms p99 {:.1} ms; \
         confirm p50 {:.1} ms p99 {:.1} ms",
        reserved as f64 / load.as_secs_f64(),
        percentile_ms(&reserve_us, 0.50),
        percentile_ms(&reserve_us, 0.99),
        percentile_ms(&confirm_us, 0.50),
        percentile_ms(&confirm_us, 0.99),
    );
    if let Some(e) = other_failure {
        println!("  an example of the other failures: {e}");
    }
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
    if durability != Durability::Async {
        assert_eq!(
            (lost_confirms, reconfirmed, oversold),
            (0, 0, 0),
            "{mode}: every acknowledged confirm was on the replica that took over"
        );
    }
}

impl Told {
    fn failed(&mut self, e: &RedisError) {
        self.failures += 1;
        if matches!(e, RedisError::NotReplicated { .. }) {
            self.not_replicated += 1;
        } else if self.other_failure.is_none() {
            self.other_failure = Some(e.to_string());
        }
    }
}
