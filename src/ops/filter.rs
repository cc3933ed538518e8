//! The implicit long filter of Hyena (safari `HyenaFilter`) on a device (`kernels/filter.cu`),
//! forward and backward, the device twin of [`cpu::filter`](crate::cpu::filter):
//!
//! ```text
//! a_0 = z[l, :E];  pre_i = a_i W_iᵀ + b_i;  a_{i+1} = sin(freq ⊙ pre_i)      i < n_layers   (f64)
//! h[c, l] = (Σ_f OW[c, f] a_n[l, f]) · (exp(−t[l]·|δ[c]|) + shift  if modulate)              (f32)
//! ```
//!
//! # Layout
//! `z` `[l_max, E]` (the first `L` rows are used), `t` `[l_max]`, hidden layers `(W_i [F, in_i],
//! b_i [F])` with `in_0 = E`, `in_i = F` after, `freq` `[F]`, `out_weight` `[C, F]`, `deltas` `[C]`;
//! the output `h` and the incoming gradient `grad_h` are channel-major `[C, L]` (the rows the FFT
//! convolution kernels read). Storage f32, bf16 or f16 (every tensor of one call in one dtype).
//! `1 ≤ n_layers ≤` [`MAX_LAYERS`]; `normalized` filters (L1 normalisation over channels) are a
//! typed [`HyenaError::Invalid`] here: the CPU path ([`cpu::filter`](crate::cpu::filter)) has them.
//!
//! # Arithmetic
//! The hidden layers (pre-activation, Sin and their backward) run in f64, as in the CPU reference:
//! the phase `freq·pre` reaches 10–100 for trained filters, and an f32 pre-activation would put a
//! ~1e-5 relative phase error into every tap. The output layer and the modulation run in f32; the
//! forward's output layer on tensor cores in 3xTF32 (operands split `hi + lo`, three tf32 MMAs
//! per product: within 3·2⁻²² of each f32 product, sums in f32).
//!
//! # Cost (per position; n hidden layers, f64 FLOPs for the hidden part, f32 for the rest)
//! - forward: `2(E·F + (n−1)F²)` f64 FLOPs and `n·F` f64 sines, `2·C·F` f32 FLOPs and `C` expf;
//!   reads `E` and writes `C` elements. A block of 64 positions stages each hidden weight (f64) in
//!   shared memory once and its `a_n` as split tf32 MMA fragments once; each warp reads its 16
//!   `out_weight` rows per 128-channel chunk once, so the weights cross L2 once per block rather
//!   than once per warp and element. For `C ≥ 256` the output layer (three tf32 MMAs per 16 channels ×
//!   8 positions × 8 features) and the `[C, L]` store dominate. The window `exp(−t·|δ|)` is one expf
//!   per output element: `t` and `δ` are stored (trainable) values with no structure a table or a
//!   recurrence in `l` could use exactly.
//! - backward: recomputes the hidden layers (no cache from the forward), about 3× their forward
//!   FLOPs plus `2n·F` f64 sin/cos (per 32-position tile: the weight staged in shared memory in
//!   f64, `d W` as a register-tiled f64 product of the tile's `[F, 32]` and `[in, 32]` blocks); the output layer's two products (`g_last = OWᵀ·gout` with
//!   `gout = grad_h ⊙ window`, and `grad_out_weight = gout·a_lastᵀ`, `2·C·F` FLOPs each) are
//!   GEMMs ([`Device::gemm`]: cuBLAS on a GPU) with operands in the storage type and f32
//!   accumulation and output ([`crate::ops::gemm::gemm_f32_out`]: bf16/f16 tensor cores for
//!   16-bit storage). `gout` and `a_last` are rounded to the storage type for them (unit roundoff
//!   bf16 2⁻⁹, f16 2⁻¹¹; f32 storage exact); without modulation `gout = grad_h` exactly and the
//!   GEMMs read `grad_h` itself (no gout pass). Reads `grad_h` once (`C·sizeof(T)` bytes per
//!   position) and goes through chunk workspaces (`gout [C, ·]` (modulate only) and `a_last [F, ·]`
//!   in T, `g_last [F, ·]` f32, 32768 positions per chunk).
//!
//! # Determinism
//! The backward reduces every parameter gradient over positions without float atomics: kernel 1
//! gives each block a fixed contiguous range of 32-position tiles and sums them in order into
//! per-block f32 partials (`[G, P]` workspace); the `grad_out_weight` GEMM is one product per
//! fixed split of positions (`[S, C, F]` workspace); the reduce kernel adds the partials in order
//! in f64. The work split depends on `L` only (never on the device), and cuBLAS is deterministic
//! for a fixed configuration, so the same inputs give the same bits. The backward OVERWRITES
//! `grads.layers`, `grads.freq` and `grads.out_weight` (the CPU reference accumulates into them)
//! and writes rows `< L` of `grads.z`; rows `≥ L` of `grads.z` are NOT touched (the CPU reference
//! leaves them at their previous value too, zero when fresh).
//!
//! # Tolerances (relative L2 against the f64 CPU reference on the same storage-rounded weights;
//! see `tests/all/filter.rs`)
//! - f32 storage: 1e-5. The hidden layers match to ~1e-15; the output layer sums `F` f32
//!   products (~1e-7 relative); in the backward `g_last` sums `C` f32 products (one GEMM),
//!   `grad_out_weight` sums f32 products over one split of ≤ 1024 positions (≤ 4096 at
//!   `L = 2^20`) per GEMM and the split partials in f64, the hidden-layer sums are f64 per tile and
//!   f32 per block over ≤ 32 tiles at `L = 2^20`, final sums in f64: a few f32 ulps times
//!   `√(terms)` typically, ≪ 1e-5 (the worst-case bound, `K·u` for `K` f32 terms, is 6e-5 of the
//!   sum of magnitudes for `K = 1024`). With the device's TF32 switch on, the GEMMs round their
//!   operands to TF32 (2⁻¹¹) and this bound does not hold.
//! - bf16/f16 storage: 1e-2, dominated by the final rounding of each stored output (2⁻⁹ relative
//!   for bf16, 2⁻¹¹ for f16) and the rounding of the f32 intermediates is the same as above,
//!   except the backward's two output-layer GEMMs, whose operands are rounded to TF32 (2⁻¹¹
//!   relative each; the tests emulate that rounding in the simulator).
//!
//! # Limits (typed errors before anything is launched)
//! Every length against the dims, `1 ≤ L ≤ l_max`, devices, element alignment, outputs overlapping
//! any other argument, and the dynamic shared memory ([`fwd_shared_bytes`], [`bwd_shared_bytes`];
//! F = 64, E = 33, n = 3 needs 102 KiB forward and 107 KiB backward; n = 4: 125 KiB) against
//! `dev.max_shared_bytes()` → [`HyenaError::SharedMemory`].

