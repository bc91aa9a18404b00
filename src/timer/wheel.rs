//! The timer's store of pending deadlines: a hierarchical timing wheel.
//!
//! Why a wheel and not a binary heap: with a million outstanding reservations a heap's pops are
//! about twenty cache misses each (in a 24 MB heap); measured here, they were 40% of the
//! reaper's time and expiry lag reached a p99 of 134 ms at 500,000 expiries per second. A
//! timing wheel files each token in O(1) under its deadline's tick, keeps a slot's tokens
//! together in memory, and hands out a whole slot at a time when it comes due.
//!
//! Six levels of 64 slots; a level-0 slot is one tick of 2^20 ns (about 1 ms), a level-`L`
//! slot spans 64^L ticks, so the wheel's window is 64^6 ticks (2^56 ns, about 2.28 years)
//! long, aligned to a multiple of its length. A token goes to the lowest level whose current
//! window contains its tick. When the wheel advances into a higher-level slot, that slot's
//! tokens are filed again relative to the new position and fall to lower levels: each token
//! moves at most once per level. Tokens whose tick has come but whose deadline (in
//! nanoseconds) is still a moment away wait in `overdue` and are checked at every pop.
//!
//! Every deadline a `u64` of nanoseconds can express is accepted: a token beyond the current
//! top-level window waits in `far` (unordered, with its earliest deadline kept) and is filed
//! again whenever the wheel's position enters a new window, however far the clock jumps.
//! `far` is empty unless reservations live longer than the wheel's reach.

/// A reservation's deadline as the timer knows it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Token {
    /// Nanoseconds since the inventory's origin.
    pub(crate) deadline: u64,
    pub(crate) cart: u64,
    pub(crate) seq: u64,
}

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Nanoseconds per tick: 2^20 ns, about 1.05 ms.
const TICK_SHIFT: u32 = 20;
/// Bits of a tick that select a position within the top-level window.
const WINDOW_BITS: u32 = LEVELS as u32 * SLOT_BITS;

#[derive(Debug)]
struct Level {
    /// Bit `s` set: slot `s` holds tokens.
    occupied: u64,
    slots: [Vec<Token>; SLOTS],
}

impl Default for Level {
    fn default() -> Self {
        Level {
            occupied: 0,
            slots: std::array::from_fn(|_| Vec::new()),
        }
    }
}

/// Pending deadlines, owned by whoever holds the timer's mutex.
#[derive(Debug)]
pub(crate) struct Wheel {
    /// The wheel's position, in ticks: every slot before it has been handed out.
    elapsed: u64,
    /// `LEVELS` levels, on the heap: 9 KiB inline would make every `Inventory` that large to
    /// build on the stack (loom's model threads have 32 KiB).
    levels: Box<[Level]>,
    /// Tokens whose tick has come, waiting for their exact deadline.
    overdue: Vec<Token>,
    /// Tokens due beyond the current top-level window, filed again when the window moves.
    far: Vec<Token>,
    /// The earliest deadline in `far` (`u64::MAX` if empty).
    far_earliest: u64,
    /// Tokens handed out by the current `pop_due` round.
    ready: Vec<Token>,
    len: usize,
}

impl Default for Wheel {
    fn default() -> Self {
        Wheel {
            elapsed: 0,
            levels: (0..LEVELS).map(|_| Level::default()).collect(),
            overdue: Vec::new(),
            far: Vec::new(),
            far_earliest: u64::MAX,
            ready: Vec::new(),
            len: 0,
        }
    }
}

const fn tick(nanos: u64) -> u64 {
    nanos >> TICK_SHIFT
}

/// Whether ticks `a` and `b` lie in the same top-level window.
const fn same_window(a: u64, b: u64) -> bool {
    (a ^ b) >> WINDOW_BITS == 0
}

/// The level at which a token due at tick `when` is filed, seen from position `elapsed` in
/// the same top-level window: the highest 6-bit group in which the two differ.
fn level_for(elapsed: u64, when: u64) -> usize {
    debug_assert!(same_window(elapsed, when));
    let differing = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - differing.leading_zeros();
    (significant / SLOT_BITS) as usize
}

const fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level as u32 * SLOT_BITS)) & (SLOTS as u64 - 1)) as usize
}

impl Wheel {
    /// Files a token under its deadline.
    pub(crate) fn push(&mut self, token: Token) {
        self.len += 1;
        self.file(token);
    }

    fn file(&mut self, token: Token) {
        let when = tick(token.deadline);
        if when <= self.elapsed {
            self.overdue.push(token);
            return;
        }
        if !same_window(self.elapsed, when) {
            // Filing it in the top level would wrap its slot number into the current window.
            self.far_earliest = self.far_earliest.min(token.deadline);
            self.far.push(token);
            return;
        }
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        self.levels[level].occupied |= 1 << slot;
        self.levels[level].slots[slot].push(token);
    }

