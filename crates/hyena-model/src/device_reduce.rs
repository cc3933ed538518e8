//! Accurate device GEMMs over the sequence: the device operator's weight and bias gradients are
//! GEMMs whose inner dimension is the B·L positions (dW = Σ_b dYᵀ·X, db = dYᵀ·1).
//!
//! Why: one GEMM with K = B·L accumulates each output in f32 along K (cuBLAS keeps one running sum
//! per output over its K loop; the simulator's CPU GEMM does the same per cache block), a relative
//! error growing like u·√K (u = 2⁻²⁴; worst case u·K): ≈ 1.5e-5 at K = 64K, 6e-5 at 1M, past the
//! operator's 1e-5 f32 bound.
//!
//! How ([`gemm_sum_k`]): K is cut into chunks of [`K_CHUNK`] positions (per batch item); each chunk
//! product is one GEMM into its own slot (strided-batched over up to [`FAN_IN`] chunks at once), so
//! no running sum spans more than `K_CHUNK` terms. The chunk results are then added by a tree of
//! GEMMs with a ones vector (`1ᵀ·P`, inner dimension ≤ `FAN_IN`), streamed like a counter: level-0
//! slots hold chunk products; when a level's `FAN_IN` slots are full they are summed into one slot
//! of the next level. Every output is thus a tree of depth ⌈log_FAN_IN(K / K_CHUNK)⌉ + 1 whose
//! nodes are f32 sums of ≤ 512 (leaves) or ≤ 32 (inner) terms: error ≤ (512 + 32·depth)·u of
//! Σ|terms| in the worst case, and ≈ (√512 + √32·depth)·u ≈ 2e-6 typically at K = 2²¹ (depth 3),
//! against u·√K ≈ 9e-5 for the single GEMM. Memory: `FAN_IN`·m·n elements per level (3 levels at
//! K = 2²¹); launches: ≈ 2·K / (`K_CHUNK`·`FAN_IN`). Deterministic: a fixed order of fixed GEMMs.
//!
//! 16-bit storage (bf16, f16) is different: the slots of the tree hold the storage type, so every
//! leaf and inner node would be rounded to it (u = 2⁻⁸ / 2⁻¹¹ each), while the f32 running sum of
//! one GEMM over a whole batch item costs ≈ u₃₂·√K ≤ 2⁻¹³ even at K = 2²², below the one storage
//! rounding of its result. There a leaf is a whole batch item ([`leaf_len`]): at B = 1 (the
//! paper's setting) the sum is one GEMM with K = L and no tree; at B > 1 one strided-batched GEMM
//! over up to `FAN_IN` items, then the tree over the B item sums. This drops the tree's extra
//! passes over the slots (model, H200, B = 1, D = 768, bf16: ≈ 150 µs of the 64K backward,
//! docs/GPU_MODEL.md) with a smaller error bound (one storage rounding instead of one per tree
//! node). Measured (`device_operator_matches_cpu_in_every_storage`, bf16, B = 2, L = 1500, relative
//! L2 against f64): in_proj.weight 3.2e-3 → 1.6e-3, in_proj.bias 4.0e-3 → 2.0e-3, out_proj.weight
//! 4.9e-3 → 6.1e-3, out_proj.bias 2.7e-3 → 2.6e-3, i.e. within the noise of the other roundings
//! (the stored activations), both ways.

use crate::device_operator::{gemm_rm, mat, out, Mat};
use crate::error::Result;
use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar, DeviceView, DeviceViewMut};
use hyena_kernels::HyenaError;
use std::sync::Arc;

/// Positions per leaf GEMM in f32 storage.
pub(crate) const K_CHUNK: usize = 512;

/// Positions per leaf GEMM for storage `S` and `k` positions per batch item: [`K_CHUNK`] in f32
/// (and f64) storage; the whole item in 16-bit storage (module docs: there the f32 running sum's
/// error is far below the one storage rounding of the result, and a tree would round every leaf
/// and every inner node to the storage type as well).
fn leaf_len<S: DeviceScalar>(k: usize) -> usize {
    match S::DTYPE.size() {
        2 => k.max(1),
        _ => K_CHUNK,
    }
}
/// Slots per level of the reduction tree (inner dimension of each reduction GEMM).
pub(crate) const FAN_IN: usize = 32;

