//! The Hyena operator (safari `standalone_hyena.py` `HyenaOperator`), forward and backward, on the
//! CPU backend.
//!
//! `u [B, L, D] → in_proj → short conv → split into x₀ … x_{N−1}, v → for o in 0..N−1:
//! v = x_{N−1−o} ⊙ v; v = h_o ∗ v + bias_o ⊙ v → y = out_proj(x₀ ⊙ v)`.
//! Filter channels are o-major (`'l (o d) -> o d l'`).

use crate::config::OperatorConfig;
use crate::error::{ModelError, Result};
use crate::pool;
use crate::spectra;
use crate::recurrence::{check_dims, check_input_len, schedule, Src};
use crate::tensors::TensorFile;
use hyena_kernels::cpu::fftconv::{gated_fftconv_bwd_into, gated_fftconv_fwd, FftConvPlan, GatedBwdOut, Rows};
use hyena_kernels::cpu::filter::{self, FilterCache, FilterGrads, ImplicitFilter};
use hyena_kernels::cpu::linear::{matmul, par_transpose_cols_into};
use hyena_kernels::cpu::reduce::{add_f64, col_sums_f64, matmul_sum_k, sum_f64};
use hyena_kernels::cpu::shortconv::{shortconv_bwd, shortconv_fwd, shortconv_fwd_in_bias};
use hyena_kernels::Scalar;
use rayon::prelude::*;
use realfft::num_complex::Complex;

/// Whether a named tensor is trained or a fixed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Has a gradient.
    Trainable,
    /// A buffer (`pos_emb.t`, `modulation.deltas`): saved and loaded, never trained.
    Buffer,
}

/// Optimizer group a parameter belongs to (safari's per-parameter `_optim` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamGroup {
    /// Projections, short conv, filter bias, … (the model's default lr / weight decay).
    Default,
    /// The filter FFN weights, biases and the Sin frequency (filter lr, filter weight decay).
    FilterMlp,
    /// The positional embedding z (its own, small lr, no weight decay).
    PosEmb,
}

/// One named tensor of the operator.
pub struct NamedParam<'a, T> {
    /// Name under the original state dict (relative to the operator).
    pub name: String,
    /// PyTorch shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: &'a [T],
    /// Trained, or a buffer.
    pub kind: ParamKind,
    /// Its optimizer group (learning rate and weight decay).
    pub group: ParamGroup,
}

/// Mutable counterpart of [`NamedParam`].
pub struct NamedParamMut<'a, T> {
    /// Name under the original state dict (relative to the operator).
    pub name: String,
    /// PyTorch shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: &'a mut Vec<T>,
    /// Trained, or a buffer.
    pub kind: ParamKind,
    /// Its optimizer group (learning rate and weight decay).
    pub group: ParamGroup,
}

/// Weights of a Hyena operator; also used, zero-initialised, to hold its gradients.
#[derive(Clone, Debug)]
pub struct HyenaOperator<T> {
    /// Complete configuration (sizes filled in).
    pub cfg: OperatorConfig,
    /// `[(N+1)·D, D]`
    pub in_proj_weight: Vec<T>,
    /// `[(N+1)·D]`
    pub in_proj_bias: Vec<T>,
    /// `[D, D]`
    pub out_proj_weight: Vec<T>,
    /// `[D]`
    pub out_proj_bias: Vec<T>,
    /// `[(N+1)·D, 1, 3]`
    pub short_filter_weight: Vec<T>,
    /// `[(N+1)·D]`
    pub short_filter_bias: Vec<T>,
    /// The implicit filter (positional embedding, FFN, modulation).
    pub filter: ImplicitFilter<T>,
    /// The long convolutions' skip term `[(N−1)·D]` (safari's `filter_fn.bias`).
    pub filter_bias: Vec<T>,
    /// How [`Self::forward`] keeps activations for the backward pass (not a weight: not saved,
    /// [`CachePolicy::Auto`] unless set with [`Self::set_cache_policy`]).
    cache_policy: CachePolicy,
}

/// What the forward pass keeps for the backward pass.
///
/// Memory model (bytes per `[B, L, D]` tensor `A = B·L·D·size_of::<T>()`, order N, filter channels
/// `C = (N−1)·D`, `bins ≈ L`): both kinds keep `u` (1·A) and the filter FFN's activations
/// ([`FilterCache`]: f64 `[L, E]` + `[L, F]` per hidden layer input and pre-activation, `[L, F]`
/// in `T`, the modulation window `[L, C]`). [`CachePolicy::Keep`] adds the in_proj and short-conv
/// outputs `2·(N+1)·A`, the recurrence steps `(N−1)·A` and the filter spectra `(N−1)·2·A`:
/// `(1 + 2(N+1) + 3(N−1))·A` = 10·A at order 2. [`CachePolicy::Recompute`] adds only the filter
/// `h` `[C, L]` (`(N−1)·A` at B = 1): 2·A at order 2; the backward recomputes one channel group's
/// activations at a time from `u` (see [`HyenaOperator::backward`]).
pub struct OperatorCache<T: Scalar> {
    b: usize,
    l: usize,
    u: Vec<T>,
    filter_cache: FilterCache<T>,
    plan: FftConvPlan<T>,
    acts: Activations<T>,
    /// Shapes of the operator that made the cache: a cache is only valid for an operator of
    /// the same shapes.
    shapes: OperatorShapes,
}

/// The per-channel activations a forward pass keeps (see [`OperatorCache`]).
enum Activations<T: Scalar> {
    /// Every activation, all channels: in_proj output `zin` and short-conv output `uc`
    /// `[B, (N+1)·D, L]`, filter spectra `hf` `[(N−1)·D, bins]`, and the outputs of every step
    /// of the recurrence (the last one is `x₀ ⊙ v`, pre out_proj).
    Kept { zin: Vec<T>, uc: Vec<T>, hf: Vec<Complex<T>>, steps: Vec<Vec<T>> },
    /// Only the filter `h` `[(N−1)·D, L]`; the backward recomputes the rest in groups of `group`
    /// channels.
    Recomputed { h: Vec<T>, group: usize },
}

/// How [`HyenaOperator::forward_with`] keeps the activations for the backward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CachePolicy {
    /// [`CachePolicy::Budget`] of [`TRAIN_CACHE_BYTES`].
    #[default]
    Auto,
    /// [`CachePolicy::Keep`] when the kept activations take at most `bytes` ([`kept_bytes`]),
    /// else [`CachePolicy::Recompute`] with groups of [`train_group`] channels (0 always
    /// recomputes).
    Budget {
        /// Most bytes of kept activations.
        bytes: usize,
    },
    /// Keep every activation (fastest backward; ~10 `[B, L, D]` tensors at order 2).
    Keep,
    /// Keep only `u` and the filter; the backward recomputes each group of `group` channels
    /// (1 ≤ group; D or more is one group) from `u` (one more forward's worth of work).
    Recompute {
        /// Channels recomputed together (1 or more; D or more is one group).
        group: usize,
    },
}

/// The sizes that fix every buffer of a forward pass (checked by the backward pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorShapes {
    /// Model width D.
    pub d_model: usize,
    /// Order N of the recurrence.
    pub order: usize,
    /// Width of the implicit filter FFN.
    pub filter_width: usize,
    /// Width of the filter's positional embedding.
    pub emb_dim: usize,
    /// Hidden layers of the filter FFN.
    pub filter_layers: usize,
}

impl<T: Scalar> OperatorCache<T> {
    /// (batch, length) of the cached forward pass.
    pub fn dims(&self) -> (usize, usize) {
        (self.b, self.l)
    }
    /// Shapes of the operator whose forward pass made this cache.
    pub fn shapes(&self) -> OperatorShapes {
        self.shapes
    }
    /// Channels per group the backward recomputes from `u`; `None` when every activation is kept.
    pub fn recompute_group(&self) -> Option<usize> {
        match self.acts {
            Activations::Kept { .. } => None,
            Activations::Recomputed { group, .. } => Some(group),
        }
    }
}

impl<T: Scalar> Drop for OperatorCache<T> {
    /// The cache's `[B, L, D]`-sized buffers go back to [`crate::pool`] for the next call.
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.u));
        if let Activations::Kept { zin, uc, hf, steps } = &mut self.acts {
            pool::give(std::mem::take(zin));
            pool::give(std::mem::take(uc));
            pool::give(std::mem::take(hf));
            steps.drain(..).for_each(pool::give);
        }
        if let Activations::Recomputed { h, .. } = &mut self.acts {
            pool::give(std::mem::take(h));
        }
    }
}

