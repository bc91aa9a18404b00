//! The data behind one design decision: should stock slots be padded to a cache line each, or
//! packed densely? Raw atomics only, no crate types, so the figures isolate memory layout.
//!
//! # Reproduce
//!
//! ```sh
//! cargo bench --bench layout                     # everything, about 1 minute
//! cargo bench --bench layout -- layout/adjacent  # one group
//! cargo bench --bench layout -- --warm-up-time 0.2 --measurement-time 0.5   # a quick check
//! ```
//!
//! Defaults: 1 s warm-up, 3 s measurement, 50 samples per benchmark. The bench prints the
//! memory each layout costs per item before it starts.
//!
//! # What a figure means
//!
//! One element is one operation on one item's stock word: a compare-and-swap decrement (the
//! take) followed by a `fetch_add` increment (the give-back), as the crate's slot does. Two
//! threads, released together by a barrier, split `iters` operations; `thrpt` is operations
//! per second over both threads. Layouts, one slot per item:
//!
//! * `dense-8B`: a bare `AtomicU64` per item, slots back to back.
//! * `dense-24B`: the stock word and two `i64` ledger counters (the crate's slot started so;
//!   it is 40 bytes now, with the hot-item pointer and a contention counter).
//! * `dense-32B`: that slot aligned to 32 bytes, so no slot straddles two cache lines.
//! * `padded-128B`: `crossbeam_utils::CachePadded<AtomicU64>`, one slot per 128 bytes on x86_64
//!   (a pair of 64-byte lines, because the adjacent-line prefetcher moves them together); the
//!   id carries the real size on other targets.
//!
//! Groups:
//!
//! * `layout/adjacent-items`: each thread hammers its own item, and the two items are
//!   neighbours in one array. Dense layouts put both words in one cache line, which then
//!   bounces between the cores on every operation though no item is shared (false sharing);
//!   padding separates them. This is the case for padding.
//! * `layout/one-hot-item`: both threads hammer the same item. The line bounces whatever the
//!   layout (true sharing), so padding should change nothing: the control.
//! * `layout/uniform-1m-items`: both threads pick items uniformly from 1,000,000. Collisions
//!   are rare, so what counts is how much of the array the caches hold: 8 MB, 24 MB, 32 MB or
//!   128 MB. This is the case against padding. The answer depends on the machine's last-level
//!   cache (32 MB on the 2-core machine these benches were written on) and its TLB; the random
//!   index is drawn inside the timed loop, the same few cycles for every layout.

mod common;

use common::{timed_threads, XorShift};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use criterion::{measurement::WallTime, BenchmarkId};
use crossbeam_utils::CachePadded;
use std::mem::size_of;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Threads in every group: the machine these benches target has two cores.
const THREADS: usize = 2;
/// Items in the `uniform-1m-items` group.
const MANY_ITEMS: usize = 1_000_000;
/// Items in the small arrays of the other groups.
const FEW_ITEMS: usize = 64;
/// Units per item: a take never falls short, so every operation does the same two writes.
const INITIAL: u64 = 1_000_000;

/// One item's stock slot in some layout; only its stock word is ever touched.
trait Slot: Sync + Sized {
    /// `dense` or `padded`, for the benchmark id.
    const KIND: &'static str;
    fn new(initial: u64) -> Self;
    fn word(&self) -> &AtomicU64;
}

/// A bare stock word.
#[repr(transparent)]
struct Dense8(AtomicU64);

/// The crate's slot: the stock word, then the `received` and `sold` ledger counters.
#[repr(C)]
struct Dense24 {
    word: AtomicU64,
    _received: AtomicI64,
    _sold: AtomicI64,
}

/// The crate's slot rounded up to a power of two.
#[repr(C, align(32))]
struct Dense32(Dense24);

/// One stock word per cache-line pair (x86_64) or line (elsewhere).
struct Padded(CachePadded<AtomicU64>);

impl Slot for Dense8 {
    const KIND: &'static str = "dense";

    fn new(initial: u64) -> Self {
        Dense8(AtomicU64::new(initial))
    }
    fn word(&self) -> &AtomicU64 {
        &self.0
    }
}

impl Slot for Dense24 {
    const KIND: &'static str = "dense";

    fn new(initial: u64) -> Self {
        Dense24 {
            word: AtomicU64::new(initial),
            _received: AtomicI64::new(initial as i64),
            _sold: AtomicI64::new(0),
        }
    }
    fn word(&self) -> &AtomicU64 {
        &self.word
    }
}

impl Slot for Dense32 {
    const KIND: &'static str = "dense";

    fn new(initial: u64) -> Self {
        Dense32(Dense24::new(initial))
    }
    fn word(&self) -> &AtomicU64 {
        &self.0.word
    }
}

impl Slot for Padded {
    const KIND: &'static str = "padded";

