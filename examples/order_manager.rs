//! An order service on an async runtime: thousands of concurrent orders go through payment and
//! fulfilment, and afterwards every unit of stock is accounted for.
//!
//! ```sh
//! cargo run --release --example order_manager
//! cargo run --release --example order_manager -- --orders 20000 --stock 5000 --runtime multi
//! cargo run --release --example order_manager -- --control-block-ms 50   # a blocked executor
//! ```
//!
//! Defaults: `--orders 5000 --items 50 --stock 2000 --seed 1 --ttl-ms 500 --arrival-ms 2000
//! --reaper-ms 20 --runtime both`, about 7 s in all (each runtime flavour takes about the
//! arrival window plus three times the TTL).
//!
//! # The story
//!
//! [`OrderManager`] is the business flow and nothing else: reserve the cart's stock, take
//! payment, then confirm and hand the order to fulfilment, or give the stock back. It calls
//! only `reserve`, `confirm`, `release` and `extend`, and it is written against the async
//! [`Backend`] trait, so the same code would run against a remote engine; here it runs on the
//! in-process [`Inventory`] with a background reaper thread.
//!
//! Each order is a tokio task. Orders arrive at random times within the arrival window; each
//! reserves a cart of 1 to 3 lines of 1 or 2 units (lower item ids are more popular, weight
//! `1 / (rank + 1)`, so the first items sell out and later orders for them are refused). What
//! the customer and the simulated payment provider then do is drawn from the seed:
//!
//! * pays: approved after 2–30 ms, then the order is confirmed and fulfilled (2–10 ms);
//! * payment declined (`--decline`, 8 %): after 2–30 ms; the manager releases at once;
//! * payment provider never answers (`--timeout`, 5 %): the manager gives up after 2.5 TTLs and
//!   releases at once;
//! * slow payment (`--slow`, 7 %): approved after 1.3 to 2 TTLs, so the manager extends the
//!   reservation each time half a TTL is left, then confirms;
//! * abandoned checkout (`--abandon`, 10 %): the customer never pays; the task ends and drops
//!   the receipt. Nobody releases it: the reaper must expire it.
//!
//! The plan (every order's lines, arrival time and behaviour) depends only on the seed, and
//! both runtime flavours run the same plan. What the orders get does not: which orders find an
//! item sold out depends on timing (threads, the OS scheduler, the reaper), so the counts vary
//! a little from run to run. The checks do not.
//!
//! # The checks (the program exits with status 1 if any fails)
//!
//! After the last order and once the reaper has run past every deadline, for every item:
//! `received = available + held + sold` from [`Inventory::item`], nothing held or in flight,
//! `sold` equal to the units of the orders the manager confirmed (counted by the manager, per
//! item), and [`Inventory::audit`] passes (it recounts what is held from the live reservations).
//! Every abandoned reservation must have ended `Expired`, and the crate's own counters
//! ([`Inventory::stats`]) must agree with the manager's tally of reserves, confirms, releases,
//! extends and expiries. Any answer the flow did not expect fails the run too.
//!
//! # Never blocking the executor
//!
//! Every `Inventory` operation returns a future that is ready at once, so an order task holds
//! its executor thread only for the synchronous work of each step. Two instruments show how
//! long that is, and a third makes a blocked executor visible for comparison:
//!
//! * *tick lag*: a separate task awaits a 1 ms `tokio::time::interval` and records how late
//!   each tick runs. Tokio's timer has 1 ms granularity, so up to about 1 ms is the timer, not
//!   the load. A task that blocked its thread for `d` would delay the tick by up to `d` (on the
//!   current-thread runtime, always by `d`, since the tick has no other thread to run on). It
//!   also includes the OS scheduler's delays: on a machine busy with other work, lags of
//!   10 ms happen with no task blocking anything.
//! * *longest poll*: every order task is wrapped in [`Timed`], which times each `poll`; the
//!   longest poll is the longest the task kept its thread from running anything else (an OS
//!   preemption in the middle of a poll counts too).
//! * `--control-block-ms N`: the fulfilment of one order in 200 then blocks its thread with
//!   `std::thread::sleep(N ms)`, a deliberate bug: both instruments jump to about `N`.
//!
//! The whole run also happens on a current-thread runtime (`--runtime both`, the default): a
//! call that blocked waiting for another task would never finish there (a watchdog thread then
//! ends the program with status 2). The crate has one place where a thread can wait: a reserve
//! that finds an item short while other operations on it are in flight waits for them to finish
//! (bounded and brief; see the crate docs). Those operations never span an `.await` here (each
//! completes inside one call), so the wait is for another thread (a worker, or the reaper) and
//! lasts microseconds; `stats().waits` counts how often it happened. It is measured above, not
//! asserted: all timings depend on the machine and on what else it runs.

