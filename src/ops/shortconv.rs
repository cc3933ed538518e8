//! Short causal depthwise convolution (3 taps) + bias on a device (`kernels/shortconv.cu`),
//! forward and backward, layout `[B, C, L]`, `w` `[C, 3]`, `bias` `[C]` (as `cpu::shortconv`).
//! Storage f32, bf16 or f16; arithmetic in f32.
//!
//! [`shortconv_fwd_chunks`] / [`shortconv_bwd_chunks`] run `K` stacked chunks `[K, B, C, L]` (the
//! device operator's in_proj output) in one launch, with an optional bias folded into the input
//! (in_proj's: `z = x + in_bias` inside the row, the causal zero padding unbiased), which would
//! spare in_proj its bias pass. The device operator passes no `in_bias` yet: with the fold, one
//! bf16 case of its conformance test went past its bound (docs/GPU_MODEL.md, "The short conv and
//! the in_proj bias"), so in_proj keeps its bias GEMMs.
//!
//! The backward reduces `grad_w`/`grad_b` over batch and positions deterministically (per-block
//! partial sums in an f64 workspace, then an in-order sum over batch and blocks; no float
//! atomics), and OVERWRITES `grad_w`/`grad_b` (the CPU reference accumulates into them).

use super::{launch, mul, mul3, Args};
use crate::device::{Device, DeviceBuffer, DeviceScalar, DeviceView, DeviceViewMut, LaunchConfig};
use crate::error::{HyenaError, Result};
use crate::kernels::{HyenaShortConvBwdParams, HyenaShortConvParams};
use std::sync::Arc;

use super::storage_suffix as suffix;

/// Most threads per block (the kernel's `HYENA_SHORTCONV_MAX_WARPS` warps).
const MAX_BLOCK: usize = 256;
/// 16-byte vectors per thread and chunk of the backward row kernel (`HYENA_SHORTCONV_BWD_VECS`).
const BWD_VECS: usize = 4;

/// The launch of both row kernels for `B` batch rows of `C` channels (each block loops over the
/// `K` chunks) of length `l` in storage `T`: each thread owns `vecs` vectors of 16 bytes of
/// positions, a block 32..256 threads (a multiple of 32), grid `(segs, C, B)`. Returns the config
/// and `segs`.
fn geometry<T: DeviceScalar>(bs: usize, c: usize, l: usize, vecs: usize, op: &str) -> Result<(LaunchConfig, usize)> {
    let per_thread = 16 / std::mem::size_of::<T>() * vecs;
    // Positions are 32-bit in the kernels.
    if l > i32::MAX as usize {
        return Err(HyenaError::Length(format!("{op}: L = {l} exceeds the kernels' limit {}", i32::MAX)));
    }
    let threads = l.div_ceil(per_thread).next_multiple_of(32).min(MAX_BLOCK);
    let segs = l.div_ceil(threads * per_thread);
    let dim = |v: usize, what: &str| {
        u32::try_from(v)
            .ok()
            .filter(|&x| x <= 65535)
            .ok_or_else(|| HyenaError::Invalid(format!("{op}: {what} = {v} exceeds the grid limit 65535")))
    };
    let (cy, bz) = (dim(c, "C")?, dim(bs, "B")?);
    // segs ≤ L / 2048 + 1 < 2³¹ (checked above).
    Ok((LaunchConfig { grid: (segs as u32, cy, bz), block: (threads as u32, 1, 1), shared_bytes: 0 }, segs))
}

/// `K·B·C·L` without overflow, `L ≥ 1`, `K ≥ 1`. Returns `(K·B·C, K·B·C·L)`.
fn elements(k: usize, b: usize, c: usize, l: usize, op: &str) -> Result<(usize, usize)> {
    if l == 0 {
        return Err(HyenaError::Length("sequence length must be at least 1".into()));
    }
    if k == 0 {
        return Err(HyenaError::Invalid(format!("{op}: K = 0 chunks")));
    }
    let rows = mul3(k, b, c, &format!("{op} K·B·C"))?;
    let n = rows.checked_mul(l).ok_or_else(|| HyenaError::Invalid(format!("{op}: K·B·C·L overflows: K={k} B={b} C={c} L={l}")))?;
    Ok((rows, n))
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
    shortconv_fwd_chunks(dev, x, w, bias, None, 1, bs, c, l, y)
}

