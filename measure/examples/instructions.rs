//! A fixed number of single-thread operations on one path of one engine, for counting
//! instructions with callgrind. `scripts/callgrind.sh` runs every path and engine and prints
//! instructions per operation; run alone, this only does the work.
//!
//! ```sh
//! cargo run --release --example instructions -- reserve-confirm lock-free 100000
//! scripts/callgrind.sh                      # the table
//! ```
//!
//! Paths (quantities 1, items drawn uniformly from a catalog of 10,000, pre-generated before
//! the measured loop so the loop does no random number generation):
//!
//! * `take-1`, `take-4`: one all-or-nothing take of a 1- or 4-line cart (no give-back; every
//!   item has 2^30 units). Engines: `lock-free` (`Stock`), `item-locks` (`ItemLocks`),
//!   `global-lock` (`GlobalLock`).
//! * `reserve-confirm`, `reserve-release`: a 4-line cart reserved, then confirmed or released.
//! * `reserve-confirm-1`: the same with a 1-line cart; `reserve-confirm-cart`: a 4-line cart
//!   reserved, then confirmed by cart (`confirm_cart`) instead of by id.
//! * `set-cart`: a live cart moved between two 4-line sets.
//!   Engines for these: `lock-free` (`Inventory`), `item-locks` (`ItemLocksInventory`),
//!   `global-lock` (`GlobalLockInventory`), all on the system clock (its reads are part of
//!   the cost), and `journal`: the lock-free `Inventory` with a buffered journal (5 ms
//!   window) in a temporary directory. Only the calling thread is counted, so `journal` minus
//!   `lock-free` is what journaling costs the caller; the flusher's work is not in it.
//!
//! Only [`measured`] is counted (`--toggle-collect='*measured*'`): building the catalog and the
//! carts, and a warm-up of 1,000 operations (first-use costs such as the epoch collector's
//! registration of the thread), are outside it.

use atomic_stock::baseline::{GlobalLock, GlobalLockInventory, ItemLocks, ItemLocksInventory};
use atomic_stock::journal::Durability;
use atomic_stock::{CartId, Inventory, ItemId, Line, ReservationEngine, Stock, StockEngine};
use atomic_stock_measure::args::{self, Arg, Parser, ValueExt};
use atomic_stock_measure::rng::XorShift;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

const ITEMS: u32 = 10_000;
const INITIAL: i64 = 1 << 30;
/// Carts pre-generated (a power of two).
const RING: usize = 1024;
const WARM_UP: u64 = 1_000;
const TTL: Duration = Duration::from_secs(600);
const USAGE: &str = "usage: instructions \
                     <take-1|take-4|reserve-confirm|reserve-confirm-1|reserve-confirm-cart|reserve-release|set-cart> \
                     <lock-free|journal|item-locks|global-lock> <iterations>";

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Take,
    ReserveConfirm,
    ReserveConfirmCart,
    ReserveRelease,
    SetCart,
}

/// `RING` carts of `lines` distinct uniform items, back to back: the same carts on every run
/// (the instruction counts depend on them).
fn carts(lines: usize) -> Vec<Line> {
    let mut rng = XorShift::new(0);
    let mut flat = Vec::with_capacity(RING * lines);
    for _ in 0..RING {
        let start = flat.len();
        while flat.len() < start + lines {
            let item = ItemId::new((rng.next_u64() % u64::from(ITEMS)) as u32);
            if !flat[start..].iter().any(|l: &Line| l.item == item) {
                flat.push(Line::new(item, 1));
            }
        }
    }
    flat
}

fn cart(flat: &[Line], lines: usize, op: u64) -> &[Line] {
    let start = (op as usize & (RING - 1)) * lines;
    &flat[start..start + lines]
}

/// The counted call (see the module docs).
#[inline(never)]
fn measured<S: StockEngine + ?Sized, R: ReservationEngine + ?Sized>(
    stock: Option<&S>,
    lifecycle: Option<&R>,
    path: Path,
    flat: &[Line],
    lines: usize,
    first: u64,
    ops: u64,
) {
    operations(stock, lifecycle, path, flat, lines, first, ops);
}

/// The same operations, not counted.
#[inline(never)]
fn warm_up<S: StockEngine + ?Sized, R: ReservationEngine + ?Sized>(
    stock: Option<&S>,
    lifecycle: Option<&R>,
    path: Path,
    flat: &[Line],
    lines: usize,
) {
    operations(stock, lifecycle, path, flat, lines, 0, WARM_UP);
}

