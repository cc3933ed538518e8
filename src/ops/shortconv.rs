//! Short causal depthwise convolution (3 taps) + bias on a device (`kernels/shortconv.cu`),
//! forward and backward, layout `[B, C, L]`, `w` `[C, 3]`, `bias` `[C]` (as `cpu::shortconv`).
//! Storage f32, bf16 or f16; arithmetic in f32.
//!
//! The backward reduces `grad_w`/`grad_b` over batch and positions deterministically (per-row
//! partial sums in an f32 workspace, then an in-order sum over the batch; no float atomics), and
//! OVERWRITES `grad_w`/`grad_b` (the CPU reference accumulates into them).

use super::{elementwise_config, launch, mul, Args};
use crate::device::{Device, DeviceBuffer, DeviceScalar, DeviceView, DeviceViewMut, LaunchConfig};
use crate::error::{HyenaError, Result};
use crate::kernels::{HyenaShortConvBwdParams, HyenaShortConvParams};
use std::sync::Arc;

/// Threads per block of the backward row kernel (`HYENA_SHORTCONV_BWD_BLOCK` in the .cu file).
const BWD_BLOCK: u32 = 256;

use super::storage_suffix as suffix;

/// `B·C·L` without overflow, `L ≥ 1`.
fn elements(b: usize, c: usize, l: usize) -> Result<usize> {
    if l == 0 {
        return Err(HyenaError::Length("sequence length must be at least 1".into()));
    }
    b.checked_mul(c)
        .and_then(|bc| bc.checked_mul(l))
        .ok_or_else(|| HyenaError::Invalid(format!("B·C·L overflows: B={b} C={c} L={l}")))
}

/// Forward: `y[b,c,t] = w[c,0]·x[t−2] + w[c,1]·x[t−1] + w[c,2]·x[t] + bias[c]` into `y` `[B, C, L]`.
#[allow(clippy::too_many_arguments)]
pub fn shortconv_fwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    x: impl Into<DeviceView<'a, T>>,
    w: impl Into<DeviceView<'a, T>>,
    bias: impl Into<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let (x, w, bias, y) = (x.into(), w.into(), bias.into(), y.into());
    let sfx = suffix(T::DTYPE, "shortconv_fwd")?;
    let n = elements(bs, c, l)?;
    Args::new(dev, "shortconv_fwd")
        .arg("x [B, C, L]", &x, n)
        .arg("w [C, 3]", &w, mul(c, 3, "shortconv_fwd C·3")?)
        .arg("bias [C]", &bias, c)
        .arg("y [B, C, L]", &y, n)
        .check()?;
    if n == 0 {
        return Ok(());
    }
    let p = HyenaShortConvParams {
        x: x.addr(),
        w: w.addr(),
        bias: bias.addr(),
        y: y.addr(),
        b: bs as u64,
        c: c as u64,
        l: l as u64,
    };
    let cfg = elementwise_config(n);
    // SAFETY: the kernel reads x [B, C, L], w [C, 3], bias [C] (borrowed shared) and writes y
    // [B, C, L] (borrowed exclusively, overlapping nothing), lengths checked above, all on `dev`.
    unsafe { launch(dev, &format!("hyena_shortconv_fwd_{sfx}"), cfg, &p) }
}

/// Backward of [`shortconv_fwd`]: writes `grad_x` `[B, C, L]` and overwrites `grad_w` `[C, 3]`,
/// `grad_b` `[C]` with the sums over batch and positions. Allocates an f32 workspace of
/// `B·C·4` elements on `dev`.
#[allow(clippy::too_many_arguments)]
pub fn shortconv_bwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    x: impl Into<DeviceView<'a, T>>,
    w: impl Into<DeviceView<'a, T>>,
    grad_y: impl Into<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    grad_x: impl Into<DeviceViewMut<'a, T>>,
    grad_w: impl Into<DeviceViewMut<'a, T>>,
    grad_b: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let (x, w, gy, gx, gw, gb) = (x.into(), w.into(), grad_y.into(), grad_x.into(), grad_w.into(), grad_b.into());
    let sfx = suffix(T::DTYPE, "shortconv_bwd")?;
    let n = elements(bs, c, l)?;
    let c3 = mul(c, 3, "shortconv_bwd C·3")?;
    Args::new(dev, "shortconv_bwd")
        .arg("x [B, C, L]", &x, n)
        .arg("w [C, 3]", &w, c3)
        .arg("grad_y [B, C, L]", &gy, n)
        .arg("grad_x [B, C, L]", &gx, n)
        .arg("grad_w [C, 3]", &gw, c3)
        .arg("grad_b [C]", &gb, c)
        .check()?;
    if c == 0 {
        return Ok(());
    }
    // B·C ≤ B·C·L, which fits (checked by `elements`).
    let rows = bs * c;
    if rows > i32::MAX as usize {
        return Err(HyenaError::Invalid(format!("shortconv_bwd: B·C = {rows} rows exceed the grid limit {}", i32::MAX)));
    }
    let ws = DeviceBuffer::<f32>::alloc(dev, mul(rows, 4, "shortconv_bwd workspace B·C·4")?)?;
    let p = HyenaShortConvBwdParams {
        x: x.addr(),
        w: w.addr(),
        grad_y: gy.addr(),
        grad_x: gx.addr(),
        grad_w: gw.addr(),
        grad_b: gb.addr(),
        ws: ws.addr(),
        b: bs as u64,
        c: c as u64,
        l: l as u64,
    };
    // SAFETY (both launches): the kernels read x, w, grad_y (borrowed shared), write grad_x,
    // grad_w, grad_b (borrowed exclusively, overlapping nothing) with the lengths checked above,
    // and the workspace `ws` of B·C·4 f32, owned here until after the synchronize below.
    if rows > 0 {
        let cfg = LaunchConfig { grid: (rows as u32, 1, 1), block: (BWD_BLOCK, 1, 1), shared_bytes: 0 };
        unsafe { launch(dev, &format!("hyena_shortconv_bwd_{sfx}"), cfg, &p) }?;
    }
    // B = 0: the reduce kernel writes zero gradients.
    let blocks = u32::try_from(c.div_ceil(256))
        .map_err(|_| HyenaError::Invalid(format!("shortconv_bwd: C = {c} channels exceed the grid limit")))?;
    let cfg = LaunchConfig { grid: (blocks, 1, 1), block: (256, 1, 1), shared_bytes: 0 };
    unsafe { launch(dev, &format!("hyena_shortconv_bwd_reduce_{sfx}"), cfg, &p) }?;
    // The workspace must outlive the launches: wait before it is freed.
    dev.synchronize()
}