use super::gemm::{gemm_f32_out, GemmIn, GemmOut};
use super::gating::BiasFill;
use super::{launch, Args};
use crate::cpu::filter::{FilterGrads, ImplicitFilter};
use crate::device::{Device, DeviceBuffer, DeviceScalar, DeviceView, DeviceViewMut, LaunchConfig, Pod, Trans};
use crate::error::{HyenaError, Result};
use crate::kernels::{HyenaBiasFillParams, HyenaFilterBwdParams, HyenaFilterFwdParams};
use crate::scalar::Scalar;
use std::sync::Arc;

use super::storage_suffix as suffix;

/// Most hidden (Linear → Sin) layers a launch takes (`HYENA_FILTER_MAX_LAYERS`).
pub const MAX_LAYERS: usize = 4;
/// Positions per tile of the backward kernel (one per lane of a warp).
pub const TILE: usize = 32;
/// Threads per block of the backward's gout and reduce kernels (`HYENA_FILTER_BLOCK`).
const BLOCK: u32 = 256;
/// Threads per group of the forward (16 warps; 64 registers, 102 KiB of shared memory per block at
/// F = 64): a block is one group (two blocks per SM) or, where a tile's channel chunks split over
/// groups, two (`HYENA_FILTER_FWD_BLOCK`, one block per SM) that compute the tile's hidden layers
/// once with all 32 warps and then take alternate chunks. Either way 32 resident warps where the
/// 8-warp version (126 registers) had 16: its dependent fp64 chains wait on latency
/// (docs/GPU_MODEL.md).
const FWD_GROUP: u32 = 512;
/// Most groups per forward block.
const FWD_GROUPS: usize = 2;
/// Threads per block of backward kernel 1 (`HYENA_FILTER_BWD_BLOCK`): 16 warps, two blocks per SM
/// (≤ 64 registers, 107 KiB of shared memory at F = 64, n = 3), 32 resident warps where the 8-warp
/// version (118 registers) had 16, for the same reason.
const BWD_BLOCK: u32 = 512;
/// Row stride of the backward's `[feature][TILE]` shared tile buffers (`HYENA_FILTER_TPS`).
const TPS: usize = 36;
/// Channels per chunk of the output-layer backward (`HYENA_FILTER_CB`).
const CB: usize = 32;
/// Most blocks of backward kernel 1 (each takes a contiguous range of tiles).
const MAX_BWD_BLOCKS: usize = 1024;
/// Most position splits of the `grad_out_weight` GEMM (at `L ≤ 256·BWD_CHUNK`), and the shortest
/// split: every f32 sum of that GEMM spans one split (see [`bwd_plan`]).
const MAX_SPLITS: usize = 256;
const MIN_SPLIT: usize = 1024;
/// Positions per chunk of the backward's `[C, ·]` and `[F, ·]` f32 workspaces (their size is
/// independent of `L` above it).
pub const BWD_CHUNK: usize = 32768;

const _: () = {
    // The params struct holds MAX_LAYERS weight and bias pointers.
    assert!(std::mem::size_of::<[u64; MAX_LAYERS]>() == 32);
};

/// Sizes and flags of one filter launch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FilterDims {
    /// Positional-embedding width E.
    pub emb_dim: usize,
    /// FFN width F.
    pub width: usize,
    /// Output channels C.
    pub channels: usize,
    /// Rows of `z` and `t`.
    pub l_max: usize,
    /// Positions to generate, `1 ≤ L ≤ l_max`.
    pub l: usize,
    /// Apply the exponential modulation.
    pub modulate: bool,
    /// Modulation shift.
    pub shift: f64,
    /// safari's L1 normalisation over channels: not supported by the kernels (typed error).
    pub normalized: bool,
}

impl FilterDims {
    /// The dims of a host filter generating `l` positions.
    pub fn of<S>(w: &ImplicitFilter<S>, l: usize) -> Self {
        FilterDims {
            emb_dim: w.emb_dim,
            width: w.width,
            channels: w.channels,
            l_max: w.l_max,
            l,
            modulate: w.modulate,
            shift: w.shift,
            normalized: w.normalized,
        }
    }
}

