//! One launch path for the GPU and the SIMT simulator.
//!
//! A [`Device`] allocates memory, copies, launches a kernel by name with one params struct passed by
//! value, and runs library primitives (GEMM). Everything that decides *what* to launch (grid/block
//! sizes, kernel order, buffers) is written once on top of this trait and runs unchanged on
//! [`cuda::CudaDevice`] (feature `cuda`) and [`sim::SimDevice`] (feature `sim`).
//!
//! Device pointers are plain 64-bit addresses (`u64`), as in the params structs of
//! `kernels/hyena_params.h`.
//!
//! Changes to this module since the skeleton (the `Device` trait itself is unchanged):
//! - `pub mod cuda` (feature `cuda`) and `pub mod sim` (feature `sim`) declared here;
//! - [`DeviceScalar`] (f32/f64/f16/bf16 → [`DType`], with f64 conversions), [`DeviceView`] (a sub-range of a buffer, for
//!   misaligned views) and `DeviceBuffer::{view, as_view, dtype}`;
//! - [`AllocTable`]: a helper a device can use to check that an address range lies inside one live
//!   allocation before a copy, a launch or a GEMM touches it;
//! - [`gemm_extents`]: the element extents a [`GemmSpec`] reads/writes, checked against overflow.

use crate::error::{HyenaError, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "sim")]
pub mod sim;

/// Storage dtype of a device buffer element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
            DType::F16 | DType::BF16 => 2,
        }
    }
}

/// A storage element type a device buffer can hold.
pub trait DeviceScalar: Copy + Default + Send + Sync + std::fmt::Debug + 'static {
    /// The matching [`DType`].
    const DTYPE: DType;
    /// Round an f64 to this storage type: to nearest, ties to even (f16/bf16 via `half`, which
    /// drops the low 32 bits of the f64 mantissa first, so a value within 2⁻²⁹ (relative) of a
    /// midpoint may round to the other neighbour).
    fn from_f64(x: f64) -> Self;
    /// Widen to f64 (exact).
    fn to_f64(self) -> f64;
}
impl DeviceScalar for f32 {
    const DTYPE: DType = DType::F32;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}
impl DeviceScalar for f64 {
    const DTYPE: DType = DType::F64;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
}
impl DeviceScalar for half::f16 {
    const DTYPE: DType = DType::F16;
    fn from_f64(x: f64) -> Self {
        half::f16::from_f64(x)
    }
    fn to_f64(self) -> f64 {
        half::f16::to_f64(self)
    }
}
impl DeviceScalar for half::bf16 {
    const DTYPE: DType = DType::BF16;
    fn from_f64(x: f64) -> Self {
        half::bf16::from_f64(x)
    }
    fn to_f64(self) -> f64 {
        half::bf16::to_f64(self)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        })
    }
}

/// Which implementation a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Cuda,
    Sim,
}

/// Grid, block and dynamic shared memory of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
}

/// Transpose flag of a GEMM operand (cuBLAS convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    N,
    T,
}

/// A strided-batched GEMM in cuBLAS's column-major convention:
/// for each `i < batch`: `C_i = alpha * op(A_i) * op(B_i) + beta * C_i`, with
/// `op(A_i)` m×k, `op(B_i)` k×n, `C_i` m×n, `X_i = X + i * stride_x` (strides and leading
/// dimensions in elements). Row-major callers swap A and B, as usual.
#[derive(Clone, Copy, Debug)]
pub struct GemmSpec {
    pub dtype: DType,
    pub trans_a: Trans,
    pub trans_b: Trans,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f64,
    pub a: u64,
    pub lda: usize,
    pub stride_a: usize,
    pub b: u64,
    pub ldb: usize,
    pub stride_b: usize,
    pub beta: f64,
    pub c: u64,
    pub ldc: usize,
    pub stride_c: usize,
    pub batch: usize,
}

