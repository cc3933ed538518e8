//! Linear projections on the CPU through a tuned GEMM (the `gemm` crate), forward and backward.
//!
//! Matrices are row-major slices. PyTorch's `nn.Linear` keeps `weight` as `[out, in]`; these
//! functions take that layout as-is.

use rayon::prelude::*;
use crate::error::{check_len, shape_len, HyenaError, Result};
use super::reduce::{add_f64, col_sums_f64, matmul_sum_k};
use crate::scalar::Scalar;

/// Work (m·n·k) under which the GEMM runs on the calling thread only.
const PARALLEL_THRESHOLD: usize = 1 << 18;

/// `C (m×n) = op(A) · op(B)` (or `C += …` when `accumulate`), all row-major and contiguous.
///
/// `op(A)` is m×k: `A` is stored m×k, or k×m when `trans_a`. `op(B)` is k×n: `B` is stored k×n, or
/// n×k when `trans_b`.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Scalar>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
) -> Result<()> {
    matmul_on(c, a, b, m, n, k, trans_a, trans_b, accumulate, true)
}

/// [`matmul`], on the calling thread only when `parallel` is false (for callers whose own
/// parallel loop is the unit of work: the GEMMs of the implicit filter's blocks).
#[allow(clippy::too_many_arguments)]
fn matmul_on<T: Scalar>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
    parallel: bool,
) -> Result<()> {
    let (mn, mk, kn) = (
        m.checked_mul(n),
        m.checked_mul(k),
        k.checked_mul(n),
    );
    let (mn, mk, kn) = match (mn, mk, kn) {
        (Some(x), Some(y), Some(z)) => (x, y, z),
        _ => return Err(HyenaError::Invalid(format!("matmul {m}x{n}x{k} overflows"))),
    };
    check_len("matmul C", c.len(), mn)?;
    check_len("matmul A", a.len(), mk)?;
    check_len("matmul B", b.len(), kn)?;
    if mn == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            c.iter_mut().for_each(|x| *x = T::zero());
        }
        return Ok(());
    }
    // Element strides (row stride, column stride) of op(A), op(B) and C.
    let (a_rs, a_cs) = if trans_a { (1isize, m as isize) } else { (k as isize, 1isize) };
    let (b_rs, b_cs) = if trans_b { (1isize, k as isize) } else { (n as isize, 1isize) };
    let par = if parallel && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the lengths of a, b and c were checked above to cover every element addressed by
    // the (rows, cols, strides) given here; c is borrowed mutably, so it aliases neither a nor b.
    // The gemm crate computes dst = alpha*dst + beta*lhs*rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// `dst [cols, rows] = srcᵀ` for a row-major `src [rows, cols]` (`dst += srcᵀ` when
/// `accumulate`), through a 16 × 16 tile in registers/L1: each tile's rows are read whole and its
/// columns written whole as rows.
///
/// Why: writing (or reading) one element per row of a tile touches lines `rows·size` bytes apart;
/// at 4 KiB apart (L = 1K in f32) they all fall in one L1 set and evict each other, one miss per
/// element (the filter's transposes were 3 % of a forward+backward's samples at L = 1K,
/// docs/BENCHMARKS.md, "CPU backward at 1K and 8K"). Whole tile rows cost one miss per line.
pub fn transpose_into<T: Scalar>(src: &[T], rows: usize, cols: usize, dst: &mut [T], accumulate: bool) -> Result<()> {
    let n = shape_len("transpose [rows, cols]", &[rows, cols])?;
    check_len("transpose destination", dst.len(), n)?;
    transpose_strided_into(src, rows, cols, dst, rows, accumulate)
}

/// [`transpose_into`] into the first `rows` elements of `cols` rows `ld ≥ rows` apart:
/// `dst[c·ld + r] (+)= src[r·cols + c]` (e.g. a block of positions written into the columns of a
/// `[C, L]` tensor); other elements of `dst` are left as they are. `dst` must hold
/// `(cols − 1)·ld + rows` elements at least.
pub fn transpose_strided_into<T: Scalar>(src: &[T], rows: usize, cols: usize, dst: &mut [T], ld: usize, accumulate: bool) -> Result<()> {
    check_transpose(src, cols, rows, cols, dst, ld)?;
    transpose_cols(src, cols, rows, cols, dst, ld, accumulate);
    Ok(())
}

