//! Buffers reused from one call to the next: the CPU backend's activations, gradients and
//! temporaries (the operator's kept cache, returned when it is dropped; the implicit filter's
//! `[L, F]` / `[L, C]` work buffers and cache).
//!
//! Why: a fresh buffer of more than a few MiB is fresh pages (glibc maps large blocks anew, or
//! gives back the top of its heap when they are freed), so every call page-faulted and zeroed its
//! buffers again: ~10 MiB per forward+backward at L = 1K (10–15 % of its samples), and at
//! L = 64K, B = 1, D = 256 ~1.6 GB per call (420 000 page faults, most of the call's system time;
//! docs/BENCHMARKS.md, "The forward+backward's growth past 16K: page faults").
//!
//! A taken buffer holds arbitrary (stale) values of its type: every user writes each element
//! before reading it. At most [`POOL_BYTES`] are kept; [`release_buffers`] frees them all (the
//! bench frees them between cells, so that each cell's peak memory is its own; `hyena_model::pool::release`
//! frees these and the model's other caches).
//!
//! Memory: a call's peak is that of the same buffers allocated fresh, plus at most the buffers
//! the pool holds that the call does not take back (bounded by [`POOL_BYTES`]); between calls a
//! process keeps at most [`POOL_BYTES`] here.

use std::any::Any;
use std::sync::Mutex;

use crate::error::{try_vec, Result};

/// Most bytes kept between calls: 2 GiB, the operator's default budget of kept activations
/// (`hyena_model::operator::TRAIN_CACHE_BYTES`), so that every length whose forward+backward keeps
/// its activations (L ≤ 128K at B = 1, D = 256, order 2, f32; B = 8, D = 768 up to L = 8K) reuses
/// them. Was 512 MiB: from L = 32K at B = 1, D = 256 a call's buffers did not fit and came fresh.
pub const POOL_BYTES: usize = 2048 << 20;

/// Largest buffer kept: 512 MiB (a `[3·D, L]` activation at B = 1, D = 256, L = 128K in f32). Larger
/// ones are freed at once, as before the pool: past the kept path (L ≥ 256K at D = 256) a buffer
/// idle in the pool would add to the peak memory of a call that recomputes in channel groups,
/// where the page faults matter less than the memory. Was 128 MiB: the `[3·D, L]` buffers of
/// L = 64K (192 MiB) came fresh on every call.
pub const MAX_BUF_BYTES: usize = 512 << 20;

struct Pool {
    bytes: usize,
    bufs: Vec<(usize, Box<dyn Any + Send>)>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { bytes: 0, bufs: Vec::new() });

/// A kept buffer of the same type whose capacity is between `n` and `2n` (the smallest such),
/// resized to `n` (stale contents; elements past the kept length are `fill`).
fn reuse<X: Copy + Send + 'static>(n: usize, fill: X) -> Option<Vec<X>> {
    if n == 0 {
        return None;
    }
    let mut pool = POOL.lock().ok()?;
    let (i, _) = pool
        .bufs
        .iter()
        .enumerate()
        .filter_map(|(i, (_, b))| b.downcast_ref::<Vec<X>>().map(|v| (i, v.capacity())))
        .filter(|&(_, cap)| cap >= n && cap / 2 <= n)
        .min_by_key(|&(_, cap)| cap)?;
    let (bytes, b) = pool.bufs.swap_remove(i);
    pool.bytes -= bytes;
    drop(pool);
    let mut v = *b.downcast::<Vec<X>>().ok()?;
    if v.len() >= n {
        v.truncate(n);
    } else {
        v.resize(n, fill);
    }
    Some(v)
}

/// A buffer of `n` elements: a kept one (see [`try_take`]) with stale contents, or a fresh one
/// filled with `fill`. For sizes a caller's input does not set (a fresh allocation that fails
/// aborts, as `vec!` does); otherwise [`try_take`].
pub fn take<X: Copy + Send + 'static>(n: usize, fill: X) -> Vec<X> {
    reuse(n, fill).unwrap_or_else(|| vec![fill; n])
}

/// [`take`] whose fresh allocation is fallible: an allocation the system refuses is
/// [`crate::error::HyenaError`]'s allocation error naming `what`.
pub fn try_take<X: Copy + Send + 'static>(what: &str, n: usize, fill: X) -> Result<Vec<X>> {
    match reuse(n, fill) {
        Some(v) => Ok(v),
        None => try_vec(what, n, fill),
    }
}

/// Keep `v` for a later [`take`] when it takes at most [`MAX_BUF_BYTES`] and the pool has room
/// for it (else it is freed).
pub fn give<X: Copy + Send + 'static>(v: Vec<X>) {
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

/// Free every kept buffer.
pub fn release_buffers() {
    if let Ok(mut pool) = POOL.lock() {
        pool.bufs.clear();
        pool.bytes = 0;
    }
}

/// Bytes the pool holds now.
pub fn held_bytes() -> usize {
    POOL.lock().map(|p| p.bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A given buffer comes back for a request of a size it can hold without waste, not for one
    /// that would waste more than half of it, nor for another type; `release_buffers` empties the
    /// pool. (The pool is process-wide: this test uses element types no other code pools.)
    #[test]
    fn take_reuses_fitting_buffers_only() {
        let v: Vec<u16> = take(1000, 7);
        assert_eq!(v, vec![7u16; 1000]);
        let ptr = v.as_ptr();
        give(v);
        let w: Vec<u16> = try_take("w", 800, 0).unwrap();
        assert_eq!((w.as_ptr(), w.len()), (ptr, 800), "a fitting kept buffer is reused");
        give(w);
        let big: Vec<u16> = take(1001, 1);
        assert!(big.as_ptr() != ptr && big.iter().all(|&x| x == 1), "too small: a fresh buffer");
        let small: Vec<u16> = take(400, 2);
        assert!(small.as_ptr() != ptr && small.iter().all(|&x| x == 2), "too wasteful: a fresh buffer");
        let other: Vec<i16> = take(800, 3);
        assert!(other.iter().all(|&x| x == 3), "another type never gets it");
        release_buffers();
        let after: Vec<u16> = take(800, 4);
        assert!(after.iter().all(|&x| x == 4), "released: a fresh buffer");
        give(after);
        // Marked buffers (stale contents come back with a reused one); u32/u8 are pooled by no
        // other code, so concurrent tests cannot take them.
        let mut big: Vec<u32> = take(MAX_BUF_BYTES / 4 + 1, 0);
        big[0] = 0xdead;
        give(big);
        let again: Vec<u32> = take(MAX_BUF_BYTES / 4 + 1, 0);
        assert_eq!(again[0], 0, "a buffer over MAX_BUF_BYTES is freed, not kept");
        let mut fits: Vec<u8> = take(MAX_BUF_BYTES, 0);
        fits[0] = 1;
        give(fits);
        let kept: Vec<u8> = take(MAX_BUF_BYTES, 0);
        assert_eq!(kept[0], 1, "a buffer of MAX_BUF_BYTES is kept");
        release_buffers();
    }

    /// A fresh buffer too large for the system is a typed error naming the buffer, not an abort.
    #[test]
    fn try_take_reports_a_refused_allocation() {
        let e = try_take::<u64>("huge test buffer", usize::MAX / 16, 0).unwrap_err();
        assert!(e.to_string().contains("huge test buffer"), "{e}");
    }
}
