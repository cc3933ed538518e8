//! The spectral step of a causal real-FFT convolution, done on the half-length complex spectrum in
//! one vectorized pass.
//!
//! A real row `x` of even length `n` is the complex row `z[j] = x[2j] + i·x[2j+1]` of length
//! `N = n/2`. realfft computes `X = rfft(x)` as `Z = FFT_N(z)` followed by a scalar pass over the
//! bin pairs `(k, N−k)` ("post-processing"), and the inverse as the mirror pass
//! ("pre-processing") followed by `IFFT_N`. A convolution row (rfft, product with the filter's
//! bins, irfft) therefore ran three passes over the bins between its two complex FFTs, all
//! scalar: at L = 1K (B = 1, D = 256, one thread) those passes and the product were ~9 % of an
//! inference forward's samples, the complex FFTs themselves ~5 % (docs/BENCHMARKS.md, "The short
//! forward's spectral pass").
//!
//! [`mul_spectrum`] does post-processing, product and pre-processing in one pass, in place on `Z`:
//! per pair `(k, m = N−k)`, with `A = Z[k]`, `B = Z[m]`, `W = e^{−iπk/N}`:
//!
//! ```text
//! E = (A + B̄)/2,  O = (A − B̄)/(2i)              (spectra of x's even and odd samples)
//! X[k] = E + W·O,  X[m] = conj(E − W·O)           (realfft's output bins)
//! Y_k = X[k]·H[k],  Y_m = X[m]·H[m]               (the filter's bins)
//! Ye = Y_k + Ȳ_m,  Yo = (Y_k − Ȳ_m)·W̄              (n × the spectra of y's even and odd samples)
//! Z'[k] = Ye + i·Yo,  Z'[m] = conj(Ye) + i·conj(Yo)
//! ```
//!
//! plus `k = 0` (DC and Nyquist: `X[0] = a + b`, `X[N] = a − b` for `Z[0] = a + ib`; the real parts
//! of the products, as realfft's inverse keeps them) and, for even N, the self-paired `k = N/2`.
//! `IFFT_N(Z')` (unnormalised) is then `n·y` read as pairs, realfft's convention, so spectra scaled
//! by `1/n` give the convolution exactly as before (to rounding: the same arithmetic regrouped).
//!
//! Cost per pair, f32: 4 complex loads (two bins, two filter bins), one twiddle, 44 flops, 2
//! complex stores — one pass where realfft's post (~20 flops), the product (12) and the pre (~20)
//! were three. For f32 on an AVX-512 CPU the pairs go 16 at a time (the mirrored block reversed by
//! the deinterleaving permute); the rest, and other types or CPUs, one pair at a time with the
//! same operations in the same order and no FMA contraction, so every path gives the same bits.

use crate::scalar::Scalar;
use realfft::num_complex::Complex;

/// Pairs per block of the AVX-512 path.
const LANES: usize = 16;

/// Twiddles `W^k = e^{−iπk/N}` for `k = 0..=N/2` (computed in f64).
pub(crate) fn twiddles<T: Scalar>(nn: usize) -> Vec<Complex<T>> {
    (0..=nn / 2)
        .map(|k| {
            let (s, c) = (-std::f64::consts::PI * k as f64 / nn as f64).sin_cos();
            Complex::new(T::lit(c), T::lit(s))
        })
        .collect()
}

/// realfft's post-processing of one pair `(k, m = N−k)`: `(X[k], X[m])` from `a = Z[k]`,
/// `b = Z[m]` and `w = W^k` (see the module docs).
#[inline(always)]
fn post<T: Scalar>(a: Complex<T>, b: Complex<T>, w: Complex<T>) -> (Complex<T>, Complex<T>) {
    let half = T::lit(0.5);
    let (er, ei) = ((a.re + b.re) * half, (a.im - b.im) * half);
    let (or, oi) = ((a.im + b.im) * half, (b.re - a.re) * half);
    let (wor, woi) = (w.re * or - w.im * oi, w.re * oi + w.im * or);
    (Complex::new(er + wor, ei + woi), Complex::new(er - wor, woi - ei))
}

