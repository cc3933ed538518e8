//! Fused gated causal FFT convolution on a device (`kernels/fftconv.cu`):
//! `y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ (pre ⊙ v))`, causal (as `cpu::fftconv::gated_fftconv_fwd`).
//!
//! Layouts: `v`, `pre`, `post`, `y` contiguous `[B, C, L]`, `h` `[C, L]`, `D` `[C]`; storage f32,
//! bf16 or f16, arithmetic f32. `n` = the smallest power of two ≥ 2L (at least 4).
//!
//! Two paths, chosen by `L` inside every function (callers see the same signatures), the same
//! for the forward and the backward:
//! - **shared memory**, `L ≤` [`SMEM_MAX_LEN`] (8192: n = 16384): one block holds a whole row
//!   (forward 4n + 4L bytes, backward two spectra, 8n bytes; + 7 KiB static twiddle table). The
//!   filter spectrum is fp32 complex, interleaved, `[C, n/2+1]` (`2·C·(n/2+1)` f32), scaled by 1/n.
//! - **multi-pass** (four-step FFT in global memory, n = n1·n2), above that limit up to
//!   [`LONG_MAX_LEN`] (2^22, FlashFFTConv's longest): three launches per call (column FFTs + twiddles, row FFTs × spectrum
//!   and inverse, inverse column FFTs + gating), two channels of a batch row per complex FFT
//!   (`x_c + i·x_{c+1}`, split by symmetry in the row pass, where each block holds a row and its
//!   mirror: every length and batch size, B = 1 included, pays half a complex FFT per row). The
//!   spectrum is the full complex `[⌈C/2⌉, n]` (`2·⌈C/2⌉·n` f32) in the four-step order (opaque:
//!   produce it with [`fftconv_filter`] for the same `L` and the same channels). The forward
//!   allocates a workspace of `8·⌈C/2⌉·B·n` bytes, the backward `2·8·⌈C/2⌉·B·n + 8·⌈C/2⌉·n`
//!   (+ `8·⌈C/2⌉·n` for the spectrum unless it is given: [`gated_fftconv_bwd_spectrum`]), freed
//!   in stream order after their launches.
//!
//! Until 2026-12-05 the forward's shared-memory path went on to L = 16384 (n = 32768, one 192 KiB
//! block per SM) while the backward's stopped at 8192; one limit for both lets the forward at
//! 8K < L ≤ 16K run the multi-pass path, whose spectrum and row spectra of `a` the backward
//! reuses (model, B = 1, D = 768, L = 16K, H200: fwd+bwd 1.414 → 1.214 ms; docs/GPU_MODEL.md),
//! and fit an sm_80's shared memory.
//!
//! The backward reads the same spectrum as the forward: a caller that keeps the forward's
//! spectrum passes it to [`gated_fftconv_bwd_spectrum`] and spares the backward its filter FFT.
//!
//! The forward can also keep the value before the post gate, `inner = h ∗ a + D·a`
//! ([`gated_fftconv_fwd_spectrum_inner`]: one more `[B, C, L]` output); the backward given it
//! ([`gated_fftconv_bwd_spectrum_inner`]) forms `grad_post = grad_y ⊙ inner` instead of convolving
//! `a` with `h` again. On the multi-pass backward that drops two of the four inverse row FFTs per
//! batch row and a column transform of pass 3 (model at L = 64K, B = 1: −163 µs of backward for
//! +23 µs of forward); without a post gate the multi-pass backward leaves that work out anyway. On
//! the two-block shapes of 2-byte storage (4K < L ≤ 8K among them) the backward's first kernel is
//! then one FFT (A's bins) instead of the forward's two (model at 8K, B = 1: −32 µs of backward
//! for +4 µs of forward). [`inner_pays`] says where keeping it pays (the operator asks it).
//!
//! A spectrum serves the channels it was made for ([`spectrum_len`]): on the multi-pass path a
//! slice of it is not the spectrum of a channel slice. Longer rows than [`LONG_MAX_LEN`] are a [`HyenaError::TooLong`]; a
//! device whose shared-memory limit is below a launch's need gives [`HyenaError::SharedMemory`]
//! before anything is launched. Per block: the shared-memory backward up to 128 KiB (L = 8K), the
//! multi-pass forward 64 KiB (its row pass; a column tile up to 128 KiB at L = 2^22), the
//! multi-pass backward 192 KiB where it recomputes `grad_post` (a post gate, no `inner`: its row
//! pass holds six rows), else 64 KiB (two rows, on a's row spectra) and its column passes are the
//! forward's. An sm_90 (227 KiB) runs every path; an sm_80 (163 KiB) gets the error only for a
//! multi-pass backward (L > 8K) that recomputes `grad_post`.

use super::{launch, mul, mul3, Args, LaunchArg};
use crate::device::{Device, DeviceBuffer, DeviceScalar, DeviceView, DeviceViewMut, LaunchConfig};
use crate::error::{HyenaError, Result};
use crate::kernels::{
    HyenaFftConvBwdParams, HyenaFftConvFwdParams, HyenaFftConvFwdScParams, HyenaFftConvLongBwdParams, HyenaFftConvLongParams, HyenaFftFilterParams,
};
use std::sync::Arc;

/// Longest row the shared-memory path takes, forward and backward (the backward's two spectra of
/// n/2 complex each: 8n bytes, n = 16384 → 128 KiB).
pub const SMEM_MAX_LEN: usize = 8192;
/// Longest row the multi-pass path takes (n = 2^23, n1 = 2048 column points; the four-step
/// twiddle table covers n ≤ 2^23). Tested on the simulator: L up to 65537 in the default test
/// run; L = 2^20 and L = 2^22 (B = 2, forward) by ignored tests (rel. L2 5.6e-7 at 2^20, ~60 s).
/// Whether a device has the memory for a given (B, C, L) is a separate, typed check (the
/// allocations).
pub const LONG_MAX_LEN: usize = 1 << 22;
/// Most threads per block (`HYENA_FFTCONV_MAX_BLOCK` in the .cu file).
const MAX_BLOCK: usize = 512;
/// Threads per block of the multi-pass column passes (`HYENA_LONG_COLS_BLOCK` in the .cu file:
/// pass 1 is compiled for 3 such blocks per SM).
const LONG_COLS_BLOCK: u32 = 256;
/// log2 of the multi-pass path's row length n2 (`HYENA_LONG_ROW_LOG2` in the .cu file, where the
/// register column passes and the row passes take it at compile time and trap on any other): a
/// multiple of 4, so that the row FFTs are radix-16
/// passes only (`lrow` in the .cu file: 256 threads per row, 7 barriers for a forward and inverse
/// FFT); n1 = n / 4096 (8 at L = 8193, 512 at L = 2^20, 2048 at L = 2^22) makes the column
/// passes short.
const LONG_ROW_LOG2: u32 = 12;
/// Largest log2 n1 whose column FFTs passes 1 and 3 run in registers, one column per thread and
/// no shared tile (`HYENA_LONG_REG_LOG2N1` in the .cu file): n1 ≤ 32, L ≤ 65536.
const LONG_REG_LOG2N1: u32 = 5;
/// Shared-memory budget of one column tile of the multi-pass path (n1 ≤ 512 at L ≤ 2^20: 16
/// columns of 512 points fill it). Above that the tile keeps [`LONG_MIN_TILE`] columns and grows:
/// 64 KiB at n1 = 1024, 128 KiB at n1 = 2048 (L = 2^22; sm_80's 163 KiB and sm_90's 227 KiB hold it).
const LONG_TILE_BYTES: usize = 64 * 1024;
/// Fewest columns in a tile from n1 = 1024 on: 8 complex f32 = 64 contiguous workspace bytes (two
/// 32-byte sectors) per row of the tile; 16 below n1 = 1024.
const LONG_MIN_TILE: usize = 8;

use super::storage_suffix as suffix;

/// FFT size `n` (power of two ≥ 2L, ≥ 32) for rows of length `l` (both paths). The floor of 32
/// (L ≤ 16) keeps the shared-memory path's complex FFT at m = n/2 ≥ 16 points, so its fused pass
/// is always one radix-16 pass (the forward kernel has that one instance).
pub fn fft_size(l: usize) -> Result<usize> {
    if l == 0 {
        return Err(HyenaError::Length("sequence length must be at least 1".into()));
    }
    if l > LONG_MAX_LEN {
        return Err(HyenaError::TooLong { what: "gated FFT conv, multi-pass path".into(), len: l, limit: LONG_MAX_LEN });
    }
    Ok((2 * l).next_power_of_two().max(32))
}

/// Number of f32 of the filter spectrum for `c` channels of length `l`: `2·C·(n/2+1)` on the
/// shared-memory path (`L ≤` [`SMEM_MAX_LEN`]), `2·⌈C/2⌉·n` on the multi-pass path (one full
/// complex spectrum of `h_c + i·h_{c+1}` per channel pair, in the four-step layout). A spectrum
/// serves the channels it was made for: on the multi-pass path a slice of it is not the spectrum
/// of a slice of the channels (make one per channel group, as the device operator does per order step).
pub fn spectrum_len(c: usize, l: usize) -> Result<usize> {
    let n = fft_size(l)?;
    let (units, per) = if l <= SMEM_MAX_LEN { (c, 2 * (n / 2 + 1)) } else { (c.div_ceil(2), 2 * n) };
    units.checked_mul(per).ok_or_else(|| HyenaError::Invalid(format!("spectrum of C = {c} channels, L = {l} overflows")))
}

/// Launch shape of the multi-pass path for FFT size `n`: `n = n1·n2`, column tiles of `2^log2tile`.
#[derive(Clone, Copy, Debug)]
struct LongPlan {
    log2n1: u32,
    log2n2: u32,
    log2tile: u32,
}

impl LongPlan {
    /// `n ≥ 2^15` (the multi-pass path's rows: `L > SMEM_MAX_LEN`): n2 = 2^[`LONG_ROW_LOG2`],
    /// n1 = n / n2 ≥ 8.
    fn new(n: usize) -> Self {
        let log2n = n.trailing_zeros();
        let log2n2 = LONG_ROW_LOG2;
        let log2n1 = log2n - log2n2;
        // A tile of LONG_TILE_BYTES (8192 points: each block builds its twiddle table once, so
        // small tiles pay it per few points), at least 16 adjacent columns (64-byte rows of f32
        // input) up to n1 = 512; 8 from n1 = 1024 so that a tile fits in shared memory at n1 = 2048
        // (half-sector reads of bf16 input there: the price of L = 2^22 on this design).
        // Columns in registers (n1 ≤ 2^LONG_REG_LOG2N1): one column per thread.
        let min_tile = if log2n1 >= 10 { LONG_MIN_TILE } else { 16 };
        let tile = if log2n1 <= LONG_REG_LOG2N1 {
            LONG_COLS_BLOCK as usize
        } else {
            (LONG_TILE_BYTES / (8usize << log2n1)).clamp(min_tile, 1 << log2n2)
        };
        LongPlan { log2n1, log2n2, log2tile: tile.trailing_zeros() }
    }
    fn n1(&self) -> usize {
        1 << self.log2n1
    }
    fn n2(&self) -> usize {
        1 << self.log2n2
    }
    fn n(&self) -> usize {
        self.n1() * self.n2()
    }
    /// Column tiles per workspace slab.
    fn tiles(&self) -> usize {
        self.n2() >> self.log2tile
    }
    /// Dynamic shared memory of passes 1 and 3 (one n1 × tile complex tile; none at n1 ≤
    /// 2^[`LONG_REG_LOG2N1`], where a thread holds its column in registers) and of pass 2 (one row).
    fn cols_shared(&self) -> usize {
        if self.log2n1 <= LONG_REG_LOG2N1 {
            0
        } else {
            8 * (self.n1() << self.log2tile)
        }
    }
    /// Kernel of column pass `pass` (`long_cols`, `long_out`, `long_grad_h`) for storage suffix
    /// `sfx`: the register form (`…_reg_…`, one column per thread) at n1 ≤ 2^[`LONG_REG_LOG2N1`],
    /// else the shared-tile form.
    fn cols_kernel(&self, pass: &str, sfx: &str) -> String {
        if self.log2n1 <= LONG_REG_LOG2N1 {
            format!("hyena_fftconv_{pass}_reg_{sfx}")
        } else {
            format!("hyena_fftconv_{pass}_{sfx}")
        }
    }
    /// Dynamic shared memory of pass 2 (`hyena_fftconv_long_rows`): two mirror rows of n2 complex.
    fn rows_shared(&self) -> usize {
        2 * 8 * self.n2()
    }
    /// Dynamic shared memory of the backward's pass 2 (`hyena_fftconv_long_rows_bwd`): six rows
    /// of n2 complex (Za, Zg and the grad_h sum, each of both mirror rows).
    fn rows_bwd_shared(&self) -> usize {
        6 * 8 * self.n2()
    }
    /// Row-pass blocks per workspace slab: one per pair of mirror rows (k1 and n1 − k1; 0 and n1/2).
    fn row_blocks(&self) -> usize {
        self.n1() / 2
    }
    /// One radix-16 butterfly per thread and pass (`lrow` in the .cu file).
    fn rows_block(&self) -> u32 {
        (self.n2() / 16) as u32
    }
    /// The backward's pass 2: two halves of [`Self::rows_block`] threads, each transforming its own
    /// rows between the same barriers (`long_rows_bwd` in the .cu file).
    fn rows_bwd_block(&self) -> u32 {
        2 * self.rows_block()
    }
}

