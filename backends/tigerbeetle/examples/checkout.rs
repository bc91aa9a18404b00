//! The side-by-side checkout workload of `compare/` (README, "Beyond one machine") on a
//! one-replica TigerBeetle cluster on loopback, started here and stopped at the end.
//!
//! The same workload as every other row: `--clients` concurrent clients (tokio tasks, default
//! 50), each in a loop for `--seconds` (default 5): a two-item cart (two distinct items of
//! `--items`, default 1,000, chosen by the same splitmix64 as `compare/`), reserved for 10
//! minutes, then confirmed; ample stock. All clients share one [`TigerBeetle`] backend and so
//! one client session: the client batches concurrent requests into one (up to 8,189 events),
//! which is how TigerBeetle is meant to be driven. Reported: confirmed reservations per second,
//! p50/p99 of the reserve and of the confirm.
//!
//! The server runs with `--development` (data files in the temporary directory, small caches,
//! requests of at most 32 KiB), as the tests run it; `--production DIR` runs it with its
//! production sizes instead (data files under `DIR`, which needs Direct I/O: not tmpfs; about
//! 2.6 GiB resident).
//!
//! ```sh
//! TIGERBEETLE_BIN=../shared/tigerbeetle/tigerbeetle \
//!     cargo run --release -p atomic-stock-tigerbeetle --example checkout -- --seconds 5 --clients 50
//! ```

use atomic_stock::{Backend, CartId, Line};
use atomic_stock_tigerbeetle::{LocalCluster, TigerBeetle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Two distinct items for a cart (splitmix64, as `compare/`).
fn cart_items(seed: u64, items: u32) -> (u32, u32) {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let a = (z % u64::from(items)) as u32;
    let b = ((z >> 32) % u64::from(items - 1)) as u32;
    (a, if b >= a { b + 1 } else { b })
}

fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1_000.0
}

fn main() {
    let (mut seconds, mut clients, mut items) = (5.0_f64, 50_usize, 1_000_u32);
    let mut production: Option<PathBuf> = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        match pair[0].as_str() {
            "--seconds" => seconds = value.parse().expect("--seconds N"),
            "--clients" => clients = value.parse().expect("--clients N"),
            "--items" => items = value.parse().expect("--items N"),
            "--production" => production = Some(PathBuf::from(value)),
            other => {
                panic!("unknown argument {other} (--seconds, --clients, --items, --production)")
            }
        }
    }
    let given = PathBuf::from(std::env::var_os("TIGERBEETLE_BIN").expect("TIGERBEETLE_BIN"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = if given.exists() {
        given
    } else {
        root.join(given)
    };
    let cluster = match &production {
        None => LocalCluster::start(&binary, 1),
        Some(dir) => {
            std::fs::create_dir_all(dir).expect("--production DIR");
            LocalCluster::start_production(&binary, 1, dir)
        }
    }
    .expect("start a one-replica cluster");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (made, refused, elapsed, mut reserve_ns, mut confirm_ns) = runtime.block_on(async {
        let backend = Arc::new(
            TigerBeetle::connect(
                cluster.cluster_id(),
                &cluster.addresses(),
                (tigerbeetle::id() as u32).max(1),
                Duration::from_secs(3_600),
                None,
            )
            .await
            .expect("connect"),
        );
        let mut ids = Vec::new();
        for _ in 0..items {
            ids.push(
                backend
                    .register_item(1_000_000_000)
                    .await
                    .expect("register"),
            );
        }
        let ids = Arc::new(ids);
        let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
        let duration = Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                let (backend, ids, barrier) = (backend.clone(), ids.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let end = Instant::now() + duration;
                    let (mut made, mut refused) = (0usize, 0usize);
                    let (mut reserve, mut confirm) = (Vec::new(), Vec::new());
                    let mut n = 0u64;
                    while Instant::now() < end {
                        n += 1;
                        let (a, b) = cart_items((client as u64) << 32 | n, ids.len() as u32);
                        let lines = [Line::new(ids[a as usize], 1), Line::new(ids[b as usize], 1)];
                        let cart = CartId::new((client as u64) << 32 | n);
                        let t0 = Instant::now();
                        match backend
                            .reserve(cart, &lines, Duration::from_secs(600))
                            .await
                        {
                            Ok(receipt) => {
                                let t1 = Instant::now();
                                backend.confirm(receipt.id).await.expect("confirm");
                                let t2 = Instant::now();
                                made += 1;
                                reserve.push((t1 - t0).as_nanos() as u64);
                                confirm.push((t2 - t1).as_nanos() as u64);
                            }
                            Err(_) => refused += 1,
                        }
                    }
                    (made, refused, reserve, confirm)
                })
            })
            .collect();
        barrier.wait().await;
        let start = Instant::now();
        let (mut made, mut refused, mut reserve, mut confirm) = (0, 0, Vec::new(), Vec::new());
        for task in tasks {
            let (m, r, rs, cs) = task.await.expect("client task");
            made += m;
            refused += r;
            reserve.extend(rs);
            confirm.extend(cs);
        }
        let elapsed = start.elapsed().as_secs_f64();
        // The audit every row passes: nothing held, two units sold per checkout.
        let (mut held, mut sold) = (0, 0);
        for &item in ids.iter() {
            let levels = backend.item(item).await.expect("item").expect("registered");
            held += levels.held;
            sold += levels.sold;
        }
        assert_eq!((held, sold), (0, 2 * made as i64), "audit");
        (made, refused, elapsed, reserve, confirm)
    });
    reserve_ns.sort_unstable();
    confirm_ns.sort_unstable();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "checkout workload: {clients} clients, two-item carts (1 unit each of 2 of {items} \
         items), reserve then confirm, {seconds:.0} s, {cores} cores, loopback"
    );
    println!(
        "tigerbeetle (1 replica, {}, one client session): {:.0} reservations/s, {refused} refused, \
         reserve p50 {:.1} µs p99 {:.1} µs, confirm p50 {:.1} µs p99 {:.1} µs",
        if production.is_some() {
            "production sizes"
        } else {
            "--development"
        },
        made as f64 / elapsed,
        percentile_us(&reserve_ns, 0.5),
        percentile_us(&reserve_ns, 0.99),
        percentile_us(&confirm_ns, 0.5),
        percentile_us(&confirm_ns, 0.99),
    );
    drop(runtime);
    drop(cluster);
}