/// One pair `(k, m)` of [`mul_spectrum`]: `(Z'[k], Z'[m])` from `a = Z[k]`, `b = Z[m]`, the filter
/// bins `hk`, `hm` and `w = W^k`.
#[inline(always)]
fn pair<T: Scalar>(a: Complex<T>, b: Complex<T>, hk: Complex<T>, hm: Complex<T>, w: Complex<T>) -> (Complex<T>, Complex<T>) {
    let (xk, xm) = post(a, b, w);
    let (ykr, yki) = (xk.re * hk.re - xk.im * hk.im, xk.re * hk.im + xk.im * hk.re);
    let (ymr, ymi) = (xm.re * hm.re - xm.im * hm.im, xm.re * hm.im + xm.im * hm.re);
    let (yer, yei) = (ykr + ymr, yki - ymi);
    let (dr, di) = (ykr - ymr, yki + ymi);
    let (yor, yoi) = (dr * w.re + di * w.im, di * w.re - dr * w.im);
    (Complex::new(yer - yoi, yei + yor), Complex::new(yer + yoi, yor - yei))
}

/// The bin pairs of a length-N half spectrum: with `P = (N−1)/2`, `lo = [1, P]` and
/// `hi = [N−P, N)`; `lo[i]` pairs with `hi[P−1−i]`, and for even N the self-paired middle `N/2`
/// lies between them.
fn pairs(nn: usize) -> (usize, usize) {
    let np = (nn - 1) / 2;
    (np, nn - np)
}

/// In place on `z = FFT_N(x as pairs)` (length N ≥ 1): the half-length spectrum whose inverse
/// `IFFT_N` is `n·irfft(rfft(x) ⊙ h)` read as pairs. `h` holds the filter's `N + 1` bins, `tw`
/// [`twiddles`]`(N)`.
///
/// # Panics
/// When `h.len() != N + 1` or `tw.len() != N/2 + 1` (crate-internal: callers size them from the plan).
#[allow(clippy::indexing_slicing)] // lengths asserted on entry
pub(crate) fn mul_spectrum<T: Scalar>(z: &mut [Complex<T>], h: &[Complex<T>], tw: &[Complex<T>]) {
    let nn = z.len();
    assert!(nn >= 1 && h.len() == nn + 1 && tw.len() == nn / 2 + 1, "mul_spectrum: N = {nn}, {} filter bins, {} twiddles", h.len(), tw.len());
    // DC and Nyquist (real parts of the products, as realfft's inverse keeps them).
    let (a, b) = (z[0].re, z[0].im);
    let (y0, yn) = ((a + b) * h[0].re, (a - b) * h[nn].re);
    z[0] = Complex::new(y0 + yn, y0 - yn);
    let (np, hi0) = pairs(nn);
    if nn % 2 == 0 && nn >= 2 {
        let k = nn / 2;
        (z[k], _) = pair(z[k], z[k], h[k], h[k], tw[k]);
    }
    let (head, rest) = z.split_at_mut(np + 1);
    let (lo, hi) = (&mut head[1..], &mut rest[hi0 - (np + 1)..]);
    let (hl, hh, twl) = (&h[1..=np], &h[hi0..nn], &tw[1..=np]);
    // Whole blocks of LANES pairs vectorized where the CPU and the type allow, the rest (and
    // everything else) one pair at a time: the same operations in the same order either way.
    let done = blocks_mul(lo, hi, hl, hh, twl);
    for i in done..np {
        (lo[i], hi[np - 1 - i]) = pair(lo[i], hi[np - 1 - i], hl[i], hh[np - 1 - i], twl[i]);
    }
}

