//! The Hyena language model of HyenaDNA / safari (`standalone_hyenadna.py` `HyenaDNAModel` with an
//! LM head tied to the word embedding), forward and hand-written backward on the CPU backend.
//!
//! ```text
//! h = E[ids]; res = None
//! for each block:   res = h + res (res = h at the first block)
//!                   h = mixer(norm1(res)); res = h + res
//!                   h = fc2(gelu_tanh(fc1(norm2(res))))
//! hidden = ln_f(h + res);  logits = hidden · Eᵀ  (over every embedding row, padded vocab included)
//! loss = mean next-token cross-entropy over positions 0..L−2
//! ```
//!
//! The sequence mixer sits behind the [`Mixer`] trait so that a device implementation of the
//! operator can replace [`HyenaOperator`] without touching the rest of the model.

use crate::config::OperatorConfig;
use crate::error::{ModelError, Result};
use crate::layers::{self, LayerNormCache, IGNORE_INDEX};
use crate::operator::{HyenaOperator, NamedParam, NamedParamMut, OperatorCache, ParamGroup, ParamKind};
use crate::tensors::TensorFile;
use hyena_kernels::cpu::linear::{linear_bwd, linear_fwd, matmul};
use hyena_kernels::error::try_vec;
use hyena_kernels::Scalar;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Hyper-parameters of the LM. Size fields left at 0 are read from the checkpoint's shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LmConfig {
    /// Model width D.
    pub d_model: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Width of the MLP (4·d_model when 0 at init).
    pub d_inner: usize,
    /// Vocabulary size before padding.
    pub vocab_size: usize,
    /// The embedding gets `vocab_size` rounded up to a multiple of this (HyenaDNA's
    /// `pad_vocab_size_multiple`).
    pub pad_vocab_size_multiple: usize,
    /// The LayerNorms' epsilon.
    #[serde(alias = "layer_norm_epsilon")]
    pub layer_norm_eps: f64,
    // --- operator: the fields of `OperatorConfig` ---
    /// As [`OperatorConfig::l_max`].
    pub l_max: usize,
    /// As [`OperatorConfig::order`].
    pub order: usize,
    /// As [`OperatorConfig::filter_order`].
    pub filter_order: usize,
    /// As [`OperatorConfig::emb_dim`].
    pub emb_dim: usize,
    /// As [`OperatorConfig::w`].
    pub w: f64,
    /// As [`OperatorConfig::num_inner_mlps`].
    pub num_inner_mlps: usize,
    /// As [`OperatorConfig::modulate`].
    pub modulate: bool,
    /// Modulation shift: 0.05 in hyena-dna (the default here), 0.0 in safari.
    pub shift: f64,
    /// As [`OperatorConfig::normalized`].
    pub normalized: bool,
    /// Learning rate of the positional embedding `z`; 0 makes it a buffer (no gradient), as in
    /// HyenaDNA's released configs (the default here). safari's default is 1e-5.
    pub lr_pos_emb: f64,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            d_model: 0,
            n_layer: 0,
            d_inner: 0,
            vocab_size: 0,
            pad_vocab_size_multiple: 1,
            layer_norm_eps: 1e-5,
            l_max: 0,
            order: 2,
            filter_order: 64,
            emb_dim: 3,
            w: 1.0,
            num_inner_mlps: 2,
            modulate: true,
            shift: 0.05,
            normalized: false,
            lr_pos_emb: 0.0,
        }
    }
}

