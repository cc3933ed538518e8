//! Causal long convolution `y = h ∗ u + D·u` through a real FFT of size ≥ 2L, forward and backward.
//!
//! Layouts: signals are rows of length `L` — `u`, `y` as `[B, C, L]`, the filter `h` as `[C, L]`,
//! `D` as `[C]`. The convolution is causal (`y[t] = Σ_{s≤t} h[s]·u[t−s] + D·u[t]`): rows are zero
//! padded to `n ≥ 2L`, never wrapped circularly. Any `L ≥ 1` works; `n` is the smallest even
//! 2·(2ᵃ3ᵇ5ᶜ) ≥ 2L so the FFT stays fast for lengths that are not powers of two.
//!
//! [`fftconv_direct`] is the O(L²) oracle, used only by tests.

use crate::error::{check_len, shape_len, try_alloc_probe, try_vec, HyenaError, Result};
use super::reduce::dot_f64;
use crate::scalar::Scalar;
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Smallest 2ᵃ·3ᵇ·5ᶜ ≥ `x` (x ≥ 1; `usize::MAX` when no such number fits in `usize`).
///
/// Enumerates the candidates `2ᵃ·p` for every `p = 3ᵇ·5ᶜ` below the next power of two (a few
/// hundred at most for 64-bit `x`) instead of testing `x, x+1, …`, which takes ~x/log³x steps for
/// huge x: a caller-chosen length must not hang the planner.
pub fn next_smooth(x: usize) -> usize {
    // u128: candidates reach 2⁶⁴ when x > 2⁶³.
    let x = x.max(1) as u128;
    let mut best = x.next_power_of_two();
    let mut p5 = 1u128;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            let mut v = p35;
            while v < x {
                v *= 2;
            }
            best = best.min(v);
            p35 *= 3;
        }
        p5 *= 5;
    }
    usize::try_from(best).unwrap_or(usize::MAX)
}

/// A real-FFT plan for causal convolutions of rows of length `l` (FFT size `n ≥ 2l`).
#[derive(Clone)]
pub struct FftConvPlan<T: Scalar> {
    l: usize,
    n: usize,
    fwd: Arc<dyn RealToComplex<T>>,
    inv: Arc<dyn ComplexToReal<T>>,
    /// The N = n/2 point complex FFTs under realfft's, for the forward's fused rows
    /// ([`super::halfspec`]).
    half_fwd: Arc<dyn rustfft::Fft<T>>,
    half_inv: Arc<dyn rustfft::Fft<T>>,
    /// `e^{−iπk/N}`, k = 0..=N/2 ([`super::halfspec::twiddles`]).
    half_tw: Arc<[Complex<T>]>,
}

/// Per-thread scratch space of [`FftConvPlan`]'s half-length path (the forward's fused rows).
pub struct HalfScratch<T: Scalar> {
    /// The row as N = n/2 complex values (the real row's sample pairs), transformed in place.
    z: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
}

/// Per-thread scratch space of an [`FftConvPlan`].
pub struct FftScratch<T: Scalar> {
    /// Real work row of length `n`.
    pub real: Vec<T>,
    /// Complex work spectrum of length `n/2 + 1`.
    pub spec: Vec<Complex<T>>,
    scratch_fwd: Vec<Complex<T>>,
    scratch_inv: Vec<Complex<T>>,
}