use atomic_stock::{
    Backend, CartId, Confirmation, Failure, Inventory, ItemId, Line, Receipt, ReservationError,
    ReservationId, ReservationState, ReserveError, TakeError,
};
use std::future::Future;
use std::pin::{pin, Pin};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Lines per cart, at most.
const MAX_CART_LINES: u64 = 3;
/// Units per line, at most.
const MAX_LINE_UNITS: u64 = 2;
/// Attempts at a confirm whose answer was lost (a remote backend's failure).
const CONFIRM_ATTEMPTS: u32 = 3;
/// A reservation is extended when this fraction of its TTL is left.
const EXTEND_WHEN_LEFT: f64 = 0.5;
/// The manager gives up on a payment after this many TTLs.
const PAYMENT_TIMEOUT_TTLS: f64 = 2.5;
/// Slow payments take between these many TTLs (less than the payment timeout).
const SLOW_PAYMENT_TTLS: (f64, f64) = (1.3, 2.0);
/// Period of the tick whose lag is measured.
const TICK: Duration = Duration::from_millis(1);
/// With `--control-block-ms`, one fulfilment in this many blocks its thread.
const CONTROL_BLOCK_EVERY: u64 = 200;
/// Bounds on the options, so a typo cannot ask for a billion tasks.
const MAX_ORDERS: usize = 200_000;
const MAX_ITEMS: usize = 100_000;
const MAX_MILLIS: u64 = 60_000;

const USAGE: &str = "usage: order_manager [--orders 5000] [--items 50] [--stock 2000] [--seed 1] \
                     [--ttl-ms 500] [--arrival-ms 2000] [--reaper-ms 20] \
                     [--runtime both|multi|current] [--decline 0.08] [--timeout 0.05] \
                     [--slow 0.07] [--abandon 0.10] [--control-block-ms 0]";

// ---------------------------------------------------------------------------------------------
// The order manager: business flow only.
// ---------------------------------------------------------------------------------------------

/// An order as the shop front hands it over: the cart's lines and what the customer does next.
#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub(crate) number: u64,
    pub(crate) lines: Vec<Line>,
    pub(crate) checkout: Checkout,
}

/// What the customer does after the stock is reserved.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Checkout {
    /// Pays; the provider answers as the charge says.
    Pay(Charge),
    /// Closes the tab: never pays, never cancels.
    Abandon,
}

/// How the simulated payment provider answers a charge.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Charge {
    Approve {
        after: Duration,
    },
    Decline {
        after: Duration,
    },
    /// The provider never answers.
    NoAnswer,
}

/// The simulated payment provider.
#[derive(Debug, Default)]
pub(crate) struct PaymentProvider;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Payment {
    Approved,
    Declined,
}

impl PaymentProvider {
    async fn charge(&self, charge: Charge) -> Payment {
        match charge {
            Charge::Approve { after } => {
                tokio::time::sleep(after).await;
                Payment::Approved
            }
            Charge::Decline { after } => {
                tokio::time::sleep(after).await;
                Payment::Declined
            }
            Charge::NoAnswer => std::future::pending().await,
        }
    }

    /// Gives the money back for a payment that arrived after its reservation expired.
    async fn refund(&self, _order: u64) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The simulated warehouse.
#[derive(Debug, Default)]
pub(crate) struct Fulfilment {
    /// `--control-block-ms`: a deliberate bug that blocks the executor thread (zero: none).
    control_block: Duration,
}

impl Fulfilment {
    async fn ship(&self, order: &Order) {
        // Pick, pack and label: 2–10 ms of someone else's work.
        let work = 2 + mix(order.number, 0xf00d) % 9;
        tokio::time::sleep(Duration::from_millis(work)).await;
        if !self.control_block.is_zero() && order.number % CONTROL_BLOCK_EVERY == 0 {
            // The control experiment: a synchronous wait inside a task. Everything else on this
            // executor thread stalls for the whole duration, and the instruments show it.
            std::thread::sleep(self.control_block);
        }
    }
}

/// How one order ended, as the business sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Paid, confirmed and shipped.
    Fulfilled,
    /// Not enough stock for the whole cart: nothing was reserved.
    OutOfStock,
    /// The payment was declined; the stock was released.
    Declined,
    /// The payment provider did not answer in time; the stock was released.
    PaymentTimedOut,
    /// The customer never paid; the reservation was left to expire.
    Abandoned,
    /// The reservation expired before the payment settled (an extend or the confirm came too
    /// late); a payment taken was refunded. Only a badly lagging executor should cause it.
    HoldExpired,
    /// The backend could not answer (a remote one: network, server; never the in-process
    /// one). A reservation it may have made, or failed to release, is settled by its deadline.
    BackendFailed(String),
    /// An answer the flow does not expect: a bug here or in the backend.
    Unexpected(String),
}

/// What the manager reports for one order: the outcome and what it did to the reservation.
#[derive(Clone, Debug)]
pub(crate) struct OrderReport {
    pub(crate) outcome: Outcome,
    /// The reservation, if one was made.
    pub(crate) reservation: Option<ReservationId>,
    /// The reservation's last known deadline.
    pub(crate) deadline: Option<Instant>,
    /// Successful extends.
    pub(crate) extends: u32,
    /// Whether this order's release succeeded.
    pub(crate) released: bool,
}

/// The order flow. It knows the reservation contract ([`Backend`]) and nothing of how stock is
/// kept: no locks, no compare-and-swap, no rollback. Each decision is one call.
pub(crate) struct OrderManager<B> {
    backend: Arc<B>,
    payments: PaymentProvider,
    fulfilment: Fulfilment,
    /// How long a reservation holds stock before it must be paid, or extended.
    ttl: Duration,
}

