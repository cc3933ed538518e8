//! Batched complex DFT of length 256 on tensor cores (`kernels/tcdft.cu`): two radix-16 stages, each
//! a 16×16 complex DFT-matrix product as TF32 `mma.sync` GEMMs, twiddles between them on CUDA cores.
//! Layout `[batch][256][2]` f32, (re, im) interleaved; `y = DFT(x)` unnormalised, as
//! [`crate::cpu::tcdft::dft256`]. Not used by the operator yet (docs/GPU_MODEL.md,
//! "Tensor-core FFT stages").

use super::{launch, mul, Args, ELEMENTWISE_MAX_GRID};
use crate::cpu::tcdft::{TC_CONV_LEN, TC_DFT_LEN, TC_FFT_LEN};
use crate::device::{Device, DeviceView, DeviceViewMut, LaunchConfig};
use crate::error::{HyenaError, Result};
use crate::kernels::params::{HyenaTcConvParams, HyenaTcDftParams};
use std::sync::Arc;

/// Transforms per block: one per warp (`WARPS` in the kernel).
const PER_BLOCK: usize = 4;

/// Operand precision of the tensor-core products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcPrecision {
    /// Every operand rounded once to tf32 (relative error of a few 2⁻¹¹).
    Tf32,
    /// 3xTF32: `a = hi + lo`, three products per product (f32-level error, 3× the MMAs).
    Split3xTf32,
    /// Every operand rounded once to f16 (`mma.m16n8k16`: unit roundoff 2⁻¹¹ as tf32, half the
    /// MMAs and conversions per point; data within f16's range, as the DFT of values in [−1, 1]).
    F16,
}

/// `y = DFT₂₅₆(x)` for `batch` transforms (`x`, `y`: `batch·512` f32, 8-byte aligned).
pub fn tc_dft256<'a>(
    dev: &Arc<dyn Device>,
    x: impl Into<DeviceView<'a, f32>>,
    y: impl Into<DeviceViewMut<'a, f32>>,
    batch: usize,
    precision: TcPrecision,
) -> Result<()> {
    let (x, y) = (x.into(), y.into());
    let n = mul(batch, 2 * TC_DFT_LEN, "tc_dft256 batch·512")?;
    Args::new(dev, "tc_dft256")
        .arg("x [batch, 256, 2]", &x, n)
        .align(8, "complex f32")
        .arg("y [batch, 256, 2]", &y, n)
        .align(8, "complex f32")
        .check()?;
    if batch == 0 {
        return Ok(());
    }
    let p = HyenaTcDftParams {
        x: x.addr(),
        y: y.addr(),
        batch: batch as u64,
        split: (precision == TcPrecision::Split3xTf32) as u64,
    };
    let grid = batch.div_ceil(PER_BLOCK).min(ELEMENTWISE_MAX_GRID as usize) as u32;
    let cfg = LaunchConfig { grid: (grid, 1, 1), block: (32 * PER_BLOCK as u32, 1, 1), shared_bytes: 0 };
    let kernel = if precision == TcPrecision::F16 { "hyena_tc_dft256_f16mma_f32" } else { "hyena_tc_dft256_f32" };
    // SAFETY: either kernel reads batch·512 f32 of x (borrowed shared) and writes batch·512 of y
    // (borrowed exclusively, overlapping nothing: checked), both on `dev`, 8-byte aligned (checked).
    unsafe { launch(dev, kernel, cfg, &p) }
}

/// Rows per block of [`tc_fft8192`]'s kernel: one, 16 warps.
const FFT8K_THREADS: u32 = 512;
/// Its dynamic shared memory: the row's re and im planes, 8192 f32 each.
const FFT8K_DYN_SHARED: usize = 2 * TC_FFT_LEN * 4;
/// Its static shared memory: the constant operands (48 words per lane) and each warp's stage-1
/// twiddles (2 × 6 words per lane).
const FFT8K_STATIC_SHARED: usize = (48 + 16 * 12) * 32 * 4;