/// The filter's weights on a device (see the module docs for shapes).
#[derive(Clone)]
pub struct FilterViews<'a, T: Pod> {
    /// `[l_max, E]`.
    pub z: DeviceView<'a, T>,
    /// `[l_max]`.
    pub t: DeviceView<'a, T>,
    /// `(weight [F, in_i], bias [F])` per hidden layer, `in_0 = E`, else `F`.
    pub layers: Vec<(DeviceView<'a, T>, DeviceView<'a, T>)>,
    /// `[F]`.
    pub freq: DeviceView<'a, T>,
    /// `[C, F]`.
    pub out_weight: DeviceView<'a, T>,
    /// `[C]`.
    pub deltas: DeviceView<'a, T>,
}

/// Gradient outputs of [`implicit_filter_bwd`] (exclusive views).
pub struct FilterGradViews<'a, T: Pod> {
    /// `[l_max, E]`: rows `< L` written, rows `≥ L` untouched.
    pub z: DeviceViewMut<'a, T>,
    /// `(grad weight [F, in_i], grad bias [F])` per hidden layer (overwritten).
    pub layers: Vec<(DeviceViewMut<'a, T>, DeviceViewMut<'a, T>)>,
    /// `[F]` (overwritten).
    pub freq: DeviceViewMut<'a, T>,
    /// `[C, F]` (overwritten).
    pub out_weight: DeviceViewMut<'a, T>,
}

/// Positions per block of the forward kernel (`HYENA_FILTER_FTP`: two per lane).
const FWD_TILE: usize = 64;
/// Row stride of the forward's f64 tile buffers, doubles (`HYENA_FILTER_FLD`).
const FWD_LD: usize = 68;
/// Channels per chunk of the forward kernel's output layer (`HYENA_FILTER_OCH`: 8 tensor-core M
/// tiles of 16 channels).
const OCH: usize = 128;

/// 16-warp groups the forward fills before it splits the channels of a tile over more groups: two
/// per SM of an H100/H200 (132 SMs). A split over `gridDim.y` repeats the tile's hidden layers in
/// every block of the tile (a split over a block's two groups does not), but one 8-warp block per SM
/// leaves the SM waiting on its warps' dependent instructions: measured on an H200 (2026-12-04,
/// docs/GPU_MODEL.md) at L = 8K with 128 blocks, 2.0 warps per scheduler and 28 % issue-active,
/// 71–77 µs. Model (latency bound): 8K 75.2 → 54.8 µs with 256 blocks, 2K 50.3 → 32.0 (was 132:
/// an earlier model without the latency bound preferred one block per SM).
const FWD_TARGET_GROUPS: usize = 264;

/// Blocks along y and threads per block of the forward for `tiles` tiles of `c` channels: the
/// 16-warp groups per tile that split its chunks of [`OCH`] channels evenly (each takes
/// `ceil(chunks / groups)` chunks or, the last ones, fewer), one group per block when a tile has
/// one, else [`FWD_GROUPS`]. Depends on the shape only; the outputs do not depend on it at all
/// (each is computed by one warp the same way whatever the split).
fn fwd_channel_split(tiles: usize, c: usize) -> (usize, u32) {
    let chunks = c.div_ceil(OCH).max(1);
    let want = (FWD_TARGET_GROUPS / tiles.max(1)).clamp(1, chunks);
    let groups = chunks.div_ceil(chunks.div_ceil(want));
    if groups == 1 {
        (1, FWD_GROUP)
    } else {
        (groups.div_ceil(FWD_GROUPS), FWD_GROUP * FWD_GROUPS as u32)
    }
}

/// Features rounded up to the hidden layers' register tile of 8.
fn pad8(width: usize) -> usize {
    width.div_ceil(8).saturating_mul(8)
}

/// Dynamic shared memory of the forward kernel: two `[max(E, pad8(F))][68]` f64 tile buffers (rows
/// of 64 positions padded to 68, `HYENA_FILTER_FLD`; the second, after the hidden layers, holds the
/// output layer's split tf32 B fragments: `pad8(F)·64` pairs of f32), then the staged hidden
/// weight (`F·(pad8(max(E, F)) + 4)` f64). Saturates instead of overflowing (a saturated size is
/// refused as too large).
pub fn fwd_shared_bytes(emb_dim: usize, width: usize) -> usize {
    let d = emb_dim.max(pad8(width));
    let ws = width.saturating_mul(pad8(emb_dim.max(width)).saturating_add(4)).saturating_mul(8);
    d.saturating_mul(2 * FWD_LD * 8).saturating_add(ws)
}

/// f32 entries of one block's partial sums in backward kernel 1: `Σ_i F·(in_i + 1) + F`.
/// Saturates instead of overflowing.
fn partial_len(emb_dim: usize, width: usize, n_layers: usize) -> usize {
    (0..n_layers)
        .map(|i| width.saturating_mul(if i == 0 { emb_dim } else { width }.saturating_add(1)))
        .fold(width, usize::saturating_add)
}