/// A copy of `x` in a pooled buffer.
fn pooled_copy<T: Scalar>(x: &[T]) -> Vec<T> {
    let mut v = pool::take(x.len(), T::zero());
    v.copy_from_slice(x);
    v
}

/// `a · b`, or [`ModelError::TooLarge`] naming `what` on overflow.
pub(crate) fn mul(what: &str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| ModelError::TooLarge { what: what.into(), detail: format!("{a} × {b} overflows") })
}

/// `x` converted to `T`, refusing values that are not finite there (1e308 is finite in f64, not
/// in f32); `name` and the element index name the culprit.
pub(crate) fn to_scalar_vec<T: Scalar>(name: &str, v: &[f64]) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(v.len());
    for (i, &x) in v.iter().enumerate() {
        let t = T::lit(x);
        if !t.as_f64().is_finite() {
            return Err(ModelError::NonFinite { name: name.into(), index: i });
        }
        out.push(t);
    }
    Ok(out)
}

/// The scalar settings of `cfg` that are used in `T` (`w`, `shift`) must be finite in `T`.
pub(crate) fn check_scalars_fit<T: Scalar>(cfg: &OperatorConfig) -> Result<()> {
    for (name, x) in [("w", cfg.w), ("shift", cfg.shift)] {
        if !T::lit(x).as_f64().is_finite() {
            return Err(ModelError::Config(format!("{name} = {x} is not finite in {}", T::NAME)));
        }
    }
    Ok(())
}

/// `n` samples uniform in ±`bound`; `n` comes from a configuration (bounded by
/// [`crate::config::MAX_ELEMENTS`], which may still exceed the memory): allocated fallibly.
fn uniform<T: Scalar>(rng: &mut impl rand::Rng, n: usize, bound: f64) -> Result<Vec<T>> {
    let mut v = hyena_kernels::error::try_vec("operator parameters", n, T::zero())?;
    v.iter_mut().for_each(|x| *x = T::lit(rng.random_range(-bound..bound)));
    Ok(v)
}

impl<T: Scalar> HyenaOperator<T> {
    /// Number of in_proj channels, (N+1)·D.
    pub fn inner_width(&self) -> usize {
        self.cfg.d_model.saturating_mul(self.cfg.order.saturating_add(1))
    }
    /// Number of filter channels, (N−1)·D.
    pub fn filter_channels(&self) -> usize {
        self.cfg.d_model.saturating_mul(self.cfg.order.saturating_sub(1))
    }

    /// The shapes a cache of this operator has.
    pub fn shapes(&self) -> OperatorShapes {
        OperatorShapes {
            d_model: self.cfg.d_model,
            order: self.cfg.order,
            filter_width: self.filter.width,
            emb_dim: self.filter.emb_dim,
            filter_layers: self.filter.layers.len(),
        }
    }

    /// Check that the configuration is valid and every tensor has the length its shape says
    /// (the fields are public, so a caller may have changed them).
    pub fn check_consistent(&self) -> Result<()> {
        self.cfg.validate()?;
        let f = &self.filter;
        if f.width != self.cfg.filter_order || f.emb_dim != self.cfg.emb_dim || f.l_max != self.cfg.l_max || f.channels != self.filter_channels() || f.layers.is_empty() {
            return Err(ModelError::Config(format!(
                "implicit filter (width {}, emb_dim {}, l_max {}, channels {}, {} layers) does not match the configuration (filter_order {}, emb_dim {}, l_max {}, channels {})",
                f.width, f.emb_dim, f.l_max, f.channels, f.layers.len(), self.cfg.filter_order, self.cfg.emb_dim, self.cfg.l_max, self.filter_channels()
            )));
        }
        for p in self.params() {
            let n = crate::tensors::checked_numel(&p.shape)
                .ok_or_else(|| ModelError::TooLarge { what: p.name.clone(), detail: format!("shape {:?} overflows", p.shape) })?;
            if p.data.len() != n {
                return Err(ModelError::TensorShape { name: p.name, expected: p.shape, got: vec![p.data.len()] });
            }
        }
        Ok(())
    }

    /// A freshly initialised operator (PyTorch's default init: uniform ±1/√fan_in for linears
    /// and the depthwise conv, N(0,1)-like for the filter bias; safari's positional embedding,
    /// frequency `w` and modulation).
    pub fn init(cfg: &OperatorConfig, rng: &mut impl rand::Rng) -> Result<Self> {
        cfg.validate()?;
        check_scalars_fit::<T>(cfg)?;
        let d = cfg.d_model;
        let c3 = d * (cfg.order + 1);
        let cf = d * (cfg.order - 1);
        let f = cfg.filter_order;
        let (z, t) = filter::positional_embedding::<T>(cfg.emb_dim, cfg.l_max)?;
        let mut layers = Vec::new();
        for i in 0..=cfg.num_inner_mlps {
            let d_in = if i == 0 { cfg.emb_dim } else { f };
            let bound = 1.0 / (d_in as f64).sqrt();
            layers.push((uniform(rng, f * d_in, bound)?, uniform(rng, f, bound)?));
        }
        let filter = ImplicitFilter {
            emb_dim: cfg.emb_dim,
            width: f,
            channels: cf,
            l_max: cfg.l_max,
            z,
            t,
            layers,
            freq: hyena_kernels::error::try_vec("filter freq", f, T::lit(cfg.w))?,
            out_weight: uniform(rng, cf * f, 1.0 / (f as f64).sqrt())?,
            deltas: filter::modulation_deltas(cf)?,
            modulate: cfg.modulate,
            shift: cfg.shift,
            normalized: cfg.normalized,
        };
        let bd = 1.0 / (d as f64).sqrt();
        let bs = 1.0 / (3f64).sqrt();
        Ok(HyenaOperator {
            cfg: cfg.clone(),
            in_proj_weight: uniform(rng, c3 * d, bd)?,
            in_proj_bias: uniform(rng, c3, bd)?,
            out_proj_weight: uniform(rng, d * d, bd)?,
            out_proj_bias: uniform(rng, d, bd)?,
            short_filter_weight: uniform(rng, c3 * 3, bs)?,
            short_filter_bias: uniform(rng, c3, bs)?,
            filter,
            filter_bias: uniform(rng, cf, 1.0)?,
            cache_policy: CachePolicy::Auto,
        })
    }

