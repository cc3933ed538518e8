//! Predicted time of one kernel launch on an H100-SXM or H200: the largest of independent bounds
//! (a roofline with more roofs), plus a latency penalty folded into the DRAM bound.
//!
//! | bound | time |
//! |---|---|
//! | `dram` | bytes that reach DRAM / achievable bandwidth (below) |
//! | `l2` | 32-byte sectors requested by the SMs × 32 / L2 bandwidth |
//! | `shared` | shared-memory wavefronts / (SMs × 1 per clock) |
//! | `issue` | warp-instructions / (SMs × 4 schedulers × 1 per clock) |
//! | `latency` | warp-instructions × cycles between two instructions of one warp / (SMs × resident warps per SM × clock) |
//! | `pipe:<p>` | warp-instructions of pipe p / (SMs × that pipe's warp-instructions per clock) |
//!
//! Latency: by Little's law an SM keeps `bandwidth per SM × latency` bytes in flight to run at full
//! DRAM bandwidth. With `w` resident warps each having `ilp` independent loads of `b` bytes in
//! flight (b = bytes per global request of the launch; ilp from the SASS: global loads per
//! basic-block execution), an SM has `w · ilp · b` bytes in flight, so the achievable DRAM
//! bandwidth is `min(copy bandwidth, SMs · w · ilp · b / latency)`.
//!
//! Warp latency: a warp does not issue every cycle: it waits on its operands, barriers and memory.
//! With `R` resident warps per SM and `c` cycles between two instructions of one warp on average,
//! an SM issues at most `R / c` warp-instructions per clock (and at most 4, the `issue` bound). `c`
//! is [`Gpu::warp_issue_interval`], fitted to hardware counters (Nsight Compute on an H200,
//! 2026-12-04): the model's first version assumed 1 and was 2–6.5x optimistic on every kernel it
//! called issue-bound; the instruction counts themselves matched the counters within 15 %.
//!
//! Small grids: the block scheduler gives every SM a block before any SM a second one, so a grid
//! of fewer blocks than SMs keeps only `blocks` SMs busy; every per-SM rate above is scaled by the
//! fraction of SMs busy (tail effects of partial waves are not modelled).
//!
//! GEMMs (cuBLAS) are modelled apart: max(FLOPs / (tensor peak × efficiency), bytes / copy
//! bandwidth). The constants, with sources, are [`H200`] and [`H100_SXM`].

use crate::sass::Pipe;

/// Hardware constants of one GPU, each with its source in the field docs of [`H200`] /
/// [`H100_SXM`] and in docs/GPU_MODEL.md.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gpu {
    pub name: &'static str,
    /// Streaming multiprocessors.
    pub sms: u32,
    /// SM clock under load, Hz (the boost clock).
    pub clock_hz: f64,
    /// HBM peak bandwidth, bytes/s (vendor specification).
    pub hbm_peak_bw: f64,
    /// Achievable device-to-device copy bandwidth, bytes/s: the DRAM roof of the model.
    pub copy_bw: f64,
    /// L2 bandwidth for sectors requested by the SMs, bytes/s.
    pub l2_bw: f64,
    /// DRAM load latency seen by an SM, seconds.
    pub dram_latency_s: f64,
    /// Dense fp16/bf16 tensor-core peak, FLOP/s.
    pub tensor_peak: f64,
    /// Fraction of `tensor_peak` cuBLAS reaches on large GEMMs.
    pub gemm_efficiency: f64,
    /// FP32 (SIMT) peak, FLOP/s, for f32 GEMMs without TF32.
    pub fp32_peak: f64,
    /// Cycles between two issued instructions of one warp, averaged over a kernel (dependency,
    /// barrier and memory stalls included): the `latency` bound. Fitted, see [`H200`].
    pub warp_issue_interval: f64,
}

/// H200 SXM (141 GB HBM3e).
/// - 132 SMs, 1.98 GHz boost: NVIDIA H200 datasheet / Hopper whitepaper (GH100 SXM configuration);
///   132 SMs also reported by the H200 of this project's kind (FACTS.md).
/// - HBM3e 4.8 TB/s: NVIDIA H200 datasheet.
/// - copy 4.3 TB/s: device-to-device copy measured on an H200 of this kind (FACTS.md).
/// - L2 7 TB/s: assumption, the lower end of published Hopper L2 figures (~7–10 TB/s); to be
///   calibrated by scripts/gpu-check.
/// - DRAM latency ~600 cycles at 1.98 GHz ≈ 300 ns: published Hopper microbenchmark summaries.
/// - dense bf16 989 TFLOP/s: NVIDIA H100/H200 datasheet; cuBLAS reached ~790 TFLOP/s on this kind
///   of H200 (FACTS.md) → efficiency 0.8.
/// - FP32 67 TFLOP/s: 132 SMs × 128 FMA lanes × 2 × 1.98 GHz (datasheet figure).
/// - warp issue interval 8.9 cycles: fitted (geometric mean) to the seven kernels the first model
///   called issue-bound at B = 1, D = 768, L = 8K / 64K, measured with Nsight Compute on an H200 on
///   2026-12-04 (`scripts/gpu-ncu`; docs/GPU_MODEL.md "Calibration against an H200"): resident
///   warps per scheduler over the issue-active fraction gave 6.3 (filter spectrum) to 13.8 (conv
///   backward, barrier stalls), so a single kernel's figure can be off by up to ~1.6x either way.
pub const H200: Gpu = Gpu {
    name: "H200",
    sms: 132,
    clock_hz: 1.98e9,
    hbm_peak_bw: 4.8e12,
    copy_bw: 4.3e12,
    l2_bw: 7.0e12,
    dram_latency_s: 600.0 / 1.98e9,
    tensor_peak: 989e12,
    gemm_efficiency: 0.8,
    fp32_peak: 66.9e12,
    warp_issue_interval: 8.9,
};

