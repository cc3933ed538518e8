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
//! # Soundness: the typed API and the raw one beneath it
//!
//! Safe code reaches device memory only through the typed API: [`DeviceBuffer`] (owns an
//! allocation, frees it on drop), [`DeviceView`] (a shared, read-only borrow of a sub-range) and
//! [`DeviceViewMut`] (an exclusive borrow), and the wrappers of `crate::ops` (features
//! `cuda`/`sim`) built on them. The raw methods of [`Device`] that take addresses
//! ([`Device::free_raw`], the `copy_*_raw` copies, [`Device::launch_raw`], [`Device::gemm`]) are
//! `unsafe fn`: an address does not say whether the memory behind it is still allocated, or who
//! else uses it. The invariant that makes the typed API sound:
//!
//! - **Liveness.** Memory is freed only by `Drop` of the [`DeviceBuffer`] that owns it, which needs
//!   the buffer by value: no view of it, and so no operation on it, can be in progress (a view
//!   borrows the buffer for as long as an operation holds it).
//! - **Exclusivity.** Every operation that writes device memory takes the destination as `&mut`
//!   ([`DeviceBuffer::write`], [`DeviceViewMut`]; the `ops` wrappers take their outputs as
//!   [`DeviceViewMut`]); reads take shared borrows. So, as for host memory, a range is either
//!   written by one operation or read by any number, never both at once.
//! - **Element types** are plain old data ([`Pod`]: no padding, no references, every bit pattern
//!   valid), so whatever bytes the device holds (uninitialised memory, the simulator's 0xff
//!   poison, a kernel's output) read back as valid values, and no host pointer ever reaches a
//!   device.
//! - **Duration.** An operation's borrows last for the call. On the simulator every operation
//!   completes inside the call. On a GPU, kernels, GEMMs and copies are queued on the device's one
//!   stream in call order, and host copies are synchronous on that stream, so any later use of the
//!   same memory (a read, a write, or its free) runs after the queued work: frees are
//!   stream-ordered (`cuMemFreeAsync` on the same stream) or synchronising (`cuMemFree`). Hence
//!   "exclusive for the duration of the call" is "exclusive until the queued work completes".
//!
//! Device implementations still check every address range of a copy or GEMM against their live
//! allocations and return a typed error for a range outside them (the simulator also checks every
//! access a kernel makes); the `unsafe` contract is about what such a check cannot see: that the
//! memory stays allocated and unshared for the duration.

use crate::error::{HyenaError, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "sim")]
pub mod sim;
pub mod wrap;

/// Storage dtype of a device buffer element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary32.
    F32,
    /// IEEE binary64 (the GEMM and copies; the kernels store f32, f16 or bf16).
    F64,
    /// IEEE binary16.
    F16,
    /// bfloat16 (8 exponent bits, as f32, and 8 significand bits).
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

/// Plain old data (bytemuck's trait, re-exported): `Copy`, no padding, no references or
/// pointers, every bit pattern a valid value. The element type of every [`DeviceBuffer`].
pub use bytemuck::Pod;
/// Types without uninitialised (padding) bytes, whose bytes [`as_bytes`] may show (bytemuck's
/// trait, re-exported; every [`Pod`] type is one).
pub use bytemuck::NoUninit;

/// A storage element type of the kernels (a floating-point [`Pod`] with a [`DType`]).
pub trait DeviceScalar: Pod + Default + Send + Sync + std::fmt::Debug {
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
    /// A CUDA GPU through the driver API and cuBLAS (feature `cuda`).
    Cuda,
    /// The SIMT simulator, the kernels compiled for the CPU (feature `sim`).
    Sim,
}

impl DeviceKind {
    /// Every kind, in the order [`available`] tries them.
    pub const ALL: [DeviceKind; 2] = [DeviceKind::Cuda, DeviceKind::Sim];