impl<T: Scalar> FftConvPlan<T> {
    /// Plan for rows of length `l ≥ 1`.
    pub fn new(l: usize) -> Result<Self> {
        if l == 0 {
            return Err(HyenaError::Length("sequence length must be at least 1".into()));
        }
        // next_smooth(l) ≤ 2^⌈log2 l⌉ < 2l, so n < 4l: no overflow once 4l fits.
        if l > usize::MAX / 4 {
            return Err(HyenaError::Length(format!("sequence length {l} is too long for an FFT plan")));
        }
        let n = 2 * next_smooth(l);
        // realfft allocates the twiddles of both directions (≈ n complex values) with no
        // fallible API, and every thread's scratch needs ≈ n more: refuse a length whose plan
        // cannot be allocated instead of aborting inside the planner.
        // (A saturated count is above isize::MAX bytes and fails like any other.)
        // The half-length complex FFTs and their twiddles add ≈ n more.
        try_alloc_probe::<Complex<T>>("FFT plan and scratch (3n complex values)", n.saturating_mul(3))?;
        let mut planner = RealFftPlanner::<T>::new();
        let mut half = rustfft::FftPlanner::<T>::new();
        Ok(Self {
            l,
            n,
            fwd: planner.plan_fft_forward(n),
            inv: planner.plan_fft_inverse(n),
            half_fwd: half.plan_fft_forward(n / 2),
            half_inv: half.plan_fft_inverse(n / 2),
            half_tw: super::halfspec::twiddles::<T>(n / 2).into(),
        })
    }
    /// A plan from a process-wide cache (plans are immutable and cheap to clone), created on
    /// first use for each (scalar type, L).
    pub fn cached(l: usize) -> Result<Self> {
        use std::any::{Any, TypeId};
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        type Cache = Mutex<HashMap<(TypeId, usize), Box<dyn Any + Send + Sync>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let key = (TypeId::of::<T>(), l);
        if let Ok(map) = cache.lock() {
            if let Some(p) = map.get(&key).and_then(|b| b.downcast_ref::<Self>()) {
                return Ok(p.clone());
            }
        }
        let plan = Self::new(l)?;
        if let Ok(mut map) = cache.lock() {
            map.insert(key, Box::new(plan.clone()));
        }
        Ok(plan)
    }
    /// Row length L.
    pub fn len(&self) -> usize {
        self.l
    }
    /// Always false (L ≥ 1); present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// FFT size n (even, ≥ 2L).
    pub fn fft_size(&self) -> usize {
        self.n
    }
    /// Number of complex bins, n/2 + 1.
    pub fn bins(&self) -> usize {
        self.n / 2 + 1
    }
    /// Fresh scratch space for one thread.
    pub fn scratch(&self) -> FftScratch<T> {
        FftScratch {
            real: vec![T::zero(); self.n],
            spec: vec![Complex::new(T::zero(), T::zero()); self.bins()],
            scratch_fwd: vec![Complex::new(T::zero(), T::zero()); self.fwd.get_scratch_len()],
            scratch_inv: vec![Complex::new(T::zero(), T::zero()); self.inv.get_scratch_len()],
        }
    }
    /// Fresh scratch space for one thread of the half-length path.
    pub fn half_scratch(&self) -> HalfScratch<T> {
        let s = self.half_fwd.get_inplace_scratch_len().max(self.half_inv.get_inplace_scratch_len());
        HalfScratch { z: vec![Complex::new(T::zero(), T::zero()); self.n / 2], scratch: vec![Complex::new(T::zero(), T::zero()); s] }
    }
    /// The causal convolution of one row on the half-length path: `ws.z` holds the zero-padded
    /// row as its n reals ([`super::halfspec::reals_mut`]) and is replaced by `n·(h ∗ row)` (the
    /// first L reals are the convolution), `hf` the filter's n/2+1 bins (from
    /// [`FftConvPlan::filter_spectra`], scaled by 1/n, so the first L reals are `h ∗ row`).
    /// Forward FFT, [`super::halfspec::mul_spectrum`], inverse FFT: what `rfft`, the product and
    /// `irfft` compute, with realfft's two passes over the bins and the product fused into one.
    fn conv_half(&self, hf: &[Complex<T>], ws: &mut HalfScratch<T>) {
        self.half_fwd.process_with_scratch(&mut ws.z, &mut ws.scratch);
        super::halfspec::mul_spectrum(&mut ws.z, hf, &self.half_tw);
        self.half_inv.process_with_scratch(&mut ws.z, &mut ws.scratch);
    }
    /// Spectrum of `x` (length ≤ n, zero padded to n), scaled by `scale`, into `out` (n/2+1 bins).
    pub fn rfft(&self, x: &[T], scale: T, out: &mut [Complex<T>], ws: &mut FftScratch<T>) -> Result<()> {
        if x.len() > self.n {
            return Err(HyenaError::shape("rfft input", format!("at most {} samples", self.n), x.len()));
        }
        check_len("rfft output bins", out.len(), self.bins())?;
        scaled_zero_padded(x, scale, &mut ws.real);
        self.fwd
            .process_with_scratch(&mut ws.real, out, &mut ws.scratch_fwd)
            .map_err(|e| HyenaError::Device(format!("rfft: {e}")))
    }
    /// Inverse FFT of `spec` (n/2+1 bins, destroyed) without normalisation; writes the first
    /// `out.len()` (≤ n) samples.
    pub fn irfft(&self, spec: &mut [Complex<T>], out: &mut [T], ws: &mut FftScratch<T>) -> Result<()> {
        check_len("irfft input bins", spec.len(), self.bins())?;
        if out.len() > self.n {
            return Err(HyenaError::shape("irfft output", format!("at most {} samples", self.n), out.len()));
        }
        // A real signal's spectrum has real DC and Nyquist bins; clear rounding residue.
        spec[0].im = T::zero();
        let last = spec.len() - 1;
        spec[last].im = T::zero();
        self.inv
            .process_with_scratch(spec, &mut ws.real, &mut ws.scratch_inv)
            .map_err(|e| HyenaError::Device(format!("irfft: {e}")))?;
        let k = out.len();
        out.copy_from_slice(&ws.real[..k]);
        Ok(())
    }
    /// Filter spectra for `c` rows of `h` ([C, L]), scaled by 1/n so that a product with a signal
    /// spectrum followed by [`FftConvPlan::irfft`] is the convolution. Returns `[C, n/2+1]`.
    pub fn filter_spectra(&self, h: &[T], c: usize) -> Result<Vec<Complex<T>>> {
        check_len("filter h", h.len(), shape_len("filter h [C, L]", &[c, self.l])?)?;
        let n = shape_len("filter spectra [C, bins]", &[c, self.bins()])?;
        let mut out = try_vec("filter spectra [C, bins]", n, Complex::new(T::zero(), T::zero()))?;
        self.filter_spectra_into(h, c, &mut out)?;
        Ok(out)
    }
    /// [`FftConvPlan::filter_spectra`] into `out` (`[C, n/2+1]`), reusing its memory.
    pub fn filter_spectra_into(&self, h: &[T], c: usize, out: &mut [Complex<T>]) -> Result<()> {
        check_len("filter h", h.len(), shape_len("filter h [C, L]", &[c, self.l])?)?;
        let bins = self.bins();
        check_len("filter spectra [C, bins]", out.len(), c * bins)?;
        let scale = T::one() / T::lit(self.n as f64);
        // On the half-length path: the scaled, zero-padded row as N = n/2 complex pairs, FFT_N,
        // then realfft's post-processing vectorized ([`super::halfspec::post_spectrum`]).
        out.par_chunks_mut(bins).zip(h.par_chunks(self.l)).for_each_init(
            || self.half_scratch(),
            |ws, (o, row)| {
                scaled_zero_padded(row, scale, super::halfspec::reals_mut(&mut ws.z));
                self.half_fwd.process_with_scratch(&mut ws.z, &mut ws.scratch);
                super::halfspec::post_spectrum(&ws.z, o, &self.half_tw);
            },
        );
        Ok(())
    }
}

