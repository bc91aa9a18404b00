//! Load run of the checkout API: `--clients` concurrent HTTP clients, each on one keep-alive
//! connection of its own, each in a loop for `--seconds`: reserve a two-item cart
//! (`POST /reservations`: two distinct random items of `--items`, one unit each, 10 minutes),
//! then confirm it (`POST /reservations/{id}/confirm`). Stock is ample, so every reserve
//! should succeed. The workload is `atomic-stock-compare`'s, over HTTP.
//!
//! Reported per client count: lifecycles (reserve then confirm) per second, HTTP requests per
//! second, p50 and p99 of one request's latency (reserve or confirm, as the client sees it:
//! send, server, response read) and p99 of a whole lifecycle; refused reserves and failed
//! requests (both 0 when all is well). Percentiles come from log-linear buckets of 1/16 of an
//! octave: each is the upper edge of its bucket, at most about 6% above the exact value.
//!
//! With `--in-process`, the same clients (tokio tasks) run the same workload in the same run
//! against an `Inventory` of their own through its API (`reserve_async`, then `confirm`), with
//! no HTTP in between: what the service costs over the engine.
//!
//! Without `--addr`, the server runs in this process, on the same runtime as the clients (one
//! multi-thread runtime, `--threads` workers, default one per core): clients and server share
//! the machine's cores, as two processes on one machine would. At the end the server's audit
//! checks that every confirmed unit was sold and nothing is held.
//!
//! ```sh
//! cargo run --release -p atomic-stock-service --example load -- --clients 1,16,64 --seconds 5 --in-process
//! cargo run --release -p atomic-stock-service --example load -- --addr 127.0.0.1:8080   # a running server
//! ```
//!
//! Options: `--addr HOST:PORT` (a running server; default: one in this process), `--clients
//! LIST` (comma-separated, default `1,16,64`), `--seconds S` (per run, default 5), `--items N`
//! (default 1000), `--threads N` (runtime workers), `--in-process`.

use atomic_stock::{CartId, Inventory, ItemId, Receipt};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::figures::{grouped, latency};
use atomic_stock_service::client::Client;
use atomic_stock_service::{Audit, ItemView, LineIn, NewItem, Reserve};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: load [--addr HOST:PORT] [--clients 1,16,64] [--seconds 5] \
                     [--items 1000] [--threads N] [--in-process]";

/// Units of each item: ample for any run.
const STOCK: i64 = 1_000_000_000;
const TTL: Duration = Duration::from_secs(600);

struct Options {
    addr: Option<SocketAddr>,
    clients: Vec<usize>,
    seconds: f64,
    items: u32,
    threads: Option<usize>,
    in_process: bool,
}

