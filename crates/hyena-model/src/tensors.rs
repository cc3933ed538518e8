//! Reading and writing named tensors in safetensors files.
//!
//! Reading converts every float dtype (F64, F32, F16, BF16) to f64 and integer dtypes to i64, and
//! reports a truncated or malformed file as [`ModelError::Format`]. Writing goes to a temporary
//! file in the same folder that is then renamed, so a file is either complete or absent.

use crate::error::{ModelError, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Data of one tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Any float dtype, widened.
    Float(Vec<f64>),
    /// Any integer dtype, widened.
    Int(Vec<i64>),
}

/// One named tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
    /// The dtype it was stored as.
    pub dtype: String,
}

impl Tensor {
    /// A float tensor.
    pub fn float(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Tensor { shape, data: TensorData::Float(data), dtype: "F64".into() }
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The tensors and metadata of a safetensors file.
#[derive(Clone, Debug, Default)]
pub struct TensorFile {
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
}

fn io_err(path: &Path, source: std::io::Error) -> ModelError {
    ModelError::Io { path: path.display().to_string(), source }
}

impl TensorFile {
    /// Read a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parse a file already in memory; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let fmt = |problem: String| ModelError::Format { path: origin.to_string(), problem };
        let st = SafeTensors::deserialize(bytes).map_err(|e| fmt(e.to_string()))?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| fmt(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            let raw = view.data();
            let dtype = format!("{:?}", view.dtype());
            let data = match view.dtype() {
                Dtype::F64 => TensorData::Float(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()),
                Dtype::F32 => TensorData::Float(
                    raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
                ),
                Dtype::F16 => TensorData::Float(
                    raw.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
                ),
                Dtype::BF16 => TensorData::Float(
                    raw.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
                ),
                Dtype::I64 => TensorData::Int(raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()),
                Dtype::I32 => TensorData::Int(
                    raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect(),
                ),
                Dtype::U8 => TensorData::Int(raw.iter().map(|&b| b as i64).collect()),
                other => {
                    return Err(ModelError::TensorDtype { name: name.to_string(), dtype: format!("{other:?}") });
                }
            };
            tensors.insert(name.to_string(), Tensor { shape: view.shape().to_vec(), data, dtype });
        }
        let metadata = meta.metadata().clone().unwrap_or_default();
        Ok(TensorFile { tensors, metadata })
    }

    /// The float tensor `name`, checked to have `shape` when given.
    pub fn float(&self, name: &str, shape: Option<&[usize]>) -> Result<(&[usize], &[f64])> {
        let t = self.tensors.get(name).ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
        if let Some(s) = shape {
            if t.shape != s {
                return Err(ModelError::TensorShape { name: name.into(), expected: s.to_vec(), got: t.shape.clone() });
            }
        }
        match &t.data {
            TensorData::Float(v) => Ok((&t.shape, v)),
            TensorData::Int(_) => Err(ModelError::TensorDtype { name: name.into(), dtype: t.dtype.clone() }),
        }
    }

    /// The integer tensor `name`.
    pub fn int(&self, name: &str) -> Result<(&[usize], &[i64])> {
        let t = self.tensors.get(name).ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
        match &t.data {
            TensorData::Int(v) => Ok((&t.shape, v)),
            TensorData::Float(_) => Err(ModelError::TensorDtype { name: name.into(), dtype: t.dtype.clone() }),
        }
    }

    /// Insert a float tensor.
    pub fn insert_float(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Vec<f64>) {
        self.tensors.insert(name.into(), Tensor::float(shape, data));
    }

    /// The JSON object in the metadata key `config`, if any.
    pub fn config_json(&self) -> Result<Option<serde_json::Value>> {
        match self.metadata.get("config") {
            None => Ok(None),
            Some(s) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| ModelError::Config(format!("metadata `config` is not valid JSON: {e}"))),
        }
    }

    /// Write the file (all float tensors as `dtype`, F64 or F32), atomically: a temporary file in the
    /// same folder, then a rename.
    pub fn save(&self, path: impl AsRef<Path>, dtype: Dtype) -> Result<()> {
        let path = path.as_ref();
        let mut bufs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, t) in &self.tensors {
            let (dt, bytes) = match (&t.data, dtype) {
                (TensorData::Float(v), Dtype::F32) => (Dtype::F32, v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()),
                (TensorData::Float(v), _) => (Dtype::F64, v.iter().flat_map(|&x| x.to_le_bytes()).collect()),
                (TensorData::Int(v), _) => (Dtype::I64, v.iter().flat_map(|&x| x.to_le_bytes()).collect::<Vec<u8>>()),
            };
            bufs.push((name.clone(), dt, t.shape.clone(), bytes));
        }
        let mut views = Vec::with_capacity(bufs.len());
        for (name, dt, shape, bytes) in &bufs {
            let v = safetensors::tensor::TensorView::new(*dt, shape.clone(), bytes)
                .map_err(|e| ModelError::Format { path: path.display().to_string(), problem: format!("{name}: {e}") })?;
            views.push((name.clone(), v));
        }
        let meta = if self.metadata.is_empty() { None } else { Some(self.metadata.clone()) };
        let bytes = safetensors::serialize(views, meta)
            .map_err(|e| ModelError::Format { path: path.display().to_string(), problem: e.to_string() })?;
        write_atomic(path, &bytes)
    }
}

/// Write `bytes` to `path` through a temporary file and a rename (complete or absent).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let fname = path.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{fname}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}
