//! Side-by-side figures: one checkout workload against the in-process engine, the Redis
//! Cluster backend and PostgreSQL doing the classic transaction.
//!
//! The workload: `--clients` concurrent clients (tokio tasks, default 50), each in a loop for
//! `--seconds` (default 5): a two-item cart (two distinct random items of `--items`, one unit
//! each), reserved for 10 minutes, then confirmed. Stock is ample, so every reserve should
//! succeed; the figure is successful reservations (each followed by its confirm) per second,
//! with p50/p99 latency of the reserve and of the confirm. Everything runs on this machine over
//! loopback: the Redis Cluster (3 masters) and PostgreSQL are started by this program in
//! temporary directories and stopped at the end.
//!
//! Engines (`--engines`, comma-separated; default the first, second and last):
//! `in-process`; `redis-cluster` (3 masters, no replicas); `redis-replicas` (3 masters with a
//! replica each, acknowledged by the master: `Durability::Async`); `redis-wait` (the same
//! cluster, every step acknowledged only after `WAIT 1`: `Durability::Replicas`, timeout
//! `--wait-ms`, default 1000); `redis-aof-always` and `redis-aof-everysec` (3 masters, each
//! writing an append-only file synced before every reply, or once a second); `postgres`; and
//! durable forms: `in-process-durable` and
//! `in-process-buffered` (the engine with its journal, `Inventory::open` in a temporary
//! directory, durable or buffered 5 ms; each client a thread, since a durable call blocks until
//! its record is synced), and `postgres-durable` (`fsync`, `synchronous_commit` and
//! `full_page_writes` on).
//!
//! ```sh
//! cargo run --release -p atomic-stock-compare -- --seconds 5 --clients 50 --csv target/compare.csv
//! ```

mod postgres;

use atomic_stock::{Backend, CartId, Inventory, ItemId, Line};
use atomic_stock_redis::{Durability, LocalCluster, RedisCluster};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Settings {
    seconds: f64,
    clients: usize,
    items: u32,
    csv: String,
    engines: Vec<String>,
    wait_ms: u64,
}

fn settings() -> Settings {
    let mut s = Settings {
        seconds: 5.0,
        clients: 50,
        items: 1_000,
        csv: "target/compare.csv".into(),
        engines: vec![
            "in-process".into(),
            "redis-cluster".into(),
            "postgres".into(),
        ],
        wait_ms: 1_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--seconds" => s.seconds = value.parse().expect("--seconds N"),
            "--clients" => s.clients = value.parse().expect("--clients N"),
            "--items" => s.items = value.parse().expect("--items N"),
            "--csv" => s.csv = value,
            "--engines" => s.engines = value.split(',').map(str::to_owned).collect(),
            "--wait-ms" => s.wait_ms = value.parse().expect("--wait-ms N"),
            other => panic!("unknown argument {other}"),
        }
    }
    s
}

/// What one engine did.
struct Figures {
    engine: String,
    reservations: usize,
    refused: usize,
    seconds: f64,
    reserve_ns: Vec<u64>,
    confirm_ns: Vec<u64>,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at] as f64 / 1_000.0
}

/// Two distinct items for the `n`th cart of a client (splitmix64).
fn cart_items(seed: u64, items: u32) -> (u32, u32) {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let a = (z % u64::from(items)) as u32;
    let b = ((z >> 32) % u64::from(items - 1)) as u32;
    (a, if b >= a { b + 1 } else { b })
}

/// Client `client`'s `n`th cart: its id and one unit each of two distinct items.
fn checkout(client: usize, n: u64, items: &[ItemId]) -> (CartId, [Line; 2]) {
    let seed = (client as u64) << 32 | n;
    let (a, b) = cart_items(seed, items.len() as u32);
    (
        CartId::new(seed),
        [
            Line::new(items[a as usize], 1),
            Line::new(items[b as usize], 1),
        ],
    )
}

