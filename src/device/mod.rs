//! One launch path for the GPU and the SIMT simulator.
//!
//! A [`Device`] allocates memory, copies, launches a kernel by name with one params struct passed by
//! value, and runs library primitives (GEMM). Everything that decides *what* to launch (grid/block
//! sizes, kernel order, buffers) is written once on top of this trait and runs unchanged on
//! [`cuda::CudaDevice`] (feature `cuda`) and [`sim::SimDevice`] (feature `sim`).
//!
//! Device pointers are plain 64-bit addresses (`u64`), as in the params structs of
//! `kernels/hyena_params.h`.

use crate::error::{HyenaError, Result};
use std::sync::Arc;

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