impl<B: Backend> OrderManager<B> {
    pub(crate) fn new(backend: Arc<B>, ttl: Duration, fulfilment: Fulfilment) -> Self {
        OrderManager {
            backend,
            payments: PaymentProvider,
            fulfilment,
            ttl,
        }
    }

    /// Takes one order from reservation to its end.
    pub(crate) async fn place(&self, order: &Order) -> OrderReport {
        let cart = CartId::new(order.number + 1);
        let mut report = OrderReport {
            outcome: Outcome::OutOfStock,
            reservation: None,
            deadline: None,
            extends: 0,
            released: false,
        };
        let mut receipt = match self.backend.reserve(cart, &order.lines, self.ttl).await {
            Ok(receipt) => receipt,
            Err(Failure::Refused(ReserveError::Stock(TakeError::Shortfall { .. }))) => {
                return report;
            }
            Err(Failure::Backend(e)) => return report.backend_failed("reserve", e),
            Err(e) => return report.unexpected("reserve", e),
        };
        report.reservation = Some(receipt.id);
        report.deadline = Some(receipt.deadline);

        let charge = match order.checkout {
            Checkout::Pay(charge) => charge,
            Checkout::Abandon => {
                // The customer is gone. The reservation is simply forgotten: its deadline
                // returns the stock, whoever notices first (here, the reaper).
                report.outcome = Outcome::Abandoned;
                return report;
            }
        };

        let payment = match self.take_payment(charge, &mut receipt, &mut report).await {
            Ok(payment) => payment,
            Err(outcome) => {
                report.outcome = outcome;
                return report;
            }
        };
        report.deadline = Some(receipt.deadline);
        match payment {
            Some(Payment::Approved) => self.confirm_and_ship(order, receipt.id, report).await,
            Some(Payment::Declined) => self.release(receipt.id, Outcome::Declined, report).await,
            None => {
                self.release(receipt.id, Outcome::PaymentTimedOut, report)
                    .await
            }
        }
    }

    /// Waits for the payment provider, extending the reservation whenever it is about to run
    /// out, up to the payment timeout. `Ok(None)`: the provider did not answer in time.
    async fn take_payment(
        &self,
        charge: Charge,
        receipt: &mut Receipt,
        report: &mut OrderReport,
    ) -> Result<Option<Payment>, Outcome> {
        let give_up = Instant::now() + self.ttl.mul_f64(PAYMENT_TIMEOUT_TTLS);
        let mut payment = pin!(self.payments.charge(charge));
        loop {
            let extend_at = receipt.deadline - self.ttl.mul_f64(EXTEND_WHEN_LEFT);
            let wake = tokio::time::Instant::from_std(extend_at.min(give_up));
            if let Ok(payment) = tokio::time::timeout_at(wake, payment.as_mut()).await {
                return Ok(Some(payment));
            }
            if Instant::now() >= give_up {
                return Ok(None);
            }
            // Still waiting for the provider and the hold is running out: keep the stock.
            match self.backend.extend(receipt.id, self.ttl).await {
                Ok(extended) => {
                    *receipt = extended;
                    report.extends += 1;
                }
                // Too late: the stock is gone back to the shelf. Stop waiting for the money;
                // a real service would also cancel the charge with the provider.
                Err(Failure::Refused(ReservationError::Expired)) => {
                    return Err(Outcome::HoldExpired)
                }
                Err(Failure::Backend(e)) => {
                    return Err(Outcome::BackendFailed(format!("extend: {e}")))
                }
                Err(e) => return Err(Outcome::Unexpected(format!("extend: {e:?}"))),
            }
        }
    }

    async fn confirm_and_ship(
        &self,
        order: &Order,
        id: ReservationId,
        mut report: OrderReport,
    ) -> OrderReport {
        match self.confirm(id).await {
            // `AlreadyConfirmed`: an earlier attempt went through but its answer was lost.
            Ok(Confirmation::Confirmed | Confirmation::AlreadyConfirmed) => {
                self.fulfilment.ship(order).await;
                report.outcome = Outcome::Fulfilled;
                report
            }
            Err(Failure::Refused(ReservationError::Expired)) => {
                // The money arrived after the deadline: the stock may already be someone
                // else's. Give the money back.
                self.payments.refund(order.number).await;
                report.outcome = Outcome::HoldExpired;
                report
            }
            Err(Failure::Backend(e)) => report.backend_failed("confirm", e),
            Err(e) => report.unexpected("confirm", e),
        }
    }