/// The device abstraction: the only things that differ between the GPU and the simulator.
///
/// Implementations must check every size, alignment and limit *before* touching memory or
/// launching, and return a typed [`HyenaError`]; they never panic on bad input.
pub trait Device: Send + Sync {
    /// Cuda or Sim.
    fn kind(&self) -> DeviceKind;
    /// Human-readable name (GPU model, or "SIMT simulator").
    fn name(&self) -> String;
    /// Largest dynamic shared memory one block may request (bytes), after opt-in.
    fn max_shared_bytes(&self) -> usize;
    /// Allocate `bytes` of device memory (256-byte aligned). Freed with [`Device::free_raw`].
    fn alloc_raw(&self, bytes: usize) -> Result<u64>;
    /// Free memory returned by [`Device::alloc_raw`].
    fn free_raw(&self, addr: u64, bytes: usize);
    /// Copy host bytes into device memory at `dst`.
    fn copy_htod_raw(&self, src: &[u8], dst: u64) -> Result<()>;
    /// Copy device memory at `src` into host bytes.
    fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> Result<()>;
    /// Copy `bytes` between two device addresses.
    fn copy_dtod_raw(&self, src: u64, dst: u64, bytes: usize) -> Result<()>;
    /// Launch kernel `name` (its `extern "C"` symbol) with one params struct passed by value,
    /// given as its raw bytes (`params.len()` must equal the struct's size).
    fn launch_raw(&self, name: &str, cfg: LaunchConfig, params: &[u8]) -> Result<()>;
    /// Run a strided-batched GEMM (cuBLAS on the GPU, the CPU GEMM in the simulator).
    fn gemm(&self, spec: &GemmSpec) -> Result<()>;
    /// Wait for all queued work.
    fn synchronize(&self) -> Result<()>;
    /// Milliseconds the device spends on the work `work` queues: CUDA events around it on a GPU;
    /// host wall-clock between two synchronizations on other devices (the simulator).
    fn time_ms(&self, work: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
        self.synchronize()?;
        let t = std::time::Instant::now();
        work()?;
        self.synchronize()?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }
}

/// Every device this build can open on this machine, with a one-line reason for each kind it
/// cannot: the CUDA GPU 0 (feature `cuda`, when a driver and a GPU are present) and the SIMT
/// simulator (feature `sim`). Tests run on each; the reasons say what was skipped.
pub fn available() -> (Vec<Arc<dyn Device>>, Vec<String>) {
    #[allow(unused_mut)]
    let mut devs: Vec<Arc<dyn Device>> = Vec::new();
    let mut skipped = Vec::new();
    #[cfg(feature = "cuda")]
    match cuda::CudaDevice::arc(0) {
        Ok(d) => devs.push(d),
        Err(e) => skipped.push(format!("CUDA: {e}")),
    }
    #[cfg(not(feature = "cuda"))]
    skipped.push("CUDA: built without feature `cuda`".to_string());
    #[cfg(feature = "sim")]
    devs.push(Arc::new(sim::SimDevice::new()));
    #[cfg(not(feature = "sim"))]
    skipped.push("the simulator: built without feature `sim`".to_string());
    (devs, skipped)
}

