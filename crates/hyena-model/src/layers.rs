//! CPU layer ops of the language model, forward and backward: LayerNorm, tanh-approximated GELU,
//! token embedding, and softmax cross-entropy.
//!
//! Every function is generic over [`Scalar`] and takes flat row-major slices. Reductions whose
//! rounding error would grow with the row length (LayerNorm statistics, the softmax and the loss)
//! are carried out in f64 whatever `T` is, so that f32 storage stays within 1e-5 of a float64
//! reference.

use crate::error::{ModelError, Result};
use hyena_kernels::error::{shape_len, try_vec};
use hyena_kernels::Scalar;

fn len_err(what: &str, got: usize, expected: usize) -> ModelError {
    ModelError::Kernel(hyena_kernels::HyenaError::Shape {
        what: what.to_string(),
        expected: expected.to_string(),
        got: got.to_string(),
    })
}

fn check(what: &str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(len_err(what, got, expected));
    }
    Ok(())
}

/// [`check`] against the product of `dims`, computed without overflow (sizes are caller input:
/// a wrapped product could match a short buffer). Returns the product.
fn check_dims(what: &str, got: usize, dims: &[usize]) -> Result<usize> {
    let n = shape_len(what, dims)?;
    check(what, got, n)?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// LayerNorm
// ---------------------------------------------------------------------------------------------

/// Per-row statistics kept by [`layernorm_fwd`] for [`layernorm_bwd`].
#[derive(Clone, Debug, Default)]
pub struct LayerNormCache {
    /// Mean of each row.
    pub mean: Vec<f64>,
    /// 1/sqrt(var + eps) of each row (biased variance, as PyTorch).
    pub rstd: Vec<f64>,
}

/// `y = (x − mean) / sqrt(var + eps) · w + b` over the last dimension `d` of `x [rows, d]`.
pub fn layernorm_fwd<T: Scalar>(x: &[T], w: &[T], b: &[T], rows: usize, d: usize, eps: f64) -> Result<(Vec<T>, LayerNormCache)> {
    let n = check_dims("layernorm x [rows, d]", x.len(), &[rows, d])?;
    check("layernorm weight [d]", w.len(), d)?;
    check("layernorm bias [d]", b.len(), d)?;
    if d == 0 {
        return Err(ModelError::Config("layernorm over an empty dimension".into()));
    }
    // rows ≤ x.len() now (d ≥ 1), so the capacities below are backed by the input.
    let mut y = try_vec("layernorm y [rows, d]", n, T::zero())?;
    let mut cache = LayerNormCache { mean: Vec::with_capacity(rows), rstd: Vec::with_capacity(rows) };
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let mean = xr.iter().map(|v| v.as_f64()).sum::<f64>() / d as f64;
        let var = xr.iter().map(|v| (v.as_f64() - mean).powi(2)).sum::<f64>() / d as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for ((o, &xv), (&wv, &bv)) in yr.iter_mut().zip(xr).zip(w.iter().zip(b)) {
            *o = T::lit((xv.as_f64() - mean) * rstd * wv.as_f64() + bv.as_f64());
        }
        cache.mean.push(mean);
        cache.rstd.push(rstd);
    }
    Ok((y, cache))
}