/// [`transpose_strided_into`] with the destination rows (the source's columns) split over the
/// rayon pool in blocks of 16: the same values (a copy, or one addition per element), for
/// transposes that would otherwise run on one thread between parallel passes.
pub fn par_transpose_strided_into<T: Scalar>(src: &[T], rows: usize, cols: usize, dst: &mut [T], ld: usize, accumulate: bool) -> Result<()> {
    par_transpose_cols_into(src, cols, rows, cols, dst, ld, accumulate)
}

/// [`par_transpose_strided_into`] of the first `cols` columns of a source whose rows are
/// `lds ≥ cols` apart: `dst[c·ld + r] (+)= src[r·lds + c]` for `r < rows`, `c < cols` (e.g. a
/// block of columns of a `[D, D]` matrix, `src` starting at its first column). `src` must hold
/// `(rows − 1)·lds + cols` elements at least, `dst` `(cols − 1)·ld + rows`.
pub fn par_transpose_cols_into<T: Scalar>(
    src: &[T],
    lds: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    ld: usize,
    accumulate: bool,
) -> Result<()> {
    check_transpose(src, lds, rows, cols, dst, ld)?;
    const CB: usize = 16;
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    // Chunk j holds destination rows 16j.. (its last row may be a partial one: only its first
    // `rows` elements are written, and the check above guarantees them).
    dst[..(cols - 1) * ld + rows].par_chunks_mut(CB * ld).enumerate().for_each(|(j, d)| {
        let c0 = j * CB;
        let cn = CB.min(cols - c0);
        transpose_cols(&src[c0..], lds, rows, cn, d, ld, accumulate);
    });
    Ok(())
}

/// The checks of [`transpose_strided_into`] / [`par_transpose_cols_into`] (source rows `lds`
/// apart; `lds = cols`: a whole `[rows, cols]` source of exactly that length).
fn check_transpose<T>(src: &[T], lds: usize, rows: usize, cols: usize, dst: &[T], ld: usize) -> Result<()> {
    let n = shape_len("transpose [rows, cols]", &[rows, cols])?;
    if lds == cols {
        check_len("transpose source", src.len(), n)?;
    } else if lds < cols {
        return Err(HyenaError::Invalid(format!("transpose: source stride {lds} < {cols} columns")));
    }
    if n == 0 {
        return Ok(());
    }
    let src_need = (rows - 1).checked_mul(lds).and_then(|x| x.checked_add(cols));
    if src_need.is_none_or(|need| src.len() < need) {
        return Err(HyenaError::shape("transpose source", format!("≥ {} elements", src_need.unwrap_or(usize::MAX)), src.len()));
    }
    if ld < rows {
        return Err(HyenaError::Invalid(format!("transpose: destination stride {ld} < {rows} rows")));
    }
    let need = (cols - 1).checked_mul(ld).and_then(|x| x.checked_add(rows));
    if need.is_none_or(|need| dst.len() < need) {
        return Err(HyenaError::shape("transpose destination", format!("≥ {} elements", need.unwrap_or(usize::MAX)), dst.len()));
    }
    Ok(())
}