/// `dst[..x.len()] = x · scale`, the rest of `dst` zero (`x.len() ≤ dst.len()`): an FFT's input
/// row, scaled and zero-padded ([`FftConvPlan::rfft`], [`FftConvPlan::filter_spectra_into`]).
fn scaled_zero_padded<T: Scalar>(x: &[T], scale: T, dst: &mut [T]) {
    let (head, tail) = dst.split_at_mut(x.len());
    if scale == T::one() {
        head.copy_from_slice(x);
    } else {
        head.iter_mut().zip(x).for_each(|(r, &v)| *r = v * scale);
    }
    tail.iter_mut().for_each(|r| *r = T::zero());
}

/// Check the shapes shared by forward and backward.
fn check_conv<T>(u: &[T], h: &[T], d: &[T], b: usize, c: usize, l: usize) -> Result<()> {
    if l == 0 {
        return Err(HyenaError::Length("sequence length must be at least 1".into()));
    }
    check_len("fftconv u [B, C, L]", u.len(), shape_len("fftconv u [B, C, L]", &[b, c, l])?)?;
    check_len("fftconv h [C, L]", h.len(), shape_len("fftconv h [C, L]", &[c, l])?)?;
    check_len("fftconv D [C]", d.len(), c)?;
    Ok(())
}

/// Forward: `y[b, c] = h[c] ∗ u[b, c] + D[c]·u[b, c]` (causal), `u`, `y` as `[B, C, L]`: the
/// ungated case of [`gated_fftconv_fwd`].
pub fn fftconv_fwd<T: Scalar>(u: &[T], h: &[T], d: &[T], b: usize, c: usize, l: usize, y: &mut [T]) -> Result<()> {
    check_conv(u, h, d, b, c, l)?;
    check_len("fftconv y [B, C, L]", y.len(), u.len())?;
    let plan = FftConvPlan::<T>::cached(l)?;
    let hf = plan.filter_spectra(h, c)?;
    gated_fftconv_fwd(&plan, &hf, d, Rows::contiguous(u, b, c, l)?, None, None, y)
}