fn read(parser: &mut Parser) -> Result<Options, args::Error> {
    let mut options = Options {
        addr: None,
        clients: vec![1, 16, 64],
        seconds: 5.0,
        items: 1_000,
        threads: None,
        in_process: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Long("addr") => {
                let text = args::text(parser)?;
                options.addr = Some(
                    text.parse()
                        .map_err(|_| format!("--addr: expected HOST:PORT, got {text:?}"))?,
                );
            }
            Arg::Long("clients") => {
                options.clients = args::numbers_in(parser, "--clients", 1..=4096)?;
            }
            Arg::Long("seconds") => {
                options.seconds = args::number_in(parser, "--seconds", 0.01..=3600.0)?;
            }
            Arg::Long("items") => options.items = args::number_in(parser, "--items", 2..=100_000)?,
            Arg::Long("threads") => {
                options.threads = Some(args::number_in(parser, "--threads", 1..=256)?);
            }
            Arg::Long("in-process") => options.in_process = true,
            Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(options)
}

/// Latencies in log-linear buckets: exact below 16 ns, then 16 buckets per octave.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    const SUB: u32 = 4;

    fn new() -> Self {
        Histogram {
            counts: vec![0; 64 << Self::SUB],
            total: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < 1 << Self::SUB {
            return ns as usize;
        }
        let octave = 63 - ns.leading_zeros();
        let mantissa = (ns >> (octave - Self::SUB)) & ((1 << Self::SUB) - 1);
        (((octave - Self::SUB + 1) << Self::SUB) as u64 + mantissa) as usize
    }

    /// The largest value of bucket `index`.
    fn upper(index: usize) -> u64 {
        let sub = 1usize << Self::SUB;
        if index < sub {
            return index as u64;
        }
        let octave = (index >> Self::SUB) as u32 + Self::SUB - 1;
        let mantissa = (index & (sub - 1)) as u64;
        ((sub as u64 + mantissa + 1) << (octave - Self::SUB)) - 1
    }

    fn record(&mut self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(ns)] += 1;
        self.total += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// The upper edge of the bucket holding the value below which a fraction `p` fall.
    fn percentile(&self, p: f64) -> u64 {
        let rank = ((p * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::upper(index);
            }
        }
        0
    }
}

/// What one client did.
struct Tally {
    lifecycles: u64,
    refused: u64,
    failed: u64,
    request: Histogram,
    lifecycle: Histogram,
}

impl Tally {
    fn new() -> Self {
        Tally {
            lifecycles: 0,
            refused: 0,
            failed: 0,
            request: Histogram::new(),
            lifecycle: Histogram::new(),
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.lifecycles += other.lifecycles;
        self.refused += other.refused;
        self.failed += other.failed;
        self.request.merge(&other.request);
        self.lifecycle.merge(&other.lifecycle);
    }
}

/// Two distinct items for the `n`th cart of a client (splitmix64, as `atomic-stock-compare`).
fn cart_items(seed: u64, items: u32) -> (usize, usize) {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let a = (z % u64::from(items)) as u32;
    let b = ((z >> 32) % u64::from(items - 1)) as u32;
    (a as usize, if b >= a { b + 1 } else { b } as usize)
}

/// One client over HTTP, on `connection`, until `end`. A request that fails on the connection
/// counts as failed, and the client connects again (or stops if it cannot).
async fn http_client(
    addr: SocketAddr,
    mut connection: Client,
    client: usize,
    items: Arc<Vec<ItemId>>,
    end: Instant,
) -> Tally {
    let mut tally = Tally::new();
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let cart = (client as u64) << 32 | n;
        let (a, b) = cart_items(cart, items.len() as u32);
        let request = Reserve {
            cart: CartId::new(cart),
            lines: vec![LineIn::item(items[a], 1), LineIn::item(items[b], 1)],
            ttl_ms: TTL.as_millis() as u64,
        };
        let start = Instant::now();
        let reply = connection.post("/reservations", &request).await;
        let reserved = Instant::now();
        tally.request.record(reserved - start);
        let receipt = match reply {
            Ok(reply) if reply.status == 201 => reply.json::<Receipt>().ok(),
            Ok(reply) if reply.status == 409 => {
                tally.refused += 1;
                continue;
            }
            _ => None,
        };
        let Some(receipt) = receipt else {
            tally.failed += 1;
            match Client::connect(addr).await {
                Ok(again) => connection = again,
                Err(_) => break,
            }
            continue;
        };
        let path = format!("/reservations/{}/confirm", receipt.id);
        let confirmed = connection.post_empty(&path).await;
        let done = Instant::now();
        tally.request.record(done - reserved);
        match confirmed {
            Ok(reply) if reply.status == 200 => {
                tally.lifecycles += 1;
                tally.lifecycle.record(done - start);
            }
            _ => {
                tally.failed += 1;
                match Client::connect(addr).await {
                    Ok(again) => connection = again,
                    Err(_) => break,
                }
            }
        }
    }
    tally
}

/// One client calling the inventory directly until `end`: the same workload, no HTTP.
async fn in_process_client(
    inventory: Arc<Inventory>,
    client: usize,
    items: Arc<Vec<ItemId>>,
    end: Instant,
) -> Tally {
    let mut tally = Tally::new();
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let cart = (client as u64) << 32 | n;
        let (a, b) = cart_items(cart, items.len() as u32);
        let lines = [
            atomic_stock::Line::new(items[a], 1),
            atomic_stock::Line::new(items[b], 1),
        ];
        let start = Instant::now();
        let reserved = inventory
            .reserve_async(CartId::new(cart), &lines, TTL)
            .await;
        let after_reserve = Instant::now();
        tally.request.record(after_reserve - start);
        match reserved {
            Ok(receipt) => {
                let confirmed = inventory.confirm(receipt.id);
                let done = Instant::now();
                tally.request.record(done - after_reserve);
                if confirmed.is_ok() {
                    tally.lifecycles += 1;
                    tally.lifecycle.record(done - start);
                } else {
                    tally.failed += 1;
                }
            }
            Err(_) => tally.refused += 1,
        }
        // Let the other clients run even when every call completes at once.
        tokio::task::yield_now().await;
    }
    tally
}

/// Where a run sends its requests.
#[derive(Clone)]
enum Target {
    Http(SocketAddr),
    InProcess(Arc<Inventory>),
}