/// Backward of [`layernorm_fwd`]: returns `grad_x [rows, d]` and accumulates (`+=`) into
/// `grad_w [d]` and `grad_b [d]`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_bwd<T: Scalar>(
    x: &[T],
    w: &[T],
    cache: &LayerNormCache,
    grad_y: &[T],
    rows: usize,
    d: usize,
    grad_w: &mut [T],
    grad_b: &mut [T],
) -> Result<Vec<T>> {
    let n = check_dims("layernorm_bwd x [rows, d]", x.len(), &[rows, d])?;
    check("layernorm_bwd grad_y [rows, d]", grad_y.len(), n)?;
    check("layernorm_bwd weight [d]", w.len(), d)?;
    check("layernorm_bwd grad_w [d]", grad_w.len(), d)?;
    check("layernorm_bwd grad_b [d]", grad_b.len(), d)?;
    check("layernorm_bwd cache rows", cache.mean.len(), rows)?;
    check("layernorm_bwd cache rows (rstd)", cache.rstd.len(), rows)?;
    let mut gx = try_vec("layernorm_bwd grad_x [rows, d]", n, T::zero())?;
    let mut gw = vec![0f64; d];
    let mut gb = vec![0f64; d];
    let mut xhat = vec![0f64; d];
    let mut dxhat = vec![0f64; d];
    for r in 0..rows {
        let (mean, rstd) = (cache.mean[r], cache.rstd[r]);
        let xr = &x[r * d..(r + 1) * d];
        let gr = &grad_y[r * d..(r + 1) * d];
        let (mut s1, mut s2) = (0f64, 0f64);
        for j in 0..d {
            let g = gr[j].as_f64();
            xhat[j] = (xr[j].as_f64() - mean) * rstd;
            dxhat[j] = g * w[j].as_f64();
            gw[j] += g * xhat[j];
            gb[j] += g;
            s1 += dxhat[j];
            s2 += dxhat[j] * xhat[j];
        }
        let (m1, m2) = (s1 / d as f64, s2 / d as f64);
        for j in 0..d {
            gx[r * d + j] = T::lit(rstd * (dxhat[j] - m1 - xhat[j] * m2));
        }
    }
    for j in 0..d {
        grad_w[j] = T::lit(grad_w[j].as_f64() + gw[j]);
        grad_b[j] = T::lit(grad_b[j].as_f64() + gb[j]);
    }
    Ok(gx)
}

// ---------------------------------------------------------------------------------------------
// GELU (tanh approximation, PyTorch `approximate='tanh'`)
// ---------------------------------------------------------------------------------------------

const GELU_K: f64 = 0.797_884_560_802_865_4; // sqrt(2/pi)
const GELU_C: f64 = 0.044_715;

/// `gelu(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, elementwise.
pub fn gelu_tanh_fwd<T: Scalar>(x: &[T]) -> Vec<T> {
    x.iter()
        .map(|&v| {
            let x = v.as_f64();
            T::lit(0.5 * x * (1.0 + (GELU_K * (x + GELU_C * x * x * x)).tanh()))
        })
        .collect()
}

