//! The Hyena operator on the CUDA device abstraction (`Arc<dyn Device>`: a GPU with feature
//! `cuda`, the SIMT simulator with feature `sim`), forward and backward.
//!
//! [`DeviceOperator`] holds the parameters on the host in a [`HyenaOperator`] (names, checkpoints,
//! the optimizer: everything the CPU path has) and runs the pass on a device through the
//! project's kernels (`hyena_kernels::ops`) and the device GEMM (cuBLAS on a GPU):
//!
//! | step | device work |
//! |------|-------------|
//! | in_proj | per chunk `i`: `Z_i,b [D, L] = W_i · U_bᵀ + b_i` (bias broadcast by `ops::gating::bias_fill`, then a strided-batched GEMM over the batch, β = 1; the first GEMM's broadcast, and out_proj's, written inside the implicit filter's launch, which runs first: `ops::filter::implicit_filter_fwd_fill`) |
//! | short conv | `shortconv_fwd_chunks`, all chunks in one launch (3 taps + bias); at order 2 where the tensor-core forward runs (2-byte storage, 4K < L ≤ 8K) fused into the step's kernel instead (`conv::gated_fftconv_shortconv_fwd`: the same `uc`, no launch of its own) |
//! | long filter | `h [(N−1)·D, L]`: the implicit filter (see below), its spectrum once per pass (`fftconv_filter`; at B = 1 where the short conv is fused into the 8K step, formed by that step's kernel instead: `conv::gated_fftconv_shortconv_filter_fwd`), kept for the backward |
//! | recurrence | `gated_fftconv_fwd_spectrum_keep` per order step: `v ← post ⊙ (h ∗ (pre ⊙ v) + bias ⊙ (pre ⊙ v))`; where `conv::inner_pays` the last step also keeps its value before the post gate for the backward's `grad x₀`, and where `conv::a_spectrum_pays` (2-byte storage at 4K < L ≤ 8K; L > 16K) its transform of `pre ⊙ v` |
//! | out_proj | `y_b [L, D] = Last_bᵀ · W_outᵀ + b_out` (strided-batched GEMM) |
//!
//! Layout: the in_proj output is stored chunk-major, `[N+1, B, D, L]`, so that every `x_i` and
//! `v` is a contiguous `[B, D, L]` block, the layout the conv kernels read: the `[B, L, C]` ↔
//! per-channel-row change is absorbed by the GEMM transposes, with no copy pass. Backward: the
//! conv backward writes each chunk's gradient exactly once (no accumulation pass), GEMMs give
//! `grad_u` and the projection weight gradients (summed over the positions by `device_reduce`;
//! out_proj's bias gradient the same way with a ones vector), the short-conv backward reduces its
//! weight gradients on the device and forms in_proj's bias gradient from them (no GEMM).
//!
//! Host work inside a pass: none. [`DeviceOperator::forward_with`] and
//! [`DeviceOperator::backward_device_grads`] only queue device work (kernels, GEMMs, memsets):
//! no synchronisation (temporaries are freed in stream order after the work that reads them,
//! see `hyena_kernels::device`), no host copy (the bias-gradient GEMMs' vector of ones is cached
//! with the uploaded weights; zero fills are device memsets), and the parameter gradients stay on the
//! device in a [`DeviceGrads`] until [`DeviceGrads::add_to`] copies them (the host-memory
//! [`DeviceOperator::backward`] / [`DeviceOperator::backward_device`] do that for the caller).
//! The exception is safari's `normalized` filter, whose backward runs on the host (below).
//!
//! The implicit filter `h` runs on the device too (`ops::filter`: hidden layers in f64, output
//! layer and modulation in f32; the forward keeps the hidden pre-activations, f64 `[n_layers, F,
//! L]`, and the backward reads them and reduces the weight gradients on the device). Only
//! safari's optional `normalized` filter (L1 normalisation over channels, off by default and in
//! every released checkpoint) is computed on the host with the
//! CPU reference and uploaded, its backward run on the host from the downloaded `grad_h`.
//!
//! TF32: with the device's switch on ([`hyena_kernels::device::Device::set_tf32`], off by
//! default) the f32-storage GEMMs round their operands to TF32 (unit roundoff 2⁻¹¹) on tensor
//! cores; the f32 conformance bound (1e-5) assumes it off.
//!
//! Storage `S` is f32, bf16 or f16 (arithmetic f32 in the kernels; GEMMs f32-accumulate); the
//! host side `T` is f32 or f64 (values are rounded to `S` on upload). Lengths: the fused conv
//! takes its shared-memory path up to `L = 8192` (forward and backward) and its
//! multi-pass (four-step) path above, up to
//! [`hyena_kernels::ops::fftconv::LONG_MAX_LEN`] (2²², FlashFFTConv's longest); longer rows are a typed
//! [`hyena_kernels::HyenaError::Length`] before any work is queued.

use crate::config::OperatorConfig;
use crate::device_reduce::gemm_sum_k;
use crate::error::Result;
use crate::lm::Mixer;
use crate::operator::{HyenaOperator, NamedParam, NamedParamMut};
use crate::recurrence::{check_dims, check_input_len, schedule, Src, Step};
use hyena_kernels::cpu::filter::{self, FilterCache, FilterGrads};
use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar, DeviceView, DeviceViewMut, Pod, Trans};
use hyena_kernels::ops::fftconv::{self as conv, GatedConvGradViews, ShortConvBwdViews, ShortConvFwdViews};
use hyena_kernels::ops::gating::{bias_fill, BiasFill, Broadcast};
use hyena_kernels::ops::gemm::{gemm, GemmIn, GemmOut};
use hyena_kernels::ops::filter::{implicit_filter_bwd_with, implicit_filter_fwd_fill, pre_len, FilterBuffers, FilterDims, FilterGradBuffers};
use hyena_kernels::ops::shortconv::{shortconv_bwd_chunks, shortconv_fwd_chunks};
use hyena_kernels::{HyenaError, Scalar};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