    /// The Cargo feature of this crate that builds this kind.
    pub fn feature(self) -> &'static str {
        match self {
            DeviceKind::Cuda => "cuda",
            DeviceKind::Sim => "sim",
        }
    }

    /// Open a device of this kind: GPU 0, or a new simulator. A build without the kind's feature
    /// gets [`HyenaError::NotCompiled`] (the stub of the missing backend); CUDA without a driver
    /// or a GPU gets [`HyenaError::NoDevice`].
    pub fn open(self) -> Result<Arc<dyn Device>> {
        match self {
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => cuda::CudaDevice::arc(0),
            #[cfg(feature = "sim")]
            DeviceKind::Sim => Ok(Arc::new(sim::SimDevice::new())),
            #[allow(unreachable_patterns)]
            other => Err(HyenaError::NotCompiled { feature: other.feature() }),
        }
    }
}

/// Grid, block and dynamic shared memory of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in x, y, z.
    pub grid: (u32, u32, u32),
    /// Threads per block in x, y, z.
    pub block: (u32, u32, u32),
    /// Dynamic shared memory per block, in bytes.
    pub shared_bytes: u32,
}

/// Transpose flag of a GEMM operand (cuBLAS convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    /// The operand as stored.
    N,
    /// The operand transposed.
    T,
}

/// A strided-batched GEMM in cuBLAS's column-major convention:
/// for each `i < batch`: `C_i = alpha * op(A_i) * op(B_i) + beta * C_i`, with
/// `op(A_i)` m×k, `op(B_i)` k×n, `C_i` m×n, `X_i = X + i * stride_x` (strides and leading
/// dimensions in elements). Row-major callers swap A and B, as usual.
#[derive(Clone, Copy, Debug)]
pub struct GemmSpec {
    /// Element type of A and B (and of C unless `c_dtype` says otherwise).
    pub dtype: DType,
    /// Element type of C: `dtype`, or F32 for 16-bit A and B (f32 accumulation stored unrounded,
    /// cublasGemmEx's `CUDA_R_16BF`/`CUDA_R_16F` inputs with a `CUDA_R_32F` output); any other
    /// pairing is a typed error ([`gemm_extents`]).
    pub c_dtype: DType,
    /// Whether A is used transposed.
    pub trans_a: Trans,
    /// Whether B is used transposed.
    pub trans_b: Trans,
    /// Rows of `op(A)` and C.
    pub m: usize,
    /// Columns of `op(B)` and C.
    pub n: usize,
    /// Columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// Scale of the product.
    pub alpha: f64,
    /// Device address of `A_0`.
    pub a: u64,
    /// Leading dimension of A (elements between the starts of two stored columns).
    pub lda: usize,
    /// Elements between `A_i` and `A_{i+1}`.
    pub stride_a: usize,
    /// Device address of `B_0`.
    pub b: u64,
    /// Leading dimension of B.
    pub ldb: usize,
    /// Elements between `B_i` and `B_{i+1}`.
    pub stride_b: usize,
    /// Scale of the previous C (0: C is not read, it may hold NaN).
    pub beta: f64,
    /// Device address of `C_0`.
    pub c: u64,
    /// Leading dimension of C.
    pub ldc: usize,
    /// Elements between `C_i` and `C_{i+1}`.
    pub stride_c: usize,
    /// Number of products.
    pub batch: usize,
    /// An f32 GEMM that may round its operands to TF32 whatever the device switch
    /// ([`Device::set_tf32`]) says: for callers whose operands carry less precision than TF32
    /// anyway (f32 workspaces computed from bf16/f16 storage). Ignored for other dtypes.
    pub tf32: bool,
}

