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
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: TensorData,
    /// The dtype it was stored as.
    pub dtype: String,
}

impl Tensor {
    /// A float tensor.
    pub fn float(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Tensor { shape, data: TensorData::Float(data), dtype: "F64".into() }
    }
    /// Number of elements (`None` when the shape's product overflows `usize`).
    pub fn numel(&self) -> Option<usize> {
        checked_numel(&self.shape)
    }
}

/// The tensors and metadata of a safetensors file.
#[derive(Clone, Debug, Default)]
pub struct TensorFile {
    /// Tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// The header's `__metadata__` (string keys and values).
    pub metadata: HashMap<String, String>,
}

/// Product of `shape`, or `None` on overflow.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Metadata key holding the CRC-32 of every tensor's stored bytes (and of the other metadata,
/// under [`META_CHECKSUM_KEY`]), as a JSON object of 8-digit hex strings. Written by
/// [`TensorFile::save`], verified by [`TensorFile::from_bytes`] when present.
pub const CHECKSUMS_KEY: &str = "checksums";
/// Entry of [`CHECKSUMS_KEY`] that covers the metadata (every key but `checksums`).
pub const META_CHECKSUM_KEY: &str = "__metadata__";

fn crc32(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// CRC-32 of the metadata entries other than [`CHECKSUMS_KEY`], in key order, each as
/// `len(key) key len(value) value` so that no two different maps hash the same byte string.
fn metadata_crc(meta: &HashMap<String, String>) -> String {
    let mut h = crc32fast::Hasher::new();
    let sorted: BTreeMap<&String, &String> = meta.iter().filter(|(k, _)| k.as_str() != CHECKSUMS_KEY).collect();
    for (k, v) in sorted {
        h.update(&(k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update(&(v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    format!("{:08x}", h.finalize())
}

/// Rejects a safetensors JSON header that repeats a tensor name or a `__metadata__` key: the
/// safetensors crate reads the header into hash maps, where a repeated key silently replaces the
/// earlier one.
struct UniqueKeys;

struct UniqueKeysVisitor {
    what: &'static str,
}

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if self.what == "tensor name" && k == "__metadata__" {
                // `null` or an object whose keys must be unique too.
                map.next_value::<Option<UniqueMetaKeys>>()?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            if !seen.insert(k.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate {} `{k}` in the header", self.what)));
            }
        }
        Ok(UniqueKeys)
    }
}

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(UniqueKeysVisitor { what: "tensor name" })
    }
}

struct UniqueMetaKeys;

impl<'de> serde::Deserialize<'de> for UniqueMetaKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(UniqueKeysVisitor { what: "metadata key" }).map(|_| UniqueMetaKeys)
    }
}

/// A [`ModelError::Format`] when the header's JSON `text` repeats a tensor name or metadata key.
/// Malformed JSON passes: the caller's parser reports it.
fn check_unique_keys(text: &str, origin: &str) -> Result<()> {
    match serde_json::from_str::<UniqueKeys>(text) {
        Err(e) if e.is_data() => Err(ModelError::Format { path: origin.to_string(), problem: e.to_string() }),
        _ => Ok(()),
    }
}

/// The per-tensor CRC-32s of the [`CHECKSUMS_KEY`] metadata (`None` when the file has none),
/// after checking the metadata's own CRC and that every listed tensor exists (`exists`).
fn read_checksums(
    metadata: &HashMap<String, String>,
    exists: impl Fn(&str) -> bool,
    origin: &str,
) -> Result<Option<BTreeMap<String, String>>> {
    let fmt = |problem: String| ModelError::Format { path: origin.to_string(), problem };
    let Some(text) = metadata.get(CHECKSUMS_KEY) else { return Ok(None) };
    let sums: BTreeMap<String, String> = serde_json::from_str(text)
        .map_err(|e| fmt(format!("metadata `{CHECKSUMS_KEY}` is not a JSON object of strings: {e}")))?;
    let want = sums.get(META_CHECKSUM_KEY).ok_or_else(|| fmt(format!("metadata `{CHECKSUMS_KEY}` lacks `{META_CHECKSUM_KEY}`")))?;
    if *want != metadata_crc(metadata) {
        return Err(ModelError::Checksum { path: origin.to_string(), name: "metadata".into() });
    }
    for name in sums.keys() {
        if name != META_CHECKSUM_KEY && !exists(name) {
            return Err(ModelError::Checksum { path: origin.to_string(), name: format!("{name} (listed in the checksums, absent from the file)") });
        }
    }
    Ok(Some(sums))
}

