//! Exact causal multi-head attention on the CPU, blocked flash-style (the baseline `hyena bench`
//! compares the Hyena operator against).
//!
//! Layout: `q`, `k`, `v`, `o` and their gradients are `[B, H, L, dh]` contiguous; `lse` (the
//! per-row log-sum-exp the backward pass needs) is `[B, H, L]`. Scores are `softmax(q·kᵀ/√dh)`
//! with key `j` visible to query `i` only when `j ≤ i`.
//!
//! Forward (FlashAttention-2 schedule): one task per (batch·head, query block); it walks the key
//! blocks up to the diagonal with an online softmax (running max and sum), so memory is
//! O(L·dh) — the L×L score matrix is never stored. Backward recomputes the probabilities from
//! `lse`, in two race-free passes: one task per (batch·head, key block) accumulates dK and dV,
//! one task per (batch·head, query block) accumulates dQ. Every block product goes through the
//! `gemm` crate single-threaded; rayon spreads the tasks over the cores.

use hyena_kernels::error::check_len;
use hyena_kernels::{HyenaError, Result, Scalar};
use rayon::prelude::*;
use std::any::TypeId;

/// Query rows per block.
pub const BQ: usize = 128;
/// Key rows per block.
pub const BK: usize = 128;

/// Shape of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnShape {
    pub b: usize,
    pub h: usize,
    pub l: usize,
    pub dh: usize,
}

impl AttnShape {
    /// Elements of one `[B, H, L, dh]` tensor, checked for overflow.
    pub fn numel(&self) -> Result<usize> {
        self.b
            .checked_mul(self.h)
            .and_then(|x| x.checked_mul(self.l))
            .and_then(|x| x.checked_mul(self.dh))
            .ok_or_else(|| HyenaError::Invalid(format!("attention shape {self:?} overflows")))
    }
    fn validate(&self) -> Result<()> {
        if self.b == 0 || self.h == 0 || self.l == 0 || self.dh == 0 {
            return Err(HyenaError::Invalid(format!("attention shape {self:?} has a zero dimension")));
        }
        self.numel().map(|_| ())
    }
    /// Bytes the forward pass holds (q, k, v, o, lse) for scalar size `s`.
    pub fn fwd_bytes(&self, s: usize) -> u128 {
        let n = (self.b * self.h * self.l) as u128;
        n * (4 * self.dh as u128 + 1) * s as u128
    }
    /// Bytes forward + backward hold (adds grad_o, dq, dk, dv, the row dot products).
    pub fn fwd_bwd_bytes(&self, s: usize) -> u128 {
        let n = (self.b * self.h * self.l) as u128;
        n * (8 * self.dh as u128 + 2) * s as u128
    }
    /// Floating-point operations of the forward pass (the two causal GEMMs: 2·B·H·L²·dh).
    pub fn fwd_flops(&self) -> f64 {
        2.0 * (self.b * self.h) as f64 * (self.l as f64).powi(2) * self.dh as f64
    }
}

/// `c (m×n) = a (m×k) · b (k×n)` (or `+=`), with element strides `(row, col)` for each operand,
/// single-threaded. Every addressed element is checked to lie inside its slice.
#[allow(clippy::too_many_arguments)]
fn mm<T: Scalar>(
    c: &mut [T],
    c_rs: usize,
    a: &[T],
    (a_rs, a_cs): (usize, usize),
    b: &[T],
    (b_rs, b_cs): (usize, usize),
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) -> Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * c_rs..r * c_rs + n].iter_mut().for_each(|x| *x = T::zero());
            }
        }
        return Ok(());
    }
    if last(m, n, c_rs, 1) >= c.len() || last(m, k, a_rs, a_cs) >= a.len() || last(k, n, b_rs, b_cs) >= b.len() {
        return Err(HyenaError::Invalid(format!("internal: attention block product {m}x{n}x{k} out of bounds")));
    }
    // SAFETY: the checks above bound every element addressed through (rows, cols, strides);
    // `c` is borrowed mutably, so it aliases neither `a` nor `b`. gemm computes
    // dst = alpha·dst + beta·lhs·rhs, reading dst only when `accumulate`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// exp over a row: a vectorisable f32 polynomial (with an AVX2+FMA build chosen at run time), the