    /// A copy with every tensor zeroed (to accumulate gradients into).
    pub fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        for p in z.params_mut() {
            p.data.iter_mut().for_each(|x| *x = T::zero());
        }
        z
    }

    fn layer_names(&self) -> Vec<(String, String)> {
        (0..self.filter.layers.len())
            .map(|i| (format!("filter_fn.implicit_filter.{}.weight", 2 * i), format!("filter_fn.implicit_filter.{}.bias", 2 * i)))
            .collect()
    }

    fn out_layer_name(&self) -> String {
        format!("filter_fn.implicit_filter.{}.weight", 2 * self.filter.layers.len())
    }

    /// Every tensor under its original state-dict name, in a stable order.
    pub fn params(&self) -> Vec<NamedParam<'_, T>> {
        let d = self.cfg.d_model;
        let c3 = self.inner_width();
        let cf = self.filter_channels();
        let (e, f, lm) = (self.filter.emb_dim, self.filter.width, self.filter.l_max);
        use ParamGroup::*;
        use ParamKind::*;
        fn p<'a, T>(name: &str, shape: Vec<usize>, data: &'a [T], kind: ParamKind, group: ParamGroup) -> NamedParam<'a, T> {
            NamedParam { name: name.to_string(), shape, data, kind, group }
        }
        let mut v = vec![
            p("in_proj.weight", vec![c3, d], &self.in_proj_weight, Trainable, Default),
            p("in_proj.bias", vec![c3], &self.in_proj_bias, Trainable, Default),
            p("out_proj.weight", vec![d, d], &self.out_proj_weight, Trainable, Default),
            p("out_proj.bias", vec![d], &self.out_proj_bias, Trainable, Default),
            p("short_filter.weight", vec![c3, 1, 3], &self.short_filter_weight, Trainable, Default),
            p("short_filter.bias", vec![c3], &self.short_filter_bias, Trainable, Default),
            p("filter_fn.bias", vec![cf], &self.filter_bias, Trainable, Default),
            p("filter_fn.pos_emb.z", vec![1, lm, e], &self.filter.z, Trainable, PosEmb),
            p("filter_fn.pos_emb.t", vec![1, lm, 1], &self.filter.t, Buffer, Default),
        ];
        for (i, ((wn, bn), (w, b))) in self.layer_names().into_iter().zip(&self.filter.layers).enumerate() {
            let d_in = if i == 0 { e } else { f };
            v.push(p(&wn, vec![f, d_in], w, Trainable, FilterMlp));
            v.push(p(&bn, vec![f], b, Trainable, FilterMlp));
        }
        v.push(p("filter_fn.implicit_filter.1.freq", vec![1, f], &self.filter.freq, Trainable, FilterMlp));
        v.push(p(&self.out_layer_name(), vec![cf, f], &self.filter.out_weight, Trainable, FilterMlp));
        v.push(p("filter_fn.modulation.deltas", vec![1, 1, cf], &self.filter.deltas, Buffer, Default));
        v
    }

    /// Mutable view of [`HyenaOperator::params`] (same names and order).
    pub fn params_mut(&mut self) -> Vec<NamedParamMut<'_, T>> {
        let meta: Vec<(String, Vec<usize>, ParamKind, ParamGroup)> =
            self.params().into_iter().map(|p| (p.name, p.shape, p.kind, p.group)).collect();
        let mut datas: Vec<&mut Vec<T>> = vec![
            &mut self.in_proj_weight,
            &mut self.in_proj_bias,
            &mut self.out_proj_weight,
            &mut self.out_proj_bias,
            &mut self.short_filter_weight,
            &mut self.short_filter_bias,
            &mut self.filter_bias,
            &mut self.filter.z,
            &mut self.filter.t,
        ];
        for (w, b) in self.filter.layers.iter_mut() {
            datas.push(w);
            datas.push(b);
        }
        datas.push(&mut self.filter.freq);
        datas.push(&mut self.filter.out_weight);
        datas.push(&mut self.filter.deltas);
        meta.into_iter()
            .zip(datas)
            .map(|((name, shape, kind, group), data)| NamedParamMut { name, shape, data, kind, group })
            .collect()
    }

    /// Build from tensors named `{prefix}{original name}` (e.g. prefix `weights.` for the golden
    /// files, or `backbone.layers.3.mixer.`). Shapes give D, N, the filter sizes and `l_max`;
    /// `modulate`, `shift`, `normalized` (and `w`, unused when loading) come from `cfg`. Every
    /// tensor's shape is checked before anything is allocated, so sizes are bounded by the data
    /// the file holds. A size that a config file states explicitly and that contradicts the
    /// shapes is caught by [`crate::config::check_declared_sizes`].
    pub fn from_tensors(file: &TensorFile, prefix: &str, cfg: &OperatorConfig) -> Result<Self> {
        let name = |n: &str| format!("{prefix}{n}");
        let get = |n: &str| file.float(&name(n), None);
        let (ws, _) = get("in_proj.weight")?;
        if ws.len() != 2 || ws[1] == 0 || ws[0] % ws[1] != 0 || ws[0] / ws[1] < 3 {
            return Err(ModelError::TensorShape {
                name: name("in_proj.weight"),
                expected: vec![cfg.d_model.saturating_mul(cfg.order.saturating_add(1)), cfg.d_model],
                got: ws.to_vec(),
            });
        }
        let d = ws[1];
        let order = ws[0] / d - 1;
        let (zs, _) = get("filter_fn.pos_emb.z")?;
        if zs.len() != 3 || zs[0] != 1 {
            return Err(ModelError::TensorShape {
                name: name("filter_fn.pos_emb.z"),
                expected: vec![1, cfg.l_max, cfg.emb_dim],
                got: zs.to_vec(),
            });
        }
        let (l_max, emb_dim) = (zs[1], zs[2]);
        // The FFN width F appears in `.0.weight` [F, E], `.0.bias` [F] and `.1.freq` [1, F]: take
        // the value most of them agree on, so that the one odd tensor is the one blamed.
        let dim = |n: &str, rank: usize, axis: usize| {
            file.tensors.get(&name(n)).filter(|t| t.shape.len() == rank).map(|t| t.shape[axis])
        };
        // (On a tie the last candidate, `.0.bias`, wins.)
        let votes = [
            dim("filter_fn.implicit_filter.1.freq", 2, 1),
            dim("filter_fn.implicit_filter.0.weight", 2, 0),
            dim("filter_fn.implicit_filter.0.bias", 1, 0),
        ];
        let count = |v: Option<usize>| votes.iter().filter(|&&x| x.is_some() && x == v).count();
        let width = votes.iter().copied().max_by_key(|&v| (count(v), v.is_some())).flatten().unwrap_or(0);
        let mut n_layers = 1;
        while file.tensors.contains_key(&name(&format!("filter_fn.implicit_filter.{}.bias", 2 * n_layers))) {
            n_layers += 1;
        }
        let full = OperatorConfig {
            d_model: d,
            l_max,
            order,
            filter_order: width,
            emb_dim,
            num_inner_mlps: n_layers - 1,
            ..cfg.clone()
        };
        full.validate()?;
        check_scalars_fit::<T>(&full)?;
        // Shapes first (an operator with empty tensors knows every name and shape), then data.
        let mut op = Self::empty(&full);
        for p in op.params() {
            file.float(&name(&p.name), Some(&p.shape))?;
        }
        for p in op.params_mut() {
            let n = name(&p.name);
            let (_, data) = file.float(&n, Some(&p.shape))?;
            *p.data = to_scalar_vec(&n, data)?;
        }
        // `.3.freq`, `.5.freq`, … are the same shared tensor as `.1.freq`: accepted when equal.
        for i in 1..n_layers {
            let alias = name(&format!("filter_fn.implicit_filter.{}.freq", 2 * i + 1));
            if file.tensors.contains_key(&alias) {
                let (_, data) = file.float(&alias, Some(&[1, width]))?;
                let same = data.iter().zip(&op.filter.freq).all(|(&a, &b)| (a - b.as_f64()).abs() <= 1e-6 * a.abs().max(1.0));
                if !same {
                    return Err(ModelError::Config(format!(
                        "`{alias}` differs from `{}`; the Sin frequency is shared",
                        name("filter_fn.implicit_filter.1.freq")
                    )));
                }
            }
        }
        Ok(op)
    }

    /// An operator of `cfg` whose tensors are all empty (names and shapes only; filled by
    /// [`Self::from_tensors`]).
    fn empty(cfg: &OperatorConfig) -> Self {
        HyenaOperator {
            cfg: cfg.clone(),
            in_proj_weight: Vec::new(),
            in_proj_bias: Vec::new(),
            out_proj_weight: Vec::new(),
            out_proj_bias: Vec::new(),
            short_filter_weight: Vec::new(),
            short_filter_bias: Vec::new(),
            filter: ImplicitFilter {
                emb_dim: cfg.emb_dim,
                width: cfg.filter_order,
                channels: cfg.d_model * (cfg.order - 1),
                l_max: cfg.l_max,
                z: Vec::new(),
                t: Vec::new(),
                layers: vec![(Vec::new(), Vec::new()); cfg.num_inner_mlps + 1],
                freq: Vec::new(),
                out_weight: Vec::new(),
                deltas: Vec::new(),
                modulate: cfg.modulate,
                shift: cfg.shift,
                normalized: cfg.normalized,
            },
            filter_bias: Vec::new(),
            cache_policy: CachePolicy::Auto,
        }
    }

    /// Every tensor into `file` as `{prefix}{name}` (state-dict style, with the `.3.freq`/`.5.freq`
    /// aliases of the shared frequency). `trainable_only` keeps only tensors with a gradient.
    pub fn export(&self, file: &mut TensorFile, prefix: &str, trainable_only: bool) {
        for p in self.params() {
            if trainable_only && p.kind != ParamKind::Trainable {
                continue;
            }
            file.insert_float(format!("{prefix}{}", p.name), p.shape.clone(), p.data.iter().map(|x| x.as_f64()).collect());
            if p.name == "filter_fn.implicit_filter.1.freq" && !trainable_only {
                for i in 1..self.filter.layers.len() {
                    file.insert_float(
                        format!("{prefix}filter_fn.implicit_filter.{}.freq", 2 * i + 1),
                        p.shape.clone(),
                        p.data.iter().map(|x| x.as_f64()).collect(),
                    );
                }
            }
        }
    }

    fn check_input(&self, u: &[T], b: usize, l: usize) -> Result<()> {
        self.check_consistent()?;
        check_dims(b, l, self.cfg.l_max)?;
        let bld = check_input_len("operator input u [B, L, D]", u.len(), b, l, self.cfg.d_model)?;
        // The largest buffer of the pass, [B, (N+1)·D, L], must be addressable too.
        mul("operator in_proj output [B, (N+1)·D, L]", bld, self.cfg.order + 1)?;
        Ok(())
    }

    /// Check that `cache` comes from a forward pass of an operator shaped like this one, and
    /// `grads` is shaped like this operator.
    fn check_cache(&self, cache: &OperatorCache<T>, grads: &Self) -> Result<()> {
        self.check_consistent()?;
        if cache.shapes != self.shapes() {
            return Err(ModelError::Config(format!(
                "backward: the cache comes from an operator with shapes {:?}, this one has {:?}",
                cache.shapes,
                self.shapes()
            )));
        }
        if grads.shapes() != self.shapes() {
            return Err(ModelError::Config(format!(
                "backward: the gradient holder has shapes {:?}, the operator {:?}",
                grads.shapes(),
                self.shapes()
            )));
        }
        grads.check_consistent()?;
        if cache.l > self.cfg.l_max {
            return Err(ModelError::TooLong { l: cache.l, l_max: self.cfg.l_max });
        }
        Ok(())
    }

    /// Forward pass: `u` `[B, L, D]` → `y` `[B, L, D]`, with the cache for [`Self::backward`]
    /// (activations kept as [`Self::cache_policy`] says; [`CachePolicy::Auto`] by default).
    pub fn forward(&self, u: &[T], b: usize, l: usize) -> Result<(Vec<T>, OperatorCache<T>)> {
        self.forward_with(u, b, l, self.cache_policy)
    }

    /// The policy [`Self::forward`] (and so the LM's training forward) uses.
    pub fn cache_policy(&self) -> CachePolicy {
        self.cache_policy
    }

    /// Set the policy [`Self::forward`] uses, e.g. `CachePolicy::Budget { bytes }` to keep
    /// activations up to another size than [`TRAIN_CACHE_BYTES`].
    pub fn set_cache_policy(&mut self, policy: CachePolicy) {
        self.cache_policy = policy;
    }

    /// [`Self::forward`] keeping the activations for the backward pass as `policy` says. `y` and
    /// the gradients are the same computation either way (a recomputed group runs the
    /// arithmetic of the kept path on its channels).
    pub fn forward_with(&self, u: &[T], b: usize, l: usize, policy: CachePolicy) -> Result<(Vec<T>, OperatorCache<T>)> {
        on_pool(|| self.forward_with_here(u, b, l, policy))
    }

    fn forward_with_here(&self, u: &[T], b: usize, l: usize, policy: CachePolicy) -> Result<(Vec<T>, OperatorCache<T>)> {
        self.check_input(u, b, l)?;
        let d = self.cfg.d_model;
        let n = self.cfg.order;
        let c3 = self.inner_width();
        let plan = FftConvPlan::<T>::cached(l)?;
        let bins = plan.bins();
        let sz = std::mem::size_of::<T>();
        let group = match policy {
            CachePolicy::Keep => None,
            CachePolicy::Recompute { group } => Some(group.clamp(1, d)),
            CachePolicy::Auto | CachePolicy::Budget { .. } => {
                let budget = policy.budget().unwrap_or(TRAIN_CACHE_BYTES);
                (kept_bytes(d, n, b, l, bins, sz) > budget).then(|| train_group(d, n, b, l, bins, sz))
            }
        };
        let (h, filter_cache) = filter::filter_fwd(&self.filter, l)?;
        if let Some(g) = group {
            let y = self.grouped_forward(u, b, l, g, FilterIn::H(&h), &plan)?;
            let acts = Activations::Recomputed { h, group: g };
            return Ok((y, OperatorCache { b, l, u: pooled_copy(u), filter_cache, plan, acts, shapes: self.shapes() }));
        }
        // in_proj, produced channel-major per batch: Z_b [C3, L] = W_in [C3, D] · U_bᵀ.
        // Pooled buffers (stale contents): every element of zin, uc, hf and the steps is written
        // below before it is read.
        let mut zin = pool::take(b * c3 * l, T::zero());
        for bi in 0..b {
            let zb = &mut zin[bi * c3 * l..(bi + 1) * c3 * l];
            matmul(zb, &self.in_proj_weight, &u[bi * l * d..(bi + 1) * l * d], c3, l, d, false, true, false)?;
            for (row, &bias) in zb.chunks_exact_mut(l).zip(&self.in_proj_bias) {
                row.iter_mut().for_each(|x| *x = *x + bias);
            }
        }
        let mut uc = pool::take(b * c3 * l, T::zero());
        shortconv_fwd(&zin, &self.short_filter_weight, &self.short_filter_bias, b, c3, l, &mut uc)?;
        let cf = self.filter_channels();
        let mut hf = pool::take(mul("filter spectra [C, bins]", cf, bins)?, Complex::new(T::zero(), T::zero()));
        plan.filter_spectra_into(&h, cf, &mut hf)?;
        pool::give(h);
        let xs = |i: usize| Rows::new(&uc[i * d * l..], b, d, l, c3 * l);
        let mut steps: Vec<Vec<T>> = Vec::with_capacity(n - 1);
        for s in schedule(n) {
            let o = s.o;
            let (cur, pre, post) = s.operands(|src| match src {
                Src::Chunk(i) => xs(i),
                Src::Step(j) => Rows::contiguous(&steps[j], b, d, l),
            })?;
            let mut out = pool::take(b * d * l, T::zero());
            gated_fftconv_fwd(
                &plan,
                &hf[o * d * bins..(o + 1) * d * bins],
                &self.filter_bias[o * d..(o + 1) * d],
                cur,
                Some(pre),
                post,
                &mut out,
            )?;
            steps.push(out);
        }
        // out_proj: y_b [L, D] = Pre_bᵀ [L, D] · W_outᵀ + b_out, Pre_b stored [D, L].
        let last = &steps[n - 2];
        let w_out_t = group_cols_t(&self.out_proj_weight, d, 0, d)?;
        let mut y = vec![T::zero(); b * l * d];
        for bi in 0..b {
            let yb = &mut y[bi * l * d..(bi + 1) * l * d];
            matmul(yb, &last[bi * d * l..(bi + 1) * d * l], &w_out_t, l, d, d, true, false, false)?;
            for row in yb.chunks_exact_mut(d) {
                row.iter_mut().zip(&self.out_proj_bias).for_each(|(x, &bb)| *x = *x + bb);
            }
        }
        let acts = Activations::Kept { zin, uc, hf, steps };
        Ok((y, OperatorCache { b, l, u: pooled_copy(u), filter_cache, plan, acts, shapes: self.shapes() }))
    }

    /// Forward pass for inference: `y` as [`Self::forward`] computes it, with no cache kept for a
    /// backward pass, in groups of channels.
    ///
    /// Every step after in_proj is depthwise (the short conv, the gates, the long convolutions act
    /// per channel) and out_proj is a sum over channels, so a group of G channels runs the whole
    /// recurrence on its own: in_proj rows `i·D + c` for its channels, short conv, spectra, gated
    /// convolutions, then `y += x₀v_G · W_out[:, G]ᵀ`. Only one group's `[B, (N+1)·G, L]`
    /// activations and spectra live at a time (G sized to [`INFER_GROUP_BYTES`]), plus `u`, `y` and
    /// the filter `h` `[(N−1)·D, L]`: at L = 1M, B = 1, D = 256, order 2 in f32 that is ~5 GiB
    /// where [`Self::forward`] with every activation kept holds ~14 GiB.
    pub fn infer(&self, u: &[T], b: usize, l: usize) -> Result<Vec<T>> {
        let bins = FftConvPlan::<T>::cached(l.max(1))?.bins();
        let g = infer_group(self.cfg.d_model, self.cfg.order, b, l, bins, std::mem::size_of::<T>());
        self.infer_grouped(u, b, l, g)
    }

    /// [`Self::infer`] with `group` channels per group (1 ≤ group; D or more is one group).
    pub fn infer_grouped(&self, u: &[T], b: usize, l: usize, group: usize) -> Result<Vec<T>> {
        on_pool(|| self.infer_grouped_here(u, b, l, group))
    }

    fn infer_grouped_here(&self, u: &[T], b: usize, l: usize, group: usize) -> Result<Vec<T>> {
        self.check_input(u, b, l)?;
        let g = group.clamp(1, self.cfg.d_model);
        let plan = FftConvPlan::<T>::cached(l)?;
        // Pooled (stale): filter_infer_into writes every element. At L = 32K (D = 256, order 2,
        // f32) h is 32 MiB, glibc's largest mmap threshold: fresh pages on every call otherwise.
        // A fresh one (none kept, or past the pool's largest buffer) is a fallible allocation.
        let cf = self.filter_channels();
        let nh = mul("filter h [C, L]", cf, l)?;
        let filter_h = || -> Result<Vec<T>> {
            let mut h = pool::try_take("filter h [C, L]", nh, T::zero())?;
            filter::filter_infer_into(&self.filter, l, &mut h)?;
            Ok(h)
        };
        // Spectra small enough to keep come from (or go into) `crate::spectra`'s cache: computed
        // once per set of filter weights and length (the same rows, so the same bits, as the
        // group loop's own spectra).
        let nhf = mul("filter spectra [C, bins]", cf, plan.bins())?;
        if spectra::keeps::<T>(nhf) {
            let hf = spectra::get_or_compute(&self.filter, l, || {
                let h = filter_h()?;
                // Pooled (stale: every bin is written); dropped spectra come back to the pool.
                let mut hf = pool::take(nhf, Complex::new(T::zero(), T::zero()));
                plan.filter_spectra_into(&h, cf, &mut hf)?;
                pool::give(h);
                Ok(hf)
            })?;
            return self.grouped_forward(u, b, l, g, FilterIn::Spectra(&hf), &plan);
        }
        let h = filter_h()?;
        let y = self.grouped_forward(u, b, l, g, FilterIn::H(&h), &plan);
        pool::give(h);
        y
    }

    /// `y` computed in groups of `g` channels (see [`Self::infer`]) given the filter `h` or its
    /// spectra.
    fn grouped_forward(&self, u: &[T], b: usize, l: usize, g: usize, h: FilterIn<'_, T>, plan: &FftConvPlan<T>) -> Result<Vec<T>> {
        let (d, n) = (self.cfg.d_model, self.cfg.order);
        // y starts as the out_proj bias (the GEMMs below add into it); filled in parallel, its
        // fresh pages faulted on both cores (2 MiB at B = 1, D = 256, L = 2K, f32).
        let mut y = vec![T::zero(); b * l * d];
        y.par_chunks_mut(d * 256).for_each(|rows| {
            for row in rows.chunks_exact_mut(d) {
                row.copy_from_slice(&self.out_proj_bias);
            }
        });
        // Given spectra, the groups need no spectra workspace.
        let ws_bins = if matches!(h, FilterIn::H(_)) { plan.bins() } else { 0 };
        let mut ws = GroupWs::new(b, n, g, l, ws_bins);
        for c0 in (0..d).step_by(g) {
            let c1 = (c0 + g).min(d);
            let (gw, m) = (c1 - c0, b * (c1 - c0) * l);
            self.group_forward(u, b, l, c0, c1, h, plan, &mut ws, false)?;
            // y_b [L, D] += last_bᵀ [L, G] · W_out[:, c0..c1]ᵀ, last = x₀ ⊙ v.
            let last = &ws.steps[(n - 2) * m..(n - 1) * m];
            let w_out_t = group_cols_t(&self.out_proj_weight, d, c0, c1)?;
            for bi in 0..b {
                let yb = &mut y[bi * l * d..(bi + 1) * l * d];
                matmul(yb, &last[bi * gw * l..(bi + 1) * gw * l], &w_out_t, l, d, gw, true, false, true)?;
            }
        }
        ws.put_back();
        Ok(y)
    }

    /// The activations of channels `c0..c1` into `ws`: in_proj rows `i·D + c` (chunk i = x_i for
    /// i < N, v for i = N), the short conv, the group's filter spectra (when given `h`
    /// `[(N−1)·D, L]`; given all spectra `[(N−1)·D, bins]`, their rows are used as they are) and
    /// every step of the recurrence, from `u`.
    ///
    /// `keep_zin`: `ws.zin` must hold the in_proj output with its bias (the backward reads it);
    /// else (inference) it holds the GEMM's output and the short conv adds the bias as it reads
    /// (the same bits, one pass over `[B, (N+1)·G, L]` fewer).
    #[allow(clippy::too_many_arguments)]
    fn group_forward(&self, u: &[T], b: usize, l: usize, c0: usize, c1: usize, h: FilterIn<'_, T>, plan: &FftConvPlan<T>, ws: &mut GroupWs<T>, keep_zin: bool) -> Result<()> {
        let (d, n) = (self.cfg.d_model, self.cfg.order);
        let (gw, bins) = (c1 - c0, plan.bins());
        let cg = (n + 1) * gw;
        let w_in = group_rows(&self.in_proj_weight, d, d, n + 1, c0, c1);
        let b_in = group_rows(&self.in_proj_bias, 1, d, n + 1, c0, c1);
        let w_sc = group_rows(&self.short_filter_weight, 3, d, n + 1, c0, c1);
        let b_sc = group_rows(&self.short_filter_bias, 1, d, n + 1, c0, c1);
        let GroupWs { zin, uc, steps, hf } = ws;
        let (zin, uc) = (&mut zin[..b * cg * l], &mut uc[..b * cg * l]);
        for bi in 0..b {
            let zb = &mut zin[bi * cg * l..(bi + 1) * cg * l];
            matmul(zb, &w_in, &u[bi * l * d..(bi + 1) * l * d], cg, l, d, false, true, false)?;
            if keep_zin {
                for (row, &bias) in zb.chunks_exact_mut(l).zip(b_in.iter()) {
                    row.iter_mut().for_each(|x| *x = *x + bias);
                }
            }
        }
        shortconv_fwd_in_bias(zin, (!keep_zin).then_some(&b_in[..]), &w_sc, &b_sc, b, cg, l, uc)?;
        let uc = &*uc;
        let xs = |i: usize| Rows::new(&uc[i * gw * l..], b, gw, l, cg * l);
        let m = b * gw * l;
        for s in schedule(n) {
            let o = s.o;
            let hfo: &[Complex<T>] = match h {
                FilterIn::H(h) => {
                    let hfo = &mut hf[o * gw * bins..(o + 1) * gw * bins];
                    plan.filter_spectra_into(&h[(o * d + c0) * l..(o * d + c1) * l], gw, hfo)?;
                    hfo
                }
                FilterIn::Spectra(all) => &all[(o * d + c0) * bins..(o * d + c1) * bins],
            };
            let (done, rest) = steps.split_at_mut(o * m);
            let (cur, pre, post) = s.operands(|src| match src {
                Src::Chunk(i) => xs(i),
                Src::Step(j) => Rows::contiguous(&done[j * m..], b, gw, l),
            })?;
            gated_fftconv_fwd(plan, hfo, &self.filter_bias[o * d + c0..o * d + c1], cur, Some(pre), post, &mut rest[..m])?;
        }
        Ok(())
    }

    /// Backward pass: given `grad_y` `[B, L, D]`, returns `grad_u` `[B, L, D]` and accumulates the
    /// gradient of every trainable tensor into `grads` (shaped like `self`, see [`Self::zeros_like`]).
    ///
    /// The per-channel part (out_proj's input gradient, the recurrence, the short conv, in_proj's
    /// rows) runs per channel group: one group of all channels on kept activations, or, after a
    /// [`CachePolicy::Recompute`] forward, each group's activations recomputed from `u` into
    /// workspaces reused by every group. Live at the peak besides the cache: `grad_u`, `grad_h`
    /// `[(N−1)·D, L]` and one group's workspaces ([`train_group`]), then the filter backward.
    pub fn backward(&self, cache: &OperatorCache<T>, grad_y: &[T], grads: &mut Self) -> Result<Vec<T>> {
        on_pool(|| self.backward_here(cache, grad_y, grads))
    }

    fn backward_here(&self, cache: &OperatorCache<T>, grad_y: &[T], grads: &mut Self) -> Result<Vec<T>> {
        self.check_cache(cache, grads)?;
        let (b, l) = (cache.b, cache.l);
        let d = self.cfg.d_model;
        let n = self.cfg.order;
        let c3 = self.inner_width();
        hyena_kernels::error::check_len("operator grad_y [B, L, D]", grad_y.len(), b * l * d)?;
        let bins = cache.plan.bins();
        // db_out += Σ_{b,t} gy: a sum over B·L positions, accumulated accurately
        // (`hyena_kernels::cpu::reduce`).
        let mut gb_out = vec![0.0f64; d];
        col_sums_f64(&mut gb_out, grad_y)?;
        add_f64(&mut grads.out_proj_bias, &gb_out)?;
        // Every row of grad_h is written by the gated convolutions' backward (pooled, stale).
        let mut grad_h = pool::take(self.filter_channels() * l, T::zero());
        let mut grad_u = vec![T::zero(); b * l * d];
        match &cache.acts {
            Activations::Kept { zin, uc, hf, steps } => {
                let steps: Vec<&[T]> = steps.iter().map(|s| s.as_slice()).collect();
                let hfs: Vec<&[Complex<T>]> = (0..n - 1).map(|o| &hf[o * d * bins..(o + 1) * d * bins]).collect();
                // Pooled (stale): g is written by out_proj's backward, g_uc and g_zin whole by the
                // gated convolutions' and the short conv's backward.
                let mut g = pool::take(b * d * l, T::zero());
                let mut g_uc = pool::take(b * c3 * l, T::zero());
                self.group_backward_mix(grad_y, b, l, 0, d, uc, &steps, &hfs, &cache.plan, &mut g, &mut g_uc, &mut grad_h, grads)?;
                pool::give(g);
                let mut g_zin = pool::take(b * c3 * l, T::zero());
                self.group_backward_proj(&cache.u, b, l, 0, d, zin, &g_uc, &mut g_zin, &mut grad_u, true, grads)?;
                pool::give(g_uc);
                pool::give(g_zin);
            }
            Activations::Recomputed { h, group } => {
                let g = *group;
                let mut ws = GroupWs::new(b, n, g, l, bins);
                // Pooled (stale): written whole by out_proj's and the recurrence's backward per group.
                let mut gbuf = pool::take(b * g * l, T::zero());
                let mut g_uc_buf = pool::take(b * (n + 1) * g * l, T::zero());
                for c0 in (0..d).step_by(g) {
                    let c1 = (c0 + g).min(d);
                    let (gw, m) = (c1 - c0, b * (c1 - c0) * l);
                    let cgl = b * (n + 1) * gw * l;
                    self.group_forward(&cache.u, b, l, c0, c1, FilterIn::H(h), &cache.plan, &mut ws, true)?;
                    let g_uc = &mut g_uc_buf[..cgl];
                    {
                        let steps: Vec<&[T]> = (0..n - 1).map(|o| &ws.steps[o * m..(o + 1) * m]).collect();
                        let hfs: Vec<&[Complex<T>]> = (0..n - 1).map(|o| &ws.hf[o * gw * bins..(o + 1) * gw * bins]).collect();
                        self.group_backward_mix(grad_y, b, l, c0, c1, &ws.uc[..cgl], &steps, &hfs, &cache.plan, &mut gbuf[..m], g_uc, &mut grad_h, grads)?;
                    }
                    // The short-conv output is not needed any more: its workspace takes dZ.
                    self.group_backward_proj(&cache.u, b, l, c0, c1, &ws.zin[..cgl], g_uc, &mut ws.uc[..cgl], &mut grad_u, c0 == 0, grads)?;
                }
                ws.put_back();
                pool::give(gbuf);
                pool::give(g_uc_buf);
            }
        }
        // Filter backward.
        let mut fg = self.filter.zero_grads();
        filter::filter_bwd(&self.filter, &cache.filter_cache, &grad_h, &mut fg)?;
        pool::give(grad_h);
        grads.add_filter_grads(&fg);
        Ok(grad_u)
    }

    /// Backward of out_proj and of the recurrence for channels `c0..c1` given the group's
    /// short-conv output `uc` `[B, (N+1)·G, L]`, recurrence `steps` (each `[B, G, L]`) and filter
    /// spectra `hfs` (each `[G, bins]`): writes the group's rows of `grad_h`, accumulates
    /// `dW_out[:, c0..c1]` and the filter bias, and writes the gradient of the short-conv output
    /// into `g_uc` (every element). `g` is a `[B, G, L]` workspace.
    #[allow(clippy::too_many_arguments)]
    fn group_backward_mix(
        &self,
        grad_y: &[T],
        b: usize,
        l: usize,
        c0: usize,
        c1: usize,
        uc: &[T],
        steps: &[&[T]],
        hfs: &[&[Complex<T>]],
        plan: &FftConvPlan<T>,
        g: &mut [T],
        g_uc: &mut [T],
        grad_h: &mut [T],
        grads: &mut Self,
    ) -> Result<()> {
        let (d, n) = (self.cfg.d_model, self.cfg.order);
        let gw = c1 - c0;
        let cg = (n + 1) * gw;
        // out_proj backward: dPre_b [G, L] = W_out[:, G]ᵀ · gy_bᵀ, W_out[:, G]ᵀ stored row-major.
        let w_out_t = group_cols_t(&self.out_proj_weight, d, c0, c1)?;
        for bi in 0..b {
            let gy = &grad_y[bi * l * d..(bi + 1) * l * d];
            matmul(&mut g[bi * gw * l..(bi + 1) * gw * l], &w_out_t, gy, gw, l, d, false, true, false)?;
        }
        // dW_out[:, G]ᵀ [G, D] += Σ_b Pre_b [G, L] · gy_b [L, D] (both operands row-major; the
        // transposed result is the small one): a sum over B·L positions, accumulated accurately
        // (`hyena_kernels::cpu::reduce`).
        let last = steps[n - 2];
        let ab: Vec<(&[T], &[T])> =
            (0..b).map(|bi| (&last[bi * gw * l..(bi + 1) * gw * l], &grad_y[bi * l * d..(bi + 1) * l * d])).collect();
        on_group_cols_t(&mut grads.out_proj_weight, d, c0, c1, |c| matmul_sum_k(c, &ab, gw, d, l, false, false))??;
        // The recurrence, last step first. Every chunk of `g_uc` receives exactly one gradient
        // (v at the first step, x_{N−1−o} as step o's pre-gate, x₀ as the last step's
        // post-gate), so the gated convolutions write their gradients straight into its rows.
        let xs = |i: usize| Rows::new(&uc[i * gw * l..], b, gw, l, cg * l);
        let mut gv_tmp: Vec<T> = Vec::new();
        for s in schedule(n).rev() {
            let o = s.o;
            let (cur, pre, post) = s.operands(|src| match src {
                Src::Chunk(i) => xs(i),
                Src::Step(j) => Rows::contiguous(steps[j], b, gw, l),
            })?;
            let mut rows: Vec<Option<&mut [T]>> = g_uc.chunks_mut(l).map(Some).collect();
            let grad_v = match s.cur {
                Src::Chunk(i) => chunk_rows(&mut rows, b, cg, gw, i)?,
                // The gradient of the previous step's output: it becomes `g`, this step's input,
                // after the call.
                Src::Step(_) => {
                    gv_tmp.resize(b * gw * l, T::zero());
                    gv_tmp.chunks_mut(l).collect()
                }
            };
            let grad_post = match s.post {
                Some(i) => Some(chunk_rows(&mut rows, b, cg, gw, i)?),
                None => None,
            };
            let mut gd = vec![T::zero(); gw];
            let out = GatedBwdOut {
                grad_v,
                grad_pre: Some(chunk_rows(&mut rows, b, cg, gw, s.pre)?),
                grad_post,
                grad_h: &mut grad_h[(o * d + c0) * l..(o * d + c1) * l],
                grad_d: &mut gd,
            };
            gated_fftconv_bwd_into(plan, hfs[o], &self.filter_bias[o * d + c0..o * d + c1], cur, Some(pre), post, g, out)?;
            grads.filter_bias[o * d + c0..o * d + c1].iter_mut().zip(&gd).for_each(|(a, &x)| *a = *a + x);
            if let Src::Step(_) = s.cur {
                g.copy_from_slice(&gv_tmp);
            }
        }
        Ok(())
    }

    /// Backward of the short conv and in_proj for channels `c0..c1` given the group's in_proj
    /// output `zin` and short-conv output gradient `g_uc` (both `[B, (N+1)·G, L]`): accumulates
    /// the group's rows of the short-filter and in_proj gradients and `grad_u += dZ_Gᵀ · W_in[G]`
    /// (written, not added, when `first`). `g_zin` is a `[B, (N+1)·G, L]` workspace.
    #[allow(clippy::too_many_arguments)]
    fn group_backward_proj(
        &self,
        u: &[T],
        b: usize,
        l: usize,
        c0: usize,
        c1: usize,
        zin: &[T],
        g_uc: &[T],
        g_zin: &mut [T],
        grad_u: &mut [T],
        first: bool,
        grads: &mut Self,
    ) -> Result<()> {
        let (d, n) = (self.cfg.d_model, self.cfg.order);
        let cg = (n + 1) * (c1 - c0);
        let w_sc = group_rows(&self.short_filter_weight, 3, d, n + 1, c0, c1);
        let b_sc = group_rows(&self.short_filter_bias, 1, d, n + 1, c0, c1);
        let (gsw, gsb) = (&mut grads.short_filter_weight, &mut grads.short_filter_bias);
        on_group_rows(gsw, 3, d, n + 1, c0, c1, |gsw| {
            on_group_rows(gsb, 1, d, n + 1, c0, c1, |gsb| shortconv_bwd(zin, &w_sc, &b_sc, g_uc, b, cg, l, g_zin, gsw, gsb))
        })?;
        // in_proj backward: dU_b [L, D] (+)= dZ_bᵀ [L, CG] · W_in[G] [CG, D]. (As its transpose
        // W_in[G]ᵀ · dZ_b the GEMM is faster at 8K, 30 against 44–50 ms on one thread, but the
        // transposing copy back into grad_u cost as much: docs/BENCHMARKS.md, "CPU backward at
        // 1K and 8K".)
        let w_in = group_rows(&self.in_proj_weight, d, d, n + 1, c0, c1);
        let mut gb_in = vec![0.0f64; cg];
        for bi in 0..b {
            let gz = &g_zin[bi * cg * l..(bi + 1) * cg * l];
            matmul(&mut grad_u[bi * l * d..(bi + 1) * l * d], gz, &w_in, l, d, cg, true, false, !first)?;
            for (gbias, row) in gb_in.iter_mut().zip(gz.chunks_exact(l)) {
                *gbias += sum_f64(row);
            }
        }
        // dW_in[G] += Σ_b dZ_b [CG, L] · U_b [L, D] and db_in (above): sums over B·L positions,
        // accumulated accurately (`hyena_kernels::cpu::reduce`).
        let ab: Vec<(&[T], &[T])> =
            (0..b).map(|bi| (&g_zin[bi * cg * l..(bi + 1) * cg * l], &u[bi * l * d..(bi + 1) * l * d])).collect();
        on_group_rows(&mut grads.in_proj_weight, d, d, n + 1, c0, c1, |c| matmul_sum_k(c, &ab, cg, d, l, false, false))?;
        on_group_rows(&mut grads.in_proj_bias, 1, d, n + 1, c0, c1, |c| add_f64(c, &gb_in))?;
        Ok(())
    }
}

