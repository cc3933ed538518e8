//! The SIMT simulator device (feature `sim`): runs the very same `kernels/*.cu` on the CPU, on top
//! of the `cudasim` crate (`crates/cudasim`: runtime, checks, counters; see its README).
//!
//! `build/sim.rs` compiles every kernel source with cudasim's build helper; this module is the
//! thin adapter from cudasim's [`cudasim::SimDevice`] to this crate's [`Device`] trait, plus the
//! GEMM (the CPU `gemm` crate) that cuBLAS does on the GPU.
//!
//! A violation comes back from [`Device::launch_raw`] as [`HyenaError::SimViolation`], with the
//! kernel's name and the [`SimViolation`] kind as fields.
//!
//! Launches are serialised process-wide (static `__shared__` variables are process globals), and
//! results are deterministic.

use super::{gemm_bytes, gemm_extents, DType, Device, DeviceKind, GemmSpec, LaunchConfig, Trans};
use crate::error::{HyenaError, Result};

pub use cudasim::{
    GlobalCounters, KernelSource as SimKernelSource, LaunchCounters, LineCount, MathCounters, SharedCounters,
    ThreadOrder, Violation as SimViolation, DEFAULT_MAX_SHARED_BYTES,
};

mod lib {
    cudasim::include_kernels!("hyena");
}

/// Every kernel compiled into the simulator (`kernels/*.cu`), as found in the sources.
pub fn sim_kernels() -> &'static [SimKernelSource] {
    lib::KERNELS.sources()
}

/// Every kernel compiled into the simulator, as the C++ compiler built it, by name.
pub fn registry() -> &'static std::collections::HashMap<String, cudasim::Kernel> {
    lib::KERNELS.kernels()
}

fn map_err(e: cudasim::SimError) -> HyenaError {
    use cudasim::SimError as E;
    match e {
        E::KernelNotBuilt(n) => HyenaError::KernelNotBuilt(n),
        E::SharedMemory { kernel, requested, limit } => HyenaError::SharedMemory { kernel, requested, limit },
        E::Buffer { what, problem } => HyenaError::Buffer { name: what, problem },
        e @ (E::Params { .. } | E::InvalidLaunch { .. }) => HyenaError::Invalid(e.to_string()),
        E::Violation { kernel, kind, message } => HyenaError::SimViolation { kernel, kind, message },
        e @ (E::OutOfMemory(_) | E::Launch { .. }) => HyenaError::Device(e.to_string()),
    }
}

/// The SIMT simulator as a [`Device`]. Device addresses are host addresses of its allocations.
pub struct SimDevice {
    inner: cudasim::SimDevice,
    /// f32 GEMMs with operands rounded to TF32 ([`Device::set_tf32`]; off by default).
    tf32: std::sync::atomic::AtomicBool,
}

impl Default for SimDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDevice {
    /// A simulator with H200-like limits (227 KiB of dynamic shared memory per block).
    pub fn new() -> Self {
        SimDevice { inner: cudasim::SimDevice::new(&lib::KERNELS), tf32: Default::default() }
    }
    /// Change the dynamic shared memory limit.
    pub fn with_max_shared_bytes(self, bytes: usize) -> Self {
        SimDevice { inner: self.inner.with_max_shared_bytes(bytes), tf32: self.tf32 }
    }
    /// Change the thread order of the scheduler.
    pub fn with_thread_order(self, order: ThreadOrder) -> Self {
        SimDevice { inner: self.inner.with_thread_order(order), tf32: self.tf32 }
    }
    /// Number of live allocations (for leak checks in tests).
    pub fn live_allocations(&self) -> usize {
        self.inner.live_allocations()
    }
    /// Count every following launch (see [`LaunchCounters`]; off by default).
    pub fn set_counters(&self, on: bool) {
        self.inner.set_counters(on)
    }
    /// The counters of the launches since the last call, in launch order.
    pub fn take_counters(&self) -> Vec<LaunchCounters> {
        self.inner.take_counters()
    }
    /// Run only `n` evenly spread blocks of kernels declared `CUDASIM_UNIFORM_BLOCKS` (for
    /// counting: the skipped blocks' outputs are not computed). `None`: every block.
    pub fn set_block_sample(&self, n: Option<u32>) {
        self.inner.set_block_sample(n)
    }
    /// The cudasim device underneath.
    pub fn sim(&self) -> &cudasim::SimDevice {
        &self.inner
    }
    fn check_range(&self, what: &str, addr: u64, bytes: usize) -> Result<()> {
        self.inner.check_range(what, addr, bytes).map_err(map_err)
    }
}

