//! `hyena run` on a language model: when the weights file holds `backbone.…` keys (any prefix), run
//! the HyenaDNA LM on `input.input_ids` [B, L] (int64) and write `output.hidden`, `output.logits`,
//! `output.loss` (mean next-token cross-entropy over positions 0..L−2) and `grad.<param>` (the
//! gradient of the loss) under the golden files' names. Nothing is written on error.

use crate::backend::{on_device, Backend};
use crate::files::{config_json, save_results};
use hyena_kernels::Scalar;
use hyena_model::lm::{next_token_targets, Mixer};
use hyena_model::operator::ParamKind;
use hyena_model::{HyenaLm, LmConfig, ModelError, TensorFile};
use std::collections::BTreeSet;
use std::path::Path;

/// The configuration and the JSON it came from, with that JSON's name (`None`: defaults).
fn load_config(w: &TensorFile, config: Option<&Path>) -> Result<(LmConfig, Option<(serde_json::Value, String)>), ModelError> {
    match config_json(config, w, "weights metadata `config`")? {
        Some((v, origin)) => Ok((LmConfig::from_json(&v)?, Some((v, origin)))),
        None => {
            eprintln!("note: no `config` metadata and no --config: using HyenaDNA's defaults (layer_norm_eps 1e-5, modulate, shift 0.05); sizes from the shapes");
            Ok((LmConfig::default(), None))
        }
    }
}

/// The LM path, on the weights `w` whose LM keys start with `prefix`.
pub fn run<T: Scalar>(
    w: &TensorFile,
    prefix: &str,
    inputs: &Path,
    out_path: &Path,
    backend: Backend,
    config: Option<&Path>,
) -> Result<(), ModelError> {
    let (cfg, declared) = load_config(w, config)?;
    let lm = HyenaLm::<T>::from_tensors(w, prefix, &cfg)?;
    if let Some((v, origin)) = &declared {
        hyena_model::config::check_declared_sizes(&LmConfig::flatten_json(v), &lm.cfg.size_fields(), origin)?;
    }
    // Every `backbone.` tensor must be one the model knows; training checkpoints' `optim.` tensors
    // are ignored; anything else is an error.
    let known: BTreeSet<String> = lm.known_names().into_iter().map(|n| format!("{prefix}{n}")).collect();
    for k in w.tensors.keys() {
        if known.contains(k) || (prefix.is_empty() && k.starts_with("optim.")) {
            continue;
        }
        return Err(ModelError::UnknownTensor(k.clone()));
    }
    let inp = TensorFile::load(inputs)?;
    let (is, ids) = inp.int("input.input_ids")?;
    if is.len() != 2 || is[0] == 0 || is[1] == 0 {
        return Err(ModelError::TensorShape { name: "input.input_ids".into(), expected: vec![is.first().copied().unwrap_or(1).max(1), lm.cfg.l_max], got: is.to_vec() });
    }
    for k in inp.tensors.keys() {
        if k != "input.input_ids" {
            return Err(ModelError::UnknownTensor(k.clone()));
        }
    }
    let (b, l) = (is[0], is[1]);
    let (n_layer, d_model, vocab_rows) = (lm.cfg.n_layer, lm.cfg.d_model, lm.vocab_rows);
    let mut f = match backend.open_for("--backend", "run")? {
        None => pass(&lm, ids, b, l)?,
        Some(dev) => pass(&lm.map_mixers(|op| on_device(op, &dev))?, ids, b, l)?,
    };
    save_results::<T>(&mut f, out_path, backend)?;
    let loss = f.float("output.loss", None)?.1.first().copied().unwrap_or(f64::NAN);
    eprintln!(
        "wrote {} ({} tensors; LM with {n_layer} layers, D={d_model}, vocab rows {vocab_rows}; B={b} L={l}; loss {loss:.6}; {}, backend {backend:?})",
        out_path.display(),
        f.tensors.len(),
        T::NAME
    );
    Ok(())
}

/// Loss, outputs and gradients of the LM (any mixer) into the output file's tensors.
fn pass<T: Scalar, M: Mixer<T>>(lm: &HyenaLm<T, M>, ids: &[i64], b: usize, l: usize) -> Result<TensorFile, ModelError> {
    let targets = next_token_targets(ids, b, l);
    let mut grads = lm.zeros_like();
    let (loss, out) = lm.loss_and_grad(ids, &targets, b, l, &mut grads)?;
    let f64v = |v: &[T]| v.iter().map(|x| x.as_f64()).collect::<Vec<f64>>();
    let mut f = TensorFile::default();
    f.insert_float("output.hidden", vec![b, l, lm.cfg.d_model], f64v(&out.hidden));
    f.insert_float("output.logits", vec![b, l, lm.vocab_rows], f64v(&out.logits));
    f.insert_float("output.loss", vec![1], vec![loss]);
    for p in grads.params() {
        if p.kind == ParamKind::Trainable {
            f.insert_float(format!("grad.{}", p.name), p.shape.clone(), f64v(p.data));
        }
    }
    Ok(f)
}
