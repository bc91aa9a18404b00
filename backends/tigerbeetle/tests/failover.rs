//! Failover under load (opt-in: `#[ignore]`, three replicas hold about 4.2 GiB): a
//! three-replica cluster on 127.0.0.1, 20 clients reserving and confirming two-item carts,
//! the primary killed (SIGKILL) mid-load. Afterwards every confirm a client was told succeeded
//! is confirmed again: the answer must be `AlreadyConfirmed` (a `Confirmed` means the first one
//! was lost), and every item must hold `available + held + sold = received` with `sold` equal
//! to the acknowledged confirms' units (more is an unacknowledged sale, `available < 0` an
//! oversell).
//!
//! ```sh
//! TIGERBEETLE_BIN=../shared/tigerbeetle/tigerbeetle \
//!     cargo test --release -p atomic-stock-tigerbeetle --test failover -- --ignored --nocapture
//! ```

mod support;

use atomic_stock::{Backend, CartId, Confirmation, ItemId, Line, ReservationId};
use atomic_stock_tigerbeetle::{LocalCluster, TigerBeetle};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;
const ITEMS: u32 = 50;
const STOCK: i64 = 1_000_000;
const BEFORE_KILL: Duration = Duration::from_secs(3);
const AFTER_KILL: Duration = Duration::from_secs(8);
/// A request that takes longer is counted as stalled (the client retries for ever).
const STALLED: Duration = Duration::from_secs(30);

/// What one client saw.
#[derive(Default)]
struct Seen {
    confirmed: Vec<(ReservationId, [ItemId; 2])>,
    stalled: usize,
    longest: Duration,
}

#[test]
#[ignore = "three replicas (about 4.2 GiB); run with --ignored and TIGERBEETLE_BIN"]
fn primary_killed_under_load() {
    let binary = support::binary_from_env().expect("TIGERBEETLE_BIN: a tigerbeetle binary");
    let mut cluster = LocalCluster::start(&binary, 3).expect("start three replicas");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let backend = Arc::new(runtime.block_on(async {
        TigerBeetle::connect(
            cluster.cluster_id(),
            &cluster.addresses(),
            support::namespace(),
            Duration::from_secs(3_600),
            None,
        )
        .await
        .expect("connect")
    }));
    let items: Vec<ItemId> = runtime.block_on(async {
        let mut items = Vec::new();
        for _ in 0..ITEMS {
            items.push(backend.register_item(STOCK).await.expect("register"));
        }
        items
    });
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (backend, items, stop) = (backend.clone(), items.clone(), stop.clone());
            runtime.spawn(async move {
                let mut seen = Seen::default();
                let mut n = 0u64;
                // Relaxed: a flag polled between requests; nothing is published through it.
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let a = items[(n * 7 + client as u64) as usize % items.len()];
                    let b = items[(n * 13 + client as u64 * 3 + 1) as usize % items.len()];
                    if a == b {
                        continue;
                    }
                    let cart = CartId::new((client as u64) << 32 | n);
                    let t0 = Instant::now();
                    let lines = [Line::new(a, 1), Line::new(b, 1)];
                    let checkout = async {
                        let receipt = backend.reserve(cart, &lines, Duration::from_secs(600));
                        let id = receipt.await.expect("reserve").id;
                        let confirmed = backend.confirm(id).await.expect("confirm");
                        assert_eq!(confirmed, Confirmation::Confirmed);
                        id
                    };
                    match tokio::time::timeout(STALLED, checkout).await {
                        Ok(id) => seen.confirmed.push((id, [a, b])),
                        Err(_) => seen.stalled += 1,
                    }
                    seen.longest = seen.longest.max(t0.elapsed());
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(BEFORE_KILL);
    let primary = cluster.primary();
    let pid = cluster.pid(primary);
    let killed_at = Instant::now();
    cluster.kill(primary).expect("kill the primary");
    println!("failover: killed replica {primary} (pid {pid:?}), the primary by its logs");
    std::thread::sleep(AFTER_KILL);
    // Relaxed: see the clients' loop.
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for client in clients {
        seen.push(runtime.block_on(client).expect("client task"));
    }
    let after = cluster.primary();
    let view_changes: usize = (0..cluster.replica_count())
        .filter(|&r| r != primary)
        .map(|r| cluster.log_lines_containing(r, "transition_to_normal_from_view_change_status"))
        .sum();
    println!(
        "failover: after the kill, replica {after} is primary by the logs ({view_changes} \
         view-change completions logged by the survivors)"
    );
    let acknowledged: usize = seen.iter().map(|s| s.confirmed.len()).sum();
    let stalled: usize = seen.iter().map(|s| s.stalled).sum();
    let longest = seen.iter().map(|s| s.longest).max().unwrap_or_default();
    // Every acknowledged confirm, asked again of the surviving replicas (a client's worth
    // per task: the client batches them).
    let mut sold_acknowledged: BTreeMap<ItemId, i64> = BTreeMap::new();
    for (_, lines) in seen.iter().flat_map(|s| &s.confirmed) {
        for item in lines {
            *sold_acknowledged.entry(*item).or_insert(0) += 1;
        }
    }
    let lost: usize = runtime.block_on(async {
        let checks: Vec<_> = seen
            .iter()
            .map(|s| {
                let ids: Vec<ReservationId> = s.confirmed.iter().map(|(id, _)| *id).collect();
                let backend = backend.clone();
                tokio::spawn(async move {
                    let mut lost = 0;
                    for id in ids {
                        match backend.confirm(id).await.expect("confirm again") {
                            Confirmation::AlreadyConfirmed => {}
                            Confirmation::Confirmed => lost += 1,
                        }
                    }
                    lost
                })
            })
            .collect();
        let mut lost = 0;
        for check in checks {
            lost += check.await.expect("check task");
        }
        lost
    });
    let (mut oversold, mut unacknowledged, mut broken) = (0, 0, 0);
    runtime.block_on(async {
        for &item in &items {
            let l = backend.item(item).await.expect("item").expect("registered");
            oversold += (-l.available).max(0);
            broken += usize::from(l.available + l.held + l.sold != l.received);
            unacknowledged += l.sold - sold_acknowledged.get(&item).copied().unwrap_or(0);
        }
    });
    println!(
        "failover [tigerbeetle, 3 replicas]: {acknowledged} acknowledged confirms, {lost} lost; \
         {oversold} units oversold; {broken} broken ledgers; {unacknowledged} units sold beyond \
         the acknowledged confirms (requests cut off by the stop or a stall); {stalled} \
         checkouts stalled over {STALLED:?}; longest reserve+confirm {longest:?}; {:.1} s \
         from the kill to the end",
        killed_at.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0, "acknowledged confirms lost");
    assert_eq!(oversold, 0, "units oversold");
    assert_eq!(broken, 0, "broken ledgers");
    drop(backend);
    drop(runtime);
    drop(cluster);
}