/// Threads of the backward's row and reduce kernels: one radix-16 butterfly per thread in a
/// middle pass, m/16 = n/32 (clamped to 32..512; n ≤ 16384 on this path, so never two per thread:
/// the row kernel's two buffers take turns within a pass and need m/16 ≤ blockDim, `check_shape`
/// in the .cu file). Before branch bwd10 n/4: at 2K–4K three quarters or more of the block idled
/// through every middle pass while holding a 512-thread block's registers (one block per SM). At
/// ~128 registers: 4 blocks of 128 threads (2K), 2 of 256 (4K), 1 of 512 (8K) per SM, 16 warps
/// (hyena-cli's kernels_profile test); shared memory (8n + 7.3 KiB) allows 5, 3, 1.
fn bwd_block_for(n: usize) -> u32 {
    (n / 32).clamp(32, MAX_BLOCK) as u32
}

/// Threads of the forward kernels: one radix-16 butterfly per thread in a middle pass,
/// m/16 = n/32 (clamped to 32..512; n ≤ 16384 on this path). With
/// n/4 (the backward's before branch bwd10), at n ≤ 8192 half or more of the block idled through every
/// middle pass and three quarters through the fused pass (its n/64 bin-pair slots), while holding
/// registers an SM could give to another row's block (branch fwd9). 128 registers: ≥ 16 warps
/// per SM at every n; the two-block kernel ([`fwd_two_blocks`]) 64: 32 at n = 16384 (checked in
/// hyena-cli's kernels_profile tests).
fn fwd_block_for(n: usize) -> u32 {
    (n / 32).clamp(32, MAX_BLOCK) as u32
}

/// Threads of the filter-spectrum kernel: m/16 = n/32 (clamped to 32..1024), one radix-16
/// butterfly per thread in every middle pass at every n, so it needs no scratch and fits 64
/// registers (`HYENA_FFTCONV_FILTER_BLOCK`, a launch bound of 1024 threads): two blocks per SM
/// (n ≤ 16384 on this path: at most 512 threads).
fn filter_block_for(n: usize) -> u32 {
    (n / 32).clamp(32, FILTER_BLOCK) as u32
}
/// Most threads per block of the filter-spectrum kernel (`HYENA_FFTCONV_FILTER_BLOCK`).
const FILTER_BLOCK: usize = 1024;

/// Static shared memory of the shared-memory path's kernels, at most: the twiddle table
/// (`HYENA_TW_PADDED` = 896 complex as two f32 planes, 7168 bytes: load_tw's copy of the
/// generated table, in every kernel of this path since branch bwd10) and bwd_rows' reduction
/// buffer (`MAX_BLOCK / 32` f64). The device's limit covers static + dynamic.
const SMEM_STATIC_BYTES: usize = 2 * 4 * 896 + 8 * (MAX_BLOCK / 32);

/// Dynamic shared memory of the forward kernels (and the backward's A kernel, the forward's code)
/// for `n`-point rows of length `l`: the spectrum (4n) and a = pre ⊙ v (4L).
fn fwd_shared_bytes(n: usize, l: usize) -> usize {
    4 * n + (4 * l).next_multiple_of(16)
}

/// Whether the forward of an `n`-point row takes the two-block kernel (`hyena_fftconv_fwd_2b_*`, or
/// with `inner` `hyena_fftconv_fwd_2b_inner_*`; in 2-byte storage, [`two_block_rows`]): 64
/// registers on sm_90, so two 512-thread blocks (32 warps) per SM where the 128-register kernel
/// holds one; the time model puts the forward latency-bound at 16 warps. Its shapes: rows of the
/// shared-memory path (n ≤ 16384, M ≤ [`SMEM_MAX_M_LOG`] = 13) with a first pass of radix 2 or 4 (`r0` ∈ {1, 2} of the
/// kernel's plan for M = log2(n) − 1: M = r0 + 4·mids + 4, mids ≥ 0 as few as possible), i.e.
/// M ∈ {5, 6, 9, 10, 13}: L ≤ 64, 256 < L ≤ 1K and 4K < L ≤ 8K. The radix-8 and radix-16 first
/// passes spilled at 64 registers (their packed loads in flight).
fn fwd_two_blocks(n: usize) -> bool {
    let m_log = (n.trailing_zeros() as usize).saturating_sub(1);
    if !(5..=SMEM_MAX_M_LOG).contains(&m_log) {
        return false;
    }
    let rest = m_log - 4;
    let mids = rest.div_ceil(4) - 1;
    matches!(rest - 4 * mids, 1 | 2)
}

/// log2 of the longest shared-memory row's complex FFT, m = n/2 at L = [`SMEM_MAX_LEN`] (13; the
/// kernels' `check_shape` traps above it).
const SMEM_MAX_M_LOG: usize = (2 * SMEM_MAX_LEN).next_power_of_two().trailing_zeros() as usize - 1;

/// [`fwd_two_blocks`] in storage `T`: the shapes the two-block kernels serve (2-byte storage only).
fn two_block_rows<T: DeviceScalar>(n: usize) -> bool {
    T::DTYPE.size() == 2 && fwd_two_blocks(n)
}

/// The infix of the 2-byte kernels' names for an `n`-point row where some are built for that n at
/// compile time (`HYENA_FFTCONV_MC_TWO`, `HYENA_FFTCONV_MC_4K`: the plan, the layouts, the pass
/// loops and the second plane's offset are constants there, docs/GPU_MODEL.md): `_m13` at n = 2^14
/// (4K < L ≤ 8K: the two-block forward and backward, the filter spectrum, the batch reduce),
/// `_m12` at n = 2^13 (2K < L ≤ 4K: the 128-register forward and backward, the filter spectrum,
/// the batch reduce), else none (the generic kernels). [`fixed_kernel`] applies it.
fn fixed_length_infix(n: usize) -> &'static str {
    match n.trailing_zeros() {
        14 => "_m13",
        13 => "_m12",
        _ => "",
    }
}

/// The kernel `{stem}{infix}_{sfx}` where 2-byte storage has one built for this `n`
/// ([`fixed_length_infix`]; `built`: the infixes `stem` has), else `{stem}_{sfx}`.
fn fixed_kernel<T: DeviceScalar>(stem: &str, n: usize, built: &[&str], sfx: &str) -> String {
    let infix = fixed_length_infix(n);
    if T::DTYPE.size() == 2 && built.contains(&infix) {
        format!("{stem}{infix}_{sfx}")
    } else {
        format!("{stem}_{sfx}")
    }
}

/// Whether the backward of an `n`-point row takes the two-block kernels (`hyena_fftconv_bwd_a_2b_*`
/// then `hyena_fftconv_bwd_g_2b_*`, one spectrum each, 64 registers on sm_90: two 512-thread
/// blocks per SM where `hyena_fftconv_bwd_*` holds one): the forward's two-block shapes
/// ([`fwd_two_blocks`]), 2-byte storage, a post gate (A's kernel writes grad_post), and a
/// workspace of `rows`·(n/2 + 1) bins that 32-bit indices address (the kernels index it so, to fit
/// 64 registers). Given the forward's `inner`, A's kernel is `hyena_fftconv_bwd_a_spec_2b_*`: A's
/// transform and grad_post = grad_y ⊙ inner, no convolution ([`bwd_two_block_kernels`]).
fn bwd_two_blocks<T: DeviceScalar>(n: usize, rows: usize, post: bool) -> bool {
    post && two_block_rows::<T>(n) && rows.checked_mul(n / 2 + 1).is_some_and(|b| b <= u32::MAX as usize)
}

/// The two launches of the two-block backward ([`bwd_two_blocks`]) of an `n`-point row, A's kernel
/// first (it leaves A's bins in the workspace for G's): with the forward's `inner`, the A kernel
/// without the convolution.
fn bwd_two_block_kernels<T: DeviceScalar>(n: usize, inner: bool, sfx: &str) -> [String; 2] {
    let a = if inner { "hyena_fftconv_bwd_a_spec_2b" } else { "hyena_fftconv_bwd_a_2b" };
    [fixed_kernel::<T>(a, n, &["_m13"], sfx), fixed_kernel::<T>("hyena_fftconv_bwd_g_2b", n, &["_m13"], sfx)]
}

/// Whether the spectra the shared-memory kernels exchange for rows of an `n`-point transform in
/// storage `T` (the filter's, [`fftconv_filter`]; the forward's A, [`a_spectrum_len`]) are in the
/// four-step order of the tensor-core kernels: n = 2^14 (4K < L ≤ 8K) in 2-byte storage, where the
/// filter's spectrum is made on tensor cores and the forward runs there at even L
/// ([`fwd_tensor_cores`]); the SIMT kernels built for that n read and write them in that order too.
pub fn spectra_four_step<T: DeviceScalar>(n: usize) -> bool {
    T::DTYPE.size() == 2 && n == 2 * SMEM_MAX_LEN
}

/// Whether the fused forward of `B·C = rows` rows of length `l` in storage `T` runs on tensor cores
/// (`hyena_fftconv_fwd_tc_m13_{bf16,f16}`, kernels/tcdft.cu: the row's FFT, the real-FFT split,
/// the filter product and the inverse as f16-operand `mma.sync` stages with f32 accumulation, in
/// place of the SIMT radix-16 kernels): 2-byte storage, 4K < L ≤ 8K with L even, fewer than 2^32
/// rows, unless the environment sets `HYENA_TC_FFT=0`. Accuracy: f16 operands (u = 2⁻¹¹) for the
/// transforms, with each row scaled by a power of two so its largest |pre ⊙ v| is in [1/2, 1):
/// the convolution within a few 2⁻¹¹ relative L2 (measured in the simulator: tests/all/fftconv.rs),
/// below the 2⁻⁸/2⁻¹¹ rounding of bf16/f16 outputs; the spectrum it keeps for the backward
/// ([`gated_fftconv_fwd_spectrum_keep`]) the same (the SIMT kernels': f32-level). The kernel also
/// needs every tensor 4-byte aligned, which the caller's views are checked for where it is chosen
/// (misaligned views take the SIMT kernels).
pub fn fwd_tensor_cores<T: DeviceScalar>(rows: usize, l: usize) -> bool {
    T::DTYPE.size() == 2
        && l > SMEM_MAX_LEN / 2
        && l <= SMEM_MAX_LEN
        && l % 2 == 0
        && rows <= u32::MAX as usize
        && std::env::var("HYENA_TC_FFT").map_or(true, |v| v != "0")
}