/// Backward of [`gelu_tanh_fwd`] given its input `x`: returns `grad_x`.
pub fn gelu_tanh_bwd<T: Scalar>(x: &[T], grad_y: &[T]) -> Result<Vec<T>> {
    check("gelu_bwd grad_y", grad_y.len(), x.len())?;
    Ok(x.iter()
        .zip(grad_y)
        .map(|(&v, &g)| {
            let x = v.as_f64();
            let t = (GELU_K * (x + GELU_C * x * x * x)).tanh();
            let d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
            T::lit(g.as_f64() * d)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Token embedding
// ---------------------------------------------------------------------------------------------

/// Check that every id lies in `0..rows`; `what` names the tensor in the error.
pub fn check_ids(what: &str, ids: &[i64], rows: usize) -> Result<()> {
    if let Some((i, &id)) = ids.iter().enumerate().find(|(_, &id)| id < 0 || id as u64 >= rows as u64) {
        return Err(ModelError::Config(format!(
            "`{what}` element {i} is token id {id}, outside the embedding's 0..{rows}"
        )));
    }
    Ok(())
}

/// Gather rows of `table [rows, d]`: `out [ids.len(), d]`.
pub fn embedding_fwd<T: Scalar>(ids: &[i64], table: &[T], rows: usize, d: usize) -> Result<Vec<T>> {
    check_dims("embedding table [rows, d]", table.len(), &[rows, d])?;
    check_ids("input_ids", ids, rows)?;
    // ids.len()·d is backed by neither input (many ids may gather the same row).
    let n = shape_len("embedding output [ids, d]", &[ids.len(), d])?;
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| hyena_kernels::HyenaError::Alloc {
        what: "embedding output [ids, d]".into(),
        bytes: n as u128 * std::mem::size_of::<T>() as u128,
    })?;
    for &id in ids {
        let r = id as usize;
        out.extend_from_slice(&table[r * d..(r + 1) * d]);
    }
    Ok(out)
}

/// Backward of [`embedding_fwd`]: scatter-adds `grad_out [ids.len(), d]` into `grad_table [rows, d]`.
pub fn embedding_bwd<T: Scalar>(ids: &[i64], grad_out: &[T], rows: usize, d: usize, grad_table: &mut [T]) -> Result<()> {
    check_dims("embedding_bwd grad_out", grad_out.len(), &[ids.len(), d])?;
    check_dims("embedding_bwd grad_table", grad_table.len(), &[rows, d])?;
    check_ids("input_ids", ids, rows)?;
    for (&id, g) in ids.iter().zip(grad_out.chunks_exact(d.max(1))) {
        let r = id as usize;
        for (a, &x) in grad_table[r * d..(r + 1) * d].iter_mut().zip(g) {
            *a = *a + x;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy
// ---------------------------------------------------------------------------------------------

/// Target value meaning "no loss at this position" (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Mean cross-entropy of `logits [n, v]` against `targets [n]` (entries equal to
/// [`IGNORE_INDEX`] are skipped), and its gradient with respect to the logits (zero on skipped
/// rows). Computed in f64. Returns `(loss, grad_logits, counted)`; with nothing counted the loss
/// is 0 and the gradient zero.
pub fn cross_entropy<T: Scalar>(logits: &[T], targets: &[i64], n: usize, v: usize) -> Result<(f64, Vec<T>, usize)> {
    let nv = check_dims("cross_entropy logits [n, vocab]", logits.len(), &[n, v])?;
    check("cross_entropy targets [n]", targets.len(), n)?;
    let counted = targets.iter().filter(|&&t| t != IGNORE_INDEX).count();
    if let Some((i, &t)) = targets.iter().enumerate().find(|(_, &t)| t != IGNORE_INDEX && (t < 0 || t as u64 >= v as u64)) {
        return Err(ModelError::Config(format!("target {i} is {t}, outside 0..{v}")));
    }
    let mut grad = try_vec("cross_entropy grad [n, vocab]", nv, T::zero())?;
    if counted == 0 {
        return Ok((0.0, grad, 0));
    }
    let scale = 1.0 / counted as f64;
    let mut total = 0f64;
    let mut p = vec![0f64; v];
    for r in 0..n {
        let t = targets[r];
        if t == IGNORE_INDEX {
            continue;
        }
        let row = &logits[r * v..(r + 1) * v];
        let mx = row.iter().map(|x| x.as_f64()).fold(f64::NEG_INFINITY, f64::max);
        let mut s = 0f64;
        for (pj, &x) in p.iter_mut().zip(row) {
            *pj = (x.as_f64() - mx).exp();
            s += *pj;
        }
        let lse = mx + s.ln();
        total += lse - row[t as usize].as_f64();
        for (j, pj) in p.iter().enumerate() {
            let onehot = if j == t as usize { 1.0 } else { 0.0 };
            grad[r * v + j] = T::lit((pj / s - onehot) * scale);
        }
    }
    Ok((total * scale, grad, counted))
}

/// Index of the largest entry of each row of `logits [n, v]` (first one on ties).
pub fn argmax_rows<T: Scalar>(logits: &[T], v: usize) -> Vec<usize> {
    logits
        .chunks_exact(v.max(1))
        .map(|row| {
            let mut best = 0;
            for (j, x) in row.iter().enumerate() {
                if *x > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}
