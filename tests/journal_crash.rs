//! Crash tests: a child process (this test binary again) runs a load on a journaled inventory
//! and is killed with SIGKILL at a random point; the parent reopens the directory and checks
//! that the audit passes, that every confirm the child saw acknowledged is there, that every
//! reservation id it was given still resolves, and that the units sold lie between the
//! acknowledged confirms and the attempted ones (none lost, none counted twice).
//!
//! Odd generations of the child acknowledge durably, even ones buffered: the buffered ones'
//! acknowledgements are not checked (they may be lost), only that recovery from what they
//! left is consistent and loses nothing acknowledged durably before.
//!
//! A few kills run in the normal test run (about 2 seconds); `ATOMIC_STOCK_CRASH_KILLS=200`
//! runs many more.

use atomic_stock::journal::{Durability, JournalReader, RequestKey};
use atomic_stock::{
    CartId, Confirmation, Inventory, ItemId, Line, ReservationError, ReservationId,
    ReservationState,
};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "ATOMIC_STOCK_CRASH_CHILD";
const GENERATION: &str = "ATOMIC_STOCK_CRASH_GENERATION";
const ITEMS: u32 = 8;
const INITIAL: i64 = 1 << 30;
const FINISHED_MEMORY: usize = 1 << 22;

/// xorshift64*: enough randomness for a load, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    (nanos ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

fn open(dir: &Path, reaper: bool, buffered: bool) -> Inventory {
    let builder = Inventory::builder().finished_memory(FINISHED_MEMORY);
    let builder = if buffered {
        builder.durability(Durability::Buffered {
            window: Duration::from_millis(5),
        })
    } else {
        builder
    };
    let builder = if reaper {
        builder.reaper(Duration::from_millis(1))
    } else {
        builder
    };
    builder.open_dir(dir).expect("the directory opens")
}

fn id_text(id: ReservationId) -> String {
    format!("{} {} {}", id.cart().get(), id.seq(), id.tag())
}

fn lines_text(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| format!("{}:{}", l.item.get(), l.quantity))
        .collect::<Vec<_>>()
        .join(",")
}

/// The child: a load on the inventory in `dir`, printing what was acknowledged, until killed.
fn child(dir: &Path, generation: u64) -> ! {
    // Even generations run buffered: what they acknowledge may be lost, but never an
    // earlier generation's durable work, and the audit must still pass.
    let inventory = open(dir, true, generation % 2 == 0);
    for i in inventory.items() as u32..ITEMS {
        inventory
            .register_sku(&format!("SKU-{i}"), INITIAL)
            .unwrap();
    }
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        // Marked, since the test harness may print on the same line.
        let _ = writeln!(out, "\n@ {line}");
        let _ = out.flush();
    };
    say("READY".into());
    std::thread::scope(|s| {
        for thread in 0..4u64 {
            let inventory = &inventory;
            s.spawn(move || {
                let mut rng = Rng(seed() ^ thread << 40);
                for n in 0u64.. {
                    let cart = CartId::new(generation << 40 | thread << 32 | n);
                    let mut lines: Vec<Line> = (0..1 + rng.below(2))
                        .map(|_| {
                            Line::new(
                                ItemId::new(rng.below(ITEMS.into()) as u32),
                                1 + rng.below(3) as i64,
                            )
                        })
                        .collect();
                    lines.sort_by_key(|l| l.item);
                    lines.dedup_by_key(|l| l.item);
                    let ttl = Duration::from_millis(20 + rng.below(400));
                    let receipt = if rng.below(4) == 0 {
                        let key = RequestKey(u128::from(cart.get()));
                        let r = inventory.reserve_once(key, cart, &lines, ttl);
                        if let Ok(r) = r {
                            say(format!("K {} {}", cart.get(), id_text(r.id)));
                        }
                        r
                    } else {
                        inventory.reserve(cart, &lines, ttl)
                    };
                    let Ok(receipt) = receipt else { continue };
                    say(format!("R {}", id_text(receipt.id)));
                    match rng.below(6) {
                        0 => {
                            let _ = inventory.release(receipt.id);
                            continue;
                        }
                        1 => {
                            let _ = inventory.extend(receipt.id, ttl);
                        }
                        2 if lines[0].quantity > 1 => {
                            let back = Line::new(lines[0].item, 1);
                            if inventory.release_lines(receipt.id, &[back]).is_ok() {
                                lines[0].quantity -= 1;
                            }
                        }
                        3 => {
                            let other =
                                vec![Line::new(ItemId::new(rng.below(ITEMS.into()) as u32), 1)];
                            if inventory.set_cart(cart, &other, ttl).is_ok() {
                                lines = other;
                            }
                        }
                        4 => continue, // left to expire
                        _ => {}
                    }
                    say(format!("T {} {}", id_text(receipt.id), lines_text(&lines)));
                    if inventory.confirm(receipt.id) == Ok(Confirmation::Confirmed) {
                        say(format!("C {}", id_text(receipt.id)));
                    }
                    if n % 500 == 0 && thread == 0 && rng.below(4) == 0 {
                        let _ = inventory.snapshot();
                    }
                }
            });
        }
    });
    unreachable!("the load never ends")
}

#[test]
fn crash_child() {
    // Only a child process does anything here.
    if let Ok(dir) = std::env::var(CHILD) {
        let generation = std::env::var(GENERATION).unwrap().parse().unwrap();
        child(Path::new(&dir), generation);
    }
}