/// Gradients of [`fftconv_fwd`] given `grad_y` ([B, C, L]).
pub struct FftConvGrads<T> {
    /// d/du, [B, C, L].
    pub grad_u: Vec<T>,
    /// d/dh, [C, L] (summed over the batch).
    pub grad_h: Vec<T>,
    /// d/dD, `[C]`.
    pub grad_d: Vec<T>,
}

/// Backward of [`fftconv_fwd`]: `grad_u = h ⋆ grad_y + D·grad_y` (anti-causal correlation),
/// `grad_h[s] = Σ_b Σ_t grad_y[t]·u[t−s]` (reduced over the batch in the frequency domain),
/// `grad_D = Σ_b Σ_t grad_y·u`.
pub fn fftconv_bwd<T: Scalar>(
    u: &[T],
    h: &[T],
    d: &[T],
    grad_y: &[T],
    b: usize,
    c: usize,
    l: usize,
) -> Result<FftConvGrads<T>> {
    check_conv(u, h, d, b, c, l)?;
    check_len("fftconv grad_y [B, C, L]", grad_y.len(), u.len())?;
    let plan = FftConvPlan::<T>::cached(l)?;
    let hf = plan.filter_spectra(h, c)?;
    let g = gated_fftconv_bwd(&plan, &hf, d, Rows::contiguous(u, b, c, l)?, None, None, grad_y)?;
    Ok(FftConvGrads { grad_u: g.grad_v, grad_h: g.grad_h, grad_d: g.grad_d })
}

/// The O(L²) oracle of [`fftconv_fwd`]: direct causal sums. Tests only.
pub fn fftconv_direct<T: Scalar>(u: &[T], h: &[T], d: &[T], b: usize, c: usize, l: usize) -> Result<Vec<T>> {
    check_conv(u, h, d, b, c, l)?;
    let mut y = vec![T::zero(); b * c * l];
    for row in 0..b * c {
        let ch = row % c;
        let ur = &u[row * l..(row + 1) * l];
        let hr = &h[ch * l..(ch + 1) * l];
        for t in 0..l {
            let mut acc = d[ch] * ur[t];
            for s in 0..=t {
                acc = acc + hr[s] * ur[t - s];
            }
            y[row * l + t] = acc;
        }
    }
    Ok(y)
}

/// A read-only view of `B × C` rows of length `L` inside a larger buffer: row `(b, c)` starts at
/// `b·batch_stride + c·L`. Lets the operator address `x_i` and `v` inside the short-conv output
/// `[B, (N+1)·D, L]` without copies.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a, T> {
    data: &'a [T],
    batch: usize,
    channels: usize,
    len: usize,
    batch_stride: usize,
}

impl<'a, T> Rows<'a, T> {
    /// A view checked to lie inside `data`.
    pub fn new(data: &'a [T], batch: usize, channels: usize, len: usize, batch_stride: usize) -> Result<Self> {
        if batch > 0 && channels > 0 {
            let per_batch = shape_len("row view [C, L]", &[channels, len])?;
            let need = (batch - 1)
                .checked_mul(batch_stride)
                .and_then(|x| x.checked_add(per_batch))
                .ok_or_else(|| {
                    HyenaError::Invalid(format!(
                        "row view: {batch} batches with stride {batch_stride} reach past usize::MAX"
                    ))
                })?;
            if data.len() < need || batch_stride < per_batch && batch > 1 {
                return Err(HyenaError::shape(
                    "row view",
                    format!("{need} elements with batch stride ≥ {per_batch}"),
                    format!("{} elements, batch stride {batch_stride}", data.len()),
                ));
            }
        }
        Ok(Self { data, batch, channels, len, batch_stride })
    }
    /// Contiguous `[B, C, L]`.
    pub fn contiguous(data: &'a [T], batch: usize, channels: usize, len: usize) -> Result<Self> {
        check_len("rows [B, C, L]", data.len(), shape_len("rows [B, C, L]", &[batch, channels, len])?)?;
        Self::new(data, batch, channels, len, shape_len("rows [C, L]", &[channels, len])?)
    }
    /// Row `(b, c)`.
    ///
    /// # Panics
    /// When `b ≥ B` or `c ≥ C` (an index outside the view); [`Rows::get`] returns `None` instead.
    /// Library code calls it only with indices below [`Rows::dims`].
    #[inline]
    #[allow(clippy::panic)] // an indexing accessor, documented to panic like slice indexing
    pub fn row(&self, b: usize, c: usize) -> &'a [T] {
        match self.get(b, c) {
            Some(r) => r,
            None => panic!("Rows::row({b}, {c}) outside a view of {} × {} rows", self.batch, self.channels),
        }
    }
    /// Row `(b, c)`, or `None` when `b ≥ B` or `c ≥ C`.
    #[inline]
    pub fn get(&self, b: usize, c: usize) -> Option<&'a [T]> {
        if b >= self.batch || c >= self.channels {
            return None;
        }
        // In range: `new` checked (B−1)·stride + C·L ≤ data.len(), so nothing overflows.
        let o = b * self.batch_stride + c * self.len;
        self.data.get(o..o + self.len)
    }
    /// (B, C, L).
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.batch, self.channels, self.len)
    }
}