/// realfft's spectrum from `z = FFT_N(x as pairs)`: the `N + 1` bins of `rfft(x)` into `out`
/// (`z` is only read). `tw` is [`twiddles`]`(N)`.
///
/// # Panics
/// When `out.len() != N + 1` or `tw.len() != N/2 + 1` (crate-internal: callers size them from the plan).
#[allow(clippy::indexing_slicing)] // lengths asserted on entry
pub(crate) fn post_spectrum<T: Scalar>(z: &[Complex<T>], out: &mut [Complex<T>], tw: &[Complex<T>]) {
    let nn = z.len();
    assert!(nn >= 1 && out.len() == nn + 1 && tw.len() == nn / 2 + 1, "post_spectrum: N = {nn}, {} bins, {} twiddles", out.len(), tw.len());
    let (a, b) = (z[0].re, z[0].im);
    out[0] = Complex::new(a + b, T::zero());
    out[nn] = Complex::new(a - b, T::zero());
    let (np, hi0) = pairs(nn);
    if nn % 2 == 0 && nn >= 2 {
        let k = nn / 2;
        (out[k], _) = post(z[k], z[k], tw[k]);
    }
    let (zl, zh, twl) = (&z[1..=np], &z[hi0..nn], &tw[1..=np]);
    let (head, rest) = out.split_at_mut(np + 1);
    let (lo, hi) = (&mut head[1..], &mut rest[hi0 - (np + 1)..hi0 - (np + 1) + np]);
    let done = blocks_post(zl, zh, lo, hi, twl);
    for i in done..np {
        (lo[i], hi[np - 1 - i]) = post(zl[i], zh[np - 1 - i], twl[i]);
    }
}

/// True when `T` is f32 and the CPU has AVX-512F: the blocks below may run.
fn avx512_f32<T: Scalar>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x` as f32 pointers (T is f32: checked by the caller through [`avx512_f32`]).
fn f32p<T>(x: &[Complex<T>]) -> *const f32 {
    x.as_ptr().cast::<f32>()
}

/// `x` as mutable f32 pointers (T is f32: checked by the caller through [`avx512_f32`]).
fn f32p_mut<T>(x: &mut [Complex<T>]) -> *mut f32 {
    x.as_mut_ptr().cast::<f32>()
}

/// The first `LANES·⌊P/LANES⌋` pairs of [`mul_spectrum`] with AVX-512 when `T` is f32 and the CPU
/// has it; returns how many pairs it did (0 otherwise).
fn blocks_mul<T: Scalar>(lo: &mut [Complex<T>], hi: &mut [Complex<T>], hl: &[Complex<T>], hh: &[Complex<T>], tw: &[Complex<T>]) -> usize {
    let np = lo.len();
    if !avx512_f32::<T>() || [hi.len(), hl.len(), hh.len(), tw.len()] != [np; 4] {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: T is f32 (avx512_f32), so each slice is `np` `Complex<f32>` = `2·np` f32
        // (`Complex` is `#[repr(C)]`); all five have length np (checked above); `lo` and `hi`
        // are distinct `&mut` slices; the CPU has AVX-512F (avx512_f32).
        return unsafe { avx512::mul(f32p_mut(lo), f32p_mut(hi), f32p(hl), f32p(hh), f32p(tw), np) };
    }
    #[allow(unreachable_code)]
    0
}

/// The first `LANES·⌊P/LANES⌋` pairs of [`post_spectrum`], as [`blocks_mul`].
fn blocks_post<T: Scalar>(zl: &[Complex<T>], zh: &[Complex<T>], lo: &mut [Complex<T>], hi: &mut [Complex<T>], tw: &[Complex<T>]) -> usize {
    let np = lo.len();
    if !avx512_f32::<T>() || [hi.len(), zl.len(), zh.len(), tw.len()] != [np; 4] {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: as in `blocks_mul`; `lo` and `hi` are distinct `&mut` slices of `out`, `zl`
        // and `zh` shared slices of another buffer.
        return unsafe { avx512::post_blocks(f32p(zl), f32p(zh), f32p_mut(lo), f32p_mut(hi), f32p(tw), np) };
    }
    #[allow(unreachable_code)]
    0
}