/// A Hyena operator whose passes run on a device; parameters live on the host (see module docs).
pub struct DeviceOperator<T: Scalar, S: DeviceScalar = f32> {
    /// The parameters (the same type and names as the CPU operator).
    pub op: HyenaOperator<T>,
    dev: Arc<dyn Device>,
    _s: PhantomData<S>,
}

impl<T: Scalar, S: DeviceScalar> Clone for DeviceOperator<T, S> {
    fn clone(&self) -> Self {
        Self { op: self.op.clone(), dev: self.dev.clone(), _s: PhantomData }
    }
}

/// Device copies of an operator's weights ([`DeviceOperator::upload`]), shared by the passes
/// that use them.
pub struct DeviceWeights<S: DeviceScalar> {
    in_w: DeviceBuffer<S>,
    in_b: DeviceBuffer<S>,
    out_w: DeviceBuffer<S>,
    out_b: DeviceBuffer<S>,
    sf_w: DeviceBuffer<S>,
    sf_b: DeviceBuffer<S>,
    filter_bias: DeviceBuffer<S>,
    /// The implicit filter's weights (`None` for `normalized` filters, computed on the host).
    filter: Option<FilterBuffers<S>>,
    /// A vector of ones (the bias-gradient GEMMs' operand), uploaded on the first pass that needs
    /// one this long and reused after: a pass makes no host copy of its own.
    ones: Mutex<Option<Arc<DeviceBuffer<S>>>>,
}

impl<S: DeviceScalar> DeviceWeights<S> {
    /// At least `n` ones on `dev` (uploaded only when no cached vector is that long).
    fn ones(&self, dev: &Arc<dyn Device>, n: usize) -> Result<Arc<DeviceBuffer<S>>> {
        let mut cached = self.ones.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = cached.as_ref().filter(|o| o.len() >= n) {
            return Ok(o.clone());
        }
        let o = Arc::new(DeviceBuffer::from_host(dev, &vec![S::from_f64(1.0); n])?);
        *cached = Some(o.clone());
        Ok(o)
    }
}

/// The parameter gradients of one backward pass, on the device
/// ([`DeviceOperator::backward_device_grads`]); copied to the host only by [`Self::add_to`].
pub struct DeviceGrads<T: Scalar, S: DeviceScalar> {
    in_w: DeviceBuffer<S>,
    in_b: DeviceBuffer<S>,
    out_w: DeviceBuffer<S>,
    out_b: DeviceBuffer<S>,
    sf_w: DeviceBuffer<S>,
    sf_b: DeviceBuffer<S>,
    filter_bias: DeviceBuffer<S>,
    /// The implicit filter's gradients, reduced on the device.
    filter: Option<FilterGradBuffers<S>>,
    /// The filter's gradients computed on the host (`normalized` filters).
    host_filter: Option<FilterGrads<T>>,
    shapes: crate::operator::OperatorShapes,
}

impl<T: Scalar, S: DeviceScalar> DeviceGrads<T, S> {
    /// Add these gradients into `grads` (host, shaped like the operator): waits for the backward
    /// pass and copies every gradient to the host.
    pub fn add_to(&self, grads: &mut HyenaOperator<T>) -> Result<()> {
        if grads.shapes() != self.shapes {
            return Err(crate::ModelError::Config(format!(
                "device gradients of an operator with shapes {:?}, gradient holder {:?}",
                self.shapes,
                grads.shapes()
            )));
        }
        grads.check_consistent()?;
        accumulate(&mut grads.in_proj_weight, &self.in_w)?;
        accumulate(&mut grads.in_proj_bias, &self.in_b)?;
        accumulate(&mut grads.out_proj_weight, &self.out_w)?;
        accumulate(&mut grads.out_proj_bias, &self.out_b)?;
        accumulate(&mut grads.short_filter_weight, &self.sf_w)?;
        accumulate(&mut grads.short_filter_bias, &self.sf_b)?;
        accumulate(&mut grads.filter_bias, &self.filter_bias)?;
        if let Some(fb) = &self.filter {
            grads.add_filter_grads(&fb.to_host()?);
        }
        if let Some(fg) = &self.host_filter {
            grads.add_filter_grads(fg);
        }
        Ok(())
    }
}

