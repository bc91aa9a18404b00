//! The cart registry: live carts, each with its one live reservation, in a lock-free hash table
//! whose entries leave the table the moment their reservation finishes.
//!
//! # Layout
//!
//! A fixed array of buckets (a power of two, chosen at construction); each bucket is a sorted
//! Harris–Michael linked list of [`Entry`]s keyed by cart id. An entry holds its cart's
//! reservation: a pointer to an immutable [`Hold`] (lines and deadline) whose two low tag bits
//! are the reservation's state. Memory is reclaimed through crossbeam-epoch.
//!
//! # One writer at a time per cart, without a lock
//!
//! Every change to a cart's reservation (adding lines, replacing them, extending, partial
//! release) builds a new `Hold` and swaps it in with one compare-and-swap on the entry's hold
//! pointer, expecting the exact `Hold` it read *in state HELD*. Two racing writers cannot both
//! succeed; the loser gives back what it took for its attempt and retries on what the winner
//! left. Confirm, release and expiry are the same compare-and-swap, keeping the pointer and
//! changing the tag from HELD to a final state: exactly one of them wins, and the winner alone
//! settles the stock (returns it, or counts it sold). A `Hold` is never modified in place, so a
//! reader holding a pointer sees a consistent snapshot.
//!
//! # Retire at once, reclaim safely
//!
//! The winner of a final transition retires the entry: it marks the entry's `next` pointer
//! (logical deletion, Harris) and unlinks it (Michael); any traversal that meets a marked entry
//! helps unlink it. A thread that still holds a reference to a retired entry can only read it:
//! the entry's hold is in a final state, so every compare-and-swap on it fails, and the thread
//! retries from the bucket, where it finds no entry or a fresh one for the same cart. The entry
//! is freed by the thread whose compare-and-swap unlinked it, through a deferred function, once no
//! pinned thread can still see it. This is what the seed's map of per-cart locks got wrong in
//! both directions: it either never removed entries, or removed them while another thread was
//! about to lock the removed one.

use crate::ids::Line;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::thread_local;
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use std::cell::RefCell;
use std::mem::MaybeUninit;

/// The cart of an entry just linked under a guard.
fn cart_of(entry: &Shared<'_, Entry>) -> u64 {
    // SAFETY: the caller linked it under the guard that `entry` borrows; it cannot be freed
    // before that guard is dropped.
    unsafe { entry.deref() }.cart
}

/// Entry allocations a thread keeps for reuse (about 100 bytes each).
///
/// Every reservation needs an entry, and with hundreds of threads the allocator's arena locks
/// became the bottleneck (glibc: at 256 threads on 2 cores, most threads were found waiting on
/// an arena mutex inside `malloc`). Retired entries are dropped in place by the epoch collector
/// and their memory is kept by the collecting thread for its next reservations.
const SPARE_ENTRIES: usize = 256;

/// The boxes are the point: they are the allocations being recycled.
#[allow(clippy::vec_box)]
type Spares = Vec<Box<MaybeUninit<Entry>>>;

#[cfg(not(loom))]
thread_local! {
    static SPARE: RefCell<Spares> = const { RefCell::new(Vec::new()) };
}

// loom's `thread_local!` has no const form.
#[cfg(loom)]
thread_local! {
    static SPARE: RefCell<Spares> = RefCell::new(Vec::new());
}

/// An entry retired from the registry, on its way back to a thread's spares. Only the deferred
/// function that owns it touches it.
struct Retired(*mut Entry);

// SAFETY: the pointer is unique: the entry was unlinked by the thread that creates this, no
// new reference to it can be made, and the deferred function runs only once every thread that
// could still hold an old reference has unpinned.
unsafe impl Send for Retired {}

impl Retired {
    /// Drops the entry and keeps its memory for reuse on this thread (or frees it).
    fn recycle(self) {
        crate::carts::epoch::reclaimed();
        // SAFETY: see `Send` above: we own the entry and nobody else can reach it. After
        // `drop_in_place` the allocation holds no live value, which `MaybeUninit` expresses.
        let spare = unsafe {
            std::ptr::drop_in_place(self.0);
            Box::from_raw(self.0.cast::<MaybeUninit<Entry>>())
        };
        // A full (or busy, or torn down) cache: `spare` drops and frees the memory.
        let _ = SPARE.try_with(|cache| match cache.try_borrow_mut() {
            Ok(mut cache) if cache.len() < SPARE_ENTRIES => cache.push(spare),
            _ => drop(spare),
        });
    }
}