/// A typed device buffer of `len` elements of `T`, freed on drop.
pub struct DeviceBuffer<T: Copy> {
    dev: Arc<dyn Device>,
    addr: u64,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Copy> DeviceBuffer<T> {
    /// Allocate an uninitialised buffer of `len` elements.
    pub fn alloc(dev: &Arc<dyn Device>, len: usize) -> Result<Self> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| HyenaError::Invalid(format!("buffer of {len} elements overflows")))?;
        let addr = dev.alloc_raw(bytes.max(1))?;
        Ok(Self { dev: dev.clone(), addr, len, _t: std::marker::PhantomData })
    }
    /// Allocate and fill from a host slice.
    pub fn from_host(dev: &Arc<dyn Device>, src: &[T]) -> Result<Self> {
        let b = Self::alloc(dev, src.len())?;
        b.dev.copy_htod_raw(as_bytes(src), b.addr)?;
        Ok(b)
    }
    /// Copy the whole buffer back to the host.
    pub fn to_host(&self) -> Result<Vec<T>>
    where
        T: Default,
    {
        let mut out = vec![T::default(); self.len];
        self.dev.copy_dtoh_raw(self.addr, as_bytes_mut(&mut out))?;
        Ok(out)
    }
    /// Overwrite the buffer from a host slice of the same length.
    pub fn write(&self, src: &[T]) -> Result<()> {
        crate::error::check_len("DeviceBuffer::write source", src.len(), self.len)?;
        self.dev.copy_htod_raw(as_bytes(src), self.addr)
    }
    /// Raw 64-bit device address, for a params struct.
    pub fn addr(&self) -> u64 {
        self.addr
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The device that owns this buffer.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }
    /// A view of the whole buffer.
    pub fn as_view(&self) -> DeviceView<'_, T> {
        DeviceView { dev: &self.dev, addr: self.addr, len: self.len, _t: std::marker::PhantomData }
    }
    /// A view of elements `range` (e.g. `buf.view(1..n+1)` for a view misaligned by one element).
    pub fn view(&self, range: std::ops::Range<usize>) -> Result<DeviceView<'_, T>> {
        if range.start > range.end || range.end > self.len {
            return Err(HyenaError::Buffer {
                name: "view".into(),
                problem: format!("range {range:?} out of bounds for a buffer of {} elements", self.len),
            });
        }
        Ok(DeviceView {
            dev: &self.dev,
            addr: self.addr + (range.start * std::mem::size_of::<T>()) as u64,
            len: range.end - range.start,
            _t: std::marker::PhantomData,
        })
    }
}

impl<T: DeviceScalar> DeviceBuffer<T> {
    /// Storage dtype of the elements.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }
}

/// A contiguous sub-range of a [`DeviceBuffer`] (borrowing it, so the memory stays alive).
/// Kernels write through views too: device memory is not Rust memory, and every launch is ordered
/// on the device's stream.
pub struct DeviceView<'a, T: Copy> {
    dev: &'a Arc<dyn Device>,
    addr: u64,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Copy> Clone for DeviceView<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Copy> Copy for DeviceView<'_, T> {}

impl<'a, T: Copy> From<&'a DeviceBuffer<T>> for DeviceView<'a, T> {
    fn from(b: &'a DeviceBuffer<T>) -> Self {
        b.as_view()
    }
}

impl<'a, T: Copy> DeviceView<'a, T> {
    /// Raw 64-bit device address of the first element.
    pub fn addr(&self) -> u64 {
        self.addr
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when the view holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The device that owns the memory.
    pub fn device(&self) -> &'a Arc<dyn Device> {
        self.dev
    }
    /// Copy the viewed elements to the host.
    pub fn to_host(&self) -> Result<Vec<T>>
    where
        T: Default,
    {
        let mut out = vec![T::default(); self.len];
        if self.len > 0 {
            self.dev.copy_dtoh_raw(self.addr, as_bytes_mut(&mut out))?;
        }
        Ok(out)
    }
    /// Overwrite the viewed elements from a host slice of the same length.
    pub fn write(&self, src: &[T]) -> Result<()> {
        crate::error::check_len("DeviceView::write source", src.len(), self.len)?;
        if self.len == 0 {
            return Ok(());
        }
        self.dev.copy_htod_raw(as_bytes(src), self.addr)
    }
    /// True when this view lives on `dev` (the same `Arc`).
    pub fn is_on(&self, dev: &Arc<dyn Device>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(self.dev), Arc::as_ptr(dev))
    }
}

/// Live allocations of a device (address → size in bytes), so that a device can check that every
/// range a copy, launch or GEMM touches lies inside one live allocation before touching it.
#[derive(Debug, Default)]
pub struct AllocTable {
    live: Mutex<BTreeMap<u64, usize>>,
}