fn parse_id(words: &[&str]) -> ReservationId {
    ReservationId::new(
        CartId::new(words[0].parse().unwrap()),
        words[1].parse().unwrap(),
        words[2].parse().unwrap(),
    )
}

#[derive(Default)]
struct Claims {
    /// Whether the generation being read acknowledged durably.
    durable: bool,
    reserved: Vec<ReservationId>,
    confirmed: Vec<ReservationId>,
    /// Units per item of every confirm attempted, and of those acknowledged.
    tried: HashMap<ReservationId, Vec<Line>>,
    keys: Vec<(u64, ReservationId)>,
}

impl Claims {
    fn read(&mut self, line: &str) {
        let Some((_, line)) = line.split_once("@ ") else {
            return;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if !self.durable && words.first() != Some(&"T") {
            return;
        }
        match words.first() {
            Some(&"R") if words.len() == 4 => self.reserved.push(parse_id(&words[1..4])),
            Some(&"C") if words.len() == 4 => self.confirmed.push(parse_id(&words[1..4])),
            Some(&"K") if words.len() == 5 => {
                self.keys
                    .push((words[1].parse().unwrap(), parse_id(&words[2..5])));
            }
            Some(&"T") if words.len() == 5 => {
                let lines = words[4]
                    .split(',')
                    .map(|pair| {
                        let (item, quantity) = pair.split_once(':').unwrap();
                        Line::new(
                            ItemId::new(item.parse().unwrap()),
                            quantity.parse().unwrap(),
                        )
                    })
                    .collect();
                self.tried.insert(parse_id(&words[1..4]), lines);
            }
            _ => {}
        }
    }
}

/// Runs one child for about `run`, kills it, and returns when its output is read.
fn run_and_kill(dir: &Path, generation: u64, run: Duration, claims: &mut Claims) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .env(GENERATION, generation.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, receive) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    // The run counts from the end of recovery (the child says READY), so that slow syncs at
    // start-up do not eat it; a kill during recovery happens too, with `run` zero.
    let ready = Instant::now() + Duration::from_secs(20);
    if !run.is_zero() {
        while let Ok(line) = receive.recv_timeout(ready.saturating_duration_since(Instant::now())) {
            claims.read(&line);
            if line.ends_with("@ READY") {
                break;
            }
        }
    }
    std::thread::sleep(run);
    // SIGKILL on Unix: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    for line in receive.try_iter() {
        claims.read(&line);
    }
}

fn check(dir: &Path, claims: &Claims) {
    let inventory = open(dir, false, false);
    // The journal left by the crash reads as a stream to its end (the torn tail was cut).
    for event in JournalReader::open(dir).unwrap() {
        event.expect("the journal reads back after a crash");
    }
    inventory.audit().expect("the audit passes after a crash");
    assert!(inventory.items() <= ITEMS as usize);
    let confirmed: std::collections::HashSet<_> = claims.confirmed.iter().collect();
    for id in &claims.confirmed {
        assert_eq!(
            inventory.status(*id),
            Ok(ReservationState::Confirmed),
            "acknowledged confirm of {id} lost"
        );
    }
    for id in &claims.reserved {
        assert_ne!(
            inventory.status(*id),
            Err(ReservationError::Unknown),
            "acknowledged reservation {id} unknown"
        );
    }
    for (cart, id) in &claims.keys {
        // A retry of an acknowledged keyed request gets its first answer.
        let retry = inventory.reserve_once(
            RequestKey(u128::from(*cart)),
            CartId::new(*cart),
            &[Line::new(ItemId::new(0), 1)],
            Duration::from_secs(1),
        );
        assert_eq!(retry.map(|r| r.id), Ok(*id), "key of cart {cart}");
    }
    let mut low = vec![0i64; ITEMS as usize];
    let mut high = vec![0i64; ITEMS as usize];
    for (id, lines) in &claims.tried {
        for line in lines {
            high[line.item.get() as usize] += line.quantity;
        }
        if confirmed.contains(id) {
            for line in lines {
                low[line.item.get() as usize] += line.quantity;
            }
        }
    }
    for i in 0..inventory.items() {
        let levels = inventory.item(ItemId::new(i as u32)).unwrap();
        assert_eq!(
            levels.received, INITIAL,
            "item {i}: units appeared or vanished"
        );
        assert!(
            (low[i]..=high[i]).contains(&levels.sold),
            "item {i}: sold {} outside {}..={}",
            levels.sold,
            low[i],
            high[i]
        );
    }
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let kills: u64 = std::env::var("ATOMIC_STOCK_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(4);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("atomic-stock-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut rng = Rng(seed());
    let mut claims = Claims::default();
    let started = Instant::now();
    for generation in 1..=kills {
        // One kill in eight lands during start-up or recovery.
        let run = match rng.below(8) {
            0 => Duration::ZERO,
            _ => Duration::from_millis(50 + rng.below(300)),
        };
        claims.durable = generation % 2 == 1;
        run_and_kill(&dir, generation, run, &mut claims);
        check(&dir, &claims);
    }
    eprintln!(
        "{kills} kills in {:?}: {} reservations and {} confirms acknowledged, all there",
        started.elapsed(),
        claims.reserved.len(),
        claims.confirmed.len()
    );
    // Something was acknowledged at all (the kills did not all land before the load began).
    assert!(!claims.reserved.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
