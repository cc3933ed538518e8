//! Reference of `kernels/tcdft.cu`: the batched forward complex DFT of length 256,
//! `y[b][k] = Σ_n x[b][n]·e^{-2πi·nk/256}` (unnormalised), through rustfft. Layout: `[batch][256][2]`,
//! (re, im) interleaved.

use crate::error::{check_len, Result};
use crate::scalar::Scalar;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Points per transform.
pub const TC_DFT_LEN: usize = 256;
/// Points per row of the tensor-core FFT prototype (`ops::tcdft::tc_fft8192`).
pub const TC_FFT_LEN: usize = 8192;
/// Real points per row (and filter taps) of the tensor-core convolution prototype
/// (`ops::tcdft::tc_conv8192`): its transforms are [`TC_FFT_LEN`]-point complex FFTs of rows
/// zero padded to `2·TC_CONV_LEN`.
pub const TC_CONV_LEN: usize = 8192;

/// `y = DFT(x)` for `batch` transforms of [`TC_DFT_LEN`] complex points (`x`, `y`: `batch·512`
/// scalars, interleaved).
pub fn dft256<T: Scalar>(x: &[T], y: &mut [T], batch: usize) -> Result<()> {
    let n = crate::error::shape_len("tc_dft256 x [batch, 256, 2]", &[batch, TC_DFT_LEN, 2])?;
    check_len("tc_dft256 x [batch, 256, 2]", x.len(), n)?;
    check_len("tc_dft256 y [batch, 256, 2]", y.len(), n)?;
    let fft = FftPlanner::<T>::new().plan_fft_forward(TC_DFT_LEN);
    let mut buf = vec![Complex::new(T::zero(), T::zero()); TC_DFT_LEN];
    for (xs, ys) in x.chunks_exact(2 * TC_DFT_LEN).zip(y.chunks_exact_mut(2 * TC_DFT_LEN)) {
        for (c, v) in buf.iter_mut().zip(xs.chunks_exact(2)) {
            *c = Complex::new(v[0], v[1]);
        }
        fft.process(&mut buf);
        for (c, v) in buf.iter().zip(ys.chunks_exact_mut(2)) {
            v[0] = c.re;
            v[1] = c.im;
        }
    }
    Ok(())
}

/// `y = FFT(x)` of `batch` rows of [`TC_FFT_LEN`] complex points (rustfft, unnormalised), each
/// row's bins in the four-step order of `kernels/tcdft.cu`'s 8192-point kernel: `y[256·q + K] =
/// X[q + 32·K]` for `q < 32`, `K < 256` (`x`, `y`: `batch·16384` scalars, interleaved).
pub fn fft8192_four_step<T: Scalar>(x: &[T], y: &mut [T], batch: usize) -> Result<()> {
    let n = crate::error::shape_len("tc_fft8192 x [batch, 8192, 2]", &[batch, TC_FFT_LEN, 2])?;
    check_len("tc_fft8192 x [batch, 8192, 2]", x.len(), n)?;
    check_len("tc_fft8192 y [batch, 8192, 2]", y.len(), n)?;
    let fft = FftPlanner::<T>::new().plan_fft_forward(TC_FFT_LEN);
    let mut buf = vec![Complex::new(T::zero(), T::zero()); TC_FFT_LEN];
    for (xs, ys) in x.chunks_exact(2 * TC_FFT_LEN).zip(y.chunks_exact_mut(2 * TC_FFT_LEN)) {
        for (c, v) in buf.iter_mut().zip(xs.chunks_exact(2)) {
            *c = Complex::new(v[0], v[1]);
        }
        fft.process(&mut buf);
        for q in 0..32 {
            for k in 0..256 {
                let c = buf[q + 32 * k];
                ys[2 * (256 * q + k)] = c.re;
                ys[2 * (256 * q + k) + 1] = c.im;
            }
        }
    }
    Ok(())
}