/// A hold replaced in its entry, waiting for its epoch. Only the deferred function that owns it
/// touches it.
struct RetiredHold(*mut Hold);

// SAFETY: as for `Retired`: the hold was unlinked by the thread that creates this, and the
// deferred function runs once every thread that could still hold an old reference unpinned.
unsafe impl Send for RetiredHold {}

impl RetiredHold {
    fn free(self) {
        crate::carts::epoch::reclaimed();
        // SAFETY: see `Send` above: the hold was allocated by `Owned::new` in `replace`'s
        // caller (a `Box`), and nobody else can reach it.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// Reservation states, stored in the two low tag bits of [`Entry::hold`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// Stock is held; the reservation may still change.
    Held = 0,
    /// Final: the held stock was sold.
    Confirmed = 1,
    /// Final: the held stock was returned by the caller.
    Released = 2,
    /// Final: the held stock was returned because the deadline passed.
    Expired = 3,
}

impl State {
    fn from_tag(tag: usize) -> Self {
        match tag & 3 {
            0 => State::Held,
            1 => State::Confirmed,
            2 => State::Released,
            _ => State::Expired,
        }
    }
}

/// Lines kept inside a [`Hold`] without a separate allocation.
const INLINE_HOLD_LINES: usize = 4;

/// A hold's lines: inline for small carts (the common case: no allocation), boxed otherwise.
#[derive(Debug)]
enum HoldLines {
    Inline(u8, [Line; INLINE_HOLD_LINES]),
    Boxed(Box<[Line]>),
}

/// A reservation's contents: immutable once published.
#[derive(Debug)]
pub(crate) struct Hold {
    /// Nanoseconds since the inventory's origin.
    pub(crate) deadline: u64,
    lines: HoldLines,
}

impl Hold {
    /// A hold of `lines` (canonical: one per item, ascending) until `deadline`.
    pub(crate) fn new(deadline: u64, lines: impl ExactSizeIterator<Item = Line>) -> Self {
        let len = lines.len();
        let lines = if len <= INLINE_HOLD_LINES {
            let mut buf = [Line::new(crate::ids::ItemId::new(0), 0); INLINE_HOLD_LINES];
            for (slot, line) in buf.iter_mut().zip(lines) {
                *slot = line;
            }
            HoldLines::Inline(len as u8, buf)
        } else {
            HoldLines::Boxed(lines.collect())
        };
        Hold { deadline, lines }
    }

    /// One line per item, ascending by item id.
    #[inline]
    pub(crate) fn lines(&self) -> &[Line] {
        match &self.lines {
            HoldLines::Inline(len, buf) => &buf[..usize::from(*len)],
            HoldLines::Boxed(lines) => lines,
        }
    }
}

/// A live cart and its reservation.
///
/// The reservation's first hold lives inside the entry (`first`), so creating a reservation
/// allocates once; holds that replace it are allocated separately and retired through the
/// epoch. Whoever frees a hold must therefore check it is not `first`.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) cart: u64,
    /// The reservation's sequence number (see `ReservationId`).
    pub(crate) seq: u64,
    /// Next entry in the bucket; tag 1 means this entry is logically deleted.
    next: Atomic<Entry>,
    /// The reservation; tag = [`State`]. Points to `first` until the first replacement.
    hold: Atomic<Hold>,
    /// The hold the entry was created with.
    first: Hold,
}

/// A hold pointer as read, with its state.
#[derive(Clone, Copy)]
pub(crate) struct Snapshot<'g> {
    pub(crate) ptr: Shared<'g, Hold>,
    pub(crate) state: State,
}

impl<'g> Snapshot<'g> {
    /// The hold's contents.
    pub(crate) fn hold(&self) -> &'g Hold {
        // SAFETY: an entry's hold pointer is never null (set at creation, replaced only by
        // other non-null holds), and the snapshot was loaded under the guard `'g`, which keeps
        // the hold from being freed while it is borrowed.
        unsafe { self.ptr.deref() }
    }
}

impl Entry {
    pub(crate) fn new(cart: u64, seq: u64, first: Hold) -> Owned<Entry> {
        let value = Entry {
            cart,
            seq,
            next: Atomic::null(),
            hold: Atomic::null(),
            first,
        };
        let spare = SPARE
            .try_with(|cache| cache.try_borrow_mut().ok().and_then(|mut c| c.pop()))
            .ok()
            .flatten();
        let entry: Owned<Entry> = Owned::from(match spare {
            Some(mut spare) => {
                spare.write(value);
                // SAFETY: the allocation was made for an `Entry` (same layout as
                // `MaybeUninit<Entry>`) and now holds an initialized one.
                unsafe { Box::from_raw(Box::into_raw(spare).cast::<Entry>()) }
            }
            None => Box::new(value),
        });
        // The entry is on the heap already and never moves, so its own `first` can be the
        // initial hold. Relaxed: the entry is unpublished; its insertion (Release) publishes it.
        entry
            .hold
            .store(Shared::from(&entry.first as *const Hold), Ordering::Relaxed);
        entry
    }

