//! Hyper-parameters of the Hyena operator, with safari's defaults, readable from the JSON object
//! in a safetensors file's `config` metadata or from a JSON file with the same fields.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};

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
        Ok(())
    }

    /// Parse from a JSON value; unknown fields (such as `kind`, `batch`, `note`) are ignored.
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        serde_json::from_value(v.clone()).map_err(|e| ModelError::Config(format!("invalid operator config: {e}")))
    }
}