/// The bin-pair coefficients `ops::tcdft::tc_conv8192` reads for `channels` filters `h`
/// (`[channels][8192]`, taps 0..8192): `[channels][8192][4]` f16 = (A re, A im, B re, B im)·2^s_c
/// of bin `k = q + 32·K` at `256·q + K` (the four-step order), computed in f64 and rounded once,
/// and `[channels]` f32 = 2^-s_c, the power of two that puts channel c's largest component in
/// [2^13, 2^14) (f16's relative precision for the whole spectrum; 1 for a zero filter).
///
/// With n = 16384, m = 8192, `H = FFT_n(h zero padded)/n`, `W = e^{−2πi/n}`, the real FFT's split
/// of an m-point spectrum `Z` (`X_k = E + W^k·O`, `E = (Z_k + conj Z_{m−k})/2`, `O = −i(Z_k − conj
/// Z_{m−k})/2`), the product `Y = H·X` and the fold back (`Z'_k = (Y_k + conj Y_{m−k}) + i(Y_k −
/// conj Y_{m−k})·conj W^k`, the fused convolution's, `kernels/fftconv.cu`) collapse to
/// `Z'_k = A_k·Z_k + B_k·conj Z_{m−k}` with `S = H_k + conj H_{m−k}`, `D = H_k − conj H_{m−k}`,
/// `A_k = S + D·Im W^k`, `B_k = i·D·Re W^k` (k = 0 pairs with itself through `H_m`).
pub fn conv8192_coefficients(h: &[f32], channels: usize) -> Result<(Vec<half::f16>, Vec<f32>)> {
    let taps = crate::error::shape_len("tc_conv8192 h [channels, 8192]", &[channels, TC_CONV_LEN])?;
    check_len("tc_conv8192 h [channels, 8192]", h.len(), taps)?;
    let (m, n) = (TC_FFT_LEN, 2 * TC_CONV_LEN);
    let out_len = crate::error::shape_len("tc_conv8192 coef [channels, 8192, 4]", &[channels, m, 4])?;
    let mut out = crate::error::try_vec("tc_conv8192 coef [channels, 8192, 4]", out_len, half::f16::ZERO)?;
    let mut scales = crate::error::try_vec("tc_conv8192 scale [channels]", channels, 1f32)?;
    let fft = FftPlanner::<f64>::new().plan_fft_forward(n);
    let mut buf = vec![Complex::new(0f64, 0f64); n];
    let mut coef = vec![0f64; 4 * m];
    for ((hc, oc), sc) in h.chunks_exact(TC_CONV_LEN).zip(out.chunks_exact_mut(4 * m)).zip(scales.iter_mut()) {
        for (b, &v) in buf.iter_mut().zip(hc.iter().chain(std::iter::repeat(&0f32))) {
            *b = Complex::new(v as f64 / n as f64, 0.0);
        }
        fft.process(&mut buf);
        for k in 0..m {
            let (h1, h2) = (buf[k], buf[m - k].conj());
            let (sum, diff) = (h1 + h2, h1 - h2);
            let (sin, cos) = (-2.0 * std::f64::consts::PI * k as f64 / n as f64).sin_cos();
            let a = sum + diff * sin;
            let b = Complex::new(0.0, 1.0) * diff * cos;
            let at = 4 * (256 * (k % 32) + k / 32);
            coef[at..at + 4].copy_from_slice(&[a.re, a.im, b.re, b.im]);
        }
        let max = coef.iter().fold(0f64, |mx, v| mx.max(v.abs()));
        let s = if max > 0.0 { 13 - max.log2().floor() as i32 } else { 0 };
        let up = 2f64.powi(s);
        for (o, &v) in oc.iter_mut().zip(&coef) {
            *o = half::f16::from_f64(v * up);
        }
        *sc = 2f64.powi(-s) as f32;
    }
    Ok((out, scales))
}