    /// The hold the entry was created with (its reservation's first hold, whatever the entry
    /// holds now).
    pub(crate) fn first_hold(&self) -> &Hold {
        &self.first
    }

    /// Whether `hold` is the entry's embedded first hold (never freed on its own).
    fn is_first(&self, hold: Shared<'_, Hold>) -> bool {
        std::ptr::eq(hold.as_raw(), &self.first)
    }

    /// The current reservation.
    #[inline]
    pub(crate) fn snapshot<'g>(&self, guard: &'g Guard) -> Snapshot<'g> {
        // Acquire: pairs with the Release of the compare-and-swap that installed this hold
        // (`replace`, or the insertion of the entry), so its lines and deadline are visible.
        let ptr = self.hold.load(Ordering::Acquire, guard);
        Snapshot {
            ptr,
            state: State::from_tag(ptr.tag()),
        }
    }

    /// Replaces a HELD hold by a new one and returns it as installed (alive while `guard` is,
    /// even if another thread replaces it in turn). Fails (returning the new hold) if the hold
    /// is no longer `current` in state HELD.
    pub(crate) fn replace<'g>(
        &self,
        current: Snapshot<'g>,
        new: Owned<Hold>,
        guard: &'g Guard,
    ) -> Result<&'g Hold, Owned<Hold>> {
        debug_assert_eq!(current.state, State::Held);
        // AcqRel on success: Release publishes the new hold's contents to readers'
        // Acquire loads in `snapshot`, and carries the caller's announcements (made before
        // this swap) to them; Acquire orders what follows (settling stock for the replaced
        // hold) after every write that preceded the replaced hold's publication. Acquire on
        // failure: pairs with the winner's Release as in `finish` (the loser resolves its
        // announcements next); the caller then reloads and decides again.
        match self.hold.compare_exchange(
            current.ptr.with_tag(State::Held as usize),
            new.with_tag(State::Held as usize),
            Ordering::AcqRel,
            Ordering::Acquire,
            guard,
        ) {
            Ok(installed) => {
                if !self.is_first(current.ptr) {
                    crate::carts::epoch::retired();
                    let replaced = RetiredHold(current.ptr.as_raw().cast_mut());
                    // The replaced hold was allocated by `replace` (it is not the embedded first
                    // hold) and is unreachable from the entry now; threads that loaded it
                    // before are pinned, and deferred functions wait for them.
                    guard.defer(move || replaced.free());
                }
                Ok(Snapshot {
                    ptr: installed,
                    state: State::Held,
                }
                .hold())
            }
            Err(e) => Err(e.new),
        }
    }

    /// Moves the reservation from HELD to a final state, keeping its hold. The caller that gets
    /// `true` won the reservation and must settle its stock and retire the entry.
    pub(crate) fn finish(&self, current: Snapshot<'_>, to: State, guard: &Guard) -> bool {
        debug_assert_eq!(current.state, State::Held);
        debug_assert_ne!(to, State::Held);
        // Release on success: pairs with the Acquire load in `snapshot` of any thread that sees
        // the final state, carrying the caller's announcements (`Slot::announce`, before this
        // swap) to it: having seen the state, it sees the units in flight or back. Nothing to
        // acquire: the hold's lines were acquired by the `snapshot` load of this same pointer,
        // which a pinned thread never sees reused. Acquire on failure, needed: it pairs with the winner's Release, so
        // the winner's announcements happen-before the loser's `commit` of its own; a decider
        // that sees the loser's count drop then also sees the winner's announcement (or its
        // units back), never a word with nothing in flight and the units still missing.
        self.hold
            .compare_exchange(
                current.ptr.with_tag(State::Held as usize),
                current.ptr.with_tag(to as usize),
                Ordering::Release,
                Ordering::Acquire,
                guard,
            )
            .is_ok()
    }

    fn is_deleted(&self, guard: &Guard) -> bool {
        // Acquire: pairs with the Release of the marking `fetch_or` in `Registry::retire`.
        self.next.load(Ordering::Acquire, guard).tag() == 1
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: an entry is dropped only when it is unreachable (unlinked and past every
        // guard, or the registry is being dropped), so nobody else can access its hold; a hold
        // other than the embedded `first` was allocated by `replace` and is owned by the entry.
        unsafe {
            // Relaxed: `&mut self`; the entry's last writers are ordered before this drop by
            // the epoch (deferred functions run after every pinned thread moved on) or by the
            // registry's `&mut` drop.
            let hold = self.hold.load(Ordering::Relaxed, epoch::unprotected());
            if !hold.is_null() && !self.is_first(hold) {
                drop(hold.into_owned());
            }
        }
    }
}