/// The device abstraction: the only things that differ between the GPU and the simulator.
///
/// Implementations must check every size, alignment and limit *before* touching memory or
/// launching, and return a typed [`HyenaError`]; they never panic on bad input.
///
/// # Safety of the raw methods
/// The methods that take device addresses are `unsafe fn`. Their common contract, for every
/// device range an operation reads or writes (for [`Device::launch_raw`]: every range the kernel
/// accesses through the addresses in its params; for [`Device::gemm`]: the extents of
/// [`gemm_extents`]):
/// 1. the range lies in memory returned by this device's [`Device::alloc_raw`] that is not freed
///    until the operation has completed (on a GPU: until the work it queues has run; a free
///    through [`Device::free_raw`] issued after the call is ordered after that work);
/// 2. no range the operation writes is read or written, and no range it reads is written, by any
///    other operation (another thread's call, or host code) while it runs.
///
/// Ranges that do not lie inside one live allocation are detected by the copies and the GEMM
/// and come back as [`HyenaError::Buffer`]; the simulator also checks every access of a kernel.
/// Safe code uses the typed API instead ([`DeviceBuffer`], [`DeviceView`], [`DeviceViewMut`],
/// `crate::ops`), which meets the contract by construction (see the module docs).
pub trait Device: Send + Sync {
    /// Cuda or Sim.
    fn kind(&self) -> DeviceKind;
    /// Human-readable name (GPU model, or "SIMT simulator").
    fn name(&self) -> String;
    /// Largest dynamic shared memory one block may request (bytes), after opt-in.
    fn max_shared_bytes(&self) -> usize;
    /// Allocate `bytes` of device memory (256-byte aligned). Freed with [`Device::free_raw`]
    /// ([`DeviceBuffer`] does both).
    fn alloc_raw(&self, bytes: usize) -> Result<u64>;
    /// Free memory returned by [`Device::alloc_raw`] (stream-ordered after the work queued
    /// before it). Unknown addresses are ignored.
    ///
    /// # Safety
    /// No operation that may still run, and no later one, uses the memory at `addr` (its owner is
    /// gone: the only safe caller is `Drop` of [`DeviceBuffer`]).
    unsafe fn free_raw(&self, addr: u64, bytes: usize);
    /// Copy host bytes into device memory at `dst`.
    ///
    /// # Safety
    /// The contract of the trait docs for the `src.len()` bytes at `dst` (written).
    unsafe fn copy_htod_raw(&self, src: &[u8], dst: u64) -> Result<()>;
    /// Copy device memory at `src` into host bytes.
    ///
    /// # Safety
    /// The contract of the trait docs for the `dst.len()` bytes at `src` (read).
    unsafe fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> Result<()>;
    /// Copy `bytes` between two device addresses.
    ///
    /// # Safety
    /// The contract of the trait docs for `bytes` at `src` (read) and at `dst` (written).
    unsafe fn copy_dtod_raw(&self, src: u64, dst: u64, bytes: usize) -> Result<()>;
    /// Set `bytes` of device memory at `dst` to zero. On a GPU this is queued on the launch
    /// stream like a kernel (`cuMemsetD8Async`): no host synchronisation, no host copy. The
    /// default copies a host buffer of zeros (the simulator, whose copies are immediate).
    ///
    /// # Safety
    /// The contract of the trait docs for `bytes` at `dst` (written).
    unsafe fn zero_raw(&self, dst: u64, bytes: usize) -> Result<()> {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.copy_htod_raw(&vec![0u8; bytes], dst) }
    }
    /// Launch kernel `name` (its `extern "C"` symbol) with one params struct passed by value,
    /// given as its raw bytes (`params.len()` must equal the struct's size).
    ///
    /// # Safety
    /// `params` is the kernel's params struct (`kernels/hyena_params.h`) with sizes and addresses
    /// such that every access the kernel makes falls in ranges that meet the contract of the trait
    /// docs (on a GPU nothing checks those accesses).
    unsafe fn launch_raw(&self, name: &str, cfg: LaunchConfig, params: &[u8]) -> Result<()>;
    /// Run a strided-batched GEMM (cuBLAS on the GPU, the CPU GEMM in the simulator).
    /// Safe callers use `ops::gemm::gemm` (features `cuda`/`sim`).
    ///
    /// # Safety
    /// The contract of the trait docs for the extents of [`gemm_extents`] at `a`, `b` (read) and
    /// `c` (written; not overlapping `a` or `b`), in elements of `spec.dtype`.
    unsafe fn gemm(&self, spec: &GemmSpec) -> Result<()>;
    /// Let f32 GEMMs run on TF32 tensor cores: the operands are rounded to TF32 (8 exponent and
    /// 10 significand bits, unit roundoff 2⁻¹¹), products accumulate in f32. A device-wide switch,
    /// **off by default** (like PyTorch's `allow_tf32`); GEMMs of other dtypes are unaffected.
    /// On a GPU, cuBLAS's `CUBLAS_COMPUTE_32F_FAST_TF32`; the simulator rounds the operands to
    /// TF32 (to nearest, ties to even: [`tf32_round`]) before its f32 GEMM, so that the accuracy
    /// effect is testable on the CPU. Devices that cannot honour `true` return an error.
    fn set_tf32(&self, on: bool) -> Result<()> {
        if on {
            return Err(HyenaError::Invalid(format!("{}: TF32 GEMMs are not supported", self.name())));
        }
        Ok(())
    }
    /// Whether f32 GEMMs use TF32 ([`Device::set_tf32`]).
    fn tf32(&self) -> bool {
        false
    }
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

