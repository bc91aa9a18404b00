//! What the journal costs: lifecycles per second and their latency with the journal off,
//! buffered and durable, at several numbers of callers; journal bytes per lifecycle; and how
//! long recovery takes with many live reservations.
//!
//! ```sh
//! cargo run --release --example journal
//! cargo run --release --example journal -- --callers 1,16,256 --seconds 2 --live 1000000 --dir /mnt/ssd/tmp
//! ```
//!
//! A lifecycle is a reserve of one or two lines (8 items, plenty of stock) followed by a
//! confirm of the same reservation; each caller is a thread running lifecycles back to back
//! for `--seconds`, and the latency is the whole lifecycle's (two acknowledged changes, so in
//! durable mode two waits for the disk). Buffered mode syncs every 5 ms. The journal lives in
//! `--dir` (default: the system's temporary directory): the figures are the disk's as much as
//! the engine's, so say which disk they come from. Syncs are counted to show group commit
//! (lifecycles per sync).
//!
//! Recovery: `--live` reservations are made (buffered, then synced), the inventory dropped and
//! the directory opened again, timed; then once more after a snapshot.

use atomic_stock::journal::Durability;
use atomic_stock::{CartId, Inventory, ItemId, Line};
use atomic_stock_measure::args::{self, Arg, Parser};
use atomic_stock_measure::figures::{grouped, latency, percentile};
use atomic_stock_measure::rng::XorShift;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Options {
    callers: Vec<usize>,
    /// Modes to run (`off`, `buffered`, `durable`), all by default.
    modes: Vec<String>,
    seconds: f64,
    live: u64,
    dir: PathBuf,
}

const USAGE: &str =
    "usage: journal [--callers 1,16,256] [--modes off,buffered,durable] [--seconds 1] [--live 1000000] [--dir PATH]";