/// Dynamic shared memory of backward kernel 1: `(n + 2)·max(E, F)·36` f64 tile buffers (n slots of
/// pre-activations, each reused for the gradient w.r.t. its layer's input once dead, the layer
/// input, the output layer's gradient) and the staged weight of one layer in f32
/// (`max(max(E, F)·(pad8(F) + 4), F·(pad8(max(E, F)) + 4))` f32, exact: every weight is a stored
/// value): 107 KiB at E ≤ F = 64, n = 3, two blocks per SM on sm_90. The block's parameter sums
/// live in its row of the `[G, P]` workspace. Saturates instead of overflowing.
pub fn bwd_shared_bytes(emb_dim: usize, width: usize, n_layers: usize) -> usize {
    let d = emb_dim.max(width);
    let wst = d
        .saturating_mul(pad8(width).saturating_add(4))
        .max(width.saturating_mul(pad8(d).saturating_add(4)));
    n_layers
        .saturating_add(2)
        .saturating_mul(d)
        .saturating_mul(TPS * 8)
        .saturating_add(wst.saturating_mul(4))
}

fn check_shared(dev: &Arc<dyn Device>, kernel: &str, bytes: usize) -> Result<u32> {
    let limit = dev.max_shared_bytes();
    if bytes > limit || bytes > u32::MAX as usize {
        return Err(HyenaError::SharedMemory { kernel: kernel.to_string(), requested: bytes, limit });
    }
    Ok(bytes as u32)
}

fn mul(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| HyenaError::Invalid(format!("implicit filter: {what} overflows ({a}·{b})")))
}

fn grid(blocks: usize, what: &str) -> Result<u32> {
    if blocks == 0 || blocks > i32::MAX as usize {
        return Err(HyenaError::Invalid(format!("implicit filter {what}: {blocks} blocks is outside 1..=2^31-1")));
    }
    Ok(blocks as u32)
}

/// Check dims and declare the weight views (inputs) to a new [`Args`] of the op
/// `implicit filter`; the caller adds its own arguments and runs the checks.
fn check_weights<'d, T: DeviceScalar>(dev: &'d Arc<dyn Device>, w: &FilterViews<'_, T>, d: &FilterDims) -> Result<Args<'d>> {
    let (e, f, c) = (d.emb_dim, d.width, d.channels);
    if e == 0 || f == 0 || c == 0 || d.l_max == 0 {
        return Err(HyenaError::Invalid(format!("implicit filter sizes must be positive (E={e}, F={f}, C={c}, l_max={})", d.l_max)));
    }
    if d.l == 0 || d.l > d.l_max {
        return Err(HyenaError::Length(format!("filter length {} must be in 1..={} (l_max)", d.l, d.l_max)));
    }
    if d.normalized {
        return Err(HyenaError::Invalid(
            "implicit filter kernels do not implement `normalized` (L1 over channels); use cpu::filter".into(),
        ));
    }
    if !d.shift.is_finite() {
        return Err(HyenaError::Invalid(format!("implicit filter: modulation shift must be finite, got {}", d.shift)));
    }
    let n = w.layers.len();
    if n == 0 || n > MAX_LAYERS {
        return Err(HyenaError::Invalid(format!("implicit filter kernels take 1..={MAX_LAYERS} hidden layers, got {n}")));
    }
    // int arithmetic in the kernels: keep E, F, C and F·F far below 2^31.
    if e > 1 << 16 || f > 1 << 14 || c > (i32::MAX as usize) - 2 * CB {
        return Err(HyenaError::Invalid(format!("implicit filter sizes out of the kernels' range: E={e}, F={f}, C={c}")));
    }
    let mut args = Args::new(dev, "implicit filter")
        .arg("z [l_max, E]", &w.z, mul(d.l_max, e, "l_max·E")?)
        .arg("t [l_max]", &w.t, d.l_max);
    for (i, (wt, b)) in w.layers.iter().enumerate() {
        let d_in = if i == 0 { e } else { f };
        args = args.arg(&format!("layer{i}.weight [F, in]"), wt, f * d_in).arg(&format!("layer{i}.bias [F]"), b, f);
    }
    Ok(args
        .arg("freq [F]", &w.freq, f)
        .arg("out_weight [C, F]", &w.out_weight, mul(c, f, "C·F")?)
        .arg("deltas [C]", &w.deltas, c))
}

/// Weight and bias addresses of up to [`MAX_LAYERS`] layers (checked by `check_weights`).
fn ptrs(layers: impl Iterator<Item = (u64, u64)>) -> ([u64; MAX_LAYERS], [u64; MAX_LAYERS]) {
    let (mut w, mut b) = ([0u64; MAX_LAYERS], [0u64; MAX_LAYERS]);
    for (i, (wt, bt)) in layers.take(MAX_LAYERS).enumerate() {
        w[i] = wt;
        b[i] = bt;
    }
    (w, b)
}

/// Forward: `h` `[C, L]` for the first `dims.l` positions (see the module docs).
pub fn implicit_filter_fwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    w: &FilterViews<'_, T>,
    dims: &FilterDims,
    h: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    implicit_filter_fwd_keep(dev, w, dims, h, None)
}

/// f64 elements of the hidden pre-activations `[n_layers, F, L]` that
/// [`implicit_filter_fwd_keep`] writes and [`implicit_filter_bwd_with`] reads (`n_layers · F · L`).
pub fn pre_len(dims: &FilterDims, n_layers: usize) -> Result<usize> {
    mul(mul(n_layers, dims.width, "n_layers·F")?, dims.l, "n_layers·F·L")
}