/// Gradients of [`gated_fftconv_fwd`]; every `[B, C, L]` tensor is contiguous.
pub struct GatedConvGrads<T> {
    /// `[B, C, L]`.
    pub grad_v: Vec<T>,
    /// Present when `pre` was given.
    pub grad_pre: Option<Vec<T>>,
    /// Present when `post` was given.
    pub grad_post: Option<Vec<T>>,
    /// `[C, L]`, reduced over the batch.
    pub grad_h: Vec<T>,
    /// `[C]`.
    pub grad_d: Vec<T>,
}

fn check_gated<T: Scalar>(
    plan: &FftConvPlan<T>,
    hf: &[Complex<T>],
    d: &[T],
    v: &Rows<'_, T>,
    pre: Option<&Rows<'_, T>>,
    post: Option<&Rows<'_, T>>,
) -> Result<(usize, usize, usize)> {
    let (b, c, l) = v.dims();
    if l != plan.len() {
        return Err(HyenaError::shape("gated conv rows", format!("length {}", plan.len()), format!("length {l}")));
    }
    check_len("gated conv filter spectra [C, bins]", hf.len(), shape_len("gated conv filter spectra", &[c, plan.bins()])?)?;
    check_len("gated conv D [C]", d.len(), c)?;
    for (name, r) in [("pre", pre), ("post", post)] {
        if let Some(r) = r {
            if r.dims() != (b, c, l) {
                return Err(HyenaError::shape(
                    format!("gated conv {name}"),
                    format!("{:?}", (b, c, l)),
                    format!("{:?}", r.dims()),
                ));
            }
        }
    }
    Ok((b, c, l))
}

/// `a = pre ⊙ v` for one row (`a = v` without a gate).
fn gate_row<T: Scalar>(a: &mut [T], v: &[T], pre: Option<&[T]>) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        /// [`gate_row_generic`] compiled for AVX-512 (the same products: the same bits).
        #[target_feature(enable = "avx512f")]
        fn avx512<T: Scalar>(a: &mut [T], v: &[T], pre: Option<&[T]>) {
            gate_row_generic(a, v, pre)
        }
        // SAFETY: the CPU has AVX-512F (checked above).
        return unsafe { avx512(a, v, pre) };
    }
    gate_row_generic(a, v, pre)
}

#[inline(always)]
fn gate_row_generic<T: Scalar>(a: &mut [T], v: &[T], pre: Option<&[T]>) {
    match pre {
        Some(p) => a.iter_mut().zip(v).zip(p).for_each(|((o, &x), &g)| *o = x * g),
        None => a.copy_from_slice(v),
    }
}