/// `x` rounded to TF32 (the 10 leading significand bits kept; to nearest, ties to even), as
/// an f32. Infinities and NaN pass unchanged; a value that rounds past f32's largest finite
/// value becomes infinite, as in any rounding to a narrower format.
pub fn tf32_round(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let b = x.to_bits();
    // Add half an ulp of TF32 (bit 12 set, minus one unless the kept last bit is odd: ties to
    // even), then clear the 13 dropped bits.
    f32::from_bits(b.wrapping_add(0x0fff + ((b >> 13) & 1)) & !0x1fff)
}

/// Every device this build can open on this machine, with a one-line reason for each kind it
/// cannot: the CUDA GPU 0 (feature `cuda`, when a driver and a GPU are present) and the SIMT
/// simulator (feature `sim`). Tests run on each; the reasons say what was skipped.
pub fn available() -> (Vec<Arc<dyn Device>>, Vec<String>) {
    let mut devs: Vec<Arc<dyn Device>> = Vec::new();
    let mut skipped = Vec::new();
    for kind in DeviceKind::ALL {
        match kind.open() {
            Ok(d) => devs.push(d),
            Err(e) => skipped.push(match kind {
                DeviceKind::Cuda => format!("CUDA: {e}"),
                DeviceKind::Sim => format!("the simulator: {e}"),
            }),
        }
    }
    (devs, skipped)
}

/// The accessors [`DeviceBuffer`], [`DeviceView`] and [`DeviceViewMut`] share: each holds its
/// device (`dev`, owned or borrowed), the address of its first element and its length.
macro_rules! memory_accessors {
    () => {
        /// Raw 64-bit device address of the first element (for a params struct; using it needs
        /// the `unsafe` raw API).
        pub fn addr(&self) -> u64 {
            self.addr
        }
        /// Number of elements.
        pub fn len(&self) -> usize {
            self.len
        }
        /// True when it holds no element.
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }
        /// True when this memory lives on `dev` (the same `Arc`).
        pub fn is_on(&self, dev: &Arc<dyn Device>) -> bool {
            let own: &Arc<dyn Device> = &self.dev;
            std::ptr::addr_eq(Arc::as_ptr(own), Arc::as_ptr(dev))
        }
        /// Address and length of elements `range`, checked against this length.
        fn sub_range(&self, range: std::ops::Range<usize>) -> Result<(u64, usize)> {
            if range.start > range.end || range.end > self.len {
                return Err(range_error(&range, self.len));
            }
            // In bounds of the allocation, so no overflow.
            Ok((self.addr + (range.start * std::mem::size_of::<T>()) as u64, range.end - range.start))
        }
    };
}