/// [`implicit_filter_fwd`], also writing the hidden layers' pre-activations `pre_i` (f64,
/// `[n_layers, F, L]`, [`pre_len`]) into `pre` when given: the backward given them
/// ([`implicit_filter_bwd_with`]) reads them instead of recomputing the hidden layers (the same
/// values bit for bit, so the same gradients), at `8·n_layers·F` bytes per position (12.6 MB at
/// F = 64, three layers, L = 8K; 1.6 GB at 1M).
pub fn implicit_filter_fwd_keep<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    w: &FilterViews<'_, T>,
    dims: &FilterDims,
    h: impl Into<DeviceViewMut<'a, T>>,
    pre: Option<DeviceViewMut<'_, f64>>,
) -> Result<()> {
    implicit_filter_fwd_fill(dev, w, dims, h, pre, [None, None])
}

/// [`implicit_filter_fwd_keep`], and in the same launch up to two bias broadcasts (each as
/// [`crate::ops::gating::bias_fill`] would write it, the same bits): the operator's projections'
/// starting values. The filter's forward is latency-bound (fp64 chains), the broadcasts pure
/// stores: one launch instead of three, the stores issued beside the filter's arithmetic. Every
/// view is checked as one launch's arguments (lengths, device, no output overlapping another
/// argument).
pub fn implicit_filter_fwd_fill<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    w: &FilterViews<'_, T>,
    dims: &FilterDims,
    h: impl Into<DeviceViewMut<'a, T>>,
    pre: Option<DeviceViewMut<'_, f64>>,
    fills: [Option<BiasFill<'_, T>>; 2],
) -> Result<()> {
    let h = h.into();
    let sfx = suffix(T::DTYPE, "implicit_filter_fwd")?;
    let (f, c, l) = (dims.width, dims.channels, dims.l);
    let mut args = check_weights(dev, w, dims)?
        .arg("h [C, L]", &h, mul(c, l, "C·L")?)
        .opt("pre [n_layers, F, L]", pre.as_ref(), pre_len(dims, w.layers.len())?);
    let mut fill = [HyenaBiasFillParams { bias: 0, out: 0, rows: 0, cols: 0, nb: 0, by_row: 0, pad: 0 }; 2];
    for (i, job) in fills.iter().enumerate() {
        if let Some(job) = job {
            let (a, p, _) = job.params(args, &format!("fill[{i}] "))?;
            args = a;
            if let Some(p) = p {
                fill[i] = p;
            }
        }
    }
    args.check()?;
    let kernel = format!("hyena_filter_fwd_{sfx}");
    let shared = check_shared(dev, &kernel, fwd_shared_bytes(dims.emb_dim, f))?;
    let tiles = grid(l.div_ceil(FWD_TILE), "forward")?;
    let (wp, bp) = ptrs(w.layers.iter().map(|(a, b)| (a.addr(), b.addr())));
    let p = HyenaFilterFwdParams {
        z: w.z.addr(),
        t: w.t.addr(),
        w: wp,
        b: bp,
        freq: w.freq.addr(),
        out_weight: w.out_weight.addr(),
        deltas: w.deltas.addr(),
        h: h.addr(),
        e: dims.emb_dim as u64,
        f: f as u64,
        c: c as u64,
        l: l as u64,
        n_layers: w.layers.len() as u64,
        modulate: dims.modulate as u64,
        shift: dims.shift,
        pre_out: pre.as_ref().map_or(0, |v| v.addr()),
        fill,
    };
    let (ys, threads) = fwd_channel_split(tiles as usize, c);
    // The fills index in 32 bits by the launch's threads (hyena::bias_fill): below 2^31 (at the
    // longest L, 2^22, the forward has 2^16 tiles of at most 1024 threads and few channel splits).
    if fill.iter().any(|f| f.out != 0) && (tiles as u64) * (ys as u64) * (threads as u64) >= 1 << 31 {
        return Err(HyenaError::Invalid(format!("implicit_filter_fwd_fill: {tiles} x {ys} blocks of {threads} threads: 2^31 or more for the bias fills")));
    }
    let cfg = LaunchConfig { grid: (tiles, ys as u32, 1), block: (threads, 1, 1), shared_bytes: shared };
    // SAFETY: the kernel reads the weights (borrowed shared, lengths checked by check_weights)
    // and writes h [C, L] and pre (borrowed exclusively, overlapping nothing), all on `dev`; each
    // fill writes its out's rows·cols elements and reads its bias below nb (as bias_fill; views
    // checked with the others above, borrowed for this call).
    unsafe { launch(dev, &kernel, cfg, &p) }
}

/// Work split of the backward for `l` positions. Depends on `l` only, so results are bitwise
/// reproducible across devices.
#[derive(Clone, Copy, Debug, PartialEq)]
struct BwdPlan {
    /// Tiles per block of kernel 1 (a power of two: its span divides the chunk).
    per_block: usize,
    /// Blocks of kernel 1 over all of `l`.
    blocks: usize,
    /// Positions per chunk (a multiple of `split` and of a block's span), and the leading
    /// dimension of the chunk workspaces (`min(chunk, l)`).
    chunk: usize,
    ld: usize,
    /// Positions per split of the `grad_out_weight` GEMM (a power of two) and the splits.
    split: usize,
    splits: usize,
}

fn bwd_plan(l: usize) -> BwdPlan {
    let tiles = l.div_ceil(TILE);
    let per_block = tiles.div_ceil(MAX_BWD_BLOCKS).next_power_of_two();
    let blocks = tiles.div_ceil(per_block);
    let chunk = BWD_CHUNK.max(per_block * TILE);
    let split = l.div_ceil(MAX_SPLITS).next_power_of_two().clamp(MIN_SPLIT, chunk);
    BwdPlan { per_block, blocks, chunk, ld: chunk.min(l), split, splits: l.div_ceil(split) }
}