/// Forward over `k` stacked chunks, `x`, `y` `[K, B, C, L]`, `w` `[K·C, 3]`, `bias` `[K·C]`:
/// chunk `i` uses channels `i·C..(i+1)·C`. With `in_bias` `[K·C]` the input of channel `ch` is
/// `z[t] = x[t] + in_bias[ch]` for `0 ≤ t < L` and 0 before (the causal padding stays unbiased:
/// PyTorch's `Linear` followed by `Conv1d(padding=2)[..., :L]`, with `x` the Linear's output
/// before its bias).
#[allow(clippy::too_many_arguments)]
pub fn shortconv_fwd_chunks<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    x: impl Into<DeviceView<'a, T>>,
    w: impl Into<DeviceView<'a, T>>,
    bias: impl Into<DeviceView<'a, T>>,
    in_bias: Option<DeviceView<'a, T>>,
    k: usize,
    bs: usize,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let (x, w, bias, y) = (x.into(), w.into(), bias.into(), y.into());
    let sfx = suffix(T::DTYPE, "shortconv_fwd")?;
    let (_, n) = elements(k, bs, c, l, "shortconv_fwd")?;
    let kc = mul(k, c, "shortconv_fwd K·C")?;
    Args::new(dev, "shortconv_fwd")
        .arg("x [K, B, C, L]", &x, n)
        .arg("w [K·C, 3]", &w, mul(kc, 3, "shortconv_fwd K·C·3")?)
        .arg("bias [K·C]", &bias, kc)
        .opt("in_bias [K·C]", in_bias.as_ref(), kc)
        .arg("y [K, B, C, L]", &y, n)
        .check()?;
    if n == 0 {
        return Ok(());
    }
    let (cfg, _) = geometry::<T>(bs, c, l, 1, "shortconv_fwd")?;
    let p = HyenaShortConvParams {
        x: x.addr(),
        w: w.addr(),
        bias: bias.addr(),
        in_bias: in_bias.as_ref().map_or(0, |v| v.addr()),
        y: y.addr(),
        k: k as u64,
        b: bs as u64,
        c: c as u64,
        l: l as u64,
    };
    // SAFETY: the kernel reads x [K, B, C, L], w [K·C, 3], bias and in_bias [K·C] (borrowed
    // shared) and writes y [K, B, C, L] (borrowed exclusively, overlapping nothing), lengths
    // checked above, all on `dev`; the grid covers the B·C rows of each chunk and positions
    // 0..L (< 2³¹, the kernel's 32-bit positions).
    unsafe { launch(dev, &format!("hyena_shortconv_fwd_{sfx}"), cfg, &p) }
}

/// Backward of [`shortconv_fwd`]: writes `grad_x` `[B, C, L]` and overwrites `grad_w` `[C, 3]`,
/// `grad_b` `[C]` with the sums over batch and positions. Allocates an f64 workspace of
/// `B·C·segs·4` elements on `dev` (`segs` = blocks per row, `⌈L / 8192⌉` for 16-bit storage).
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
    shortconv_bwd_chunks(dev, x, w, None, grad_y, 1, bs, c, l, grad_x, grad_w, grad_b, None)
}

/// Backward of [`shortconv_fwd_chunks`] (the same `x`, `w`, `in_bias`, `k`): `grad_x`
/// `[K, B, C, L]` is the gradient wrt the input `z` (and `x`); overwrites `grad_w` `[K·C, 3]`,
/// `grad_b` `[K·C]`, and `grad_in_bias` `[K·C]` when given: `grad_x` summed over batch and
/// positions (in_proj's bias gradient), formed by the reduce kernel in f64 from `grad_b`'s sum and
/// `grad_y`'s first two positions (`Σ_t grad_x = (w0 + w1 + w2)·Σ_t gy − (w0 + w1)·gy[0] − w0·gy[1]`)
/// instead of a pass over `grad_x`.
#[allow(clippy::too_many_arguments)]
pub fn shortconv_bwd_chunks<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    x: impl Into<DeviceView<'a, T>>,
    w: impl Into<DeviceView<'a, T>>,
    in_bias: Option<DeviceView<'a, T>>,
    grad_y: impl Into<DeviceView<'a, T>>,
    k: usize,
    bs: usize,
    c: usize,
    l: usize,
    grad_x: impl Into<DeviceViewMut<'a, T>>,
    grad_w: impl Into<DeviceViewMut<'a, T>>,
    grad_b: impl Into<DeviceViewMut<'a, T>>,
    grad_in_bias: Option<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let (x, w, gy, gx, gw, gb) = (x.into(), w.into(), grad_y.into(), grad_x.into(), grad_w.into(), grad_b.into());
    let sfx = suffix(T::DTYPE, "shortconv_bwd")?;
    let (rows, n) = elements(k, bs, c, l, "shortconv_bwd")?;
    let kc = mul(k, c, "shortconv_bwd K·C")?;
    let kc3 = mul(kc, 3, "shortconv_bwd K·C·3")?;
    Args::new(dev, "shortconv_bwd")
        .arg("x [K, B, C, L]", &x, n)
        .arg("w [K·C, 3]", &w, kc3)
        .opt("in_bias [K·C]", in_bias.as_ref(), kc)
        .arg("grad_y [K, B, C, L]", &gy, n)
        .arg("grad_x [K, B, C, L]", &gx, n)
        .arg("grad_w [K·C, 3]", &gw, kc3)
        .arg("grad_b [K·C]", &gb, kc)
        .opt("grad_in_bias [K·C]", grad_in_bias.as_ref(), kc)
        .check()?;
    if kc == 0 {
        return Ok(());
    }
    let (cfg, segs) = geometry::<T>(bs, c, l, BWD_VECS, "shortconv_bwd")?;
    let ws = DeviceBuffer::<f64>::alloc(dev, mul3(rows, segs, 4, "shortconv_bwd workspace K·B·C·segs·4")?.max(1))?;
    let p = HyenaShortConvBwdParams {
        x: x.addr(),
        w: w.addr(),
        in_bias: in_bias.as_ref().map_or(0, |v| v.addr()),
        grad_y: gy.addr(),
        grad_x: gx.addr(),
        grad_w: gw.addr(),
        grad_b: gb.addr(),
        grad_in_bias: grad_in_bias.as_ref().map_or(0, |v| v.addr()),
        ws: ws.addr(),
        k: k as u64,
        b: bs as u64,
        c: c as u64,
        l: l as u64,
        segs: segs as u64,
        gy_head: 0,
    };
    // SAFETY (both launches): the kernels read x, w, in_bias, grad_y (borrowed shared), write
    // grad_x, grad_w, grad_b, grad_in_bias (borrowed exclusively, overlapping nothing) with the
    // lengths checked above, and the workspace `ws` of K·B·C·segs·4 f64, owned here until the launches are queued
    // (its free is stream-ordered after them, see `crate::device`: no synchronisation).
    if rows > 0 {
        unsafe { launch(dev, &format!("hyena_shortconv_bwd_{sfx}"), cfg, &p) }?;
    }
    // B = 0: the reduce kernel writes zero gradients.
    unsafe { reduce_launch::<T>(dev, kc, &p) }
}