/// Runs `f` on a worker thread of the rayon pool: directly when called on one, else handed to the
/// global pool once (`rayon::scope` runs its body on a worker).
///
/// Why: called from a thread outside the pool (a program's main thread, as `hyena bench` calls
/// the operator), every parallel loop of the call was handed to the pool and the caller woken
/// after it, ~7 round trips per `infer` at L = 1K (14 more context switches per call than from
/// inside the pool, and +9 % CPU time, `HYENA_PROFILE_CALLER=main` of the profile harness;
/// docs/BENCHMARKS.md, "The 1-thread short-L cells"); with one worker thread the GEMMs ran on
/// the caller and the rest on the worker, alternately. Now one round trip per call.
///
/// The results do not depend on which thread runs the call or on the pool's size (every parallel
/// reduction has a fixed grouping; `operator::same_bits_for_every_thread_count` in the `lm` tests).
/// This was switched off once: the filter backward's d freq was a rayon `fold`/`reduce` whose
/// grouping followed the work stealing, and hyena-cli's `train_resume_equals_uninterrupted` failed
/// 4 runs in 8 with the hand-over; the sum now goes in fixed chunks.
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

/// What the group loop gets of the filter.
#[derive(Clone, Copy)]
enum FilterIn<'a, T> {
    /// The filter `h` `[(N−1)·D, L]`: each group computes its rows' spectra into its workspace.
    H(&'a [T]),
    /// The spectra of every filter channel, `[(N−1)·D, bins]`.
    Spectra(&'a [Complex<T>]),
}

/// The `B·G` rows of chunk `i` of a group's `[B, (N+1)·G, L]` buffer, taken out of `rows` (its
/// rows of length L, in order) in `(b, c)` order.
fn chunk_rows<'a, T>(rows: &mut [Option<&'a mut [T]>], b: usize, cg: usize, gw: usize, i: usize) -> Result<Vec<&'a mut [T]>> {
    let mut out = Vec::with_capacity(b * gw);
    for bi in 0..b {
        for c in 0..gw {
            let r = rows.get_mut(bi * cg + i * gw + c).and_then(Option::take);
            out.push(r.ok_or_else(|| ModelError::Config(format!("internal: row {c} of chunk {i} (batch {bi}) taken twice or missing")))?);
        }
    }
    Ok(out)
}