/// Whether the fused backward of `B·C = rows` rows of length `l` in storage `T`, given the
/// forward's spectrum of a ([`gated_fftconv_bwd_spectrum_keep`]'s `a_spec`), runs on tensor cores
/// (`hyena_fftconv_bwd_g_tc_m13_{bf16,f16}` and `hyena_fftconv_bwd_reduce_tc_m13_*`, kernels/tcdft.cu:
/// g's FFT, G·conj(A) per bin, the correlation with the filter and its inverse, then per channel
/// the batch's sum and its inverse, as f16-operand `mma.sync` stages with f32 accumulation; at
/// B = 1 the G kernel does the channel's inverse itself and no reduce is launched): the
/// forward's shapes ([`fwd_tensor_cores`]), a workspace of `rows`·(n/2 + 1) bins under 2^32 (the
/// two-block backward's), every tensor 4-byte aligned (checked where it is chosen). Accuracy: the
/// forward's (g and each channel's spectrum sum scaled by a power of two to the f16 operands'
/// range); grad_D an fp64 sum of exact products as the SIMT kernels'.
pub fn bwd_tensor_cores<T: DeviceScalar>(rows: usize, l: usize) -> bool {
    fwd_tensor_cores::<T>(rows, l) && bwd_two_blocks::<T>(2 * SMEM_MAX_LEN, rows, true)
}

/// Whether the forward should keep `inner` for the backward of rows of length `l` in storage `T`
/// ([`gated_fftconv_fwd_spectrum_inner`] / [`gated_fftconv_bwd_spectrum_inner`], one more
/// `[B, C, L]` output): where the backward given it runs fewer transforms in the kernels the time
/// model puts it in, the multi-pass path (`L >` [`SMEM_MAX_LEN`]: two of the four inverse row
/// FFTs per batch row and a column transform) and the two-block shapes of 2-byte storage
/// ([`fwd_two_blocks`]: A's kernel one FFT instead of two and no spectral product; 4K < L ≤ 8K
/// among them). Elsewhere the shared-memory G-only kernel is not put below the kernel it replaces
/// (docs/GPU_MODEL.md). Results do not depend on it beyond the rounding of `inner` to `T`.
pub fn inner_pays<T: DeviceScalar>(l: usize) -> bool {
    l > SMEM_MAX_LEN || fft_size(l).is_ok_and(two_block_rows::<T>)
}

/// `args` with `a_spec` declared when given (the forward's output, the backward's input), after the
/// conditions under which it is kept ([`gated_fftconv_fwd_spectrum_keep`]) and read
/// ([`gated_fftconv_bwd_spectrum_keep`]): the shape ([`a_spectrum_pays`]), `inner` and a post gate.
#[allow(clippy::too_many_arguments)]
fn with_a_spec<'d, T: DeviceScalar, V: LaunchArg>(
    args: Args<'d>,
    op: &str,
    a_spec: Option<&V>,
    bs: usize,
    c: usize,
    l: usize,
    inner: bool,
    post: bool,
) -> Result<Args<'d>> {
    let Some(a_spec) = a_spec else { return Ok(args) };
    if !a_spectrum_pays::<T>(bs, c, l) {
        return Err(HyenaError::Invalid(format!(
            "{op}: a_spec is kept only for the two-block backward's shapes (2-byte storage, e.g. 4K < L ≤ 8K) and the multi-pass path (L > {SMEM_MAX_LEN}): a_spectrum_pays; not {} at B = {bs}, C = {c}, L = {l}",
            T::DTYPE
        )));
    }
    if !inner || !post {
        return Err(HyenaError::Invalid(format!("{op}: a_spec needs `inner` and a post gate (the backward's A kernel it replaces writes grad_post = grad_y ⊙ inner)")));
    }
    Ok(args.arg("a_spec (a_spectrum_len)", a_spec, a_spectrum_len(bs, c, l)?).align(8, "complex f32"))
}

/// [`check_shared`] for `dynamic` bytes on top of the kernels' static shared memory; returns the
/// dynamic bytes.
fn check_shared_dyn(dev: &Arc<dyn Device>, kernel: &str, dynamic: usize) -> Result<u32> {
    Ok(check_shared(dev, kernel, dynamic + SMEM_STATIC_BYTES)? - SMEM_STATIC_BYTES as u32)
}

fn check_shared(dev: &Arc<dyn Device>, kernel: &str, bytes: usize) -> Result<u32> {
    let limit = dev.max_shared_bytes();
    if bytes > limit {
        return Err(HyenaError::SharedMemory { kernel: kernel.to_string(), requested: bytes, limit });
    }
    Ok(bytes as u32)
}

fn grid(blocks: usize, what: &str) -> Result<u32> {
    if blocks == 0 || blocks > i32::MAX as usize {
        return Err(HyenaError::Invalid(format!("{what}: {blocks} blocks is outside 1..=2^31-1")));
    }
    Ok(blocks as u32)
}

/// Filter spectrum: `hf[c] = rFFT_n(h[c] zero padded) / n` for `h` `[C, L]` into `hf`
/// ([`spectrum_len`] f32, 8-byte aligned), bins in natural order, but at n = 2^14 in 2-byte
/// storage (4K < L ≤ 8K, [`spectra_four_step`]) in the four-step order the tensor-core kernels
/// read: bin k < n/2 at 256·(k mod 32) + k/32, bin n/2 last (made there on tensor cores,
/// `hyena_fftconv_filter_tc_m13_*`, f16 operands: within a few 2⁻¹¹ relative L2). The
/// convolutions of this module read it in the layout it was made in: pass it on as it is.
pub fn fftconv_filter<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    h: impl Into<DeviceView<'a, T>>,
    c: usize,
    l: usize,
    hf: impl Into<DeviceViewMut<'h, f32>>,
) -> Result<()> {
    let (h, hf) = (h.into(), hf.into());
    let sfx = suffix(T::DTYPE, "fftconv_filter")?;
    let n = fft_size(l)?;
    Args::new(dev, "fftconv_filter")
        .arg("h [C, L]", &h, mul(c, l, "fftconv_filter C·L")?)
        .arg("hf (spectrum_len: [C, n/2+1] or [⌈C/2⌉, n] complex)", &hf, spectrum_len(c, l)?)
        .align(8, "complex f32")
        .check()?;
    if c == 0 {
        return Ok(());
    }
    if l > SMEM_MAX_LEN {
        // SAFETY: h [C, L] borrowed shared, hf [⌈C/2⌉, 2n] f32 (spectrum_len on this path) borrowed
        // exclusively, lengths checked above, not overlapping (checked).
        return unsafe { long_filter(dev, sfx, h.addr(), hf.addr(), c, l, n) };
    }
    let p = HyenaFftFilterParams {
        h: h.addr(),
        hf: hf.addr(),
        c: c as u64,
        l: l as u64,
        log2n: n.trailing_zeros() as u64,
    };
    if spectra_four_step::<T>(n) {
        // SAFETY: as below; the kernel's shapes (n = 2^14, 4K < L ≤ 8K) by spectra_four_step, C <
        // 2^32 checked by row_launch, which gives it the dynamic shared memory it indexes.
        return unsafe { super::tcdft::row_launch(dev, &format!("hyena_fftconv_filter_tc_m13_{sfx}"), c, super::tcdft::FILTER8K_STATIC_SHARED, &p) };
    }
    let name = fixed_kernel::<T>("hyena_fftconv_filter", n, &["_m12"], sfx);
    let shared = check_shared_dyn(dev, &name, 4 * n)?;
    let cfg = LaunchConfig { grid: (grid(c, "fftconv_filter")?, 1, 1), block: (filter_block_for(n), 1, 1), shared_bytes: shared };
    // SAFETY: the kernel reads h [C, L] (borrowed shared) and writes hf [C, n/2+1] complex
    // (borrowed exclusively, not overlapping h), lengths checked above.
    unsafe { launch(dev, &name, cfg, &p) }
}

fn long_params(plan: &LongPlan, mut p: HyenaFftConvLongParams) -> HyenaFftConvLongParams {
    p.log2n1 = plan.log2n1 as u64;
    p.log2n2 = plan.log2n2 as u64;
    p.log2tile = plan.log2tile as u64;
    p
}

/// Device addresses of the backward's arguments (0 = absent).
struct LongBwdIo {
    /// The filter spectrum `[⌈C/2⌉, n]` complex in the four-step layout ([`fftconv_filter`]).
    hf: u64,
    d: u64,
    v: u64,
    pre: u64,
    post: u64,
    /// The forward's value before the post gate (`conv + D·a`), or 0 (then recomputed from Za).
    inner: u64,
    /// The forward's row spectra of `a` (its kept workspace, [`a_spectrum_len`] f32: pass 1's
    /// column FFTs, then pass 2's row FFTs stored over them), or 0: given, they are Za's row
    /// transforms, read only (`hyena_fftconv_long_rows_bwd_kept`, without A·H: it needs `inner`
    /// or no post gate), and neither the backward's pass 1 on `a` nor its row FFTs of Za run.
    a_rows: u64,
    grad_y: u64,
    grad_v: u64,
    grad_pre: u64,
    grad_post: u64,
    grad_h: u64,
    grad_d: u64,
}

/// Multi-pass backward (`L >` [`SMEM_MAX_LEN`]) with the filter spectrum given. Allocates the
/// workspaces `Za` (unless the forward's is given, `io.a_rows`), `Zg` `[⌈C/2⌉, B, n]` and the
/// grad_h slab `[⌈C/2⌉, n]` (complex f32: `8·n·⌈C/2⌉·(2·B + 1)` bytes), freed in stream order
/// after the launches.
///
/// # Safety
/// Every non-zero address of `io` is a view on `dev` of the length [`gated_fftconv_bwd`] checks
/// for `(bs, c, l)`, held by the caller for the call (inputs shared, outputs exclusive, outputs
/// overlapping nothing).
unsafe fn long_bwd(dev: &Arc<dyn Device>, sfx: &str, io: &LongBwdIo, bs: usize, c: usize, l: usize, n: usize) -> Result<()> {
    let plan = LongPlan::new(n);
    let cols = plan.cols_kernel("long_cols", sfx);
    // With A·H (grad_post recomputed: six rows of shared memory), or without (no post gate, or
    // grad_post from `inner`) on a's row spectra (two rows): the forward's where it kept them,
    // else those of the backward's own pass 1 on a (`hyena_fftconv_long_rows_spectra`).
    let with_ah = io.grad_post != 0 && io.inner == 0;
    if io.a_rows != 0 && with_ah {
        return Err(HyenaError::Invalid("gated_fftconv_bwd: the forward's transform of a serves only where grad_post comes from `inner`".into()));
    }
    let (rows, rows_block, rows_bytes) = if with_ah {
        ("hyena_fftconv_long_rows_bwd", plan.rows_bwd_block(), plan.rows_bwd_shared())
    } else {
        ("hyena_fftconv_long_rows_bwd_kept", plan.rows_block(), plan.rows_shared())
    };
    let spectra = "hyena_fftconv_long_rows_spectra";
    let spectra_shared = if io.a_rows == 0 && !with_ah { check_shared(dev, spectra, plan.rows_shared())? } else { 0 };
    let cols_shared = check_shared(dev, &cols, plan.cols_shared())?;
    let rows_shared = check_shared(dev, rows, rows_bytes)?;
    let grad_h = plan.cols_kernel("long_grad_h", sfx);
    let grad_h_shared = check_shared(dev, &grad_h, plan.cols_shared())?;
    let grad_in = plan.cols_kernel("long_grad_in", sfx);
    let grad_in_shared = check_shared(dev, &grad_in, plan.cols_shared())?;
    let cp = c.div_ceil(2);
    let slabs = cp.checked_mul(bs).ok_or_else(|| HyenaError::Invalid("C·B overflows".into()))?;
    let what = "gated_fftconv_bwd (multi-pass)";
    let g_rows = grid(cp.saturating_mul(plan.row_blocks()), what)?;
    let g_h = grid(cp.saturating_mul(plan.tiles()), what)?;
    let ws_len = mul(slabs, 2 * plan.n(), &format!("{what}: workspace"))?;
    let spec_len = mul3(2, cp, plan.n(), &format!("{what}: spectrum"))?;
    // Za: the forward's (kept, read only here), or a workspace of its own.
    let ws_a = if io.a_rows == 0 { Some(DeviceBuffer::<f32>::alloc(dev, ws_len)?) } else { None };
    let ws_a = ws_a.as_ref().map_or(io.a_rows, |w| w.addr());
    let ws_g = DeviceBuffer::<f32>::alloc(dev, ws_len)?;
    let ws_h = DeviceBuffer::<f32>::alloc(dev, spec_len)?;
    let base = long_params(
        &plan,
        HyenaFftConvLongParams {
            v: io.v,
            pre: io.pre,
            post: io.post,
            hf: io.hf,
            d: io.d,
            y: 0,
            inner: io.inner,
            ws: ws_a,
            b: bs as u64,
            c: c as u64,
            l: l as u64,
            log2n1: 0,
            log2n2: 0,
            log2tile: 0,
            ws_out: 0,
        },
    );
    let pb = HyenaFftConvLongBwdParams {
        fwd: base,
        ws_g: ws_g.addr(),
        slab: ws_h.addr(),
        grad_h: io.grad_h,
        grad_d: io.grad_d,
        grad_y: io.grad_y,
        grad_v: io.grad_v,
        grad_pre: io.grad_pre,
        grad_post: io.grad_post,
    };
    // SAFETY (every launch below): the caller's views (contract above) and the workspaces ws_a,
    // ws_g, ws_h sized above for (B, C, n), owned until every launch is queued (their frees are
    // stream-ordered after them, see `crate::device`).
    let launch = |name: &str, blocks: u32, block: u32, shared: u32, p: HyenaFftConvLongParams| {
        let cfg = LaunchConfig { grid: (blocks, 1, 1), block: (block, 1, 1), shared_bytes: shared };
        unsafe { super::launch(dev, name, cfg, &p) }
    };
    let launch_bwd = |name: &str, blocks: u32, block: u32, shared: u32| {
        let cfg = LaunchConfig { grid: (blocks, 1, 1), block: (block, 1, 1), shared_bytes: shared };
        unsafe { super::launch(dev, name, cfg, &pb) }
    };
    // g = grad_y ⊙ post is pass 1 with (v, pre) = (grad_y, post).
    let g_in = HyenaFftConvLongParams { v: io.grad_y, pre: io.post, ws: ws_g.addr(), inner: 0, ..base };
    if slabs > 0 {
        let g13 = grid(slabs.saturating_mul(plan.tiles()), what)?;
        if io.a_rows == 0 {
            launch(&cols, g13, LONG_COLS_BLOCK, cols_shared, base)?;
            if !with_ah {
                // a's row spectra over its pass 1 (no filter spectrum: hf = 0 selects that pass).
                let g2 = grid(slabs.saturating_mul(plan.row_blocks()), what)?;
                launch(spectra, g2, plan.rows_block(), spectra_shared, HyenaFftConvLongParams { hf: 0, ..base })?;
            }
        }
        launch(&cols, g13, LONG_COLS_BLOCK, cols_shared, g_in)?;
        launch_bwd(rows, g_rows, rows_block, rows_shared)?;
        // grad_post = grad_y ⊙ (h ∗ a + D·a) from Za; grad_a = corr(g, h) + D·g from Zg, then
        // grad_v = grad_a ⊙ pre, grad_pre = grad_a ⊙ v: one launch (three pass-3 launches read
        // grad_y, v and pre once per output, Zg once per gate).
        launch_bwd(&grad_in, g13, LONG_COLS_BLOCK, grad_in_shared)?;
    } else {
        launch_bwd(rows, g_rows, rows_block, rows_shared)?;
    }
    // grad_h of channel 2cp = Re(slab cp), of 2cp + 1 = Im(slab cp) for t < L; grad_D = their lag 0.
    launch_bwd(&grad_h, g_h, LONG_COLS_BLOCK, grad_h_shared)?;
    // The workspaces are freed in stream order after these launches (`crate::device`).
    Ok(())
}

