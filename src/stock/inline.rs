//! A fixed-capacity vector on the stack, for the few lines of a typical request: validating a
//! cart must not allocate, and must not pay for initializing slots it never uses.

use std::mem::MaybeUninit;

/// Up to `N` copies of `T`, stored inline.
pub(crate) struct InlineVec<T: Copy, const N: usize> {
    len: usize,
    buf: [MaybeUninit<T>; N],
}

impl<T: Copy, const N: usize> InlineVec<T, N> {
    pub(crate) const fn new() -> Self {
        InlineVec {
            len: 0,
            buf: [const { MaybeUninit::uninit() }; N],
        }
    }

    /// Appends `value`, or gives it back if the vector is full.
    #[inline]
    pub(crate) fn push(&mut self, value: T) -> Result<(), T> {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                slot.write(value);
                self.len += 1;
                Ok(())
            }
            None => Err(value),
        }
    }

    /// The last element. Panics if empty (callers push first).
    #[inline]
    pub(crate) fn last_mut(&mut self) -> &mut T {
        let len = self.len;
        &mut self.as_mut_slice()[len - 1]
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements were written by `push` (and `truncate` only lowers
        // `len`); `MaybeUninit<T>` has the layout of `T`.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<T>(), self.len) }
    }

    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.buf.as_mut_ptr().cast::<T>(), self.len) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_until_full() {
        let mut v = InlineVec::<u32, 3>::new();
        assert!(v.as_slice().is_empty());
        for i in 0..3 {
            assert_eq!(v.push(i), Ok(()));
        }
        assert_eq!(v.push(9), Err(9));
        v.as_mut_slice()[0] = 7;
        *v.last_mut() += 1;
        assert_eq!(v.as_slice(), &[7, 1, 3]);
    }
}