/// H100 SXM5 (80 GB HBM3). As [`H200`] except the memory: HBM3 3.35 TB/s (NVIDIA H100
/// datasheet); copy bandwidth taken as the same fraction of peak as measured on the H200
/// (4.3 / 4.8 → 3.0 TB/s), an assumption until an H100 measures it.
pub const H100_SXM: Gpu = Gpu {
    name: "H100-SXM",
    hbm_peak_bw: 3.35e12,
    copy_bw: 3.35e12 * (4.3 / 4.8),
    ..H200
};

impl Gpu {
    /// Warp-instructions per clock per SM a pipe accepts (CUDA C++ Programming Guide, "Arithmetic
    /// Instructions" throughput table for compute capability 8.x/9.0, lanes / 32): FP32 128 lanes
    /// → 4; INT 64 → 2; FP64 64 (H100) → 2; MUFU and conversions 16 → 0.5; LSU (global, local)
    /// 32 lanes of address generation → 1; shared-memory instructions are bounded by wavefronts
    /// instead; control and other: issue only. Tensor: [`Gpu::tensor_rate`].
    pub fn pipe_rate(&self, p: Pipe) -> Option<f64> {
        match p {
            Pipe::Tensor => Some(self.tensor_rate()),
            Pipe::Fp32 => Some(4.0),
            Pipe::Int => Some(2.0),
            Pipe::Fp64 => Some(2.0),
            Pipe::Mufu => Some(0.5),
            Pipe::Global | Pipe::Local => Some(1.0),
            Pipe::Shared | Pipe::Control | Pipe::Other => None,
        }
    }
}

/// Dense FLOPs of one warp-level `HMMA.16816.F32.BF16` (or `.F16`): mma.sync m16n8k16, 2·16·8·16.
/// `HMMA.1688.F32.TF32` (mma.sync m16n8k8 tf32) does half of them at half the FLOP rate (dense
/// TF32 494.7 TFLOP/s against bf16 989.4 on the H100/H200 datasheets), so it takes as long.
pub const HMMA_FLOPS: f64 = 4096.0;

impl Gpu {
    /// Tensor-pipe warp-instructions per clock per SM for the two `mma.sync` shapes the kernels
    /// use, `HMMA.16816.F32.BF16` and `HMMA.1688.F32.TF32`: the dense bf16 peak over
    /// [`HMMA_FLOPS`] (= dense TF32 peak over 2048), `tensor_peak / (SMs · clock · 4096)`, 0.925 on
    /// the H100/H200 at the model's 1.98 GHz. The datasheet peaks (989.4 / 494.7 TFLOP/s) are
    /// 4096 / 2048 FLOP per clock per SM at 1.83 GHz, the clock the Hopper whitepaper computes
    /// them at; keeping the peak rather than the per-clock figure holds the model to the published
    /// throughput. Smaller shapes (`HMMA.1684`, `HMMA.884`) are counted as full ones, an
    /// overestimate; wgmma (`HGMMA`, sm_90a) is not modelled: no kernel uses it.
    pub fn tensor_rate(&self) -> f64 {
        self.tensor_peak / (self.sms as f64 * self.clock_hz * HMMA_FLOPS)
    }
}

/// What a launch does, summed over the whole grid (scale sampled counts before filling this).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaunchWork {
    /// Blocks in the grid.
    pub blocks: u64,
    /// Resident blocks per SM (occupancy); 0 = the kernel cannot launch.
    pub blocks_per_sm: u32,
    /// Warps per block.
    pub warps_per_block: u32,
    /// Bytes that must move between DRAM and the chip (sector transfers × 32: a sector read and
    /// written back counts twice; the simulator's `dram_sectors`).
    pub dram_bytes: f64,
    /// Sectors requested from L2 by all global loads and stores.
    pub l2_sectors: f64,
    /// Global load + store requests (warp-level).
    pub global_requests: f64,
    /// Shared-memory wavefronts (loads + stores).
    pub shared_wavefronts: f64,
    /// Executed warp-instructions, per pipe in [`Pipe::ALL`] order.
    pub warp_instrs: [f64; 10],
    /// Independent global loads a warp has in flight (≥ 1).
    pub ilp: f64,
}

/// The bound that dominates a prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    pub name: String,
    pub seconds: f64,
}