/// Multi-pass filter spectrum: passes 1 and 2 (no spectrum to multiply by: pass 2 writes the
/// scaled forward FFT) with `h` as the rows, `hf` as the workspace.
///
/// # Safety
/// `h` is `[C, L]` of the kernel's dtype and `hf` `[⌈C/2⌉, 2n]` f32 on `dev`, not overlapping, held for
/// the call (h unwritten, hf unshared).
unsafe fn long_filter(dev: &Arc<dyn Device>, sfx: &str, h: u64, hf: u64, c: usize, l: usize, n: usize) -> Result<()> {
    let plan = LongPlan::new(n);
    let cols = plan.cols_kernel("long_cols", sfx);
    let rows = "hyena_fftconv_long_rows";
    let cols_shared = check_shared(dev, &cols, plan.cols_shared())?;
    let rows_shared = check_shared(dev, rows, plan.rows_shared())?;
    let p = long_params(
        &plan,
        HyenaFftConvLongParams {
            v: h,
            pre: 0,
            post: 0,
            hf: 0,
            d: 0,
            y: 0,
            inner: 0,
            ws: hf,
            ws_out: 0,
            b: 1,
            c: c as u64,
            l: l as u64,
            log2n1: 0,
            log2n2: 0,
            log2tile: 0,
        },
    );
    let cp = c.div_ceil(2);
    let g1 = grid(cp.saturating_mul(plan.tiles()), "fftconv_filter (multi-pass)")?;
    let g2 = grid(cp.saturating_mul(plan.row_blocks()), "fftconv_filter (multi-pass)")?;
    // SAFETY: the caller's contract above.
    unsafe {
        launch(dev, &cols, LaunchConfig { grid: (g1, 1, 1), block: (LONG_COLS_BLOCK, 1, 1), shared_bytes: cols_shared }, &p)?;
        launch(dev, rows, LaunchConfig { grid: (g2, 1, 1), block: (plan.rows_block(), 1, 1), shared_bytes: rows_shared }, &p)
    }
}

/// Multi-pass forward: allocates the workspace `[⌈C/2⌉, B, n]` complex f32 (`8·⌈C/2⌉·B·n`
/// bytes), runs the three passes; the workspace is freed in stream order after them.
///
/// # Safety
/// The addresses of `p` are views on `dev` of the lengths [`gated_fftconv_fwd_spectrum`] checks
/// for `(p.b, p.c, p.l)`, held by the caller for the call (inputs shared, `y` exclusive and
/// overlapping nothing).
unsafe fn long_fwd(dev: &Arc<dyn Device>, sfx: &str, p: HyenaFftConvLongParams, n: usize, keep: u64) -> Result<()> {
    let plan = LongPlan::new(n);
    let (bs, c) = (p.b as usize, p.c as usize);
    let cols = plan.cols_kernel("long_cols", sfx);
    // Keeping a's transform: the row pass that also stores its row spectra.
    let rows = if keep != 0 { "hyena_fftconv_long_rows_keep" } else { "hyena_fftconv_long_rows" };
    let out = plan.cols_kernel("long_out", sfx);
    let cols_shared = check_shared(dev, &cols, plan.cols_shared())?;
    let rows_shared = check_shared(dev, rows, plan.rows_shared())?;
    let out_shared = check_shared(dev, &out, plan.cols_shared())?;
    let slabs = c.div_ceil(2).checked_mul(bs).ok_or_else(|| HyenaError::Invalid("C·B overflows".into()))?;
    let g13 = grid(slabs.saturating_mul(plan.tiles()), "gated_fftconv_fwd (multi-pass)")?;
    let g2 = grid(slabs.saturating_mul(plan.row_blocks()), "gated_fftconv_fwd (multi-pass)")?;
    let ws_len = slabs
        .checked_mul(2 * plan.n())
        .ok_or_else(|| HyenaError::Invalid(format!("gated_fftconv_fwd workspace of {slabs}·2n f32 overflows")))?;
    let ws = DeviceBuffer::<f32>::alloc(dev, ws_len)?;
    let p = long_params(&plan, HyenaFftConvLongParams { ws: ws.addr(), ws_out: 0, ..p });
    // Keeping a's row spectra (`keep`, the caller's buffer of ws_len f32): pass 1 writes there,
    // pass 2 reads there, stores each row's forward FFT back over it and its output to ws, pass 3
    // reads ws; else all three in ws, pass 2 in place.
    let (p1, p2) = if keep != 0 { (HyenaFftConvLongParams { ws: keep, ..p }, HyenaFftConvLongParams { ws: keep, ws_out: ws.addr(), ..p }) } else { (p, p) };
    let cfg13 = |shared| LaunchConfig { grid: (g13, 1, 1), block: (LONG_COLS_BLOCK, 1, 1), shared_bytes: shared };
    // SAFETY: the caller's contract above (`keep`: 0 or ws_len f32 on `dev`, held exclusively for
    // the call), and the workspace `ws` sized for (B, C, n) above, owned until the launches are
    // queued (its free is stream-ordered after them, see `crate::device`).
    unsafe {
        launch(dev, &cols, cfg13(cols_shared), &p1)?;
        launch(dev, rows, LaunchConfig { grid: (g2, 1, 1), block: (plan.rows_block(), 1, 1), shared_bytes: rows_shared }, &p2)?;
        launch(dev, &out, cfg13(out_shared), &p)?;
    }
    Ok(())
}

/// Gated convolution with a precomputed spectrum `hf` (from [`fftconv_filter`] for the same `L`).
/// Shared-memory path: queued, returns at once. Multi-pass path (`L >` [`SMEM_MAX_LEN`]): allocates
/// its workspace (`8·⌈C/2⌉·B·n` bytes, freed in stream order after its launches) and returns.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_fwd_spectrum<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    gated_fftconv_fwd_spectrum_inner(dev, hf, d, v, pre, post, bs, c, l, y, None)
}

/// [`gated_fftconv_fwd_spectrum`] that also writes `inner` `[B, C, L]` when given: the value
/// before the post gate, `h ∗ a + D·a` (so `y = post ⊙ inner`), rounded to `T` like `y`. The
/// backward reads it back ([`gated_fftconv_bwd_spectrum_inner`]) for `grad_post = grad_y ⊙ inner`
/// instead of convolving `a` with `h` again: worth one more `[B, C, L]` activation where a post
/// gate is applied (the operator's last step), and nothing without one (then `inner = y`).
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_fwd_spectrum_inner<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
    inner: Option<DeviceViewMut<'a, T>>,
) -> Result<()> {
    gated_fftconv_fwd_spectrum_keep(dev, hf, d, v, pre, post, bs, c, l, y, inner, None)
}

/// Whether the forward can keep its transform of `a = pre ⊙ v` for the backward
/// ([`gated_fftconv_fwd_spectrum_keep`], [`gated_fftconv_bwd_spectrum_keep`]) at `B = bs`, `C = c`,
/// rows of length `l`, storage `T`, with a post gate and `inner`:
/// - the two-block backward's shapes (2-byte storage, 4K < L ≤ 8K among them): A's spectrum, and
///   the backward's A kernel (one FFT of `a` and `grad_post = grad_y ⊙ inner`) does not run;
/// - the multi-pass path (`L >` [`SMEM_MAX_LEN`], forward and backward both four-step): the
///   forward's row spectra of `a` (pass 1's column FFTs, then pass 2's row FFTs, which pass 2
///   stores over its input: one more write of the workspace), and the backward runs neither its
///   pass 1 on `a` (one launch reading v and pre, writing the workspace) nor its row FFTs of Za
///   (`hyena_fftconv_long_rows_spectra`, a launch reading and writing the workspace), and
///   allocates no Za workspace of its own (the kept one is held from the forward on instead).
pub fn a_spectrum_pays<T: DeviceScalar>(bs: usize, c: usize, l: usize) -> bool {
    if l > SMEM_MAX_LEN {
        return l <= LONG_MAX_LEN;
    }
    bs.checked_mul(c).is_some_and(|rows| fft_size(l).is_ok_and(|n| bwd_two_blocks::<T>(n, rows, true)))
}

/// f32 length of the transform of `a` kept by [`gated_fftconv_fwd_spectrum_keep`]
/// ([`a_spectrum_pays`]; n = [`fft_size`]`(l)`): on the shared-memory path `B·C·(n/2 + 1)`
/// complex, A's real spectrum (8·(n/2 + 1) bytes per row: 64 KiB at L = 8K; row (b, c) at c·B + b,
/// channel-major as the kernels' blocks; bin k in natural order, but at n = 2^14 in 2-byte storage
/// in the four-step order of the tensor-core forward, bin k < n/2 at 256·(k mod 32) + k/32 and
/// bin n/2 last, which its bin pairs store 8 consecutive bins per 8 lanes); on the multi-pass
/// path `⌈C/2⌉·B·n` complex in the four-step layout of the channel pairs, opaque (4n bytes per
/// row: 403 MB at B = 1, C = 768, L = 64K).
pub fn a_spectrum_len(bs: usize, c: usize, l: usize) -> Result<usize> {
    let n = fft_size(l)?;
    if l > SMEM_MAX_LEN {
        return mul3(2, mul(c.div_ceil(2), bs, "a_spectrum ⌈C/2⌉·B")?, n, "a_spectrum ⌈C/2⌉·B·n");
    }
    mul3(2, mul(bs, c, "a_spectrum B·C")?, n / 2 + 1, "a_spectrum B·C·(n/2 + 1)")
}