/// Per-client results: reservations made, refusals, latencies.
type ClientResult = (usize, usize, Vec<u64>, Vec<u64>);

async fn run_backend<B: Backend + 'static>(backend: Arc<B>, s: &Settings) -> Figures {
    let mut items = Vec::new();
    for _ in 0..s.items {
        items.push(
            backend
                .register_item(1_000_000_000)
                .await
                .expect("register"),
        );
    }
    let items = Arc::new(items);
    let barrier = Arc::new(tokio::sync::Barrier::new(s.clients + 1));
    let duration = Duration::from_secs_f64(s.seconds);
    let tasks: Vec<_> = (0..s.clients)
        .map(|client| {
            let (backend, items, barrier) = (backend.clone(), items.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let end = Instant::now() + duration;
                let mut r: ClientResult = (0, 0, Vec::new(), Vec::new());
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let (cart, lines) = checkout(client, n, &items);
                    let t0 = Instant::now();
                    match backend
                        .reserve(cart, &lines, Duration::from_secs(600))
                        .await
                    {
                        Ok(receipt) => {
                            let t1 = Instant::now();
                            backend.confirm(receipt.id).await.expect("confirm");
                            let t2 = Instant::now();
                            r.0 += 1;
                            r.2.push((t1 - t0).as_nanos() as u64);
                            r.3.push((t2 - t1).as_nanos() as u64);
                        }
                        Err(_) => r.1 += 1,
                    }
                    // Let other tasks run even when every future is ready at once.
                    tokio::task::yield_now().await;
                }
                r
            })
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("client task"));
    }
    let seconds = start.elapsed().as_secs_f64();
    collect(backend.name().to_string(), results, seconds)
}

/// The workload on a fresh local cluster of 3 masters with `replicas` replicas each.
async fn run_redis(s: &Settings, replicas: usize, durability: Durability, label: &str) -> Figures {
    run_redis_on(s, replicas, durability, label, None).await
}

/// A Redis Cluster run; with `appendfsync`, every node keeps an append-only file synced so.
async fn run_redis_on(
    s: &Settings,
    replicas: usize,
    durability: Durability,
    label: &str,
    appendfsync: Option<&str>,
) -> Figures {
    let cluster = match appendfsync {
        None => LocalCluster::start(3, replicas, Duration::from_secs(5)),
        Some(fsync) => LocalCluster::start_with_aof(3, replicas, Duration::from_secs(5), fsync),
    }
    .expect("start a local Redis Cluster (apt-get install redis-server redis-tools)");
    let backend = RedisCluster::builder(cluster.urls())
        .namespace(&format!("compare-{}", std::process::id()))
        .durability(durability)
        .connect()
        .await
        .expect("connect");
    let mut figures = run_backend(Arc::new(backend), s).await;
    figures.engine.push_str(label);
    drop(cluster);
    figures
}

fn collect(engine: String, results: Vec<ClientResult>, seconds: f64) -> Figures {
    let mut f = Figures {
        engine,
        reservations: 0,
        refused: 0,
        seconds,
        reserve_ns: Vec::new(),
        confirm_ns: Vec::new(),
    };
    for (made, refused, reserve, confirm) in results {
        f.reservations += made;
        f.refused += refused;
        f.reserve_ns.extend(reserve);
        f.confirm_ns.extend(confirm);
    }
    f.reserve_ns.sort_unstable();
    f.confirm_ns.sort_unstable();
    f
}