    fn new(initial: u64) -> Self {
        Padded(CachePadded::new(AtomicU64::new(initial)))
    }
    fn word(&self) -> &AtomicU64 {
        &self.0
    }
}

fn label<S: Slot>() -> String {
    format!("{}-{}B", S::KIND, size_of::<S>())
}

fn slots<S: Slot>(items: usize) -> Vec<S> {
    (0..items).map(|_| S::new(INITIAL)).collect()
}

/// One take of one unit and its give-back, as the crate's slot does them.
#[inline]
fn take_and_give_back(word: &AtomicU64) {
    // Relaxed: a first guess only; the compare-and-swap below checks it.
    let mut available = word.load(Ordering::Relaxed);
    loop {
        debug_assert!(available > 0, "INITIAL units never run out");
        match word.compare_exchange_weak(
            available,
            available - 1,
            // AcqRel, as the crate's slot uses: Acquire pairs with the Release `fetch_add`
            // below that gave these units back, Release with the next taker's Acquire.
            Ordering::AcqRel,
            // Relaxed: a failed attempt only learns the current count, checked again next.
            Ordering::Relaxed,
        ) {
            Ok(_) => break,
            Err(current) => available = current,
        }
    }
    // Release: pairs with the Acquire half of the compare-and-swap that takes the unit next.
    word.fetch_add(1, Ordering::Release);
}

/// Two adjacent items that share a 64-byte cache line, if the layout allows it at all.
fn adjacent_pair<S: Slot>(slots: &[S]) -> (usize, usize) {
    let line = |index: usize| slots[index].word() as *const AtomicU64 as usize / 64;
    (0..slots.len() - 1)
        .find(|&index| line(index) == line(index + 1))
        .map_or((0, 1), |index| (index, index + 1))
}

fn bench_adjacent<S: Slot>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let slots = slots::<S>(FEW_ITEMS);
    let (first, second) = adjacent_pair(&slots);
    group.bench_function(BenchmarkId::from_parameter(label::<S>()), |b| {
        b.iter_custom(|iters| {
            timed_threads(THREADS, iters, |thread, ops| {
                let word = slots[if thread == 0 { first } else { second }].word();
                for _ in 0..ops {
                    take_and_give_back(word);
                }
            })
            .0
        });
    });
}

fn bench_hot<S: Slot>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let slots = slots::<S>(FEW_ITEMS);
    group.bench_function(BenchmarkId::from_parameter(label::<S>()), |b| {
        b.iter_custom(|iters| {
            timed_threads(THREADS, iters, |_, ops| {
                for _ in 0..ops {
                    take_and_give_back(slots[0].word());
                }
            })
            .0
        });
    });
}

fn bench_uniform<S: Slot>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let slots = slots::<S>(MANY_ITEMS);
    // A fresh stream per sample, so no sample replays the items an earlier one left cached.
    let mut sample = 0;
    group.bench_function(BenchmarkId::from_parameter(label::<S>()), |b| {
        b.iter_custom(|iters| {
            sample += 1;
            timed_threads(THREADS, iters, |thread, ops| {
                let mut rng = XorShift::for_thread(sample * THREADS + thread);
                for _ in 0..ops {
                    let item = rng.below(MANY_ITEMS as u64) as usize;
                    take_and_give_back(slots[item].word());
                }
            })
            .0
        });
    });
}

fn print_footprint() {
    println!("memory per item, and for the {MANY_ITEMS} items of layout/uniform-1m-items:");
    for (name, bytes) in [
        (label::<Dense8>(), size_of::<Dense8>()),
        (label::<Dense24>(), size_of::<Dense24>()),
        (label::<Dense32>(), size_of::<Dense32>()),
        (label::<Padded>(), size_of::<Padded>()),
    ] {
        let megabytes = (bytes * MANY_ITEMS) as f64 / 1e6;
        println!("  {name:<12} {bytes:>4} bytes/item  {megabytes:>6.0} MB");
    }
}

fn layout(c: &mut Criterion) {
    print_footprint();

    let mut group = c.benchmark_group("layout/adjacent-items");
    group.throughput(Throughput::Elements(1));
    bench_adjacent::<Dense8>(&mut group);
    bench_adjacent::<Dense24>(&mut group);
    bench_adjacent::<Dense32>(&mut group);
    bench_adjacent::<Padded>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("layout/one-hot-item");
    group.throughput(Throughput::Elements(1));
    bench_hot::<Dense8>(&mut group);
    bench_hot::<Dense24>(&mut group);
    bench_hot::<Dense32>(&mut group);
    bench_hot::<Padded>(&mut group);
    group.finish();

    let mut group = c.benchmark_group("layout/uniform-1m-items");
    group.throughput(Throughput::Elements(1));
    bench_uniform::<Dense8>(&mut group);
    bench_uniform::<Dense24>(&mut group);
    bench_uniform::<Dense32>(&mut group);
    bench_uniform::<Padded>(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = layout
}
criterion_main!(benches);