/// The header's JSON text, when the first 8 bytes give a length that fits the buffer (otherwise
/// the safetensors crate reports the problem).
fn header_text(bytes: &[u8]) -> Option<&str> {
    let n: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let n = usize::try_from(u64::from_le_bytes(n)).ok()?;
    std::str::from_utf8(bytes.get(8..8usize.checked_add(n)?)?).ok()
}

fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(c);
    a
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

    /// Parse a file already in memory; `origin` names it in errors. A repeated tensor name or
    /// metadata key is an error, and so is a tensor (or the metadata) whose CRC-32 differs from
    /// the one in the [`CHECKSUMS_KEY`] metadata, when the file has one.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let fmt = |problem: String| ModelError::Format { path: origin.to_string(), problem };
        if let Some(text) = header_text(bytes) {
            check_unique_keys(text, origin)?;
        }
        let st = SafeTensors::deserialize(bytes).map_err(|e| fmt(e.to_string()))?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| fmt(e.to_string()))?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let checksums = read_checksums(&metadata, |name| st.tensor(name).is_ok(), origin)?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            let raw = view.data();
            if let Some(sums) = &checksums {
                if sums.get(name) != Some(&crc32(raw)) {
                    return Err(ModelError::Checksum { path: origin.to_string(), name: name.to_string() });
                }
            }
            let dtype = format!("{:?}", view.dtype());
            let data = match view.dtype() {
                Dtype::F64 => TensorData::Float(raw.chunks_exact(8).map(|c| f64::from_le_bytes(le(c))).collect()),
                Dtype::F32 => TensorData::Float(raw.chunks_exact(4).map(|c| f32::from_le_bytes(le(c)) as f64).collect()),
                Dtype::F16 => TensorData::Float(raw.chunks_exact(2).map(|c| half::f16::from_le_bytes(le(c)).to_f64()).collect()),
                Dtype::BF16 => TensorData::Float(raw.chunks_exact(2).map(|c| half::bf16::from_le_bytes(le(c)).to_f64()).collect()),
                Dtype::I64 => TensorData::Int(raw.chunks_exact(8).map(|c| i64::from_le_bytes(le(c))).collect()),
                Dtype::I32 => TensorData::Int(raw.chunks_exact(4).map(|c| i32::from_le_bytes(le(c)) as i64).collect()),
                Dtype::U8 => TensorData::Int(raw.iter().map(|&b| b as i64).collect()),
                other => {
                    return Err(ModelError::TensorDtype { name: name.to_string(), dtype: format!("{other:?}") });
                }
            };
            tensors.insert(name.to_string(), Tensor { shape: view.shape().to_vec(), data, dtype });
        }
        Ok(TensorFile { tensors, metadata })
    }

    /// Whether the file carried checksums (then verified by [`TensorFile::from_bytes`]).
    pub fn has_checksums(&self) -> bool {
        self.metadata.contains_key(CHECKSUMS_KEY)
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
    /// same folder, then a rename. The metadata gets the [`CHECKSUMS_KEY`] entry (CRC-32 of every
    /// tensor as stored, and of the metadata).
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
        let mut meta = self.metadata.clone();
        let mut sums: BTreeMap<String, String> = bufs.iter().map(|(name, _, _, bytes)| (name.clone(), crc32(bytes))).collect();
        sums.insert(META_CHECKSUM_KEY.into(), metadata_crc(&meta));
        let sums = serde_json::to_string(&sums)
            .map_err(|e| ModelError::Format { path: path.display().to_string(), problem: format!("checksums: {e}") })?;
        meta.insert(CHECKSUMS_KEY.into(), sums);
        let mut views = Vec::with_capacity(bufs.len());
        for (name, dt, shape, bytes) in &bufs {
            let v = safetensors::tensor::TensorView::new(*dt, shape.clone(), bytes)
                .map_err(|e| ModelError::Format { path: path.display().to_string(), problem: format!("{name}: {e}") })?;
            views.push((name.clone(), v));
        }
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| ModelError::Format { path: path.display().to_string(), problem: e.to_string() })?;
        write_atomic(path, &bytes)
    }
}

