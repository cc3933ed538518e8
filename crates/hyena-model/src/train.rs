//! Training: a serialisable deterministic RNG, AdamW with safari's parameter groups, linear warmup
//! then cosine decay, global-norm gradient clipping, and checkpoints (weights, AdamW moments, step
//! and RNG state) in safetensors, written atomically.
//!
//! Parameter groups (safari `OptimModule.register` / `HyenaFilter` `_optim`, and the trainer's
//! `optimizer_param_grouping` with `bias_weight_decay: False`, `normalization_weight_decay: False`):
//! - the filter FFN (`implicit_filter.*` weights, biases and the Sin `freq`): `lr_filter`, `wd_filter`
//!   (HyenaFilter defaults: lr 1e-3, wd 0);
//! - the positional embedding `z`: `lr_pos_emb` (1e-5), weight decay 0;
//! - biases and LayerNorm parameters: the model's lr, weight decay 0;
//! - everything else: the model's lr and weight decay.
//!
//! The schedule scales every group's own base lr by the same factor, as PyTorch's schedulers do.

use crate::error::{ModelError, Result};
use crate::lm::{HyenaLm, LmConfig, Mixer};
use crate::operator::{HyenaOperator, ParamGroup, ParamKind};
use crate::tensors::TensorFile;
use hyena_kernels::Scalar;
use std::collections::BTreeMap;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// RNG
// ---------------------------------------------------------------------------------------------

/// xoshiro256** seeded through SplitMix64: small, fast, and its state (four u64) is saved in
/// checkpoints so a resumed run draws exactly the numbers an uninterrupted one would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainRng {
    s: [u64; 4],
}

impl TrainRng {
    /// A generator whose four state words are drawn from SplitMix64 started at `seed`.
    pub fn seed(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        TrainRng { s: [next(), next(), next(), next()] }
    }
    /// The next 64 random bits.
    pub fn draw(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
    /// Uniform in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.draw();
            if x < zone {
                return x % n;
            }
        }
    }
    /// The state as text (for checkpoint metadata).
    pub fn state_string(&self) -> String {
        self.s.iter().map(|x| format!("{x:016x}")).collect::<Vec<_>>().join(":")
    }
    /// Parse [`TrainRng::state_string`].
    pub fn from_state_string(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || ModelError::Config(format!("invalid rng state `{s}`"));
        if parts.len() != 4 {
            return Err(bad());
        }
        let mut st = [0u64; 4];
        for (o, p) in st.iter_mut().zip(parts) {
            *o = u64::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if st == [0; 4] {
            return Err(bad());
        }
        Ok(TrainRng { s: st })
    }
}

impl rand::RngCore for TrainRng {
    fn next_u32(&mut self) -> u32 {
        (self.draw() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.draw()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.draw().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Optimizer settings, groups, schedule
// ---------------------------------------------------------------------------------------------

/// AdamW and schedule hyper-parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OptimConfig {
    /// Peak learning rate of the default groups ([`OptimGroup::Decay`], [`OptimGroup::NoDecay`]).
    pub lr: f64,
    /// Weight decay of [`OptimGroup::Decay`].
    pub weight_decay: f64,
    /// Peak learning rate of the filter FFN ([`OptimGroup::Filter`]).
    pub lr_filter: f64,
    /// Weight decay of the filter FFN.
    pub wd_filter: f64,
    /// Learning rate of the filter's positional embedding ([`OptimGroup::PosEmb`]).
    pub lr_pos_emb: f64,
    /// Decay of the first-moment average.
    pub beta1: f64,
    /// Decay of the second-moment average.
    pub beta2: f64,
    /// Added to the square root of the second moment.
    pub eps: f64,
    /// Global-norm clipping threshold (0: off).
    pub grad_clip: f64,
    /// Updates of linear warmup to the peak rates.
    pub warmup_steps: u64,
    /// Updates of the whole schedule (the cosine ends there).
    pub total_steps: u64,
    /// The cosine decays to `min_lr_ratio · base lr`.
    pub min_lr_ratio: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 5e-4,
            weight_decay: 0.1,
            lr_filter: 1e-3,
            wd_filter: 0.0,
            lr_pos_emb: 1e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            grad_clip: 1.0,
            warmup_steps: 100,
            total_steps: 1000,
            min_lr_ratio: 0.0,
        }
    }
}

