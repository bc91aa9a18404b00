//! Temporary probe (not committed): sell-out of one hot item, lock-free vs a global lock.
use atomic_stock::{CartId, Inventory, Line};
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

trait Engine: Send + Sync {
    fn reserve_confirm(&self, cart: u64) -> bool;
}
struct LockFree(Inventory, atomic_stock::ItemId);
impl Engine for LockFree {
    fn reserve_confirm(&self, cart: u64) -> bool {
        match self.0.reserve(
            CartId::new(cart),
            &[Line::new(self.1, 1)],
            Duration::from_secs(600),
        ) {
            Ok(r) => {
                self.0.confirm(r.id).unwrap();
                true
            }
            Err(_) => false,
        }
    }
}
struct Global(parking_lot::Mutex<(i64, HashMap<u64, i64>, i64)>);
impl Engine for Global {
    fn reserve_confirm(&self, cart: u64) -> bool {
        {
            let mut g = self.0.lock();
            if g.0 < 1 {
                return false;
            }
            g.0 -= 1;
            g.1.insert(cart, 1);
        }
        let mut g = self.0.lock();
        let q = g.1.remove(&cart).unwrap();
        g.2 += q;
        true
    }
}
fn run(name: &str, e: Arc<dyn Engine>, threads: usize, units: i64) {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (e, b) = (e.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut ok = 0u64;
                let mut n = 0u64;
                b.wait();
                loop {
                    let cart = (t as u64) << 32 | n;
                    n += 1;
                    let s = Instant::now();
                    let r = e.reserve_confirm(cart);
                    if n % 8 == 0 {
                        lat.push(s.elapsed().as_nanos() as u64);
                    }
                    if r {
                        ok += 1
                    } else {
                        break;
                    }
                }
                (ok, lat)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let el = start.elapsed();
    let total: u64 = res.iter().map(|r| r.0).sum();
    let mut lat: Vec<u64> = res.iter().flat_map(|r| r.1.iter().copied()).collect();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let (mx, mn) = (
        res.iter().map(|r| r.0).max().unwrap(),
        res.iter().map(|r| r.0).min().unwrap(),
    );
    println!("{name:10} threads {threads:3}: sold {total} ({}) in {:?}: {:.2} M/s, p50 {} ns p99 {} ns p999 {} ns, spread {:.2}", if total == units as u64 {"exact"} else {"WRONG"}, el, total as f64 / el.as_secs_f64() / 1e6, p(0.5), p(0.99), p(0.999), mx as f64 / mn.max(1) as f64);
}
fn main() {
    let units = 1_000_000;
    for threads in [2, 256] {
        let inv = Inventory::new();
        let item = inv.register_item(units).unwrap();
        run("lock-free", Arc::new(LockFree(inv, item)), threads, units);
        run(
            "global",
            Arc::new(Global(parking_lot::Mutex::new((units, HashMap::new(), 0)))),
            threads,
            units,
        );
    }
}