/// Fused gated causal convolution, forward: `y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ (pre ⊙ v))`, with
/// `pre`/`post` optional (1 when absent). `hf` are the filter spectra of
/// [`FftConvPlan::filter_spectra`]; `y` is contiguous `[B, C, L]`.
pub fn gated_fftconv_fwd<T: Scalar>(
    plan: &FftConvPlan<T>,
    hf: &[Complex<T>],
    d: &[T],
    v: Rows<'_, T>,
    pre: Option<Rows<'_, T>>,
    post: Option<Rows<'_, T>>,
    y: &mut [T],
) -> Result<()> {
    let (b, c, l) = check_gated(plan, hf, d, &v, pre.as_ref(), post.as_ref())?;
    check_len("gated conv y [B, C, L]", y.len(), b * c * l)?;
    let bins = plan.bins();
    // Per row, two passes over L besides the FFTs: the gate is written straight into the FFT's
    // input row (zero padded), and the output pass reads the inverse FFT's row and computes the
    // gate `pre ⊙ v` again for the skip term (one product, the same value as the first one)
    // instead of keeping it in a row of its own: the gate row, its copy into the FFT input, the
    // copy of the inverse FFT's output and a separate output pass were 4 passes (~9 % of an
    // inference forward's samples at B = 1, D = 256, L = 2K went to the non-FFT loops here).
    //
    // Between the FFTs, one pass over the bins: the half-length path ([`super::halfspec`]) fuses
    // realfft's post-processing, the product with the filter's bins and the inverse's
    // pre-processing (three scalar passes before).
    y.par_chunks_mut(l).enumerate().try_for_each_init(
        || plan.half_scratch(),
        |ws, (row, yr)| -> Result<()> {
            let (bi, ch) = (row / c, row % c);
            let (vr, pr) = (v.row(bi, ch), pre.as_ref().map(|p| p.row(bi, ch)));
            let x = super::halfspec::reals_mut(&mut ws.z);
            gate_row(&mut x[..l], vr, pr);
            x[l..].iter_mut().for_each(|r| *r = T::zero());
            plan.conv_half(&hf[ch * bins..(ch + 1) * bins], ws);
            let conv = &super::halfspec::reals(&ws.z)[..l];
            out_row(yr, conv, vr, pr, post.as_ref().map(|q| q.row(bi, ch)), d[ch]);
            Ok(())
        },
    )
}

/// The forward's output pass of one row: `y = post ⊙ (conv + D·(pre ⊙ v))` (`pre`, `post` 1 when
/// absent), compiled for AVX-512 where the CPU has it (the same operations: the same bits).
fn out_row<T: Scalar>(y: &mut [T], conv: &[T], v: &[T], pre: Option<&[T]>, post: Option<&[T]>, dd: T) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        /// [`out_row_generic`] compiled for AVX-512.
        #[target_feature(enable = "avx512f")]
        fn avx512<T: Scalar>(y: &mut [T], conv: &[T], v: &[T], pre: Option<&[T]>, post: Option<&[T]>, dd: T) {
            out_row_generic(y, conv, v, pre, post, dd)
        }
        // SAFETY: the CPU has AVX-512F (checked above).
        return unsafe { avx512(y, conv, v, pre, post, dd) };
    }
    out_row_generic(y, conv, v, pre, post, dd)
}

#[inline(always)]
fn out_row_generic<T: Scalar>(y: &mut [T], conv: &[T], v: &[T], pre: Option<&[T]>, post: Option<&[T]>, dd: T) {
    match (post, pre) {
        (Some(q), Some(p)) => {
            y.iter_mut().zip(conv).zip(v.iter().zip(p)).zip(q).for_each(|(((o, &h), (&x, &g0)), &g)| *o = (h + dd * (x * g0)) * g)
        }
        (Some(q), None) => y.iter_mut().zip(conv).zip(v).zip(q).for_each(|(((o, &h), &x), &g)| *o = (h + dd * x) * g),
        (None, Some(p)) => y.iter_mut().zip(conv).zip(v.iter().zip(p)).for_each(|((o, &h), (&x, &g0))| *o = h + dd * (x * g0)),
        (None, None) => y.iter_mut().zip(conv).zip(v).for_each(|((o, &h), &x)| *o = h + dd * x),
    }
}