/// [`gated_fftconv_fwd_spectrum_inner`] that also keeps its transform of `a = pre ⊙ v` in
/// `a_spec` ([`a_spectrum_len`] f32, 8-byte aligned) when given: on the shared-memory path A =
/// rFFT(a), which its fused pass forms anyway (64 KiB per row written, at the paper's B = 1, D =
/// 768, L = 8K: one launch and one FFT per row fewer in the backward); on the multi-pass path the
/// row spectra of the channel pairs (pass 1's workspace with pass 2's forward row FFTs stored over
/// it: 8n bytes per channel pair and batch row written once more; the backward skips its own pass
/// 1 on `a` and its row FFTs of Za). [`gated_fftconv_bwd_spectrum_keep`] reads it. Only where
/// [`a_spectrum_pays`] and with `inner` and a post gate: elsewhere a typed error. The forward's
/// outputs are the same bits with or without it.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_fwd_spectrum_keep<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
    inner: Option<DeviceViewMut<'a, T>>,
    a_spec: Option<DeviceViewMut<'a, f32>>,
) -> Result<()> {
    let (hf, d, v, y) = (hf.into(), d.into(), v.into(), y.into());
    let sfx = suffix(T::DTYPE, "gated_fftconv_fwd")?;
    let n = fft_size(l)?;
    let total = mul3(bs, c, l, "gated_fftconv_fwd B·C·L")?;
    let args = Args::new(dev, "gated_fftconv_fwd")
        .arg("hf (spectrum_len: [C, n/2+1] or [⌈C/2⌉, n] complex)", &hf, spectrum_len(c, l)?)
        .align(8, "complex f32")
        .arg("D [C]", &d, c)
        .arg("v [B, C, L]", &v, total)
        .opt("pre [B, C, L]", pre.as_ref(), total)
        .opt("post [B, C, L]", post.as_ref(), total)
        .arg("y [B, C, L]", &y, total)
        .opt("inner [B, C, L]", inner.as_ref(), total);
    with_a_spec::<T, _>(args, "gated_fftconv_fwd", a_spec.as_ref(), bs, c, l, inner.is_some(), post.is_some())?.check()?;
    if total == 0 {
        return Ok(());
    }
    let inner = inner.as_ref().map_or(0, |x| x.addr());
    let spec = a_spec.as_ref().map_or(0, |s| s.addr());
    if l > SMEM_MAX_LEN {
        let p = HyenaFftConvLongParams {
            v: v.addr(),
            pre: pre.as_ref().map_or(0, |x| x.addr()),
            post: post.as_ref().map_or(0, |x| x.addr()),
            hf: hf.addr(),
            d: d.addr(),
            y: y.addr(),
            inner,
            ws: 0,
            b: bs as u64,
            c: c as u64,
            l: l as u64,
            log2n1: 0,
            log2n2: 0,
            log2tile: 0,
            ws_out: 0,
        };
        // SAFETY: every address comes from a view checked above (lengths for (B, C, L), device,
        // alignment, y, inner and a_spec overlapping nothing) and borrowed for this call (y, inner
        // and a_spec exclusively).
        return unsafe { long_fwd(dev, sfx, p, n, spec) };
    }
    let p = HyenaFftConvFwdParams {
        v: v.addr(),
        pre: pre.as_ref().map_or(0, |x| x.addr()),
        post: post.as_ref().map_or(0, |x| x.addr()),
        hf: hf.addr(),
        d: d.addr(),
        y: y.addr(),
        inner,
        b: bs as u64,
        c: c as u64,
        l: l as u64,
        log2n: n.trailing_zeros() as u64,
        spec,
    };
    if [p.v, p.pre, p.post, p.y, p.inner].iter().all(|a| a % 4 == 0) && fwd_tensor_cores::<T>(bs * c, l) {
        debug_assert_eq!(n, 2 * SMEM_MAX_LEN);
        // SAFETY: as the SIMT launch below (the same params, lengths checked); the kernel's shapes
        // (n = 2^14, 4K < L ≤ 8K, L even, B·C < 2^32, every tensor 4-byte aligned: absent ones are
        // 0) checked by fwd_tensor_cores and above; row_launch gives it the dynamic shared memory
        // it indexes.
        return unsafe { super::tcdft::row_launch(dev, &format!("hyena_fftconv_fwd_tc_m13_{sfx}"), bs * c, super::tcdft::FWD8K_STATIC_SHARED, &p) };
    }
    let name = if spec != 0 {
        fixed_kernel::<T>("hyena_fftconv_fwd_2b_inner_spec", n, &["_m13"], sfx)
    } else if two_block_rows::<T>(n) {
        fixed_kernel::<T>(if inner != 0 { "hyena_fftconv_fwd_2b_inner" } else { "hyena_fftconv_fwd_2b" }, n, &["_m13"], sfx)
    } else if inner != 0 {
        format!("hyena_fftconv_fwd_inner_{sfx}")
    } else {
        fixed_kernel::<T>("hyena_fftconv_fwd", n, &["_m12"], sfx)
    };
    let shared = check_shared_dyn(dev, &name, fwd_shared_bytes(n, l))?;
    // B·C ≤ B·C·L, which fits.
    let cfg = LaunchConfig { grid: (grid(bs * c, "gated_fftconv_fwd")?, 1, 1), block: (fwd_block_for(n), 1, 1), shared_bytes: shared };
    // SAFETY: the kernel reads v, pre, post [B, C, L], D [C], hf [C, n/2+1] complex (borrowed
    // shared) and writes y and inner [B, C, L] and a_spec [B·C, n/2+1] complex (borrowed
    // exclusively, overlapping nothing), lengths checked.
    unsafe { launch(dev, &name, cfg, &p) }
}

/// Gated causal FFT convolution forward: computes the filter spectrum of `h` `[C, L]` once
/// (a temporary device buffer), then every `(b, c)` row. Returns after the device finished.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_fwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    h: impl Into<DeviceView<'a, T>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let h = h.into();
    suffix(T::DTYPE, "gated_fftconv_fwd")?;
    let mut hf = DeviceBuffer::<f32>::alloc(dev, spectrum_len(c, l)?)?;
    fftconv_filter(dev, h, c, l, &mut hf)?;
    gated_fftconv_fwd_spectrum(dev, &hf, d, v, pre, post, bs, c, l, y)?;
    // The spectrum buffer's free is stream-ordered after the launches (`crate::device`).
    Ok(())
}

/// Gradients written by [`gated_fftconv_bwd`] (device views; `grad_pre`/`grad_post` present
/// exactly when `pre`/`post` were given). `grad_h` `[C, L]` and `grad_d` `[C]` are overwritten with
/// the sums over the batch.
pub struct GatedConvGradViews<'a, T: crate::device::Pod> {
    /// `[B, C, L]`.
    pub grad_v: DeviceViewMut<'a, T>,
    /// `[B, C, L]`.
    pub grad_pre: Option<DeviceViewMut<'a, T>>,
    /// `[B, C, L]`.
    pub grad_post: Option<DeviceViewMut<'a, T>>,
    /// `[C, L]`.
    pub grad_h: DeviceViewMut<'a, T>,
    /// `[C]`.
    pub grad_d: DeviceViewMut<'a, T>,
}

/// Backward of [`gated_fftconv_fwd`] given `grad_y` `[B, C, L]`, `L ≤` [`LONG_MAX_LEN`]: the
/// filter spectrum of `h` ([`fftconv_filter`], a temporary), then [`gated_fftconv_bwd_spectrum`].
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_bwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    h: impl Into<DeviceView<'a, T>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    grad_y: impl Into<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    grads: GatedConvGradViews<'a, T>,
) -> Result<()> {
    suffix(T::DTYPE, "gated_fftconv_bwd")?;
    let mut hf = DeviceBuffer::<f32>::alloc(dev, spectrum_len(c, l)?)?;
    fftconv_filter(dev, h, c, l, &mut hf)?;
    // The spectrum buffer's free is stream-ordered after the launches (`crate::device`).
    gated_fftconv_bwd_spectrum(dev, &hf, d, v, pre, post, grad_y, bs, c, l, grads)
}

/// Backward of the gated convolution with the filter spectrum `hf` given ([`spectrum_len`] f32:
/// from [`fftconv_filter`], the forward's). Deterministic: `grad_h` is reduced over the batch in the
/// frequency domain (per-row spectra in a workspace, summed in batch order, one inverse FFT per
/// channel), no atomics. Allocates workspaces on `dev` (shared-memory path, `L ≤`
/// [`SMEM_MAX_LEN`]: `C·B·(n/2+1)` complex + `C·B` f32; multi-pass path: `⌈C/2⌉·(2·B + 1)·n`
/// complex), freed in stream order after the launches.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_bwd_spectrum<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    grad_y: impl Into<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    grads: GatedConvGradViews<'a, T>,
) -> Result<()> {
    gated_fftconv_bwd_spectrum_inner(dev, hf, d, v, pre, post, None, grad_y, bs, c, l, grads)
}

/// [`gated_fftconv_bwd_spectrum`] given the forward's `inner` `[B, C, L]`
/// ([`gated_fftconv_fwd_spectrum_inner`], the value before the post gate, from the same inputs):
/// `grad_post = grad_y ⊙ inner`, where without it the backward convolves `a` with `h` again (on
/// the multi-pass path, `L >` [`SMEM_MAX_LEN`], two of the four inverse row FFTs per batch row
/// and a column transform of pass 3; on the shared-memory path one of the row's two inverse
/// FFTs). Read only when `post` is given. An `inner` from other
/// inputs gives a wrong `grad_post`, nothing worse.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_bwd_spectrum_inner<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    inner: Option<DeviceView<'a, T>>,
    grad_y: impl Into<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    grads: GatedConvGradViews<'a, T>,
) -> Result<()> {
    gated_fftconv_bwd_spectrum_keep(dev, hf, d, v, pre, post, inner, None, grad_y, bs, c, l, grads)
}

