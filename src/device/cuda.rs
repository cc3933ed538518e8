//! The GPU [`Device`]: cudarc 0.19 (driver API, dynamic loading) + cuBLAS.
//!
//! - [`CudaDevice::new`] first checks that `libcuda` can be loaded at all (cudarc panics otherwise),
//!   then opens the primary context of the ordinal inside `catch_unwind` (last resort), so a machine
//!   without a driver or GPU gets [`HyenaError::NoDevice`], never a panic.
//! - The module is the fatbin nvcc built from every `kernels/*.cu` ([`crate::kernels::FATBIN`]);
//!   every entry point of [`crate::kernels::KERNELS`] is resolved once at creation.
//! - `launch_raw` checks the name and params size against the kernel index, the launch shape and the
//!   dynamic shared memory against the device's limits (opting in above the 48 KiB default), then
//!   launches on the context's default stream.
//! - Memory is tracked in an [`AllocTable`]: copies and GEMM operands are checked to lie inside
//!   live allocations before the driver or cuBLAS touches them. That check cannot see whether the
//!   memory stays allocated while the work runs: the raw methods are `unsafe fn`, and the typed
//!   API guarantees it (see [`super`]).
//! - Ordering: every launch, GEMM, copy and stream-ordered free runs on the context's legacy
//!   default stream (cudarc's `default_stream`, the null stream), in call order, and host copies
//!   are synchronous on it; so work queued while a buffer was borrowed runs before any later use
//!   of that buffer, including its free (`cuMemFreeAsync` on the same stream, or `cuMemFree`,
//!   which synchronises).
//! - GEMM: `cublasGemmStridedBatchedEx` (f32, f64, f16, bf16; f16/bf16 accumulate in f32), with the
//!   cuBLAS handle created on first use; a missing `libcublas` is a [`HyenaError::Device`] naming it.

use super::{gemm_bytes, gemm_extents, AllocTable, DType, Device, DeviceKind, GemmSpec, LaunchConfig, Trans};
use crate::error::{HyenaError, Result};
use crate::kernels;
use cudarc::cublas::{self, CudaBlas};
use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
use cudarc::driver::{result as drv, CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

/// Shared memory a block may use without opting in (all architectures).
const DEFAULT_SHARED_LIMIT: usize = 48 * 1024;

/// A CUDA GPU opened through the driver API.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    _module: Arc<CudaModule>,
    functions: HashMap<&'static str, CudaFunction>,
    /// Dynamic shared memory each kernel has been opted in to (bytes), above the default.
    smem_optin: Mutex<HashMap<&'static str, usize>>,
    blas: OnceLock<std::result::Result<CudaBlas, String>>,
    allocs: AllocTable,
    /// Stream-ordered allocation (`cuMemAllocAsync`/`cuMemFreeAsync` on the launch stream, from
    /// the device's default pool with a release threshold that keeps freed memory cached) when
    /// the device supports memory pools; plain `cuMemAlloc`/`cuMemFree` otherwise.
    pooled: bool,
    /// f32 GEMMs on TF32 tensor cores ([`Device::set_tf32`]; off by default).
    tf32: std::sync::atomic::AtomicBool,
    name: String,
    compute_capability: (i32, i32),
    max_shared_optin: usize,
    max_threads_per_block: u32,
    max_block: (u32, u32, u32),
    max_grid: (u32, u32, u32),
}