/// `ops` operations of `path`, starting at operation `first`.
#[inline(always)]
fn operations<S: StockEngine + ?Sized, R: ReservationEngine + ?Sized>(
    stock: Option<&S>,
    lifecycle: Option<&R>,
    path: Path,
    flat: &[Line],
    lines: usize,
    first: u64,
    ops: u64,
) {
    for op in first..first + ops {
        match (path, stock, lifecycle) {
            (Path::Take, Some(engine), _) => {
                black_box(engine.take(cart(flat, lines, op))).expect("plenty of stock");
            }
            (
                Path::ReserveConfirm | Path::ReserveConfirmCart | Path::ReserveRelease,
                _,
                Some(engine),
            ) => {
                let id = CartId::new(op % RING as u64);
                let receipt = engine
                    .reserve(id, cart(flat, lines, op), TTL)
                    .expect("plenty of stock");
                match path {
                    Path::ReserveConfirm => {
                        black_box(engine.confirm(receipt.id)).expect("a fresh hold");
                    }
                    Path::ReserveConfirmCart => {
                        black_box(engine.confirm_cart(id)).expect("a fresh hold");
                    }
                    _ => black_box(engine.release(receipt.id)).expect("a fresh hold"),
                }
            }
            (Path::SetCart, _, Some(engine)) => {
                // Cart k alternates between line sets 2k and 2k + 1.
                let k = op % (RING as u64 / 2);
                let set = (op / (RING as u64 / 2)) & 1;
                black_box(engine.set_cart(CartId::new(k), cart(flat, lines, 2 * k + set), TTL))
                    .expect("plenty of stock");
            }
            _ => unreachable!("main pairs each path with its engine kind"),
        }
    }
}

fn run<S: StockEngine + ?Sized, R: ReservationEngine + ?Sized>(
    stock: Option<&S>,
    lifecycle: Option<&R>,
    path: Path,
    lines: usize,
    iterations: u64,
) {
    if let Some(engine) = stock {
        for _ in 0..ITEMS {
            engine.register(INITIAL).expect("registering");
        }
    }
    if let Some(engine) = lifecycle {
        for _ in 0..ITEMS {
            engine.register_item(INITIAL).expect("registering");
        }
    }
    let flat = carts(lines);
    warm_up(stock, lifecycle, path, &flat, lines);
    measured(stock, lifecycle, path, &flat, lines, WARM_UP, iterations);
}

/// The command line's operands: a path, an engine and a number of iterations.
fn operands(parser: &mut Parser) -> Result<(String, String, u64), args::Error> {
    let mut operands = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Value(value) if operands.len() < 3 => operands.push(value.string()?),
            Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
            _ => return Err(arg.unexpected()),
        }
    }
    let [path, engine, iterations] = <[String; 3]>::try_from(operands)
        .map_err(|_| "a path, an engine and a number of iterations")?;
    let iterations = args::number(&iterations, "iterations", &(0..=u64::MAX / 2))?;
    Ok((path, engine, iterations))
}

fn main() -> ExitCode {
    let (path, engine, iterations) = match args::parse("instructions", USAGE, operands) {
        Ok(operands) => operands,
        Err(exit) => return exit,
    };
    // The path is chosen here, from the operand, next to the engine: the compiler then
    // specialises `measured` for each path it is called with (choosing it in `operands`
    // instead costs two instructions per operation, all in `measured`'s own loop).
    let (path, lines) = match path.as_str() {
        "take-1" => (Path::Take, 1),
        "take-4" => (Path::Take, 4),
        "reserve-confirm" => (Path::ReserveConfirm, 4),
        "reserve-confirm-1" => (Path::ReserveConfirm, 1),
        "reserve-confirm-cart" => (Path::ReserveConfirmCart, 4),
        "reserve-release" => (Path::ReserveRelease, 4),
        "set-cart" => (Path::SetCart, 4),
        other => {
            eprintln!("instructions: unknown path {other}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let none_stock: Option<&Stock> = None;
    let none_lifecycle: Option<&Inventory> = None;
    match (path, engine.as_str()) {
        (Path::Take, "lock-free") => {
            run(Some(&Stock::new()), none_lifecycle, path, lines, iterations)
        }
        (Path::Take, "item-locks") => run(
            Some(&ItemLocks::new()),
            none_lifecycle,
            path,
            lines,
            iterations,
        ),
        (Path::Take, "global-lock") => run(
            Some(&GlobalLock::new()),
            none_lifecycle,
            path,
            lines,
            iterations,
        ),
        (_, "lock-free") => run(none_stock, Some(&Inventory::new()), path, lines, iterations),
        (path, "journal") if path != Path::Take => {
            let dir =
                std::env::temp_dir().join(format!("instructions-journal-{}", std::process::id()));
            let inventory = Inventory::builder()
                .durability(Durability::Buffered {
                    window: Duration::from_millis(5),
                })
                .open_dir(&dir);
            let inventory = match inventory {
                Ok(inventory) => inventory,
                Err(error) => {
                    eprintln!(
                        "instructions: cannot open a journal in {}: {error}",
                        dir.display()
                    );
                    return ExitCode::FAILURE;
                }
            };
            run(none_stock, Some(&inventory), path, lines, iterations);
            drop(inventory);
            let _ = std::fs::remove_dir_all(&dir);
        }
        (_, "item-locks") => run(
            none_stock,
            Some(&ItemLocksInventory::new()),
            path,
            lines,
            iterations,
        ),
        (_, "global-lock") => run(
            none_stock,
            Some(&GlobalLockInventory::new()),
            path,
            lines,
            iterations,
        ),
        (_, other) => {
            eprintln!("instructions: unknown engine {other}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