/// Where a cart is, or would be inserted, in its bucket.
pub(crate) struct Position<'g> {
    prev: &'g Atomic<Entry>,
    curr: Shared<'g, Entry>,
}

impl<'g> Position<'g> {
    /// The live entry for the searched cart, if it exists.
    pub(crate) fn found(&self, cart: u64) -> Option<&'g Entry> {
        // SAFETY: `curr` was loaded under the guard `'g` that the position borrows.
        unsafe { self.curr.as_ref() }.filter(|e| e.cart == cart)
    }
}

/// A bucket: the head of its list, and a count of the entries ever inserted into it (see
/// [`Registry::creations`]), on the same cache line, which an insertion has just touched.
#[derive(Debug)]
struct Bucket {
    head: Atomic<Entry>,
    creations: AtomicU64,
}

/// The cart registry.
#[derive(Debug)]
pub(crate) struct Registry {
    buckets: Box<[Bucket]>,
    shift: u32,
}

impl Registry {
    /// A registry with `2^bucket_bits` buckets.
    pub(crate) fn new(bucket_bits: u32) -> Self {
        debug_assert!((0..=24).contains(&bucket_bits));
        Registry {
            buckets: (0..1usize << bucket_bits)
                .map(|_| Bucket {
                    head: Atomic::null(),
                    creations: AtomicU64::new(0),
                })
                .collect(),
            shift: 64 - bucket_bits,
        }
    }

    /// A count of the entries inserted so far into `cart`'s bucket. A caller that
    /// reads it, finds no entry for `cart`, and reads the same count again later knows the cart
    /// had no entry in between: an entry inserted and already retired leaves the count changed.
    ///
    /// Exact for stock decisions: an inserter counts its entry after linking it and before it
    /// commits the stock the entry holds, so a reader that sees the count moved finds the entry,
    /// and a reader whose stock read saw that stock committed sees the count moved.
    pub(crate) fn creations(&self, cart: u64) -> u64 {
        // Acquire: pairs with the Release increment in `insert`, so a `find` after a read that
        // returns the new count sees the entry; and, for a read after a take, with the same
        // increment through the inserter's stock commit (see above).
        self.slot(cart).creations.load(Ordering::Acquire)
    }

    #[inline]
    fn slot(&self, cart: u64) -> &Bucket {
        // Fibonacci hashing: spreads sequential cart ids over the buckets.
        let index = if self.shift == 64 {
            0
        } else {
            (cart.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
        };
        &self.buckets[index]
    }

    #[inline]
    fn bucket(&self, cart: u64) -> &Atomic<Entry> {
        &self.slot(cart).head
    }

    /// Finds `cart`'s position: the first entry with a key `>= cart`, and the link to it.
    /// Unlinks every logically deleted entry it passes (Michael's search).
    pub(crate) fn find<'g>(&'g self, cart: u64, guard: &'g Guard) -> Position<'g> {
        'retry: loop {
            let mut prev = self.bucket(cart);
            // Acquire: pairs with the Release of the insertion that published the entry.
            let mut curr = prev.load(Ordering::Acquire, guard);
            loop {
                // SAFETY: loaded under `guard`; entries are freed only after every guard that
                // could have loaded them is dropped.
                let Some(entry) = (unsafe { curr.as_ref() }) else {
                    return Position { prev, curr };
                };
                // Acquire: as above, for the successor.
                let next = entry.next.load(Ordering::Acquire, guard);
                if next.tag() == 1 {
                    // `entry` is deleted: unlink it. AcqRel on success: Release pairs with
                    // the Acquire loads of links in `find`/`for_each`, passing on the successor's
                    // publication (acquired by the load of `next` above) and the mark; Acquire:
                    // the unlinker has seen the entry's final writes before scheduling its
                    // destruction. Relaxed on failure: the value is dropped and the search
                    // restarts with Acquire loads.
                    match prev.compare_exchange(
                        curr,
                        next.with_tag(0),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                        guard,
                    ) {
                        Ok(_) => {
                            let retired = Retired(curr.as_raw().cast_mut());
                            crate::carts::epoch::retired();
                            // We unlinked it, so no new reference can be made; existing ones
                            // are pinned, and deferred functions wait for them.
                            guard.defer(move || retired.recycle());
                            curr = next.with_tag(0);
                            continue;
                        }
                        Err(_) => continue 'retry,
                    }
                }
                if entry.cart >= cart {
                    return Position { prev, curr };
                }
                prev = &entry.next;
                curr = next;
            }
        }
    }