impl AllocTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }
    /// Record an allocation.
    pub fn insert(&self, addr: u64, bytes: usize) {
        self.lock().insert(addr, bytes);
    }
    /// Forget an allocation; returns its size, or `None` if `addr` was not live.
    pub fn remove(&self, addr: u64) -> Option<usize> {
        self.lock().remove(&addr)
    }
    /// Number of live allocations.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    /// True when nothing is allocated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `Ok` when `[addr, addr + bytes)` lies inside one live allocation (always `Ok` for 0 bytes);
    /// otherwise a [`HyenaError::Buffer`] naming `what`.
    pub fn check(&self, what: &str, addr: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        let live = self.lock();
        let ok = live
            .range(..=addr)
            .next_back()
            .is_some_and(|(&start, &size)| {
                let end = start as u128 + size as u128;
                (addr as u128) + (bytes as u128) <= end
            });
        if ok {
            Ok(())
        } else {
            Err(HyenaError::Buffer {
                name: what.to_string(),
                problem: format!(
                    "{bytes} bytes at {addr:#x} do not lie inside one live allocation of this device"
                ),
            })
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, usize>> {
        // A poisoned lock only means another thread panicked while holding it; the map is
        // still consistent (every operation is a single insert/remove/lookup).
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Elements (not bytes) that a [`GemmSpec`] touches in A, B and C, from the base addresses:
/// `(batch-1)*stride + extent of one matrix`. Checks `m, n, k, batch > 0`, leading dimensions
/// against the matrix heights, and overflow; returns typed errors.
pub fn gemm_extents(s: &GemmSpec) -> Result<(usize, usize, usize)> {
    let bad = |msg: String| HyenaError::Invalid(format!("gemm: {msg}"));
    if s.m == 0 || s.n == 0 || s.k == 0 || s.batch == 0 {
        return Err(bad(format!("m, n, k, batch must be > 0 (got {}, {}, {}, {})", s.m, s.n, s.k, s.batch)));
    }
    // Stored (column-major) shape of each operand: rows x cols.
    let (ar, ac) = match s.trans_a {
        Trans::N => (s.m, s.k),
        Trans::T => (s.k, s.m),
    };
    let (br, bc) = match s.trans_b {
        Trans::N => (s.k, s.n),
        Trans::T => (s.n, s.k),
    };
    let one = |name: &str, rows: usize, cols: usize, ld: usize, stride: usize| -> Result<usize> {
        if ld < rows {
            return Err(bad(format!("ld{name} = {ld} < {rows} rows of {name}")));
        }
        let mat = ld
            .checked_mul(cols - 1)
            .and_then(|x| x.checked_add(rows))
            .ok_or_else(|| bad(format!("{name} extent overflows")))?;
        stride
            .checked_mul(s.batch - 1)
            .and_then(|x| x.checked_add(mat))
            .ok_or_else(|| bad(format!("{name} batch extent overflows")))
    };
    Ok((
        one("a", ar, ac, s.lda, s.stride_a)?,
        one("b", br, bc, s.ldb, s.stride_b)?,
        one("c", s.m, s.n, s.ldc, s.stride_c)?,
    ))
}

impl<T: Copy> Drop for DeviceBuffer<T> {
    fn drop(&mut self) {
        self.dev
            .free_raw(self.addr, (self.len * std::mem::size_of::<T>()).max(1));
    }
}

/// View a slice of plain-old-data as bytes.
pub fn as_bytes<T: Copy>(s: &[T]) -> &[u8] {
    // SAFETY: T is Copy (plain data in this crate: f32/f64/f16/bf16/params structs); the byte view
    // covers exactly the slice's memory.
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s)) }
}

/// View a mutable slice of plain-old-data as bytes.
pub fn as_bytes_mut<T: Copy>(s: &mut [T]) -> &mut [u8] {
    // SAFETY: as above; every byte pattern is a valid f32/f64/f16/bf16.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut u8, std::mem::size_of_val(s)) }
}
