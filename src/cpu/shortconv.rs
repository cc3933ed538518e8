//! Short causal depthwise convolution (kernel 3, bias), as PyTorch's
//! `Conv1d(C, C, 3, padding=2, groups=C)` truncated to the first L outputs:
//! `y[t] = w[c,0]·x[t−2] + w[c,1]·x[t−1] + w[c,2]·x[t] + b[c]`.
//!
//! Layout: `x`, `y` as `[B, C, L]`, `w` as `[C, 3]` (PyTorch `[C, 1, 3]`), `b` as `[C]`.

use crate::error::{check_len, shape_len, HyenaError, Result};
use super::reduce::{dot_f64, sum_f64};
use crate::scalar::Scalar;
use rayon::prelude::*;

/// Taps of the short filter.
pub const TAPS: usize = 3;

fn check<T>(x: &[T], w: &[T], b: &[T], bs: usize, c: usize, l: usize) -> Result<()> {
    if l == 0 {
        return Err(HyenaError::Length("sequence length must be at least 1".into()));
    }
    check_len("short conv x [B, C, L]", x.len(), shape_len("short conv x [B, C, L]", &[bs, c, l])?)?;
    check_len("short_filter.weight [C, 1, 3]", w.len(), shape_len("short_filter.weight", &[c, TAPS])?)?;
    check_len("short_filter.bias [C]", b.len(), c)?;
    Ok(())
}

/// Forward into `y` `[B, C, L]`.
pub fn shortconv_fwd<T: Scalar>(x: &[T], w: &[T], b: &[T], bs: usize, c: usize, l: usize, y: &mut [T]) -> Result<()> {
    shortconv_fwd_in_bias(x, None, w, b, bs, c, l, y)
}

/// [`shortconv_fwd`] of `x + in_bias` (`in_bias` `[C]`, added to every element of channel c's
/// rows as they are read): the same bits as adding `in_bias` into `x` first and calling
/// [`shortconv_fwd`] (each sum `x + in_bias` is rounded to `T` either way), without that pass.
///
/// Why: the inference path's in_proj bias was a serial read-and-write pass over its
/// `[B, (N+1)·D, L]` output (6 MiB at B = 1, D = 256, L = 2K, f32) before this convolution read
/// it again; the training path keeps `x + in_bias` for its backward, so it adds the bias itself.
#[allow(clippy::too_many_arguments)]
pub fn shortconv_fwd_in_bias<T: Scalar>(x: &[T], in_bias: Option<&[T]>, w: &[T], b: &[T], bs: usize, c: usize, l: usize, y: &mut [T]) -> Result<()> {
    check(x, w, b, bs, c, l)?;
    check_len("short conv y [B, C, L]", y.len(), x.len())?;
    if let Some(ib) = in_bias {
        check_len("short conv input bias [C]", ib.len(), c)?;
    }
    y.par_chunks_mut(l).zip(x.par_chunks(l)).enumerate().for_each(|(row, (yr, xr))| {
        let ch = row % c;
        let (w0, w1, w2, bb) = (w[ch * 3], w[ch * 3 + 1], w[ch * 3 + 2], b[ch]);
        row_fwd(xr, yr, [w0, w1, w2, bb], in_bias.map(|ib| ib[ch]));
    });
    Ok(())
}

/// One row of [`shortconv_fwd_in_bias`] (`wb` = taps and bias, `ibc` the input bias), compiled for
/// AVX-512 where the CPU has it (the same operations: the same bits).
fn row_fwd<T: Scalar>(xr: &[T], yr: &mut [T], wb: [T; 4], ibc: Option<T>) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        /// [`row_fwd_generic`] compiled for AVX-512.
        #[target_feature(enable = "avx512f")]
        fn avx512<T: Scalar>(xr: &[T], yr: &mut [T], wb: [T; 4], ibc: Option<T>) {
            row_fwd_generic(xr, yr, wb, ibc)
        }
        // SAFETY: the CPU has AVX-512F (checked above).
        return unsafe { avx512(xr, yr, wb, ibc) };
    }
    row_fwd_generic(xr, yr, wb, ibc)
}