/// The f32 workspace elements [`implicit_filter_bwd`] allocates for `l` positions (F = `width`,
/// C = `channels`, P = [`partial_len`]), at most: `G·P + (2F + C)·min(L, 32768) + S·C·F` with
/// `G ≤ 1024` blocks and `S ≤ 256` splits up to `L = 2²³` (then `L / 32768`). Saturates.
pub fn bwd_workspace_elems(emb_dim: usize, width: usize, channels: usize, n_layers: usize, l: usize) -> usize {
    // ws_a and gout are in the storage type (at most 4 bytes): counted as f32 elements, an
    // upper bound.
    let p = bwd_plan(l);
    let cf = channels.saturating_mul(width);
    p.blocks
        .saturating_mul(partial_len(emb_dim, width, n_layers))
        .saturating_add(width.saturating_mul(2).saturating_add(channels).saturating_mul(p.ld))
        .saturating_add(p.splits.saturating_mul(cf))
}

/// Backward of [`implicit_filter_fwd`] given `grad_h` `[C, L]`: recomputes the forward
/// activations, writes rows `< L` of `grads.z` (rows `≥ L` untouched) and OVERWRITES
/// `grads.layers`, `grads.freq` and `grads.out_weight` with the sums over positions. The output
/// layer's two products run as GEMMs on `dev` (`Device::gemm`: cuBLAS; operands in `T`, f32
/// accumulation and output; f32 GEMMs use TF32 when the device's switch is on, in which case the
/// f32 bounds of the module docs do not hold). Allocates workspaces on `dev`
/// ([`bwd_workspace_elems`]; frees are stream-ordered after the queued work).
pub fn implicit_filter_bwd<T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    w: &FilterViews<'_, T>,
    dims: &FilterDims,
    grad_h: DeviceView<'_, T>,
    grads: FilterGradViews<'_, T>,
) -> Result<()> {
    implicit_filter_bwd_with(dev, w, dims, grad_h, grads, None)
}

