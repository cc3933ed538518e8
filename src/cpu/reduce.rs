//! Accurate reductions over the sequence: every gradient that sums over positions (B·L terms —
//! bias and weight gradients of the projections, the conv skip `grad_D`, the short-conv weights,
//! the filter's output layer) goes through these helpers.
//!
//! Why: a sum of K terms accumulated naively in f32 has a relative error that grows like u·√K
//! (random rounding; u = 2⁻²⁴ ≈ 6e-8), worst case u·K: ≈ 1.5e-5 at K = 64K and 6e-5 at K = 1M,
//! past the 1e-5 bound of the operator's f32 conformance. Two remedies, both deterministic:
//!
//! - [`sum_f64`], [`dot_f64`], [`col_sums_f64`]: the terms are widened to f64 and accumulated in
//!   f64. For f32 data every term — and every product of two f32 values (48 significant bits) — is
//!   exact in f64, and K additions in f64 err by at most K·2⁻⁵³ relative to Σ|terms|: 2.3e-10 at
//!   K = 2²¹, far below the single rounding of the result to f32 (2⁻²⁴). For f64 data this is the
//!   plain f64 sum (the reference's own error, ~√K·2⁻⁵³ ≈ 1e-13 at 1M).
//! - [`matmul_sum_k`] for GEMMs whose inner dimension is the sequence (dW = dYᵀ·X over K = B·L):
//!   K is cut into chunks of [`K_CHUNK`]; each chunk is one fast GEMM in `T` (its error is that of a
//!   length-1024 dot product: ≤ 1024·u of Σ|aᵢbᵢ| worst case, ≈ √1024·u ≈ 2e-6 typical, less in
//!   practice since the `gemm` crate itself sums its K cache blocks separately), and the chunk
//!   products are added into an f64 accumulator (error as above, negligible), rounded once into C.
//!   Extra cost: one m×n f64 addition per chunk, 1/1024 of the GEMM's multiply-adds.

use crate::error::{check_len, HyenaError, Result};
use crate::scalar::Scalar;

/// Inner-dimension chunk of [`matmul_sum_k`] (see the module docs for the error it implies).
pub const K_CHUNK: usize = 1024;

/// Work (m·n·k) of one chunk under which the GEMM runs on the calling thread only.
const PARALLEL_THRESHOLD: usize = 1 << 18;

/// Independent partial sums of [`sum_f64`] and [`dot_f64`].
///
/// Why: one f64 accumulator is one dependent chain of additions (4 cycles each), which made the
/// short conv's parameter-gradient sums cost more than its whole convolution (docs/BENCHMARKS.md,
/// "CPU backward at 1K and 8K"). With `LANES` interleaved partial sums the loop vectorizes; the
/// order of the additions is fixed by the code (lane `i` sums the terms `i, i + LANES, …`, then
/// the lanes are added pairwise), so every instruction set gives the same bits.
const LANES: usize = 8;

/// `Σ x` accumulated in f64 (in [`LANES`] partial sums).
#[inline]
pub fn sum_f64<T: Scalar>(x: &[T]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature the function is compiled for (checked above).
            return unsafe { sum_f64_avx512(x) };
        }
    }
    sum_lanes(x)
}

/// `Σ x·y` over the common length, accumulated in f64 (each product formed in f64: exact for f32
/// inputs; in [`LANES`] partial sums).
#[inline]
pub fn dot_f64<T: Scalar>(x: &[T], y: &[T]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: as in `sum_f64`.
            return unsafe { dot_f64_avx512(x, y) };
        }
    }
    dot_lanes(x, y)
}

/// [`sum_lanes`] compiled for AVX-512 (same operations in the same order: bit-identical).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_f64_avx512<T: Scalar>(x: &[T]) -> f64 {
    sum_lanes(x)
}

/// [`dot_lanes`] compiled for AVX-512 (same operations in the same order: bit-identical).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_f64_avx512<T: Scalar>(x: &[T], y: &[T]) -> f64 {
    dot_lanes(x, y)
}

/// The lanes of a partial-sum array added pairwise (a fixed order), then `tail`.
#[inline(always)]
fn fold_lanes(acc: [f64; LANES], tail: f64) -> f64 {
    let a = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    ((a[0] + a[2]) + (a[1] + a[3])) + tail
}

#[inline(always)]
fn sum_lanes<T: Scalar>(x: &[T]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(0.0f64, |s, &v| s + v.as_f64());
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v.as_f64();
        }
    }
    fold_lanes(acc, tail)
}

#[inline(always)]
fn dot_lanes<T: Scalar>(x: &[T], y: &[T]) -> f64 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0.0f64; LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let tail = xc.remainder().iter().zip(yc.remainder()).fold(0.0f64, |s, (&a, &b)| s + a.as_f64() * b.as_f64());
    for (cx, cy) in xc.zip(yc) {
        for ((a, &p), &q) in acc.iter_mut().zip(cx).zip(cy) {
            *a += p.as_f64() * q.as_f64();
        }
    }
    fold_lanes(acc, tail)
}

/// `acc[j] += Σ_rows x[row, j]` for a row-major `[rows, acc.len()]` matrix, in f64.
pub fn col_sums_f64<T: Scalar>(acc: &mut [f64], x: &[T]) -> Result<()> {
    let cols = acc.len();
    if cols == 0 {
        return Ok(());
    }
    if x.len() % cols != 0 {
        return Err(HyenaError::shape("column sums", format!("a multiple of {cols} elements"), x.len()));
    }
    for row in x.chunks_exact(cols) {
        acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v.as_f64());
    }
    Ok(())
}

