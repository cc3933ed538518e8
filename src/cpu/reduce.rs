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

/// `Σ x` accumulated in f64.
#[inline]
pub fn sum_f64<T: Scalar>(x: &[T]) -> f64 {
    x.iter().fold(0.0f64, |s, &v| s + v.as_f64())
}

/// `Σ x·y` accumulated in f64 (each product formed in f64: exact for f32 inputs).
#[inline]
pub fn dot_f64<T: Scalar>(x: &[T], y: &[T]) -> f64 {
    x.iter().zip(y).fold(0.0f64, |s, (&a, &b)| s + a.as_f64() * b.as_f64())
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
