//! Buffers reused from one operator call to the next: [`hyena_kernels::cpu::pool`] (shared with
//! the CPU backend's implicit filter), plus [`release`], which frees them together with the
//! model's other caches.
//!
//! The kept path's activations go back to the pool when its [`crate::operator::OperatorCache`] is
//! dropped; the backward's temporaries when it returns. A taken buffer holds stale values: every
//! user writes each element before reading it.

pub use hyena_kernels::cpu::pool::{held_bytes, MAX_BUF_BYTES, POOL_BYTES};
pub(crate) use hyena_kernels::cpu::pool::{give, take, try_take};

/// Free every kept buffer (of this pool, of the group workspaces, the inference path's kept
/// filter spectra and the implicit filter's cached modulation windows).
pub fn release() {
    // First: released spectra hand their buffers to the pool.
    crate::spectra::release();
    hyena_kernels::cpu::pool::release_buffers();
    crate::operator::release_group_workspaces();
    hyena_kernels::cpu::filter::release_window_cache();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `release` empties the shared pool. (Process-wide: u16 buffers are pooled by no other code.)
    #[test]
    fn release_empties_the_shared_pool() {
        let mut v: Vec<u16> = take(1000, 7);
        v[0] = 9;
        give(v);
        release();
        let w: Vec<u16> = take(1000, 0);
        assert_eq!(w[0], 0, "released: a fresh buffer, not the stale one");
    }
}