/// `dst[c·ld + r] (+)= src[r·lds + c]` for `r < rows`, `c < cols`: the first `cols` columns of a
/// source with rows `lds ≥ cols` apart. The caller checked (or built) the bounds: `src` holds
/// `(rows − 1)·lds + cols` elements, `dst` `(cols − 1)·ld + rows`, and `ld ≥ rows`.
fn transpose_cols<T: Scalar>(src: &[T], lds: usize, rows: usize, cols: usize, dst: &mut [T], ld: usize, accumulate: bool) {
    if rows == 0 || cols == 0 {
        return;
    }
    // The bounds the AVX path relies on (an internal invariant: a failure is a bug here).
    assert!(src.len() >= (rows - 1) * lds + cols && dst.len() >= (cols - 1) * ld + rows && ld >= rows && lds >= cols, "transpose_cols bounds");
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && is_x86_feature_detected!("avx") {
        // SAFETY: T is f32 (same type, checked above), so the slices are f32 slices of the same
        // lengths; the CPU has AVX (checked above); the bounds were asserted above.
        unsafe {
            let s = std::slice::from_raw_parts(src.as_ptr() as *const f32, src.len());
            let d = std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut f32, dst.len());
            transpose_f32_avx(s, lds, rows, cols, d, ld, accumulate);
        }
        return;
    }
    const TILE: usize = 16;
    let mut tile = [T::zero(); TILE * TILE];
    for r0 in (0..rows).step_by(TILE) {
        let rn = TILE.min(rows - r0);
        for c0 in (0..cols).step_by(TILE) {
            let cn = TILE.min(cols - c0);
            for r in 0..rn {
                let row = &src[(r0 + r) * lds + c0..(r0 + r) * lds + c0 + cn];
                for (c, &x) in row.iter().enumerate() {
                    tile[c * TILE + r] = x;
                }
            }
            for c in 0..cn {
                let out = &mut dst[(c0 + c) * ld + r0..(c0 + c) * ld + r0 + rn];
                let t = &tile[c * TILE..c * TILE + rn];
                if accumulate {
                    out.iter_mut().zip(t).for_each(|(o, &x)| *o = *o + x);
                } else {
                    out.copy_from_slice(t);
                }
            }
        }
    }
}

/// [`transpose_strided_into`] for f32 with AVX: 8 × 8 blocks transposed in registers (8 row
/// loads, 24 shuffles, 8 row stores), in stripes of 64 source rows; edges element-wise. (Tried:
/// 16 × 16 macro-blocks of four such blocks, each line used whole before moving on: more samples
/// in the transpose at 1K and 8K, not kept.)
///
/// Why: the 16 × 16 tile of the generic path stores single elements into the tile and reloads
/// its rows whole, which stalls store forwarding; the filter's `[L, C]` ↔ `[C, L]` transposes
/// were still ~5 % of a forward+backward's samples at L = 4K and 8K (docs/BENCHMARKS.md).
/// Exact: a copy (or one addition per element), the same results as the generic path.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_f32_avx(src: &[f32], lds: usize, rows: usize, cols: usize, dst: &mut [f32], ld: usize, accumulate: bool) {
    use std::arch::x86_64::*;
    let (r8, c8) = (rows - rows % 8, cols - cols % 8);
    // Stripes of 64 source rows (their lines stay in L1 across the stripe's column blocks); each
    // destination row gets 64 contiguous elements per stripe.
    const STRIPE: usize = 64;
    for rb in (0..r8).step_by(STRIPE) {
        for c0 in (0..c8).step_by(8) {
            for r0 in (rb..(rb + STRIPE).min(r8)).step_by(8) {
                // SAFETY: r0 + 7 < rows and c0 + 7 < cols, so every row load reads src[(r0 + i)·lds
                // + c0 ..+ 8] and every store writes dst[(c0 + j)·ld + r0 ..+ 8], in bounds
                // (src.len() ≥ (rows − 1)·lds + cols, dst.len() ≥ (cols − 1)·ld + rows: the
                // caller's bounds).
                let p = src.as_ptr().add(r0 * lds + c0);
                let r = [0, 1, 2, 3, 4, 5, 6, 7].map(|i| _mm256_loadu_ps(p.add(i * lds)));
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                // Per 128-bit lane: columns (j, j + 4) of rows 0–3 (s0..s3) and 4–7 (s4..s7).
                let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let o = [
                    _mm256_permute2f128_ps::<0x20>(s0, s4),
                    _mm256_permute2f128_ps::<0x20>(s1, s5),
                    _mm256_permute2f128_ps::<0x20>(s2, s6),
                    _mm256_permute2f128_ps::<0x20>(s3, s7),
                    _mm256_permute2f128_ps::<0x31>(s0, s4),
                    _mm256_permute2f128_ps::<0x31>(s1, s5),
                    _mm256_permute2f128_ps::<0x31>(s2, s6),
                    _mm256_permute2f128_ps::<0x31>(s3, s7),
                ];
                let q = dst.as_mut_ptr().add(c0 * ld + r0);
                for (j, &v) in o.iter().enumerate() {
                    let d = q.add(j * ld);
                    let v = if accumulate { _mm256_add_ps(_mm256_loadu_ps(d), v) } else { v };
                    _mm256_storeu_ps(d, v);
                }
            }
        }
    }
    // Edges: the last rows % 8 rows (all columns) and the last cols % 8 columns (other rows).
    let mut put = |r: usize, c: usize| {
        let x = src[r * lds + c];
        let o = &mut dst[c * ld + r];
        *o = if accumulate { *o + x } else { x };
    };
    for r in r8..rows {
        (0..cols).for_each(|c| put(r, c));
    }
    for r in 0..r8 {
        (c8..cols).for_each(|c| put(r, c));
    }
}