/// What [`DeviceOperator::forward_device`] keeps for the backward pass (device buffers plus the
/// host filter cache).
pub struct DeviceOperatorCache<T: Scalar, S: DeviceScalar> {
    b: usize,
    l: usize,
    w: Arc<DeviceWeights<S>>,
    u: DeviceBuffer<S>,
    zin: DeviceBuffer<S>,
    uc: DeviceBuffer<S>,
    /// The forward's filter spectra (`N−1` of `conv::spectrum_len(D, L)` f32, one per order step),
    /// which the backward's long convolutions read: it runs no filter FFT. Per-pass state like the
    /// other saved activations, freed with the cache. Its size does not depend on B: fp32 complex
    /// `[(N−1)·D, n/2+1]` on the shared-memory path (order 2, D = 768, L = 8K: 768·8193·8 B = 50.3
    /// MB, where `h` in bf16 is 12.6 MB), `[(N−1)·⌈D/2⌉, n]` on the multi-pass path (channel pairs;
    /// L = 64K: 384·131072·8 B = 403 MB).
    hf: DeviceBuffer<f32>,
    steps: Vec<DeviceBuffer<S>>,
    /// The last step's value before its post gate `x₀` (`conv::gated_fftconv_fwd_spectrum_keep`),
    /// where [`keeps_inner`] says so: the backward's `grad x₀ = grad_y ⊙ inner` without convolving
    /// again.
    inner: Option<DeviceBuffer<S>>,
    /// The same step's transform of `pre ⊙ v` (`conv::gated_fftconv_fwd_spectrum_keep`), where
    /// `conv::a_spectrum_pays`: A's spectrum on the two-block shapes (2-byte storage, 4K < L ≤ 8K
    /// among them; f32 complex `[B·D, n/2+1]`, 50.3 MB at B = 1, D = 768, L = 8K: the backward's
    /// A kernel does not run), the forward's pass-1 workspace on the multi-pass path (L > 16K;
    /// `[⌈D/2⌉, B, n]` complex, 403 MB at 64K: the backward's pass 1 on `a` does not run, and the
    /// backward allocates no Za workspace of its own; held from the forward on instead).
    a_spec: Option<DeviceBuffer<f32>>,
    ones: Arc<DeviceBuffer<S>>,
    /// The host filter's cache when `h` was made on the host (`normalized` filters).
    host_filter: Option<FilterCache<T>>,
    /// The device filter's hidden pre-activations (f64 `[n_layers, F, L]`,
    /// `ops::filter::implicit_filter_fwd_keep`): its backward reads them instead of recomputing
    /// the hidden layers. Independent of B: 12.6 MB at F = 64, three layers, L = 8K.
    filter_pre: Option<DeviceBuffer<f64>>,
    /// Shapes of the operator that made the cache (checked by the backward pass).
    shapes: crate::operator::OperatorShapes,
}

impl<T: Scalar, S: DeviceScalar> DeviceOperatorCache<T, S> {
    /// (batch, length) of the cached forward pass.
    pub fn dims(&self) -> (usize, usize) {
        (self.b, self.l)
    }
}

fn upload<T: Scalar, S: DeviceScalar>(dev: &Arc<dyn Device>, x: &[T]) -> Result<DeviceBuffer<S>> {
    let v: Vec<S> = x.iter().map(|&a| S::from_f64(a.as_f64())).collect();
    Ok(DeviceBuffer::from_host(dev, &v)?)
}

fn download<T: Scalar, S: DeviceScalar>(x: &DeviceBuffer<S>) -> Result<Vec<T>> {
    Ok(x.to_host()?.into_iter().map(|a| T::lit(a.to_f64())).collect())
}

fn accumulate<T: Scalar, S: DeviceScalar>(dst: &mut [T], src: &DeviceBuffer<S>) -> Result<()> {
    let h = src.to_host()?;
    hyena_kernels::error::check_len("device gradient", h.len(), dst.len())?;
    dst.iter_mut().zip(h).for_each(|(a, x)| *a = *a + T::lit(x.to_f64()));
    Ok(())
}

/// Whether the forward keeps the last step's value before the post gate for the backward (one more
/// `[B, D, L]` activation in the cache): where `conv::inner_pays` says the backward's convolution
/// then runs fewer transforms. Multi-pass (`L >` [`conv::SMEM_MAX_LEN`]): two of the four
/// inverse row FFTs per batch row and a column transform (model, 64K B = 1: backward −163 µs,
/// forward +23 µs for the extra write). The two-block shapes of 2-byte storage (4K < L ≤ 8K among
/// them): A's kernel one FFT instead of two (docs/GPU_MODEL.md, "The inner value at 8K"). Not
/// elsewhere at `L ≤ 8K`: there the model puts the G-only one-block kernel above the one it
/// replaces (docs/GPU_MODEL.md, "The forward's inner value").
fn keeps_inner<S: DeviceScalar>(l: usize) -> bool {
    conv::inner_pays::<S>(l)
}

/// in_proj chunks per GEMM: all `N+1` at B = 1, where the chunk-major `[N+1, B, D, L]` in_proj
/// output is one `[(N+1)·D, L]` matrix (one launch instead of `N+1`, forward and backward); one
/// otherwise (a chunk's rows of different batch items are not one stride apart).
fn chunks_per_gemm(n: usize, b: usize) -> usize {
    if b == 1 {
        n + 1
    } else {
        1
    }
}

/// One row-major GEMM input: view, leading dimension, transpose flag and the stride between
/// batch items (elements).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, S: Pod> {
    pub(crate) v: DeviceView<'a, S>,
    pub(crate) ld: usize,
    pub(crate) t: bool,
    pub(crate) stride: usize,
}

pub(crate) fn mat<S: Pod>(v: DeviceView<'_, S>, ld: usize, t: bool, stride: usize) -> Mat<'_, S> {
    Mat { v, ld, t, stride }
}

/// A row-major GEMM output (never transposed): view, leading dimension, batch stride.
pub(crate) fn out<S: Pod>(view: DeviceViewMut<'_, S>, ld: usize, stride: usize) -> GemmOut<'_, S> {
    GemmOut { view, ld, stride }
}

/// Row-major strided-batched GEMM `C_i [M, N] = α·op(A_i)·op(B_i) + β·C_i` on the device,
/// expressed in the device's column-major convention (`Cᵀ = op(B)ᵀ·op(A)ᵀ`: swap the operands).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_rm<S: DeviceScalar>(dev: &Arc<dyn Device>, m: usize, n: usize, k: usize, a: Mat<'_, S>, b: Mat<'_, S>, beta: f64, c: GemmOut<'_, S>, batch: usize) -> Result<()> {
    Ok(gemm(dev, n, m, k, 1.0, b.gemm_in(), a.gemm_in(), beta, c, batch)?)
}

impl<'a, S: Pod> Mat<'a, S> {
    fn gemm_in(self) -> GemmIn<'a, S> {
        GemmIn { view: self.v, ld: self.ld, stride: self.stride, trans: if self.t { Trans::T } else { Trans::N } }
    }
}

