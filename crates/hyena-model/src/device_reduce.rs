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

use crate::error::Result;
use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar, DeviceView, DeviceViewMut, GemmSpec, Trans};
use hyena_kernels::HyenaError;
use std::sync::Arc;

/// Positions per leaf GEMM.
pub(crate) const K_CHUNK: usize = 512;
/// Slots per level of the reduction tree (inner dimension of each reduction GEMM).
pub(crate) const FAN_IN: usize = 32;

/// One row-major GEMM operand of [`gemm_sum_k`]: base address, leading dimension, transpose flag
/// (`op(X) = Xᵀ`) and the stride between batch items (elements).
#[derive(Clone, Copy)]
pub(crate) struct KOperand {
    pub addr: u64,
    pub ld: usize,
    pub t: bool,
    pub item_stride: usize,
}

impl KOperand {
    pub(crate) fn of<S: hyena_kernels::device::Pod>(v: DeviceView<'_, S>, ld: usize, t: bool, item_stride: usize) -> Self {
        Self { addr: v.addr(), ld, t, item_stride }
    }
}

/// Row-major strided-batched `C_i [m, n] = op(A_i)·op(B_i) + β·C_i` (addresses in bytes, strides
/// in elements), in the device's column-major convention (operands swapped).
#[allow(clippy::too_many_arguments)]
fn gemm_rm(
    dev: &Arc<dyn Device>,
    dtype: hyena_kernels::device::DType,
    (m, n, k): (usize, usize, usize),
    (a, lda, ta, sa): (u64, usize, bool, usize),
    (b, ldb, tb, sb): (u64, usize, bool, usize),
    beta: f64,
    (c, ldc, sc): (u64, usize, usize),
    batch: usize,
) -> Result<()> {
    let tr = |t: bool| if t { Trans::T } else { Trans::N };
    let spec = GemmSpec {
        dtype,
        trans_a: tr(tb),
        trans_b: tr(ta),
        m: n,
        n: m,
        k,
        alpha: 1.0,
        a: b,
        lda: ldb,
        stride_a: sb,
        b: a,
        ldb: lda,
        stride_b: sa,
        beta,
        c,
        ldc,
        stride_c: sc,
        batch,
    };
    // SAFETY: crate-private; every address comes from a view the caller of `gemm_sum_k` borrows
    // for the call (operands shared, the output exclusive through `DeviceViewMut`) or from the
    // tree's own buffers, which `keep` holds until the caller synchronises. The device checks the
    // extents against its allocations where it can (the simulator always does).
    Ok(unsafe { dev.gemm(&spec) }?)
}

/// The streamed reduction tree of [`gemm_sum_k`].
struct Tree<'a, S: DeviceScalar> {
    dev: &'a Arc<dyn Device>,
    mn: usize,
    ones: u64,
    levels: Vec<(DeviceBuffer<S>, usize)>,
}

impl<S: DeviceScalar> Tree<'_, S> {
    fn slot(&mut self, level: usize) -> Result<u64> {
        while self.levels.len() <= level {
            self.levels.push((DeviceBuffer::<S>::alloc(self.dev, FAN_IN * self.mn)?, 0));
        }
        let (buf, count) = &self.levels[level];
        Ok(buf.addr() + (count * self.mn * S::DTYPE.size()) as u64)
    }
    /// `dst [1, mn] = Σ` of the `count` slots of `level` (a ones GEMM).
    fn reduce(&self, level: usize, dst: u64) -> Result<()> {
        let (buf, count) = &self.levels[level];
        gemm_rm(
            self.dev,
            S::DTYPE,
            (1, self.mn, *count),
            (self.ones, *count, false, 0),
            (buf.addr(), self.mn, false, 0),
            0.0,
            (dst, self.mn, 0),
            1,
        )
    }
    /// `added` slots of `level` were written: carry full levels upwards.
    fn pushed(&mut self, mut level: usize, added: usize) -> Result<()> {
        self.levels[level].1 += added;
        while self.levels[level].1 == FAN_IN {
            let dst = self.slot(level + 1)?;
            self.reduce(level, dst)?;
            self.levels[level].1 = 0;
            self.levels[level + 1].1 += 1;
            level += 1;
        }
        Ok(())
    }
    /// Sum every slot into `dst`, lowest level first.
    fn finish(mut self, dst: u64, keep: &mut Vec<DeviceBuffer<S>>) -> Result<()> {
        let top = self.levels.iter().rposition(|(_, c)| *c > 0);
        let Some(top) = top else {
            return Err(HyenaError::Invalid("gemm_sum_k: nothing was summed".into()).into());
        };
        for level in 0..top {
            if self.levels[level].1 > 0 {
                let d = self.slot(level + 1)?;
                self.reduce(level, d)?;
                self.levels[level + 1].1 += 1;
            }
        }
        self.reduce(top, dst)?;
        // The GEMMs are queued, not finished: the slots live until the caller synchronizes.
        keep.extend(self.levels.into_iter().map(|(b, _)| b));
        Ok(())
    }
}

