//! `hyena run`: forward/backward of an operator, or loss and gradients of a language model
//! (`run_lm.rs`), on files, for conformance checks. The weights file is loaded once; its keys
//! decide which of the two runs.

use crate::backend::{on_device, Backend, Precision};
use crate::files::{check_finite, check_out_path, config_json, save_results};
use clap::Args;
use hyena_kernels::Scalar;
use hyena_model::lm::Mixer;
use hyena_model::operator::ParamKind;
use hyena_model::tensors::{save_floats, TensorIndex};
use hyena_model::{HyenaLm, HyenaOperator, ModelError, OperatorConfig, TensorFile};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Parameters under their original names (a `weights.` or any module prefix is accepted).
    #[arg(long)]
    weights: PathBuf,
    /// Inputs: `input.u` [B, L, D] and optionally `input.grad_y` [B, L, D].
    #[arg(long)]
    inputs: PathBuf,
    /// Where to write `output.y` (and `output.grad_u`, `grad.<param>` with grad_y).
    #[arg(long)]
    out: PathBuf,
    /// Arithmetic precision (default: f64 on the CPU; f32, the kernels' widest storage, on a
    /// device backend, which does not take f64).
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Backend to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// JSON file with hyper-parameters the shapes cannot tell (modulate, shift, normalized, …);
    /// default: the weights file's `config` metadata, else safari's defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Operator with `input.grad_y` on the CPU: keep the forward's activations for the backward
    /// while they take at most this many MiB, else recompute them per channel group (0: always
    /// recompute; default 2048, the operator's `CachePolicy::Auto`).
    #[arg(long)]
    train_cache_mib: Option<usize>,
}

/// Find the module prefix: the text before `in_proj.weight` in the one key that ends with it.
fn find_prefix(w: &TensorFile) -> Result<String, ModelError> {
    let hits: Vec<&String> = w.tensors.keys().filter(|k| k.ends_with("in_proj.weight")).collect();
    match hits.as_slice() {
        [one] => Ok(one[..one.len() - "in_proj.weight".len()].to_string()),
        [] => Err(ModelError::MissingTensor("in_proj.weight".into())),
        many => Err(ModelError::Config(format!(
            "{} operators in the weights file ({}…); `hyena run` takes one operator",
            many.len(),
            many[0]
        ))),
    }
}

/// The configuration, with the JSON it came from and that JSON's name (for the check of its
/// size fields against the shapes); `None` when safari's defaults are used.
fn load_config(args: &RunArgs, w: &TensorFile) -> Result<(OperatorConfig, Option<(serde_json::Value, String)>), ModelError> {
    let origin = format!("{}: metadata `config`", args.weights.display());
    match config_json(args.config.as_deref(), w, &origin)? {
        Some((v, origin)) => Ok((OperatorConfig::from_json(&v)?, Some((v, origin)))),
        None => {
            eprintln!("note: no `config` metadata and no --config: using safari's defaults (modulate=true, shift=0.0, normalized=false)");
            Ok((OperatorConfig::default(), None))
        }
    }
}