/// The AVX-512 blocks: per block, 16 pairs' bins deinterleaved into re/im registers (the mirrored
/// block reversed by the same permute), [`post`] / [`pair`]'s arithmetic in the same order on 16
/// lanes (no FMA: the scalar path's bits), and interleaved back.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::LANES;
    use std::arch::x86_64::*;

    const _: () = assert!(LANES == 16);

    /// A permute index vector from `f(t)`, t = 0..16.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn idx(f: fn(i32) -> i32) -> __m512i {
        _mm512_setr_epi32(f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), f(10), f(11), f(12), f(13), f(14), f(15))
    }

    /// 16 complex f32 at `p` as (re, im) lanes: lane t holds complex t, or complex 15 − t when
    /// `rev` (the mirrored block).
    ///
    /// # Safety
    /// `p` points to 32 readable f32.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32, rev: bool) -> (__m512, __m512) {
        // SAFETY: the caller's.
        let (a, b) = unsafe { (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16))) };
        let (e, o) = if rev { (idx(|t| 30 - 2 * t), idx(|t| 31 - 2 * t)) } else { (idx(|t| 2 * t), idx(|t| 2 * t + 1)) };
        (_mm512_permutex2var_ps(a, e, b), _mm512_permutex2var_ps(a, o, b))
    }

    /// The inverse of [`load`]: lanes (re, im) back to 16 interleaved complex f32 at `p`.
    ///
    /// # Safety
    /// `p` points to 32 writable f32.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store(p: *mut f32, re: __m512, im: __m512, rev: bool) {
        // Output float t of the first (second) half is complex j = t/2 (8 + t/2): its lane is j,
        // or 15 − j when mirrored; re from index lane, im from 16 + lane.
        let (i0, i1) = if rev {
            (idx(|t| if t % 2 == 0 { 15 - t / 2 } else { 31 - t / 2 }), idx(|t| if t % 2 == 0 { 7 - t / 2 } else { 23 - t / 2 }))
        } else {
            (idx(|t| if t % 2 == 0 { t / 2 } else { 16 + t / 2 }), idx(|t| if t % 2 == 0 { 8 + t / 2 } else { 24 + t / 2 }))
        };
        // SAFETY: the caller's.
        unsafe {
            _mm512_storeu_ps(p, _mm512_permutex2var_ps(re, i0, im));
            _mm512_storeu_ps(p.add(16), _mm512_permutex2var_ps(re, i1, im));
        }
    }

    /// [`super::post`] on 16 lanes: (X[k] re, im, X[m] re, im).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn post(ar: __m512, ai: __m512, br: __m512, bi: __m512, wr: __m512, wi: __m512) -> [__m512; 4] {
        let half = _mm512_set1_ps(0.5);
        let er = _mm512_mul_ps(_mm512_add_ps(ar, br), half);
        let ei = _mm512_mul_ps(_mm512_sub_ps(ai, bi), half);
        let or = _mm512_mul_ps(_mm512_add_ps(ai, bi), half);
        let oi = _mm512_mul_ps(_mm512_sub_ps(br, ar), half);
        let wor = _mm512_sub_ps(_mm512_mul_ps(wr, or), _mm512_mul_ps(wi, oi));
        let woi = _mm512_add_ps(_mm512_mul_ps(wr, oi), _mm512_mul_ps(wi, or));
        [_mm512_add_ps(er, wor), _mm512_add_ps(ei, woi), _mm512_sub_ps(er, wor), _mm512_sub_ps(woi, ei)]
    }

    /// f32 offsets of block `blk`'s forward and mirrored halves among `np` pairs.
    fn offsets(blk: usize, np: usize) -> (usize, usize) {
        (2 * blk * LANES, 2 * (np - (blk + 1) * LANES))
    }

    /// [`super::blocks_mul`]'s blocks.
    ///
    /// # Safety
    /// `lo`, `hi`, `hl`, `hh`, `tw` point to `2·np` f32 each, `lo` and `hi` overlap nothing else,
    /// and the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn mul(lo: *mut f32, hi: *mut f32, hl: *const f32, hh: *const f32, tw: *const f32, np: usize) -> usize {
        let blocks = np / LANES;
        for blk in 0..blocks {
            let (i0, j0) = offsets(blk, np);
            // SAFETY: i0 + 32 ≤ 2·np and j0 + 32 ≤ 2·np for blk < np / 16.
            unsafe {
                let (pl, ph) = (lo.add(i0), hi.add(j0));
                let ((ar, ai), (br, bi)) = (load(pl, false), load(ph, true));
                let ((hkr, hki), (hmr, hmi), (wr, wi)) = (load(hl.add(i0), false), load(hh.add(j0), true), load(tw.add(i0), false));
                let [xkr, xki, xmr, xmi] = post(ar, ai, br, bi, wr, wi);
                // [`super::pair`]'s operations after `post`, in its order.
                let ykr = _mm512_sub_ps(_mm512_mul_ps(xkr, hkr), _mm512_mul_ps(xki, hki));
                let yki = _mm512_add_ps(_mm512_mul_ps(xkr, hki), _mm512_mul_ps(xki, hkr));
                let ymr = _mm512_sub_ps(_mm512_mul_ps(xmr, hmr), _mm512_mul_ps(xmi, hmi));
                let ymi = _mm512_add_ps(_mm512_mul_ps(xmr, hmi), _mm512_mul_ps(xmi, hmr));
                let (yer, yei) = (_mm512_add_ps(ykr, ymr), _mm512_sub_ps(yki, ymi));
                let (dr, di) = (_mm512_sub_ps(ykr, ymr), _mm512_add_ps(yki, ymi));
                let yor = _mm512_add_ps(_mm512_mul_ps(dr, wr), _mm512_mul_ps(di, wi));
                let yoi = _mm512_sub_ps(_mm512_mul_ps(di, wr), _mm512_mul_ps(dr, wi));
                store(pl, _mm512_sub_ps(yer, yoi), _mm512_add_ps(yei, yor), false);
                store(ph, _mm512_add_ps(yer, yoi), _mm512_sub_ps(yor, yei), true);
            }
        }
        blocks * LANES
    }

    /// [`super::blocks_post`]'s blocks.
    ///
    /// # Safety
    /// As [`mul`], with `zl`, `zh` read and `lo`, `hi` written.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn post_blocks(zl: *const f32, zh: *const f32, lo: *mut f32, hi: *mut f32, tw: *const f32, np: usize) -> usize {
        let blocks = np / LANES;
        for blk in 0..blocks {
            let (i0, j0) = offsets(blk, np);
            // SAFETY: as in `mul`.
            unsafe {
                let ((ar, ai), (br, bi), (wr, wi)) = (load(zl.add(i0), false), load(zh.add(j0), true), load(tw.add(i0), false));
                let [xkr, xki, xmr, xmi] = post(ar, ai, br, bi, wr, wi);
                store(lo.add(i0), xkr, xki, false);
                store(hi.add(j0), xmr, xmi, true);
            }
        }
        blocks * LANES
    }
}