/// `y = FFT₈₁₉₂(x)` for `batch` rows on tensor cores, f16 operands (`hyena_tc_fft8192_f16mma_f32`,
/// a prototype of tensor-core stages in a block-per-row kernel, not used by the operator):
/// `x`, `y`: `batch·16384` f32 (`[batch][8192][2]`, 8-byte aligned), `y` in the four-step order
/// of [`crate::cpu::tcdft::fft8192_four_step`] (`y[256·q + K] = X[q + 32·K]`). The f16 operands
/// need the data in f16's range: for `|x| ≤ 1` every intermediate is (kernel comment).
pub fn tc_fft8192<'a>(
    dev: &Arc<dyn Device>,
    x: impl Into<DeviceView<'a, f32>>,
    y: impl Into<DeviceViewMut<'a, f32>>,
    batch: usize,
) -> Result<()> {
    let (x, y) = (x.into(), y.into());
    let n = mul(batch, 2 * TC_FFT_LEN, "tc_fft8192 batch·16384")?;
    Args::new(dev, "tc_fft8192")
        .arg("x [batch, 8192, 2]", &x, n)
        .align(8, "complex f32")
        .arg("y [batch, 8192, 2]", &y, n)
        .align(8, "complex f32")
        .check()?;
    let p = HyenaTcDftParams { x: x.addr(), y: y.addr(), batch: batch as u64, split: 0 };
    // SAFETY: the kernel reads batch·16384 f32 of x (borrowed shared) and writes batch·16384 of y
    // (borrowed exclusively, overlapping nothing: checked), both on `dev`, 8-byte aligned
    // (checked); row_launch gives it the dynamic shared memory it indexes.
    unsafe { row_launch(dev, "hyena_tc_fft8192_f16mma_f32", batch, FFT8K_STATIC_SHARED, &p) }
}

/// Blocks of the 8192-point kernels: two resident on each of an H100's or H200's 132 SMs, one
/// wave; each block loops over rows, so its table setup (about 600 warp-instructions per warp,
/// a third of a row's work) is paid once per block, not once per row.
const ROW_MAX_GRID: usize = 2 * 132;

/// Launches a block-per-row kernel of the 8192-point family on `rows` rows (none: nothing):
/// 16 warps, the row's two planes as dynamic shared memory, `static_shared` bytes of its own;
/// typed errors for a row count above 32 bits (the kernels count rows in 32 bits to stay at 64
/// registers) and for shared memory beyond the device's.
///
/// # Safety
/// `p` is `kernel`'s params struct, its buffers on `dev` and large enough for `rows` rows.
pub(crate) unsafe fn row_launch<P: bytemuck::NoUninit>(dev: &Arc<dyn Device>, kernel: &str, rows: usize, static_shared: usize, p: &P) -> Result<()> {
    if rows == 0 {
        return Ok(());
    }
    if rows > u32::MAX as usize {
        return Err(HyenaError::Invalid(format!("{kernel}: {rows} rows, above 2^32 - 1 (the kernel counts rows in 32 bits)")));
    }
    let limit = dev.max_shared_bytes();
    if FFT8K_DYN_SHARED + static_shared > limit {
        return Err(HyenaError::SharedMemory { kernel: kernel.into(), requested: FFT8K_DYN_SHARED + static_shared, limit });
    }
    // The fewest rows per block that fit the grid cap, then the fewest blocks at that count: every
    // block takes the same number of rows (all but the last when rows does not divide), which the
    // simulator's sampled counts assume (`CUDASIM_UNIFORM_BLOCKS`): 768 rows run as 256 blocks of
    // 3, not 264 blocks of 2 or 3 (a sample of a 2-row block read the launch 14 % short).
    let per_block = rows.div_ceil(ROW_MAX_GRID);
    let grid = rows.div_ceil(per_block) as u32;
    let cfg = LaunchConfig { grid: (grid, 1, 1), block: (FFT8K_THREADS, 1, 1), shared_bytes: FFT8K_DYN_SHARED as u32 };
    // SAFETY: the caller's contract; the dynamic shared memory is the two planes of 8192 f32 the
    // kernels index.
    unsafe { launch(dev, kernel, cfg, p) }
}