    /// Confirms, retrying when the backend's answer was lost: confirm is idempotent, so a
    /// repeat can only answer `AlreadyConfirmed`, never sell twice.
    async fn confirm(
        &self,
        id: ReservationId,
    ) -> Result<Confirmation, Failure<ReservationError, B::Error>> {
        let mut attempt = 1;
        loop {
            match self.backend.confirm(id).await {
                Err(Failure::Backend(_)) if attempt < CONFIRM_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(10) * attempt).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    async fn release(
        &self,
        id: ReservationId,
        outcome: Outcome,
        mut report: OrderReport,
    ) -> OrderReport {
        match self.backend.release(id).await {
            Ok(()) => {
                report.released = true;
                report.outcome = outcome;
                report
            }
            // Expired meanwhile: the stock is back either way.
            Err(Failure::Refused(ReservationError::Expired)) => {
                report.outcome = outcome;
                report
            }
            Err(Failure::Backend(e)) => report.backend_failed("release", e),
            Err(e) => report.unexpected("release", e),
        }
    }
}

impl OrderReport {
    fn unexpected(mut self, operation: &str, answer: impl std::fmt::Debug) -> OrderReport {
        self.outcome = Outcome::Unexpected(format!("{operation}: {answer:?}"));
        self
    }

    fn backend_failed(mut self, operation: &str, error: impl std::fmt::Display) -> OrderReport {
        self.outcome = Outcome::BackendFailed(format!("{operation}: {error}"));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Instruments.
// ---------------------------------------------------------------------------------------------

/// A future whose every poll is timed: the longest poll is the longest its task kept the
/// executor thread from running anything else.
pub(crate) struct Timed<F> {
    future: Pin<Box<F>>,
    longest: Duration,
}

impl<F: Future> Timed<F> {
    fn new(future: F) -> Self {
        Timed {
            future: Box::pin(future),
            longest: Duration::ZERO,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let start = Instant::now();
        let poll = self.future.as_mut().poll(cx);
        self.longest = self.longest.max(start.elapsed());
        let longest = self.longest;
        poll.map(|output| (output, longest))
    }
}

/// Records how late each tick of a `period` interval runs, until `stop` is set.
async fn tick_lags(period: Duration, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut interval = tokio::time::interval(period);
    // After a late tick, measure the next one from its own schedule rather than bursting to
    // catch up (a burst would record the same stall many times).
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut lags = Vec::new();
    // Relaxed: a stop flag; nothing is published with it.
    while !stop.load(Ordering::Relaxed) {
        let scheduled = interval.tick().await;
        lags.push(scheduled.elapsed());
    }
    lags
}

// ---------------------------------------------------------------------------------------------
// The plan: every order, from the seed.
// ---------------------------------------------------------------------------------------------

/// Options of one run.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) orders: usize,
    pub(crate) items: usize,
    pub(crate) stock: i64,
    pub(crate) seed: u64,
    pub(crate) ttl: Duration,
    pub(crate) arrival: Duration,
    pub(crate) reaper: Duration,
    pub(crate) runtimes: Vec<Flavor>,
    pub(crate) decline: f64,
    pub(crate) timeout: f64,
    pub(crate) slow: f64,
    pub(crate) abandon: f64,
    pub(crate) control_block: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            orders: 5000,
            items: 50,
            stock: 2000,
            seed: 1,
            ttl: Duration::from_millis(500),
            arrival: Duration::from_millis(2000),
            reaper: Duration::from_millis(20),
            runtimes: vec![Flavor::MultiThread, Flavor::CurrentThread],
            decline: 0.08,
            timeout: 0.05,
            slow: 0.07,
            abandon: 0.10,
            control_block: Duration::ZERO,
        }
    }
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options::default();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            let millis = |text: String, flag: &str| -> Result<Duration, String> {
                parse_in(&text, 1..=MAX_MILLIS, flag).map(Duration::from_millis)
            };
            match flag.as_str() {
                "--orders" => options.orders = parse_in(&value()?, 1..=MAX_ORDERS, "--orders")?,
                "--items" => options.items = parse_in(&value()?, 1..=MAX_ITEMS, "--items")?,
                "--stock" => options.stock = parse_in(&value()?, 0..=1 << 30, "--stock")?,
                "--seed" => options.seed = parse_in(&value()?, 0..=u64::MAX, "--seed")?,
                "--ttl-ms" => options.ttl = millis(value()?, "--ttl-ms")?,
                "--arrival-ms" => options.arrival = millis(value()?, "--arrival-ms")?,
                "--reaper-ms" => options.reaper = millis(value()?, "--reaper-ms")?,
                "--runtime" => {
                    options.runtimes = match value()?.as_str() {
                        "both" => vec![Flavor::MultiThread, Flavor::CurrentThread],
                        "multi" => vec![Flavor::MultiThread],
                        "current" => vec![Flavor::CurrentThread],
                        other => return Err(format!("--runtime: unknown {other:?}")),
                    }
                }
                "--decline" => options.decline = parse_in(&value()?, 0.0..=1.0, "--decline")?,
                "--timeout" => options.timeout = parse_in(&value()?, 0.0..=1.0, "--timeout")?,
                "--slow" => options.slow = parse_in(&value()?, 0.0..=1.0, "--slow")?,
                "--abandon" => options.abandon = parse_in(&value()?, 0.0..=1.0, "--abandon")?,
                "--control-block-ms" => {
                    let ms = parse_in(&value()?, 0..=MAX_MILLIS, "--control-block-ms")?;
                    options.control_block = Duration::from_millis(ms);
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown option {other}")),
            }
        }
        if options.decline + options.timeout + options.slow + options.abandon > 1.0 {
            return Err("--decline + --timeout + --slow + --abandon must be at most 1".into());
        }
        Ok(options)
    }
}

fn parse_in<T>(text: &str, range: std::ops::RangeInclusive<T>, flag: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Debug,
{
    match text.trim().parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(format!(
            "{flag}: expected a number in {range:?}, got {text:?}"
        )),
    }
}

/// xorshift64: a few cycles per number and no dependency. Its quality does not matter here.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's fixed point; an odd multiple of the golden ratio never is.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[low, high]`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// A stateless mix of two numbers (for per-order choices made outside the plan).
fn mix(a: u64, b: u64) -> u64 {
    let mut x = (a ^ b.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x
}

/// What the plan asked of one order (for the report; the manager never sees it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Behaviour {
    Pays,
    Declines,
    TimesOut,
    PaysSlowly,
    Abandons,
}

/// One order of the plan: when it arrives, what it is, and what its customer will do.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    arrival: Duration,
    order: Order,
    behaviour: Behaviour,
}

