//! loom models of the journal's hold versions: a reservation's chain of holds gets increasing
//! versions whatever order the threads that replace them run in, so replay (the highest
//! version wins) keeps the hold that is current in memory.

use crate::carts::registry::{Entry, Hold};
use crate::journal::HoldVersions;
use crossbeam_epoch::{Collector, Owned};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Where a replacing thread takes its version.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    /// After reading the hold it replaces, before its swap: the protocol.
    AfterRead,
    /// Before reading the hold: the step the protocol forbids.
    BeforeRead,
}

/// Replaces `entry`'s hold as the lifecycle's hold-replacing calls do (reserve into a held
/// cart, `set_cart`, `extend`, `release_lines`): read the current hold, take a version, swap,
/// and on a lost swap start again. Between its first and second step it calls `between`. The
/// hold's `deadline` carries its version here. Returns the versions of the hold replaced and
/// of the one installed.
fn replace(
    entry: &Entry,
    versions: &HoldVersions,
    collector: &Collector,
    step: Step,
    between: &dyn Fn(),
) -> (u64, u64) {
    let handle = collector.register();
    let guard = handle.pin();
    loop {
        let (current, version) = match step {
            Step::AfterRead => {
                let current = entry.snapshot(&guard);
                between();
                (current, versions.next())
            }
            Step::BeforeRead => {
                let version = versions.next();
                between();
                (entry.snapshot(&guard), version)
            }
        };
        let hold = Owned::new(Hold::new(version, std::iter::empty()));
        if entry.replace(current, hold, &guard).is_ok() {
            return (current.hold().deadline, version);
        }
    }
}

/// Two threads replace one reservation's hold at once (a cart update racing an extend, say);
/// each installed hold's version must be above the version of the hold it replaced. With
/// `pause`, the first thread waits between its two steps until the second has replaced the
/// hold (a schedule the race also allows, forced here: loom's search did not reach it by
/// itself in this model). Preemption bound 2, as the other two-thread models
/// (`LOOM_MAX_PREEMPTIONS` overrides it).
fn two_replacements(step: Step, pause: bool) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(move || {
        let collector = Collector::new();
        // The first hold is a reservation's insertion: version 0; later versions from 1.
        let entry: Arc<Box<Entry>> =
            Arc::new(Entry::new(1, 1, Hold::new(0, std::iter::empty())).into_box());
        let versions = Arc::new(HoldVersions::starting_at(1));
        let replaced = Arc::new(AtomicBool::new(false));
        let other = {
            let (entry, versions, collector, replaced) =
                (entry.clone(), versions.clone(), collector.clone(), replaced.clone());
            thread::spawn(move || {
                let result = replace(&entry, &versions, &collector, step, &|| {});
                // Release: pairs with the Acquire load in the pausing thread's wait.
                replaced.store(true, Ordering::Release);
                result
            })
        };
        let wait = || {
            // Acquire: pairs with the Release store above.
            while pause && !replaced.load(Ordering::Acquire) {
                thread::yield_now();
            }
        };
        let mine = replace(&entry, &versions, &collector, step, &wait);
        let theirs = other.join().unwrap();
        for (replaced, installed) in [mine, theirs] {
            assert!(
                installed > replaced,
                "hold version {installed} replaced version {replaced}: replay would keep the older hold"
            );
        }
    });
}

#[test]
fn hold_versions_grow_along_a_chain_of_replacements() {
    two_replacements(Step::AfterRead, false);
    two_replacements(Step::AfterRead, true);
}

/// The model fails when the version is taken before the hold it replaces is read.
#[test]
#[should_panic(expected = "replay would keep the older hold")]
fn hold_versions_taken_before_the_read_can_go_backwards() {
    two_replacements(Step::BeforeRead, true);
}