/// The optimizer group of one parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimGroup {
    /// Weights: `lr`, `weight_decay`.
    Decay,
    /// Biases and LayerNorms: `lr`, no decay.
    NoDecay,
    /// The implicit filter FFN: `lr_filter`, `wd_filter`.
    Filter,
    /// The filter's positional embedding: `lr_pos_emb`, no decay.
    PosEmb,
}

/// Group of a parameter from its name and operator group.
pub fn optim_group(name: &str, group: ParamGroup) -> OptimGroup {
    match group {
        ParamGroup::FilterMlp => OptimGroup::Filter,
        ParamGroup::PosEmb => OptimGroup::PosEmb,
        ParamGroup::Default => {
            let leaf = name.rsplit('.').next().unwrap_or("");
            let norm = name.contains(".norm1.") || name.contains(".norm2.") || name.contains("ln_f.");
            if leaf == "bias" || norm {
                OptimGroup::NoDecay
            } else {
                OptimGroup::Decay
            }
        }
    }
}

impl OptimConfig {
    /// Check that the values make a well-defined update: finite non-negative rates and decays,
    /// betas in [0, 1), a positive eps.
    pub fn validate(&self) -> Result<()> {
        let rates = [
            ("lr", self.lr),
            ("weight_decay", self.weight_decay),
            ("lr_filter", self.lr_filter),
            ("wd_filter", self.wd_filter),
            ("lr_pos_emb", self.lr_pos_emb),
            ("grad_clip", self.grad_clip),
            ("min_lr_ratio", self.min_lr_ratio),
        ];
        if let Some((k, x)) = rates.iter().find(|(_, x)| !x.is_finite() || *x < 0.0) {
            return Err(ModelError::Config(format!("optimizer `{k}` must be finite and non-negative, got {x}")));
        }
        if let Some((k, x)) = [("beta1", self.beta1), ("beta2", self.beta2)].iter().find(|(_, x)| !(0.0..1.0).contains(x)) {
            return Err(ModelError::Config(format!("optimizer `{k}` must be in [0, 1), got {x}")));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(ModelError::Config(format!("optimizer `eps` must be positive, got {}", self.eps)));
        }
        Ok(())
    }

    /// (base lr, weight decay) of a group.
    pub fn group_settings(&self, g: OptimGroup) -> (f64, f64) {
        match g {
            OptimGroup::Decay => (self.lr, self.weight_decay),
            OptimGroup::NoDecay => (self.lr, 0.0),
            OptimGroup::Filter => (self.lr_filter, self.wd_filter),
            OptimGroup::PosEmb => (self.lr_pos_emb, 0.0),
        }
    }

    /// Multiplier of the base lr at update `step` (0-based): linear warmup from 1/warmup to 1 over
    /// `warmup_steps` updates, then cosine decay to `min_lr_ratio` at `total_steps`.
    pub fn lr_factor(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let p = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
    }
}

// ---------------------------------------------------------------------------------------------
// AdamW
// ---------------------------------------------------------------------------------------------

/// AdamW state: first and second moments per trainable parameter (by name) and the step count.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW<T> {
    /// Hyper-parameters.
    pub cfg: OptimConfig,
    /// Number of updates done.
    pub step: u64,
    /// First moments, by parameter name.
    pub exp_avg: BTreeMap<String, Vec<T>>,
    /// Second moments, by parameter name.
    pub exp_avg_sq: BTreeMap<String, Vec<T>>,
}

/// What one [`AdamW::step`] did.
#[derive(Clone, Copy, Debug)]
pub struct StepInfo {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// lr of the default group used for this update.
    pub lr: f64,
}

impl<T: Scalar> AdamW<T> {
    /// Zero moments for every trainable parameter of `model`, step 0.
    pub fn new<M: Mixer<T>>(cfg: OptimConfig, model: &HyenaLm<T, M>) -> Self {
        let mut exp_avg = BTreeMap::new();
        let mut exp_avg_sq = BTreeMap::new();
        for p in model.params() {
            if p.kind == ParamKind::Trainable {
                exp_avg.insert(p.name.clone(), vec![T::zero(); p.data.len()]);
                exp_avg_sq.insert(p.name, vec![T::zero(); p.data.len()]);
            }
        }
        AdamW { cfg, step: 0, exp_avg, exp_avg_sq }
    }