/// One channel group's activations, sized for the largest group and reused by every group (a
/// fresh allocation per group would page-fault its whole size again, once per group).
struct GroupWs<T: Scalar> {
    /// in_proj rows of the group, `[B, (N+1)·G, L]`.
    zin: Vec<T>,
    /// Short-conv output, `[B, (N+1)·G, L]`.
    uc: Vec<T>,
    /// The N−1 steps of the recurrence, each `[B, G, L]`.
    steps: Vec<T>,
    /// The group's filter spectra, N−1 × `[G, bins]`.
    hf: Vec<Complex<T>>,
}

/// Most bytes of group workspaces kept between calls by [`GroupWs::put_back`]: one inference
/// group ([`INFER_GROUP_BYTES`]), so that every length reuses its workspaces
/// ([`crate::pool::release`] frees them). At 256 MiB the
/// one group of L = 32K (288 MiB at B = 1, D = 256, order 2, f32) and the two of 64K (302 MiB)
/// were freed after every call and page-faulted again on the next: ~108 000 faults per `infer`
/// at 32K, ×20 those of 16K, the 16K → 32K step of the bench (docs/BENCHMARKS.md).
const WS_POOL_BYTES: usize = INFER_GROUP_BYTES;

/// Group workspaces kept between calls, at most one per scalar type.
static WS_POOL: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> = std::sync::Mutex::new(Vec::new());