fn driver_err(what: &str, e: impl std::fmt::Debug) -> HyenaError {
    HyenaError::Device(format!("{what}: {e:?}"))
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

impl CudaDevice {
    /// True when the CUDA driver library (`libcuda.so`) can be loaded. Cheap; opens no context.
    pub fn driver_present() -> bool {
        // SAFETY: only tries to dlopen the driver library by its usual names.
        catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() }).unwrap_or(false)
    }

    /// Number of CUDA devices, or `NoDevice` when there is no driver.
    pub fn device_count() -> Result<usize> {
        if !Self::driver_present() {
            return Err(HyenaError::NoDevice("the CUDA driver library (libcuda.so) is not installed".into()));
        }
        match catch_unwind(|| {
            drv::init()?;
            CudaContext::device_count()
        }) {
            Ok(Ok(n)) => Ok(n.max(0) as usize),
            Ok(Err(e)) => Err(HyenaError::NoDevice(format!("cuInit/cuDeviceGetCount failed: {e:?}"))),
            Err(p) => Err(HyenaError::NoDevice(format!("the CUDA driver could not be used: {}", panic_text(&*p)))),
        }
    }

    /// Open GPU `ordinal`, load the embedded fatbin and resolve every kernel of the index.
    pub fn new(ordinal: usize) -> Result<Self> {
        let count = Self::device_count()?;
        if ordinal >= count {
            return Err(HyenaError::NoDevice(format!(
                "CUDA device {ordinal} requested, but the driver reports {count} device(s)"
            )));
        }
        let ctx = match catch_unwind(|| CudaContext::new(ordinal)) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(HyenaError::NoDevice(format!("cannot open CUDA device {ordinal}: {e:?}"))),
            Err(p) => {
                return Err(HyenaError::NoDevice(format!(
                    "cannot open CUDA device {ordinal}: {}",
                    panic_text(&*p)
                )))
            }
        };
        let attr = |a: CUdevice_attribute| -> Result<i32> {
            ctx.attribute(a).map_err(|e| driver_err("cuDeviceGetAttribute", e))
        };
        use CUdevice_attribute::*;
        let compute_capability = ctx
            .compute_capability()
            .map_err(|e| driver_err("compute capability", e))?;
        if compute_capability.0 < 8 {
            return Err(HyenaError::NoDevice(format!(
                "CUDA device {ordinal} has compute capability {}.{}; the fatbin targets sm_80 and newer",
                compute_capability.0, compute_capability.1
            )));
        }
        let name = ctx.name().unwrap_or_else(|_| format!("CUDA device {ordinal}"));
        let max_shared_optin = attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?.max(0) as usize;
        let max_threads_per_block = attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK)?.max(0) as u32;
        let max_block = (
            attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X)?.max(0) as u32,
            attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y)?.max(0) as u32,
            attr(CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z)?.max(0) as u32,
        );
        let max_grid = (
            attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X)?.max(0) as u32,
            attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y)?.max(0) as u32,
            attr(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z)?.max(0) as u32,
        );

        // cuModuleLoadData reads the fatbin through its header structs: hand it an 8-aligned copy.
        let image = kernels::FATBIN.to_vec();
        if image.as_ptr() as usize % 8 != 0 {
            return Err(HyenaError::Device("fatbin copy is not 8-byte aligned".into()));
        }
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(image))
            .map_err(|e| {
                driver_err(
                    &format!(
                        "loading the embedded fatbin (sm_80/sm_90 SASS + compute_90 PTX) on {name} \
                         (sm_{}{})",
                        compute_capability.0, compute_capability.1
                    ),
                    e,
                )
            })?;
        let mut functions = HashMap::new();
        for k in kernels::KERNELS {
            let f = module
                .load_function(k.name)
                .map_err(|e| driver_err(&format!("kernel `{}` missing from the fatbin", k.name), e))?;
            functions.insert(k.name, f);
        }
        let stream = ctx.default_stream();
        // Keep freed pool memory cached (threshold = u64::MAX) so that the temporaries of every
        // pass are recycled without the implicit device synchronisation of cuMemFree. This is a
        // per-process pool attribute, not a device setting.
        let pooled = ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED)
            .map(|v| v == 1)
            .unwrap_or(false)
            && {
                // SAFETY: the device handle comes from the live context; the attribute value is a
                // u64 as the driver documents for CU_MEMPOOL_ATTR_RELEASE_THRESHOLD.
                unsafe {
                    drv::device::get_default_mem_pool(ctx.cu_device()).and_then(|pool| {
                        let mut threshold: u64 = u64::MAX;
                        drv::mem_pool::set_attribute(
                            pool,
                            cudarc::driver::sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                            &mut threshold as *mut u64 as *mut c_void,
                        )
                    })
                }
                .is_ok()
            };
        Ok(Self {
            ctx,
            stream,
            _module: module,
            functions,
            smem_optin: Mutex::new(HashMap::new()),
            blas: OnceLock::new(),
            allocs: AllocTable::new(),
            pooled,
            tf32: std::sync::atomic::AtomicBool::new(false),
            name,
            compute_capability,
            max_shared_optin,
            max_threads_per_block,
            max_block,
            max_grid,
        })
    }

    /// [`CudaDevice::new`] as a shareable `Arc<dyn Device>`.
    pub fn arc(ordinal: usize) -> Result<Arc<dyn Device>> {
        Ok(Arc::new(Self::new(ordinal)?))
    }

    /// (major, minor) compute capability.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.compute_capability
    }

    fn bind(&self) -> Result<()> {
        self.ctx.bind_to_thread().map_err(|e| driver_err("cuCtxSetCurrent", e))
    }

    fn blas(&self) -> Result<&CudaBlas> {
        let r = self.blas.get_or_init(|| {
            // SAFETY: only tries to dlopen libcublas by its usual names.
            let present = catch_unwind(|| unsafe { cublas::sys::is_culib_present() }).unwrap_or(false);
            if !present {
                return Err("the cuBLAS library (libcublas.so.13, which needs libcublasLt.so.13) could not \
                            be loaded; put its folder on LD_LIBRARY_PATH"
                    .to_string());
            }
            let stream = self.stream.clone();
            match catch_unwind(AssertUnwindSafe(|| CudaBlas::new(stream))) {
                Ok(Ok(b)) => Ok(b),
                Ok(Err(e)) => Err(format!("cublasCreate failed: {e:?}")),
                Err(p) => Err(format!("cuBLAS could not be used: {}", panic_text(&*p))),
            }
        });
        r.as_ref().map_err(|e| HyenaError::Device(e.clone()))
    }

    fn check_config(&self, name: &str, cfg: &LaunchConfig) -> Result<()> {
        let bad = |msg: String| HyenaError::Invalid(format!("launch of `{name}`: {msg}"));
        let (g, b) = (cfg.grid, cfg.block);
        if g.0 == 0 || g.1 == 0 || g.2 == 0 || b.0 == 0 || b.1 == 0 || b.2 == 0 {
            return Err(bad(format!("empty grid {g:?} or block {b:?}")));
        }
        if g.0 > self.max_grid.0 || g.1 > self.max_grid.1 || g.2 > self.max_grid.2 {
            return Err(bad(format!("grid {g:?} exceeds the device maximum {:?}", self.max_grid)));
        }
        if b.0 > self.max_block.0 || b.1 > self.max_block.1 || b.2 > self.max_block.2 {
            return Err(bad(format!("block {b:?} exceeds the device maximum {:?}", self.max_block)));
        }
        let threads = b.0 as u64 * b.1 as u64 * b.2 as u64;
        if threads > self.max_threads_per_block as u64 {
            return Err(bad(format!(
                "{threads} threads per block; the device allows {}",
                self.max_threads_per_block
            )));
        }
        Ok(())
    }

    /// Make sure `f` may use `dynamic` bytes of dynamic shared memory (opting in above 48 KiB).
    fn ensure_shared(&self, name: &'static str, f: &CudaFunction, dynamic: usize) -> Result<()> {
        let static_smem = f
            .get_attribute(CUfunction_attribute::CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES)
            .map_err(|e| driver_err("cuFuncGetAttribute", e))?
            .max(0) as usize;
        let limit = self.max_shared_optin.saturating_sub(static_smem);
        if dynamic > limit {
            return Err(HyenaError::SharedMemory { kernel: name.to_string(), requested: dynamic, limit });
        }
        if dynamic + static_smem <= DEFAULT_SHARED_LIMIT {
            return Ok(());
        }
        let mut optin = self.smem_optin.lock().unwrap_or_else(|e| e.into_inner());
        if optin.get(name).copied().unwrap_or(0) >= dynamic {
            return Ok(());
        }
        f.set_attribute(
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            dynamic as i32,
        )
        .map_err(|e| driver_err(&format!("opting `{name}` in to {dynamic} bytes of shared memory"), e))?;
        optin.insert(name, dynamic);
        Ok(())
    }
}