    /// Global L2 norm of the trainable gradients (in f64).
    pub fn grad_norm<M: Mixer<T>>(grads: &HyenaLm<T, M>) -> f64 {
        grads
            .params()
            .iter()
            .filter(|p| p.kind == ParamKind::Trainable)
            .flat_map(|p| p.data.iter())
            .map(|x| x.as_f64() * x.as_f64())
            .sum::<f64>()
            .sqrt()
    }

    /// One update (PyTorch `AdamW` semantics: decoupled weight decay `p -= lr·wd·p`, then the Adam
    /// step with bias correction), after clipping the gradients to `grad_clip` global norm.
    pub fn step<M: Mixer<T>>(&mut self, model: &mut HyenaLm<T, M>, grads: &HyenaLm<T, M>) -> Result<StepInfo> {
        let norm = Self::grad_norm(grads);
        if !norm.is_finite() {
            return Err(ModelError::NonFinite { name: "gradient global norm".into(), index: 0 });
        }
        // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied when < 1.
        let coef = if self.cfg.grad_clip > 0.0 { self.cfg.grad_clip / (norm + 1e-6) } else { 1.0 };
        let clip = coef.min(1.0);
        let factor = self.cfg.lr_factor(self.step);
        // The bias corrections 1 − βᵗ need t ≥ 1 exactly: a step count that wraps would divide by 0.
        let next = self.step.checked_add(1).and_then(|t| i32::try_from(t).ok().map(|ti| (t, ti)));
        let Some((next, t)) = next else {
            return Err(ModelError::Config(format!("optimizer step {} is past the supported 2^31 − 1 updates", self.step)));
        };
        self.step = next;
        let (b1, b2, eps) = (self.cfg.beta1, self.cfg.beta2, self.cfg.eps);
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        let gparams = grads.params();
        if gparams.len() != model.params().len() {
            return Err(ModelError::Config("gradients and model have different parameter lists".into()));
        }
        for (p, g) in model.params_mut().into_iter().zip(gparams) {
            if p.kind != ParamKind::Trainable {
                continue;
            }
            if g.name != p.name || g.data.len() != p.data.len() {
                return Err(ModelError::TensorShape { name: format!("gradient of {}", p.name), expected: p.shape.clone(), got: g.shape.clone() });
            }
            let (base_lr, wd) = self.cfg.group_settings(optim_group(&p.name, p.group));
            let lr = base_lr * factor;
            let m = self.exp_avg.get_mut(&p.name).ok_or_else(|| ModelError::MissingTensor(format!("optimizer state exp_avg.{}", p.name)))?;
            let v = self.exp_avg_sq.get_mut(&p.name).ok_or_else(|| ModelError::MissingTensor(format!("optimizer state exp_avg_sq.{}", p.name)))?;
            if m.len() != p.data.len() || v.len() != p.data.len() {
                return Err(ModelError::TensorShape { name: format!("optimizer state of {}", p.name), expected: p.shape.clone(), got: vec![m.len()] });
            }
            for (((x, &gr), mi), vi) in p.data.iter_mut().zip(g.data).zip(m.iter_mut()).zip(v.iter_mut()) {
                let gr = gr.as_f64() * clip;
                let mut xv = x.as_f64();
                xv *= 1.0 - lr * wd;
                let mn = b1 * mi.as_f64() + (1.0 - b1) * gr;
                let vn = b2 * vi.as_f64() + (1.0 - b2) * gr * gr;
                *mi = T::lit(mn);
                *vi = T::lit(vn);
                let denom = (vn / bc2).sqrt() + eps;
                xv -= lr * (mn / bc1) / denom;
                *x = T::lit(xv);
            }
        }
        Ok(StepInfo { grad_norm: norm, lr: self.cfg.lr * factor })
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------------------------

/// Everything a run needs to continue exactly: model, optimizer, RNG and free-form metadata
/// (e.g. the command-line settings).
///
/// Generic over the LM's mixer `M` like [`HyenaLm`]: the CPU operator by default, or a device
/// operator (see [`TrainState::map_mixers`]); checkpoints are the same either way.
pub struct TrainState<T, M = HyenaOperator<T>> {
    /// The model being trained.
    pub model: HyenaLm<T, M>,
    /// The optimizer's state.
    pub opt: AdamW<T>,
    /// The batch-order generator.
    pub rng: TrainRng,
    /// Free-form metadata saved with the checkpoint.
    pub extra: BTreeMap<String, String>,
}

const META_KIND: &str = "hyena-train-checkpoint";

impl<T: Scalar, M: Mixer<T>> TrainState<T, M> {
    /// Save as safetensors: weights under their original names (`backbone.…`, buffers included),
    /// moments as `optim.exp_avg.<name>` / `optim.exp_avg_sq.<name>`, and metadata `config` (LM),
    /// `optim` (JSON), `step`, `rng_state`, `dtype` and the `extra` entries. Stored in `T`'s own
    /// precision, so saving and loading is exact. The write is atomic (temporary file + rename).
    ///
    /// A state holding a non-finite weight or moment is not saved
    /// ([`ModelError::CheckpointNotWritten`], naming the tensor and the step): the previous
    /// checkpoint stays the last good one. The file carries a CRC-32 of every tensor, which
    /// [`TrainState::load`] verifies.
    pub fn save(&self, path: &Path) -> Result<()> {
        let not_written = |name: String, index: usize| ModelError::CheckpointNotWritten { path: path.display().to_string(), step: self.opt.step, name, index };
        for p in self.model.params() {
            if let Some(i) = p.data.iter().position(|x| !x.as_f64().is_finite()) {
                return Err(not_written(p.name, i));
            }
        }
        for (which, map) in [("exp_avg", &self.opt.exp_avg), ("exp_avg_sq", &self.opt.exp_avg_sq)] {
            for (n, v) in map {
                if let Some(i) = v.iter().position(|x| !x.as_f64().is_finite()) {
                    return Err(not_written(format!("optim.{which}.{n}"), i));
                }
            }
        }
        let mut f = TensorFile::default();
        self.model.export(&mut f, "", false);
        for (n, m) in &self.opt.exp_avg {
            let shape = self.model.params().into_iter().find(|p| &p.name == n).map(|p| p.shape).unwrap_or(vec![m.len()]);
            f.insert_float(format!("optim.exp_avg.{n}"), shape.clone(), m.iter().map(|x| x.as_f64()).collect());
            let v = self.opt.exp_avg_sq.get(n).ok_or_else(|| ModelError::MissingTensor(format!("optimizer state exp_avg_sq.{n}")))?;
            f.insert_float(format!("optim.exp_avg_sq.{n}"), shape, v.iter().map(|x| x.as_f64()).collect());
        }
        let ser = |e: serde_json::Error| ModelError::Config(format!("serialising checkpoint metadata: {e}"));
        f.metadata.insert("kind".into(), META_KIND.into());
        f.metadata.insert("config".into(), serde_json::to_string(&self.model.cfg).map_err(ser)?);
        f.metadata.insert("optim".into(), serde_json::to_string(&self.opt.cfg).map_err(ser)?);
        f.metadata.insert("step".into(), self.opt.step.to_string());
        f.metadata.insert("rng_state".into(), self.rng.state_string());
        f.metadata.insert("dtype".into(), T::NAME.into());
        for (k, v) in &self.extra {
            f.metadata.insert(format!("extra.{k}"), v.clone());
        }
        let dtype = if T::NAME == "f32" { safetensors::Dtype::F32 } else { safetensors::Dtype::F64 };
        f.save(path, dtype)
    }

}

impl<T: Scalar> TrainState<T> {
    /// Load a checkpoint written by [`TrainState::save`]. Errors name the missing, corrupted
    /// (checksum) or malformed tensor or metadata key. Temporary files that killed runs left
    /// next to `path` are removed first.
    pub fn load(path: &Path) -> Result<Self> {
        crate::tensors::clean_stale_temps(path);
        let f = TensorFile::load(path)?;
        Self::from_tensor_file(&f, &path.display().to_string())
    }

    /// [`TrainState::load`] from a file already read; `origin` names it in errors.
    pub fn from_tensor_file(f: &TensorFile, origin: &str) -> Result<Self> {
        let meta = |k: &str| f.metadata.get(k).ok_or_else(|| ModelError::Config(format!("{origin}: checkpoint metadata lacks `{k}`")));
        if meta("kind")? != META_KIND {
            return Err(ModelError::Config(format!("{origin}: not a hyena training checkpoint")));
        }
        // Checksums were verified while reading; a checkpoint without them cannot be trusted.
        if !f.has_checksums() {
            return Err(ModelError::Config(format!("{origin}: checkpoint metadata lacks `{}`", crate::tensors::CHECKSUMS_KEY)));
        }
        if meta("dtype")? != T::NAME {
            return Err(ModelError::Config(format!("{origin}: checkpoint is {}, this run is {}", meta("dtype")?, T::NAME)));
        }
        let cfg_json: serde_json::Value = serde_json::from_str(meta("config")?).map_err(|e| ModelError::Config(format!("{origin}: metadata `config`: {e}")))?;
        let cfg = LmConfig::from_json(&cfg_json)?;
        let ocfg: OptimConfig = serde_json::from_str(meta("optim")?).map_err(|e| ModelError::Config(format!("{origin}: metadata `optim`: {e}")))?;
        ocfg.validate()?;
        let step: u64 = meta("step")?.parse().map_err(|_| ModelError::Config(format!("{origin}: metadata `step` is not an integer")))?;
        if i32::try_from(step).is_err() {
            return Err(ModelError::Config(format!("{origin}: metadata `step` {step} is past the supported 2^31 − 1 updates")));
        }
        let rng = TrainRng::from_state_string(meta("rng_state")?)?;
        let model = HyenaLm::<T>::from_tensors(f, "", &cfg)?;
        crate::config::check_declared_sizes(&LmConfig::flatten_json(&cfg_json), &model.cfg.size_fields(), &format!("{origin}: metadata `config`"))?;
        let mut opt = AdamW::new(ocfg, &model);
        opt.step = step;
        let shapes: BTreeMap<String, Vec<usize>> = model.params().into_iter().map(|p| (p.name, p.shape)).collect();
        for (which, map) in [("exp_avg", &mut opt.exp_avg), ("exp_avg_sq", &mut opt.exp_avg_sq)] {
            for (n, buf) in map.iter_mut() {
                let key = format!("optim.{which}.{n}");
                let shape = shapes.get(n).ok_or_else(|| ModelError::MissingTensor(n.clone()))?;
                let (_, v) = f.float(&key, Some(shape))?;
                *buf = crate::operator::to_scalar_vec(&key, v)?;
            }
        }
        let extra = f
            .metadata
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("extra.").map(|k| (k.to_string(), v.clone())))
            .collect();
        Ok(TrainState { model, opt, rng, extra })
    }

    /// The same state with every mixer replaced by `f(mixer)` (e.g. moved onto a device).
    pub fn map_mixers<N, E>(self, f: impl FnMut(HyenaOperator<T>) -> std::result::Result<N, E>) -> std::result::Result<TrainState<T, N>, E> {
        Ok(TrainState { model: self.model.map_mixers(f)?, opt: self.opt, rng: self.rng, extra: self.extra })
    }
}

impl<T: Scalar, M: Mixer<T>> TrainState<T, M> {
    /// A fresh state: the optimizer zeroed at step 0, the RNG seeded.
    pub fn new(model: HyenaLm<T, M>, cfg: OptimConfig, seed: u64) -> Self {
        let opt = AdamW::new(cfg, &model);
        TrainState { model, opt, rng: TrainRng::seed(seed), extra: BTreeMap::new() }
    }

    /// One training step on a batch: forward, loss, backward, clipped AdamW update.
    /// Returns the loss (before the update) and what the optimizer did.
    pub fn train_step(&mut self, ids: &[i64], targets: &[i64], b: usize, l: usize) -> Result<(f64, StepInfo)> {
        let mut grads = self.model.zeros_like();
        let (loss, _) = self.model.loss_and_grad(ids, targets, b, l, &mut grads)?;
        if !loss.is_finite() {
            return Err(ModelError::NonFinite { name: "loss".into(), index: 0 });
        }
        let info = self.opt.step(&mut self.model, &grads)?;
        Ok((loss, info))
    }
}