impl<T: Scalar> GroupWs<T> {
    /// Workspaces for groups of `g` channels: the pooled ones when they are large enough (every
    /// element is written before it is read: in_proj, the short conv, the spectra and the gated
    /// convolutions overwrite their whole ranges), else fresh ones.
    ///
    /// Why a pool: glibc serves blocks ≥ 32 MiB (its largest mmap threshold) with fresh mappings,
    /// so at L = 16K (B = 1, D = 256) every call page-faulted its ~150 MiB of group workspaces
    /// again (docs/BENCHMARKS.md, "The 8K → 16K step").
    fn new(b: usize, n: usize, g: usize, l: usize, bins: usize) -> Self {
        let (act, steps, hf) = (b * (n + 1) * g * l, (n - 1) * b * g * l, (n - 1) * g * bins);
        // The kept workspaces of this type leave the pool either way: too small ones are freed
        // before the fresh ones are allocated, so that they never add to the peak.
        let kept = WS_POOL.lock().ok().and_then(|mut pool| {
            let i = pool.iter().position(|w| w.downcast_ref::<Self>().is_some())?;
            pool.swap_remove(i).downcast::<Self>().ok()
        });
        if let Some(w) = kept {
            if w.zin.len() >= act && w.steps.len() >= steps && w.hf.len() >= hf {
                return *w;
            }
        }
        let z = T::zero();
        GroupWs { zin: vec![z; act], uc: vec![z; act], steps: vec![z; steps], hf: vec![Complex::new(z, z); hf] }
    }

