//! Reuse of the large per-frame buffers (grey views, threshold maps and their block
//! statistics, the enlargement's intermediate rows, rqrr's bitmap).
//!
//! A 720p frame's views and maps are megabytes. Allocated fresh for every frame, glibc
//! serves buffers that large by `mmap`, and every page of them then faults on its first
//! touch: hundreds of page faults a frame, which made the wall time several times the
//! instruction count's share. Buffers given back here are handed out again to the next
//! view or frame, so a frame after the first allocates nothing large. What is kept is
//! bounded ([`KEEP_BUFFERS`] per element type, [`KEEP_BYTES`] in all per type).
//!
//! The pool is the process's, not a thread's: a camera's frames arrive on a thread the
//! app does not own (an executor that lives on after the camera stops), and the memory
//! must be given back when scanning ends ([`release`], which the bindings call when the
//! last scanner is closed) from whichever thread ends it. One uncontended lock per
//! buffer taken or given costs nothing next to a frame's work.

use std::sync::Mutex;

/// Buffers kept per element type: the most views, maps and temporaries one frame
/// holds at once, with room to spare.
const KEEP_BUFFERS: usize = 24;
/// Bytes kept per element type: a 720p frame's whole ladder needs about a third of it;
/// a buffer that would exceed it is freed as usual.
const KEEP_BYTES: usize = 48 << 20;
/// Smaller buffers are cheap to allocate (glibc serves them from its heap) and are not
/// kept: they would only take the places of the large ones.
const MIN_KEPT_BYTES: usize = 16 << 10;

type Pool<T> = Mutex<Vec<Vec<T>>>;

/// An element type with a pool of its own.
pub(crate) trait Pooled: Copy + 'static {
    fn pool() -> &'static Pool<Self>;
}

macro_rules! pooled {
    ($($t:ty => $name:ident),*) => {
        $(
            static $name: Pool<$t> = Mutex::new(Vec::new());
            impl Pooled for $t {
                fn pool() -> &'static Pool<Self> {
                    &$name
                }
            }
        )*
        /// Frees every kept buffer; the bytes freed.
        pub fn release() -> usize {
            0 $(+ drain(&$name))*
        }
        /// Bytes held by kept buffers.
        pub fn kept_bytes() -> usize {
            0 $(+ bytes(&lock(&$name)))*
        }
    };
}

pooled!(u8 => POOL_U8, u16 => POOL_U16, u32 => POOL_U32, bool => POOL_BOOL);

/// A pool only ever holds whole buffers, so one left by a panicking holder is still
/// sound to use.
fn lock<T>(pool: &Pool<T>) -> std::sync::MutexGuard<'_, Vec<Vec<T>>> {
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn bytes<T>(pool: &[Vec<T>]) -> usize {
    pool.iter().map(|b| b.capacity() * std::mem::size_of::<T>()).sum()
}

fn drain<T>(pool: &Pool<T>) -> usize {
    let freed = std::mem::take(&mut *lock(pool));
    bytes(&freed)
}

/// An empty vector with room for at least `len` elements: the smallest kept buffer that
/// is large enough, else the largest kept one (grown), else a new one.
pub(crate) fn take<T: Pooled>(len: usize) -> Vec<T> {
    take_from(T::pool(), len)
}

fn take_from<T>(pool: &Pool<T>, len: usize) -> Vec<T> {
    let reused = {
        let mut pool = lock(pool);
        let fits = (0..pool.len()).filter(|&i| pool[i].capacity() >= len).min_by_key(|&i| pool[i].capacity());
        let pick = fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
        pick.map(|i| pool.swap_remove(i))
    };
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

/// Hands a buffer back for reuse (or frees it when enough are kept).
pub(crate) fn give<T: Pooled>(v: Vec<T>) {
    give_to(T::pool(), v)
}

fn give_to<T>(pool: &Pool<T>, v: Vec<T>) {
    let size = std::mem::size_of::<T>();
    if v.capacity() * size < MIN_KEPT_BYTES {
        return;
    }
    let mut pool = lock(pool);
    if pool.len() < KEEP_BUFFERS && bytes(&pool) + v.capacity() * size <= KEEP_BYTES {
        pool.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test has a pool of its own: the process's pools are shared with the other
    // tests decoding frames at the same time.

    #[test]
    fn a_given_buffer_is_taken_again_and_the_best_fit_wins() {
        let pool: Pool<u16> = Mutex::new(Vec::new());
        let (big, small) = (vec![7u16; 1 << 16], vec![7u16; 1 << 13]);
        let (big_ptr, small_ptr) = (big.as_ptr(), small.as_ptr());
        give_to(&pool, big);
        give_to(&pool, small);
        let v = take_from(&pool, 1 << 14);
        assert!(v.is_empty() && v.capacity() >= 1 << 14);
        assert_eq!(v.as_ptr(), big_ptr, "the smaller buffer is too small");
        let w = take_from(&pool, 100);
        assert_eq!(w.as_ptr(), small_ptr);
        assert!(lock(&pool).is_empty());
    }

    #[test]
    fn what_is_kept_is_bounded_and_drained_whole() {
        let pool: Pool<u32> = Mutex::new(Vec::new());
        for _ in 0..2 * KEEP_BUFFERS {
            give_to(&pool, vec![0u32; MIN_KEPT_BYTES]);
        }
        give_to(&pool, vec![0u32; KEEP_BYTES / 4]);
        give_to(&pool, vec![0u32; 16]);
        let kept = bytes(&lock(&pool));
        assert_eq!(lock(&pool).len(), KEEP_BUFFERS);
        assert!(kept <= KEEP_BYTES);
        assert_eq!(drain(&pool), kept);
        assert!(lock(&pool).is_empty());
    }
}