fn gemm_run<T: Copy>(
    s: &GemmSpec,
    load: impl Fn(u64, usize) -> f64,
    store: impl Fn(u64, usize, f64),
    _t: std::marker::PhantomData<T>,
) {
    for bi in 0..s.batch {
        let (a0, b0, c0) = (bi * s.stride_a, bi * s.stride_b, bi * s.stride_c);
        for j in 0..s.n {
            for i in 0..s.m {
                let mut acc = 0.0f64;
                for l in 0..s.k {
                    let ai = match s.trans_a {
                        Trans::N => a0 + i + l * s.lda,
                        Trans::T => a0 + l + i * s.lda,
                    };
                    let bj = match s.trans_b {
                        Trans::N => b0 + l + j * s.ldb,
                        Trans::T => b0 + j + l * s.ldb,
                    };
                    acc += load(s.a, ai) * load(s.b, bj);
                }
                let ci = c0 + i + j * s.ldc;
                // beta == 0: C is not read (it may hold NaN), as in cuBLAS.
                let v = if s.beta == 0.0 { s.alpha * acc } else { s.alpha * acc + s.beta * load(s.c, ci) };
                store(s.c, ci, v);
            }
        }
    }
}

/// f32/f64 GEMM with the `gemm` crate (single-threaded: deterministic, and CI has 2 cores).
///
/// # Safety
/// `s.a`, `s.b`, `s.c` must hold the element extents of [`gemm_extents`] for `T`.
unsafe fn gemm_fast<T: Copy + 'static>(s: &GemmSpec, alpha: T, beta: T) {
    let (lcs, lrs) = match s.trans_a {
        Trans::N => (s.lda as isize, 1),
        Trans::T => (1, s.lda as isize),
    };
    let (rcs, rrs) = match s.trans_b {
        Trans::N => (s.ldb as isize, 1),
        Trans::T => (1, s.ldb as isize),
    };
    for bi in 0..s.batch {
        let a = (s.a as *const T).add(bi * s.stride_a);
        let b = (s.b as *const T).add(bi * s.stride_b);
        let c = (s.c as *mut T).add(bi * s.stride_c);
        // gemm crate: dst = alpha_g * dst + beta_g * lhs * rhs; dst not read when read_dst is
        // false (cuBLAS: C is not read when beta == 0, it may hold NaN).
        gemm::gemm(
            s.m,
            s.n,
            s.k,
            c,
            s.ldc as isize,
            1,
            s.beta != 0.0,
            a,
            lcs,
            lrs,
            b,
            rcs,
            rrs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

impl Device for SimDevice {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Sim
    }
    fn name(&self) -> String {
        "SIMT simulator".to_string()
    }
    fn max_shared_bytes(&self) -> usize {
        self.inner.max_shared_bytes()
    }
    fn alloc_raw(&self, bytes: usize) -> Result<u64> {
        self.inner.alloc(bytes).map_err(|e| match e {
            cudasim::SimError::OutOfMemory(m) if m.contains("overflows") => HyenaError::Invalid(m),
            e => map_err(e),
        })
    }
    unsafe fn free_raw(&self, addr: u64, _bytes: usize) {
        self.inner.free(addr);
    }
    unsafe fn copy_htod_raw(&self, src: &[u8], dst: u64) -> Result<()> {
        self.inner.copy_htod(src, dst).map_err(map_err)
    }
    unsafe fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        self.inner.copy_dtoh(src, dst).map_err(map_err)
    }
    unsafe fn copy_dtod_raw(&self, src: u64, dst: u64, bytes: usize) -> Result<()> {
        self.inner.copy_dtod(src, dst, bytes).map_err(map_err)
    }
    unsafe fn launch_raw(&self, name: &str, cfg: LaunchConfig, params: &[u8]) -> Result<()> {
        if let (Some(info), Some(k)) = (crate::kernels::find(name), registry().get(name)) {
            if info.params_size != k.params_size {
                return Err(HyenaError::Invalid(format!(
                    "kernel `{name}`: the kernel index says {} bytes of params, the simulator build {}",
                    info.params_size, k.params_size
                )));
            }
        }
        let c = cudasim::LaunchConfig {
            grid: [cfg.grid.0, cfg.grid.1, cfg.grid.2],
            block: [cfg.block.0, cfg.block.1, cfg.block.2],
            shared_bytes: cfg.shared_bytes,
        };
        self.inner.launch(name, &c, params).map_err(map_err)
    }
    unsafe fn gemm(&self, s: &GemmSpec) -> Result<()> {
        let (ea, eb, ec) = gemm_extents(s)?;
        let (ba, bb, bc) = gemm_bytes(s, (ea, eb, ec))?;
        self.check_range("gemm a", s.a, ba)?;
        self.check_range("gemm b", s.b, bb)?;
        self.check_range("gemm c", s.c, bc)?;
        // The f32 GEMM on f32 copies of A's and B's extents (same layout), each element mapped by
        // `f` from the operands' type E, into the f32 C: f32 accumulation as on the tensor cores.
        // SAFETY (caller): s.a and s.b hold ea and eb elements of E, s.c the extent of an f32 C;
        // the copies outlive the GEMM.
        unsafe fn on_f32_copies<E: Copy>(s: &GemmSpec, (ea, eb): (usize, usize), f: impl Fn(E) -> f32) {
            let copy = |p: u64, n: usize| -> Vec<f32> { unsafe { std::slice::from_raw_parts(p as *const E, n) }.iter().map(|&x| f(x)).collect() };
            let (ca, cb) = (copy(s.a, ea), copy(s.b, eb));
            let spec = GemmSpec { a: ca.as_ptr() as u64, b: cb.as_ptr() as u64, ..*s };
            unsafe { gemm_fast::<f32>(&spec, s.alpha as f32, s.beta as f32) }
        }
        // SAFETY (on_f32_copies, all closures and gemm_fast): the extents of every operand, at
        // its type, were checked above.
        if s.c_dtype != s.dtype {
            // 16-bit A and B, f32 C (the only mixed pair gemm_extents allows): the operands
            // widened exactly, C unrounded.
            match s.dtype {
                DType::BF16 => unsafe { on_f32_copies(s, (ea, eb), |x: half::bf16| x.to_f32()) },
                _ => unsafe { on_f32_copies(s, (ea, eb), |x: half::f16| x.to_f32()) },
            }
            return Ok(());
        }
        match s.dtype {
            // TF32: the operands rounded first.
            DType::F32 if self.tf32() || s.tf32 => unsafe { on_f32_copies(s, (ea, eb), super::tf32_round) },
            DType::F32 => unsafe { gemm_fast::<f32>(s, s.alpha as f32, s.beta as f32) },
            DType::F64 => unsafe { gemm_fast::<f64>(s, s.alpha, s.beta) },
            DType::F16 => gemm_run::<half::f16>(
                s,
                |p, i| unsafe { *(p as *const half::f16).add(i) }.to_f64(),
                |p, i, v| unsafe { *(p as *mut half::f16).add(i) = half::f16::from_f64(v) },
                std::marker::PhantomData,
            ),
            DType::BF16 => gemm_run::<half::bf16>(
                s,
                |p, i| unsafe { *(p as *const half::bf16).add(i) }.to_f64(),
                |p, i, v| unsafe { *(p as *mut half::bf16).add(i) = half::bf16::from_f64(v) },
                std::marker::PhantomData,
            ),
        }
        Ok(())
    }
    fn set_tf32(&self, on: bool) -> Result<()> {
        self.tf32.store(on, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    fn tf32(&self) -> bool {
        self.tf32.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