/// `dst[i] += acc[i]`, rounded once to `T`.
pub fn add_f64<T: Scalar>(dst: &mut [T], acc: &[f64]) -> Result<()> {
    check_len("accumulated gradient", acc.len(), dst.len())?;
    dst.iter_mut().zip(acc).for_each(|(d, &a)| *d = T::lit(d.as_f64() + a));
    Ok(())
}

/// `C (m×n) += Σ_p op(A_p) · op(B_p)` over the operand pairs `ab` (e.g. one per batch item), each
/// with inner dimension `k`, row-major and contiguous as in [`super::linear::matmul`]: `A_p`
/// stored m×k (k×m when `trans_a`), `B_p` stored k×n (n×k when `trans_b`). The inner dimension is
/// summed in chunks of [`K_CHUNK`] added in f64 (module docs): use it for GEMMs whose `k` is the
/// sequence.
#[allow(clippy::too_many_arguments)]
pub fn matmul_sum_k<T: Scalar>(
    c: &mut [T],
    ab: &[(&[T], &[T])],
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
) -> Result<()> {
    let overflow = || HyenaError::Invalid(format!("matmul {m}x{n}x{k} overflows"));
    let mn = m.checked_mul(n).ok_or_else(overflow)?;
    let mk = m.checked_mul(k).ok_or_else(overflow)?;
    let kn = k.checked_mul(n).ok_or_else(overflow)?;
    check_len("matmul C", c.len(), mn)?;
    for (a, b) in ab {
        check_len("matmul A", a.len(), mk)?;
        check_len("matmul B", b.len(), kn)?;
    }
    if mn == 0 || k == 0 || ab.is_empty() {
        return Ok(());
    }
    // Element strides (row, column) of op(A), op(B), and the step of one k index in each.
    let (a_rs, a_cs) = if trans_a { (1isize, m as isize) } else { (k as isize, 1isize) };
    let (b_rs, b_cs) = if trans_b { (1isize, k as isize) } else { (n as isize, 1isize) };
    let (a_ks, b_ks) = (a_cs as usize, b_rs as usize);
    let mut part = vec![T::zero(); mn];
    let mut acc = vec![0.0f64; mn];
    for (a, b) in ab {
        for k0 in (0..k).step_by(K_CHUNK) {
            let kc = K_CHUNK.min(k - k0);
            let par = if mn.saturating_mul(kc) >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
                gemm::Parallelism::Rayon(rayon::current_num_threads())
            } else {
                gemm::Parallelism::None
            };
            // SAFETY: op(A) rows i < m, columns k0 + j < k address a[i·a_rs + (k0 + j)·a_ks] with
            // a.len() = m·k checked above (a_ks = a_cs), likewise b; `part` holds m·n elements
            // (row stride n) and is borrowed mutably, so it aliases neither operand. The gemm
            // crate computes dst = alpha·dst + beta·lhs·rhs and does not read dst when read_dst is
            // false.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    kc,
                    part.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr().add(k0 * a_ks),
                    a_cs,
                    a_rs,
                    b.as_ptr().add(k0 * b_ks),
                    b_cs,
                    b_rs,
                    T::zero(),
                    T::one(),
                    false,
                    false,
                    false,
                    par,
                );
            }
            acc.iter_mut().zip(&part).for_each(|(s, &v)| *s += v.as_f64());
        }
    }
    add_f64(c, &acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lane sums against sums whose values are known exactly: integers (every partial sum
    /// is an exact f64), lengths around the lane count, and the dispatched path against the
    /// portable one bit for bit.
    #[test]
    fn lane_sums_are_exact_on_integers_and_agree_across_paths() {
        for n in [0usize, 1, 7, 8, 9, 16, 17, 1000, 1023] {
            let x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 - 48.0).collect();
            let y: Vec<f32> = (0..n).map(|i| (i % 13) as f32 + 1.0).collect();
            let want_sum: f64 = (0..n).map(|i| (i % 97) as f64 - 48.0).sum();
            let want_dot: f64 = (0..n).map(|i| ((i % 97) as f64 - 48.0) * ((i % 13) as f64 + 1.0)).sum();
            assert_eq!(sum_f64(&x), want_sum, "sum, n = {n}");
            assert_eq!(dot_f64(&x, &y), want_dot, "dot, n = {n}");
            // Unequal lengths: the common prefix.
            assert_eq!(dot_f64(&x, &y[..n / 2]), dot_f64(&x[..n / 2], &y[..n / 2]));
        }
        // Values that round differently in different orders: the dispatched path must still give
        // the portable path's bits.
        let x: Vec<f32> = (0..1001).map(|i| ((i as f32) * 0.618_034).sin() * 1e3f32.powi(i % 3)).collect();
        let y: Vec<f32> = (0..1001).map(|i| ((i as f32) * 0.414_213).cos()).collect();
        assert_eq!(sum_f64(&x).to_bits(), sum_lanes(&x).to_bits());
        assert_eq!(dot_f64(&x, &y).to_bits(), dot_lanes(&x, &y).to_bits());
    }
}