async fn run(
    target: Target,
    clients: usize,
    items: Arc<Vec<ItemId>>,
    seconds: f64,
) -> (Tally, f64) {
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let duration = Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (target, items, barrier) = (target.clone(), items.clone(), barrier.clone());
            tokio::spawn(async move {
                // Every client connects before the clock starts.
                match target {
                    Target::Http(addr) => {
                        let connection =
                            Client::connect(addr).await.expect("connect to the server");
                        barrier.wait().await;
                        let end = Instant::now() + duration;
                        http_client(addr, connection, client, items, end).await
                    }
                    Target::InProcess(inventory) => {
                        barrier.wait().await;
                        let end = Instant::now() + duration;
                        in_process_client(inventory, client, items, end).await
                    }
                }
            })
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    let mut total = Tally::new();
    for task in tasks {
        total.merge(&task.await.expect("client task"));
    }
    (total, start.elapsed().as_secs_f64())
}

fn row(mode: &str, clients: usize, tally: &Tally, seconds: f64) {
    let requests = tally.request.total;
    println!(
        "| {mode} | {clients} | {} | {} | {} | {} | {} | {} | {} |",
        grouped((tally.lifecycles as f64 / seconds) as i64),
        grouped((requests as f64 / seconds) as i64),
        latency(tally.request.percentile(0.50)),
        latency(tally.request.percentile(0.99)),
        latency(tally.lifecycle.percentile(0.99)),
        tally.refused,
        tally.failed,
    );
}

async fn register_over_http(addr: SocketAddr, items: u32) -> Vec<ItemId> {
    let mut client = Client::connect(addr).await.expect("connect to the server");
    let prefix = format!(
        "load-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let mut ids = Vec::with_capacity(items as usize);
    for i in 0..items {
        let new = NewItem {
            sku: format!("{prefix}-{i}"),
            quantity: STOCK,
        };
        let reply = client.post("/items", &new).await.expect("register an item");
        assert_eq!(
            reply.status,
            201,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        ids.push(reply.json::<ItemView>().expect("an item").item);
    }
    ids
}

async fn main_async(options: Options) -> ExitCode {
    // The server: the one given, or one of our own on a loopback port.
    let (addr, own) = match options.addr {
        Some(addr) => (addr, None),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a loopback port");
            let addr = listener.local_addr().expect("its address");
            let inventory = Arc::new(Inventory::new());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(atomic_stock_service::serve(
                listener,
                inventory.clone(),
                async {
                    stopped.await.ok();
                },
            ));
            (addr, Some((inventory, stop, server)))
        }
    };
    let items = Arc::new(register_over_http(addr, options.items).await);
    println!(
        "| mode | clients | lifecycles/s | requests/s | request p50 | request p99 | lifecycle p99 | refused | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut confirmed = 0;
    for &clients in &options.clients {
        let (tally, seconds) =
            run(Target::Http(addr), clients, items.clone(), options.seconds).await;
        confirmed += tally.lifecycles;
        row("http", clients, &tally, seconds);
        if options.in_process {
            let inventory = Arc::new(Inventory::new());
            let local: Vec<ItemId> = (0..options.items)
                .map(|_| inventory.register_item(STOCK).expect("register"))
                .collect();
            let target = Target::InProcess(inventory.clone());
            let (tally, seconds) = run(target, clients, Arc::new(local), options.seconds).await;
            row("in-process", clients, &tally, seconds);
            let report = inventory.audit().expect("the in-process audit");
            assert_eq!(report.sold, 2 * tally.lifecycles as i64);
        }
    }
    // Every confirmed lifecycle sold two units, and nothing is left held.
    let mut client = Client::connect(addr).await.expect("connect to the server");
    let audit: Audit = client
        .get("/audit")
        .await
        .ok()
        .and_then(|reply| reply.json().ok())
        .expect("the server's audit");
    drop(client);
    println!(
        "server audit: {} items, {} units sold, {} held, {} live reservations",
        audit.items, audit.sold, audit.held, audit.live_reservations
    );
    let mut ok = audit.held == 0;
    if let Some((_, stop, server)) = own {
        ok &= audit.sold == 2 * confirmed as i64;
        let _ = stop.send(());
        server.await.expect("server task").expect("server");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("the server's audit does not match the confirmed lifecycles");
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let options = match args::parse("load", USAGE, read) {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = options.threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.build().expect("a tokio runtime");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load run: {} s per run, {} items, {} worker threads, server {}; load average before: {}",
        options.seconds,
        options.items,
        options
            .threads
            .map_or_else(|| "one per core".to_owned(), |n| n.to_string()),
        options
            .addr
            .map_or_else(|| "in this process".to_owned(), |a| a.to_string()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    runtime.block_on(main_async(options))
}