    /// Keep these workspaces for the next call when they take at most [`WS_POOL_BYTES`] (larger
    /// ones are freed: at long L the memory matters more than the page faults).
    fn put_back(self) {
        let bytes = std::mem::size_of::<T>() * (self.zin.len() + self.uc.len() + self.steps.len() + 2 * self.hf.len());
        if bytes > WS_POOL_BYTES {
            return;
        }
        if let Ok(mut pool) = WS_POOL.lock() {
            pool.retain(|w| w.downcast_ref::<Self>().is_none());
            pool.push(Box::new(self));
        }
    }
}

/// Free the pooled group workspaces (see [`crate::pool::release`]).
pub(crate) fn release_group_workspaces() {
    if let Ok(mut pool) = WS_POOL.lock() {
        pool.clear();
    }
}

/// The rows of a `[chunks·D, per]` tensor that belong to channels `c0..c1` (chunk i: rows
/// `i·D + c0 .. i·D + c1`), contiguous; the tensor itself when the group has every channel.
fn group_rows<T: Copy>(v: &[T], per: usize, d: usize, chunks: usize, c0: usize, c1: usize) -> std::borrow::Cow<'_, [T]> {
    if c1 - c0 == d {
        return std::borrow::Cow::Borrowed(v);
    }
    (0..chunks).flat_map(|i| v[(i * d + c0) * per..(i * d + c1) * per].iter().copied()).collect::<Vec<T>>().into()
}