// libm exp for every other scalar type.

/// e^x for x ≤ 0 (inputs below −87 flush to ~0), relative error ~2e-7. Branch-free so that the
/// loop around it vectorises.
#[inline(always)]
fn exp_f32_nonpos(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let x = x.clamp(-87.0, 0.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    // e^r on |r| ≤ ln2/2, degree-6 Taylor/Horner.
    let p = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((ni + 127) as u32) << 23)
}

/// `row[i] = exp(row[i] − shift)`, returns the sum.
#[inline(always)]
fn exp_row_f32_body(row: &mut [f32], shift: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = row.chunks_exact_mut(8);
    for ch in &mut chunks {
        for (x, a) in ch.iter_mut().zip(acc.iter_mut()) {
            *x = exp_f32_nonpos(*x - shift);
            *a += *x;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp_f32_nonpos(*x - shift);
        s += *x;
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_row_f32_avx2(row: &mut [f32], shift: f32) -> f32 {
    exp_row_f32_body(row, shift)
}

fn exp_row_f32(row: &mut [f32], shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function was compiled for.
            return unsafe { exp_row_f32_avx2(row, shift) };
        }
    }
    exp_row_f32_body(row, shift)
}

/// `row[i] = exp(row[i] − shift)` for every element, returns the sum.
fn exp_row<T: Scalar>(row: &mut [T], shift: T) -> T {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32 (same TypeId), so the slice reinterpretation is the identity.
        let r32 = unsafe { std::slice::from_raw_parts_mut(row.as_mut_ptr() as *mut f32, row.len()) };
        let s = exp_row_f32(r32, shift.as_f64() as f32);
        return T::lit(s as f64);
    }
    let mut s = T::zero();
    for x in row.iter_mut() {
        *x = (*x - shift).exp();
        s = s + *x;
    }
    s
}

// ---------------------------------------------------------------------------------------------

fn check_inputs<T>(s: &AttnShape, q: &[T], k: &[T], v: &[T]) -> Result<usize> {
    s.validate()?;
    let n = s.numel()?;
    check_len("attention q [B, H, L, dh]", q.len(), n)?;
    check_len("attention k [B, H, L, dh]", k.len(), n)?;
    check_len("attention v [B, H, L, dh]", v.len(), n)?;
    Ok(n)
}