async fn run_postgres(server: &postgres::LocalPostgres, s: &Settings, label: &str) -> Figures {
    let admin = server.connect().await.expect("connect to postgres");
    postgres::setup(&admin, s.items, 1_000_000_000)
        .await
        .expect("schema");
    let mut clients = Vec::new();
    for _ in 0..s.clients {
        let conn = server.connect().await.expect("connect");
        let statements = postgres::Statements::prepare(&conn).await.expect("prepare");
        clients.push((conn, statements));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(s.clients + 1));
    let duration = Duration::from_secs_f64(s.seconds);
    let items = s.items;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(client, (mut conn, st))| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let end = Instant::now() + duration;
                let mut r: ClientResult = (0, 0, Vec::new(), Vec::new());
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let (a, b) = cart_items((client as u64) << 32 | n, items);
                    let mut lines = [(a as i32, 1i64), (b as i32, 1i64)];
                    lines.sort();
                    let cart = ((client as u64) << 32 | n) as i64;
                    let t0 = Instant::now();
                    match postgres::reserve(&mut conn, &st, cart, &lines).await {
                        Ok(Some(id)) => {
                            let t1 = Instant::now();
                            assert!(postgres::confirm(&mut conn, &st, id)
                                .await
                                .expect("confirm"));
                            let t2 = Instant::now();
                            r.0 += 1;
                            r.2.push((t1 - t0).as_nanos() as u64);
                            r.3.push((t2 - t1).as_nanos() as u64);
                        }
                        // A shortfall, or a serialization/deadlock error: a refused checkout.
                        Ok(None) | Err(_) => r.1 += 1,
                    }
                }
                r
            })
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("client task"));
    }
    let seconds = start.elapsed().as_secs_f64();
    let f = collect(
        format!("postgres (UPDATE ... WHERE available >= q){label}"),
        results,
        seconds,
    );
    // The same audit as every other engine: nothing held, sold = 2 units per checkout.
    let row = admin
        .query_one(
            "SELECT sum(held)::bigint, sum(sold)::bigint FROM stock",
            &[],
        )
        .await
        .expect("audit");
    let (held, sold): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        (held, sold),
        (0, 2 * f.reservations as i64),
        "postgres audit"
    );
    f
}

fn main() {
    let s = settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut all = Vec::new();
    for engine in s.engines.clone() {
        let figures = match engine.as_str() {
            "in-process" => runtime.block_on(run_backend(Arc::new(Inventory::new()), &s)),
            "redis-cluster" => runtime.block_on(run_redis(&s, 0, Durability::Async, "")),
            "redis-replicas" => runtime.block_on(run_redis(
                &s,
                1,
                Durability::Async,
                ", 1 replica each, async",
            )),
            "redis-aof-always" => runtime.block_on(run_redis_on(
                &s,
                0,
                Durability::Async,
                ", appendfsync always",
                Some("always"),
            )),
            "redis-aof-everysec" => runtime.block_on(run_redis_on(
                &s,
                0,
                Durability::Async,
                ", appendfsync everysec",
                Some("everysec"),
            )),
            "redis-wait" => {
                let durability = Durability::Replicas {
                    count: 1,
                    timeout: Duration::from_millis(s.wait_ms),
                };
                let label = format!(", 1 replica each, WAIT 1 {}", s.wait_ms);
                runtime.block_on(run_redis(&s, 1, durability, &label))
            }
            "postgres" => {
                let server = postgres::LocalPostgres::start()
                    .expect("start PostgreSQL (apt-get install postgresql)");
                let figures = runtime.block_on(run_postgres(&server, &s, ""));
                drop(server);
                figures
            }
            "postgres-durable" => {
                let server = postgres::LocalPostgres::start_with(true)
                    .expect("start PostgreSQL (apt-get install postgresql)");
                let figures = runtime.block_on(run_postgres(&server, &s, ", synchronous commit"));
                drop(server);
                figures
            }
            "in-process-durable" => run_journaled(&s, atomic_stock::journal::Durability::Durable),
            "in-process-buffered" => run_journaled(
                &s,
                atomic_stock::journal::Durability::Buffered {
                    window: Duration::from_millis(5),
                },
            ),
            other => panic!("unknown engine {other}"),
        };
        eprintln!("done: {}", figures.engine);
        all.push(figures);
    }
    print_table(&s, &all);
}