    /// The earliest occupied slot (lowest level first: lower levels cover earlier times), and
    /// the tick at which it starts.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, l) in self.levels.iter().enumerate() {
            let position = slot_for(self.elapsed, level);
            // Slots before the position at this level lie in the past of the window above.
            let ahead = l.occupied & (u64::MAX << position);
            if ahead != 0 {
                let slot = ahead.trailing_zeros() as usize;
                let span_bits = (level as u32 + 1) * SLOT_BITS;
                let window = if span_bits >= 64 {
                    0
                } else {
                    self.elapsed & !((1u64 << span_bits) - 1)
                };
                let start = window | ((slot as u64) << (level as u32 * SLOT_BITS));
                return Some((level, slot, start));
            }
        }
        None
    }

    /// Pops a token whose deadline is `<= now`, if any.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<Token> {
        if self.ready.is_empty() {
            self.advance(now);
        }
        let token = self.ready.pop()?;
        self.len -= 1;
        Some(token)
    }

    /// Moves the wheel up to `now`, collecting every token due by then into `ready`.
    fn advance(&mut self, now: u64) {
        let now_tick = tick(now);
        let window_before = self.elapsed;
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now_tick {
                break;
            }
            let tokens = std::mem::take(&mut self.levels[level].slots[slot]);
            self.levels[level].occupied &= !(1 << slot);
            self.elapsed = self.elapsed.max(start);
            // Level 0: due this tick (or wait in `overdue` for their nanosecond). Higher
            // levels: filed again from the new position, to lower levels.
            for token in tokens {
                self.file(token);
            }
        }
        // Every slot up to `now_tick` has been handed out, so the position may move there.
        self.elapsed = self.elapsed.max(now_tick);
        if !same_window(window_before, self.elapsed) && !self.far.is_empty() {
            // A new window: far tokens now in it go to the levels (or to `overdue` if their
            // tick has come: none can belong to a slot before the position); the rest stay.
            // Each token is filed again at most once per window the clock enters.
            let far = std::mem::take(&mut self.far);
            self.far_earliest = u64::MAX;
            for token in far {
                self.file(token);
            }
        }
        let mut i = 0;
        while i < self.overdue.len() {
            if self.overdue[i].deadline <= now {
                self.ready.push(self.overdue.swap_remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// A lower bound of every pending deadline (`u64::MAX` if none).
    pub(crate) fn earliest(&self) -> u64 {
        let filed = self
            .next_slot()
            .map_or(u64::MAX, |(_, _, start)| start << TICK_SHIFT);
        let waiting = self
            .overdue
            .iter()
            .chain(&self.ready)
            .map(|t| t.deadline)
            .min()
            .unwrap_or(u64::MAX);
        filed.min(waiting).min(self.far_earliest)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps only the tokens `keep` says still matter.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Token) -> bool) {
        let mut len = 0;
        for level in self.levels.iter_mut() {
            for (slot, tokens) in level.slots.iter_mut().enumerate() {
                tokens.retain(&mut keep);
                if tokens.is_empty() {
                    level.occupied &= !(1 << slot);
                }
                len += tokens.len();
            }
        }
        self.overdue.retain(&mut keep);
        self.ready.retain(&mut keep);
        self.far.retain(&mut keep);
        self.far_earliest = self
            .far
            .iter()
            .map(|t| t.deadline)
            .min()
            .unwrap_or(u64::MAX);
        self.len = len + self.overdue.len() + self.ready.len() + self.far.len();
    }

    /// Gives memory back once mostly empty.
    pub(crate) fn shrink_if_sparse(&mut self) {
        for level in self.levels.iter_mut() {
            for tokens in level.slots.iter_mut() {
                if tokens.capacity() > 4 * tokens.len() + 64 {
                    tokens.shrink_to_fit();
                }
            }
        }
        for list in [&mut self.overdue, &mut self.ready, &mut self.far] {
            if list.capacity() > 4 * list.len() + 64 {
                list.shrink_to_fit();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn token(deadline: u64, seq: u64) -> Token {
        Token {
            deadline,
            cart: seq,
            seq,
        }
    }

    /// Random pushes and pops at advancing times, checked against a sorted set: every token
    /// due by `now` comes out, none before its deadline, each exactly once, and `earliest` is
    /// always a lower bound.
    #[test]
    fn matches_a_sorted_set() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Safe code: under Miri (CI runs the lib tests there) a few rounds are enough.
        let (rounds, steps) = if cfg!(miri) { (2, 200) } else { (50, 2_000) };
        for round in 0..rounds {
            let mut wheel = Wheel::default();
            let mut model = BTreeSet::new();
            let mut now = next() % (1 << 30);
            let mut seq = 0;
            for _ in 0..steps {
                match next() % 4 {
                    0 | 1 => {
                        // Deadlines from the past to the end of `u64`, mostly near, some
                        // around and beyond the wheel's reach (2^56 ns).
                        let ahead = match next() % 6 {
                            0 => next() % (1 << 22),
                            1 => next() % (1 << 32),
                            2 => next() % (1 << 45),
                            3 => next() % (1 << 55),
                            4 => (1 << 56) - (1 << 21) + next() % (1 << 22),
                            _ => next() >> (next() % 8),
                        };
                        let deadline = now.saturating_add(ahead).saturating_sub(next() % (1 << 21));
                        seq += 1;
                        wheel.push(token(deadline, seq));
                        model.insert((deadline, seq));
                    }
                    2 => {
                        // Mostly small steps; now and then a jump of years or to the end.
                        let step = match next() % 16 {
                            0 => next() >> (next() % 64),
                            _ => next() % (1 << (next() % 46)),
                        };
                        now = now.saturating_add(step);
                        let mut popped = BTreeSet::new();
                        while let Some(t) = wheel.pop_due(now) {
                            assert!(t.deadline <= now, "round {round}: early token");
                            assert!(popped.insert((t.deadline, t.seq)));
                        }
                        let due: BTreeSet<_> =
                            model.iter().filter(|t| t.0 <= now).copied().collect();
                        assert_eq!(popped, due, "round {round}");
                        model.retain(|t| t.0 > now);
                    }
                    _ => {
                        if let Some(&(min, _)) = model.iter().next() {
                            assert!(wheel.earliest() <= min, "round {round}: bound too high");
                        }
                        assert_eq!(wheel.len(), model.len());
                    }
                }
            }
            wheel.retain(|t| t.seq % 2 == 0);
            model.retain(|t| t.1 % 2 == 0);
            assert_eq!(wheel.len(), model.len());
            let mut rest = BTreeSet::new();
            while let Some(t) = wheel.pop_due(u64::MAX) {
                rest.insert((t.deadline, t.seq));
            }
            assert_eq!(rest, model);
            assert_eq!(wheel.earliest(), u64::MAX);
        }
    }

    /// Pops everything due by `now`, checking none is early.
    fn pop_all(wheel: &mut Wheel, now: u64) -> Vec<u64> {
        let mut popped = Vec::new();
        while let Some(t) = wheel.pop_due(now) {
            assert!(t.deadline <= now, "token {} popped at {now}", t.deadline);
            popped.push(t.deadline);
        }
        popped.sort_unstable();
        popped
    }

    /// Deadlines at and beyond the wheel's reach, up to `u64::MAX`, from a wheel that has not
    /// moved: each comes out when due, none before, and `earliest` bounds them all.
    #[test]
    fn deadlines_beyond_the_reach_come_out_when_due() {
        let reach = 1u64 << 56;
        let mut deadlines = vec![
            reach - 1,
            reach,
            reach + 1,
            3 * reach + 5,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut wheel = Wheel::default();
        for (seq, &deadline) in deadlines.iter().enumerate() {
            wheel.push(token(deadline, seq as u64));
        }
        assert!(wheel.earliest() < reach);
        deadlines.sort_unstable();
        let mut popped = Vec::new();
        for &now in &deadlines {
            popped.extend(pop_all(&mut wheel, now - 1));
            assert!(wheel.earliest() <= now, "bound above a pending deadline");
            popped.extend(pop_all(&mut wheel, now));
        }
        assert_eq!(popped, deadlines);
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.earliest(), u64::MAX);
    }

    /// A clock jump past the reach, then a near deadline filed from the old position (as when
    /// the timer drains an inbox after years without an expiry): due on time, visible to
    /// `earliest`, and handed out without spinning.
    #[test]
    fn near_deadline_after_a_jump_past_the_reach() {
        for jump in [
            1u64 << 56,
            (1 << 56) + (7 << 30),
            5 << 56,
            u64::MAX - (200 << 30),
        ] {
            let mut wheel = Wheel::default();
            let deadline = jump + (60 << 30);
            wheel.push(token(deadline, 1));
            assert!(wheel.earliest() <= deadline);
            assert_eq!(wheel.pop_due(jump), None);
            assert!(wheel.earliest() <= deadline);
            assert_eq!(pop_all(&mut wheel, deadline + (60 << 30)), vec![deadline]);
        }
    }
}