/// Causal attention forward: `o = softmax(q·kᵀ/√dh, causal)·v`; also writes `lse` `[B, H, L]`
/// (natural-log sum of the scaled, exponentiated scores of each row) for [`attention_bwd`].
pub fn attention_fwd<T: Scalar>(
    s: AttnShape,
    q: &[T],
    k: &[T],
    v: &[T],
    o: &mut [T],
    lse: &mut [T],
) -> Result<()> {
    let n = check_inputs(&s, q, k, v)?;
    check_len("attention o [B, H, L, dh]", o.len(), n)?;
    check_len("attention lse [B, H, L]", lse.len(), n / s.dh)?;
    let (l, dh) = (s.l, s.dh);
    let scale = T::one() / T::lit(dh as f64).sqrt();
    let qblocks = l.div_ceil(BQ);
    let head = l * dh;
    // One task per (head, query block): split o and lse into those pieces.
    let tasks: Vec<(usize, usize, &mut [T], &mut [T])> = o
        .chunks_mut(head)
        .zip(lse.chunks_mut(l))
        .enumerate()
        .flat_map(|(bh, (oh, lh))| {
            oh.chunks_mut(BQ * dh).zip(lh.chunks_mut(BQ)).enumerate().map(move |(qb, (ob, lb))| (bh, qb, ob, lb))
        })
        .collect();
    debug_assert_eq!(tasks.len(), s.b * s.h * qblocks);
    tasks.into_par_iter().try_for_each_init(
        || (vec![T::zero(); BQ * dh], vec![T::zero(); BQ * BK], vec![T::zero(); BQ], vec![T::zero(); BQ]),
        |(qs, sc, mrow, lrow), (bh, qb, ob, lb)| -> Result<()> {
            let i0 = qb * BQ;
            let m = ob.len() / dh;
            let qh = &q[bh * head..(bh + 1) * head];
            let kh = &k[bh * head..(bh + 1) * head];
            let vh = &v[bh * head..(bh + 1) * head];
            for (d, &x) in qs.iter_mut().zip(&qh[i0 * dh..(i0 + m) * dh]) {
                *d = x * scale;
            }
            mrow[..m].iter_mut().for_each(|x| *x = T::neg_infinity());
            lrow[..m].iter_mut().for_each(|x| *x = T::zero());
            ob.iter_mut().for_each(|x| *x = T::zero());
            let kend = i0 + m; // keys [0, i0 + m) can be visible to this block
            let mut j0 = 0;
            while j0 < kend {
                let nk = BK.min(kend - j0);
                // S = Qs · Kᵀ  (m × nk), row stride nk.
                mm(sc, nk, qs, (dh, 1), &kh[j0 * dh..], (1, dh), m, nk, dh, false)?;
                for r in 0..m {
                    let i = i0 + r;
                    // visible columns: j0 + c ≤ i
                    let vis = if j0 + nk <= i + 1 { nk } else { i + 1 - j0.min(i + 1) };
                    let row = &mut sc[r * nk..(r + 1) * nk];
                    if vis == 0 {
                        row.iter_mut().for_each(|x| *x = T::zero());
                        continue;
                    }
                    let bmax = row[..vis].iter().fold(T::neg_infinity(), |a, &x| a.max(x));
                    let mnew = mrow[r].max(bmax);
                    let corr = (mrow[r] - mnew).exp(); // exp(−inf) = 0 on the first block
                    let sum = exp_row(&mut row[..vis], mnew);
                    row[vis..].iter_mut().for_each(|x| *x = T::zero());
                    lrow[r] = lrow[r] * corr + sum;
                    mrow[r] = mnew;
                    if corr != T::one() {
                        ob[r * dh..(r + 1) * dh].iter_mut().for_each(|x| *x = *x * corr);
                    }
                }
                // O += P · V_j  (m × dh)
                mm(ob, dh, sc, (nk, 1), &vh[j0 * dh..], (dh, 1), m, dh, nk, true)?;
                j0 += nk;
            }
            for r in 0..m {
                let inv = T::one() / lrow[r];
                ob[r * dh..(r + 1) * dh].iter_mut().for_each(|x| *x = *x * inv);
                lb[r] = mrow[r] + lrow[r].ln();
            }
            Ok(())
        },
    )
}

/// Gradients of [`attention_fwd`].
pub struct AttnGrads<T> {
    pub dq: Vec<T>,
    pub dk: Vec<T>,
    pub dv: Vec<T>,
}

/// Recompute the probabilities of the (query block at `i0`, `m` rows) × (key block at `j0`, `nk`
/// columns) tile into `p`, then `ds = p ⊙ (dO·Vᵀ − δ)` into `ds`. `qs` is the scaled query block.
#[allow(clippy::too_many_arguments)]
fn tile_grads<T: Scalar>(
    qs: &[T],
    kh: &[T],
    vh: &[T],
    doh: &[T],
    lse: &[T],
    delta: &[T],
    i0: usize,
    m: usize,
    j0: usize,
    nk: usize,
    dh: usize,
    p: &mut [T],
    ds: &mut [T],
) -> Result<()> {
    mm(p, nk, qs, (dh, 1), &kh[j0 * dh..], (1, dh), m, nk, dh, false)?;
    mm(ds, nk, &doh[i0 * dh..], (dh, 1), &vh[j0 * dh..], (1, dh), m, nk, dh, false)?;
    for r in 0..m {
        let i = i0 + r;
        let vis = if j0 + nk <= i + 1 { nk } else { i + 1 - j0.min(i + 1) };
        let pr = &mut p[r * nk..(r + 1) * nk];
        let dr = &mut ds[r * nk..(r + 1) * nk];
        exp_row(&mut pr[..vis], lse[i]);
        pr[vis..].iter_mut().for_each(|x| *x = T::zero());
        let dl = delta[i];
        for (d, &pp) in dr.iter_mut().zip(pr.iter()) {
            *d = pp * (*d - dl);
        }
    }
    Ok(())
}