/// A typed device buffer of `len` elements of `T`, freed on drop.
///
/// Reads take `&self` ([`DeviceBuffer::to_host`], [`DeviceBuffer::view`]); writes take
/// `&mut self` ([`DeviceBuffer::write`], [`DeviceBuffer::view_mut`]), so a buffer shared between
/// threads is only read. Element types are [`Pod`]:
///
/// ```compile_fail,E0277
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # fn f(dev: &std::sync::Arc<dyn Device>) {
/// // `bool` has invalid bit patterns: not a device element type.
/// let b = DeviceBuffer::<bool>::alloc(dev, 4);
/// # }
/// ```
/// ```compile_fail,E0277
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # fn f(dev: &std::sync::Arc<dyn Device>) {
/// // Nor are references.
/// let b = DeviceBuffer::<&str>::alloc(dev, 4);
/// # }
/// ```
/// ```compile_fail,E0596
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # fn f(dev: &std::sync::Arc<dyn Device>) -> hyena_kernels::Result<()> {
/// // A write through a shared borrow does not compile (readers may hold the same buffer).
/// let b = DeviceBuffer::<f32>::from_host(dev, &[1.0, 2.0])?;
/// let shared = &b;
/// shared.write(&[3.0, 4.0])?;
/// # Ok(()) }
/// ```
/// ```compile_fail,E0505
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # fn f(dev: &std::sync::Arc<dyn Device>) -> hyena_kernels::Result<()> {
/// // The buffer cannot be freed while a view of it exists: every copy, launch or GEMM holds
/// // one for its duration (the free-during-copy race of the old safe `free_raw`).
/// let b = DeviceBuffer::<f32>::alloc(dev, 1 << 20)?;
/// let view = b.as_view();
/// drop(b);
/// view.to_host()?;
/// # Ok(()) }
/// ```
/// ```compile_fail,E0133
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # fn f(dev: &std::sync::Arc<dyn Device>) -> hyena_kernels::Result<()> {
/// // Nor through the raw address: freeing by address is `unsafe`.
/// let b = DeviceBuffer::<f32>::alloc(dev, 1 << 20)?;
/// dev.free_raw(b.addr(), 4 << 20);
/// # Ok(()) }
/// ```
/// The same code with what is allowed compiles:
/// ```no_run
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # fn f(dev: &std::sync::Arc<dyn Device>) -> hyena_kernels::Result<()> {
/// let mut b = DeviceBuffer::<f32>::from_host(dev, &[1.0, 2.0])?;
/// b.write(&[3.0, 4.0])?;
/// let shared = &b;
/// std::thread::scope(|s| {
///     let reader = s.spawn(|| shared.to_host());
///     let _ = shared.to_host();
///     reader.join()
/// });
/// drop(b);
/// # Ok(()) }
/// ```
pub struct DeviceBuffer<T: Pod> {
    dev: Arc<dyn Device>,
    addr: u64,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

/// Bytes of `len` elements of `T`, checked.
fn byte_len<T>(len: usize) -> Result<usize> {
    len.checked_mul(std::mem::size_of::<T>())
        .ok_or_else(|| HyenaError::Invalid(format!("buffer of {len} elements overflows")))
}

impl<T: Pod> DeviceBuffer<T> {
    /// Allocate a buffer of `len` elements (contents unspecified: any [`Pod`] value).
    pub fn alloc(dev: &Arc<dyn Device>, len: usize) -> Result<Self> {
        let bytes = byte_len::<T>(len)?;
        let addr = dev.alloc_raw(bytes.max(1))?;
        Ok(Self { dev: dev.clone(), addr, len, _t: std::marker::PhantomData })
    }
    /// Allocate and fill from a host slice.
    pub fn from_host(dev: &Arc<dyn Device>, src: &[T]) -> Result<Self> {
        let mut b = Self::alloc(dev, src.len())?;
        b.write(src)?;
        Ok(b)
    }
    /// Copy the whole buffer back to the host.
    pub fn to_host(&self) -> Result<Vec<T>> {
        self.as_view().to_host()
    }
    /// Overwrite the buffer from a host slice of the same length.
    pub fn write(&mut self, src: &[T]) -> Result<()> {
        self.as_view_mut().write(src)
    }
    /// Allocate a buffer of `len` elements set to zero on the device (no host copy on a GPU).
    pub fn zeros(dev: &Arc<dyn Device>, len: usize) -> Result<Self> {
        let mut b = Self::alloc(dev, len)?;
        b.as_view_mut().fill_zero()?;
        Ok(b)
    }
    /// Overwrite the buffer with a device-to-device copy of `src` (same length).
    pub fn copy_from(&mut self, src: DeviceView<'_, T>) -> Result<()> {
        self.as_view_mut().copy_from(src)
    }
    memory_accessors!();
    /// The device that owns this buffer.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }
    /// A read-only view of the whole buffer.
    pub fn as_view(&self) -> DeviceView<'_, T> {
        DeviceView { dev: &self.dev, addr: self.addr, len: self.len, _t: std::marker::PhantomData }
    }
    /// A read-only view of elements `range` (e.g. `buf.view(1..n+1)` for a view misaligned by one
    /// element).
    pub fn view(&self, range: std::ops::Range<usize>) -> Result<DeviceView<'_, T>> {
        let (addr, len) = self.sub_range(range)?;
        Ok(DeviceView { dev: &self.dev, addr, len, _t: std::marker::PhantomData })
    }
    /// An exclusive (writable) view of the whole buffer.
    pub fn as_view_mut(&mut self) -> DeviceViewMut<'_, T> {
        DeviceViewMut { dev: &self.dev, addr: self.addr, len: self.len, _t: std::marker::PhantomData }
    }
    /// An exclusive (writable) view of elements `range`.
    pub fn view_mut(&mut self, range: std::ops::Range<usize>) -> Result<DeviceViewMut<'_, T>> {
        self.as_view_mut().into_view_mut(range)
    }
    /// Disjoint exclusive views of consecutive chunks of `chunk` elements (the last one shorter
    /// when `chunk` does not divide the length), like `slice::chunks_mut`.
    pub fn chunks_mut(&mut self, chunk: usize) -> Result<Vec<DeviceViewMut<'_, T>>> {
        if chunk == 0 {
            return Err(HyenaError::Invalid("chunks_mut: chunk length must be positive".into()));
        }
        let mut rest = self.as_view_mut();
        let mut out = Vec::with_capacity(rest.len.div_ceil(chunk));
        while rest.len > chunk {
            let (head, tail) = rest.split_at(chunk)?;
            out.push(head);
            rest = tail;
        }
        if rest.len > 0 {
            out.push(rest);
        }
        Ok(out)
    }
}