    /// The live entry for `cart`. An entry whose reservation already reached a final state is
    /// still returned until it is unlinked; callers check the state.
    pub(crate) fn get<'g>(&'g self, cart: u64, guard: &'g Guard) -> Option<&'g Entry> {
        self.find(cart, guard).found(cart)
    }

    /// Links `entry` at `position` (found by [`find`](Registry::find) for its cart, which was
    /// absent). Fails, returning the entry, if the bucket changed there meanwhile.
    pub(crate) fn insert<'g>(
        &self,
        position: &Position<'g>,
        entry: Owned<Entry>,
        guard: &'g Guard,
    ) -> Result<&'g Entry, Owned<Entry>> {
        // Relaxed: the entry is not published yet; the compare-and-swap below publishes it.
        entry.next.store(position.curr, Ordering::Relaxed);
        // Release on success: publishes the entry (cart, seq, hold and its contents) to the
        // Acquire loads in `find`. Relaxed on failure: the caller searches again.
        match position.prev.compare_exchange(
            position.curr,
            entry,
            Ordering::Release,
            Ordering::Relaxed,
            guard,
        ) {
            Ok(shared) => {
                // Release: pairs with the Acquire load in `creations`; a reader whose count
                // includes this entry then finds it (Relaxed would let a set_cart read the new
                // count, miss the entry, and refuse for a unit that was free: loom,
                // `set_cart_on_an_empty_cart_races_creation_and_release`). Sequenced before the
                // caller's commit of the entry's stock, which carries it to a taker's read.
                self.slot(cart_of(&shared))
                    .creations
                    .fetch_add(1, Ordering::Release);
                // SAFETY: just linked under `guard`.
                Ok(unsafe { shared.deref() })
            }
            Err(e) => Err(e.new),
        }
    }

    /// Removes an entry whose reservation reached a final state: marks it deleted, then unlinks
    /// it (here, or by whichever traversal gets there first).
    pub(crate) fn retire(&self, entry: &Entry, guard: &Guard) {
        debug_assert_ne!(entry.snapshot(guard).state, State::Held);
        // AcqRel: Release pairs with the Acquire loads of `next` in `find`, `for_each` and
        // `is_deleted`: a thread that sees the mark sees the final-state transition and the
        // outcome recorded by `remember` (both sequenced before). Nothing to acquire: the
        // unlinking below loads the links with Acquire.
        entry.next.fetch_or(1, Ordering::Release, guard);
        // Unlinks it (and any other deleted entry on the way).
        let _ = self.find(entry.cart, guard);
    }

    /// Calls `f` on every live entry. Not a snapshot: entries inserted or retired meanwhile may
    /// or may not be seen. Exact at quiescence (used by audits).
    pub(crate) fn for_each<'g>(&'g self, guard: &'g Guard, mut f: impl FnMut(&'g Entry)) {
        for bucket in self.buckets.iter() {
            // Acquire: as in `find`.
            let mut curr = bucket.head.load(Ordering::Acquire, guard);
            // SAFETY: as in `find`.
            while let Some(entry) = unsafe { curr.as_ref() } {
                if !entry.is_deleted(guard) {
                    f(entry);
                }
                // Acquire: as in `find`, pairs with the Release of the insertion or unlink
                // that wrote this link.
                curr = entry.next.load(Ordering::Acquire, guard).with_tag(0);
            }
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other thread can access the registry; entries still linked
        // were never handed to `defer_destroy` (only unlinked ones are), so freeing them here
        // frees each exactly once.
        unsafe {
            let guard = epoch::unprotected();
            for bucket in self.buckets.iter() {
                // Relaxed (here and below): `&mut self`; whatever made the registry ours (the
                // last `Arc` drop, a join) ordered every other thread's writes before this.
                let mut curr = bucket.head.load(Ordering::Relaxed, guard);
                while !curr.is_null() {
                    let next = curr.deref().next.load(Ordering::Relaxed, guard);
                    drop(curr.into_owned());
                    curr = next.with_tag(0);
                }
            }
        }
    }
}
