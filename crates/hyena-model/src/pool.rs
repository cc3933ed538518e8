//! Buffers reused from one operator call to the next: the kept path's activations (returned when
//! its [`crate::operator::OperatorCache`] is dropped) and the backward's temporaries.
//!
//! Why: a fresh `vec![0; n]` of a few MiB is fresh pages (glibc maps large blocks anew, or gives
//! back the top of its heap when they are freed), so every call page-faulted and zeroed ~10 MiB
//! at L = 1K: 10–15 % of a forward+backward's samples (docs/BENCHMARKS.md, "CPU backward at 1K
//! and 8K").
//!
//! A taken buffer holds arbitrary (stale) values: every user writes each element before reading
//! it. At most [`POOL_BYTES`] are kept; [`release`] frees them all (the bench calls it between
//! cells, so that each cell's peak memory is its own).

use std::any::Any;
use std::sync::Mutex;

/// Most bytes kept between calls: the kept training path's buffers of B = 8, D = 768, L = 1K
/// (order 2, f32: four `[B, 3·D, L]` activations and gradients of 72 MiB, ~420 MiB in all) and of
/// B = 1, D = 256 up to L = 16K fit. The inference path's group workspaces are kept apart, up to
/// one group (`operator::INFER_GROUP_BYTES`); [`release`] frees both.
pub const POOL_BYTES: usize = 512 << 20;

/// Largest buffer kept. Larger ones are freed at once, as before the pool: at long L a buffer
/// idle in the pool would add to the peak memory, and the page faults matter less there than
/// the memory. At 32 MiB (glibc's largest mmap threshold) the `[B, 3·D, L]` buffers of B = 8,
/// D = 768, L = 1K (72 MiB) came fresh on every call: page faults were 11 % of a one-thread
/// forward+backward's samples there (docs/BENCHMARKS.md, "B = 8, D = 768: where the time goes").
pub const MAX_BUF_BYTES: usize = 128 << 20;

struct Pool {
    bytes: usize,
    bufs: Vec<(usize, Box<dyn Any + Send>)>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { bytes: 0, bufs: Vec::new() });

/// A buffer of `n` elements: a kept one of the same type whose capacity is between `n` and `2n`
/// (the smallest such), with stale contents, or a fresh one filled with `fill`.
pub(crate) fn take<X: Copy + Send + 'static>(n: usize, fill: X) -> Vec<X> {
    if n > 0 {
        if let Ok(mut pool) = POOL.lock() {
            let best = pool
                .bufs
                .iter()
                .enumerate()
                .filter_map(|(i, (_, b))| b.downcast_ref::<Vec<X>>().map(|v| (i, v.capacity())))
                .filter(|&(_, cap)| cap >= n && cap / 2 <= n)
                .min_by_key(|&(_, cap)| cap);
            if let Some((i, _)) = best {
                let (bytes, b) = pool.bufs.swap_remove(i);
                pool.bytes -= bytes;
                if let Ok(mut v) = b.downcast::<Vec<X>>() {
                    if v.len() >= n {
                        v.truncate(n);
                    } else {
                        v.resize(n, fill);
                    }
                    return *v;
                }
            }
        }
    }
    vec![fill; n]
}

/// Keep `v` for a later [`take`] when it takes at most [`MAX_BUF_BYTES`] and the pool has room
/// for it (else it is freed).
pub(crate) fn give<X: Copy + Send + 'static>(v: Vec<X>) {
    let bytes = v.capacity() * std::mem::size_of::<X>();
    if bytes == 0 || bytes > MAX_BUF_BYTES {
        return;
    }
    if let Ok(mut pool) = POOL.lock() {
        if pool.bytes + bytes <= POOL_BYTES {
            pool.bytes += bytes;
            pool.bufs.push((bytes, Box::new(v)));
        }
    }
}

/// Free every kept buffer (of this pool, of the group workspaces, the inference path's kept
/// filter spectra and the implicit filter's cached modulation windows).
pub fn release() {
    // First: released spectra hand their buffers to this pool.
    crate::spectra::release();
    if let Ok(mut pool) = POOL.lock() {
        pool.bufs.clear();
        pool.bytes = 0;
    }
    crate::operator::release_group_workspaces();
    hyena_kernels::cpu::filter::release_window_cache();
}

/// Bytes the pool holds now.
pub fn held_bytes() -> usize {
    POOL.lock().map(|p| p.bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A given buffer comes back for a request of a size it can hold without waste, not for one
    /// that would waste more than half of it, nor for another type; `release` empties the pool.
    /// (The pool is process-wide: this test uses element types no other code pools.)
    #[test]
    fn take_reuses_fitting_buffers_only() {
        let v: Vec<u16> = take(1000, 7);
        assert_eq!(v, vec![7u16; 1000]);
        let ptr = v.as_ptr();
        give(v);
        let w: Vec<u16> = take(800, 0);
        assert_eq!((w.as_ptr(), w.len()), (ptr, 800), "a fitting kept buffer is reused");
        give(w);
        let big: Vec<u16> = take(1001, 1);
        assert!(big.as_ptr() != ptr && big.iter().all(|&x| x == 1), "too small: a fresh buffer");
        let small: Vec<u16> = take(400, 2);
        assert!(small.as_ptr() != ptr && small.iter().all(|&x| x == 2), "too wasteful: a fresh buffer");
        let other: Vec<i16> = take(800, 3);
        assert!(other.iter().all(|&x| x == 3), "another type never gets it");
        release();
        let after: Vec<u16> = take(800, 4);
        assert!(after.iter().all(|&x| x == 4), "released: a fresh buffer");
        assert_eq!(held_bytes(), 0);
        give(after);
        assert_eq!(held_bytes(), 1600, "a kept buffer counts its capacity");
        let big: Vec<u32> = take(MAX_BUF_BYTES / 4 + 1, 0);
        give(big);
        assert_eq!(held_bytes(), 1600, "a buffer over MAX_BUF_BYTES is freed, not kept");
        release();
    }
}
