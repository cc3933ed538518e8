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

/// One tensor's entry in a safetensors header.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// Stored dtype (`F32`, `F64`, `F16`, `BF16`, `I64`, …).
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Byte range inside the data section.
    begin: usize,
    end: usize,
}

/// The header of a safetensors file, for reading single float tensors straight into the working
/// precision without holding the file or an f64 copy in memory (a 1M × 256 f32 input is 1 GiB;
/// [`TensorFile::load`] would hold 3 GiB for it at once: the bytes and the widened copy).
#[derive(Clone, Debug)]
pub struct TensorIndex {
    path: std::path::PathBuf,
    data_start: u64,
    pub tensors: BTreeMap<String, IndexEntry>,
    pub metadata: HashMap<String, String>,
}

impl TensorIndex {
    /// Read and check the header of `path` (every byte range inside the file, of the size its
    /// dtype and shape give).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        use std::io::Read;
        let path = path.as_ref();
        let origin = path.display().to_string();
        let fmt = |problem: String| ModelError::Format { path: origin.clone(), problem };
        let mut f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        let file_len = f.metadata().map_err(|e| io_err(path, e))?.len();
        let mut n8 = [0u8; 8];
        f.read_exact(&mut n8).map_err(|_| fmt("shorter than the 8-byte header length".into()))?;
        let n = u64::from_le_bytes(n8);
        if n > 100 << 20 || 8 + n > file_len {
            return Err(fmt(format!("header length {n} does not fit the file ({file_len} bytes)")));
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header).map_err(|e| io_err(path, e))?;
        let v: serde_json::Value = serde_json::from_slice(&header).map_err(|e| fmt(format!("header is not JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| fmt("header is not a JSON object".into()))?;
        let data_len = (file_len - 8 - n) as usize;
        let mut tensors = BTreeMap::new();
        let mut metadata = HashMap::new();
        for (name, e) in obj {
            if name == "__metadata__" {
                for (k, val) in e.as_object().into_iter().flatten() {
                    let s = val.as_str().ok_or_else(|| fmt(format!("metadata `{k}` is not a string")))?;
                    metadata.insert(k.clone(), s.to_string());
                }
                continue;
            }
            let bad = || fmt(format!("tensor `{name}`: malformed header entry"));
            let dtype = e.get("dtype").and_then(|d| d.as_str()).ok_or_else(bad)?.to_string();
            let shape: Vec<usize> = e
                .get("shape")
                .and_then(|s| s.as_array())
                .ok_or_else(bad)?
                .iter()
                .map(|x| x.as_u64().map(|x| x as usize))
                .collect::<Option<_>>()
                .ok_or_else(bad)?;
            let offs: Vec<usize> = e
                .get("data_offsets")
                .and_then(|s| s.as_array())
                .ok_or_else(bad)?
                .iter()
                .map(|x| x.as_u64().map(|x| x as usize))
                .collect::<Option<_>>()
                .ok_or_else(bad)?;
            let [begin, end] = offs[..] else { return Err(bad()) };
            let numel = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s)).ok_or_else(bad)?;
            let size = match dtype.as_str() {
                "F64" | "I64" => 8,
                "F32" | "I32" => 4,
                "F16" | "BF16" => 2,
                "U8" => 1,
                _ => 0,
            };
            if begin > end || end > data_len || (size > 0 && numel.checked_mul(size) != Some(end - begin)) {
                return Err(fmt(format!("tensor `{name}`: byte range {begin}..{end} does not hold {shape:?} {dtype}")));
            }
            tensors.insert(name.clone(), IndexEntry { dtype, shape, begin, end });
        }
        Ok(TensorIndex { path: path.to_path_buf(), data_start: 8 + n, tensors, metadata })
    }

    /// The float tensor `name` converted element by element to `T` (checked to have `shape`
    /// when given), read in blocks.
    pub fn read_float<T: hyena_kernels::Scalar>(&self, name: &str, shape: Option<&[usize]>) -> Result<(Vec<usize>, Vec<T>)> {
        use std::io::{Read, Seek, SeekFrom};
        let e = self.tensors.get(name).ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
        if let Some(s) = shape {
            if e.shape != s {
                return Err(ModelError::TensorShape { name: name.into(), expected: s.to_vec(), got: e.shape.clone() });
            }
        }
        let conv: fn(&[u8]) -> f64 = match e.dtype.as_str() {
            "F64" => |c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            "F32" => |c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64,
            "F16" => |c| half::f16::from_le_bytes([c[0], c[1]]).to_f64(),
            "BF16" => |c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64(),
            _ => return Err(ModelError::TensorDtype { name: name.into(), dtype: e.dtype.clone() }),
        };
        let size = match e.dtype.as_str() {
            "F64" => 8,
            "F32" => 4,
            _ => 2,
        };
        let mut f = std::fs::File::open(&self.path).map_err(|err| io_err(&self.path, err))?;
        f.seek(SeekFrom::Start(self.data_start + e.begin as u64)).map_err(|err| io_err(&self.path, err))?;
        let mut out = Vec::with_capacity((e.end - e.begin) / size);
        let mut buf = vec![0u8; (8 << 20) / size * size];
        let mut left = e.end - e.begin;
        while left > 0 {
            let k = left.min(buf.len());
            f.read_exact(&mut buf[..k]).map_err(|err| io_err(&self.path, err))?;
            out.extend(buf[..k].chunks_exact(size).map(|c| T::lit(conv(c))));
            left -= k;
        }
        Ok((e.shape.clone(), out))
    }
}

/// Write float tensors as a safetensors file in `dtype` (F32 or F64), converting in blocks (no
/// byte image of the file in memory), atomically like [`TensorFile::save`].
pub fn save_floats<T: hyena_kernels::Scalar>(
    path: impl AsRef<Path>,
    tensors: &[(&str, &[usize], &[T])],
    metadata: &HashMap<String, String>,
    dtype: Dtype,
) -> Result<()> {
    use std::io::Write;
    let path = path.as_ref();
    let (name, size) = if dtype == Dtype::F32 { ("F32", 4) } else { ("F64", 8) };
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).map_err(|e| ModelError::Config(e.to_string()))?);
    }
    let mut off = 0usize;
    for (tname, shape, data) in tensors {
        if shape.iter().product::<usize>() != data.len() {
            return Err(ModelError::TensorShape { name: tname.to_string(), expected: shape.to_vec(), got: vec![data.len()] });
        }
        let end = off + data.len() * size;
        header.insert(tname.to_string(), serde_json::json!({ "dtype": name, "shape": shape, "data_offsets": [off, end] }));
        off = end;
    }
    let mut hb = serde_json::to_vec(&serde_json::Value::Object(header)).map_err(|e| ModelError::Config(e.to_string()))?;
    hb.resize(hb.len().next_multiple_of(8), b' ');
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let fname = path.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{fname}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(&tmp)?);
        f.write_all(&(hb.len() as u64).to_le_bytes())?;
        f.write_all(&hb)?;
        let mut buf = Vec::with_capacity(8 << 20);
        for (_, _, data) in tensors {
            for block in data.chunks((8 << 20) / size) {
                buf.clear();
                for x in block {
                    match size {
                        4 => buf.extend_from_slice(&(x.as_f64() as f32).to_le_bytes()),
                        _ => buf.extend_from_slice(&x.as_f64().to_le_bytes()),
                    }
                }
                f.write_all(&buf)?;
            }
        }
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}