/// Causal attention backward, given the forward's `o`, `lse` and `grad_o` (all as in
/// [`attention_fwd`]). Returns dq, dk, dv `[B, H, L, dh]`.
pub fn attention_bwd<T: Scalar>(
    s: AttnShape,
    q: &[T],
    k: &[T],
    v: &[T],
    o: &[T],
    lse: &[T],
    grad_o: &[T],
) -> Result<AttnGrads<T>> {
    let n = check_inputs(&s, q, k, v)?;
    check_len("attention o [B, H, L, dh]", o.len(), n)?;
    check_len("attention grad_o [B, H, L, dh]", grad_o.len(), n)?;
    check_len("attention lse [B, H, L]", lse.len(), n / s.dh)?;
    let (l, dh) = (s.l, s.dh);
    let scale = T::one() / T::lit(dh as f64).sqrt();
    let head = l * dh;
    // δ_i = Σ_d dO[i,d]·O[i,d]
    let mut delta = vec![T::zero(); n / dh];
    delta.par_iter_mut().zip(o.par_chunks(dh).zip(grad_o.par_chunks(dh))).for_each(|(dl, (or, gr))| {
        *dl = or.iter().zip(gr).fold(T::zero(), |a, (&x, &y)| a + x * y);
    });
    let mut dq = vec![T::zero(); n];
    let mut dk = vec![T::zero(); n];
    let mut dv = vec![T::zero(); n];
    let scratch = || {
        (
            vec![T::zero(); BQ * dh],
            vec![T::zero(); BQ * BK],
            vec![T::zero(); BQ * BK],
        )
    };
    // Pass 1: dK, dV — one task per (head, key block), looping over the query blocks at or below
    // the diagonal.
    let kv_tasks: Vec<(usize, usize, &mut [T], &mut [T])> = dk
        .chunks_mut(head)
        .zip(dv.chunks_mut(head))
        .enumerate()
        .flat_map(|(bh, (kh, vh))| {
            kh.chunks_mut(BK * dh).zip(vh.chunks_mut(BK * dh)).enumerate().map(move |(kb, (a, b))| (bh, kb, a, b))
        })
        .collect();
    kv_tasks.into_par_iter().try_for_each_init(scratch, |(qs, p, ds), (bh, kb, dkb, dvb)| -> Result<()> {
        let j0 = kb * BK;
        let nk = dkb.len() / dh;
        let (qh, kh, vh) = (&q[bh * head..(bh + 1) * head], &k[bh * head..(bh + 1) * head], &v[bh * head..(bh + 1) * head]);
        let doh = &grad_o[bh * head..(bh + 1) * head];
        let (lh, dlh) = (&lse[bh * l..(bh + 1) * l], &delta[bh * l..(bh + 1) * l]);
        let mut i0 = (j0 / BQ) * BQ;
        while i0 < l {
            let m = BQ.min(l - i0);
            for (d, &x) in qs.iter_mut().zip(&qh[i0 * dh..(i0 + m) * dh]) {
                *d = x * scale;
            }
            tile_grads(qs, kh, vh, doh, lh, dlh, i0, m, j0, nk, dh, p, ds)?;
            // dV_j += Pᵀ · dO_i ; dK_j += dSᵀ · Qs_i
            mm(dvb, dh, p, (1, nk), &doh[i0 * dh..], (dh, 1), nk, dh, m, true)?;
            mm(dkb, dh, ds, (1, nk), qs, (dh, 1), nk, dh, m, true)?;
            i0 += m;
        }
        Ok(())
    })?;
    // Pass 2: dQ — one task per (head, query block), looping over the key blocks up to the
    // diagonal.
    let q_tasks: Vec<(usize, usize, &mut [T])> = dq
        .chunks_mut(head)
        .enumerate()
        .flat_map(|(bh, qh)| qh.chunks_mut(BQ * dh).enumerate().map(move |(qb, a)| (bh, qb, a)))
        .collect();
    q_tasks.into_par_iter().try_for_each_init(scratch, |(qs, p, ds), (bh, qb, dqb)| -> Result<()> {
        let i0 = qb * BQ;
        let m = dqb.len() / dh;
        let (qh, kh, vh) = (&q[bh * head..(bh + 1) * head], &k[bh * head..(bh + 1) * head], &v[bh * head..(bh + 1) * head]);
        let doh = &grad_o[bh * head..(bh + 1) * head];
        let (lh, dlh) = (&lse[bh * l..(bh + 1) * l], &delta[bh * l..(bh + 1) * l]);
        for (d, &x) in qs.iter_mut().zip(&qh[i0 * dh..(i0 + m) * dh]) {
            *d = x * scale;
        }
        let kend = i0 + m;
        let mut j0 = 0;
        while j0 < kend {
            let nk = BK.min(kend - j0);
            tile_grads(qs, kh, vh, doh, lh, dlh, i0, m, j0, nk, dh, p, ds)?;
            // dQ_i += dS · K_j (scaled below)
            mm(dqb, dh, ds, (nk, 1), &kh[j0 * dh..], (dh, 1), m, dh, nk, true)?;
            j0 += nk;
        }
        dqb.iter_mut().for_each(|x| *x = *x * scale);
        Ok(())
    })?;
    Ok(AttnGrads { dq, dk, dv })
}