/// [`gated_fftconv_bwd_spectrum_inner`] given also the forward's transform of `a`, `a_spec`
/// ([`gated_fftconv_fwd_spectrum_keep`], from the same `v` and `pre`; [`a_spectrum_len`] f32):
/// the two-block backward then launches its G kernel alone, which reads A from `a_spec` and also
/// forms `grad_post = grad_y ⊙ inner`; the multi-pass backward takes it as Za's row transforms
/// and skips its pass 1 on `a` and those row FFTs. Read only: the backward may run again on the same cache. The same bits as without it.
/// Needs what the forward needed ([`a_spectrum_pays`], `inner`, a post gate): else a typed error.
/// An `a_spec` from other inputs gives wrong `grad_h` (and on the multi-pass path wrong grad_v,
/// grad_pre), nothing worse.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_bwd_spectrum_keep<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    v: impl Into<DeviceView<'a, T>>,
    pre: Option<DeviceView<'a, T>>,
    post: Option<DeviceView<'a, T>>,
    inner: Option<DeviceView<'a, T>>,
    a_spec: Option<DeviceView<'a, f32>>,
    grad_y: impl Into<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    grads: GatedConvGradViews<'a, T>,
) -> Result<()> {
    let (hf, d, v, gy) = (hf.into(), d.into(), v.into(), grad_y.into());
    // Without a post gate there is no grad_post to take from it.
    let inner = if post.is_some() { inner } else { None };
    let sfx = suffix(T::DTYPE, "gated_fftconv_bwd")?;
    let n = fft_size(l)?;
    let total = mul3(bs, c, l, "gated_fftconv_bwd B·C·L")?;
    let g = &grads;
    for (name, given, grad_given) in [("pre", pre.is_some(), g.grad_pre.is_some()), ("post", post.is_some(), g.grad_post.is_some())] {
        if given != grad_given {
            return Err(HyenaError::Invalid(format!("gated_fftconv_bwd: grad_{name} must be given exactly when {name} is")));
        }
    }
    let cl = mul(c, l, "gated_fftconv_bwd C·L")?;
    let args = Args::new(dev, "gated_fftconv_bwd")
        .arg("hf (spectrum_len: [C, n/2+1] or [⌈C/2⌉, n] complex)", &hf, spectrum_len(c, l)?)
        .align(8, "complex f32")
        .arg("D [C]", &d, c)
        .arg("v [B, C, L]", &v, total)
        .opt("pre [B, C, L]", pre.as_ref(), total)
        .opt("post [B, C, L]", post.as_ref(), total)
        .opt("inner [B, C, L]", inner.as_ref(), total)
        .arg("grad_y [B, C, L]", &gy, total)
        .arg("grad_v [B, C, L]", &g.grad_v, total)
        .opt("grad_pre [B, C, L]", g.grad_pre.as_ref(), total)
        .opt("grad_post [B, C, L]", g.grad_post.as_ref(), total)
        .arg("grad_h [C, L]", &g.grad_h, cl)
        .arg("grad_d [C]", &g.grad_d, c);
    with_a_spec::<T, _>(args, "gated_fftconv_bwd", a_spec.as_ref(), bs, c, l, inner.is_some(), post.is_some())?.check()?;
    if c == 0 {
        return Ok(());
    }
    if l > SMEM_MAX_LEN {
        let opt = |x: &Option<DeviceView<'a, T>>| x.as_ref().map_or(0, |x| x.addr());
        let opt_mut = |x: &Option<DeviceViewMut<'a, T>>| x.as_ref().map_or(0, |x| x.addr());
        let io = LongBwdIo {
            hf: hf.addr(),
            d: d.addr(),
            v: v.addr(),
            pre: opt(&pre),
            post: opt(&post),
            inner: opt(&inner),
            a_rows: a_spec.as_ref().map_or(0, |s| s.addr()),
            grad_y: gy.addr(),
            grad_v: g.grad_v.addr(),
            grad_pre: opt_mut(&g.grad_pre),
            grad_post: opt_mut(&g.grad_post),
            grad_h: g.grad_h.addr(),
            grad_d: g.grad_d.addr(),
        };
        // SAFETY: every address comes from a view checked above (lengths, device, alignment,
        // outputs overlapping nothing), borrowed for this call (the outputs exclusively).
        return unsafe { long_bwd(dev, sfx, &io, bs, c, l, n) };
    }
    let m = n / 2;
    let block = bwd_block_for(n);
    // B·C ≤ B·C·L, which fits.
    let rows = bs * c;
    let two = bwd_two_blocks::<T>(n, rows, post.is_some());
    // Without `inner`, A·H inverted for grad_post (the kernel of the first version; without a post
    // gate the model puts it below the G-only kernel's estimate at 4K–8K, docs/GPU_MODEL.md);
    // with it, the G-only kernel (grad_post = grad_y ⊙ inner). The two-block shapes: two kernels
    // of one spectrum each, A's kernel first (it leaves A in the workspace for G's).
    let rows_names = if two && a_spec.is_some() {
        // A from the forward: the G kernel alone (with_a_spec checked `two`).
        bwd_two_block_kernels::<T>(n, true, sfx)[1..].to_vec()
    } else if two {
        bwd_two_block_kernels::<T>(n, inner.is_some(), sfx).to_vec()
    } else if inner.is_none() {
        vec![fixed_kernel::<T>("hyena_fftconv_bwd", n, &["_m12"], sfx)]
    } else {
        vec![format!("hyena_fftconv_bwd_g_{sfx}")]
    };
    let red_name = fixed_kernel::<T>("hyena_fftconv_bwd_reduce", n, &["_m13", "_m12"], sfx);
    // Two spectra (+ the static twiddle table and reduction buffer); the two-block kernels one
    // each, A's as the forward's (its code) unless given `inner` (then the spectrum only).
    let rows_dyn = |i: usize| if !two { 16 * m } else if i == 0 && inner.is_none() && a_spec.is_none() { fwd_shared_bytes(n, l) } else { 4 * n };
    let rows_shared = rows_names.iter().enumerate().map(|(i, k)| check_shared_dyn(dev, k, rows_dyn(i))).collect::<Result<Vec<_>>>()?;
    let red_shared = check_shared_dyn(dev, &red_name, 8 * m)?;
    let ws = DeviceBuffer::<f32>::alloc(dev, mul3(2, rows, m + 1, "gated_fftconv_bwd workspace")?)?;
    let ws_d = DeviceBuffer::<f32>::alloc(dev, rows)?;
    let p = HyenaFftConvBwdParams {
        v: v.addr(),
        pre: pre.as_ref().map_or(0, |x| x.addr()),
        post: post.as_ref().map_or(0, |x| x.addr()),
        hf: hf.addr(),
        d: d.addr(),
        grad_y: gy.addr(),
        grad_v: g.grad_v.addr(),
        grad_pre: g.grad_pre.as_ref().map_or(0, |x| x.addr()),
        grad_post: g.grad_post.as_ref().map_or(0, |x| x.addr()),
        inner: inner.as_ref().map_or(0, |x| x.addr()),
        grad_h: g.grad_h.addr(),
        grad_d: g.grad_d.addr(),
        ws: ws.addr(),
        ws_d: ws_d.addr(),
        b: bs as u64,
        c: c as u64,
        l: l as u64,
        log2n: n.trailing_zeros() as u64,
        aspec: a_spec.as_ref().map_or(0, |s| s.addr()),
        // The short conv stays apart (gated_fftconv_shortconv_bwd fuses it).
        sc_z: [0; 3],
        sc_w: [0; 3],
        sc_ws: [0; 3],
        sc_head: [0; 3],
        sc_grad_w: [0; 3],
        sc_grad_b: [0; 3],
        sc_grad_in_bias: [0; 3],
    };
    // SAFETY (every launch): the views checked above (lengths for (B, C, L), device, alignment,
    // outputs overlapping nothing; a_spec read only), borrowed for this call (outputs exclusively), and the
    // workspaces ws, ws_d sized above, owned until the launches are queued (their frees are
    // stream-ordered after them, see `crate::device`).
    // The tensor-core kernels: the params' addresses (absent tensors 0) 4-byte aligned, as the forward's.
    let aligned4 = [p.v, p.pre, p.post, p.inner, p.grad_y, p.grad_v, p.grad_pre, p.grad_post, p.grad_h].iter().all(|a| a % 4 == 0);
    if two && a_spec.is_some() && aligned4 && bwd_tensor_cores::<T>(rows, l) {
        debug_assert_eq!(n, 2 * SMEM_MAX_LEN);
        // SAFETY: as the SIMT launches below (the same params and workspaces); the kernels' shapes
        // (n = 2^14, 4K < L ≤ 8K, L even, B·C·(m + 1) < 2^32, a_spec, inner and a post gate
        // given, every tensor 4-byte aligned: absent ones are 0) checked by bwd_tensor_cores,
        // with_a_spec and above; row_launch gives each the dynamic shared memory it indexes. The
        // G kernel writes ws and ws_d before the reduce (the same stream) reads them; at B = 1
        // the G kernel reduces each row's channel itself (grad_h, grad_D), and no reduce runs.
        unsafe {
            super::tcdft::row_launch(dev, &format!("hyena_fftconv_bwd_g_tc_m13_{sfx}"), rows, super::tcdft::BWD8K_STATIC_SHARED, &p)?;
            if bs == 1 {
                return Ok(());
            }
            return super::tcdft::row_launch(dev, &format!("hyena_fftconv_bwd_reduce_tc_m13_{sfx}"), c, super::tcdft::FWD8K_STATIC_SHARED, &p);
        }
    }
    if rows > 0 {
        for (name, &shared) in rows_names.iter().zip(&rows_shared) {
            let cfg = LaunchConfig { grid: (grid(rows, "gated_fftconv_bwd")?, 1, 1), block: (block, 1, 1), shared_bytes: shared };
            unsafe { launch(dev, name, cfg, &p) }?;
        }
    }
    let cfg = LaunchConfig { grid: (grid(c, "gated_fftconv_bwd")?, 1, 1), block: (block, 1, 1), shared_bytes: red_shared };
    unsafe { launch(dev, &red_name, cfg, &p) }?;
    Ok(())
}

/// The short conv beneath the three operands of [`gated_fftconv_shortconv_fwd`]: `v`, `pre` and
/// `post` are chunks `roles[0]`, `roles[1]`, `roles[2]` of
/// [`shortconv_fwd_chunks`](super::shortconv::shortconv_fwd_chunks)`(z, w, bias, None, 3, B, C, L)`
/// (the device operator at order 2: v = chunk 2, pre = chunk 1, post = chunk 0).
pub struct ShortConvFwdViews<'a, T: crate::device::Pod> {
    /// `[3, B, C, L]`: the short conv's input.
    pub z: DeviceView<'a, T>,
    /// `[3·C, 3]`: its weights (chunk `k` uses rows `k·C..(k+1)·C`).
    pub w: DeviceView<'a, T>,
    /// `[3·C]`: its bias.
    pub bias: DeviceView<'a, T>,
    /// The chunks of `v`, `pre`, `post`: a permutation of 0, 1, 2.
    pub roles: [usize; 3],
    /// `[3, B, C, L]`: the short conv's output as `shortconv_fwd_chunks` writes it (the same bits),
    /// the operands [`gated_fftconv_shortconv_bwd`] reads (the kernel also reads them back).
    pub uc: DeviceViewMut<'a, T>,
}

/// Whether [`gated_fftconv_shortconv_fwd`] fuses the short conv into the forward of `B = bs` rows
/// of `c` channels of length `l` in storage `T`: the tensor-core forward's shapes
/// ([`fwd_tensor_cores`]). Every tensor must also be 4-byte aligned, which the call itself checks.
pub fn shortconv_fwd_fuses<T: DeviceScalar>(bs: usize, c: usize, l: usize) -> bool {
    bs.checked_mul(c).is_some_and(|rows| fwd_tensor_cores::<T>(rows, l))
}

/// The forward `y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ pre ⊙ v)` ([`gated_fftconv_fwd_spectrum_keep`]
/// with `pre` and `post` given) where `v`, `pre`, `post` are the short conv's outputs of `sc.z`
/// (chunks `sc.roles`), with the short conv fused into the same kernel
/// (`hyena_fftconv_fwd_sc_tc_m13_{bf16,f16}`, kernels/tcdft.cu `fwd8192<T, true>`): the kernel's
/// first pass over a row forms the operands from `z`, rounded to `T` as
/// [`shortconv_fwd_chunks`](super::shortconv::shortconv_fwd_chunks) stores them, and stores them to
/// `sc.uc`, which the rest of the row reads back (from the L2), so `y`, `inner`, `a_spec` and
/// `sc.uc` are the bits of the two calls; no `hyena_shortconv_fwd` launch. `inner` and `a_spec` as
/// in [`gated_fftconv_fwd_spectrum_keep`].
///
/// Returns `Ok(false)` having queued nothing where the fused kernel does not apply (not
/// [`shortconv_fwd_fuses`], or a tensor not 4-byte aligned): the caller then runs the two passes
/// apart. Typed errors for lengths, devices, overlapping outputs and `roles` not a permutation of
/// 0, 1, 2.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_shortconv_fwd<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    sc: ShortConvFwdViews<'a, T>,
    bs: usize,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
    inner: Option<DeviceViewMut<'a, T>>,
    a_spec: Option<DeviceViewMut<'a, f32>>,
) -> Result<bool> {
    shortconv_fwd_with(dev, "gated_fftconv_shortconv_fwd", &hf.into(), None, d.into(), sc, bs, c, l, y.into(), inner, a_spec)
}

