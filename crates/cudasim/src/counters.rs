//! Per-launch counters (opt-in: `SimDevice::set_counters(true)`). Definitions in README.md
//! ("Counters").

use crate::device::LaunchConfig;

/// The runtime's raw counters (the C struct `CudasimCounters` in cpp/runtime.cpp, same order).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawCounters {
    blocks_total: u64,
    blocks_run: u64,
    g_load_requests: u64,
    g_store_requests: u64,
    g_load_sectors: u64,
    g_store_sectors: u64,
    g_load_bytes: u64,
    g_store_bytes: u64,
    g_unique_sectors: u64,
    g_multi_block_sectors: u64,
    g_dram_sectors: u64,
    s_load_requests: u64,
    s_store_requests: u64,
    s_load_wavefronts: u64,
    s_store_wavefronts: u64,
    barriers: u64,
    warp_collectives: u64,
    atomics_global: u64,
    atomics_shared: u64,
    sincos: u64,
    exp_log: u64,
    div_rcp: u64,
    sqrt: u64,
}

/// Global-memory traffic of the blocks run, in warp-level requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalCounters {
    /// Load requests (one per warp, access site and dynamic execution; see README.md).
    pub load_requests: u64,
    /// Store requests.
    pub store_requests: u64,
    /// Distinct 32-byte sectors per load request, summed.
    pub load_sectors: u64,
    /// Distinct 32-byte sectors per store request, summed.
    pub store_sectors: u64,
    /// Bytes the lanes asked for (loads).
    pub load_bytes: u64,
    /// Bytes the lanes asked for (stores).
    pub store_bytes: u64,
    /// Distinct 32-byte sectors touched by the launch (loads and stores): the DRAM floor.
    pub unique_sectors: u64,
    /// Sectors touched by more than one block (reuse that the L2 may serve).
    pub multi_block_sectors: u64,
    /// Sector transfers DRAM must make at least: one per sector whose first access in the launch
    /// is a load (read in) plus one per sector stored to (written back). A sector read and then
    /// written in place counts twice where `unique_sectors` counts it once; one written and then
    /// read back once (the read finds it in the L2). The model's DRAM floor.
    pub dram_sectors: u64,
}

/// Shared-memory traffic of the blocks run, in warp-level requests and wavefronts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedCounters {
    pub load_requests: u64,
    pub store_requests: u64,
    /// Wavefronts of the load requests under the sm_80/sm_90 bank rules (README.md).
    pub load_wavefronts: u64,
    /// Wavefronts of the store requests.
    pub store_wavefronts: u64,
}

/// Lane-level calls of expensive math at the simulator's intrinsics (cuda_sim.h).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MathCounters {
    /// sin/cos/tan/sincos, their `__` and `pi` variants.
    pub sincos: u64,
    /// exp/exp2/exp10/log/log2/log10/pow (float) and their `__` variants.
    pub exp_log: u64,
    /// `__fdividef`, `__frcp_rn`, `__fdiv_rn` (plain `/` is not seen).
    pub div_rcp: u64,
    /// sqrtf, rsqrtf, rsqrt, `__fsqrt_rn`.
    pub sqrt: u64,
}

/// Executions of one source location (with its inlining chain) by kernel code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineCount {
    /// Innermost first: (source file path as compiled, line); then the call-site lines of each
    /// inlined caller, as `addr2line -i` gives them.
    pub frames: Vec<(String, u32)>,
    /// Warp-level executions: per warp and basic block, the largest count of any of its lanes
    /// (lockstep), summed over the basic blocks covering this location and the warps.
    pub warp_execs: u64,
    /// Thread-level executions (sum over lanes).
    pub thread_execs: u64,
    /// Warp memory requests (global and shared loads and stores, grouped per warp as the launch's
    /// counters group them) of the accesses whose instruction has exactly this location chain.
    /// The host compiler's accesses, not nvcc's: one 16-byte SASS load can be two host accesses.
    pub mem_requests: u64,
}

/// Counters of one launch. Raw counts over the blocks run; multiply by [`LaunchCounters::scale`]
/// for the whole grid (exact for kernels whose blocks all do the same work).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchCounters {
    pub kernel: String,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub dyn_shared_bytes: u32,
    /// Blocks in the grid.
    pub blocks_total: u64,
    /// Blocks run (below `blocks_total` when sampled).
    pub blocks_run: u64,
    pub global: GlobalCounters,
    pub shared: SharedCounters,
    /// `__syncthreads` (and its `_count/_and/_or` forms) executed, once per block per barrier.
    pub barriers: u64,
    /// Warp-level collectives completed (`__syncwarp`, shuffles, votes, reductions), once per warp.
    pub warp_collectives: u64,
    /// Lane-level atomic operations, global plus shared.
    pub atomics: u64,
    /// Lane-level atomic operations on global memory.
    pub atomics_global: u64,
    /// Lane-level atomic operations on shared memory.
    pub atomics_shared: u64,
    pub math: MathCounters,
    /// Per source location executed by kernel code, sorted by frames.
    pub lines: Vec<LineCount>,
}

impl LaunchCounters {
    /// `blocks_total / blocks_run`.
    pub fn scale(&self) -> f64 {
        if self.blocks_run == 0 {
            1.0
        } else {
            self.blocks_total as f64 / self.blocks_run as f64
        }
    }

    pub(crate) fn from_raw(kernel: &str, cfg: &LaunchConfig, r: &RawCounters, lines: Vec<LineCount>) -> Self {
        LaunchCounters {
            kernel: kernel.to_string(),
            grid: cfg.grid,
            block: cfg.block,
            dyn_shared_bytes: cfg.shared_bytes,
            blocks_total: r.blocks_total,
            blocks_run: r.blocks_run,
            global: GlobalCounters {
                load_requests: r.g_load_requests,
                store_requests: r.g_store_requests,
                load_sectors: r.g_load_sectors,
                store_sectors: r.g_store_sectors,
                load_bytes: r.g_load_bytes,
                store_bytes: r.g_store_bytes,
                unique_sectors: r.g_unique_sectors,
                multi_block_sectors: r.g_multi_block_sectors,
                dram_sectors: r.g_dram_sectors,
            },
            shared: SharedCounters {
                load_requests: r.s_load_requests,
                store_requests: r.s_store_requests,
                load_wavefronts: r.s_load_wavefronts,
                store_wavefronts: r.s_store_wavefronts,
            },
            barriers: r.barriers,
            warp_collectives: r.warp_collectives,
            atomics: r.atomics_global + r.atomics_shared,
            atomics_global: r.atomics_global,
            atomics_shared: r.atomics_shared,
            math: MathCounters { sincos: r.sincos, exp_log: r.exp_log, div_rcp: r.div_rcp, sqrt: r.sqrt },
            lines,
        }
    }
}