impl<T: Scalar, S: DeviceScalar> DeviceOperator<T, S> {
    /// Wrap host parameters for passes on `dev`. Storage `S` must be f32, bf16 or f16 (the
    /// kernels' storage types): f64 is a typed error.
    pub fn new(op: HyenaOperator<T>, dev: Arc<dyn Device>) -> Result<Self> {
        if S::DTYPE == hyena_kernels::device::DType::F64 {
            return Err(HyenaError::Dtype("device operator: kernels store f32, bf16 or f16; got f64".into()).into());
        }
        Ok(Self { op, dev, _s: PhantomData })
    }

    /// A freshly initialised operator on `dev` (as [`HyenaOperator::init`]).
    pub fn init(cfg: &OperatorConfig, dev: Arc<dyn Device>, rng: &mut impl rand::Rng) -> Result<Self> {
        Self::new(HyenaOperator::init(cfg, rng)?, dev)
    }

    /// The device the passes run on.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// Copy the current weights to the device (rounded to `S`), for [`Self::forward_with`]: a
    /// caller running many passes with unchanged weights (inference, benchmarks) uploads once.
    pub fn upload(&self) -> Result<Arc<DeviceWeights<S>>> {
        let (o, d) = (&self.op, &self.dev);
        Ok(Arc::new(DeviceWeights {
            in_w: upload(d, &o.in_proj_weight)?,
            in_b: upload(d, &o.in_proj_bias)?,
            out_w: upload(d, &o.out_proj_weight)?,
            out_b: upload(d, &o.out_proj_bias)?,
            sf_w: upload(d, &o.short_filter_weight)?,
            sf_b: upload(d, &o.short_filter_bias)?,
            filter_bias: upload(d, &o.filter_bias)?,
            filter: if o.filter.normalized { None } else { Some(FilterBuffers::<S>::upload(d, &o.filter)?) },
            ones: Mutex::new(None),
        }))
    }

    fn check_dims(&self, b: usize, l: usize) -> Result<()> {
        check_dims(b, l, self.op.cfg.l_max)?;
        // The conv kernels' limits, reported before any work is queued.
        conv::fft_size(l)?;
        Ok(())
    }

    /// Forward pass on device memory: `u` `[B, L, D]` (storage `S`) → `y` `[B, L, D]`, with the
    /// cache for [`Self::backward_device`]. Uploads the current weights first.
    pub fn forward_device(&self, u: DeviceBuffer<S>, b: usize, l: usize) -> Result<(DeviceBuffer<S>, DeviceOperatorCache<T, S>)> {
        self.check_dims(b, l)?;
        self.forward_with(self.upload()?, u, b, l)
    }