fn read(parser: &mut Parser) -> Result<Options, args::Error> {
    let mut options = Options {
        callers: vec![1, 16, 256],
        modes: vec!["off".into(), "buffered".into(), "durable".into()],
        seconds: 1.0,
        live: 1_000_000,
        dir: std::env::temp_dir(),
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Long("callers") => {
                options.callers = args::numbers_in(parser, "--callers", 1..=1024)?;
            }
            Arg::Long("modes") => {
                options.modes = args::text(parser)?.split(',').map(str::to_owned).collect();
                if let Some(bad) = options
                    .modes
                    .iter()
                    .find(|m| !["off", "buffered", "durable"].contains(&m.as_str()))
                {
                    return Err(args::Error::Custom(
                        format!("--modes: unknown mode {bad} (off, buffered, durable)").into(),
                    ));
                }
            }
            Arg::Long("seconds") => {
                options.seconds = args::number_in(parser, "--seconds", 0.01..=600.0)?;
            }
            Arg::Long("live") => options.live = args::number_in(parser, "--live", 0..=10_000_000)?,
            Arg::Long("dir") => options.dir = PathBuf::from(args::text(parser)?),
            Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(options)
}

/// A fresh directory for one run.
fn fresh(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(format!(
        "atomic-stock-journal-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn bytes_in(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

struct Run {
    lifecycles: u64,
    elapsed: Duration,
    latencies: Vec<u64>,
    syncs: Option<u64>,
    bytes: u64,
}

fn lifecycles(mode: Option<Durability>, callers: usize, seconds: f64, base: &Path) -> Run {
    let dir = fresh(base, "run");
    // No automatic snapshot: it would remove segments, and the bytes counted with them.
    let builder = Inventory::builder()
        .expected_carts(1 << 16)
        .journal_snapshot_every(0);
    let inventory = match mode {
        None => builder.build(),
        Some(durability) => builder.durability(durability).open_dir(&dir).unwrap(),
    };
    let items: Vec<ItemId> = (0..8)
        .map(|i| {
            inventory
                .register_sku(&format!("SKU-{i}"), atomic_stock::limits::MAX_STOCK)
                .unwrap()
        })
        .collect();
    let bytes_before = bytes_in(&dir);
    let syncs_before = inventory.journal_syncs();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let per_thread: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..callers)
            .map(|t| {
                let (inventory, items) = (&inventory, &items);
                s.spawn(move || {
                    let mut rng = XorShift::for_thread(t);
                    let mut latencies = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let cart = CartId::new((t as u64) << 40 | n);
                        n += 1;
                        let a = items[rng.below(8) as usize];
                        let b = items[rng.below(8) as usize];
                        let lines = [Line::new(a, 1), Line::new(b, 1)];
                        let lines = &lines[..1 + usize::from(a != b)];
                        let begun = Instant::now();
                        let receipt = inventory
                            .reserve(cart, lines, Duration::from_secs(600))
                            .unwrap();
                        inventory.confirm(receipt.id).unwrap();
                        latencies.push(begun.elapsed().as_nanos() as u64);
                    }
                    latencies
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let syncs = inventory
        .journal_syncs()
        .zip(syncs_before)
        .map(|(after, before)| after - before);
    if mode.is_some() {
        inventory.sync().unwrap();
    }
    inventory.audit().unwrap();
    drop(inventory);
    let bytes = bytes_in(&dir).saturating_sub(bytes_before);
    let _ = std::fs::remove_dir_all(&dir);
    let mut latencies: Vec<u64> = per_thread.into_iter().flatten().collect();
    latencies.sort_unstable();
    Run {
        lifecycles: latencies.len() as u64,
        elapsed,
        latencies,
        syncs,
        bytes,
    }
}

fn recovery(live: u64, base: &Path) {
    let dir = fresh(base, "recovery");
    // Snapshots only where this measures them.
    let inventory = Inventory::builder()
        .expected_carts(live as usize)
        .max_reservations(live + 1)
        .journal_snapshot_every(0)
        .durability(Durability::Buffered {
            window: Duration::from_millis(5),
        })
        .open_dir(&dir)
        .unwrap();
    let items: Vec<ItemId> = (0..1000)
        .map(|_| inventory.register_item(1_000_000).unwrap())
        .collect();
    let made = Instant::now();
    for n in 0..live {
        let lines = [Line::new(items[(n % 1000) as usize], 1)];
        inventory
            .reserve(CartId::new(n), &lines, Duration::from_secs(3600))
            .unwrap();
    }
    inventory.sync().unwrap();
    let made = made.elapsed();
    drop(inventory);
    let journal_bytes = bytes_in(&dir);
    let opened = Instant::now();
    let inventory = Inventory::builder()
        .expected_carts(live as usize)
        .max_reservations(live + 1)
        .journal_snapshot_every(0)
        .open_dir(&dir)
        .unwrap();
    let from_journal = opened.elapsed();
    assert_eq!(inventory.live_reservations() as u64, live);
    let snapshotted = Instant::now();
    inventory.snapshot().unwrap();
    let snapshot_took = snapshotted.elapsed();
    drop(inventory);
    let snapshot_bytes = bytes_in(&dir);
    let opened = Instant::now();
    let inventory = Inventory::builder()
        .expected_carts(live as usize)
        .max_reservations(live + 1)
        .open_dir(&dir)
        .unwrap();
    let from_snapshot = opened.elapsed();
    assert_eq!(inventory.live_reservations() as u64, live);
    inventory.audit().unwrap();
    drop(inventory);
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!(
        "recovery, {} live reservations (made in {made:.2?}, buffered)",
        grouped(live)
    );
    println!("| from | files | open |");
    println!("|---|---|---|");
    println!(
        "| journal only | {} MB | {from_journal:.2?} |",
        journal_bytes / 1_000_000
    );
    println!(
        "| snapshot (written in {snapshot_took:.2?}) | {} MB | {from_snapshot:.2?} |",
        snapshot_bytes / 1_000_000
    );
}

fn main() -> ExitCode {
    let options = match args::parse("journal", USAGE, read) {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    println!(
        "lifecycles (reserve 1-2 lines + confirm), {:.1} s per row, journal in {}",
        options.seconds,
        options.dir.display()
    );
    println!("| journal | callers | lifecycles/s | p50 | p99 | lifecycles per sync | bytes per lifecycle |");
    println!("|---|---|---|---|---|---|---|");
    let modes = [
        ("off", "off", None),
        (
            "buffered",
            "buffered 5 ms",
            Some(Durability::Buffered {
                window: Duration::from_millis(5),
            }),
        ),
        ("durable", "durable", Some(Durability::Durable)),
    ];
    for &callers in &options.callers {
        for (key, name, mode) in modes {
            if !options.modes.iter().any(|m| m == key) {
                continue;
            }
            let run = lifecycles(mode, callers, options.seconds, &options.dir);
            let rate = run.lifecycles as f64 / run.elapsed.as_secs_f64();
            let per_sync = run.syncs.map_or("-".to_string(), |syncs| {
                format!("{:.1}", run.lifecycles as f64 / syncs.max(1) as f64)
            });
            let per_lifecycle = if mode.is_some() {
                format!("{:.0}", run.bytes as f64 / run.lifecycles.max(1) as f64)
            } else {
                "-".to_string()
            };
            println!(
                "| {name} | {callers} | {} | {} | {} | {per_sync} | {per_lifecycle} |",
                grouped(rate as i64),
                latency(percentile(&run.latencies, 0.5)),
                latency(percentile(&run.latencies, 0.99)),
            );
        }
    }
    if options.live > 0 {
        recovery(options.live, &options.dir);
    }
    ExitCode::SUCCESS
}
