//! Strided-batched GEMM on a device through views: the safe form of
//! [`Device::gemm`] (cuBLAS on a GPU, the CPU GEMM in the simulator).
//!
//! Every operand extent that [`gemm_extents`] derives from the sizes, leading dimensions, strides
//! and batch must fit inside its view; `C` is an exclusive view, so it overlaps neither input.

use super::Args;
use crate::device::{gemm_extents, Device, DeviceScalar, DeviceView, DeviceViewMut, GemmSpec, Pod, Trans};
use crate::error::Result;
use std::sync::Arc;

/// An input operand: `X_i = view[i·stride ..]`, column-major with leading dimension `ld`, used as
/// `op(X_i)` (`trans`).
#[derive(Clone, Copy)]
pub struct GemmIn<'a, T: Pod> {
    /// The elements of every `X_i`.
    pub view: DeviceView<'a, T>,
    /// Leading dimension (elements between the starts of two stored columns).
    pub ld: usize,
    /// Elements between `X_i` and `X_{i+1}`.
    pub stride: usize,
    /// Whether `X_i` is used transposed.
    pub trans: Trans,
}

/// The output operand `C_i = view[i·stride ..]`, column-major with leading dimension `ld`.
pub struct GemmOut<'a, T: Pod> {
    /// The elements of every `C_i`.
    pub view: DeviceViewMut<'a, T>,
    /// Leading dimension (elements between the starts of two stored columns).
    pub ld: usize,
    /// Elements between `C_i` and `C_{i+1}`.
    pub stride: usize,
}

/// For each `i < batch`: `C_i = alpha·op(A_i)·op(B_i) + beta·C_i`, `op(A_i)` m×k, `op(B_i)` k×n,
/// `C_i` m×n, column-major (cuBLAS's convention; row-major callers swap A and B). With
/// `beta == 0`, `C` is not read (it may hold NaN). Typed errors for empty or inconsistent sizes,
/// an operand extent beyond its view, another device or a misaligned view.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    m: usize,
    n: usize,
    k: usize,
    alpha: f64,
    a: GemmIn<'_, T>,
    b: GemmIn<'_, T>,
    beta: f64,
    c: GemmOut<'_, T>,
    batch: usize,
) -> Result<()> {
    gemm_with(dev, m, n, k, alpha, a, b, beta, c, batch, false)
}

/// [`gemm`], and for f32 operands `tf32 = true` lets this one GEMM round them to TF32 (unit
/// roundoff 2⁻¹¹, f32 accumulation: [`GemmSpec::tf32`]) whatever the device's switch: for
/// operands that carry less precision than TF32 anyway. Ignored for other dtypes.
#[allow(clippy::too_many_arguments)]
pub fn gemm_with<T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    m: usize,
    n: usize,
    k: usize,
    alpha: f64,
    a: GemmIn<'_, T>,
    b: GemmIn<'_, T>,
    beta: f64,
    c: GemmOut<'_, T>,
    batch: usize,
    tf32: bool,
) -> Result<()> {
    gemm_into(dev, m, n, k, alpha, a, b, beta, c, batch, tf32)
}

/// [`gemm`] with an f32 `C` whatever the operands' type: for 16-bit A and B the products
/// accumulate in f32 and are stored unrounded (tensor cores at the 16-bit rate; cuBLAS's
/// `CUDA_R_16BF`/`CUDA_R_16F` inputs with a `CUDA_R_32F` output), for f32 operands it is
/// [`gemm_with`]`(…, tf32 = false)`. For f32 workspaces formed from 16-bit tensors without a
/// conversion pass. f64 operands are a typed error.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_out<T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    m: usize,
    n: usize,
    k: usize,
    alpha: f64,
    a: GemmIn<'_, T>,
    b: GemmIn<'_, T>,
    beta: f64,
    c: GemmOut<'_, f32>,
    batch: usize,
) -> Result<()> {
    gemm_into(dev, m, n, k, alpha, a, b, beta, c, batch, false)
}

#[allow(clippy::too_many_arguments)]
fn gemm_into<T: DeviceScalar, U: DeviceScalar>(
    dev: &Arc<dyn Device>,
    m: usize,
    n: usize,
    k: usize,
    alpha: f64,
    a: GemmIn<'_, T>,
    b: GemmIn<'_, T>,
    beta: f64,
    c: GemmOut<'_, U>,
    batch: usize,
    tf32: bool,
) -> Result<()> {
    let spec = GemmSpec {
        dtype: T::DTYPE,
        c_dtype: U::DTYPE,
        trans_a: a.trans,
        trans_b: b.trans,
        m,
        n,
        k,
        alpha,
        a: a.view.addr(),
        lda: a.ld,
        stride_a: a.stride,
        b: b.view.addr(),
        ldb: b.ld,
        stride_b: b.stride,
        beta,
        c: c.view.addr(),
        ldc: c.ld,
        stride_c: c.stride,
        batch,
        tf32,
    };
    let (ea, eb, ec) = gemm_extents(&spec)?;
    Args::new(dev, "gemm").reach("A", &a.view, ea).reach("B", &b.view, eb).reach("C", &c.view, ec).check()?;
    // SAFETY: the extents the GEMM touches lie inside the views (checked above), on `dev`; A and B
    // are borrowed shared and C exclusively (not overlapping them: checked) for this call, which
    // covers the queued GEMM (see `crate::device`).
    unsafe { dev.gemm(&spec) }
}
