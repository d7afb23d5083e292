//! Per-thread reuse of the large per-frame buffers (grey views, threshold maps and
//! their block statistics, the enlargement's intermediate rows, rqrr's bitmap).
//!
//! A 720p frame's views and maps are megabytes. Allocated fresh for every frame, glibc
//! serves buffers that large by `mmap`, and every page of them then faults on its first
//! touch: hundreds of page faults a frame, which made the wall time several times the
//! instruction count's share. Buffers given back here are handed out again to the next
//! view or frame on the same thread (a camera loop's, or the caller's of `decode_luma`),
//! so a frame after the first allocates nothing large. What a thread keeps is bounded
//! ([`KEEP_BUFFERS`] per element type, [`KEEP_BYTES`] in all per type).

use std::cell::RefCell;
use std::thread::LocalKey;

/// Buffers kept per element type: the most views, maps and temporaries one frame
/// holds at once, with room to spare.
const KEEP_BUFFERS: usize = 24;
/// Bytes kept per element type and thread: a 720p frame's whole ladder needs about a
/// third of it; a buffer that would exceed it is freed as usual.
const KEEP_BYTES: usize = 48 << 20;
/// Smaller buffers are cheap to allocate (glibc serves them from its heap) and are not
/// kept: they would only take the places of the large ones.
const MIN_KEPT_BYTES: usize = 16 << 10;

/// An element type with a pool of its own.
pub(crate) trait Pooled: Copy + 'static {
    fn pool() -> &'static LocalKey<RefCell<Vec<Vec<Self>>>>;
}

macro_rules! pooled {
    ($($t:ty => $name:ident),*) => {$(
        thread_local! {
            static $name: RefCell<Vec<Vec<$t>>> = const { RefCell::new(Vec::new()) };
        }
        impl Pooled for $t {
            fn pool() -> &'static LocalKey<RefCell<Vec<Vec<Self>>>> {
                &$name
            }
        }
    )*};
}

pooled!(u8 => POOL_U8, u16 => POOL_U16, u32 => POOL_U32, bool => POOL_BOOL);

/// An empty vector with room for at least `len` elements: the smallest kept buffer that
/// is large enough, else the largest kept one (grown), else a new one.
pub(crate) fn take<T: Pooled>(len: usize) -> Vec<T> {
    let reused = T::pool()
        .try_with(|pool| {
            let mut pool = pool.borrow_mut();
            let fits = (0..pool.len()).filter(|&i| pool[i].capacity() >= len).min_by_key(|&i| pool[i].capacity());
            let pick = fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
            pick.map(|i| pool.swap_remove(i))
        })
        .ok()
        .flatten();
    let mut v = reused.unwrap_or_default();
    v.clear();
    v.reserve(len);
    v
}

/// `len` copies of `value` in a reused buffer.
pub(crate) fn filled<T: Pooled>(len: usize, value: T) -> Vec<T> {
    let mut v = take(len);
    v.resize(len, value);
    v
}

/// Hands a buffer back for reuse on this thread (or frees it when enough are kept).
pub(crate) fn give<T: Pooled>(v: Vec<T>) {
    let size = std::mem::size_of::<T>();
    if v.capacity() * size < MIN_KEPT_BYTES {
        return;
    }
    // During thread teardown the pool may be gone: the buffer is then simply freed.
    let _ = T::pool().try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let kept: usize = pool.iter().map(|b| b.capacity() * size).sum();
        if pool.len() < KEEP_BUFFERS && kept + v.capacity() * size <= KEEP_BYTES {
            pool.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_and_the_best_fit_wins() {
        let big = filled::<u16>(1 << 16, 7);
        let small = filled::<u16>(1 << 13, 7);
        let (big_ptr, small_ptr) = (big.as_ptr(), small.as_ptr());
        give(big);
        give(small);
        let v = take::<u16>(1 << 14);
        assert!(v.is_empty() && v.capacity() >= 1 << 14);
        assert_eq!(v.as_ptr(), big_ptr, "the smaller buffer is too small");
        let w = take::<u16>(100);
        assert_eq!(w.as_ptr(), small_ptr);
        give(v);
        give(w);
    }

    #[test]
    fn what_a_thread_keeps_is_bounded() {
        for _ in 0..2 * KEEP_BUFFERS {
            give(vec![0u32; MIN_KEPT_BYTES]);
        }
        give(vec![0u32; KEEP_BYTES / 4]);
        POOL_U32.with(|p| {
            let p = p.borrow();
            assert_eq!(p.len(), KEEP_BUFFERS);
            assert!(p.iter().map(|b| b.capacity() * 4).sum::<usize>() <= KEEP_BYTES);
        });
    }
}