/// The reduce kernel over `K·C = kc` channels (`p` its params).
///
/// # Safety
/// `p`'s buffers are on `dev` and as its fields describe (ws `[K·B, segs, 4, C]` f64, written
/// before in stream order; the outputs `[K·C, 3]` and `[K·C]`, overlapping nothing).
unsafe fn reduce_launch<T: DeviceScalar>(dev: &Arc<dyn Device>, kc: usize, p: &HyenaShortConvBwdParams) -> Result<()> {
    let sfx = suffix(T::DTYPE, "shortconv_bwd")?;
    // One thread per channel, 64 per block: K·C / 64 blocks (36 at K·C = 2304) spread over the
    // SMs; each thread's partial sums are one word of a coalesced row of the workspace.
    let blocks = u32::try_from(kc.div_ceil(64))
        .map_err(|_| HyenaError::Invalid(format!("shortconv_bwd: K·C = {kc} channels exceed the grid limit")))?;
    let cfg = LaunchConfig { grid: (blocks, 1, 1), block: (64, 1, 1), shared_bytes: 0 };
    unsafe { launch(dev, &format!("hyena_shortconv_bwd_reduce_{sfx}"), cfg, p) }
}

/// The reduce of the backward whose row kernel ran fused into another (the 8K tensor-core
/// backward, [`crate::ops::fftconv::gated_fftconv_shortconv_bwd`]): `ws` holds one segment's four
/// f64 sums per row (`[K·B, 1, 4, C]`) and `head` `[K, B, C, 2]` f32 the output gradient's first two
/// positions of each row (for `grad_in_bias`); writes `grad_w`, `grad_b` and `grad_in_bias`.
///
/// # Safety
/// `ws` and `head` are device addresses on `dev` of those lengths, written before in stream order
/// and alive until the launch is queued; the views' lengths were checked by the caller (`w` for `k`
/// chunks, the outputs `[K·C, 3]` and `[K·C]`, overlapping nothing).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn bwd_reduce_rows<T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    w: &DeviceView<'_, T>,
    k: usize,
    bs: usize,
    c: usize,
    l: usize,
    ws: u64,
    head: u64,
    grad_w: &DeviceViewMut<'_, T>,
    grad_b: &DeviceViewMut<'_, T>,
    grad_in_bias: Option<&DeviceViewMut<'_, T>>,
) -> Result<()> {
    // Only ws, w, head and the outputs are read or written by the reduce: the rows are not.
    let p = HyenaShortConvBwdParams {
        x: 0,
        w: w.addr(),
        in_bias: 0,
        grad_y: 0,
        grad_x: 0,
        grad_w: grad_w.addr(),
        grad_b: grad_b.addr(),
        grad_in_bias: grad_in_bias.map_or(0, |v| v.addr()),
        ws,
        k: k as u64,
        b: bs as u64,
        c: c as u64,
        l: l as u64,
        segs: 1,
        gy_head: head,
    };
    // SAFETY: the caller's contract; the reduce reads only ws, w, head (gy_head given: not grad_y).
    unsafe { reduce_launch::<T>(dev, mul(k, c, "shortconv_bwd K·C")?, &p) }
}