    /// [`Self::forward_device`] with weights uploaded earlier by [`Self::upload`] from this
    /// operator's current parameters (after changing them, upload again).
    pub fn forward_with(&self, w: Arc<DeviceWeights<S>>, u: DeviceBuffer<S>, b: usize, l: usize) -> Result<(DeviceBuffer<S>, DeviceOperatorCache<T, S>)> {
        self.check_dims(b, l)?;
        let dev = &self.dev;
        let (d, n) = (self.op.cfg.d_model, self.op.cfg.order);
        check_input_len("device operator input u [B, L, D]", u.len(), b, l, d)?;
        if !u.as_view().is_on(dev) {
            return Err(HyenaError::Buffer { name: "device operator input u".into(), problem: "belongs to another device".into() }.into());
        }
        let ones = w.ones(dev, b * l)?;
        let chunk = b * d * l;
        let mut zin = DeviceBuffer::<S>::alloc(dev, (n + 1) * chunk)?;
        let mut uc = DeviceBuffer::<S>::alloc(dev, (n + 1) * chunk)?;
        let mut y = DeviceBuffer::<S>::alloc(dev, b * l * d)?;
        let gs = chunks_per_gemm(n, b);
        // The implicit filter first (it depends on no input): its launch also writes the first
        // in_proj GEMM's bias broadcast and out_proj's (`implicit_filter_fwd_fill`: the filter is
        // latency-bound, the broadcasts pure stores; two launches fewer). The host-side
        // `normalized` filter leaves them to `bias_fill` below.
        let cf = d * (n - 1);
        let (h, host_filter, filter_pre, filled) = match &w.filter {
            None => {
                let (h_host, fc) = filter::filter_fwd(&self.op.filter, l)?;
                (upload::<T, S>(dev, &h_host)?, Some(fc), None, false)
            }
            Some(fb) => {
                let mut h = DeviceBuffer::<S>::alloc(dev, cf * l)?;
                let dims = FilterDims::of(&self.op.filter, l);
                let mut pre = DeviceBuffer::<f64>::alloc(dev, pre_len(&dims, self.op.filter.layers.len())?)?;
                let fills = [
                    Some(BiasFill { bias: w.in_b.view(0..gs * d)?, how: Broadcast::ByRow, rows: gs * b * d, cols: l, out: zin.view_mut(0..gs * chunk)? }),
                    Some(BiasFill { bias: w.out_b.as_view(), how: Broadcast::ByColumn, rows: b * l, cols: d, out: y.as_view_mut() }),
                ];
                implicit_filter_fwd_fill(dev, &fb.views(), &dims, &mut h, Some(pre.as_view_mut()), fills)?;
                (h, None, Some(pre), true)
            }
        };
        for g in 0..(n + 1) / gs {
            let (c0, c1) = (g * gs, (g + 1) * gs);
            let mut z = zin.view_mut(c0 * chunk..c1 * chunk)?;
            // Z_i,b [D, L] = b_i ⊗ 1 (a broadcast store: as a rank-1 GEMM with a vector of ones cuBLAS
            // took 118.6 µs at B = 1, L = 8K on an H200, 13x the store), then += W_i [D, D] · U_bᵀ
            // (chunks c0..c1 stacked at B = 1; rows [gs, B, D] with gs > 1 only at B = 1).
            // (Folding b_i into the short conv's loads instead — the kernels take an `in_bias` —
            // removes these rank-1 GEMMs but stores bf16(W·u) where this stores bf16(W·u + b): over
            // 48 seeds of the bf16 device test its worst error has a heavier tail (docs/GPU_MODEL.md,
            // "The in_proj bias fold, revisited"); not used.)
            if !(filled && g == 0) {
                let bias = w.in_b.view(c0 * d..c1 * d)?;
                bias_fill(dev, bias, Broadcast::ByRow, gs * b * d, l, z.reborrow())?;
            }
            let wi = w.in_w.view(c0 * d * d..c1 * d * d)?;
            gemm_rm::<S>(dev, gs * d, l, d, mat(wi, d, false, 0), mat(u.as_view(), d, true, l * d), 1.0, out(z.reborrow(), l, d * l), b)?;
        }
        // All N+1 chunks in one launch: uc_i = shortconv(Z_i); at order 2 (the paper's: one step
        // whose three operands are short conv outputs) where the tensor-core forward runs (4K < L ≤
        // 8K, 2-byte storage) the short conv is fused into the step's kernel instead, which forms
        // uc from Z (the same bits), stores it for the backward and reads it back from the L2: no
        // short conv launch.
        let sched: Vec<Step> = schedule(n).collect();
        let fuse_sc = matches!(sched.as_slice(), [Step { o: 0, cur: Src::Chunk(_), post: Some(_), .. }]) && conv::shortconv_fwd_fuses::<S>(b, d, l);
        let mut uc_done = false;
        if !fuse_sc {
            shortconv_fwd_chunks(dev, &zin, &w.sf_w, &w.sf_b, None, n + 1, b, d, l, &mut uc)?;
            uc_done = true;
        }
        let per = conv::spectrum_len(d, l)?;
        // At B = 1 the fused step also forms its filter's spectrum (the row is its channel's only
        // one: conv::gated_fftconv_shortconv_filter_fwd, no spectrum launch); elsewhere one
        // fftconv_filter per step first.
        let filter_in_step = fuse_sc && b == 1;
        let mut hf = step_spectra(dev, &h, n - 1, d * l, per, |h, hf| if filter_in_step { Ok(()) } else { conv::fftconv_filter(dev, h, d, l, hf) })?;
        let mut steps: Vec<DeviceBuffer<S>> = Vec::with_capacity(n - 1);
        let mut inner = None;
        let mut a_spec = None;
        for s in sched {
            let o = s.o;
            let mut step = DeviceBuffer::<S>::alloc(dev, chunk)?;
            let keep = s.post.is_some() && keeps_inner::<S>(l);
            let mut step_inner = if keep { Some(inner.insert(DeviceBuffer::<S>::alloc(dev, chunk)?).as_view_mut()) } else { None };
            // With it, the transform of pre ⊙ v that the backward would form again (conv::a_spectrum_pays).
            let mut step_spec = if keep && conv::a_spectrum_pays::<S>(b, d, l) {
                Some(a_spec.insert(DeviceBuffer::<f32>::alloc(dev, conv::a_spectrum_len(b, d, l)?)?).as_view_mut())
            } else {
                None
            };
            if let (false, Src::Chunk(cv), Some(cq)) = (uc_done, s.cur, s.post) {
                let sc = ShortConvFwdViews { z: zin.as_view(), w: w.sf_w.as_view(), bias: w.sf_b.as_view(), roles: [cv, s.pre, cq], uc: uc.as_view_mut() };
                let bias_o = w.filter_bias.view(o * d..(o + 1) * d)?;
                let (si, ss) = (step_inner.as_mut().map(|v| v.reborrow()), step_spec.as_mut().map(|v| v.reborrow()));
                let (h_o, hf_o) = (o * d * l..(o + 1) * d * l, o * per..(o + 1) * per);
                let fused = match filter_in_step {
                    true => conv::gated_fftconv_shortconv_filter_fwd(dev, h.view(h_o.clone())?, hf.view_mut(hf_o.clone())?, bias_o, sc, d, l, &mut step, si, ss)?,
                    false => conv::gated_fftconv_shortconv_fwd(dev, hf.view(hf_o.clone())?, bias_o, sc, b, d, l, &mut step, si, ss)?,
                };
                if fused {
                    steps.push(step);
                    continue;
                }
                // Not fused after all (a view not 4-byte aligned): the spectrum if not formed yet,
                // then the two launches.
                if filter_in_step {
                    conv::fftconv_filter(dev, h.view(h_o)?, d, l, hf.view_mut(hf_o)?)?;
                }
                shortconv_fwd_chunks(dev, &zin, &w.sf_w, &w.sf_b, None, n + 1, b, d, l, &mut uc)?;
                uc_done = true;
            }
            let (cur, pre, post) = s.operands(|src| match src {
                Src::Chunk(i) => uc.view(i * chunk..(i + 1) * chunk),
                Src::Step(j) => Ok(steps[j].as_view()),
            })?;
            conv::gated_fftconv_fwd_spectrum_keep(
                dev,
                hf.view(o * per..(o + 1) * per)?,
                w.filter_bias.view(o * d..(o + 1) * d)?,
                cur,
                Some(pre),
                post,
                b,
                d,
                l,
                &mut step,
                step_inner,
                step_spec,
            )?;
            steps.push(step);
        }
        // y [B·L, D] = 1 ⊗ b_out (broadcast store; by the filter's launch above where it ran on
        // the device), then y_b [L, D] += Last_bᵀ · W_outᵀ.
        if !filled {
            bias_fill(dev, w.out_b.as_view(), Broadcast::ByColumn, b * l, d, y.as_view_mut())?;
        }
        let last = steps[n - 2].as_view();
        gemm_rm::<S>(dev, l, d, d, mat(last, l, true, d * l), mat(w.out_w.as_view(), d, true, 0), 1.0, out(y.as_view_mut(), d, l * d), b)?;
        // No synchronisation: the free of a buffer not kept is ordered after the launches that
        // read it (stream-ordered free on a GPU, see `hyena_kernels::device`).
        Ok((y, DeviceOperatorCache { b, l, w, u, zin, uc, hf, steps, inner, a_spec, ones, host_filter, filter_pre, shapes: self.op.shapes() }))
    }