/// A predicted launch time: every bound and the largest.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub gpu: &'static str,
    pub seconds: f64,
    pub bound: String,
    pub bounds: Vec<Bound>,
    /// Achievable DRAM bandwidth after the latency penalty, bytes/s.
    pub dram_bw: f64,
}

impl Prediction {
    /// % of the HBM roofline: the time the bytes that must move take at copy bandwidth, over the
    /// predicted time.
    pub fn roofline_pct(&self, gpu: &Gpu, must_move_bytes: f64) -> f64 {
        if self.seconds <= 0.0 {
            return 0.0;
        }
        100.0 * (must_move_bytes / gpu.copy_bw) / self.seconds
    }
}

/// Predict one launch on `gpu`.
pub fn predict(gpu: &Gpu, w: &LaunchWork) -> Prediction {
    let sms = gpu.sms as f64;
    // Fraction of SMs with work: a grid smaller than one wave leaves SMs idle.
    // The block scheduler spreads blocks over the SMs first: a grid of fewer blocks than SMs
    // keeps `blocks` SMs busy (one block each), a larger one all of them.
    let busy = if w.blocks == 0 { 1.0 } else { (w.blocks as f64 / sms).clamp(1.0 / sms, 1.0) };
    let busy_sms = (sms * busy).max(1.0);
    let resident_warps = (w.blocks_per_sm as f64 * w.warps_per_block as f64)
        .min((w.blocks as f64 / busy_sms).ceil() * w.warps_per_block as f64)
        .max(1.0);
    let bytes_per_req = if w.global_requests > 0.0 {
        w.l2_sectors * 32.0 / w.global_requests
    } else {
        128.0
    };
    let inflight = resident_warps * w.ilp.max(1.0) * bytes_per_req;
    let dram_bw = gpu.copy_bw.min(busy_sms * inflight / gpu.dram_latency_s);
    let clk = gpu.clock_hz;
    let mut bounds = vec![
        Bound {
            name: "dram".into(),
            seconds: w.dram_bytes / dram_bw,
        },
        Bound {
            name: "l2".into(),
            seconds: w.l2_sectors * 32.0 / (gpu.l2_bw * busy),
        },
        Bound {
            name: "shared".into(),
            seconds: w.shared_wavefronts / (busy_sms * clk),
        },
        Bound {
            name: "issue".into(),
            seconds: w.warp_instrs.iter().sum::<f64>() / (busy_sms * 4.0 * clk),
        },
        Bound {
            name: "latency".into(),
            seconds: w.warp_instrs.iter().sum::<f64>() * gpu.warp_issue_interval
                / (busy_sms * resident_warps * clk),
        },
    ];
    for (k, p) in Pipe::ALL.iter().enumerate() {
        if let Some(rate) = gpu.pipe_rate(*p) {
            bounds.push(Bound {
                name: format!("pipe:{}", p.name()),
                seconds: w.warp_instrs[k] / (busy_sms * rate * clk),
            });
        }
    }
    dominated(gpu, bounds, dram_bw)
}

/// The prediction named by the largest of `bounds` (the one that dominates).
fn dominated(gpu: &Gpu, bounds: Vec<Bound>, dram_bw: f64) -> Prediction {
    let top = bounds
        .iter()
        .max_by(|a, b| a.seconds.total_cmp(&b.seconds))
        .cloned()
        .unwrap_or(Bound {
            name: "none".into(),
            seconds: 0.0,
        });
    Prediction {
        gpu: gpu.name,
        seconds: top.seconds,
        bound: top.name,
        bounds,
        dram_bw,
    }
}

/// A GEMM the model does not simulate: C[m×n] = A[m×k]·B[k×n] (batched `batch` times).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub batch: u64,
    /// Bytes per element of A and B.
    pub elem_bytes: u64,
    /// Bytes per element of C (f32 C under 16-bit operands: 4 where `elem_bytes` is 2).
    pub c_elem_bytes: u64,
    /// Runs on tensor cores (fp16/bf16); otherwise FP32 SIMT.
    pub tensor: bool,
    /// f32 operands on TF32 tensor cores (half the dense bf16 peak; `tensor` is ignored).
    pub tf32: bool,
}

impl Gemm {
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k * self.batch) as f64
    }
    /// A and B read once, C written once.
    pub fn bytes(&self) -> f64 {
        (((self.m * self.k + self.k * self.n) * self.elem_bytes + self.m * self.n * self.c_elem_bytes)
            * self.batch) as f64
    }
}

/// Predict a GEMM: max(FLOPs / (peak × efficiency), bytes / copy bandwidth).
pub fn predict_gemm(gpu: &Gpu, g: &Gemm) -> Prediction {
    let peak = if g.tf32 {
        gpu.tensor_peak / 2.0
    } else if g.tensor {
        gpu.tensor_peak
    } else {
        gpu.fp32_peak
    };
    let bounds = vec![
        Bound {
            name: "gemm:flops".into(),
            seconds: g.flops() / (peak * gpu.gemm_efficiency),
        },
        Bound {
            name: "dram".into(),
            seconds: g.bytes() / gpu.copy_bw,
        },
    ];
    dominated(gpu, bounds, gpu.copy_bw)
}