/// Every order of a run, drawn from the seed alone.
pub(crate) fn plan(options: &Options) -> Vec<Planned> {
    let mut rng = XorShift::new(options.seed);
    // Popularity 1 / (rank + 1): cumulative weights, searched with a uniform draw.
    let mut cumulative = Vec::with_capacity(options.items);
    let mut total = 0.0;
    for rank in 0..options.items {
        total += 1.0 / (rank + 1) as f64;
        cumulative.push(total);
    }
    (0..options.orders as u64)
        .map(|number| {
            let arrival = options.arrival.mul_f64(rng.unit());
            let wanted = rng.between(1, MAX_CART_LINES).min(options.items as u64) as usize;
            let mut lines: Vec<Line> = Vec::with_capacity(wanted);
            while lines.len() < wanted {
                let draw = rng.unit() * total;
                let index = cumulative.partition_point(|&c| c <= draw);
                let item = ItemId::new(index.min(options.items - 1) as u32);
                if lines.iter().all(|l| l.item != item) {
                    lines.push(Line::new(item, rng.between(1, MAX_LINE_UNITS) as i64));
                }
            }
            let short = Duration::from_millis(rng.between(2, 30));
            // The behaviours take consecutive bands of [0, 1); the rest pays.
            let draw = rng.unit();
            let behaviour = [
                (options.decline, Behaviour::Declines),
                (options.timeout, Behaviour::TimesOut),
                (options.slow, Behaviour::PaysSlowly),
                (options.abandon, Behaviour::Abandons),
            ]
            .into_iter()
            .scan(0.0, |upto, (share, behaviour)| {
                *upto += share;
                Some((*upto, behaviour))
            })
            .find(|&(upto, _)| draw < upto)
            .map_or(Behaviour::Pays, |(_, behaviour)| behaviour);
            let (low, high) = SLOW_PAYMENT_TTLS;
            let slow = options.ttl.mul_f64(low + (high - low) * rng.unit());
            let checkout = match behaviour {
                Behaviour::Pays => Checkout::Pay(Charge::Approve { after: short }),
                Behaviour::Declines => Checkout::Pay(Charge::Decline { after: short }),
                Behaviour::TimesOut => Checkout::Pay(Charge::NoAnswer),
                Behaviour::PaysSlowly => Checkout::Pay(Charge::Approve { after: slow }),
                Behaviour::Abandons => Checkout::Abandon,
            };
            Planned {
                arrival,
                order: Order {
                    number,
                    lines,
                    checkout,
                },
                behaviour,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One run on one runtime flavour, and its checks.
// ---------------------------------------------------------------------------------------------

/// A tokio runtime flavour.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    MultiThread,
    CurrentThread,
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flavor::MultiThread => "multi-thread",
            Flavor::CurrentThread => "current-thread",
        })
    }
}

/// What the manager's orders came to, counted from its reports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) submitted: usize,
    pub(crate) placed: usize,
    pub(crate) out_of_stock: usize,
    pub(crate) fulfilled: usize,
    pub(crate) fulfilled_slow: usize,
    pub(crate) extends: u64,
    pub(crate) declined: usize,
    pub(crate) timed_out: usize,
    pub(crate) hold_expired: usize,
    pub(crate) abandoned: usize,
    pub(crate) released: usize,
    pub(crate) unexpected: Vec<String>,
    /// Units of the confirmed orders, per item.
    pub(crate) sold: Vec<i64>,
}

/// Everything one run found.
#[derive(Debug)]
pub(crate) struct RunReport {
    pub(crate) flavor: Flavor,
    pub(crate) workers: usize,
    /// From the first arrival to the last order's end.
    pub(crate) orders_took: Duration,
    pub(crate) tally: Tally,
    /// From the last deadline to no live reservation left, if that happened.
    pub(crate) settled_after: Option<Duration>,
    /// Sorted.
    pub(crate) tick_lags: Vec<Duration>,
    /// Each order task's longest poll, sorted.
    pub(crate) longest_polls: Vec<Duration>,
    pub(crate) stats: atomic_stock::Stats,
    pub(crate) expiry_lag: atomic_stock::LagHistogram,
    pub(crate) audit: Result<atomic_stock::AuditReport, atomic_stock::AuditError>,
    /// Every check that failed, with the facts. Empty: stock conserved.
    pub(crate) failures: Vec<(Check, String)>,
}