    /// Backward pass on device memory: `grad_y` `[B, L, D]` → `grad_u` `[B, L, D]`; the
    /// parameter gradients of this pass are added into `grads` (host, shaped like `self.op`):
    /// [`Self::backward_device_grads`], then [`DeviceGrads::add_to`].
    pub fn backward_device(&self, cache: &DeviceOperatorCache<T, S>, grad_y: &DeviceBuffer<S>, grads: &mut HyenaOperator<T>) -> Result<DeviceBuffer<S>> {
        if grads.shapes() != self.op.shapes() {
            return Err(crate::ModelError::Config(format!(
                "device backward: gradient holder with shapes {:?}, operator {:?}",
                grads.shapes(),
                self.op.shapes()
            )));
        }
        grads.check_consistent()?;
        let (du, g) = self.backward_device_grads(cache, grad_y)?;
        g.add_to(grads)?;
        Ok(du)
    }

    /// Backward pass on device memory with the parameter gradients left on the device: queues
    /// the whole pass with no host synchronisation and no host copy (except for `normalized`
    /// filters, whose backward runs on the host from the downloaded `grad_h`).
    pub fn backward_device_grads(&self, cache: &DeviceOperatorCache<T, S>, grad_y: &DeviceBuffer<S>) -> Result<(DeviceBuffer<S>, DeviceGrads<T, S>)> {
        let dev = &self.dev;
        let (b, l) = (cache.b, cache.l);
        let (d, n) = (self.op.cfg.d_model, self.op.cfg.order);
        if cache.shapes != self.op.shapes() || cache.steps.len() + 1 != n {
            return Err(crate::ModelError::Config(format!(
                "device backward: cache from an operator with shapes {:?}, operator {:?}",
                cache.shapes,
                self.op.shapes()
            )));
        }
        hyena_kernels::error::check_len("device operator grad_y [B, L, D]", grad_y.len(), b * l * d)?;
        let (c3, cf, chunk) = (d * (n + 1), d * (n - 1), b * d * l);
        let w = &cache.w;
        // The projection/short-conv/skip gradients, shaped like the weights (no filter: its
        // gradients come from `grad_h` below).
        let alloc = |n: usize| DeviceBuffer::<S>::alloc(dev, n);
        let mut g = DeviceGrads::<T, S> {
            in_w: alloc(c3 * d)?,
            in_b: alloc(c3)?,
            out_w: alloc(d * d)?,
            out_b: alloc(d)?,
            sf_w: alloc(c3 * 3)?,
            sf_b: alloc(c3)?,
            filter_bias: alloc(cf)?,
            filter: None,
            host_filter: None,
            shapes: self.op.shapes(),
        };
        let mut grad_h = alloc(cf * l)?;
        let gy = grad_y.as_view();
        let ones = cache.ones.as_view();
        // out_proj: dLast_b [D, L] = W_outᵀ · gy_bᵀ; dW_out = Σ_b gy_bᵀ · Last_bᵀ; db_out = 1ᵀ · gy.
        let mut gcur = DeviceBuffer::<S>::alloc(dev, chunk)?;
        gemm_rm::<S>(dev, d, l, d, mat(w.out_w.as_view(), d, true, 0), mat(gy, d, true, l * d), 0.0, out(gcur.as_view_mut(), l, d * l), b)?;
        // The weight and bias gradients sum over the B·L positions: chunked GEMMs combined by a
        // tree (`device_reduce`); its temporaries live in `keep` until the end of the pass (their
        // frees are stream-ordered after the GEMMs that read them: no synchronisation).
        let mut keep: Vec<DeviceBuffer<S>> = Vec::new();
        let last = &cache.steps[n - 2];
        let (gy_t, last_t) = (mat(gy, d, true, l * d), mat(last.as_view(), l, true, d * l));
        gemm_sum_k(dev, d, d, l, b, gy_t, last_t, g.out_w.as_view_mut(), ones, &mut keep)?;
        let ones_row = mat(ones, b * l, false, 0);
        gemm_sum_k(dev, 1, d, b * l, 1, ones_row, mat(gy, d, false, 0), g.out_b.as_view_mut(), ones, &mut keep)?;
        // The gradient wrt Z_i (in_proj's output, bias included), every chunk written once.
        let mut g_zin = DeviceBuffer::<S>::alloc(dev, (n + 1) * chunk)?;
        // Order 2 (the paper's), one step whose three operands are all short conv outputs: where
        // the tensor-core backward runs (4K < L ≤ 8K, 2-byte storage), the short conv's backward is
        // fused into it (the gradients wrt the operands never stored, no short conv row kernel).
        let fused = match (schedule(n).collect::<Vec<_>>().as_slice(), &cache.inner, &cache.a_spec) {
            ([Step { o: 0, cur: Src::Chunk(cv), pre, post: Some(cq) }], Some(inner), Some(a_spec)) => conv::gated_fftconv_shortconv_bwd(
                dev,
                cache.hf.view(0..conv::spectrum_len(d, l)?)?,
                w.filter_bias.view(0..d)?,
                cache.uc.as_view(),
                inner.as_view(),
                a_spec.as_view(),
                &gcur,
                b,
                d,
                l,
                ShortConvBwdViews {
                    z: cache.zin.as_view(),
                    w: w.sf_w.as_view(),
                    roles: [*cv, *pre, *cq],
                    grad_z: g_zin.as_view_mut(),
                    grad_w: g.sf_w.as_view_mut(),
                    grad_b: g.sf_b.as_view_mut(),
                    grad_in_bias: Some(g.in_b.as_view_mut()),
                },
                grad_h.view_mut(0..d * l)?,
                g.filter_bias.view_mut(0..d)?,
            )?,
            _ => false,
        };
        if !fused {
            self.conv_and_shortconv_bwd(cache, &gcur, &mut g_zin, &mut grad_h, &mut g)?;
        }
        let mut du = DeviceBuffer::<S>::alloc(dev, b * l * d)?;
        let gs = chunks_per_gemm(n, b);
        for grp in 0..(n + 1) / gs {
            let (c0, c1) = (grp * gs, (grp + 1) * gs);
            let gz = g_zin.view(c0 * chunk..c1 * chunk)?;
            let wi = w.in_w.view(c0 * d * d..c1 * d * d)?;
            // dU_b [L, D] += dZ_i,bᵀ · W_i (at B = 1 all chunks at once: K = (N+1)·D).
            let beta = if grp == 0 { 0.0 } else { 1.0 };
            gemm_rm::<S>(dev, l, d, gs * d, mat(gz, l, true, d * l), mat(wi, d, false, 0), beta, out(du.as_view_mut(), d, l * d), b)?;
            // dW_i [D, D] = Σ_b dZ_i,b · U_b (a sum over B·L, as above).
            let gz_k = mat(gz, l, false, d * l);
            let u_k = mat(cache.u.as_view(), d, false, l * d);
            gemm_sum_k(dev, gs * d, d, l, b, gz_k, u_k, g.in_w.view_mut(c0 * d * d..c1 * d * d)?, ones, &mut keep)?;
        }
        // The filter's gradients: reduced on the device, or by the host reference for
        // `normalized` filters (the one host copy of the pass: `grad_h` is needed there).
        match (&w.filter, &cache.host_filter) {
            (Some(fb), _) => {
                let dims = FilterDims::of(&self.op.filter, l);
                let mut gb = FilterGradBuffers::<S>::alloc(dev, &dims, self.op.filter.layers.len())?;
                implicit_filter_bwd_with(dev, &fb.views(), &dims, grad_h.as_view(), gb.views_mut(), cache.filter_pre.as_ref().map(|p| p.as_view()))?;
                g.filter = Some(gb);
            }
            (None, Some(fc)) => {
                // The download is ordered after the launches that wrote `grad_h`.
                let grad_h: Vec<T> = download(&grad_h)?;
                let mut fg = self.op.filter.zero_grads();
                filter::filter_bwd(&self.op.filter, fc, &grad_h, &mut fg)?;
                g.host_filter = Some(fg);
            }
            (None, None) => {
                return Err(HyenaError::Invalid("device operator cache: no filter weights and no host filter cache".into()).into())
            }
        }
        // The temporaries (`keep`, the chunk gradients, `grad_h`) are freed in stream order after
        // the work that reads them: nothing waits for the device here.
        drop(keep);
        Ok((du, g))
    }

