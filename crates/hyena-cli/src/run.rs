//! `hyena run`: forward/backward of an operator on files, for conformance checks.

use clap::{Args, ValueEnum};
use hyena_kernels::Scalar;
use hyena_model::lm::Mixer;
use hyena_model::operator::ParamKind;
use hyena_model::tensors::{save_floats, TensorIndex};
use hyena_model::{HyenaOperator, ModelError, OperatorConfig, TensorFile};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Precision {
    F32,
    F64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Backend {
    /// The CPU backend.
    Cpu,
    /// The CUDA device abstraction on the SIMT simulator (build feature `sim`).
    Sim,
    /// The CUDA device abstraction on a GPU (build feature `cuda`).
    Cuda,
}

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
type Loaded<C> = (C, Option<(serde_json::Value, String)>);

fn load_config(args: &RunArgs, w: &TensorFile) -> Result<Loaded<OperatorConfig>, ModelError> {
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ModelError::Io { path: path.display().to_string(), source: e })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::Config(format!("{}: invalid JSON: {e}", path.display())))?;
        return Ok((OperatorConfig::from_json(&v)?, Some((v, path.display().to_string()))));
    }
    match w.config_json()? {
        Some(v) => Ok((OperatorConfig::from_json(&v)?, Some((v, format!("{}: metadata `config`", args.weights.display()))))),
        None => {
            eprintln!("note: no `config` metadata and no --config: using safari's defaults (modulate=true, shift=0.0, normalized=false)");
            Ok((OperatorConfig::default(), None))
        }
    }
}

/// A run whose results hold a NaN or an infinity fails (naming the first such tensor) instead of
/// writing them with exit status 0.
pub fn check_outputs_finite(f: &TensorFile) -> Result<(), ModelError> {
    for (name, t) in &f.tensors {
        if let hyena_model::tensors::TensorData::Float(v) = &t.data {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(ModelError::NonFinite { name: name.clone(), index: i });
            }
        }
    }
    Ok(())
}

/// Whether `a` and `b` name the same existing file (same device and inode, so hard links and
/// symbolic links count; elsewhere the canonical paths).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
        false
    }
    #[cfg(not(unix))]
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Refuse an output path that is one of the inputs: writing it would replace the input.
pub fn check_out_path(out: &std::path::Path, out_flag: &str, inputs: &[(&str, &std::path::Path)]) -> Result<(), ModelError> {
    for (flag, p) in inputs {
        if same_file(out, p) {
            return Err(ModelError::Config(format!(
                "{out_flag} {} is the same file as {flag} {}: refusing to overwrite an input",
                out.display(),
                p.display()
            )));
        }
    }
    Ok(())
}

/// Refuse values that are not finite in `T` (1e308 is finite in f64, not in f32).
fn check_finite<T: Scalar>(name: &str, v: &[T]) -> Result<(), ModelError> {
    match v.iter().position(|x| !x.as_f64().is_finite()) {
        Some(i) => Err(ModelError::NonFinite { name: name.into(), index: i }),
        None => Ok(()),
    }
}

fn run_typed<T: Scalar>(args: &RunArgs) -> Result<(), ModelError> {
    let w = TensorFile::load(&args.weights)?;
    let prefix = find_prefix(&w)?;
    let (cfg, declared) = load_config(args, &w)?;
    let op = HyenaOperator::<T>::from_tensors(&w, &prefix, &cfg)?;
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
    let (order, device) = (op.cfg.order, open_device(args.backend)?);
    let dtype = if T::NAME == "f32" { safetensors::Dtype::F32 } else { safetensors::Dtype::F64 };
    if grad_y.is_none() {
        // Inference: the lean path (no cache for a backward pass), the output streamed to disk.
        let y = match device {
            None => op.infer(&u, b, l)?,
            #[cfg(any(feature = "cuda", feature = "sim"))]
            Some(dev) => hyena_model::device_operator::DeviceOperator::<T, f32>::new(op, dev)?.infer(&u, b, l)?,
            #[cfg(not(any(feature = "cuda", feature = "sim")))]
            Some(never) => match never {},
        };
        drop(u);
        check_finite("output.y", &y)?;
        let meta = [("precision", T::NAME.to_string()), ("backend", format!("{:?}", args.backend).to_lowercase())];
        let meta = meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        save_floats(&args.out, &[("output.y", us, &y)], &meta, dtype)?;
        eprintln!("wrote {} (1 tensor, B={b} L={l} D={d}, order {order}, {}, backend {:?})", args.out.display(), T::NAME, args.backend);
        return Ok(());
    }
    let mut out = match device {
        None => pass(&op, &u, grad_y.as_deref(), us)?,
        #[cfg(any(feature = "cuda", feature = "sim"))]
        Some(dev) => pass(&hyena_model::device_operator::DeviceOperator::<T, f32>::new(op, dev)?, &u, grad_y.as_deref(), us)?,
        #[cfg(not(any(feature = "cuda", feature = "sim")))]
        Some(never) => match never {},
    };
    check_outputs_finite(&out)?;
    out.metadata.insert("precision".into(), T::NAME.into());
    out.metadata.insert("backend".into(), format!("{:?}", args.backend).to_lowercase());
    out.save(&args.out, dtype)?;
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

/// A device that is never built: the type of `open_device`'s result without device features.
#[cfg(not(any(feature = "cuda", feature = "sim")))]
pub enum NoDevice {}

/// The device of a backend (`None` for the CPU), or an error naming the build feature it needs.
#[cfg(any(feature = "cuda", feature = "sim"))]
pub fn open_device(backend: Backend) -> Result<Option<std::sync::Arc<dyn hyena_kernels::device::Device>>, ModelError> {
    match backend {
        Backend::Cpu => Ok(None),
        #[cfg(feature = "sim")]
        Backend::Sim => Ok(Some(std::sync::Arc::new(hyena_kernels::device::sim::SimDevice::new()))),
        #[cfg(feature = "cuda")]
        Backend::Cuda => Ok(Some(std::sync::Arc::new(hyena_kernels::device::cuda::CudaDevice::new(0)?))),
        #[allow(unreachable_patterns)]
        other => Err(missing_feature(other)),
    }
}

/// Without device features only the CPU backend exists.
#[cfg(not(any(feature = "cuda", feature = "sim")))]
pub fn open_device(backend: Backend) -> Result<Option<NoDevice>, ModelError> {
    match backend {
        Backend::Cpu => Ok(None),
        other => Err(missing_feature(other)),
    }
}

fn missing_feature(backend: Backend) -> ModelError {
    let feature = format!("{backend:?}").to_lowercase();
    ModelError::Config(format!(
        "--backend {feature} needs a build with feature `{feature}` (cargo run --release -p hyena-cli --features {feature} -- run …)"
    ))
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
    // A weights file holding `backbone.…` keys is a language model: see run_lm.rs.
    if crate::run_lm::run_if_lm(&args.weights, &args.inputs, &args.out, precision, args.backend, args.config.as_deref())? {
        return Ok(());
    }
    match precision {
        Precision::F32 => run_typed::<f32>(&args)?,
        Precision::F64 => run_typed::<f64>(&args)?,
    }
    Ok(())
}