impl<T: DeviceScalar> DeviceBuffer<T> {
    /// Storage dtype of the elements.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }
}

fn range_error(range: &std::ops::Range<usize>, len: usize) -> HyenaError {
    HyenaError::Buffer {
        name: "view".into(),
        problem: format!("range {range:?} out of bounds for {len} elements"),
    }
}

/// A contiguous sub-range of a [`DeviceBuffer`], read-only: it borrows the buffer shared, so the
/// memory stays alive and nothing writes it while the view exists. `Copy`, like `&[T]`.
pub struct DeviceView<'a, T: Pod> {
    dev: &'a Arc<dyn Device>,
    addr: u64,
    len: usize,
    _t: std::marker::PhantomData<&'a [T]>,
}

impl<T: Pod> Clone for DeviceView<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Pod> Copy for DeviceView<'_, T> {}

impl<'a, T: Pod> From<&'a DeviceBuffer<T>> for DeviceView<'a, T> {
    fn from(b: &'a DeviceBuffer<T>) -> Self {
        b.as_view()
    }
}

impl<'a, T: Pod> From<&'a DeviceView<'_, T>> for DeviceView<'a, T> {
    fn from(v: &'a DeviceView<'_, T>) -> Self {
        DeviceView { dev: v.dev, addr: v.addr, len: v.len, _t: std::marker::PhantomData }
    }
}

impl<'a, T: Pod> From<&'a DeviceViewMut<'_, T>> for DeviceView<'a, T> {
    fn from(v: &'a DeviceViewMut<'_, T>) -> Self {
        v.as_view()
    }
}