    /// The recurrence's backward, last step first, then the short conv's backward of all chunks
    /// into `g_zin` (the path where they do not fuse: `backward_device_grads`). Every chunk
    /// gradient is written exactly once: each chunk's exclusive view is taken from `g_chunks` by the
    /// step that writes it. `gy_last` is the last step's output gradient.
    fn conv_and_shortconv_bwd(
        &self,
        cache: &DeviceOperatorCache<T, S>,
        gy_last: &DeviceBuffer<S>,
        g_zin: &mut DeviceBuffer<S>,
        grad_h: &mut DeviceBuffer<S>,
        g: &mut DeviceGrads<T, S>,
    ) -> Result<()> {
        let dev = &self.dev;
        let (b, l) = (cache.b, cache.l);
        let (d, n) = (self.op.cfg.d_model, self.op.cfg.order);
        let chunk = b * d * l;
        let w = &cache.w;
        // The output gradient of the step being differentiated: the last step's, then each
        // earlier step's (written by the step after it).
        let mut gcur_own: Option<DeviceBuffer<S>> = None;
        let mut g_uc = DeviceBuffer::<S>::alloc(dev, (n + 1) * chunk)?;
        let x = |i: usize| cache.uc.view(i * chunk..(i + 1) * chunk);
        // The forward's filter spectra.
        let hf = cache.hf.as_view();
        let per = conv::spectrum_len(d, l)?;
        let mut g_chunks: Vec<Option<DeviceViewMut<'_, S>>> = g_uc.chunks_mut(chunk)?.into_iter().map(Some).collect();
        let mut take = |i: usize| {
            g_chunks
                .get_mut(i)
                .and_then(Option::take)
                .ok_or_else(|| HyenaError::Invalid(format!("device operator: chunk gradient {i} is not available")))
        };
        for s in schedule(n).rev() {
            let o = s.o;
            let (cur, pre, post) = s.operands(|src| match src {
                Src::Chunk(i) => x(i),
                Src::Step(j) => Ok(cache.steps[j].as_view()),
            })?;
            // The gradient of `cur`: its chunk's (v), or a fresh buffer, the next (earlier) step's
            // output gradient.
            let mut next = None;
            let grad_v = match s.cur {
                Src::Chunk(i) => take(i)?,
                Src::Step(_) => next.insert(DeviceBuffer::<S>::alloc(dev, chunk)?).as_view_mut(),
            };
            conv::gated_fftconv_bwd_spectrum_keep(
                dev,
                hf.view(o * per..(o + 1) * per)?,
                w.filter_bias.view(o * d..(o + 1) * d)?,
                cur,
                Some(pre),
                post,
                // The forward kept them for the step with the post gate only.
                if s.post.is_some() { cache.inner.as_ref().map(|x| x.as_view()) } else { None },
                if s.post.is_some() { cache.a_spec.as_ref().map(|x| x.as_view()) } else { None },
                gcur_own.as_ref().unwrap_or(gy_last),
                b,
                d,
                l,
                GatedConvGradViews {
                    grad_v,
                    grad_pre: Some(take(s.pre)?),
                    grad_post: match s.post {
                        Some(i) => Some(take(i)?),
                        None => None,
                    },
                    grad_h: grad_h.view_mut(o * d * l..(o + 1) * d * l)?,
                    grad_d: g.filter_bias.view_mut(o * d..(o + 1) * d)?,
                },
            )?;
            if let Some(buf) = next {
                gcur_own = Some(buf);
            }
        }
        drop(g_chunks);
        // The short conv backward of all chunks in one launch; g_zin is the gradient wrt Z_i
        // (in_proj's output, bias included). Its reduce kernel also forms in_proj's bias gradient
        // db_i = Σ_b dZ_i,b · 1 in f64 from the short conv's own sums (no pass over g_zin).
        shortconv_bwd_chunks(dev, &cache.zin, &w.sf_w, None, &g_uc, n + 1, b, d, l, &mut *g_zin, &mut g.sf_w, &mut g.sf_b, Some(g.in_b.as_view_mut()))?;
        Ok(())
    }