/// Backward of [`gated_fftconv_fwd`] given `grad_y` (contiguous `[B, C, L]`).
///
/// `grad_h` is reduced over the batch in the frequency domain (one inverse FFT per channel).
pub fn gated_fftconv_bwd<T: Scalar>(
    plan: &FftConvPlan<T>,
    hf: &[Complex<T>],
    d: &[T],
    v: Rows<'_, T>,
    pre: Option<Rows<'_, T>>,
    post: Option<Rows<'_, T>>,
    grad_y: &[T],
) -> Result<GatedConvGrads<T>> {
    let (b, c, l) = check_gated(plan, hf, d, &v, pre.as_ref(), post.as_ref())?;
    let n_all = shape_len("gated conv grad_y [B, C, L]", &[b, c, l])?;
    let mut grad_v = vec![T::zero(); n_all];
    let mut grad_pre = pre.map(|_| vec![T::zero(); n_all]);
    let mut grad_post = post.map(|_| vec![T::zero(); n_all]);
    let mut grad_h = vec![T::zero(); c * l];
    let mut grad_d = vec![T::zero(); c];
    fn rows<T>(buf: &mut Vec<T>, l: usize) -> Vec<&mut [T]> {
        buf.chunks_mut(l).collect()
    }
    let out = GatedBwdOut {
        grad_v: rows(&mut grad_v, l),
        grad_pre: grad_pre.as_mut().map(|x| rows(x, l)),
        grad_post: grad_post.as_mut().map(|x| rows(x, l)),
        grad_h: &mut grad_h,
        grad_d: &mut grad_d,
    };
    gated_fftconv_bwd_into(plan, hf, d, v, pre, post, grad_y, out)?;
    Ok(GatedConvGrads { grad_v, grad_pre, grad_post, grad_h, grad_d })
}

/// Where [`gated_fftconv_bwd_into`] writes the gradients (every element is written, none read).
///
/// The `[B, C, L]` gradients are given as their `B·C` rows of length L in `(b, c)` order, so
/// that they may lie anywhere (e.g. in the chunks of a larger buffer, as the operator's
/// short-conv output gradient `[B, (N+1)·D, L]`) without a copy.
pub struct GatedBwdOut<'a, T> {
    /// Rows of `grad_v`.
    pub grad_v: Vec<&'a mut [T]>,
    /// Rows of `grad_pre`: exactly when `pre` is given.
    pub grad_pre: Option<Vec<&'a mut [T]>>,
    /// Rows of `grad_post`: exactly when `post` is given.
    pub grad_post: Option<Vec<&'a mut [T]>>,
    /// `[C, L]`, reduced over the batch.
    pub grad_h: &'a mut [T],
    /// `[C]`.
    pub grad_d: &'a mut [T],
}