impl<'a, T: Pod> DeviceView<'a, T> {
    memory_accessors!();
    /// The device that owns the memory.
    pub fn device(&self) -> &'a Arc<dyn Device> {
        self.dev
    }
    /// The sub-view of elements `range`.
    pub fn view(&self, range: std::ops::Range<usize>) -> Result<DeviceView<'a, T>> {
        let (addr, len) = self.sub_range(range)?;
        Ok(DeviceView { dev: self.dev, addr, len, _t: std::marker::PhantomData })
    }
    /// Copy the viewed elements to the host.
    pub fn to_host(&self) -> Result<Vec<T>> {
        let mut out = vec![T::zeroed(); self.len];
        if self.len > 0 {
            // SAFETY: the view borrows its buffer shared for 'a: the range is allocated (freed
            // only by the buffer's Drop) and nothing writes it (writes need `&mut`) during the
            // synchronous copy; `T: Pod` accepts whatever bytes the device holds.
            unsafe { self.dev.copy_dtoh_raw(self.addr, as_bytes_mut(&mut out)) }?;
        }
        Ok(out)
    }
}

/// A contiguous sub-range of a [`DeviceBuffer`], writable: it borrows the buffer exclusively
/// (from [`DeviceBuffer::as_view_mut`], [`DeviceBuffer::view_mut`], [`DeviceBuffer::chunks_mut`]
/// or [`DeviceViewMut::split_at`]), so no other operation reads or writes the range while it
/// exists. The outputs of the `crate::ops` wrappers. Pass `&mut view` to lend it to one call
/// and keep it.
pub struct DeviceViewMut<'a, T: Pod> {
    dev: &'a Arc<dyn Device>,
    addr: u64,
    len: usize,
    _t: std::marker::PhantomData<&'a mut [T]>,
}

impl<'a, T: Pod> From<&'a mut DeviceBuffer<T>> for DeviceViewMut<'a, T> {
    fn from(b: &'a mut DeviceBuffer<T>) -> Self {
        b.as_view_mut()
    }
}

impl<'a, T: Pod> From<&'a mut DeviceViewMut<'_, T>> for DeviceViewMut<'a, T> {
    fn from(v: &'a mut DeviceViewMut<'_, T>) -> Self {
        v.reborrow()
    }
}