/// Prefix of the temporary files [`write_atomic`] writes next to `path`: `.{file name}.tmp-`,
/// followed by `{pid}-{n}`.
fn temp_prefix(path: &Path) -> String {
    let fname = path.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
    format!(".{fname}.tmp-")
}

fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Remove temporary files that killed runs left next to `path`: names `.{file name}.tmp-{pid}-{n}`
/// (exactly [`write_atomic`]'s pattern) whose process no longer exists. Files of live processes,
/// this one included, and anything that is not a plain file are left alone. Best effort: returns
/// the names removed.
pub fn clean_stale_temps(path: &Path) -> Vec<std::path::PathBuf> {
    let prefix = temp_prefix(path);
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent_dir(path)) else { return removed };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let Some((pid, n)) = rest.split_once('-') else { continue };
        let (Ok(pid), true) = (pid.parse::<u32>(), !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        // `symlink_metadata`: a link with our name is not followed, and not ours to remove.
        if e.path().symlink_metadata().map(|m| m.file_type().is_file()).unwrap_or(false) && std::fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Without /proc, no process is known dead: nothing is removed.
#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// How many temporary names [`write_atomic`] tries before giving up.
const MAX_TEMP_ATTEMPTS: u32 = 64;

/// Write `bytes` to `path` through a temporary file and a rename (complete or absent). The
/// temporary file is created exclusively (`create_new`: an existing file or symbolic link at its
/// name is never written through), removed on every error, and the folder is synced after the
/// rename so that the new name survives a crash. Stale temporary files of killed runs are
/// removed first ([`clean_stale_temps`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] with the contents written by `fill` into the temporary file (which it need
/// not flush: the file is synced before the rename).
fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<()> {
    let (tmp, mut f) = create_temp(path)?;
    let res = (|| {
        fill(&mut f)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(parent_dir(path))
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

/// A new temporary file beside `path` (after removing stale ones of killed runs), created
/// exclusively: `n` counts up past names that exist already (another thread's write, or a file or
/// link planted there), which are never opened, written or removed.
fn create_temp(path: &Path) -> Result<(std::path::PathBuf, std::fs::File)> {
    let dir = parent_dir(path);
    clean_stale_temps(path);
    let mut n = 0u32;
    loop {
        let tmp = dir.join(format!("{}{}-{n}", temp_prefix(path), std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < MAX_TEMP_ATTEMPTS => n += 1,
            Err(e) => return Err(io_err(&tmp, e)),
        }
    }
}

/// fsync a folder (after a rename in it); a no-op where folders cannot be opened as files.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// One tensor's entry in a safetensors header.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// Stored dtype (`F32`, `F64`, `F16`, `BF16`, `I64`, …).
    pub dtype: String,
    /// Dimensions, outermost first.
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
    /// The [`CHECKSUMS_KEY`] CRC-32s (checked against each tensor's bytes as it is read).
    checksums: Option<BTreeMap<String, String>>,
    /// Entries by tensor name.
    pub tensors: BTreeMap<String, IndexEntry>,
    /// The header's `__metadata__` (string keys and values).
    pub metadata: HashMap<String, String>,
}

impl TensorIndex {
    /// Read and check the header of `path` (every byte range inside the file, of the size its
    /// dtype and shape give), with the checks of [`TensorFile::from_bytes`]: a repeated tensor
    /// name or metadata key is an error; with a [`CHECKSUMS_KEY`] entry, the metadata's CRC-32 is
    /// verified here, each tensor's when [`TensorIndex::read_float`] reads it, and every tensor
    /// must be listed.
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
        // serde_json's map keeps the last of repeated keys: look for them first.
        if let Ok(text) = std::str::from_utf8(&header) {
            check_unique_keys(text, &origin)?;
        }
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
            // An array of non-negative integers under `key`.
            let usizes = |key: &str| -> Result<Vec<usize>> {
                let arr = e.get(key).and_then(|s| s.as_array()).ok_or_else(bad)?;
                arr.iter().map(|x| x.as_u64().map(|x| x as usize)).collect::<Option<_>>().ok_or_else(bad)
            };
            let shape = usizes("shape")?;
            let offs = usizes("data_offsets")?;
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
        let checksums = read_checksums(&metadata, |name| tensors.contains_key(name), &origin)?;
        if let Some(sums) = &checksums {
            if let Some(name) = tensors.keys().find(|k| !sums.contains_key(k.as_str())) {
                return Err(ModelError::Checksum { path: origin.clone(), name: format!("{name} (absent from the checksums)") });
            }
        }
        Ok(TensorIndex { path: path.to_path_buf(), data_start: 8 + n, checksums, tensors, metadata })
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
        let mut crc = crc32fast::Hasher::new();
        while left > 0 {
            let k = left.min(buf.len());
            f.read_exact(&mut buf[..k]).map_err(|err| io_err(&self.path, err))?;
            crc.update(&buf[..k]);
            out.extend(buf[..k].chunks_exact(size).map(|c| T::lit(conv(c))));
            left -= k;
        }
        if let Some(sums) = &self.checksums {
            if sums.get(name) != Some(&format!("{:08x}", crc.finalize())) {
                return Err(ModelError::Checksum { path: self.path.display().to_string(), name: name.to_string() });
            }
        }
        Ok((e.shape.clone(), out))
    }
}

/// Write float tensors as a safetensors file in `dtype` (F32 or F64), converting in blocks (no
/// byte image of the file in memory), atomically like [`TensorFile::save`], with the same
/// [`CHECKSUMS_KEY`] entry (a first pass over the data computes the CRC-32s).
pub fn save_floats<T: hyena_kernels::Scalar>(
    path: impl AsRef<Path>,
    tensors: &[(&str, &[usize], &[T])],
    metadata: &HashMap<String, String>,
    dtype: Dtype,
) -> Result<()> {
    use std::io::Write;
    let path = path.as_ref();
    let (name, size) = if dtype == Dtype::F32 { ("F32", 4) } else { ("F64", 8) };
    // One block of elements as stored.
    let encode = |block: &[T], buf: &mut Vec<u8>| {
        buf.clear();
        for x in block {
            match size {
                4 => buf.extend_from_slice(&(x.as_f64() as f32).to_le_bytes()),
                _ => buf.extend_from_slice(&x.as_f64().to_le_bytes()),
            }
        }
    };
    let block_len = (8 << 20) / size;
    let mut buf = Vec::with_capacity(8 << 20);
    let mut sums = BTreeMap::new();
    let mut header = serde_json::Map::new();
    let mut off = 0usize;
    for (tname, shape, data) in tensors {
        if checked_numel(shape) != Some(data.len()) {
            return Err(ModelError::TensorShape { name: tname.to_string(), expected: shape.to_vec(), got: vec![data.len()] });
        }
        let end = off + data.len() * size;
        header.insert(tname.to_string(), serde_json::json!({ "dtype": name, "shape": shape, "data_offsets": [off, end] }));
        off = end;
        let mut crc = crc32fast::Hasher::new();
        for block in data.chunks(block_len) {
            encode(block, &mut buf);
            crc.update(&buf);
        }
        sums.insert(tname.to_string(), format!("{:08x}", crc.finalize()));
    }
    let mut meta = metadata.clone();
    sums.insert(META_CHECKSUM_KEY.into(), metadata_crc(&meta));
    meta.insert(CHECKSUMS_KEY.into(), serde_json::to_string(&sums).map_err(|e| ModelError::Config(e.to_string()))?);
    header.insert("__metadata__".into(), serde_json::to_value(&meta).map_err(|e| ModelError::Config(e.to_string()))?);
    let mut hb = serde_json::to_vec(&serde_json::Value::Object(header)).map_err(|e| ModelError::Config(e.to_string()))?;
    hb.resize(hb.len().next_multiple_of(8), b' ');
    write_atomic_with(path, |file| {
        let mut f = std::io::BufWriter::with_capacity(8 << 20, file);
        f.write_all(&(hb.len() as u64).to_le_bytes())?;
        f.write_all(&hb)?;
        for (_, _, data) in tensors {
            for block in data.chunks(block_len) {
                encode(block, &mut buf);
                f.write_all(&buf)?;
            }
        }
        f.flush()
    })
}