/// [`gated_fftconv_shortconv_fwd`] at `B = 1` with the filter's spectrum formed in the same kernel
/// (the paper's setting: a row is its channel's only one): each row's block first transforms its
/// channel's `h` `[C, L]` into `hf` (an output here: [`fftconv_filter`]'s bits, the
/// tensor-core spectrum kernel's code run per channel) and then runs the fused forward on it, so
/// `hf`, `y`, `inner`, `a_spec` and `sc.uc` are the bits of [`fftconv_filter`] followed by
/// [`gated_fftconv_shortconv_fwd`]; one launch fewer and no read of `hf` from DRAM (the row
/// reads its own spectrum back from the L2). `hf` is what the backward takes.
///
/// Returns `Ok(false)` having queued nothing where it does not apply (not
/// [`shortconv_fwd_fuses`]`(1, c, l)`, a tensor not 4-byte aligned): the caller then runs
/// [`fftconv_filter`] and [`gated_fftconv_shortconv_fwd`]. Typed errors as there.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_shortconv_filter_fwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    h: impl Into<DeviceView<'a, T>>,
    hf: impl Into<DeviceViewMut<'a, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    sc: ShortConvFwdViews<'a, T>,
    c: usize,
    l: usize,
    y: impl Into<DeviceViewMut<'a, T>>,
    inner: Option<DeviceViewMut<'a, T>>,
    a_spec: Option<DeviceViewMut<'a, f32>>,
) -> Result<bool> {
    let h = h.into();
    shortconv_fwd_with(dev, "gated_fftconv_shortconv_filter_fwd", &hf.into(), Some(&h), d.into(), sc, 1, c, l, y.into(), inner, a_spec)
}

/// The two calls above: `hf` an input, or with `h` an output the kernel writes first (B = 1).
#[allow(clippy::too_many_arguments)]
fn shortconv_fwd_with<'a, T: DeviceScalar, H: LaunchArg>(
    dev: &Arc<dyn Device>,
    op: &'static str,
    hf: &H,
    h: Option<&DeviceView<'a, T>>,
    d: DeviceView<'a, T>,
    sc: ShortConvFwdViews<'a, T>,
    bs: usize,
    c: usize,
    l: usize,
    y: DeviceViewMut<'a, T>,
    inner: Option<DeviceViewMut<'a, T>>,
    a_spec: Option<DeviceViewMut<'a, f32>>,
) -> Result<bool> {
    let sfx = suffix(T::DTYPE, op)?;
    let total = mul3(bs, c, l, &format!("{op} B·C·L"))?;
    let all = mul(3, total, &format!("{op} 3·B·C·L"))?;
    let c3 = mul(3, c, &format!("{op} 3·C"))?;
    check_roles(op, sc.roles)?;
    let args = Args::new(dev, op)
        .arg("hf (spectrum_len: [C, n/2+1] or [⌈C/2⌉, n] complex)", hf, spectrum_len(c, l)?)
        .align(8, "complex f32")
        .opt("h [C, L]", h, mul(c, l, &format!("{op} C·L"))?)
        .arg("D [C]", &d, c)
        .arg("z [3, B, C, L]", &sc.z, all)
        .arg("w [3·C, 3]", &sc.w, mul(c3, 3, &format!("{op} 3·C·3"))?)
        .arg("bias [3·C]", &sc.bias, c3)
        .arg("uc [3, B, C, L]", &sc.uc, all)
        .arg("y [B, C, L]", &y, total)
        .opt("inner [B, C, L]", inner.as_ref(), total);
    with_a_spec::<T, _>(args, op, a_spec.as_ref(), bs, c, l, inner.is_some(), true)?.check()?;
    let uc = sc.uc.addr();
    let inner = inner.as_ref().map_or(0, |x| x.addr());
    let h = h.map_or(0, |h| h.addr());
    if !shortconv_fwd_fuses::<T>(bs, c, l) || c == 0 || [sc.z.addr(), uc, y.addr(), inner, h].iter().any(|a| a % 4 != 0) {
        return Ok(false);
    }
    let n = fft_size(l)?;
    let es = std::mem::size_of::<T>() as u64;
    let chunk = |base: u64, r: usize| base + (r * total) as u64 * es;
    let [rv, rp, rq] = sc.roles;
    let per_role = |f: &dyn Fn(usize) -> u64| [f(rv), f(rp), f(rq)];
    let p = HyenaFftConvFwdScParams {
        // v, pre, post: the short conv's outputs, written by the kernel and read back.
        f: HyenaFftConvFwdParams {
            v: chunk(uc, rv),
            pre: chunk(uc, rp),
            post: chunk(uc, rq),
            hf: hf.addr(),
            d: d.addr(),
            y: y.addr(),
            inner,
            b: bs as u64,
            c: c as u64,
            l: l as u64,
            log2n: n.trailing_zeros() as u64,
            spec: a_spec.as_ref().map_or(0, |s| s.addr()),
        },
        sc_z: per_role(&|r| chunk(sc.z.addr(), r)),
        sc_w: per_role(&|r| sc.w.addr() + (r * c * 3) as u64 * es),
        sc_b: per_role(&|r| sc.bias.addr() + (r * c) as u64 * es),
        h,
    };
    // SAFETY: every address comes from a view checked above (lengths for (B, C, L), 3 chunks,
    // device, outputs overlapping nothing; a_spec's length for these shapes), borrowed for this
    // call (outputs exclusively: uc, which the kernel writes and then reads, is the caller's
    // alone; hf too where h is given, B = 1, which the kernel writes first), 4-byte aligned
    // (checked: the chunks' offsets are whole rows of even length). The shapes are the
    // tensor-core forward's (shortconv_fwd_fuses: n = 2^14, 4K < L ≤ 8K, L even, B·C < 2^32);
    // row_launch gives the kernel the dynamic shared memory it indexes.
    unsafe { super::tcdft::row_launch(dev, &format!("hyena_fftconv_fwd_sc_tc_m13_{sfx}"), bs * c, super::tcdft::FWD8K_STATIC_SHARED, &p)? };
    Ok(true)
}

/// A typed error unless `roles` is a permutation of 0, 1, 2 (the short conv's chunks of the
/// fused calls' operands).
fn check_roles(op: &str, roles: [usize; 3]) -> Result<()> {
    let mut seen = [false; 3];
    for &r in &roles {
        if r > 2 || std::mem::replace(&mut seen[r], true) {
            return Err(HyenaError::Invalid(format!("{op}: roles {roles:?} are not a permutation of 0, 1, 2")));
        }
    }
    Ok(())
}

/// The short conv beneath the three operands of [`gated_fftconv_shortconv_bwd`]: `v`, `pre` and
/// `post` are chunks `roles[0]`, `roles[1]`, `roles[2]` of
/// [`shortconv_fwd_chunks`](super::shortconv::shortconv_fwd_chunks)`(z, w, bias, None, 3, B, C, L)`
/// (the device operator at order 2: v = chunk 2, pre = chunk 1, post = chunk 0). Its outputs are
/// [`shortconv_bwd_chunks`](super::shortconv::shortconv_bwd_chunks)'s, overwritten.
pub struct ShortConvBwdViews<'a, T: crate::device::Pod> {
    /// `[3, B, C, L]`: the short conv's input.
    pub z: DeviceView<'a, T>,
    /// `[3·C, 3]`: its weights (chunk `k` uses rows `k·C..(k+1)·C`).
    pub w: DeviceView<'a, T>,
    /// The chunks of `v`, `pre`, `post`: a permutation of 0, 1, 2.
    pub roles: [usize; 3],
    /// `[3, B, C, L]`: the gradient wrt `z`.
    pub grad_z: DeviceViewMut<'a, T>,
    /// `[3·C, 3]`.
    pub grad_w: DeviceViewMut<'a, T>,
    /// `[3·C]`: the short conv's bias gradient.
    pub grad_b: DeviceViewMut<'a, T>,
    /// `[3·C]`: `grad_z` summed over batch and positions (in_proj's bias gradient), or `None`.
    pub grad_in_bias: Option<DeviceViewMut<'a, T>>,
}

/// Whether [`gated_fftconv_shortconv_bwd`] fuses the short conv into the backward of `B = bs`
/// rows of `c` channels of length `l` in storage `T`: the tensor-core backward's shapes
/// ([`bwd_tensor_cores`], which take the forward's spectrum of a: [`a_spectrum_pays`]). Every tensor
/// must also be 4-byte aligned, which the call itself checks.
pub fn shortconv_bwd_fuses<T: DeviceScalar>(bs: usize, c: usize, l: usize) -> bool {
    bs.checked_mul(c).is_some_and(|rows| bwd_tensor_cores::<T>(rows, l)) && a_spectrum_pays::<T>(bs, c, l)
}