#[inline(always)]
fn row_fwd_generic<T: Scalar>(xr: &[T], yr: &mut [T], [w0, w1, w2, bb]: [T; 4], ibc: Option<T>) {
    match ibc {
        None => conv_row(xr, yr, w0, w1, w2, bb, |v| v),
        Some(ibc) => conv_row(xr, yr, w0, w1, w2, bb, |v| v + ibc),
    }
}

/// One row of [`shortconv_fwd_in_bias`], reading each input through `inp`.
#[inline(always)]
fn conv_row<T: Scalar>(xr: &[T], yr: &mut [T], w0: T, w1: T, w2: T, bb: T, inp: impl Fn(T) -> T) {
    let l = xr.len();
    // The first two outputs lack taps; the rest are one branch-free loop over three shifted
    // slices, which the compiler vectorises (same operations in the same order: identical
    // results).
    let head = l.min(2);
    for t in 0..head {
        let mut acc = bb + w2 * inp(xr[t]);
        if t >= 1 {
            acc = acc + w1 * inp(xr[t - 1]);
        }
        yr[t] = acc;
    }
    if l > 2 {
        for (((o, &x2), &x1), &x0) in yr[2..].iter_mut().zip(&xr[2..]).zip(&xr[1..l - 1]).zip(&xr[..l - 2]) {
            *o = bb + w2 * inp(x2) + w1 * inp(x1) + w0 * inp(x0);
        }
    }
}

/// Backward: returns `grad_x` `[B, C, L]` and accumulates `grad_w` `[C, 3]`, `grad_b` `[C]`.
#[allow(clippy::too_many_arguments)]
pub fn shortconv_bwd<T: Scalar>(
    x: &[T],
    w: &[T],
    b: &[T],
    grad_y: &[T],
    bs: usize,
    c: usize,
    l: usize,
    grad_x: &mut [T],
    grad_w: &mut [T],
    grad_b: &mut [T],
) -> Result<()> {
    check(x, w, b, bs, c, l)?;
    check_len("short conv grad_y", grad_y.len(), x.len())?;
    check_len("short conv grad_x", grad_x.len(), x.len())?;
    check_len("short conv grad_w", grad_w.len(), w.len())?;
    check_len("short conv grad_b", grad_b.len(), c)?;
    grad_x.par_chunks_mut(l).zip(grad_y.par_chunks(l)).enumerate().for_each(|(row, (gx, gy))| {
        let ch = row % c;
        let (w0, w1, w2) = (w[ch * 3], w[ch * 3 + 1], w[ch * 3 + 2]);
        // Branch-free over the first L − 2 positions (vectorised, as in the forward), then the
        // last two, which lack taps.
        let body = l.saturating_sub(2);
        if body > 0 {
            for (((o, &g2), &g1), &g0) in gx[..body].iter_mut().zip(&gy[..body]).zip(&gy[1..body + 1]).zip(&gy[2..]) {
                *o = w2 * g2 + w1 * g1 + w0 * g0;
            }
        }
        for t in body..l {
            let mut acc = w2 * gy[t];
            if t + 1 < l {
                acc = acc + w1 * gy[t + 1];
            }
            gx[t] = acc;
        }
    });
    // Parameter gradients: one task per channel over the batch. Sums of B·L terms, accumulated
    // in f64 (see `super::reduce`: f32 products are exact in f64, the sum's error negligible).
    grad_w.par_chunks_mut(TAPS).zip(grad_b.par_iter_mut()).enumerate().for_each(|(ch, (gw, gb))| {
        let (mut s0, mut s1, mut s2, mut sb) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for bi in 0..bs {
            let off = (bi * c + ch) * l;
            let (xr, gy) = (&x[off..off + l], &grad_y[off..off + l]);
            sb += sum_f64(gy);
            s2 += dot_f64(gy, xr);
            if l >= 2 {
                s1 += dot_f64(&gy[1..], &xr[..l - 1]);
            }
            if l >= 3 {
                s0 += dot_f64(&gy[2..], &xr[..l - 2]);
            }
        }
        gw[0] = T::lit(gw[0].as_f64() + s0);
        gw[1] = T::lit(gw[1].as_f64() + s1);
        gw[2] = T::lit(gw[2].as_f64() + s2);
        *gb = T::lit(gb.as_f64() + sb);
    });
    Ok(())
}