impl Device for CudaDevice {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Cuda
    }

    fn name(&self) -> String {
        format!("{} (sm_{}{})", self.name, self.compute_capability.0, self.compute_capability.1)
    }

    fn max_shared_bytes(&self) -> usize {
        self.max_shared_optin
    }

    fn alloc_raw(&self, bytes: usize) -> Result<u64> {
        if bytes == 0 {
            return Err(HyenaError::Invalid("alloc_raw of 0 bytes".into()));
        }
        self.bind()?;
        // SAFETY: cuMemAllocAsync on the context's launch stream (every copy, launch and GEMM of
        // this device is ordered on it), or plain cuMemAlloc; the size is non-zero.
        let addr = if self.pooled {
            unsafe { drv::malloc_async(self.stream.cu_stream(), bytes) }
                .map_err(|e| driver_err(&format!("cuMemAllocAsync({bytes} bytes)"), e))?
        } else {
            unsafe { drv::malloc_sync(bytes) }.map_err(|e| driver_err(&format!("cuMemAlloc({bytes} bytes)"), e))?
        };
        self.allocs.insert(addr, bytes);
        Ok(addr)
    }

    unsafe fn free_raw(&self, addr: u64, _bytes: usize) {
        // Only free what this device allocated and has not freed yet.
        if self.allocs.remove(addr).is_some() && self.bind().is_ok() {
            // SAFETY: `addr` came from this context's allocator and is freed once (removed from the
            // table first); the caller guarantees no later use (contract of `free_raw`); the free
            // is stream-ordered after the work queued on the launch stream (pooled), or by
            // cuMemFree, which synchronises. An error here cannot be reported from Drop.
            let _ = unsafe {
                if self.pooled {
                    drv::free_async(addr, self.stream.cu_stream())
                } else {
                    drv::free_sync(addr)
                }
            };
        }
    }

    unsafe fn copy_htod_raw(&self, src: &[u8], dst: u64) -> Result<()> {
        self.allocs.check("copy_htod destination", dst, src.len())?;
        if src.is_empty() {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: the destination range lies inside a live allocation (checked above) that the
        // caller keeps allocated and unshared for the call (contract of `copy_htod_raw`); the copy
        // is synchronous and ordered after the work queued on the (legacy default) stream.
        unsafe { drv::memcpy_htod_sync(dst, src) }.map_err(|e| driver_err("cuMemcpyHtoD", e))
    }

    unsafe fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        self.allocs.check("copy_dtoh source", src, dst.len())?;
        if dst.is_empty() {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: the source range lies inside a live allocation (checked above) that the caller
        // keeps allocated and unwritten for the call (contract of `copy_dtoh_raw`); the copy is
        // synchronous and ordered after the work queued on the stream.
        unsafe { drv::memcpy_dtoh_sync(dst, src) }.map_err(|e| driver_err("cuMemcpyDtoH", e))
    }

    unsafe fn copy_dtod_raw(&self, src: u64, dst: u64, bytes: usize) -> Result<()> {
        self.allocs.check("copy_dtod source", src, bytes)?;
        self.allocs.check("copy_dtod destination", dst, bytes)?;
        if bytes == 0 {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: both ranges lie inside live allocations (checked above) that the caller keeps
        // allocated and unshared until the copy completes (contract of `copy_dtod_raw`).
        unsafe { drv::memcpy_dtod_sync(dst, src, bytes) }.map_err(|e| driver_err("cuMemcpyDtoD", e))
    }

    unsafe fn zero_raw(&self, dst: u64, bytes: usize) -> Result<()> {
        self.allocs.check("memset destination", dst, bytes)?;
        if bytes == 0 {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: the range lies inside a live allocation (checked above) that the caller keeps
        // allocated and unshared until the memset completes (contract of `zero_raw`); queued on
        // the launch stream, so ordered with every launch, GEMM, copy and free of this device.
        unsafe { drv::memset_d8_async(dst, 0, bytes, self.stream.cu_stream()) }
            .map_err(|e| driver_err("cuMemsetD8Async", e))
    }

    unsafe fn launch_raw(&self, name: &str, cfg: LaunchConfig, params: &[u8]) -> Result<()> {
        let info = kernels::check_launch(name, params.len())?;
        let f = self
            .functions
            .get(info.name)
            .ok_or_else(|| HyenaError::KernelNotBuilt(name.to_string()))?;
        self.check_config(name, &cfg)?;
        self.bind()?;
        self.ensure_shared(info.name, f, cfg.shared_bytes as usize)?;
        // The one kernel argument is the params struct, passed by value: the driver copies
        // `params_size` bytes from this pointer. Copy into 8-byte-aligned storage first.
        let mut storage = vec![0u64; params.len().div_ceil(8)];
        super::as_bytes_mut(&mut storage)[..params.len()].copy_from_slice(params);
        let mut args: [*mut c_void; 1] = [storage.as_mut_ptr() as *mut c_void];
        // SAFETY: `f` is a kernel of the loaded module whose only parameter is a struct of exactly
        // `params.len()` bytes (checked against the kernel index); the launch shape and shared
        // memory were checked against the device limits; the caller guarantees that the kernel's
        // accesses stay in memory kept allocated and unshared until it completes (contract of
        // `launch_raw`); `storage` outlives the call (the driver copies arguments at launch).
        unsafe {
            drv::launch_kernel(
                f.cu_function(),
                cfg.grid,
                cfg.block,
                cfg.shared_bytes,
                self.stream.cu_stream(),
                &mut args,
            )
        }
        .map_err(|e| driver_err(&format!("cuLaunchKernel(`{name}`, {cfg:?})"), e))
    }

    unsafe fn gemm(&self, s: &GemmSpec) -> Result<()> {
        use cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
        let (ba, bb, bc) = gemm_bytes(s, gemm_extents(s)?)?;
        self.allocs.check("gemm A", s.a, ba)?;
        self.allocs.check("gemm B", s.b, bb)?;
        self.allocs.check("gemm C", s.c, bc)?;
        let int = |v: usize, what: &str| -> Result<i32> {
            i32::try_from(v).map_err(|_| HyenaError::Invalid(format!("gemm: {what} = {v} exceeds i32")))
        };
        let long = |v: usize, what: &str| -> Result<i64> {
            i64::try_from(v).map_err(|_| HyenaError::Invalid(format!("gemm: {what} = {v} exceeds i64")))
        };
        let (m, n, k) = (int(s.m, "m")?, int(s.n, "n")?, int(s.k, "k")?);
        let (lda, ldb, ldc) = (int(s.lda, "lda")?, int(s.ldb, "ldb")?, int(s.ldc, "ldc")?);
        let (sa, sb, sc) = (long(s.stride_a, "stride_a")?, long(s.stride_b, "stride_b")?, long(s.stride_c, "stride_c")?);
        let batch = int(s.batch, "batch")?;
        let op = |t: Trans| match t {
            Trans::N => cublasOperation_t::CUBLAS_OP_N,
            Trans::T => cublasOperation_t::CUBLAS_OP_T,
        };
        let (dt, compute) = match s.dtype {
            DType::F32 if self.tf32() || s.tf32 => (cudaDataType::CUDA_R_32F, cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32),
            DType::F32 => (cudaDataType::CUDA_R_32F, cublasComputeType_t::CUBLAS_COMPUTE_32F),
            DType::F64 => (cudaDataType::CUDA_R_64F, cublasComputeType_t::CUBLAS_COMPUTE_64F),
            DType::F16 => (cudaDataType::CUDA_R_16F, cublasComputeType_t::CUBLAS_COMPUTE_32F),
            DType::BF16 => (cudaDataType::CUDA_R_16BF, cublasComputeType_t::CUBLAS_COMPUTE_32F),
        };
        // C: the operands' type, or f32 under 16-bit operands (gemm_extents allowed no other pair;
        // cublasGemmEx lists 16BF/16F inputs with a 32F output under CUBLAS_COMPUTE_32F).
        let dt_c = if s.c_dtype == s.dtype { dt } else { cudaDataType::CUDA_R_32F };
        // alpha/beta live on the host, in the compute type.
        let (a32, b32) = (s.alpha as f32, s.beta as f32);
        let (a64, b64) = (s.alpha, s.beta);
        let (alpha, beta): (*const c_void, *const c_void) = if s.dtype == DType::F64 {
            (&a64 as *const f64 as _, &b64 as *const f64 as _)
        } else {
            (&a32 as *const f32 as _, &b32 as *const f32 as _)
        };
        let blas = self.blas()?;
        self.bind()?;
        // SAFETY: every operand range lies inside a live allocation of this device (checked with
        // the extents implied by m/n/k/ld/stride/batch above) that the caller keeps allocated and
        // unshared until the queued GEMM completes (contract of `gemm`); dims fit cuBLAS's types;
        // alpha/beta point at host scalars of the compute type (default host pointer mode) that
        // outlive the call.
        unsafe {
            cublas::result::gemm_strided_batched_ex(
                *blas.handle(),
                op(s.trans_a),
                op(s.trans_b),
                m,
                n,
                k,
                alpha,
                s.a as *const c_void,
                dt,
                lda,
                sa,
                s.b as *const c_void,
                dt,
                ldb,
                sb,
                beta,
                s.c as *mut c_void,
                dt_c,
                ldc,
                sc,
                batch,
                compute,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| driver_err("cublasGemmStridedBatchedEx", e))
    }

    fn set_tf32(&self, on: bool) -> Result<()> {
        self.tf32.store(on, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn tf32(&self) -> bool {
        self.tf32.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn synchronize(&self) -> Result<()> {
        self.bind()?;
        self.stream.synchronize().map_err(|e| driver_err("cuStreamSynchronize", e))
    }

    /// CUDA events (timing enabled) recorded on the launch stream before and after `work`.
    fn time_ms(&self, work: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
        self.bind()?;
        let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = self.stream.record_event(flags).map_err(|e| driver_err("cuEventRecord", e))?;
        work()?;
        let end = self.stream.record_event(flags).map_err(|e| driver_err("cuEventRecord", e))?;
        let ms = start.elapsed_ms(&end).map_err(|e| driver_err("cuEventElapsedTime", e))?;
        Ok(ms as f64)
    }
}