/// [`implicit_filter_bwd`] given, when `pre` is set, the hidden pre-activations the forward wrote
/// for the same weights and length ([`implicit_filter_fwd_keep`]): backward kernel 1 reads them
/// instead of recomputing the hidden layers (about a third of its work). The gradients are the
/// same bits either way.
pub fn implicit_filter_bwd_with<T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    w: &FilterViews<'_, T>,
    dims: &FilterDims,
    grad_h: DeviceView<'_, T>,
    grads: FilterGradViews<'_, T>,
    pre: Option<DeviceView<'_, f64>>,
) -> Result<()> {
    let sfx = suffix(T::DTYPE, "implicit_filter_bwd")?;
    let (e, f, c, l) = (dims.emb_dim, dims.width, dims.channels, dims.l);
    let n = w.layers.len();
    let mut args = check_weights(dev, w, dims)?
        .arg("grad_h [C, L]", &grad_h, mul(c, l, "C·L")?)
        .opt("pre [n_layers, F, L]", pre.as_ref(), pre_len(dims, n)?);
    if grads.layers.len() != n {
        return Err(HyenaError::shape("implicit filter grad layers", format!("{n} layers"), format!("{} layers", grads.layers.len())));
    }
    // check_weights bounded E, F and C and checked l_max·E and C·F.
    args = args.arg("grad_z [l_max, E]", &grads.z, dims.l_max * e);
    for (i, (gw, gb)) in grads.layers.iter().enumerate() {
        let d_in = if i == 0 { e } else { f };
        args = args.arg(&format!("grad_layer{i}.weight [F, in]"), gw, f * d_in).arg(&format!("grad_layer{i}.bias [F]"), gb, f);
    }
    args.arg("grad_freq [F]", &grads.freq, f).arg("grad_out_weight [C, F]", &grads.out_weight, c * f).check()?;

    let k_gout = format!("hyena_filter_bwd_gout_{sfx}");
    let k_main = format!("hyena_filter_bwd_{sfx}");
    let k_red = format!("hyena_filter_bwd_reduce_{sfx}");
    let sh_main = check_shared(dev, &k_main, bwd_shared_bytes(e, f, n))?;
    let plan = bwd_plan(l);
    let p_len = partial_len(e, f, n);
    let cf = mul(c, f, "C·F")?;
    grid(plan.blocks, "backward")?;
    let g_gout_x = grid(c.div_ceil(CB), "backward (grad_h · window)")?;
    let g_red = grid((p_len + cf).div_ceil(BLOCK as usize), "backward (reduce)")?;
    let ws = DeviceBuffer::<f32>::alloc(dev, mul(plan.blocks, p_len, "workspace")?)?;
    // gout = grad_h ⊙ window in T; without modulation it would be grad_h itself, bit for bit,
    // and the GEMMs read grad_h (no buffer, no launch).
    let gout = if dims.modulate { Some(DeviceBuffer::<T>::alloc(dev, mul(c, plan.ld, "C·chunk")?)?) } else { None };
    let mut ws_g = DeviceBuffer::<f32>::alloc(dev, mul(f, plan.ld, "F·chunk")?)?;
    let ws_a = DeviceBuffer::<T>::alloc(dev, mul(f, plan.ld, "F·chunk")?)?;
    let mut ws_ow = DeviceBuffer::<f32>::alloc(dev, mul(plan.splits, cf, "workspace")?)?;
    let (wp, bp) = ptrs(w.layers.iter().map(|(a, b)| (a.addr(), b.addr())));
    let (gwp, gbp) = ptrs(grads.layers.iter().map(|(a, b)| (a.addr(), b.addr())));
    let mut p = HyenaFilterBwdParams {
        z: w.z.addr(),
        t: w.t.addr(),
        w: wp,
        b: bp,
        freq: w.freq.addr(),
        out_weight: w.out_weight.addr(),
        deltas: w.deltas.addr(),
        grad_h: grad_h.addr(),
        grad_z: grads.z.addr(),
        grad_w: gwp,
        grad_b: gbp,
        grad_freq: grads.freq.addr(),
        grad_out_weight: grads.out_weight.addr(),
        ws: ws.addr(),
        ws_a: ws_a.addr(),
        ws_g: ws_g.addr(),
        gout: gout.as_ref().map_or(0, |g| g.addr()),
        ws_ow: ws_ow.addr(),
        e: e as u64,
        f: f as u64,
        c: c as u64,
        l: l as u64,
        n_layers: n as u64,
        modulate: dims.modulate as u64,
        shift: dims.shift,
        tiles_per_block: plan.per_block as u64,
        n_blocks: plan.blocks as u64,
        n_splits: plan.splits as u64,
        ld: plan.ld as u64,
        l_off: 0,
        chunk_len: 0,
        block0: 0,
        pre_in: pre.as_ref().map_or(0, |v| v.addr()),
    };
    let block = (BLOCK, 1, 1);
    let span = plan.per_block * TILE;
    // The output layer's two GEMMs take their operands in T (OW, grad_h or gout, a_n) and give
    // f32: for 16-bit storage bf16/f16 tensor cores, f32 accumulation, with half the operand bytes
    // of the f32 copies they read before (2026-12-06; before that: TF32 on f32 copies, measured on
    // an H200 2026-12-04 at B = 1, L = 8K: 8192 × 64 × 768 28 µs, 64 × 768 × 1024 × 8 40 µs). OW
    // and grad_h are exact in T; gout (modulate) and a_n are rounded to T (bf16 2⁻⁹, f16 2⁻¹¹
    // against TF32's 2⁻¹¹ before); with f32 storage everything stays f32 (the 1e-5 bound of the
    // module docs).
    let ld = plan.ld;
    for l_off in (0..l).step_by(plan.chunk) {
        let lc = plan.chunk.min(l - l_off);
        p.l_off = l_off as u64;
        p.chunk_len = lc as u64;
        p.block0 = (l_off / span) as u64;
        let g_main = grid(lc.div_ceil(span), "backward")?;
        // The GEMMs' gout' [lc × C] (column-major): the chunk's columns of grad_h [C, L] (leading
        // dimension L) without modulation, else gout [C, ld] written here.
        let (gsrc, gld) = match &gout {
            None => (grad_h.view(l_off..grad_h.len())?, l),
            Some(g) => {
                let g_gout = (g_gout_x, grid(lc.div_ceil(BLOCK as usize), "backward (grad_h · window)")?, 1);
                // SAFETY: the kernel reads grad_h, t and deltas (borrowed shared, lengths checked
                // above) and writes gout [C, ld] (owned here, sized above).
                unsafe { launch(dev, &k_gout, LaunchConfig { grid: g_gout, block, shared_bytes: 0 }, &p)? };
                (g.as_view(), ld)
            }
        };
        // g_n = OWᵀ·gout: column-major ws_g' [lc × F] = gout' [lc × C] · (OW' [F × C])ᵀ.
        gemm_f32_out::<T>(
            dev,
            lc,
            f,
            c,
            1.0,
            GemmIn { view: gsrc, ld: gld, stride: 0, trans: Trans::N },
            GemmIn { view: w.out_weight, ld: f, stride: 0, trans: Trans::T },
            0.0,
            GemmOut { view: ws_g.as_view_mut(), ld, stride: 0 },
            1,
        )?;
        // SAFETY: the weights and pre (borrowed shared, pre's length checked), grads.z (borrowed
        // exclusively), ws_g (read), ws_a [F, ld] and ws [G, P] (written), all sized above; any
        // values of pre are safe to read (stale ones give wrong gradients, not wild accesses);
        // the chunk's blocks write the rows block0.. of ws, and tiles inside [l_off, l_off + lc)
        // only.
        unsafe { launch(dev, &k_main, LaunchConfig { grid: (g_main, 1, 1), block: (BWD_BLOCK, 1, 1), shared_bytes: sh_main }, &p)? };
        // d OW partials: column-major ws_ow_s' [F × C] = (a_n' [split × F])ᵀ · gout' [split × C]
        // per split s of the chunk, the full splits as one strided batch, a shorter last one alone.
        let s0 = l_off / plan.split;
        let full = lc / plan.split;
        let rest = lc % plan.split;
        let mut out_gemm = |first: usize, k: usize, batch: usize| -> Result<()> {
            let at = (first - s0) * plan.split;
            gemm_f32_out::<T>(
                dev,
                f,
                c,
                k,
                1.0,
                GemmIn { view: ws_a.view(at..ws_a.len())?, ld, stride: plan.split, trans: Trans::T },
                GemmIn { view: gsrc.view(at..gsrc.len())?, ld: gld, stride: plan.split, trans: Trans::N },
                0.0,
                GemmOut { view: ws_ow.view_mut(first * cf..(first + batch) * cf)?, ld: f, stride: cf },
                batch,
            )
        };
        if full > 0 {
            out_gemm(s0, plan.split, full)?;
        }
        if rest > 0 {
            out_gemm(s0 + full, rest, 1)?;
        }
    }
    // SAFETY: reads ws and ws_ow (written above, stream-ordered), writes the gradients (borrowed
    // exclusively, overlapping nothing). The workspaces' frees are stream-ordered after the
    // launches (see `crate::device`), so no synchronisation is needed.
    unsafe { launch(dev, &k_red, LaunchConfig { grid: (g_red, 1, 1), block, shared_bytes: 0 }, &p) }
}