impl<'a, T: Pod> DeviceViewMut<'a, T> {
    memory_accessors!();
    /// The device that owns the memory.
    pub fn device(&self) -> &'a Arc<dyn Device> {
        self.dev
    }
    /// A read-only view of the same range, borrowing this one.
    pub fn as_view(&self) -> DeviceView<'_, T> {
        DeviceView { dev: self.dev, addr: self.addr, len: self.len, _t: std::marker::PhantomData }
    }
    /// A shorter-lived writable view of the same range (to lend it to one call and keep it).
    pub fn reborrow(&mut self) -> DeviceViewMut<'_, T> {
        DeviceViewMut { dev: self.dev, addr: self.addr, len: self.len, _t: std::marker::PhantomData }
    }
    /// The writable sub-view of elements `range`, consuming this view.
    pub fn into_view_mut(self, range: std::ops::Range<usize>) -> Result<DeviceViewMut<'a, T>> {
        let (addr, len) = self.sub_range(range)?;
        Ok(DeviceViewMut { dev: self.dev, addr, len, _t: std::marker::PhantomData })
    }
    /// Split into the elements `..mid` and `mid..`, two disjoint writable views.
    pub fn split_at(self, mid: usize) -> Result<(DeviceViewMut<'a, T>, DeviceViewMut<'a, T>)> {
        let (addr, len) = self.sub_range(mid..self.len)?;
        let head = DeviceViewMut { dev: self.dev, addr: self.addr, len: mid, _t: std::marker::PhantomData };
        Ok((head, DeviceViewMut { dev: self.dev, addr, len, _t: std::marker::PhantomData }))
    }
    /// Copy the viewed elements to the host.
    pub fn to_host(&self) -> Result<Vec<T>> {
        self.as_view().to_host()
    }
    /// Overwrite the viewed elements from a host slice of the same length.
    pub fn write(&mut self, src: &[T]) -> Result<()> {
        crate::error::check_len("device write source", src.len(), self.len)?;
        if self.len == 0 {
            return Ok(());
        }
        // SAFETY: the view borrows its buffer exclusively: the range is allocated and no other
        // operation touches it during the copy (host copies are synchronous).
        unsafe { self.dev.copy_htod_raw(as_bytes(src), self.addr) }
    }
    /// Set every viewed element to all-zero bits (0.0 for the float types) on the device, queued
    /// like a kernel (no host copy on a GPU).
    pub fn fill_zero(&mut self) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        // SAFETY: the view borrows its buffer exclusively: the range is allocated and no other
        // operation touches it while the queued memset runs (stream order on a GPU).
        unsafe { self.dev.zero_raw(self.addr, byte_len::<T>(self.len)?) }
    }
    /// Overwrite the viewed elements with a device-to-device copy of `src` (same length, same
    /// device).
    pub fn copy_from(&mut self, src: DeviceView<'_, T>) -> Result<()> {
        crate::error::check_len("device copy source", src.len(), self.len)?;
        if !src.is_on(self.dev) {
            return Err(HyenaError::Buffer { name: "device copy source".into(), problem: "belongs to another device".into() });
        }
        if self.len == 0 {
            return Ok(());
        }
        // SAFETY: `src` borrows its buffer shared and `self` borrows its own exclusively, so the
        // two ranges are live, disjoint (a range cannot be borrowed both ways), and nothing else
        // writes `src` or touches `self` during the copy (queued in stream order on a GPU).
        unsafe { self.dev.copy_dtod_raw(src.addr, self.addr, byte_len::<T>(self.len)?) }
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
    let mixed_ok = matches!(s.dtype, DType::BF16 | DType::F16) && s.c_dtype == DType::F32;
    if s.c_dtype != s.dtype && !mixed_ok {
        return Err(bad(format!("A and B in {:?} with C in {:?}: C must be {:?} (or f32 for 16-bit A and B)", s.dtype, s.c_dtype, s.dtype)));
    }
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

/// The element extents of [`gemm_extents`] in bytes: A's and B's at `dtype`'s size, C's at
/// `c_dtype`'s (the ranges a backend checks against its allocations); overflow is a typed error.
pub fn gemm_bytes(s: &GemmSpec, (ea, eb, ec): (usize, usize, usize)) -> Result<(usize, usize, usize)> {
    let bytes = |e: usize, t: DType, what: &str| {
        e.checked_mul(t.size()).ok_or_else(|| HyenaError::Invalid(format!("gemm: {what} byte size overflows")))
    };
    Ok((bytes(ea, s.dtype, "A")?, bytes(eb, s.dtype, "B")?, bytes(ec, s.c_dtype, "C")?))
}

impl<T: Pod> Drop for DeviceBuffer<T> {
    fn drop(&mut self) {
        // SAFETY: the buffer is dropped, so no view of it exists and no operation borrowing it
        // is in progress; work queued earlier on a GPU is ordered before the free. The size is
        // the one allocated (it fitted then).
        unsafe { self.dev.free_raw(self.addr, (self.len * std::mem::size_of::<T>()).max(1)) };
    }
}

/// View a slice of plain-old-data as bytes (no padding, so every byte is initialised):
///
/// ```compile_fail,E0277
/// // References are not plain old data.
/// let b = hyena_kernels::device::as_bytes::<&str>(&["a", "b"]);
/// ```
/// ```
/// assert_eq!(hyena_kernels::device::as_bytes::<u16>(&[0x0102]).len(), 2);
/// ```
pub fn as_bytes<T: NoUninit>(s: &[T]) -> &[u8] {
    // Fails only for a zero-sized `T`: its slices hold no bytes.
    bytemuck::try_cast_slice(s).unwrap_or(&[])
}

/// View a mutable slice of plain-old-data as bytes (every byte pattern written is a valid `T`):
///
/// ```compile_fail,E0277
/// // A `bool` holding 3 would be undefined behaviour.
/// let mut v = [false; 4];
/// let b = hyena_kernels::device::as_bytes_mut::<bool>(&mut v);
/// ```
pub fn as_bytes_mut<T: Pod>(s: &mut [T]) -> &mut [u8] {
    // Fails only for a zero-sized `T`: its slices hold no bytes.
    bytemuck::try_cast_slice_mut(s).unwrap_or(&mut [])
}