/// [`gated_fftconv_bwd`] writing into caller-given rows ([`GatedBwdOut`]): no allocation of the
/// `[B, C, L]` gradients, and no copy of them into where the caller needs them.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_bwd_into<T: Scalar>(
    plan: &FftConvPlan<T>,
    hf: &[Complex<T>],
    d: &[T],
    v: Rows<'_, T>,
    pre: Option<Rows<'_, T>>,
    post: Option<Rows<'_, T>>,
    grad_y: &[T],
    out: GatedBwdOut<'_, T>,
) -> Result<()> {
    let (b, c, l) = check_gated(plan, hf, d, &v, pre.as_ref(), post.as_ref())?;
    check_len("gated conv grad_y [B, C, L]", grad_y.len(), b * c * l)?;
    let GatedBwdOut { grad_v, grad_pre, grad_post, grad_h, grad_d } = out;
    check_len("gated conv grad_h [C, L]", grad_h.len(), c * l)?;
    check_len("gated conv grad_D [C]", grad_d.len(), c)?;
    for (name, rows, want) in [("grad_v", Some(&grad_v), true), ("grad_pre", grad_pre.as_ref(), pre.is_some()), ("grad_post", grad_post.as_ref(), post.is_some())] {
        match rows {
            Some(r) if want => {
                check_len(&format!("gated conv {name} rows"), r.len(), b * c)?;
                if let Some(bad) = r.iter().find(|x| x.len() != l) {
                    return Err(HyenaError::shape(format!("gated conv {name} row"), format!("{l} elements"), bad.len()));
                }
            }
            None if !want => {}
            _ => return Err(HyenaError::Invalid(format!("gated conv backward: {name} must be given exactly when its gate is"))),
        }
    }
    let bins = plan.bins();
    let inv_n = T::one() / T::lit(plan.fft_size() as f64);
    // Per channel, the rows of each gradient over the batch (one task owns one channel).
    fn by_channel<T>(rows: Option<Vec<&mut [T]>>, c: usize) -> Vec<Vec<&mut [T]>> {
        let mut out: Vec<Vec<&mut [T]>> = (0..c).map(|_| Vec::new()).collect();
        for (row, r) in rows.into_iter().flatten().enumerate() {
            out[row % c].push(r);
        }
        out
    }
    let gv_rows = by_channel(Some(grad_v), c);
    let gpre_rows = by_channel(grad_pre, c);
    let gpost_rows = by_channel(grad_post, c);
    gv_rows
        .into_par_iter()
        .zip(gpre_rows)
        .zip(gpost_rows)
        .zip(grad_h.par_chunks_mut(l))
        .zip(grad_d.par_iter_mut())
        .enumerate()
        .try_for_each_init(
            || {
                let z = Complex::new(T::zero(), T::zero());
                let acc_len = if b > 1 { bins } else { 0 };
                (plan.scratch(), vec![z; bins], vec![z; bins], vec![Complex::new(0.0f64, 0.0); acc_len], vec![T::zero(); l], vec![T::zero(); l])
            },
            |(ws, sa, sg, acc, a, g), (ch, ((((gvs, gpres), gposts), gh), gd))| -> Result<()> {
                let mut gpres = gpres.into_iter();
                let mut gposts = gposts.into_iter();
                let missing = || HyenaError::Invalid("internal: gradient row missing".into());
                // The batch sums (grad_h's spectrum, grad_D = Σ_b Σ_t g·a) accumulate in f64: see
                // `super::reduce` (grad_D sums B·L products; they are exact in f64 for f32 data).
                // With one batch item the spectrum's "sum" is its one product: it stays in `sa`
                // (the same value: an f32 product round-trips through f64 exactly).
                acc.iter_mut().for_each(|x| *x = Complex::new(0.0, 0.0));
                let hk = &hf[ch * bins..(ch + 1) * bins];
                let dd = d[ch];
                let mut dsum = 0.0f64;
                for (bi, gv) in gvs.into_iter().enumerate() {
                    let off = (bi * c + ch) * l;
                    let vr = v.row(bi, ch);
                    let gy = &grad_y[off..off + l];
                    gate_row(a, vr, pre.as_ref().map(|p| p.row(bi, ch)));
                    plan.rfft(a, inv_n, sa, ws)?;
                    // g = dL/ds where s = h∗a + D·a; with post, also dL/dpost = grad_y ⊙ s.
                    match post {
                        Some(q) => {
                            let qr = q.row(bi, ch);
                            // s = irfft(A·H) + D·a  (A is scaled by 1/n; H too: undo one of them).
                            let nn = T::lit(plan.fft_size() as f64);
                            for ((s, &x), &k) in sg.iter_mut().zip(sa.iter()).zip(hk) {
                                *s = x * k * nn;
                            }
                            let gpo = gposts.next().ok_or_else(missing)?;
                            plan.irfft(sg, gpo, ws)?;
                            for (((o, &x), &gyv), gval) in gpo.iter_mut().zip(a.iter()).zip(gy).zip(g.iter_mut().zip(qr)) {
                                *o = (*o + dd * x) * gyv;
                                *gval.0 = gyv * *gval.1;
                            }
                        }
                        None => g.copy_from_slice(gy),
                    }
                    plan.rfft(g, T::one(), sg, ws)?;
                    if b > 1 {
                        for (((ac, &x), s), &k) in acc.iter_mut().zip(sa.iter()).zip(sg.iter_mut()).zip(hk) {
                            let p = x.conj() * *s;
                            *ac += Complex::new(p.re.as_f64(), p.im.as_f64());
                            *s = *s * k.conj();
                        }
                    } else {
                        for ((x, s), &k) in sa.iter_mut().zip(sg.iter_mut()).zip(hk) {
                            *x = x.conj() * *s;
                            *s = *s * k.conj();
                        }
                    }
                    // ga = h ⋆ g + D·g, written into gv, then split into grad_v / grad_pre.
                    plan.irfft(sg, gv, ws)?;
                    for (o, &gg) in gv.iter_mut().zip(g.iter()) {
                        *o = *o + dd * gg;
                    }
                    dsum += dot_f64(g, a);
                    if let Some(p) = pre {
                        let gp = gpres.next().ok_or_else(missing)?;
                        for ((gpv, gav), (&x, &q)) in gp.iter_mut().zip(gv.iter_mut()).zip(vr.iter().zip(p.row(bi, ch))) {
                            *gpv = *gav * x;
                            *gav = *gav * q;
                        }
                    }
                }
                *gd = T::lit(dsum);
                if b > 1 {
                    sa.iter_mut().zip(acc.iter()).for_each(|(s, x)| *s = Complex::new(T::lit(x.re), T::lit(x.im)));
                }
                plan.irfft(sa, gh, ws)
            },
        )?;
    Ok(())
}