/// The workload on the in-process engine with its journal, one thread per client (a durable
/// call blocks until its record is synced; threads waiting together share a sync).
fn run_journaled(s: &Settings, durability: atomic_stock::journal::Durability) -> Figures {
    let dir = std::env::temp_dir().join(format!("atomic-stock-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let inventory = Inventory::builder()
        .durability(durability)
        .open_dir(&dir)
        .expect("open the journal directory");
    let items: Vec<_> = (0..s.items)
        .map(|_| inventory.register_item(1_000_000_000).expect("register"))
        .collect();
    let duration = Duration::from_secs_f64(s.seconds);
    let barrier = std::sync::Barrier::new(s.clients + 1);
    let (results, seconds) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..s.clients)
            .map(|client| {
                let (inventory, items, barrier) = (&inventory, &items, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let end = Instant::now() + duration;
                    let mut r: ClientResult = (0, 0, Vec::new(), Vec::new());
                    let mut n = 0u64;
                    while Instant::now() < end {
                        n += 1;
                        let (cart, lines) = checkout(client, n, items);
                        let t0 = Instant::now();
                        match inventory.reserve(cart, &lines, Duration::from_secs(600)) {
                            Ok(receipt) => {
                                let t1 = Instant::now();
                                inventory.confirm(receipt.id).expect("confirm");
                                let t2 = Instant::now();
                                r.0 += 1;
                                r.2.push((t1 - t0).as_nanos() as u64);
                                r.3.push((t2 - t1).as_nanos() as u64);
                            }
                            Err(_) => r.1 += 1,
                        }
                    }
                    r
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<ClientResult> = handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect();
        (results, start.elapsed().as_secs_f64())
    });
    inventory.audit().expect("audit");
    drop(inventory);
    let _ = std::fs::remove_dir_all(&dir);
    let label = match durability {
        atomic_stock::journal::Durability::Durable => "in-process, journal durable",
        _ => "in-process, journal buffered 5 ms",
    };
    collect(label.into(), results, seconds)
}

fn print_table(s: &Settings, all: &[Figures]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "checkout workload: {} clients, two-item carts (1 unit each of 2 of {} items), reserve \
         then confirm, {:.0} s per engine, {cores} cores, loopback",
        s.clients, s.items, s.seconds
    );
    println!(
        "{:<60} {:>14} {:>9} {:>12} {:>12} {:>12} {:>12}",
        "engine",
        "reservations/s",
        "refused",
        "reserve p50",
        "reserve p99",
        "confirm p50",
        "confirm p99"
    );
    let mut csv = String::from(
        "engine,clients,seconds,reservations,reservations_per_s,refused,\
         reserve_p50_us,reserve_p99_us,confirm_p50_us,confirm_p99_us\n",
    );
    for f in all {
        let rate = f.reservations as f64 / f.seconds;
        let (r50, r99) = (
            percentile(&f.reserve_ns, 0.5),
            percentile(&f.reserve_ns, 0.99),
        );
        let (c50, c99) = (
            percentile(&f.confirm_ns, 0.5),
            percentile(&f.confirm_ns, 0.99),
        );
        println!(
            "{:<60} {:>14.0} {:>9} {:>10.1}µs {:>10.1}µs {:>10.1}µs {:>10.1}µs",
            f.engine, rate, f.refused, r50, r99, c50, c99
        );
        csv.push_str(&format!(
            "{},{},{:.2},{},{:.0},{},{:.1},{:.1},{:.1},{:.1}\n",
            f.engine, s.clients, f.seconds, f.reservations, rate, f.refused, r50, r99, c50, c99
        ));
    }
    if let Some(dir) = std::path::Path::new(&s.csv).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&s.csv, csv) {
        Ok(()) => println!("csv: {}", s.csv),
        Err(e) => eprintln!("cannot write {}: {e}", s.csv),
    }
}