/// The reduction tree: per level, a buffer of `FAN_IN` slots of `mn` elements and how many are
/// filled.
struct Tree<'a, S: DeviceScalar> {
    dev: &'a Arc<dyn Device>,
    mn: usize,
    ones: DeviceView<'a, S>,
    levels: Vec<(DeviceBuffer<S>, usize)>,
}

impl<S: DeviceScalar> Tree<'_, S> {
    fn ensure(&mut self, level: usize) -> Result<()> {
        while self.levels.len() <= level {
            self.levels.push((DeviceBuffer::<S>::alloc(self.dev, FAN_IN * self.mn)?, 0));
        }
        Ok(())
    }
    /// `dst = 1ᵀ · (the filled slots of `level`)`.
    fn reduce(&self, level: usize, dst: DeviceViewMut<'_, S>) -> Result<()> {
        reduce_slots(self.dev, self.mn, self.ones, &self.levels[level], dst)
    }
    /// Sum the filled slots of `level` into the next free slot of `level + 1`; `level` is empty after.
    fn carry(&mut self, level: usize) -> Result<()> {
        self.ensure(level + 1)?;
        let (lo, hi) = self.levels.split_at_mut(level + 1);
        let (next, filled) = &mut hi[0];
        let dst = next.view_mut(*filled * self.mn..(*filled + 1) * self.mn)?;
        reduce_slots(self.dev, self.mn, self.ones, &lo[level], dst)?;
        *filled += 1;
        lo[level].1 = 0;
        Ok(())
    }
    /// `added` slots of `level` were just written: carry every level that is full.
    fn pushed(&mut self, mut level: usize, added: usize) -> Result<()> {
        self.levels[level].1 += added;
        while self.levels[level].1 == FAN_IN {
            self.carry(level)?;
            level += 1;
        }
        Ok(())
    }
    /// Carry every partly filled level below the top one, then sum the top into `dst`; the
    /// buffers go to `keep` (the GEMMs that read them may still be queued).
    fn finish(mut self, dst: DeviceViewMut<'_, S>, keep: &mut Vec<DeviceBuffer<S>>) -> Result<()> {
        let Some(top) = self.levels.iter().rposition(|(_, c)| *c > 0) else {
            return Err(HyenaError::Invalid("gemm_sum_k: nothing was summed".into()).into());
        };
        for level in 0..top {
            if self.levels[level].1 > 0 {
                self.carry(level)?;
            }
        }
        self.reduce(top, dst)?;
        keep.extend(self.levels.into_iter().map(|(b, _)| b));
        Ok(())
    }
}