/// `z` read as its `2·len` interleaved reals (re, im, re, im, …).
pub(crate) fn reals_mut<T: Scalar>(z: &mut [Complex<T>]) -> &mut [T] {
    // SAFETY: `Complex<T>` is `#[repr(C)] { re: T, im: T }` (num-complex documents the layout),
    // so `len` complex values are `2·len` contiguous `T` with `T`'s alignment; the returned slice
    // borrows `z` mutably for its lifetime.
    unsafe { std::slice::from_raw_parts_mut(z.as_mut_ptr().cast::<T>(), 2 * z.len()) }
}

/// `z` read as its `2·len` interleaved reals.
pub(crate) fn reals<T: Scalar>(z: &[Complex<T>]) -> &[T] {
    // SAFETY: as in [`reals_mut`], shared.
    unsafe { std::slice::from_raw_parts(z.as_ptr().cast::<T>(), 2 * z.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`mul_spectrum`] one pair at a time, as the fallback path does it.
    fn scalar<T: Scalar>(z: &mut [Complex<T>], h: &[Complex<T>], tw: &[Complex<T>]) {
        let nn = z.len();
        let (a, b) = (z[0].re, z[0].im);
        let (y0, yn) = ((a + b) * h[0].re, (a - b) * h[nn].re);
        z[0] = Complex::new(y0 + yn, y0 - yn);
        for k in 1..nn.div_ceil(2) {
            let m = nn - k;
            (z[k], z[m]) = pair(z[k], z[m], h[k], h[m], tw[k]);
        }
        if nn % 2 == 0 && nn >= 2 {
            let k = nn / 2;
            (z[k], _) = pair(z[k], z[k], h[k], h[k], tw[k]);
        }
    }

    /// The vectorized blocks give the scalar path's bits (f32: the AVX-512 path where the CPU has
    /// it), for N with no block, whole blocks, and blocks plus a remainder.
    #[test]
    fn blocks_give_the_scalar_bits() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for nn in [1usize, 2, 3, 32, 33, 34, 35, 66, 162, 1000, 1024] {
            let z: Vec<Complex<f32>> = (0..nn).map(|_| Complex::new(rnd(), rnd())).collect();
            let h: Vec<Complex<f32>> = (0..=nn).map(|_| Complex::new(rnd(), rnd())).collect();
            let tw = twiddles::<f32>(nn);
            let (mut fast, mut slow) = (z.clone(), z);
            mul_spectrum(&mut fast, &h, &tw);
            scalar(&mut slow, &h, &tw);
            for (k, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!(a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits(), "N = {nn}, bin {k}: {a} vs {b}");
            }
            // post_spectrum: blocks vs one pair at a time, and against realfft's rfft of the
            // same real row (a different order of the same arithmetic: close, not equal).
            let x: Vec<f32> = (0..2 * nn).map(|_| rnd()).collect();
            let mut zx: Vec<Complex<f32>> = x.chunks_exact(2).map(|p| Complex::new(p[0], p[1])).collect();
            rustfft::FftPlanner::<f32>::new().plan_fft_forward(nn).process(&mut zx);
            let mut got = vec![Complex::new(f32::NAN, f32::NAN); nn + 1];
            post_spectrum(&zx, &mut got, &tw);
            let mut want = vec![Complex::new(f32::NAN, f32::NAN); nn + 1];
            want[0] = Complex::new(zx[0].re + zx[0].im, 0.0);
            want[nn] = Complex::new(zx[0].re - zx[0].im, 0.0);
            for k in 1..nn.div_ceil(2) {
                (want[k], want[nn - k]) = post(zx[k], zx[nn - k], tw[k]);
            }
            if nn % 2 == 0 && nn >= 2 {
                want[nn / 2] = post(zx[nn / 2], zx[nn / 2], tw[nn / 2]).0;
            }
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits(), "post, N = {nn}, bin {k}: {a} vs {b}");
            }
            let mut xr = x.clone();
            let mut rf = vec![Complex::new(0.0f32, 0.0); nn + 1];
            realfft::RealFftPlanner::<f32>::new().plan_fft_forward(2 * nn).process(&mut xr, &mut rf).unwrap();
            let scale = rf.iter().map(|c| c.norm()).fold(1.0f32, f32::max);
            for (k, (a, b)) in got.iter().zip(&rf).enumerate() {
                assert!((a - b).norm() <= 1e-5 * scale, "post vs realfft, N = {nn}, bin {k}: {a} vs {b}");
            }
        }
    }
}