/// The operator path, on the weights `w` loaded from `args.weights`.
fn run_operator<T: Scalar>(args: &RunArgs, w: &TensorFile) -> Result<(), ModelError> {
    let prefix = find_prefix(w)?;
    let (cfg, declared) = load_config(args, w)?;
    let mut op = HyenaOperator::<T>::from_tensors(w, &prefix, &cfg)?;
    op.set_cache_policy(hyena_model::operator::CachePolicy::from_budget_mib(args.train_cache_mib));
    if let Some((v, origin)) = &declared {
        hyena_model::config::check_declared_sizes(v, &op.cfg.size_fields(), origin)?;
    }
    // Every tensor under the prefix must be one the operator knows.
    let mut known: BTreeSet<String> = op.params().into_iter().map(|p| p.name).collect();
    for i in 1..op.filter.layers.len() {
        known.insert(format!("filter_fn.implicit_filter.{}.freq", 2 * i + 1));
    }
    for k in w.tensors.keys() {
        match k.strip_prefix(&prefix) {
            Some(rest) if known.contains(rest) => {}
            _ => return Err(ModelError::UnknownTensor(k.clone())),
        }
    }
    // Inputs straight into T (no f64 copy, no byte image of the file held).
    let inp = TensorIndex::open(&args.inputs)?;
    let (us, u) = inp.read_float::<T>("input.u", None)?;
    let d = op.cfg.d_model;
    if us.len() != 3 || us[2] != d {
        return Err(ModelError::TensorShape { name: "input.u".into(), expected: vec![us.first().copied().unwrap_or(1), us.get(1).copied().unwrap_or(1), d], got: us.to_vec() });
    }
    let us = &us[..];
    let (b, l) = (us[0], us[1]);
    if l > op.cfg.l_max {
        return Err(ModelError::TooLong { l, l_max: op.cfg.l_max });
    }
    check_finite("input.u", &u)?;
    let grad_y: Option<Vec<T>> = match inp.tensors.contains_key("input.grad_y") {
        true => Some(inp.read_float::<T>("input.grad_y", Some(us))?.1),
        false => None,
    };
    if let Some(gy) = &grad_y {
        check_finite("input.grad_y", gy)?;
    }
    for k in inp.tensors.keys() {
        if k != "input.u" && k != "input.grad_y" {
            return Err(ModelError::UnknownTensor(k.clone()));
        }
    }
    let (order, device) = (op.cfg.order, args.backend.open_for("--backend", "run")?);
    if grad_y.is_none() {
        // Inference: the lean path (no cache for a backward pass), the output streamed to disk.
        let y = match device {
            None => op.infer(&u, b, l)?,
            Some(dev) => on_device(op, &dev)?.infer(&u, b, l)?,
        };
        drop(u);
        // One call: the workspaces the operator keeps for a next call (up to one channel
        // group's, 512 MiB) would only add to the peak while the output is written.
        hyena_model::pool::release();
        check_finite("output.y", &y)?;
        let meta = [("precision", T::NAME.to_string()), ("backend", args.backend.name().to_string())];
        let meta = meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        save_floats(&args.out, &[("output.y", us, &y)], &meta, crate::files::dtype_of::<T>())?;
        eprintln!("wrote {} (1 tensor, B={b} L={l} D={d}, order {order}, {}, backend {:?})", args.out.display(), T::NAME, args.backend);
        return Ok(());
    }
    let mut out = match device {
        None => pass(&op, &u, grad_y.as_deref(), us)?,
        Some(dev) => pass(&on_device(op, &dev)?, &u, grad_y.as_deref(), us)?,
    };
    save_results::<T>(&mut out, &args.out, args.backend)?;
    eprintln!("wrote {} ({} tensors, B={b} L={l} D={d}, order {order}, {}, backend {:?})", args.out.display(), out.tensors.len(), T::NAME, args.backend);
    Ok(())
}

/// Forward (and backward when `grad_y` is given) of any mixer, into the output file's tensors.
fn pass<T: Scalar, M: Mixer<T>>(m: &M, u: &[T], grad_y: Option<&[T]>, us: &[usize]) -> Result<TensorFile, ModelError> {
    let (b, l) = (us[0], us[1]);
    let (y, cache) = m.forward(u, b, l)?;
    let mut out = TensorFile::default();
    let f64v = |v: &[T]| v.iter().map(|x| x.as_f64()).collect::<Vec<f64>>();
    out.insert_float("output.y", us.to_vec(), f64v(&y));
    if let Some(gy) = grad_y {
        let mut grads = m.zeros_like();
        let gu = m.backward(&cache, gy, &mut grads)?;
        out.insert_float("output.grad_u", us.to_vec(), f64v(&gu));
        for p in grads.params() {
            if p.kind == ParamKind::Trainable {
                out.insert_float(format!("grad.{}", p.name), p.shape.clone(), f64v(p.data));
            }
        }
    }
    Ok(out)
}

/// The precision a run uses: as asked, else f64 on the CPU and f32 on a device; f64 on a device
/// is an error (the kernels store f32, bf16 or f16).
pub fn effective_precision(asked: Option<Precision>, backend: Backend) -> Result<Precision, ModelError> {
    match (asked, backend) {
        (None, Backend::Cpu) => Ok(Precision::F64),
        (None, _) => Ok(Precision::F32),
        (Some(Precision::F64), Backend::Sim | Backend::Cuda) => Err(ModelError::Config(format!(
            "--precision f64 is CPU-only: the device kernels ({:?}) store f32, bf16 or f16; use --precision f32",
            backend
        ))),
        (Some(p), _) => Ok(p),
    }
}

pub fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let precision = effective_precision(args.precision, args.backend)?;
    let mut inputs = vec![("--weights", args.weights.as_path()), ("--inputs", args.inputs.as_path())];
    if let Some(c) = &args.config {
        inputs.push(("--config", c.as_path()));
    }
    check_out_path(&args.out, "--out", &inputs)?;
    let w = TensorFile::load(&args.weights)?;
    // A weights file holding `backbone.…` keys is a language model.
    match (HyenaLm::<f64>::find_prefix(&w)?, precision) {
        (Some(prefix), Precision::F32) => crate::run_lm::run::<f32>(&w, &prefix, &args.inputs, &args.out, args.backend, args.config.as_deref())?,
        (Some(prefix), Precision::F64) => crate::run_lm::run::<f64>(&w, &prefix, &args.inputs, &args.out, args.backend, args.config.as_deref())?,
        (None, Precision::F32) => run_operator::<f32>(&args, &w)?,
        (None, Precision::F64) => run_operator::<f64>(&args, &w)?,
    }
    Ok(())
}
