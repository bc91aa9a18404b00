//! Temporary probe (not committed): single-thread reserve+confirm cost.
use atomic_stock::{CartId, Inventory, Line};
use std::time::{Duration, Instant};
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let inv = Inventory::new();
    let items: Vec<_> = (0..10_000)
        .map(|_| inv.register_item(1_000_000_000).unwrap())
        .collect();
    let t = Instant::now();
    for i in 0..n {
        let r = inv
            .reserve(
                CartId::new(i),
                &[Line::new(items[(i % 10_000) as usize], 1)],
                Duration::from_secs(600),
            )
            .unwrap();
        inv.confirm(r.id).unwrap();
    }
    eprintln!(
        "reserve+confirm {:.1} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    let mut x = Instant::now();
    for _ in 0..n {
        x = x.max(Instant::now());
    }
    eprintln!(
        "Instant::now {:.1} ns {:?}",
        t.elapsed().as_nanos() as f64 / n as f64,
        x.elapsed() > Duration::ZERO
    );
}