fn up<S: Scalar, T: DeviceScalar>(dev: &Arc<dyn Device>, v: &[S]) -> Result<DeviceBuffer<T>> {
    DeviceBuffer::from_host(dev, &v.iter().map(|x| T::from_f64(x.as_f64())).collect::<Vec<T>>())
}

/// A host filter's weights copied to a device in storage type `T`.
pub struct FilterBuffers<T: Pod> {
    /// `[l_max, E]`.
    pub z: DeviceBuffer<T>,
    /// `[l_max]`.
    pub t: DeviceBuffer<T>,
    /// `(weight [F, in_i], bias [F])` per hidden layer.
    pub layers: Vec<(DeviceBuffer<T>, DeviceBuffer<T>)>,
    /// `[F]`.
    pub freq: DeviceBuffer<T>,
    /// `[C, F]`.
    pub out_weight: DeviceBuffer<T>,
    /// `[C]`.
    pub deltas: DeviceBuffer<T>,
}

impl<T: DeviceScalar> FilterBuffers<T> {
    /// Upload `w` (validated first), rounding every value to `T`.
    pub fn upload<S: Scalar>(dev: &Arc<dyn Device>, w: &ImplicitFilter<S>) -> Result<Self> {
        w.validate()?;
        Ok(FilterBuffers {
            z: up(dev, &w.z)?,
            t: up(dev, &w.t)?,
            layers: w.layers.iter().map(|(a, b)| Ok((up(dev, a)?, up(dev, b)?))).collect::<Result<_>>()?,
            freq: up(dev, &w.freq)?,
            out_weight: up(dev, &w.out_weight)?,
            deltas: up(dev, &w.deltas)?,
        })
    }

    /// Views of every tensor, for [`implicit_filter_fwd`] / [`implicit_filter_bwd`].
    pub fn views(&self) -> FilterViews<'_, T> {
        FilterViews {
            z: self.z.as_view(),
            t: self.t.as_view(),
            layers: self.layers.iter().map(|(a, b)| (a.as_view(), b.as_view())).collect(),
            freq: self.freq.as_view(),
            out_weight: self.out_weight.as_view(),
            deltas: self.deltas.as_view(),
        }
    }
}

/// Device buffers for the gradients of a filter with `dims` and `n_layers` hidden layers.
pub struct FilterGradBuffers<T: Pod> {
    /// `[l_max, E]`.
    pub z: DeviceBuffer<T>,
    /// `(grad weight [F, in_i], grad bias [F])` per hidden layer.
    pub layers: Vec<(DeviceBuffer<T>, DeviceBuffer<T>)>,
    /// `[F]`.
    pub freq: DeviceBuffer<T>,
    /// `[C, F]`.
    pub out_weight: DeviceBuffer<T>,
}

impl<T: DeviceScalar> FilterGradBuffers<T> {
    /// Allocate gradient buffers, `grad z` zero-filled on the device (the backward leaves rows
    /// `≥ L` untouched; a device memset, no host copy); the others are overwritten by
    /// [`implicit_filter_bwd`].
    pub fn alloc(dev: &Arc<dyn Device>, dims: &FilterDims, n_layers: usize) -> Result<Self> {
        let (e, f) = (dims.emb_dim, dims.width);
        let alloc = |n: usize| DeviceBuffer::alloc(dev, n);
        Ok(FilterGradBuffers {
            z: DeviceBuffer::zeros(dev, mul(dims.l_max, e, "l_max·E")?)?,
            layers: (0..n_layers)
                .map(|i| Ok((alloc(mul(f, if i == 0 { e } else { f }, "F·in")?)?, alloc(f)?)))
                .collect::<Result<_>>()?,
            freq: alloc(f)?,
            out_weight: alloc(mul(dims.channels, f, "C·F")?)?,
        })
    }

    /// Exclusive views of every gradient, for [`implicit_filter_bwd`].
    pub fn views_mut(&mut self) -> FilterGradViews<'_, T> {
        FilterGradViews {
            z: self.z.as_view_mut(),
            layers: self.layers.iter_mut().map(|(a, b)| (a.as_view_mut(), b.as_view_mut())).collect(),
            freq: self.freq.as_view_mut(),
            out_weight: self.out_weight.as_view_mut(),
        }
    }

    /// Copy the gradients back, widened to f64.
    pub fn to_host(&self) -> Result<FilterGrads<f64>> {
        let get = |b: &DeviceBuffer<T>| -> Result<Vec<f64>> { Ok(b.to_host()?.into_iter().map(T::to_f64).collect()) };
        Ok(FilterGrads {
            z: get(&self.z)?,
            layers: self.layers.iter().map(|(a, b)| Ok((get(a)?, get(b)?))).collect::<Result<_>>()?,
            freq: get(&self.freq)?,
            out_weight: get(&self.out_weight)?,
        })
    }
}