impl LmConfig {
    /// Parse from JSON: either flat (the golden files' `config`) or HyenaDNA's `config.json` with the
    /// operator fields in a nested `layer` object (top-level fields win). Unknown fields are ignored.
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        let v = Self::flatten_json(v);
        let cfg: LmConfig =
            serde_json::from_value(v).map_err(|e| ModelError::Config(format!("invalid LM config: {e}")))?;
        if cfg.layer_norm_eps <= 0.0 || !cfg.layer_norm_eps.is_finite() {
            return Err(ModelError::Config(format!("layer_norm_eps must be positive, got {}", cfg.layer_norm_eps)));
        }
        Ok(cfg)
    }

    /// The JSON with a nested `layer` object's fields moved to the top level (top-level fields
    /// win), as [`LmConfig::from_json`] reads it; for [`crate::config::check_declared_sizes`].
    pub fn flatten_json(v: &serde_json::Value) -> serde_json::Value {
        let mut v = v.clone();
        if let Some(obj) = v.as_object_mut() {
            if let Some(serde_json::Value::Object(layer)) = obj.get("layer").cloned() {
                for (k, x) in layer {
                    if k == "d_model" || k.starts_with('_') || k == "lr" || k == "wd" {
                        continue;
                    }
                    obj.entry(k).or_insert(x);
                }
            }
            obj.remove("layer");
        }
        v
    }

    /// The size fields with their values, for [`crate::config::check_declared_sizes`].
    pub fn size_fields(&self) -> [(&'static str, usize); 8] {
        [
            ("d_model", self.d_model),
            ("n_layer", self.n_layer),
            ("d_inner", self.d_inner),
            ("l_max", self.l_max),
            ("order", self.order),
            ("filter_order", self.filter_order),
            ("emb_dim", self.emb_dim),
            ("num_inner_mlps", self.num_inner_mlps),
        ]
    }

    /// Number of parameter elements of a model of this configuration (operator buffers
    /// included), with checked arithmetic; [`ModelError::TooLarge`] above
    /// [`crate::config::MAX_ELEMENTS`].
    pub fn param_count(&self) -> Result<usize> {
        let too_large = || ModelError::TooLarge { what: "LM configuration".into(), detail: format!("sizes overflow: {self:?}") };
        let m = |a: usize, b: usize| a.checked_mul(b).ok_or_else(too_large);
        let s = |xs: &[usize]| xs.iter().try_fold(0usize, |a, &x| a.checked_add(x)).ok_or_else(too_large);
        let (d, di) = (self.d_model, self.d_inner);
        let block = s(&[self.operator_config().param_count()?, m(4, d)?, m(2, m(di, d)?)?, di, d])?;
        let n = s(&[m(self.padded_vocab(), d)?, m(self.n_layer, block)?, m(2, d)?])?;
        if n > crate::config::MAX_ELEMENTS {
            return Err(ModelError::TooLarge {
                what: "language model".into(),
                detail: format!("{n} parameters (vocab {}, d_model {d}, n_layer {}, d_inner {di}, l_max {}); the limit is {}", self.vocab_size, self.n_layer, self.l_max, crate::config::MAX_ELEMENTS),
            });
        }
        Ok(n)
    }

    /// Read a JSON file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io { path: path.display().to_string(), source: e })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::Config(format!("{}: invalid JSON: {e}", path.display())))?;
        Self::from_json(&v)
    }

    /// Embedding rows: the vocabulary rounded up to `pad_vocab_size_multiple`.
    pub fn padded_vocab(&self) -> usize {
        let m = self.pad_vocab_size_multiple.max(1);
        self.vocab_size.div_ceil(m).saturating_mul(m)
    }

    /// The operator's configuration.
    pub fn operator_config(&self) -> OperatorConfig {
        OperatorConfig {
            d_model: self.d_model,
            l_max: self.l_max,
            order: self.order,
            filter_order: self.filter_order,
            emb_dim: self.emb_dim,
            w: self.w,
            num_inner_mlps: self.num_inner_mlps,
            modulate: self.modulate,
            shift: self.shift,
            normalized: self.normalized,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The mixer abstraction
// ---------------------------------------------------------------------------------------------

/// A sequence mixer `[B, L, D] → [B, L, D]` with forward, backward and named parameters. The CPU
/// [`HyenaOperator`] implements it; a device backend implements it for its own operator type.
pub trait Mixer<T: Scalar>: Clone + Send + Sync {
    /// What the forward pass keeps for the backward pass.
    type Cache;
    /// Forward pass of `u` `[b, l, d_model]`: the output `[b, l, d_model]` and the cache the
    /// backward pass needs.
    fn forward(&self, u: &[T], b: usize, l: usize) -> Result<(Vec<T>, Self::Cache)>;
    /// Returns `grad_u` and accumulates parameter gradients into `grads` (shaped like `self`).
    fn backward(&self, cache: &Self::Cache, grad_y: &[T], grads: &mut Self) -> Result<Vec<T>>;
    /// Forward pass for inference, keeping nothing for a backward pass; by default the output of
    /// [`Mixer::forward`] with its cache dropped.
    fn infer(&self, u: &[T], b: usize, l: usize) -> Result<Vec<T>> {
        Ok(self.forward(u, b, l)?.0)
    }
    /// A mixer of the same shapes with every parameter zero: the holder of its gradients.
    fn zeros_like(&self) -> Self;
    /// Every parameter and buffer under its checkpoint name (relative to the mixer).
    fn params(&self) -> Vec<NamedParam<'_, T>>;
    /// [`Mixer::params`], writable (for the optimizer and checkpoint loading).
    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, T>>;
    /// Names (relative to the mixer) a checkpoint may hold besides [`Mixer::params`] (aliases).
    fn aliases(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<T: Scalar> Mixer<T> for HyenaOperator<T> {
    type Cache = OperatorCache<T>;
    fn forward(&self, u: &[T], b: usize, l: usize) -> Result<(Vec<T>, Self::Cache)> {
        HyenaOperator::forward(self, u, b, l)
    }
    fn backward(&self, cache: &Self::Cache, grad_y: &[T], grads: &mut Self) -> Result<Vec<T>> {
        HyenaOperator::backward(self, cache, grad_y, grads)
    }
    fn infer(&self, u: &[T], b: usize, l: usize) -> Result<Vec<T>> {
        HyenaOperator::infer(self, u, b, l)
    }
    fn zeros_like(&self) -> Self {
        HyenaOperator::zeros_like(self)
    }
    fn params(&self) -> Vec<NamedParam<'_, T>> {
        HyenaOperator::params(self)
    }
    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, T>> {
        HyenaOperator::params_mut(self)
    }
    fn aliases(&self) -> Vec<String> {
        (1..self.filter.layers.len()).map(|i| format!("filter_fn.implicit_filter.{}.freq", 2 * i + 1)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// One pre-norm block: mixer, two LayerNorms, MLP.
#[derive(Clone, Debug)]
pub struct Block<T, M> {
    /// The sequence mixer (a Hyena operator).
    pub mixer: M,
    /// `[d_model]`: scale of the LayerNorm before the mixer.
    pub norm1_weight: Vec<T>,
    /// `[d_model]`: shift of the LayerNorm before the mixer.
    pub norm1_bias: Vec<T>,
    /// `[d_model]`: scale of the LayerNorm before the MLP.
    pub norm2_weight: Vec<T>,
    /// `[d_model]`: shift of the LayerNorm before the MLP.
    pub norm2_bias: Vec<T>,
    /// `[d_inner, d_model]`
    pub fc1_weight: Vec<T>,
    /// `[d_inner]`
    pub fc1_bias: Vec<T>,
    /// `[d_model, d_inner]`
    pub fc2_weight: Vec<T>,
    /// `[d_model]`
    pub fc2_bias: Vec<T>,
}

/// The LM; also used, zeroed by [`HyenaLm::zeros_like`], to hold its gradients.
#[derive(Clone, Debug)]
pub struct HyenaLm<T, M = HyenaOperator<T>> {
    /// Complete configuration (sizes filled in).
    pub cfg: LmConfig,
    /// `[rows, d_model]`, rows = padded vocabulary.
    pub embedding: Vec<T>,
    /// Rows of the embedding (and of the logits): the vocabulary padded to
    /// `pad_vocab_size_multiple`.
    pub vocab_rows: usize,
    /// The blocks, in order.
    pub layers: Vec<Block<T, M>>,
    /// `[d_model]`: scale of the final LayerNorm.
    pub ln_f_weight: Vec<T>,
    /// `[d_model]`: shift of the final LayerNorm.
    pub ln_f_bias: Vec<T>,
}

struct BlockCache<T, C> {
    resid: Vec<T>,
    ln1: LayerNormCache,
    mix: C,
    resid2: Vec<T>,
    ln2: LayerNormCache,
    n2: Vec<T>,
    a: Vec<T>,
    g: Vec<T>,
}

/// What [`HyenaLm::forward`] keeps for [`HyenaLm::backward`].
pub struct LmCache<T, C> {
    b: usize,
    l: usize,
    ids: Vec<i64>,
    blocks: Vec<BlockCache<T, C>>,
    resid_f: Vec<T>,
    lnf: LayerNormCache,
    hidden: Vec<T>,
}

/// Results of [`HyenaLm::forward`].
pub struct LmOutput<T> {
    /// `[B, L, D]`: the backbone output (after `ln_f`).
    pub hidden: Vec<T>,
    /// `[B, L, rows]`
    pub logits: Vec<T>,
}

/// Next-token targets of `ids [B, L]`: position t gets `ids[t+1]`, the last position
/// [`IGNORE_INDEX`].
pub fn next_token_targets(ids: &[i64], b: usize, l: usize) -> Vec<i64> {
    // Sized by `ids` as well, so that a short `ids` gives short targets (which the loss then
    // reports as a shape error) instead of an out-of-bounds panic.
    let mut t = vec![IGNORE_INDEX; b.saturating_mul(l).min(ids.len())];
    if l == 0 {
        return t;
    }
    for (tr, ir) in t.chunks_mut(l).zip(ids.chunks(l)) {
        let n = tr.len().min(ir.len()).saturating_sub(1);
        tr[..n].copy_from_slice(&ir[1..=n]);
    }
    t
}

/// (name, shape, kind, group) of a parameter.
type ParamMeta = (String, Vec<usize>, ParamKind, ParamGroup);

fn lm_param<'a, T>(name: String, shape: Vec<usize>, data: &'a [T], group: ParamGroup) -> NamedParam<'a, T> {
    NamedParam { name, shape, data, kind: ParamKind::Trainable, group }
}

/// Normal(0, std) samples through Box–Muller from any `rand::Rng`.
/// `n` comes from a configuration: allocated fallibly.
fn normal_vec<T: Scalar>(rng: &mut impl rand::Rng, n: usize, std: f64) -> Result<Vec<T>> {
    let mut v = try_vec("model parameters", n, T::zero())?;
    for x in v.iter_mut() {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        *x = T::lit(std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos());
    }
    Ok(v)
}

impl<T: Scalar> HyenaLm<T, HyenaOperator<T>> {
    /// A freshly initialised model, following HyenaDNA's `_init_weights`: every Linear (filter FFN
    /// included) N(0, 0.02) with zero bias, the embedding N(0, 0.02), `out_proj.weight` and
    /// `fc2.weight` N(0, 0.02/√(2·n_layer)), LayerNorms (1, 0); the short conv, filter bias,
    /// positional embedding, frequency and modulation as the operator's own init.
    pub fn init(cfg: &LmConfig, rng: &mut impl rand::Rng) -> Result<Self> {
        let mut cfg = cfg.clone();
        if cfg.d_inner == 0 {
            cfg.d_inner = cfg.d_model.saturating_mul(4);
        }
        if cfg.d_model == 0 || cfg.n_layer == 0 || cfg.vocab_size == 0 || cfg.l_max == 0 {
            return Err(ModelError::Config("init needs positive d_model, n_layer, vocab_size and l_max".into()));
        }
        cfg.operator_config().validate()?;
        cfg.param_count()?;
        let (d, di, rows) = (cfg.d_model, cfg.d_inner, cfg.padded_vocab());
        let std = 0.02;
        let std_res = 0.02 / (2.0 * cfg.n_layer as f64).sqrt();
        let embedding = normal_vec(rng, rows * d, std)?;
        let mut layers = Vec::new();
        layers.try_reserve_exact(cfg.n_layer).map_err(|_| ModelError::TooLarge { what: "n_layer".into(), detail: format!("{} blocks", cfg.n_layer) })?;
        for _ in 0..cfg.n_layer {
            let mut op = HyenaOperator::<T>::init(&cfg.operator_config(), rng)?;
            op.in_proj_weight = normal_vec(rng, op.in_proj_weight.len(), std)?;
            op.in_proj_bias.iter_mut().for_each(|x| *x = T::zero());
            op.out_proj_weight = normal_vec(rng, op.out_proj_weight.len(), std_res)?;
            op.out_proj_bias.iter_mut().for_each(|x| *x = T::zero());
            for (w, b) in op.filter.layers.iter_mut() {
                *w = normal_vec(rng, w.len(), std)?;
                b.iter_mut().for_each(|x| *x = T::zero());
            }
            op.filter.out_weight = normal_vec(rng, op.filter.out_weight.len(), std)?;
            layers.push(Block {
                mixer: op,
                norm1_weight: vec![T::one(); d],
                norm1_bias: vec![T::zero(); d],
                norm2_weight: vec![T::one(); d],
                norm2_bias: vec![T::zero(); d],
                fc1_weight: normal_vec(rng, di * d, std)?,
                fc1_bias: vec![T::zero(); di],
                fc2_weight: normal_vec(rng, d * di, std_res)?,
                fc2_bias: vec![T::zero(); d],
            });
        }
        Ok(HyenaLm { cfg, embedding, vocab_rows: rows, layers, ln_f_weight: vec![T::one(); d], ln_f_bias: vec![T::zero(); d] })
    }

    /// The key prefix before `backbone.embeddings.word_embeddings.weight` (e.g. `""`, `"weights."`,
    /// `"model."`, `"hyena."`), or `None` when the file holds no LM.
    pub fn find_prefix(file: &TensorFile) -> Result<Option<String>> {
        const KEY: &str = "backbone.embeddings.word_embeddings.weight";
        // Optimizer moments (`optim.…`, in training checkpoints) and gradients (`grad.…`) share
        // the names; they are not models.
        let hits: Vec<&String> = file
            .tensors
            .keys()
            .filter(|k| k.ends_with(KEY) && !k.starts_with("optim.") && !k.starts_with("grad."))
            .collect();
        match hits.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one[..one.len() - KEY.len()].to_string())),
            many => Err(ModelError::Config(format!("{} language models in one file ({}, {}, …)", many.len(), many[0], many[1]))),
        }
    }

    /// Load from tensors named `{prefix}backbone.…` (original HyenaDNA names). Sizes come from the
    /// shapes (checked against non-zero `cfg` fields); `layer_norm_eps`, `modulate`, `shift`,
    /// `normalized`, `lr_pos_emb` from `cfg`.
    pub fn from_tensors(file: &TensorFile, prefix: &str, cfg: &LmConfig) -> Result<Self> {
        let emb_name = format!("{prefix}backbone.embeddings.word_embeddings.weight");
        let (es, _) = file.float(&emb_name, None)?;
        if es.len() != 2 || es[0] == 0 || es[1] == 0 || (cfg.d_model != 0 && es[1] != cfg.d_model) {
            let exp = vec![cfg.padded_vocab().max(1), cfg.d_model.max(1)];
            return Err(ModelError::TensorShape { name: emb_name, expected: exp, got: es.to_vec() });
        }
        let (rows, d) = (es[0], es[1]);
        if cfg.vocab_size > rows {
            return Err(ModelError::TensorShape { name: emb_name, expected: vec![cfg.padded_vocab(), d], got: es.to_vec() });
        }
        // The number of blocks is what the file holds (bounded by its size), never a count from
        // the config; a config that says otherwise is an error.
        let mut n_layer = 0;
        while file.tensors.contains_key(&format!("{prefix}backbone.layers.{n_layer}.norm1.weight")) {
            n_layer += 1;
        }
        if n_layer == 0 || cfg.n_layer > n_layer {
            return Err(ModelError::MissingTensor(format!("{prefix}backbone.layers.{n_layer}.norm1.weight")));
        }
        if cfg.n_layer != 0 && cfg.n_layer != n_layer {
            return Err(ModelError::Config(format!(
                "n_layer is {} but the file holds {n_layer} blocks (`{prefix}backbone.layers.{}.norm1.weight` exists)",
                cfg.n_layer,
                n_layer - 1
            )));
        }
        let fc1 = format!("{prefix}backbone.layers.0.mlp.fc1.weight");
        let (fs, _) = file.float(&fc1, None)?;
        if fs.len() != 2 || fs[1] != d || fs[0] == 0 || (cfg.d_inner != 0 && fs[0] != cfg.d_inner) {
            return Err(ModelError::TensorShape { name: fc1, expected: vec![cfg.d_inner.max(1), d], got: fs.to_vec() });
        }
        let di = fs[0];
        let load = |name: String, shape: &[usize]| -> Result<Vec<T>> {
            let (_, v) = file.float(&name, Some(shape))?;
            crate::operator::to_scalar_vec(&name, v)
        };
        let mut full = LmConfig { d_model: d, n_layer, d_inner: di, vocab_size: if cfg.vocab_size == 0 { rows } else { cfg.vocab_size }, ..cfg.clone() };
        let mut layers: Vec<Block<T, HyenaOperator<T>>> = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("{prefix}backbone.layers.{i}.");
            let mixer = HyenaOperator::<T>::from_tensors(file, &format!("{p}mixer."), &full.operator_config())?;
            if mixer.cfg.d_model != d {
                return Err(ModelError::TensorShape {
                    name: format!("{p}mixer.in_proj.weight"),
                    expected: vec![d * (mixer.cfg.order + 1), d],
                    got: vec![mixer.inner_width(), mixer.cfg.d_model],
                });
            }
            if let Some(first) = layers.first() {
                if mixer.cfg.size_fields() != first.mixer.cfg.size_fields() {
                    return Err(ModelError::Config(format!(
                        "block {i}'s operator has sizes {:?}, block 0's {:?}: every block must have the same operator",
                        mixer.cfg.size_fields(),
                        first.mixer.cfg.size_fields()
                    )));
                }
            }
            if i == 0 {
                if cfg.l_max != 0 && cfg.l_max != mixer.cfg.l_max {
                    return Err(ModelError::TensorShape {
                        name: format!("{p}mixer.filter_fn.pos_emb.z"),
                        expected: vec![1, cfg.l_max, mixer.cfg.emb_dim],
                        got: vec![1, mixer.cfg.l_max, mixer.cfg.emb_dim],
                    });
                }
                let oc = &mixer.cfg;
                full.l_max = oc.l_max;
                full.order = oc.order;
                full.filter_order = oc.filter_order;
                full.emb_dim = oc.emb_dim;
                full.num_inner_mlps = oc.num_inner_mlps;
            }
            layers.push(Block {
                mixer,
                norm1_weight: load(format!("{p}norm1.weight"), &[d])?,
                norm1_bias: load(format!("{p}norm1.bias"), &[d])?,
                norm2_weight: load(format!("{p}norm2.weight"), &[d])?,
                norm2_bias: load(format!("{p}norm2.bias"), &[d])?,
                fc1_weight: load(format!("{p}mlp.fc1.weight"), &[di, d])?,
                fc1_bias: load(format!("{p}mlp.fc1.bias"), &[di])?,
                fc2_weight: load(format!("{p}mlp.fc2.weight"), &[d, di])?,
                fc2_bias: load(format!("{p}mlp.fc2.bias"), &[d])?,
            });
        }
        Ok(HyenaLm {
            embedding: load(emb_name, &[rows, d])?,
            vocab_rows: rows,
            layers,
            ln_f_weight: load(format!("{prefix}backbone.ln_f.weight"), &[d])?,
            ln_f_bias: load(format!("{prefix}backbone.ln_f.bias"), &[d])?,
            cfg: full,
        })
    }
}

