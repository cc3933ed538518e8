//! Hyper-parameters of the Hyena operator, with safari's defaults, readable from the JSON object
//! in a safetensors file's `config` metadata or from a JSON file with the same fields.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};

/// The most tensor elements this library allocates for one model's parameters (2³², 32 GiB in
/// f64): larger sizes are refused with [`ModelError::TooLarge`] instead of aborting the process
/// on a failed allocation.
pub const MAX_ELEMENTS: usize = 1 << 32;

/// A config file's size fields must agree with the sizes the tensors' shapes give: every key of
/// `actual` that the JSON object `v` holds must be the same non-negative integer. `origin`
/// names the config in the error. Keys absent from `v` are not checked (the shapes decide).
pub fn check_declared_sizes(v: &serde_json::Value, actual: &[(&str, usize)], origin: &str) -> Result<()> {
    for &(key, got) in actual {
        let Some(x) = v.get(key) else { continue };
        if x.as_u64() != Some(got as u64) {
            return Err(ModelError::Config(format!("{origin}: `{key}` is {x}, but the tensors' shapes give {got}")));
        }
    }
    Ok(())
}

/// Hyper-parameters of one Hyena operator (safari `HyenaOperator` + `HyenaFilter`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperatorConfig {
    /// Width D.
    pub d_model: usize,
    /// Longest sequence; the positional embedding is built for it.
    pub l_max: usize,
    /// Depth N of the recurrence (≥ 2).
    pub order: usize,
    /// Width of the filter FFN.
    pub filter_order: usize,
    /// Positional-embedding width (odd, ≥ 3).
    pub emb_dim: usize,
    /// Initial Sin frequency.
    pub w: f64,
    /// Number of inner (F→F) layers of the filter FFN.
    pub num_inner_mlps: usize,
    /// Apply the exponential modulation.
    pub modulate: bool,
    /// Modulation shift (0.0 safari, 0.05 hyena-dna).
    pub shift: f64,
    /// Normalise the filter (L1 over channels at each position).
    pub normalized: bool,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            d_model: 256,
            l_max: 1024,
            order: 2,
            filter_order: 64,
            emb_dim: 3,
            w: 1.0,
            num_inner_mlps: 2,
            modulate: true,
            shift: 0.0,
            normalized: false,
        }
    }
}

impl OperatorConfig {
    /// The size fields with their values, for [`check_declared_sizes`].
    pub fn size_fields(&self) -> [(&'static str, usize); 6] {
        [
            ("d_model", self.d_model),
            ("l_max", self.l_max),
            ("order", self.order),
            ("filter_order", self.filter_order),
            ("emb_dim", self.emb_dim),
            ("num_inner_mlps", self.num_inner_mlps),
        ]
    }

    /// Check that the values can build an operator.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.d_model == 0 {
            return bad("d_model must be positive".into());
        }
        if self.order < 2 {
            return bad(format!("order must be at least 2, got {}", self.order));
        }
        if self.l_max == 0 {
            return bad("l_max must be positive".into());
        }
        if self.filter_order == 0 {
            return bad("filter_order must be positive".into());
        }
        if self.emb_dim < 3 || self.emb_dim % 2 == 0 {
            return bad(format!("emb_dim must be odd and at least 3, got {}", self.emb_dim));
        }
        if !self.shift.is_finite() || !self.w.is_finite() {
            return bad("shift and w must be finite".into());
        }
        let n = self.param_count()?;
        if n > MAX_ELEMENTS {
            return Err(ModelError::TooLarge {
                what: "operator".into(),
                detail: format!("{n} parameters (d_model {}, order {}, l_max {}, filter_order {}, emb_dim {}, num_inner_mlps {}); the limit is {MAX_ELEMENTS}", self.d_model, self.order, self.l_max, self.filter_order, self.emb_dim, self.num_inner_mlps),
            });
        }
        Ok(())
    }

    /// Number of tensor elements of an operator of this configuration (buffers included),
    /// computed with checked arithmetic.
    pub fn param_count(&self) -> Result<usize> {
        let too_large = || ModelError::TooLarge { what: "operator configuration".into(), detail: format!("sizes overflow: {self:?}") };
        let m = |a: usize, b: usize| a.checked_mul(b).ok_or_else(too_large);
        let s = |xs: &[usize]| xs.iter().try_fold(0usize, |a, &x| a.checked_add(x)).ok_or_else(too_large);
        let (d, f, e) = (self.d_model, self.filter_order, self.emb_dim);
        let c3 = m(d, self.order.checked_add(1).ok_or_else(too_large)?)?;
        let cf = m(d, self.order.saturating_sub(1))?;
        let inner = m(self.num_inner_mlps, s(&[m(f, f)?, f])?)?;
        s(&[m(c3, d)?, c3, m(d, d)?, d, m(c3, 3)?, c3, cf, m(self.l_max, e)?, self.l_max, m(f, e)?, f, inner, f, m(cf, f)?, cf])
    }

    /// Parse from a JSON value; unknown fields (such as `kind`, `batch`, `note`) are ignored.
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        serde_json::from_value(v.clone()).map_err(|e| ModelError::Config(format!("invalid operator config: {e}")))
    }
}