/// `f` on the [`group_rows`] of `v`, written back into `v` after (on `v` itself when the group
/// has every channel).
fn on_group_rows<T: Copy, R>(v: &mut [T], per: usize, d: usize, chunks: usize, c0: usize, c1: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let gw = c1 - c0;
    if gw == d {
        return f(v);
    }
    let mut tmp = group_rows(v, per, d, chunks, c0, c1).into_owned();
    let r = f(&mut tmp);
    for i in 0..chunks {
        v[(i * d + c0) * per..(i * d + c1) * per].copy_from_slice(&tmp[i * gw * per..(i + 1) * gw * per]);
    }
    r
}

/// Columns `c0..c1` of a row-major `[D, D]` matrix, transposed: `[c1 − c0, D]` (row c is column
/// `c0 + c`), by the kernels' vectorized transpose in parallel (a scalar tile loop on one thread
/// was ~2 % of an inference forward's samples at L = 1K).
///
/// Why transposed: out_proj's GEMMs take W_out (PyTorch's `[out, in]`) as `W_outᵀ`; with this
/// small copy they get it row-major instead of through strides, the layout the `gemm` crate is
/// fastest with (docs/BENCHMARKS.md, "Projection GEMM layouts").
fn group_cols_t<T: Scalar>(v: &[T], d: usize, c0: usize, c1: usize) -> Result<Vec<T>> {
    let gw = c1 - c0;
    let mut out = vec![T::zero(); gw * d];
    par_transpose_cols_into(v.get(c0..).unwrap_or(&[]), d, d, gw, &mut out, d, false)?;
    Ok(out)
}

/// `f` on the [`group_cols_t`] of `v` (`[c1 − c0, D]`), written back (transposed) into `v` after.
fn on_group_cols_t<T: Scalar, R>(v: &mut [T], d: usize, c0: usize, c1: usize, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
    let mut tmp = group_cols_t(v, d, c0, c1)?;
    let r = f(&mut tmp);
    par_transpose_cols_into(&tmp, d, c1 - c0, d, v.get_mut(c0..).unwrap_or(&mut []), d, false)?;
    Ok(r)
}

/// Bytes of one channel group's activations and spectra in [`HyenaOperator::infer`].
///
/// Why 2 GiB: every group re-reads `u` for its in_proj rows and adds its out_proj term into the
/// whole of `y` (a GEMM with K = G: read and write `[B, L, D]` once per group). At 512 MiB the
/// 1M-token forward (B = 1, D = 256, order 2, f32) ran 15 groups of 18 channels (~45 GiB of
/// `u`/`y` traffic, K = 18 GEMMs) and took 7–12 s more CPU time per call than 4 groups of 64;
/// peak 3.8 → 5.3 GB, under issue 15's 8 GiB (docs/BENCHMARKS.md, "The 1M forward's groups").
pub const INFER_GROUP_BYTES: usize = 2048 << 20;

/// Channels per group of [`HyenaOperator::infer`]: as many as fit [`INFER_GROUP_BYTES`] (at least
/// one), balanced over the groups. Per channel: in_proj and short-conv rows `2·(N+1)·B·L`, the
/// recurrence steps `(N−1)·B·L`, the filter spectra `2·(N−1)·bins` scalars.
pub fn infer_group(d: usize, order: usize, b: usize, l: usize, bins: usize, scalar_bytes: usize) -> usize {
    let nm1 = order.saturating_sub(1);
    let per_channel = scalar_bytes.saturating_mul(b.saturating_mul(l).saturating_mul(2 * (order + 1) + nm1).saturating_add(2 * nm1 * bins));
    balanced_group(d, INFER_GROUP_BYTES, per_channel)
}

/// As many channels as fit `budget` bytes at `per_channel` each (at least one), balanced over
/// the groups.
fn balanced_group(d: usize, budget: usize, per_channel: usize) -> usize {
    let g = (budget / per_channel.max(1)).clamp(1, d.max(1));
    let groups = d.div_ceil(g);
    d.div_ceil(groups.max(1))
}

/// Bytes of the activations [`CachePolicy::Keep`] holds besides `u` and the filter cache:
/// in_proj and short-conv outputs `2·(N+1)·B·L·D`, the recurrence steps `(N−1)·B·L·D`, the filter
/// spectra `2·(N−1)·D·bins` scalars.
pub fn kept_bytes(d: usize, order: usize, b: usize, l: usize, bins: usize, scalar_bytes: usize) -> usize {
    let nm1 = order.saturating_sub(1);
    let bld = b.saturating_mul(l).saturating_mul(d);
    scalar_bytes.saturating_mul(bld.saturating_mul(2 * (order + 1) + nm1).saturating_add((2 * nm1).saturating_mul(d).saturating_mul(bins)))
}

/// The budget of [`CachePolicy::Auto`]: kept activations up to 2 GiB (L = 128K at B = 1, D = 256,
/// order 2 in f32; B = 8, D = 768 up to L = 8K).
pub const TRAIN_CACHE_BYTES: usize = 2 << 30;

impl CachePolicy {
    /// The policy of a budget given in MiB (the command line's `--train-cache-mib`):
    /// [`CachePolicy::Budget`] of `mib` MiB (saturating), or [`CachePolicy::Auto`] when `None`.
    pub fn from_budget_mib(mib: Option<usize>) -> Self {
        match mib {
            Some(mib) => CachePolicy::Budget { bytes: mib.saturating_mul(1 << 20) },
            None => CachePolicy::Auto,
        }
    }

    /// Most bytes of kept activations the policy allows before it recomputes: `None` for the
    /// fixed policies ([`CachePolicy::Keep`], [`CachePolicy::Recompute`]).
    pub fn budget(self) -> Option<usize> {
        match self {
            CachePolicy::Auto => Some(TRAIN_CACHE_BYTES),
            CachePolicy::Budget { bytes } => Some(bytes),
            CachePolicy::Keep | CachePolicy::Recompute { .. } => None,
        }
    }
}

/// Bytes of one channel group's workspaces in a backward pass that recomputes activations.
pub const TRAIN_GROUP_BYTES: usize = 1 << 30;

/// Channels per group of a backward pass that recomputes activations ([`CachePolicy::Auto`]):
/// as many as fit [`TRAIN_GROUP_BYTES`]. Per channel: the recomputed activations of
/// [`infer_group`] (`(2·(N+1) + N−1)·B·L` + spectra `2·(N−1)·bins`), the step gradient `B·L`,
/// the short-conv output gradient `(N+1)·B·L`, and the gated convolution backward's outputs
/// (grad_v, grad_pre, grad_post: `3·B·L`).
pub fn train_group(d: usize, order: usize, b: usize, l: usize, bins: usize, scalar_bytes: usize) -> usize {
    let nm1 = order.saturating_sub(1);
    let rows = 2 * (order + 1) + nm1 + 1 + (order + 1) + 3;
    let per_channel = scalar_bytes.saturating_mul(b.saturating_mul(l).saturating_mul(rows).saturating_add(2 * nm1 * bins));
    balanced_group(d, TRAIN_GROUP_BYTES, per_channel)
}

impl<T: Scalar> HyenaOperator<T> {
    /// Add the implicit filter's gradients `fg` (any precision) into this gradient holder.
    pub fn add_filter_grads<S: Scalar>(&mut self, fg: &FilterGrads<S>) {
        acc(&mut self.filter.z, &fg.z);
        acc(&mut self.filter.freq, &fg.freq);
        acc(&mut self.filter.out_weight, &fg.out_weight);
        for ((gw, gb), (fw, fb)) in self.filter.layers.iter_mut().zip(&fg.layers) {
            acc(gw, fw);
            acc(gb, fb);
        }
    }
}

fn acc<T: Scalar, S: Scalar>(dst: &mut [T], src: &[S]) {
    dst.iter_mut().zip(src).for_each(|(a, &x)| *a = *a + T::lit(x.as_f64()));
}