impl<T: Scalar, M> HyenaLm<T, M> {
    /// The same model with every block's mixer replaced by `f(mixer)` (e.g. the CPU operators
    /// wrapped for a device: `lm.map_mixers(|op| DeviceOperator::new(op, dev.clone()))`).
    pub fn map_mixers<N, E>(self, mut f: impl FnMut(M) -> std::result::Result<N, E>) -> std::result::Result<HyenaLm<T, N>, E> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for blk in self.layers {
            layers.push(Block {
                mixer: f(blk.mixer)?,
                norm1_weight: blk.norm1_weight,
                norm1_bias: blk.norm1_bias,
                norm2_weight: blk.norm2_weight,
                norm2_bias: blk.norm2_bias,
                fc1_weight: blk.fc1_weight,
                fc1_bias: blk.fc1_bias,
                fc2_weight: blk.fc2_weight,
                fc2_bias: blk.fc2_bias,
            });
        }
        Ok(HyenaLm {
            cfg: self.cfg,
            embedding: self.embedding,
            vocab_rows: self.vocab_rows,
            layers,
            ln_f_weight: self.ln_f_weight,
            ln_f_bias: self.ln_f_bias,
        })
    }
}

impl<T: Scalar, M: Mixer<T>> HyenaLm<T, M> {
    /// A copy with every tensor zeroed (to accumulate gradients into).
    pub fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        for p in z.params_mut() {
            p.data.iter_mut().for_each(|x| *x = T::zero());
        }
        z
    }

    /// Every tensor under its original name (`backbone.…`), in a stable order. The positional
    /// embedding `z` is a buffer when `lr_pos_emb` is 0 (HyenaDNA's `OptimModule.register`).
    pub fn params(&self) -> Vec<NamedParam<'_, T>> {
        let (d, di, rows) = (self.cfg.d_model, self.cfg.d_inner, self.vocab_rows);
        use ParamGroup::Default as G;
        let mut v = vec![lm_param("backbone.embeddings.word_embeddings.weight".into(), vec![rows, d], &self.embedding, G)];
        for (i, blk) in self.layers.iter().enumerate() {
            let p = format!("backbone.layers.{i}.");
            for mut mp in blk.mixer.params() {
                mp.name = format!("{p}mixer.{}", mp.name);
                if mp.group == ParamGroup::PosEmb && self.cfg.lr_pos_emb == 0.0 {
                    mp.kind = ParamKind::Buffer;
                }
                v.push(mp);
            }
            v.push(lm_param(format!("{p}norm1.weight"), vec![d], &blk.norm1_weight, G));
            v.push(lm_param(format!("{p}norm1.bias"), vec![d], &blk.norm1_bias, G));
            v.push(lm_param(format!("{p}norm2.weight"), vec![d], &blk.norm2_weight, G));
            v.push(lm_param(format!("{p}norm2.bias"), vec![d], &blk.norm2_bias, G));
            v.push(lm_param(format!("{p}mlp.fc1.weight"), vec![di, d], &blk.fc1_weight, G));
            v.push(lm_param(format!("{p}mlp.fc1.bias"), vec![di], &blk.fc1_bias, G));
            v.push(lm_param(format!("{p}mlp.fc2.weight"), vec![d, di], &blk.fc2_weight, G));
            v.push(lm_param(format!("{p}mlp.fc2.bias"), vec![d], &blk.fc2_bias, G));
        }
        v.push(lm_param("backbone.ln_f.weight".into(), vec![d], &self.ln_f_weight, G));
        v.push(lm_param("backbone.ln_f.bias".into(), vec![d], &self.ln_f_bias, G));
        v
    }

    /// Mutable view of [`HyenaLm::params`] (same names, order, kinds).
    pub fn params_mut(&mut self) -> Vec<NamedParamMut<'_, T>> {
        let meta: Vec<ParamMeta> =
            self.params().into_iter().map(|p| (p.name, p.shape, p.kind, p.group)).collect();
        let mut datas: Vec<&mut Vec<T>> = vec![&mut self.embedding];
        for blk in self.layers.iter_mut() {
            for mp in blk.mixer.params_mut() {
                datas.push(mp.data);
            }
            datas.push(&mut blk.norm1_weight);
            datas.push(&mut blk.norm1_bias);
            datas.push(&mut blk.norm2_weight);
            datas.push(&mut blk.norm2_bias);
            datas.push(&mut blk.fc1_weight);
            datas.push(&mut blk.fc1_bias);
            datas.push(&mut blk.fc2_weight);
            datas.push(&mut blk.fc2_bias);
        }
        datas.push(&mut self.ln_f_weight);
        datas.push(&mut self.ln_f_bias);
        meta.into_iter()
            .zip(datas)
            .map(|((name, shape, kind, group), data)| NamedParamMut { name, shape, data, kind, group })
            .collect()
    }

    /// Every name a checkpoint of this model may hold (parameters, buffers, aliases), unprefixed.
    pub fn known_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.params().into_iter().map(|p| p.name).collect();
        for (i, blk) in self.layers.iter().enumerate() {
            v.extend(blk.mixer.aliases().into_iter().map(|a| format!("backbone.layers.{i}.mixer.{a}")));
        }
        v
    }

    /// Every tensor into `file` as `{prefix}{name}`; `trainable_only` keeps tensors with a gradient.
    /// Mixer aliases (the shared Sin frequency's `.3.freq`, `.5.freq`) are written too.
    pub fn export(&self, file: &mut TensorFile, prefix: &str, trainable_only: bool) {
        for p in self.params() {
            if trainable_only && p.kind != ParamKind::Trainable {
                continue;
            }
            file.insert_float(format!("{prefix}{}", p.name), p.shape.clone(), p.data.iter().map(|x| x.as_f64()).collect());
        }
        if !trainable_only {
            for (i, blk) in self.layers.iter().enumerate() {
                let aliases = blk.mixer.aliases();
                if aliases.is_empty() {
                    continue;
                }
                let src = blk.mixer.params().into_iter().find(|p| p.name.ends_with("implicit_filter.1.freq"));
                if let Some(src) = src {
                    for a in aliases {
                        file.insert_float(
                            format!("{prefix}backbone.layers.{i}.mixer.{a}"),
                            src.shape.clone(),
                            src.data.iter().map(|x| x.as_f64()).collect(),
                        );
                    }
                }
            }
        }
    }

    /// Checks `ids [B, L]` against the config (B, L ≥ 1, L ≤ l_max) and that the activations of
    /// every position fit in `usize`; returns the position count B·L.
    fn check_ids(&self, ids: &[i64], b: usize, l: usize) -> Result<usize> {
        if b == 0 || l == 0 || b.checked_mul(l) != Some(ids.len()) {
            return Err(ModelError::TensorShape { name: "input_ids".into(), expected: vec![b, l], got: vec![ids.len()] });
        }
        if l > self.cfg.l_max {
            return Err(ModelError::TooLong { l, l_max: self.cfg.l_max });
        }
        let n = b * l;
        crate::operator::mul("logits [B, L, rows]", n, self.vocab_rows)?;
        crate::operator::mul("MLP activations [B, L, d_inner]", n, self.cfg.d_inner)?;
        Ok(n)
    }

    /// Forward pass on `ids [B, L]`: hidden states and logits, with the cache for the backward pass.
    #[allow(clippy::type_complexity)]
    pub fn forward(&self, ids: &[i64], b: usize, l: usize) -> Result<(LmOutput<T>, LmCache<T, M::Cache>)> {
        let (d, di, eps) = (self.cfg.d_model, self.cfg.d_inner, self.cfg.layer_norm_eps);
        let n = self.check_ids(ids, b, l)?;
        let mut h = layers::embedding_fwd(ids, &self.embedding, self.vocab_rows, d)?;
        let mut resid: Option<Vec<T>> = None;
        let mut blocks = Vec::with_capacity(self.layers.len());
        for blk in &self.layers {
            let r = match resid.take() {
                None => h,
                Some(mut r) => {
                    add_into(&mut r, &h);
                    r
                }
            };
            let (n1, ln1) = layers::layernorm_fwd(&r, &blk.norm1_weight, &blk.norm1_bias, n, d, eps)?;
            let (m, mix) = blk.mixer.forward(&n1, b, l)?;
            let mut r2 = m;
            add_into(&mut r2, &r);
            let (n2, ln2) = layers::layernorm_fwd(&r2, &blk.norm2_weight, &blk.norm2_bias, n, d, eps)?;
            let mut a = try_vec("MLP activations [B, L, d_inner]", n * di, T::zero())?;
            linear_fwd(&n2, &blk.fc1_weight, Some(&blk.fc1_bias), n, d, di, &mut a)?;
            let g = layers::gelu_tanh_fwd(&a);
            let mut out = vec![T::zero(); n * d];
            linear_fwd(&g, &blk.fc2_weight, Some(&blk.fc2_bias), n, di, d, &mut out)?;
            h = out;
            resid = Some(r2.clone());
            blocks.push(BlockCache { resid: r, ln1, mix, resid2: r2, ln2, n2, a, g });
        }
        let resid_f = match resid {
            None => h,
            Some(mut r) => {
                add_into(&mut r, &h);
                r
            }
        };
        let (hidden, lnf) = layers::layernorm_fwd(&resid_f, &self.ln_f_weight, &self.ln_f_bias, n, d, eps)?;
        let rows = self.vocab_rows;
        // B·L·rows is backed by no input (the ids and the embedding hold B·L and rows·d).
        let mut logits = try_vec("logits [B, L, rows]", n * rows, T::zero())?;
        matmul(&mut logits, &hidden, &self.embedding, n, rows, d, false, true, false)?;
        let cache = LmCache { b, l, ids: ids.to_vec(), blocks, resid_f, lnf, hidden: hidden.clone() };
        Ok((LmOutput { hidden, logits }, cache))
    }

    /// Forward pass for inference: the outputs of [`Self::forward`] with no cache (each block's
    /// activations are freed as soon as the next block has its input, and the mixers run
    /// [`Mixer::infer`]).
    pub fn infer(&self, ids: &[i64], b: usize, l: usize) -> Result<LmOutput<T>> {
        let (d, di, eps) = (self.cfg.d_model, self.cfg.d_inner, self.cfg.layer_norm_eps);
        let n = self.check_ids(ids, b, l)?;
        // The residual stream r and the block output h, as in forward: r ← r + h before each block.
        let mut h = layers::embedding_fwd(ids, &self.embedding, self.vocab_rows, d)?;
        let mut resid: Option<Vec<T>> = None;
        for blk in &self.layers {
            let r = match resid.take() {
                None => h,
                Some(mut r) => {
                    add_into(&mut r, &h);
                    r
                }
            };
            let (n1, _) = layers::layernorm_fwd(&r, &blk.norm1_weight, &blk.norm1_bias, n, d, eps)?;
            let mut r2 = blk.mixer.infer(&n1, b, l)?;
            drop(n1);
            add_into(&mut r2, &r);
            drop(r);
            let (n2, _) = layers::layernorm_fwd(&r2, &blk.norm2_weight, &blk.norm2_bias, n, d, eps)?;
            let mut a = try_vec("MLP activations [B, L, d_inner]", n * di, T::zero())?;
            linear_fwd(&n2, &blk.fc1_weight, Some(&blk.fc1_bias), n, d, di, &mut a)?;
            drop(n2);
            let g = layers::gelu_tanh_fwd(&a);
            drop(a);
            let mut out = vec![T::zero(); n * d];
            linear_fwd(&g, &blk.fc2_weight, Some(&blk.fc2_bias), n, di, d, &mut out)?;
            h = out;
            resid = Some(r2);
        }
        let resid_f = match resid {
            None => h,
            Some(mut r) => {
                add_into(&mut r, &h);
                r
            }
        };
        let (hidden, _) = layers::layernorm_fwd(&resid_f, &self.ln_f_weight, &self.ln_f_bias, n, d, eps)?;
        drop(resid_f);
        let rows = self.vocab_rows;
        // B·L·rows is backed by no input (the ids and the embedding hold B·L and rows·d).
        let mut logits = try_vec("logits [B, L, rows]", n * rows, T::zero())?;
        matmul(&mut logits, &hidden, &self.embedding, n, rows, d, false, true, false)?;
        Ok(LmOutput { hidden, logits })
    }

    /// Backward pass from `grad_logits [B, L, rows]`; accumulates every parameter gradient into
    /// `grads` (shaped like `self`, see [`HyenaLm::zeros_like`]).
    pub fn backward(&self, cache: &LmCache<T, M::Cache>, grad_logits: &[T], grads: &mut Self) -> Result<()> {
        let d = self.cfg.d_model;
        let di = self.cfg.d_inner;
        let n = cache.b * cache.l;
        let rows = self.vocab_rows;
        if cache.blocks.len() != self.layers.len() || grads.layers.len() != self.layers.len() {
            return Err(ModelError::Config(format!(
                "backward: model has {} blocks, cache {}, gradients {}",
                self.layers.len(),
                cache.blocks.len(),
                grads.layers.len()
            )));
        }
        if n.checked_mul(rows) != Some(grad_logits.len()) {
            return Err(ModelError::TensorShape { name: "grad_logits".into(), expected: vec![cache.b, cache.l, rows], got: vec![grad_logits.len()] });
        }
        // Tied head: logits = hidden · Eᵀ.
        let mut g_hidden = vec![T::zero(); n * d];
        matmul(&mut g_hidden, grad_logits, &self.embedding, n, d, rows, false, false, false)?;
        matmul(&mut grads.embedding, grad_logits, &cache.hidden, rows, d, n, true, false, true)?;
        let g_resid = layers::layernorm_bwd(
            &cache.resid_f,
            &self.ln_f_weight,
            &cache.lnf,
            &g_hidden,
            n,
            d,
            &mut grads.ln_f_weight,
            &mut grads.ln_f_bias,
        )?;
        // Gradients w.r.t. the last block's (h, res): both equal the gradient of h + res.
        let mut g_h = g_resid.clone();
        let mut g_r = g_resid;
        for (i, blk) in self.layers.iter().enumerate().rev() {
            let c = &cache.blocks[i];
            let gb = &mut grads.layers[i];
            // MLP.
            let mut g_g = vec![T::zero(); n * di];
            linear_bwd(&c.g, &blk.fc2_weight, &g_h, n, di, d, Some(&mut g_g), &mut gb.fc2_weight, Some(&mut gb.fc2_bias))?;
            let g_a = layers::gelu_tanh_bwd(&c.a, &g_g)?;
            let mut g_n2 = vec![T::zero(); n * d];
            linear_bwd(&c.n2, &blk.fc1_weight, &g_a, n, d, di, Some(&mut g_n2), &mut gb.fc1_weight, Some(&mut gb.fc1_bias))?;
            let g_r2_ln = layers::layernorm_bwd(&c.resid2, &blk.norm2_weight, &c.ln2, &g_n2, n, d, &mut gb.norm2_weight, &mut gb.norm2_bias)?;
            add_into(&mut g_r, &g_r2_ln);
            // res2 = mixer(norm1(res)) + res.
            let g_n1 = blk.mixer.backward(&c.mix, &g_r, &mut gb.mixer)?;
            let g_r_ln = layers::layernorm_bwd(&c.resid, &blk.norm1_weight, &c.ln1, &g_n1, n, d, &mut gb.norm1_weight, &mut gb.norm1_bias)?;
            add_into(&mut g_r, &g_r_ln);
            // res = h_prev + res_prev (or res = embedding at the first block).
            g_h = g_r.clone();
        }
        layers::embedding_bwd(&cache.ids, &g_h, rows, d, &mut grads.embedding)?;
        Ok(())
    }

    /// Forward, mean cross-entropy against `targets [B, L]` ([`IGNORE_INDEX`] skipped) and backward.
    /// Returns `(loss, output)`; gradients are accumulated into `grads`.
    pub fn loss_and_grad(&self, ids: &[i64], targets: &[i64], b: usize, l: usize, grads: &mut Self) -> Result<(f64, LmOutput<T>)> {
        let (out, cache) = self.forward(ids, b, l)?;
        let (loss, g_logits, _) = layers::cross_entropy(&out.logits, targets, b * l, self.vocab_rows)?;
        self.backward(&cache, &g_logits, grads)?;
        Ok((loss, out))
    }
}

fn add_into<T: Scalar>(dst: &mut [T], src: &[T]) {
    dst.iter_mut().zip(src).for_each(|(a, &b)| *a = *a + b);
}
