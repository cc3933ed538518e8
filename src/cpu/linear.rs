//! Linear projections on the CPU through a tuned GEMM (the `gemm` crate), forward and backward.
//!
//! Matrices are row-major slices. PyTorch's `nn.Linear` keeps `weight` as `[out, in]`; these
//! functions take that layout as-is.

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
    let par = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
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
    check_len("transpose source", src.len(), n)?;
    check_len("transpose destination", dst.len(), n)?;
    const TILE: usize = 16;
    let mut tile = [T::zero(); TILE * TILE];
    for r0 in (0..rows).step_by(TILE) {
        let rn = TILE.min(rows - r0);
        for c0 in (0..cols).step_by(TILE) {
            let cn = TILE.min(cols - c0);
            for r in 0..rn {
                let row = &src[(r0 + r) * cols + c0..(r0 + r) * cols + c0 + cn];
                for (c, &x) in row.iter().enumerate() {
                    tile[c * TILE + r] = x;
                }
            }
            for c in 0..cn {
                let out = &mut dst[(c0 + c) * rows + r0..(c0 + c) * rows + r0 + rn];
                let t = &tile[c * TILE..c * TILE + rn];
                if accumulate {
                    out.iter_mut().zip(t).for_each(|(o, &x)| *o = *o + x);
                } else {
                    out.copy_from_slice(t);
                }
            }
        }
    }
    Ok(())
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
    check_len("linear weight", w.len(), shape_len("linear weight [out, in]", &[d_out, d_in])?)?;
    matmul(y, x, w, rows, d_out, d_in, false, true, false)?;
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
