//! Checks on the files a command reads and writes, shared by `hyena run` (operators and LMs) and
//! `hyena train-recall`.

use crate::backend::Backend;
use hyena_kernels::Scalar;
use hyena_model::{ModelError, TensorFile};
use std::path::Path;

/// The `--config` JSON, else the weights file's `config` metadata (named `metadata_origin`), each
/// with the name of where it came from; `None` when there is neither.
pub fn config_json(config: Option<&Path>, w: &TensorFile, metadata_origin: &str) -> Result<Option<(serde_json::Value, String)>, ModelError> {
    if let Some(path) = config {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io { path: path.display().to_string(), source: e })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::Config(format!("{}: invalid JSON: {e}", path.display())))?;
        return Ok(Some((v, path.display().to_string())));
    }
    Ok(w.config_json()?.map(|v| (v, metadata_origin.to_string())))
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
pub fn same_file(a: &Path, b: &Path) -> bool {
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
pub fn check_out_path(out: &Path, out_flag: &str, inputs: &[(&str, &Path)]) -> Result<(), ModelError> {
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
pub fn check_finite<T: Scalar>(name: &str, v: &[T]) -> Result<(), ModelError> {
    match v.iter().position(|x| !x.as_f64().is_finite()) {
        Some(i) => Err(ModelError::NonFinite { name: name.into(), index: i }),
        None => Ok(()),
    }
}

/// Write a run's results to `out` in the storage of `T`, with the precision and backend in the
/// metadata; a NaN or infinity in them is an error and nothing is written.
pub fn save_results<T: Scalar>(f: &mut TensorFile, out: &Path, backend: Backend) -> Result<(), ModelError> {
    check_outputs_finite(f)?;
    f.metadata.insert("precision".into(), T::NAME.into());
    f.metadata.insert("backend".into(), backend.name().into());
    f.save(out, dtype_of::<T>())
}

/// The safetensors dtype that stores `T`.
pub fn dtype_of<T: Scalar>() -> safetensors::Dtype {
    if T::NAME == "f32" {
        safetensors::Dtype::F32
    } else {
        safetensors::Dtype::F64
    }
}
