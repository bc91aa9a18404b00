//! The optional background reaper: a thread that expires due reservations and stops when its
//! inventory is dropped. It knows nothing of the inventory: it runs the pass it is given.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Asks the reaper to stop, and wakes it.
#[derive(Debug, Default)]
struct Stop {
    requested: Mutex<bool>,
    wake: Condvar,
}

/// A running reaper thread.
#[derive(Debug)]
pub(crate) struct Reaper {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Reaper {
    /// Starts a thread that runs `pass` (expire what is due, answer the time to the next known
    /// deadline) at least every `tick`, and sooner when `pass` names an earlier deadline.
    pub(crate) fn start(
        tick: Duration,
        pass: impl Fn() -> Option<Duration> + Send + 'static,
    ) -> Reaper {
        Reaper::start_named("atomic-stock-reaper", tick, pass)
    }

    /// [`start`](Reaper::start) for any periodic pass, on a thread called `name`.
    pub(crate) fn start_named(
        name: &str,
        tick: Duration,
        pass: impl Fn() -> Option<Duration> + Send + 'static,
    ) -> Reaper {
        let stop = Arc::new(Stop::default());
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || run(&pass, &stop, tick))
                .expect("failed to spawn the reaper thread")
        };
        Reaper {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(mut self) {
        *self
            .stop
            .requested
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panic in the reaper is a bug; surface it rather than hide it.
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

fn run(pass: &dyn Fn() -> Option<Duration>, stop: &Stop, tick: Duration) {
    let mut requested = stop
        .requested
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while !*requested {
        drop(requested);
        let sleep = pass().map_or(tick, |d| d.min(tick));
        requested = stop
            .requested
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *requested {
            break;
        }
        requested = stop
            .wake
            .wait_timeout(requested, sleep)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}