/// The checks of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Check {
    /// The flow got only answers it expects.
    Answers,
    /// Per item, from `item()`: `received = available + held + sold`, and `received` is the
    /// stock put on the shelf.
    Ledger,
    /// Per item, `sold` equals the units of the orders the manager confirmed.
    Sold,
    /// Once the reaper has run past every deadline, nothing is held or in flight, and no
    /// reservation is live.
    NothingHeld,
    /// Every abandoned reservation ended `Expired`.
    AbandonedExpired,
    /// `stats()` agrees with the manager's tally of reserves, confirms, releases, extends and
    /// expiries.
    Counters,
    /// `audit()` passes.
    Audit,
}

/// Runs the whole plan on a fresh inventory and a fresh runtime of the given flavour, then
/// checks the stock.
pub(crate) fn run_on(flavor: Flavor, options: &Options, plan: &[Planned]) -> RunReport {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // The default shard count, set here so that the remembered outcomes can be sized: every
    // reservation's outcome stays known (for the status check of abandoned orders) even if a
    // single shard created them all, as on the current-thread runtime.
    let shards = (2 * cores).next_power_of_two();
    let inventory = Arc::new(
        Inventory::builder()
            .reaper(options.reaper)
            .shards(shards)
            .finished_memory(options.orders * shards)
            .build(),
    );
    for index in 0..options.items {
        let item = inventory
            .register_item(options.stock)
            .expect("--stock is within the crate's bounds");
        assert_eq!(item.get() as usize, index, "item ids are dense from 0");
    }
    let mut builder = match flavor {
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = builder.enable_time().build().expect("a tokio runtime");
    let workers = runtime.metrics().num_workers();

    // A blocked current-thread runtime never comes back; say so instead of hanging.
    let (finished, watch) = std::sync::mpsc::channel::<()>();
    let limit = options.arrival + options.ttl * 8 + Duration::from_secs(30);
    let watchdog = std::thread::spawn(move || {
        if watch.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            eprintln!("order_manager: the {flavor} run is stuck after {limit:?}: executor blocked");
            std::process::exit(2);
        }
    });

    let fulfilment = Fulfilment {
        control_block: options.control_block,
    };
    let manager = Arc::new(OrderManager::new(
        inventory.clone(),
        options.ttl,
        fulfilment,
    ));
    let (results, orders_took, tick_lags, settled_after) = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = tokio::spawn(tick_lags(TICK, stop.clone()));
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = plan
            .iter()
            .map(|planned| {
                let manager = manager.clone();
                let order = planned.order.clone();
                let arrival = start + planned.arrival;
                tokio::spawn(Timed::new(async move {
                    tokio::time::sleep_until(arrival).await;
                    manager.place(&order).await
                }))
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.expect("an order task panicked"));
        }
        let orders_took = start.elapsed();
        // Relaxed: a stop flag; the ticker's samples come back through its join handle.
        stop.store(true, Ordering::Relaxed);
        let tick_lags = ticker.await.expect("the ticker panicked");
        let last_deadline = results.iter().filter_map(|(r, _)| r.deadline).max();
        let settled_after = wait_for_reaper(&inventory, last_deadline, options.reaper).await;
        (results, orders_took, tick_lags, settled_after)
    });
    drop(finished);
    watchdog.join().expect("the watchdog panicked");
    drop(runtime);

    let mut longest_polls: Vec<Duration> = results.iter().map(|&(_, longest)| longest).collect();
    longest_polls.sort_unstable();
    let mut tick_lags = tick_lags;
    tick_lags.sort_unstable();
    let reports: Vec<OrderReport> = results.into_iter().map(|(report, _)| report).collect();
    let tally = tally(options, plan, &reports);
    let mut report = RunReport {
        flavor,
        workers,
        orders_took,
        settled_after,
        tick_lags,
        longest_polls,
        stats: inventory.stats(),
        expiry_lag: inventory.expiry_lag(),
        audit: inventory.audit(),
        failures: Vec::new(),
        tally,
    };
    report.failures = check(&inventory, options, &reports, &report);
    report
}

