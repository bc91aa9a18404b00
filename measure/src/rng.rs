//! The programs' one random generator: xorshift64, a few cycles per number and reproducible
//! from its seed. Its statistical quality does not matter here: it only spreads accesses over
//! items and picks what a simulated buyer does. A program's draws, and so whatever in its
//! output depends only on them, are the same for the same seed on every run.

/// An odd multiple of the golden ratio turns small seeds into well-mixed, nonzero states.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64 (Marsaglia's 13, 7, 17 triple).
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// The generator for `seed`; distinct seeds give unrelated streams.
    pub fn new(seed: u64) -> Self {
        // Zero is xorshift's fixed point; setting the low bit keeps the state off it.
        XorShift(seed.wrapping_add(1).wrapping_mul(GOLDEN) | 1)
    }

    /// The generator of thread (or buyer) number `thread`: `new(thread)`.
    pub fn for_thread(thread: usize) -> Self {
        Self::new(thread as u64)
    }

    /// The next number of the stream.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`, by multiply-shift rather than `%`: no division on a hot loop, and a
    /// bias below `n / 2^64`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift;

    #[test]
    fn same_seed_same_stream_and_draws_in_range() {
        let (mut a, mut b) = (XorShift::new(7), XorShift::new(7));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(10) < 10);
            b.below(10);
        }
        assert_ne!(XorShift::new(0).next_u64(), XorShift::new(1).next_u64());
    }

    #[test]
    fn seed_zero_starts_at_the_golden_ratio() {
        // `instructions` draws its carts from this state; its instruction counts depend on it.
        let mut rng = XorShift::new(0);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        assert_eq!(rng.next_u64(), state);
    }
}