/// Static shared memory of [`tc_conv8192`]'s kernel: the FFT's tables and the inverse twiddles
/// (a base per column and lane, four steps per column, re and im planes of f32).
const CONV8K_STATIC_SHARED: usize = FFT8K_STATIC_SHARED + (32 * 32 + 32 * 4) * 8;
/// The bins' twiddle bases (17 columns × 32 lanes, re and im), each warp's largest |x| of the row
/// and the row's scale (`Fwd8kTables`), static shared memory of the two kernels below.
const FWD8K_TABLES: usize = (17 * 32 * 2 + 16 + 1) * 4;
/// Static shared memory of the fused forward on tensor cores (`hyena_fftconv_fwd_tc_m13_*`,
/// [`crate::ops::fftconv::fwd_tensor_cores`]; with the short conv fused, `*_sc_tc_m13_*`, the
/// same): the convolution's tables and [`FWD8K_TABLES`].
pub(crate) const FWD8K_STATIC_SHARED: usize = CONV8K_STATIC_SHARED + FWD8K_TABLES;
/// Static shared memory of the fused backward's G kernel on tensor cores
/// (`hyena_fftconv_bwd_g_tc_m13_*`, [`crate::ops::fftconv::bwd_tensor_cores`]): the forward's,
/// each warp's fp64 sum of g·a (16 × 8 bytes) and the row's offset and D (8 + 4, padded to 16).
/// Its reduce (`hyena_fftconv_bwd_reduce_tc_m13_*`) takes the forward's ([`FWD8K_STATIC_SHARED`]).
pub(crate) const BWD8K_STATIC_SHARED: usize = FWD8K_STATIC_SHARED + 16 * 8 + 16;
/// Static shared memory of the G kernel with the short conv's backward fused
/// (`hyena_fftconv_bwd_g_sc_tc_m13_*`, [`crate::ops::fftconv::gated_fftconv_shortconv_bwd`]): the
/// G kernel's and the short conv's twelve fp64 sums per warp, rows of 17 (`red_sc`).
pub(crate) const BWD8K_SC_STATIC_SHARED: usize = BWD8K_STATIC_SHARED + 12 * 17 * 8;
/// Static shared memory of the filter's spectrum on tensor cores (`hyena_fftconv_filter_tc_m13_*`):
/// the FFT's tables and [`FWD8K_TABLES`].
pub(crate) const FILTER8K_STATIC_SHARED: usize = FFT8K_STATIC_SHARED + FWD8K_TABLES;

/// `s = h_c ∗ a` for `rows` real rows of [`TC_CONV_LEN`] points, causal, the first
/// [`TC_CONV_LEN`] points kept, on tensor cores with f16 operands (`hyena_tc_conv8192_f16mma_f32`,
/// a prototype of the fused convolution's 8K row on tensor-core FFTs, not used by the operator):
/// `a`, `s`: `rows·8192` f32 (8-byte aligned); row `r` takes channel `r mod channels` of `coef`
/// (`channels·8192·4` f16, 8-byte aligned) and `scale` (`channels` f32): the filters'
/// [`crate::cpu::tcdft::conv8192_coefficients`]. The f16 operands need `|a| ≤ 1` and the spectrum
/// product in f16's range (kernel comment).
pub fn tc_conv8192<'a>(
    dev: &Arc<dyn Device>,
    a: impl Into<DeviceView<'a, f32>>,
    coef: impl Into<DeviceView<'a, half::f16>>,
    scale: impl Into<DeviceView<'a, f32>>,
    s: impl Into<DeviceViewMut<'a, f32>>,
    rows: usize,
    channels: usize,
) -> Result<()> {
    let (a, coef, scale, s) = (a.into(), coef.into(), scale.into(), s.into());
    if channels == 0 {
        return Err(HyenaError::Invalid("tc_conv8192: channels must be at least 1".into()));
    }
    let n = mul(rows, TC_CONV_LEN, "tc_conv8192 rows·8192")?;
    let nc = mul(channels, 4 * TC_CONV_LEN, "tc_conv8192 channels·8192·4")?;
    Args::new(dev, "tc_conv8192")
        .arg("a [rows, 8192]", &a, n)
        .align(8, "f32 pairs")
        .arg("coef [channels, 8192, 4]", &coef, nc)
        .align(8, "f16 quadruples")
        .arg("scale [channels]", &scale, channels)
        .arg("s [rows, 8192]", &s, n)
        .align(8, "f32 pairs")
        .check()?;
    let p = HyenaTcConvParams { a: a.addr(), coef: coef.addr(), scale: scale.addr(), s: s.addr(), rows: rows as u64, channels: channels as u64 };
    // SAFETY: the kernel reads rows·8192 f32 of a, channels·32768 f16 of coef and channels f32 of
    // scale (rows r mod channels: within them), all borrowed shared, and writes rows·8192 of s (borrowed
    // exclusively, overlapping nothing: checked), all on `dev`, aligned as it reads them
    // (checked); row_launch gives it the dynamic shared memory it indexes.
    unsafe { row_launch(dev, "hyena_tc_conv8192_f16mma_f32", rows, CONV8K_STATIC_SHARED, &p) }
}
