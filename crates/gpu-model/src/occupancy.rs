//! Resident blocks and warps per SM, by the rules of CUDA's occupancy calculator
//! (`cuda_occupancy.h`, `cudaOccMaxActiveBlocksPerMultiprocessor`) for sm_80 and sm_90:
//!
//! - warps: a block of T threads holds ⌈T/32⌉ warps; at most 64 warps (2048 threads) per SM;
//! - blocks: at most 32 per SM;
//! - registers: a warp allocates ⌈regs·32 / 256⌉·256 registers (allocation unit 256, per warp);
//!   the 64 K registers of an SM are split over its 4 sub-partitions (16 K each) and a warp lives in
//!   one of them, so warps per SM by registers = 4 · ⌊16384 / regs-per-warp⌋, and blocks =
//!   ⌊that / warps-per-block⌋; at most 255 registers per thread;
//! - shared memory: a block allocates static + dynamic + 1 KiB reserved by the system (sm_80 and
//!   later), rounded up to 128 B; the SM's shared memory is the carveout, taken here at its largest
//!   (228 KiB on sm_90, 164 KiB on sm_80), which the driver picks when the kernel needs it; one
//!   block may use at most 227 KiB (sm_90) / 163 KiB (sm_80) including static memory.

use crate::ModelError;

/// Per-SM limits of one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmLimits {
    pub name: &'static str,
    pub max_warps: u32,
    pub max_blocks: u32,
    pub regs_per_sm: u32,
    pub sub_partitions: u32,
    pub reg_alloc_unit: u32,
    pub max_regs_per_thread: u32,
    pub smem_per_sm: u32,
    pub smem_per_block_max: u32,
    pub smem_reserved_per_block: u32,
    pub smem_granularity: u32,
}

/// sm_80 (A100): 164 KiB shared per SM, 163 KiB per block opt-in.
pub const SM80: SmLimits = SmLimits {
    name: "sm_80",
    max_warps: 64,
    max_blocks: 32,
    regs_per_sm: 65536,
    sub_partitions: 4,
    reg_alloc_unit: 256,
    max_regs_per_thread: 255,
    smem_per_sm: 164 * 1024,
    smem_per_block_max: 163 * 1024,
    smem_reserved_per_block: 1024,
    smem_granularity: 128,
};

/// sm_90 (H100/H200): 228 KiB shared per SM, 227 KiB per block opt-in.
pub const SM90: SmLimits = SmLimits {
    name: "sm_90",
    smem_per_sm: 228 * 1024,
    smem_per_block_max: 227 * 1024,
    ..SM80
};

/// What limits residency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limiter {
    Warps,
    Blocks,
    Registers,
    SharedMemory,
}

/// Resident blocks and warps per SM for one kernel and launch shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Occupancy {
    pub blocks_per_sm: u32,
    pub warps_per_sm: u32,
    /// `warps_per_sm / max_warps`.
    pub fraction: f64,
    pub limiter: Limiter,
}

/// Occupancy of a kernel using `regs` registers per thread and `static_smem + dyn_smem` bytes of
/// shared memory per block, launched with `threads` threads per block.
pub fn occupancy(
    lim: &SmLimits,
    threads: u32,
    regs: u32,
    static_smem: u32,
    dyn_smem: u32,
) -> Result<Occupancy, ModelError> {
    if threads == 0 || threads > 1024 {
        return Err(ModelError::Invalid(format!(
            "block of {threads} threads (1..=1024)"
        )));
    }
    if regs > lim.max_regs_per_thread {
        return Err(ModelError::Invalid(format!(
            "{regs} registers per thread (at most {})",
            lim.max_regs_per_thread
        )));
    }
    let smem = static_smem as u64 + dyn_smem as u64;
    if smem > lim.smem_per_block_max as u64 {
        return Err(ModelError::Invalid(format!(
            "{smem} bytes of shared memory per block exceed {} on {}",
            lim.smem_per_block_max, lim.name
        )));
    }
    let warps = threads.div_ceil(32);
    let by_warps = lim.max_warps / warps;
    let by_blocks = lim.max_blocks;
    let by_regs = if regs == 0 {
        u32::MAX
    } else {
        let per_warp = (regs * 32).div_ceil(lim.reg_alloc_unit) * lim.reg_alloc_unit;
        let warps_per_part = (lim.regs_per_sm / lim.sub_partitions) / per_warp;
        (warps_per_part * lim.sub_partitions) / warps
    };
    let by_smem = {
        let per_block = (smem as u32 + lim.smem_reserved_per_block).div_ceil(lim.smem_granularity)
            * lim.smem_granularity;
        lim.smem_per_sm / per_block
    };
    let (blocks, limiter) = [
        (by_warps, Limiter::Warps),
        (by_blocks, Limiter::Blocks),
        (by_regs, Limiter::Registers),
        (by_smem, Limiter::SharedMemory),
    ]
    .into_iter()
    .min_by_key(|(b, _)| *b)
    .unwrap_or((0, Limiter::Warps));
    Ok(Occupancy {
        blocks_per_sm: blocks,
        warps_per_sm: blocks * warps,
        fraction: (blocks * warps) as f64 / lim.max_warps as f64,
        limiter,
    })
}