/// `C [m, n] = Σ_{p < items} op(A_p)·op(B_p)`, each with inner dimension `k` (a sequence), on the
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
    a: KOperand,
    b: KOperand,
    c: DeviceViewMut<'_, S>,
    ones: DeviceView<'_, S>,
    keep: &mut Vec<DeviceBuffer<S>>,
) -> Result<()> {
    let es = S::DTYPE.size();
    let mn = m.checked_mul(n).ok_or_else(|| HyenaError::Invalid(format!("gemm_sum_k: {m}×{n} overflows")))?;
    hyena_kernels::error::check_len("gemm_sum_k C", c.len(), mn)?;
    if items == 0 || k == 0 || mn == 0 {
        return Err(HyenaError::Invalid(format!("gemm_sum_k: empty sum (items {items}, k {k}, {m}×{n})")).into());
    }
    // The step of one k index in each operand: a column of op(A) (a row of A when transposed),
    // a row of op(B).
    let a_ks = if a.t { a.ld } else { 1 };
    let b_ks = if b.t { 1 } else { b.ld };
    let at = |p: usize, k0: usize| a.addr + ((p * a.item_stride + k0 * a_ks) * es) as u64;
    let bt = |p: usize, k0: usize| b.addr + ((p * b.item_stride + k0 * b_ks) * es) as u64;
    if items == 1 && k <= K_CHUNK {
        return gemm_rm(dev, S::DTYPE, (m, n, k), (at(0, 0), a.ld, a.t, 0), (bt(0, 0), b.ld, b.t, 0), 0.0, (c.addr(), n, 0), 1);
    }
    // The reduction GEMMs read up to FAN_IN ones.
    let ones = if ones.len() >= FAN_IN {
        ones.addr()
    } else {
        let own = DeviceBuffer::<S>::from_host(dev, &[S::from_f64(1.0); FAN_IN])?;
        let addr = own.addr();
        keep.push(own);
        addr
    };
    let mut tree = Tree::<S> { dev, mn, ones, levels: Vec::new() };
    for p in 0..items {
        let mut k0 = 0;
        while k0 < k {
            let dst = tree.slot(0)?;
            let free = FAN_IN - tree.levels[0].1;
            let full = (k - k0) / K_CHUNK;
            // Up to `free` whole chunks in one strided-batched GEMM, else the item's last partial one.
            let (kc, cnt) = if full > 0 { (K_CHUNK, full.min(free)) } else { (k - k0, 1) };
            gemm_rm(
                dev,
                S::DTYPE,
                (m, n, kc),
                (at(p, k0), a.ld, a.t, kc * a_ks),
                (bt(p, k0), b.ld, b.t, kc * b_ks),
                0.0,
                (dst, n, mn),
                cnt,
            )?;
            tree.pushed(0, cnt)?;
            k0 += kc * cnt;
        }
    }
    tree.finish(c.addr(), keep)
}