/// The backward of `y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ pre ⊙ v)` ([`gated_fftconv_bwd_spectrum_keep`]
/// with `pre`, `post`, `inner` and `a_spec` given) where `v`, `pre`, `post` are the short conv's
/// outputs `uc` (`[3, B, C, L]`, chunks `sc.roles`), with the short conv's backward
/// ([`shortconv_bwd_chunks`](super::shortconv::shortconv_bwd_chunks)) fused into the same kernel
/// (`hyena_fftconv_bwd_g_sc_tc_m13_{bf16,f16}`, kernels/tcdft.cu `bwd8k_shortconv`): the gradients
/// wrt `v`, `pre`, `post` are formed in f32 and never stored; `sc.grad_z` receives the gradient wrt
/// the short conv's input, and the weight, bias and in_proj bias gradients come from the row sums
/// the kernel leaves (at B > 1 through `hyena_shortconv_bwd_reduce_*`; at B = 1 the kernel writes
/// them itself). Overwrites `grad_h` `[C, L]`, `grad_d` `[C]` and `sc`'s outputs.
///
/// Returns `Ok(false)` having queued nothing where the fused kernel does not apply (not
/// [`shortconv_bwd_fuses`], or a tensor not 4-byte aligned): the caller then runs the two
/// backward passes apart. Typed errors for lengths, devices, overlapping outputs and `roles` not a
/// permutation of 0, 1, 2.
#[allow(clippy::too_many_arguments)]
pub fn gated_fftconv_shortconv_bwd<'a, 'h, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    hf: impl Into<DeviceView<'h, f32>>,
    d: impl Into<DeviceView<'a, T>>,
    uc: impl Into<DeviceView<'a, T>>,
    inner: impl Into<DeviceView<'a, T>>,
    a_spec: impl Into<DeviceView<'a, f32>>,
    grad_y: impl Into<DeviceView<'a, T>>,
    bs: usize,
    c: usize,
    l: usize,
    sc: ShortConvBwdViews<'a, T>,
    grad_h: impl Into<DeviceViewMut<'a, T>>,
    grad_d: impl Into<DeviceViewMut<'a, T>>,
) -> Result<bool> {
    let (hf, d, uc, inner, a_spec, gy, grad_h, grad_d) =
        (hf.into(), d.into(), uc.into(), inner.into(), a_spec.into(), grad_y.into(), grad_h.into(), grad_d.into());
    let sfx = suffix(T::DTYPE, "gated_fftconv_shortconv_bwd")?;
    let total = mul3(bs, c, l, "gated_fftconv_shortconv_bwd B·C·L")?;
    let all = mul(3, total, "gated_fftconv_shortconv_bwd 3·B·C·L")?;
    let c3 = mul(3, c, "gated_fftconv_shortconv_bwd 3·C")?;
    check_roles("gated_fftconv_shortconv_bwd", sc.roles)?;
    let fuses = shortconv_bwd_fuses::<T>(bs, c, l);
    let args = Args::new(dev, "gated_fftconv_shortconv_bwd")
        .arg("hf (spectrum_len: [C, n/2+1] complex)", &hf, spectrum_len(c, l)?)
        .align(8, "complex f32")
        .arg("D [C]", &d, c)
        .arg("uc [3, B, C, L]", &uc, all)
        .arg("inner [B, C, L]", &inner, total)
        .arg("grad_y [B, C, L]", &gy, total)
        .arg("z [3, B, C, L]", &sc.z, all)
        .arg("w [3·C, 3]", &sc.w, mul(c3, 3, "gated_fftconv_shortconv_bwd 3·C·3")?)
        .arg("grad_z [3, B, C, L]", &sc.grad_z, all)
        .arg("grad_w [3·C, 3]", &sc.grad_w, mul(c3, 3, "gated_fftconv_shortconv_bwd 3·C·3")?)
        .arg("grad_b [3·C]", &sc.grad_b, c3)
        .opt("grad_in_bias [3·C]", sc.grad_in_bias.as_ref(), c3)
        .arg("grad_h [C, L]", &grad_h, mul(c, l, "gated_fftconv_shortconv_bwd C·L")?)
        .arg("grad_d [C]", &grad_d, c);
    // The kept spectrum's length and layout (the tensor-core forward's) where the kernel applies.
    let args = if fuses { with_a_spec::<T, _>(args, "gated_fftconv_shortconv_bwd", Some(&a_spec), bs, c, l, true, true)? } else { args };
    args.check()?;
    let es = std::mem::size_of::<T>() as u64;
    let chunk = |base: u64, r: usize| base + (r * total) as u64 * es;
    let addrs = [uc.addr(), inner.addr(), gy.addr(), sc.z.addr(), sc.grad_z.addr(), grad_h.addr()];
    if !fuses || c == 0 || addrs.iter().any(|a| a % 4 != 0) {
        return Ok(false);
    }
    let n = fft_size(l)?;
    let (m, rows) = (n / 2, bs * c);
    let ws = DeviceBuffer::<f32>::alloc(dev, mul3(2, rows, m + 1, "gated_fftconv_shortconv_bwd workspace")?)?;
    let ws_d = DeviceBuffer::<f32>::alloc(dev, rows)?;
    // The short conv's row sums (hyena_shortconv_bwd's workspace at one segment per row) and the
    // gradients wrt v, pre, post at positions 0 and 1, chunk-major as the reduce reads them.
    let ws_sc = DeviceBuffer::<f64>::alloc(dev, mul3(3, rows, 4, "gated_fftconv_shortconv_bwd short conv workspace")?)?;
    let head = DeviceBuffer::<f32>::alloc(dev, mul3(3, rows, 2, "gated_fftconv_shortconv_bwd short conv heads")?)?;
    let [rv, rp, rq] = sc.roles;
    let per_role = |f: &dyn Fn(usize) -> u64| [f(rv), f(rp), f(rq)];
    let p = HyenaFftConvBwdParams {
        v: chunk(uc.addr(), rv),
        pre: chunk(uc.addr(), rp),
        post: chunk(uc.addr(), rq),
        hf: hf.addr(),
        d: d.addr(),
        grad_y: gy.addr(),
        grad_v: chunk(sc.grad_z.addr(), rv),
        grad_pre: chunk(sc.grad_z.addr(), rp),
        grad_post: chunk(sc.grad_z.addr(), rq),
        inner: inner.addr(),
        grad_h: grad_h.addr(),
        grad_d: grad_d.addr(),
        ws: ws.addr(),
        ws_d: ws_d.addr(),
        b: bs as u64,
        c: c as u64,
        l: l as u64,
        log2n: n.trailing_zeros() as u64,
        aspec: a_spec.addr(),
        sc_z: per_role(&|r| chunk(sc.z.addr(), r)),
        sc_w: per_role(&|r| sc.w.addr() + (r * c * 3) as u64 * es),
        sc_ws: per_role(&|r| ws_sc.addr() + (r * rows * 4 * 8) as u64),
        sc_head: per_role(&|r| head.addr() + (r * rows * 2 * 4) as u64),
        // At B = 1 the kernel writes the short conv's parameter gradients itself (no reduce).
        sc_grad_w: if bs == 1 { per_role(&|r| sc.grad_w.addr() + (r * c * 3) as u64 * es) } else { [0; 3] },
        sc_grad_b: if bs == 1 { per_role(&|r| sc.grad_b.addr() + (r * c) as u64 * es) } else { [0; 3] },
        sc_grad_in_bias: match &sc.grad_in_bias {
            Some(g) if bs == 1 => per_role(&|r| g.addr() + (r * c) as u64 * es),
            _ => [0; 3],
        },
    };
    // SAFETY: every address comes from a view checked above (lengths for (B, C, L), 3 chunks,
    // device, outputs overlapping nothing; the kept spectrum's length for these shapes), borrowed
    // for this call (outputs exclusively), 4-byte aligned (checked: the chunks' offsets are whole
    // rows of even length); the workspaces sized above and owned until the launches are queued
    // (stream-ordered frees). The shapes are the tensor-core backward's (shortconv_bwd_fuses: n =
    // 2^14, 4K < L ≤ 8K, L even, B·C·(m + 1) < 2^32); row_launch gives the kernel the dynamic shared
    // memory it indexes. The G kernel writes ws, ws_d, ws_sc and head before the reduces (the same
    // stream) read them; at B = 1 it reduces each row's channel itself (grad_h, grad_D, and the
    // short conv's gradients into sc's outputs: no reduce launch at all).
    unsafe {
        super::tcdft::row_launch(dev, &format!("hyena_fftconv_bwd_g_sc_tc_m13_{sfx}"), rows, super::tcdft::BWD8K_SC_STATIC_SHARED, &p)?;
        if bs > 1 {
            super::tcdft::row_launch(dev, &format!("hyena_fftconv_bwd_reduce_tc_m13_{sfx}"), c, super::tcdft::FWD8K_STATIC_SHARED, &p)?;
            super::shortconv::bwd_reduce_rows::<T>(dev, &sc.w, 3, bs, c, l, ws_sc.addr(), head.addr(), &sc.grad_w, &sc.grad_b, sc.grad_in_bias.as_ref())?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fft_size` is the least power of two ≥ max(2L, 32): the shared path's forward has one fused
    /// pass, of radix 16, which needs m = n/2 ≥ 16 (the kernel traps otherwise).
    #[test]
    fn fft_size_is_the_least_power_of_two_of_twice_the_length_and_32() {
        for l in 1..=5000usize {
            let n = fft_size(l).unwrap();
            let floor = (2 * l).max(32);
            assert!(n.is_power_of_two() && n >= floor && n / 2 < floor, "L = {l}: n = {n}");
        }
        assert_eq!(fft_size(16).unwrap(), 32);
        assert_eq!(fft_size(17).unwrap(), 64);
    }

    /// The two-block backward: the forward's two-block shapes, 2-byte storage, a post gate, and a
    /// workspace the kernels' 32-bit bin indices reach (B·C·(n/2 + 1) ≤ 2^32 − 1).
    #[test]
    fn the_two_block_backward_takes_the_forward_shapes_with_a_post_gate_and_32_bit_bin_indices() {
        use half::{bf16, f16};
        let n = fft_size(8192).unwrap();
        assert!(bwd_two_blocks::<bf16>(n, 768, true) && bwd_two_blocks::<f16>(n, 768, true));
        assert!(!bwd_two_blocks::<f32>(n, 768, true));
        assert!(!bwd_two_blocks::<bf16>(n, 768, false), "no post gate");
        assert!(!bwd_two_blocks::<bf16>(fft_size(4096).unwrap(), 768, true), "a radix-16 first pass");
        let most = u32::MAX as usize / (n / 2 + 1);
        assert!(bwd_two_blocks::<bf16>(n, most, true) && !bwd_two_blocks::<bf16>(n, most + 1, true));
        assert!(!bwd_two_blocks::<bf16>(n, usize::MAX, true));
    }

    /// The kernels built for m = 2^13 take exactly 4K < L ≤ 8K, those for 2^12 2K < L ≤ 4K (2-byte
    /// storage, the stems built so); the generic ones the rest.
    #[test]
    fn kernels_built_for_one_length_serve_exactly_that_length_in_2_byte_storage() {
        use half::{bf16, f16};
        for l in [4097, 6000, 8192] {
            let n = fft_size(l).unwrap();
            assert_eq!(fixed_kernel::<bf16>("k", n, &["_m13"], "bf16"), "k_m13_bf16", "L = {l}");
            assert_eq!(fixed_kernel::<bf16>("k", n, &["_m12"], "bf16"), "k_bf16", "L = {l}");
            assert_eq!(fixed_kernel::<f32>("k", n, &["_m13"], "f32"), "k_f32", "L = {l}");
        }
        for l in [2049, 4096] {
            assert_eq!(fixed_kernel::<f16>("k", fft_size(l).unwrap(), &["_m13", "_m12"], "f16"), "k_m12_f16", "L = {l}");
        }
        for l in [40, 1000, 2048, 8193] {
            assert_eq!(fixed_length_infix(fft_size(l).unwrap()), "", "L = {l}");
        }
    }

    /// Given the forward's `inner`, the two-block backward's A kernel is the one without the
    /// convolution; the operator keeps `inner` on the multi-pass path and at the two-block shapes
    /// of 2-byte storage, not at the other shared-memory shapes nor in f32.
    #[test]
    fn the_two_block_backward_given_inner_drops_the_convolution() {
        use half::{bf16, f16};
        let n = fft_size(8192).unwrap();
        assert_eq!(bwd_two_block_kernels::<bf16>(n, true, "bf16"), ["hyena_fftconv_bwd_a_spec_2b_m13_bf16", "hyena_fftconv_bwd_g_2b_m13_bf16"]);
        assert_eq!(bwd_two_block_kernels::<f16>(n, false, "f16"), ["hyena_fftconv_bwd_a_2b_m13_f16", "hyena_fftconv_bwd_g_2b_m13_f16"]);
        let n = fft_size(1000).unwrap();
        assert_eq!(bwd_two_block_kernels::<f16>(n, true, "f16"), ["hyena_fftconv_bwd_a_spec_2b_f16", "hyena_fftconv_bwd_g_2b_f16"]);
        assert!(inner_pays::<bf16>(8192) && inner_pays::<f16>(4097) && inner_pays::<bf16>(1000));
        assert!(!inner_pays::<f32>(8192) && !inner_pays::<bf16>(4096) && !inner_pays::<f16>(2048));
        assert!(inner_pays::<f32>(8193) && inner_pays::<bf16>(1 << 16));
    }

    /// The two-block forward's shapes: m = n/2 = 2^M with the kernel plan's first radix 2 or 4
    /// (M = r0 + 4·mids + 4) on the shared-memory path (m ≤ 8192): M ∈ {5, 6, 9, 10, 13}, the
    /// 8K rows among them (n = 16384), not 4K (a radix-16 first pass) nor anything longer.
    #[test]
    fn the_two_block_forward_takes_first_radices_2_and_4_on_the_shared_memory_path() {
        let two: Vec<u32> = (5..=15).filter(|&mm| fwd_two_blocks(1usize << (mm + 1))).collect();
        assert_eq!(two, vec![5, 6, 9, 10, 13]);
        assert!(fwd_two_blocks(fft_size(8192).unwrap()) && !fwd_two_blocks(fft_size(4096).unwrap()) && !fwd_two_blocks(fft_size(16384).unwrap()));
    }

    /// Every FFT size of the multi-pass path, n = 2^15 … fft_size(LONG_MAX_LEN) = 2^23: the plan
    /// covers n, its column tile fits the 128 KiB that sm_80 and sm_90 grant a block (and takes no
    /// shared memory where the columns are in registers, one column per thread), has at
    /// least 16 columns below n1 = 1024 and 8 from there on, and tiles the n2 columns exactly; the row
    /// pass is 256 threads of radix-16 butterflies; the four-step twiddle table of the kernels
    /// (`HYENA_PTW_LEVEL` = 256 entries per level, a = ⌈log2 n / 3⌉) covers log2 n.
    #[test]
    fn long_plans_fit_every_length_up_to_the_limit() {
        let top = fft_size(LONG_MAX_LEN).unwrap();
        assert_eq!(top, 1 << 23);
        let mut n = 1usize << 15;
        while n <= top {
            let p = LongPlan::new(n);
            assert_eq!(p.n(), n);
            assert!(p.cols_shared() <= 128 * 1024, "n = {n}: {} bytes", p.cols_shared());
            let tile = 1usize << p.log2tile;
            assert!(tile >= if p.n1() >= 1024 { 8 } else { 16 }, "n = {n}: tile {tile}");
            assert_eq!(p.tiles() * tile, p.n2());
            if p.log2n1 <= LONG_REG_LOG2N1 {
                // Columns in registers: no tile in shared memory, and no thread without a column.
                assert_eq!(p.cols_shared(), 0, "n = {n}");
                assert_eq!(tile, LONG_COLS_BLOCK as usize, "n = {n}");
            } else {
                assert_eq!(p.cols_shared(), 8 * p.n1() * tile, "n = {n}");
            }
            assert_eq!(p.rows_block(), 256);
            let e = n.trailing_zeros();
            assert!(1usize << e.div_ceil(3) <= 256, "n = {n}");
            n *= 2;
        }
        assert!(matches!(fft_size(LONG_MAX_LEN + 1), Err(HyenaError::TooLong { .. })));
    }
}