/// Operand `x` from batch item `p`, position `k0` on (`ks` elements per position), to the end of
/// its view (the GEMM checks its reach), with batch stride `stride`.
fn from<S: DeviceScalar>(x: Mat<'_, S>, ks: usize, p: usize, k0: usize, stride: usize) -> Result<Mat<'_, S>> {
    let off = p * x.stride + k0 * ks;
    Ok(mat(x.v.view(off..x.v.len())?, x.ld, x.t, stride))
}

/// `dst [mn] = 1ᵀ · P` for the `count` filled slots `P [count, mn]` of one tree level.
fn reduce_slots<S: DeviceScalar>(
    dev: &Arc<dyn Device>,
    mn: usize,
    ones: DeviceView<'_, S>,
    (buf, count): &(DeviceBuffer<S>, usize),
    dst: DeviceViewMut<'_, S>,
) -> Result<()> {
    let slots = buf.view(0..count * mn)?;
    gemm_rm(dev, 1, mn, *count, mat(ones, *count, false, 0), mat(slots, mn, false, 0), 0.0, out(dst, mn, 0), 1)
}

/// `C [m, n] = Σ_{p < items} op(A_p)·op(B_p)` (row-major operands as in the device operator's
/// `gemm_rm`: `A_p` starts `p·a.stride` elements into `a.v`, k along its columns of op(A)) on the
/// device with the chunked, tree-combined accumulation of the module docs. `C` is contiguous
/// (row stride `n`) and overwritten. `ones` is a vector of ones of type `S` for the reduction
/// GEMMs (a shorter one than [`FAN_IN`] is replaced by a private one). Temporary buffers are
/// pushed onto `keep`: drop them only after the device has synchronized.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_sum_k<S: DeviceScalar>(
    dev: &Arc<dyn Device>,
    m: usize,
    n: usize,
    k: usize,
    items: usize,
    a: Mat<'_, S>,
    b: Mat<'_, S>,
    mut c: DeviceViewMut<'_, S>,
    ones: DeviceView<'_, S>,
    keep: &mut Vec<DeviceBuffer<S>>,
) -> Result<()> {
    let mn = m.checked_mul(n).ok_or_else(|| HyenaError::Invalid(format!("gemm_sum_k: {m}×{n} overflows")))?;
    hyena_kernels::error::check_len("gemm_sum_k C", c.len(), mn)?;
    if items == 0 || k == 0 || mn == 0 {
        return Err(HyenaError::Invalid(format!("gemm_sum_k: empty sum (items {items}, k {k}, {m}×{n})")).into());
    }
    // The step of one k index in each operand: a column of op(A) (a row of A when transposed),
    // a row of op(B).
    let a_ks = if a.t { a.ld } else { 1 };
    let b_ks = if b.t { 1 } else { b.ld };
    let chunk = leaf_len::<S>(k);
    if items == 1 && k <= chunk {
        return gemm_rm(dev, m, n, k, from(a, a_ks, 0, 0, 0)?, from(b, b_ks, 0, 0, 0)?, 0.0, out(c.reborrow(), n, 0), 1);
    }
    // The reduction GEMMs read up to FAN_IN ones.
    let own = match ones.len() >= FAN_IN {
        true => None,
        false => Some(DeviceBuffer::<S>::from_host(dev, &[S::from_f64(1.0); FAN_IN])?),
    };
    let ones = own.as_ref().map_or(ones, |o| o.as_view());
    let mut tree = Tree::<S> { dev, mn, ones, levels: Vec::new() };
    tree.ensure(0)?;
    if k <= chunk {
        // Whole batch items as leaves: up to the free slots' worth of items in one
        // strided-batched GEMM (batch stride: the operands' item strides).
        let mut p = 0;
        while p < items {
            let filled = tree.levels[0].1;
            let cnt = (items - p).min(FAN_IN - filled);
            let slots = tree.levels[0].0.view_mut(filled * mn..(filled + cnt) * mn)?;
            gemm_rm(dev, m, n, k, from(a, a_ks, p, 0, a.stride)?, from(b, b_ks, p, 0, b.stride)?, 0.0, out(slots, n, mn), cnt)?;
            tree.pushed(0, cnt)?;
            p += cnt;
        }
        tree.finish(c, keep)?;
        keep.extend(own);
        return Ok(());
    }
    for p in 0..items {
        let mut k0 = 0;
        while k0 < k {
            let filled = tree.levels[0].1;
            let full = (k - k0) / K_CHUNK;
            // Up to the free slots' worth of whole chunks in one strided-batched GEMM, else the
            // item's last partial one.
            let (kc, cnt) = if full > 0 { (K_CHUNK, full.min(FAN_IN - filled)) } else { (k - k0, 1) };
            let slots = tree.levels[0].0.view_mut(filled * mn..(filled + cnt) * mn)?;
            gemm_rm(dev, m, n, kc, from(a, a_ks, p, k0, kc * a_ks)?, from(b, b_ks, p, k0, kc * b_ks)?, 0.0, out(slots, n, mn), cnt)?;
            tree.pushed(0, cnt)?;
            k0 += kc * cnt;
        }
    }
    tree.finish(c, keep)?;
    keep.extend(own);
    Ok(())
}