#[cfg_attr(not(test), allow(dead_code))]
/// The O(L²)-memory oracle: explicit causal softmax attention in f64, returns o `[B, H, L, dh]`.
pub fn attention_naive<T: Scalar>(s: AttnShape, q: &[T], k: &[T], v: &[T]) -> Result<Vec<f64>> {
    let n = check_inputs(&s, q, k, v)?;
    let (l, dh) = (s.l, s.dh);
    let scale = 1.0 / (dh as f64).sqrt();
    let mut o = vec![0.0f64; n];
    for bh in 0..s.b * s.h {
        let base = bh * l * dh;
        for i in 0..l {
            let sc: Vec<f64> = (0..=i)
                .map(|j| (0..dh).map(|d| q[base + i * dh + d].as_f64() * k[base + j * dh + d].as_f64()).sum::<f64>() * scale)
                .collect();
            let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = sc.iter().map(|x| (x - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            for (j, ej) in e.iter().enumerate() {
                for d in 0..dh {
                    o[base + i * dh + d] += ej / z * v[base + j * dh + d].as_f64();
                }
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn rand_vec<T: Scalar>(rng: &mut impl Rng, n: usize, amp: f64) -> Vec<T> {
        (0..n).map(|_| T::lit(rng.random_range(-amp..amp))).collect()
    }

    fn loss_naive(s: AttnShape, q: &[f64], k: &[f64], v: &[f64], w: &[f64]) -> f64 {
        attention_naive(s, q, k, v).unwrap().iter().zip(w).map(|(a, b)| a * b).sum()
    }

    fn check_fwd<T: Scalar>(s: AttnShape, tol: f64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = s.numel().unwrap();
        let (q, k, v) = (rand_vec::<T>(&mut rng, n, 2.0), rand_vec::<T>(&mut rng, n, 2.0), rand_vec::<T>(&mut rng, n, 1.0));
        let mut o = vec![T::zero(); n];
        let mut lse = vec![T::zero(); n / s.dh];
        attention_fwd(s, &q, &k, &v, &mut o, &mut lse).unwrap();
        let want = attention_naive(s, &q, &k, &v).unwrap();
        let err = hyena_kernels::rel_l2(&o, &want);
        assert!(err < tol, "{} {s:?}: rel err {err}", T::NAME);
        assert!(o.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn forward_matches_naive_f64_and_f32() {
        for s in [
            AttnShape { b: 1, h: 1, l: 1, dh: 4 },
            AttnShape { b: 2, h: 3, l: 37, dh: 8 },
            AttnShape { b: 1, h: 2, l: 130, dh: 16 },
            AttnShape { b: 1, h: 1, l: 200, dh: 64 },
        ] {
            check_fwd::<f64>(s, 1e-12);
            check_fwd::<f32>(s, 2e-5);
        }
    }

    #[test]
    fn forward_is_causal() {
        let s = AttnShape { b: 1, h: 2, l: 150, dh: 8 };
        let n = s.numel().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (q, k, mut v) = (rand_vec::<f64>(&mut rng, n, 1.0), rand_vec::<f64>(&mut rng, n, 1.0), rand_vec::<f64>(&mut rng, n, 1.0));
        let run = |k: &[f64], v: &[f64]| {
            let mut o = vec![0.0; n];
            let mut lse = vec![0.0; n / s.dh];
            attention_fwd(s, &q, k, v, &mut o, &mut lse).unwrap();
            o
        };
        let o1 = run(&k, &v);
        // perturb keys and values at positions ≥ t0 in every head
        let t0 = 77;
        let mut k2 = k.clone();
        for bh in 0..s.b * s.h {
            for t in t0..s.l {
                for d in 0..s.dh {
                    k2[(bh * s.l + t) * s.dh + d] += 5.0;
                    v[(bh * s.l + t) * s.dh + d] -= 3.0;
                }
            }
        }
        let o2 = run(&k2, &v);
        for bh in 0..s.b * s.h {
            for t in 0..s.l {
                let a = &o1[(bh * s.l + t) * s.dh..(bh * s.l + t + 1) * s.dh];
                let b = &o2[(bh * s.l + t) * s.dh..(bh * s.l + t + 1) * s.dh];
                if t < t0 {
                    assert_eq!(a, b, "output at {t} changed");
                } else {
                    assert_ne!(a, b);
                }
            }
        }
    }

    fn check_bwd<T: Scalar>(s: AttnShape, tol: f64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let n = s.numel().unwrap();
        let q64 = rand_vec::<f64>(&mut rng, n, 1.5);
        let k64 = rand_vec::<f64>(&mut rng, n, 1.5);
        let v64 = rand_vec::<f64>(&mut rng, n, 1.0);
        let w = rand_vec::<f64>(&mut rng, n, 1.0);
        let cast = |x: &[f64]| x.iter().map(|&y| T::lit(y)).collect::<Vec<T>>();
        let (q, k, v, go) = (cast(&q64), cast(&k64), cast(&v64), cast(&w));
        let mut o = vec![T::zero(); n];
        let mut lse = vec![T::zero(); n / s.dh];
        attention_fwd(s, &q, &k, &v, &mut o, &mut lse).unwrap();
        let g = attention_bwd(s, &q, &k, &v, &o, &lse, &go).unwrap();
        // central differences of loss = Σ o ⊙ w on the f64 oracle, at a sample of coordinates
        let h = 1e-5;
        for (name, which, grad) in [("dq", 0, &g.dq), ("dk", 1, &g.dk), ("dv", 2, &g.dv)] {
            let mut num = Vec::new();
            let mut ana = Vec::new();
            for idx in (0..n).step_by((n / 23).max(1)) {
                let mut bufs = [q64.clone(), k64.clone(), v64.clone()];
                bufs[which][idx] += h;
                let lp = loss_naive(s, &bufs[0], &bufs[1], &bufs[2], &w);
                bufs[which][idx] -= 2.0 * h;
                let lm = loss_naive(s, &bufs[0], &bufs[1], &bufs[2], &w);
                num.push((lp - lm) / (2.0 * h));
                ana.push(grad[idx].as_f64());
            }
            let err = hyena_kernels::rel_l2(&ana, &num);
            assert!(err < tol, "{} {name} {s:?}: rel err {err}", T::NAME);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        for s in [AttnShape { b: 1, h: 2, l: 70, dh: 8 }, AttnShape { b: 2, h: 1, l: 131, dh: 4 }] {
            check_bwd::<f64>(s, 1e-6);
            check_bwd::<f32>(s, 1e-3);
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let s = AttnShape { b: 1, h: 1, l: 4, dh: 2 };
        let x = vec![0.0f32; 8];
        let mut o = vec![0.0f32; 8];
        let mut lse = vec![0.0f32; 3]; // wrong
        assert!(attention_fwd(s, &x, &x, &x, &mut o, &mut lse).is_err());
        let z = AttnShape { b: 0, h: 1, l: 4, dh: 2 };
        assert!(attention_fwd(z, &x, &x, &x, &mut o, &mut lse).is_err());
        let big = AttnShape { b: usize::MAX, h: 2, l: 4, dh: 2 };
        assert!(big.numel().is_err());
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0.0f64;
        for i in 0..20000 {
            let x = -(i as f32) * 0.004;
            let a = exp_f32_nonpos(x) as f64;
            let b = (x as f64).exp();
            if b > 1e-30 {
                worst = worst.max(((a - b) / b).abs());
            }
        }
        assert!(worst < 1e-6, "worst rel err {worst}");
        assert_eq!(exp_f32_nonpos(f32::NEG_INFINITY), exp_f32_nonpos(-87.0));
    }
}