/// Waits until the reaper has expired every reservation left, from the last deadline on, and
/// returns how long after the last deadline that was (`None`: not within 20 reaper ticks and
/// 2 s, a bound for a reaper that never comes, generous for a busy machine). The manager never
/// calls `expire_due`, and neither does this: only the reaper may settle them.
async fn wait_for_reaper(
    inventory: &Inventory,
    last_deadline: Option<Instant>,
    tick: Duration,
) -> Option<Duration> {
    let Some(last) = last_deadline else {
        return Some(Duration::ZERO);
    };
    let give_up = last + tick * 20 + Duration::from_secs(2);
    tokio::time::sleep_until(tokio::time::Instant::from_std(last)).await;
    loop {
        if inventory.live_reservations() == 0 {
            return Some(Instant::now().saturating_duration_since(last));
        }
        if Instant::now() >= give_up {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn tally(options: &Options, plan: &[Planned], reports: &[OrderReport]) -> Tally {
    let mut tally = Tally {
        submitted: reports.len(),
        sold: vec![0; options.items],
        ..Tally::default()
    };
    for (planned, report) in plan.iter().zip(reports) {
        tally.placed += usize::from(report.reservation.is_some());
        tally.extends += u64::from(report.extends);
        tally.released += usize::from(report.released);
        match &report.outcome {
            Outcome::Fulfilled => {
                tally.fulfilled += 1;
                tally.fulfilled_slow += usize::from(planned.behaviour == Behaviour::PaysSlowly);
                for line in &planned.order.lines {
                    tally.sold[line.item.get() as usize] += line.quantity;
                }
            }
            Outcome::OutOfStock => tally.out_of_stock += 1,
            Outcome::Declined => tally.declined += 1,
            Outcome::PaymentTimedOut => tally.timed_out += 1,
            Outcome::Abandoned => tally.abandoned += 1,
            Outcome::HoldExpired => tally.hold_expired += 1,
            // The in-process backend cannot fail, so here this is unexpected too.
            Outcome::BackendFailed(what) | Outcome::Unexpected(what) => {
                tally.unexpected.push(what.clone());
            }
        }
    }
    tally
}

/// Every check of the run; returns the failures.
fn check(
    inventory: &Inventory,
    options: &Options,
    reports: &[OrderReport],
    run: &RunReport,
) -> Vec<(Check, String)> {
    let mut failures = Vec::new();
    let mut expect = |check: Check, ok: bool, what: String| {
        if !ok {
            failures.push((check, what));
        }
    };
    let tally = &run.tally;
    for what in &tally.unexpected {
        expect(Check::Answers, false, format!("unexpected answer: {what}"));
    }
    expect(
        Check::NothingHeld,
        run.settled_after.is_some(),
        "reservations still live 20 reaper ticks and 2 s after the last deadline".into(),
    );
    for index in 0..options.items {
        let item = ItemId::new(index as u32);
        let Some(levels) = inventory.item(item) else {
            expect(Check::Ledger, false, format!("{item}: unknown"));
            continue;
        };
        // `item()` derives `held` from the other three counts, so this identity holds whenever
        // they were read at quiescence; the independent recount of `held` is `audit()`.
        expect(
            Check::Ledger,
            levels.received == levels.available + levels.held + levels.sold
                && levels.received == options.stock,
            format!(
                "{item}: {levels:?}, stock put on the shelf {}",
                options.stock
            ),
        );
        expect(
            Check::NothingHeld,
            levels.held == 0 && levels.in_flight == 0,
            format!("{item}: stock still held or in flight after the reaper ran: {levels:?}"),
        );
        expect(
            Check::Sold,
            levels.sold == tally.sold[index],
            format!(
                "{item}: sold {} != {} units confirmed by the manager",
                levels.sold, tally.sold[index]
            ),
        );
    }
    match &run.audit {
        Ok(audit) => expect(
            Check::NothingHeld,
            audit.live_reservations == 0 && audit.held == 0,
            format!("audit: reservations still live: {audit:?}"),
        ),
        Err(e) => expect(Check::Audit, false, format!("audit: {e}")),
    }
    for report in reports.iter().filter(|r| r.outcome == Outcome::Abandoned) {
        let id = report
            .reservation
            .expect("an abandoned order had a reservation");
        let status = inventory.status(id);
        expect(
            Check::AbandonedExpired,
            status == Ok(ReservationState::Expired),
            format!("abandoned {id}: {status:?}, not expired"),
        );
    }
    // Every reservation ends once: confirmed, released, or (everything the manager neither
    // confirmed nor released) expired.
    let stats = &run.stats;
    let counters = [
        ("reserves", stats.reserves, tally.placed),
        ("confirms", stats.confirms, tally.fulfilled),
        ("releases", stats.releases, tally.released),
        (
            "expiries",
            stats.expiries,
            tally.placed - tally.fulfilled - tally.released,
        ),
        ("extends", stats.extends, tally.extends as usize),
    ];
    for (name, crate_count, manager_count) in counters {
        expect(
            Check::Counters,
            crate_count == manager_count as u64,
            format!("stats().{name} = {crate_count}, the manager counted {manager_count}"),
        );
    }
    failures
}

// ---------------------------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------------------------

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn print_plan(options: &Options, plan: &[Planned]) {
    let count = |b: Behaviour| plan.iter().filter(|p| p.behaviour == b).count();
    let units: i64 = plan
        .iter()
        .flat_map(|p| &p.order.lines)
        .map(|l| l.quantity)
        .sum();
    println!(
        "order_manager: {} orders arriving over {} ms; {} items x {} units; ttl {} ms; \
         reaper tick {} ms; seed {}",
        options.orders,
        options.arrival.as_millis(),
        options.items,
        options.stock,
        options.ttl.as_millis(),
        options.reaper.as_millis(),
        options.seed,
    );
    println!(
        "plan (from the seed): {} pay, {} declined, {} provider never answers, {} pay slowly, \
         {} abandon; {} units wanted, {} on the shelves",
        count(Behaviour::Pays),
        count(Behaviour::Declines),
        count(Behaviour::TimesOut),
        count(Behaviour::PaysSlowly),
        count(Behaviour::Abandons),
        units,
        options.stock * options.items as i64,
    );
    if !options.control_block.is_zero() {
        println!(
            "CONTROL: one fulfilment in {CONTROL_BLOCK_EVERY} blocks its executor thread for {} \
             ms (std::thread::sleep)",
            options.control_block.as_millis()
        );
    }
}

fn print_run(run: &RunReport) {
    let t = &run.tally;
    let ok = |pass: bool| if pass { "ok" } else { "FAILED" };
    println!();
    println!(
        "{} runtime ({} worker thread{}): orders done in {} ms (timings noisy)",
        run.flavor,
        run.workers,
        if run.workers == 1 { "" } else { "s" },
        run.orders_took.as_millis()
    );
    println!("  orders submitted                  {:6}", t.submitted);
    println!(
        "    refused for stock               {:6}   (nothing reserved)",
        t.out_of_stock
    );
    println!("    placed (stock reserved)         {:6}", t.placed);
    println!(
        "      paid, confirmed, fulfilled    {:6}   ({} slow payments, {} extends)",
        t.fulfilled, t.fulfilled_slow, t.extends
    );
    println!(
        "      failed: payment declined      {:6}   (released at once)",
        t.declined
    );
    println!(
        "      failed: payment timed out     {:6}   (released at once)",
        t.timed_out
    );
    println!(
        "      failed: hold expired first    {:6}   (payment too late, refunded)",
        t.hold_expired
    );
    println!(
        "      abandoned, left to expire     {:6}   (expired: {} by stats().expiries)",
        t.abandoned, run.stats.expiries
    );
    if !t.unexpected.is_empty() {
        println!(
            "      UNEXPECTED answers            {:6}",
            t.unexpected.len()
        );
    }
    let lag = |q| {
        run.expiry_lag
            .quantile(q)
            .map_or("-".to_string(), |d| format!("≤ {}", ms(d)))
    };
    println!(
        "  expiry: every hold gone {} after the last deadline; expiry lag p50 {}, max {}",
        run.settled_after.map_or("NOT".to_string(), ms),
        lag(0.5),
        lag(1.0),
    );
    let failures = &run.failures;
    let passed = |check: Check| ok(failures.iter().all(|&(c, _)| c != check));
    println!(
        "  every answer one the flow expects                     {}",
        passed(Check::Answers)
    );
    println!("  stock conserved:");
    println!(
        "    received = available + held + sold, every item      {}",
        passed(Check::Ledger)
    );
    println!(
        "    sold = units of the orders the manager confirmed    {}   ({} units)",
        passed(Check::Sold),
        t.sold.iter().sum::<i64>()
    );
    println!(
        "    nothing held or in flight after the reaper ran      {}",
        passed(Check::NothingHeld)
    );
    println!(
        "    every abandoned reservation ended Expired           {}",
        passed(Check::AbandonedExpired)
    );
    println!(
        "    stats() agree with the manager's tally              {}",
        passed(Check::Counters)
    );
    match &run.audit {
        Ok(audit) => println!(
            "    audit()                                             {}   ({} available + {} \
             held + {} sold)",
            passed(Check::Audit),
            audit.available,
            audit.held,
            audit.sold
        ),
        Err(e) => println!("    audit()                                             FAILED: {e}"),
    }
    println!("  executor (noisy; a blocked thread would show as lag of the blocked duration):");
    println!(
        "    lag of a {} ms tick: p50 {}, p99 {}, max {}  ({} ticks)",
        TICK.as_millis(),
        ms(quantile(&run.tick_lags, 0.5)),
        ms(quantile(&run.tick_lags, 0.99)),
        ms(quantile(&run.tick_lags, 1.0)),
        run.tick_lags.len()
    );
    println!(
        "    longest poll of an order task: p50 {}, p99 {}, max {}",
        ms(quantile(&run.longest_polls, 0.5)),
        ms(quantile(&run.longest_polls, 0.99)),
        ms(quantile(&run.longest_polls, 1.0)),
    );
    println!(
        "    shortfall decisions that waited for in-flight operations: {} of {} \
         (stats().waits, .shortfalls)",
        run.stats.waits, run.stats.shortfalls
    );
    for (check, what) in failures {
        println!("  FAILED ({check:?}): {what}");
    }
}

/// Runs the plan on every requested runtime; returns the reports.
pub(crate) fn run(options: &Options, print: bool) -> Vec<RunReport> {
    let plan = plan(options);
    if print {
        print_plan(options, &plan);
    }
    options
        .runtimes
        .iter()
        .map(|&flavor| {
            let report = run_on(flavor, options, &plan);
            if print {
                print_run(&report);
            }
            report
        })
        .collect()
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let reports = run(&options, true);
    let failed: usize = reports.iter().map(|r| r.failures.len()).sum();
    println!();
    if failed == 0 {
        println!("all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("{failed} checks FAILED");
        ExitCode::FAILURE
    }
}
