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