    /// Forward pass from host memory (uploads `u`, downloads `y`), as [`HyenaOperator::forward`].
    pub fn forward(&self, u: &[T], b: usize, l: usize) -> Result<(Vec<T>, DeviceOperatorCache<T, S>)> {
        self.check_dims(b, l)?;
        check_input_len("operator input u [B, L, D]", u.len(), b, l, self.op.cfg.d_model)?;
        let ud = upload::<T, S>(&self.dev, u)?;
        let (y, cache) = self.forward_device(ud, b, l)?;
        Ok((download(&y)?, cache))
    }

    /// Backward pass from host memory, as [`HyenaOperator::backward`]: returns `grad_u` and adds
    /// the parameter gradients into `grads`.
    pub fn backward(&self, cache: &DeviceOperatorCache<T, S>, grad_y: &[T], grads: &mut HyenaOperator<T>) -> Result<Vec<T>> {
        hyena_kernels::error::check_len("operator grad_y [B, L, D]", grad_y.len(), cache.b * cache.l * self.op.cfg.d_model)?;
        let gy = upload::<T, S>(&self.dev, grad_y)?;
        let du = self.backward_device(cache, &gy, grads)?;
        download(&du)
    }
}

impl<T: Scalar, S: DeviceScalar> Mixer<T> for DeviceOperator<T, S> {
    type Cache = DeviceOperatorCache<T, S>;
    fn forward(&self, u: &[T], b: usize, l: usize) -> Result<(Vec<T>, Self::Cache)> {
        DeviceOperator::forward(self, u, b, l)
    }
    fn backward(&self, cache: &Self::Cache, grad_y: &[T], grads: &mut Self) -> Result<Vec<T>> {
        DeviceOperator::backward(self, cache, grad_y, &mut grads.op)
    }
    fn zeros_like(&self) -> Self {
        Self { op: self.op.zeros_like(), dev: self.dev.clone(), _s: PhantomData }
    }
    fn params(&self) -> Vec<NamedParam<'_, T>> {
        self.op.params()
    }
    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, T>> {
        self.op.params_mut()
    }
    fn aliases(&self) -> Vec<String> {
        Mixer::aliases(&self.op)
    }
}

/// One filter spectrum per order step, `per` f32 each, made by `make` from the step's `h` rows
/// (`step_len` = D·L elements): on the multi-pass path a step's slice of one spectrum of all
/// (N−1)·D channels is not its spectrum (channel pairs straddle steps when D is odd).
fn step_spectra<S: DeviceScalar>(
    dev: &Arc<dyn Device>,
    h: &DeviceBuffer<S>,
    steps: usize,
    step_len: usize,
    per: usize,
    make: impl Fn(DeviceView<'_, S>, DeviceViewMut<'_, f32>) -> hyena_kernels::Result<()>,
) -> Result<DeviceBuffer<f32>> {
    let mut hf = DeviceBuffer::<f32>::alloc(dev, crate::operator::mul("device operator: filter spectra", per, steps)?)?;
    for o in 0..steps {
        make(h.view(o * step_len..(o + 1) * step_len)?, hf.view_mut(o * per..(o + 1) * per)?)?;
    }
    Ok(hf)
}