/// `y [rows, out] = x [rows, in] · Wᵀ + bias`, with `w` as `[out, in]` (PyTorch layout).
pub fn linear_fwd<T: Scalar>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    rows: usize,
    d_in: usize,
    d_out: usize,
    y: &mut [T],
) -> Result<()> {
    linear_fwd_on(x, w, bias, rows, d_in, d_out, y, true)
}

/// [`linear_fwd`] on the calling thread only (see [`matmul_on`]): the same arithmetic, the same
/// bits.
pub(crate) fn linear_fwd_serial<T: Scalar>(x: &[T], w: &[T], bias: Option<&[T]>, rows: usize, d_in: usize, d_out: usize, y: &mut [T]) -> Result<()> {
    linear_fwd_on(x, w, bias, rows, d_in, d_out, y, false)
}

#[allow(clippy::too_many_arguments)]
fn linear_fwd_on<T: Scalar>(x: &[T], w: &[T], bias: Option<&[T]>, rows: usize, d_in: usize, d_out: usize, y: &mut [T], parallel: bool) -> Result<()> {
    check_len("linear weight", w.len(), shape_len("linear weight [out, in]", &[d_out, d_in])?)?;
    matmul_on(y, x, w, rows, d_out, d_in, false, true, false, parallel)?;
    if let Some(b) = bias {
        check_len("linear bias", b.len(), d_out)?;
        for row in y.chunks_exact_mut(d_out.max(1)) {
            for (o, &bb) in row.iter_mut().zip(b) {
                *o = *o + bb;
            }
        }
    }
    Ok(())
}

/// Gradients of [`linear_fwd`]: returns `grad_x [rows, in]` and accumulates into
/// `grad_w [out, in]` and `grad_b [out]` (`+=`, so several calls can share them).
#[allow(clippy::too_many_arguments)]
pub fn linear_bwd<T: Scalar>(
    x: &[T],
    w: &[T],
    grad_y: &[T],
    rows: usize,
    d_in: usize,
    d_out: usize,
    grad_x: Option<&mut [T]>,
    grad_w: &mut [T],
    grad_b: Option<&mut [T]>,
) -> Result<()> {
    check_len("linear_bwd grad_y", grad_y.len(), shape_len("linear_bwd grad_y [rows, out]", &[rows, d_out])?)?;
    if let Some(gx) = grad_x {
        matmul(gx, grad_y, w, rows, d_in, d_out, false, false, false)?;
    }
    // The weight and bias gradients sum over `rows` (the sequence): accurate sums, see
    // `super::reduce`.
    matmul_sum_k(grad_w, &[(grad_y, x)], d_out, d_in, rows, true, false)?;
    if let Some(gb) = grad_b {
        check_len("linear_bwd grad_b", gb.len(), d_out)?;
        let mut acc = vec![0.0f64; d_out];
        col_sums_f64(&mut acc, grad_y)?;
        add_f64(gb, &acc)?;
    }
    Ok(())
}
