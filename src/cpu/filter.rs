//! The implicit long filter of Hyena (safari `HyenaFilter`), forward and backward.
//!
//! `h = modulate(FFN(z), t)`, with
//! - `z` `[l_max, E]`: positional embedding (t, cos and −sin bands) and `t` `[l_max]` in [0, 1];
//!   both are built for `l_max` and the first `L` rows are used;
//! - FFN: `Linear(E→F) → Sin → (Linear(F→F) → Sin) × n → Linear(F→C, no bias)`, where every Sin
//!   shares ONE frequency vector `freq` `[F]`: `Sin(x) = sin(freq ⊙ x)`;
//! - modulation: `h[l, c] · (exp(−t[l]·|δ[c]|) + shift)` when `modulate`;
//! - optional normalisation (safari's `normalized`): each position divided by its L1 norm over
//!   the channels.
//!
//! The output is returned channel-major, `[C, L]`, the layout of the FFT rows.

use super::linear::{linear_bwd, linear_fwd};
use super::pool;
use super::vmath;
use crate::error::{check_len, shape_len, try_vec, HyenaError, Result};
use crate::scalar::Scalar;
use rayon::prelude::*;
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

/// Weights and hyper-parameters of an implicit filter.
#[derive(Clone, Debug)]
pub struct ImplicitFilter<T> {
    /// Positional-embedding width E (odd, ≥ 3).
    pub emb_dim: usize,
    /// FFN width F (safari's `filter_order`).
    pub width: usize,
    /// Output channels C (= d_model · (order − 1) in the operator).
    pub channels: usize,
    /// Length the positional embedding was built for.
    pub l_max: usize,
    /// Positional embedding `[l_max, E]`.
    pub z: Vec<T>,
    /// Normalised time `[l_max]`.
    pub t: Vec<T>,
    /// Hidden linear layers: `(weight [F, in], bias [F])`, the first with `in = E`, the rest `in = F`.
    pub layers: Vec<(Vec<T>, Vec<T>)>,
    /// The shared Sin frequency `[F]`.
    pub freq: Vec<T>,
    /// Output projection `[C, F]` (no bias).
    pub out_weight: Vec<T>,
    /// Modulation decay rates `[C]` (a buffer: no gradient).
    pub deltas: Vec<T>,
    /// Apply the exponential modulation.
    pub modulate: bool,
    /// Modulation shift (0.0 in safari, 0.05 in hyena-dna).
    pub shift: f64,
    /// Divide each position by its L1 norm over channels.
    pub normalized: bool,
}

/// Activations kept by [`filter_fwd`] for [`filter_bwd`].
///
/// The hidden layers run in f64 whatever `T` is: the Sin takes `freq·x` with `freq·x` of order
/// 10–100, so an f32 pre-activation would carry a phase error of ~1e-5 into every filter tap
/// (and the FFN is small, L×F, next to the convolutions). The output layer and the modulation
/// run in `T`.
#[derive(Clone, Debug)]
pub struct FilterCache<T: Scalar> {
    l: usize,
    /// Inputs of each hidden linear layer, `[L, in]` (the first is `z[:L]`), f64.
    inputs: Vec<Vec<f64>>,
    /// Pre-activations `x W^T + b` of each hidden layer, `[L, F]`, f64.
    pre: Vec<Vec<f64>>,
    /// Output of the last Sin, `[L, F]`, in `T` (the output layer's input).
    last: Vec<T>,
    /// Modulation window `exp(−t·|δ|) + shift`, `[L, C]` (`None` when not modulating); shared
    /// with [`modulation_window`]'s cache.
    window: Option<Arc<Vec<T>>>,
    /// After modulation, before normalisation, `[L, C]` (empty when not normalising).
    modulated: Vec<T>,
}

/// Gradients of the filter's trainable parameters.
#[derive(Clone, Debug)]
pub struct FilterGrads<T> {
    /// `[l_max, E]` (rows ≥ L are zero).
    pub z: Vec<T>,
    /// `(grad weight, grad bias)` of each hidden layer.
    pub layers: Vec<(Vec<T>, Vec<T>)>,
    /// `[F]`.
    pub freq: Vec<T>,
    /// `[C, F]`.
    pub out_weight: Vec<T>,
}

/// safari's positional embedding for `l_max` positions: `(z [l_max, E], t [l_max])`.
pub fn positional_embedding<T: Scalar>(emb_dim: usize, l_max: usize) -> Result<(Vec<T>, Vec<T>)> {
    if emb_dim < 3 || emb_dim % 2 == 0 {
        return Err(HyenaError::Invalid(format!(
            "emb_dim must be odd and at least 3 (time, cos and sin bands), got {emb_dim}"
        )));
    }
    if l_max == 0 {
        return Err(HyenaError::Length("l_max must be at least 1".into()));
    }
    let bands = (emb_dim - 1) / 2;
    let linspace = |a: f64, b: f64, n: usize, i: usize| if n == 1 { a } else { a + (b - a) * i as f64 / (n - 1) as f64 };
    // l_max comes straight from a configuration: allocate fallibly (a huge l_max is an error, not
    // an abort).
    let mut z = try_vec("positional embedding z [l_max, E]", shape_len("positional embedding z [l_max, E]", &[l_max, emb_dim])?, T::zero())?;
    let mut t = try_vec("positional embedding t [l_max]", l_max, T::zero())?;
    for l in 0..l_max {
        let tl = linspace(0.0, 1.0, l_max, l);
        t[l] = T::lit(tl);
        let w = 2.0 * std::f64::consts::PI * l as f64 / l_max as f64;
        let row = &mut z[l * emb_dim..(l + 1) * emb_dim];
        row[0] = T::lit(tl);
        for b in 0..bands {
            let f = linspace(1e-4, (bands - 1) as f64, bands, b);
            row[1 + b] = T::lit((f * w).cos());
            row[1 + bands + b] = T::lit(-(f * w).sin());
        }
    }
    Ok((z, t))
}

/// safari's modulation decay rates for `channels` channels ([`HyenaError::Alloc`] when a
/// caller-chosen count cannot be allocated).
pub fn modulation_deltas<T: Scalar>(channels: usize) -> Result<Vec<T>> {
    let target: f64 = 1e-2;
    let max_decay = target.ln() / 0.3;
    let min_decay = target.ln() / 1.5;
    let mut v = try_vec("modulation deltas [C]", channels, T::zero())?;
    for (i, x) in v.iter_mut().enumerate() {
        let a = if channels == 1 { 0.0 } else { i as f64 / (channels - 1) as f64 };
        *x = T::lit(min_decay + (max_decay - min_decay) * a);
    }
    Ok(v)
}

impl<T: Scalar> ImplicitFilter<T> {
    /// [`Self::validate`], and `l` within `1..=l_max`: what every filter evaluation of `l`
    /// positions needs first.
    pub fn check_length(&self, l: usize) -> Result<()> {
        self.validate()?;
        if l == 0 || l > self.l_max {
            return Err(HyenaError::Length(format!("filter length {l} must be in 1..={} (l_max)", self.l_max)));
        }
        Ok(())
    }

    /// Check every tensor's shape against the hyper-parameters.
    pub fn validate(&self) -> Result<()> {
        let (e, f, c) = (self.emb_dim, self.width, self.channels);
        if e == 0 || f == 0 || c == 0 || self.l_max == 0 {
            return Err(HyenaError::Invalid("filter sizes must be positive".into()));
        }
        check_len("filter_fn.pos_emb.z", self.z.len(), shape_len("filter_fn.pos_emb.z", &[self.l_max, e])?)?;
        check_len("filter_fn.pos_emb.t", self.t.len(), self.l_max)?;
        check_len("filter_fn.implicit_filter freq", self.freq.len(), f)?;
        check_len(
            "filter_fn.implicit_filter output weight",
            self.out_weight.len(),
            shape_len("filter_fn.implicit_filter output weight", &[c, f])?,
        )?;
        check_len("filter_fn.modulation.deltas", self.deltas.len(), c)?;
        if self.layers.is_empty() {
            return Err(HyenaError::Invalid("the filter FFN needs at least one hidden layer".into()));
        }
        for (i, (w, b)) in self.layers.iter().enumerate() {
            let d_in = if i == 0 { e } else { f };
            let name = format!("filter_fn.implicit_filter.{}.weight", 2 * i);
            check_len(&name, w.len(), shape_len(&name, &[f, d_in])?)?;
            check_len(&format!("filter_fn.implicit_filter.{}.bias", 2 * i), b.len(), f)?;
        }
        Ok(())
    }

    /// The same filter in another precision.
    pub fn cast<S: Scalar>(&self) -> ImplicitFilter<S> {
        let cv = |v: &[T]| v.iter().map(|x| S::lit(x.as_f64())).collect::<Vec<S>>();
        ImplicitFilter {
            emb_dim: self.emb_dim,
            width: self.width,
            channels: self.channels,
            l_max: self.l_max,
            z: cv(&self.z),
            t: cv(&self.t),
            layers: self.layers.iter().map(|(w, b)| (cv(w), cv(b))).collect(),
            freq: cv(&self.freq),
            out_weight: cv(&self.out_weight),
            deltas: cv(&self.deltas),
            modulate: self.modulate,
            shift: self.shift,
            normalized: self.normalized,
        }
    }

    /// Zero gradients shaped like this filter's parameters.
    pub fn zero_grads(&self) -> FilterGrads<T> {
        FilterGrads {
            z: vec![T::zero(); self.z.len()],
            layers: self.layers.iter().map(|(w, b)| (vec![T::zero(); w.len()], vec![T::zero(); b.len()])).collect(),
            freq: vec![T::zero(); self.freq.len()],
            out_weight: vec![T::zero(); self.out_weight.len()],
        }
    }
}

fn to64<T: Scalar>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.as_f64()).collect()
}

/// [`to64`] into a pooled buffer (`[L, ·]`-sized: a fresh one is fresh pages on every call).
fn pooled64<T: Scalar>(what: &str, v: &[T]) -> Result<Vec<f64>> {
    let mut out = pool::try_take(what, v.len(), 0.0f64)?;
    out.iter_mut().zip(v).for_each(|(o, x)| *o = x.as_f64());
    Ok(out)
}

impl<T: Scalar> Drop for FilterCache<T> {
    /// The cache's `[L, F]` and `[L, C]` buffers go back to [`pool`] for the next call.
    fn drop(&mut self) {
        self.inputs.drain(..).chain(self.pre.drain(..)).for_each(pool::give);
        pool::give(std::mem::take(&mut self.last));
        pool::give(std::mem::take(&mut self.modulated));
    }
}

/// Generate the filter for the first `l` positions: returns `h` `[C, L]` and the cache.
pub fn filter_fwd<T: Scalar>(w: &ImplicitFilter<T>, l: usize) -> Result<(Vec<T>, FilterCache<T>)> {
    w.check_length(l)?;
    let (e, f, c) = (w.emb_dim, w.width, w.channels);
    // The work buffers below are [L, F] and [C, L]: sizes that no caller buffer backs (C·F and
    // l_max·E are held, C·L need not be), so they are checked and allocated fallibly.
    let lf = shape_len("filter activations [L, F]", &[l, f])?;
    let lc = shape_len("filter h [C, L]", &[c, l])?;
    let freq = to64(&w.freq);
    let mut inputs = Vec::with_capacity(w.layers.len());
    let mut pre = Vec::with_capacity(w.layers.len());
    // Pooled buffers (stale): each is written whole before it is read; the cache's go back to the
    // pool when it is dropped, the temporaries below when they are done.
    let mut x = pooled64("filter input z [L, E]", &w.z[..l * e])?;
    let mut d_in = e;
    for (wt, b) in &w.layers {
        let mut p = pool::try_take("filter activations [L, F]", lf, 0.0f64)?;
        linear_fwd(&x, &to64(wt), Some(&to64(b)), l, d_in, f, &mut p)?;
        let mut a = pool::try_take("filter activations [L, F]", lf, 0.0f64)?;
        // sin(freq ⊙ p), many rows per task so that the vectorized sin gets long slices.
        let rows = (4096 / f).max(1);
        a.par_chunks_mut(f * rows).zip(p.par_chunks(f * rows)).for_each(|(ab, pb)| {
            for (ar, pr) in ab.chunks_mut(f).zip(pb.chunks(f)) {
                ar.iter_mut().zip(pr).zip(&freq).for_each(|((o, &v), &fr)| *o = fr * v);
            }
            vmath::sin_in_place(ab);
        });
        inputs.push(std::mem::replace(&mut x, a));
        pre.push(p);
        d_in = f;
    }
    let mut last = pool::try_take("filter last activation [L, F]", x.len(), T::zero())?;
    last.iter_mut().zip(&x).for_each(|(o, &v)| *o = T::lit(v));
    pool::give(x);
    let mut out = pool::try_take("filter h [L, C]", lc, T::zero())?;
    linear_fwd(&last, &w.out_weight, None, l, f, c, &mut out)?;
    let window = if w.modulate { Some(modulation_window(&w.t[..l], &w.deltas, w.shift)?) } else { None };
    if let Some(win) = &window {
        out.par_chunks_mut(c).zip(win.par_chunks(c)).for_each(|(orow, wr)| {
            orow.iter_mut().zip(wr).for_each(|(o, &wv)| *o = *o * wv);
        });
    }
    let mut modulated = Vec::new();
    if w.normalized {
        modulated = pool::try_take("filter modulated [L, C]", lc, T::zero())?;
        modulated.copy_from_slice(&out);
        for row in out.chunks_exact_mut(c) {
            let n1: T = row.iter().map(|v| v.abs()).sum();
            if n1 > T::zero() {
                row.iter_mut().for_each(|v| *v = *v / n1);
            }
        }
    }
    let h = transpose(&out, l, c)?;
    pool::give(out);
    Ok((h, FilterCache { l, inputs, pre, last, window, modulated }))
}

/// Positions per block of [`filter_infer`]: the unit of parallel work. Fixed (never derived
/// from the thread count), so `h` has the same bits on any pool.
///
/// Why 256 (was 2048): at L ≤ 2K one 2048-row block was the whole filter, so its `sin`, the f64
/// conversions, the modulation and the transpose ran on one thread while the other idled; 256
/// rows give 4 blocks at 1K and 8 at 2K. A block's working set (f64 `[256, F]` activations,
/// `[256, C]` output: ~0.4 MiB at F = 64, C = 256 in f32) also stays in L2. Cost model per
/// position: E·F + (layers − 1)·F² f64 multiply-adds, F·C in `T`, layers·F `sin`, C products
/// with the window; per block, three GEMM calls (~µs of packing each).
const INFER_BLOCK: usize = 256;

/// Blocks per window of [`filter_infer`]: the `[window, C]` output buffer (8 MiB at C = 256 in
/// f32) bounds the memory at any L; its rows are transposed into `h` window by window.
const INFER_WINDOW_BLOCKS: usize = 32;

/// Positions per partial sum of the filter backward's d freq (a fixed grouping: the same bits with
/// any number of threads). 256 rows of F ≤ 64 values: ≥ 4 parallel chunks from L = 1K, and
/// L/256 partials of F f64 values (2 MiB at L = 1M, F = 64).
const FREQ_SUM_ROWS: usize = 256;

/// The filter `h` `[C, L]` for inference (no cache for a backward pass): the arithmetic of
/// [`filter_fwd`], evaluated over blocks of positions. The FFN, the modulation and the
/// normalisation act on one position at a time, so no `[L, F]` or `[L, C]` activation is held
/// for all L — at L = 1M (F = 64, C = 256) [`filter_fwd`] holds ~5 GiB of them, this a few MiB
/// per thread besides `h`.
pub fn filter_infer<T: Scalar>(w: &ImplicitFilter<T>, l: usize) -> Result<Vec<T>> {
    // Checked before the allocation, so a bad length is a length error, not an allocation one.
    w.check_length(l)?;
    let mut h = try_vec("filter h [C, L]", shape_len("filter h [C, L]", &[w.channels, l])?, T::zero())?;
    infer_checked(w, l, &mut h)?;
    Ok(h)
}

/// [`filter_infer`] into `h` (`[C, L]`, every element written; e.g. a reused buffer).
pub fn filter_infer_into<T: Scalar>(w: &ImplicitFilter<T>, l: usize, h: &mut [T]) -> Result<()> {
    w.check_length(l)?;
    infer_checked(w, l, h)
}

/// Per-thread work buffers of one [`filter_infer`] block (kept between blocks and calls: a
/// fresh `[rows, F]` f64 vector per block and layer was a malloc, and at 2048 rows fresh pages,
/// on every call).
struct BlockScratch<T> {
    /// The layer's input, `[rows, E or F]`, f64.
    x: Vec<f64>,
    /// The layer's output, `[rows, F]`, f64.
    p: Vec<f64>,
    /// The last Sin's output in `T`, `[rows, F]`.
    last: Vec<T>,
}

thread_local! {
    /// This thread's [`BlockScratch`] (of the last scalar type used).
    static BLOCK_SCRATCH: std::cell::RefCell<Option<Box<dyn Any>>> = const { std::cell::RefCell::new(None) };
}

/// `f` on this thread's [`BlockScratch`] of type `T` (taken out of the slot while `f` runs, so a
/// nested call, e.g. a block stolen by this thread inside a GEMM's parallel loop, gets its own).
fn with_block_scratch<T: Scalar, R>(f: impl FnOnce(&mut BlockScratch<T>) -> R) -> R {
    let kept = BLOCK_SCRATCH.with(|cell| cell.borrow_mut().take()).and_then(|b| b.downcast::<BlockScratch<T>>().ok());
    let mut s = kept.map(|b| *b).unwrap_or(BlockScratch { x: Vec::new(), p: Vec::new(), last: Vec::new() });
    let r = f(&mut s);
    BLOCK_SCRATCH.with(|cell| *cell.borrow_mut() = Some(Box::new(s)));
    r
}

/// The body of [`filter_infer_into`], after [`ImplicitFilter::check_length`].
fn infer_checked<T: Scalar>(w: &ImplicitFilter<T>, l: usize, h: &mut [T]) -> Result<()> {
    let (e, f, c) = (w.emb_dim, w.width, w.channels);
    let freq = to64(&w.freq);
    let layers: Vec<(Vec<f64>, Vec<f64>)> = w.layers.iter().map(|(wt, b)| (to64(wt), to64(b))).collect();
    let sh = T::lit(w.shift);
    // The modulation window from `modulation_window`'s cache (shared with filter_fwd) when that
    // would keep it (L·C exponentials each call otherwise: ~4 % of an inference forward's
    // samples at L = 1K–32K); past that size, each block computes its rows (no [L, C] tensor).
    // The same arithmetic either way: o · (exp(−t·|δ|) + shift).
    let cached = w.modulate && window_bytes::<T>(l, c) <= WINDOW_KEEP_BYTES;
    let win = if cached { Some(modulation_window(&w.t[..l], &w.deltas, w.shift)?) } else { None };
    // One block of positions [p0, p0 + rows) → `out` `[rows, C]`, exactly as filter_fwd computes
    // those rows. The block's GEMMs run on this thread: the blocks are the parallel work.
    let block = |p0: usize, out: &mut [T]| -> Result<()> {
        let rows = out.len() / c;
        with_block_scratch::<T, _>(|s| -> Result<()> {
            s.x.clear();
            s.x.extend(w.z[p0 * e..(p0 + rows) * e].iter().map(|v| v.as_f64()));
            let mut d_in = e;
            for (wt, b) in &layers {
                s.p.resize(rows * f, 0.0);
                super::linear::linear_fwd_serial(&s.x, wt, Some(b), rows, d_in, f, &mut s.p)?;
                for pr in s.p.chunks_mut(f) {
                    pr.iter_mut().zip(&freq).for_each(|(v, &fr)| *v *= fr);
                }
                vmath::sin_in_place(&mut s.p);
                std::mem::swap(&mut s.x, &mut s.p);
                d_in = f;
            }
            s.last.clear();
            s.last.extend(s.x.iter().map(|&v| T::lit(v)));
            super::linear::linear_fwd_serial(&s.last, &w.out_weight, None, rows, f, c, out)
        })?;
        for (r, row) in out.chunks_exact_mut(c).enumerate() {
            if let Some(win) = &win {
                let wr = &win[(p0 + r) * c..(p0 + r + 1) * c];
                row.iter_mut().zip(wr).for_each(|(o, &wv)| *o = *o * wv);
            } else if w.modulate {
                let tl = w.t[p0 + r];
                row.iter_mut().zip(&w.deltas).for_each(|(o, &dl)| *o = *o * ((-tl * dl.abs()).exp() + sh));
            }
            if w.normalized {
                let n1: T = row.iter().map(|v| v.abs()).sum();
                if n1 > T::zero() {
                    row.iter_mut().for_each(|v| *v = *v / n1);
                }
            }
        }
        Ok(())
    };
    check_len("filter h [C, L]", h.len(), shape_len("filter h [C, L]", &[c, l])?)?;
    // A window of blocks in parallel into `buf` `[window, C]`, then written transposed into h.
    let window = (INFER_BLOCK * INFER_WINDOW_BLOCKS).min(l);
    let mut buf = try_vec("filter block outputs [window, C]", shape_len("filter block outputs [window, C]", &[window, c])?, T::zero())?;
    for w0 in (0..l).step_by(window) {
        let rows = (w0 + window).min(l) - w0;
        let out = &mut buf[..rows * c];
        out.par_chunks_mut(INFER_BLOCK * c).enumerate().try_for_each(|(i, ob)| block(w0 + i * INFER_BLOCK, ob))?;
        // In parallel over channel blocks: one thread alone ran it between the parallel blocks
        // (~2 % of an inference forward's samples at L = 1K).
        super::linear::par_transpose_strided_into(out, rows, c, &mut h[w0..], l, false)?;
    }
    Ok(())
}

/// One cached modulation window and the exact inputs it was computed from.
struct WindowEntry {
    ty: TypeId,
    t: Vec<f64>,
    deltas: Vec<f64>,
    shift: u64,
    window: Arc<dyn Any + Send + Sync>,
    bytes: usize,
}

/// The windows [`modulation_window`] keeps, most recently used first.
static WINDOW_CACHE: Mutex<Vec<WindowEntry>> = Mutex::new(Vec::new());

/// Free every cached modulation window (the next forward at each length computes its window
/// again). `hyena bench` calls it between cells, so that a cell's measured peak memory holds its
/// own window only, not those of every length run before it (up to [`WINDOW_CACHE_BYTES`]).
pub fn release_window_cache() {
    WINDOW_CACHE.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Most bytes of windows kept.
const WINDOW_CACHE_BYTES: usize = 512 << 20;
/// The largest single window cached (with its keys, [`window_bytes`]).
const WINDOW_KEEP_BYTES: usize = WINDOW_CACHE_BYTES / 2;

/// What the cache counts for a window of `l` positions and `c` channels: the window and its f64
/// keys (`t` and `δ`).
fn window_bytes<T>(l: usize, c: usize) -> usize {
    l.saturating_mul(c).saturating_mul(std::mem::size_of::<T>()).saturating_add(l.saturating_add(c).saturating_mul(8))
}

/// The modulation window `exp(−t[l]·|δ[c]|) + shift`, `[L, C]`, for `t` of length L.
///
/// `t` and `δ` are buffers (never trained), so every forward pass at one length needs the same
/// L·C exponentials: windows are cached, keyed by the exact values of `t`, `δ`, `shift` and the
/// element type (compared in full, no hashing), most recently used first, up to
/// [`WINDOW_CACHE_BYTES`]. A changed buffer simply misses the cache.
///
/// [`HyenaError::Alloc`] (or [`HyenaError::Invalid`] on overflow) when `L·C` cannot be allocated.
pub fn modulation_window<T: Scalar>(t: &[T], deltas: &[T], shift: f64) -> Result<Arc<Vec<T>>> {
    let (kt, kd) = (to64(t), to64(deltas));
    let ty = TypeId::of::<T>();
    let hit = |e: &WindowEntry| e.ty == ty && e.shift == shift.to_bits() && e.t == kt && e.deltas == kd;
    {
        let mut cache = WINDOW_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(hit) {
            let e = cache.remove(i);
            let w = e.window.clone().downcast::<Vec<T>>().ok();
            cache.insert(0, e);
            if let Some(w) = w {
                return Ok(w);
            }
        }
    }
    let c = deltas.len();
    let mut window = try_vec("modulation window [L, C]", shape_len("modulation window [L, C]", &[t.len(), c])?, T::zero())?;
    let sh = T::lit(shift);
    window.par_chunks_mut(c.max(1)).zip(t.par_iter()).for_each(|(wr, &tl)| {
        for (wv, &dl) in wr.iter_mut().zip(deltas) {
            *wv = (-tl * dl.abs()).exp() + sh;
        }
    });
    let window = Arc::new(window);
    let bytes = window_bytes::<T>(t.len(), c);
    if bytes <= WINDOW_KEEP_BYTES {
        let mut cache = WINDOW_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let entry = WindowEntry { ty, t: kt, deltas: kd, shift: shift.to_bits(), window: window.clone(), bytes };
        cache.insert(0, entry);
        let mut total = 0;
        cache.retain(|e| {
            total += e.bytes;
            total <= WINDOW_CACHE_BYTES
        });
    }
    Ok(window)
}

/// `[rows, cols]` → `[cols, rows]` ([`super::linear::transpose_into`]).
/// Into a pooled buffer (stale: the transpose writes every element).
fn transpose<T: Scalar>(src: &[T], rows: usize, cols: usize) -> Result<Vec<T>> {
    let mut dst = pool::try_take("transpose", src.len(), T::zero())?;
    super::linear::transpose_into(src, rows, cols, &mut dst, false)?;
    Ok(dst)
}

/// Backward of [`filter_fwd`] given `grad_h` `[C, L]`; gradients are accumulated into `grads`.
pub fn filter_bwd<T: Scalar>(
    w: &ImplicitFilter<T>,
    cache: &FilterCache<T>,
    grad_h: &[T],
    grads: &mut FilterGrads<T>,
) -> Result<()> {
    let (e, f, c, l) = (w.emb_dim, w.width, w.channels, cache.l);
    check_len("filter grad_h [C, L]", grad_h.len(), shape_len("filter grad_h [C, L]", &[c, l])?)?;
    shape_len("filter activations [L, max(E, F)]", &[l, e.max(f)])?;
    check_bwd_shapes(w, cache, grads)?;
    let mut g = transpose(grad_h, c, l)?;
    if w.normalized {
        // out = m / s, s = Σ|m|: d m_j = g_j / s − sign(m_j) Σ_i g_i m_i / s².
        for (gr, mr) in g.chunks_exact_mut(c).zip(cache.modulated.chunks_exact(c)) {
            let s: T = mr.iter().map(|v| v.abs()).sum();
            if s > T::zero() {
                let dot: T = gr.iter().zip(mr).map(|(&a, &b)| a * b).sum();
                for (gv, &mv) in gr.iter_mut().zip(mr) {
                    *gv = *gv / s - mv.signum() * dot / (s * s);
                }
            }
        }
    }
    if let Some(win) = &cache.window {
        g.par_iter_mut().zip(win.par_iter()).for_each(|(v, &wv)| *v = *v * wv);
    }
    // Output projection (in T).
    // Pooled buffers (stale): each is written whole before it is read, and given back when done.
    let mut g_last = pool::try_take("filter grad [L, F]", l * f, T::zero())?;
    linear_bwd(&cache.last, &w.out_weight, &g, l, f, c, Some(&mut g_last), &mut grads.out_weight, None)?;
    pool::give(g);
    // Hidden layers in f64, last to first: act = sin(freq ⊙ pre).
    let freq = to64(&w.freq);
    let mut g_act = pooled64("filter grad [L, F]", &g_last)?;
    pool::give(g_last);
    let mut g_freq = vec![0.0f64; f];
    for i in (0..w.layers.len()).rev() {
        let p = &cache.pre[i];
        // g_pre first holds cos(freq ⊙ pre) (vectorized, many rows per task), then
        // d pre = g ⊙ cos(freq ⊙ pre) ⊙ freq; d freq = Σ_l g ⊙ cos(freq ⊙ pre) ⊙ pre.
        let mut g_pre = pool::try_take("filter grad [L, F]", l * f, 0.0f64)?;
        let rows = (4096 / f).max(1);
        g_pre.par_chunks_mut(f * rows).zip(p.par_chunks(f * rows)).for_each(|(cb, pb)| {
            for (cr, pr) in cb.chunks_mut(f).zip(pb.chunks(f)) {
                cr.iter_mut().zip(pr).zip(&freq).for_each(|((o, &v), &fr)| *o = fr * v);
            }
            vmath::cos_in_place(cb);
        });
        // d freq sums over the L positions: fixed chunks of FREQ_SUM_ROWS rows, each summed in
        // row order, then the partials added in chunk order, so the grouping (and the bits) depend
        // on neither the pool's size nor rayon's work stealing (a `fold`/`reduce` here split where
        // the stealing did, and the resumed and uninterrupted runs of `train-recall` drifted apart).
        let chunk = FREQ_SUM_ROWS * f;
        let parts: Vec<Vec<f64>> = g_pre
            .par_chunks_mut(chunk)
            .zip(g_act.par_chunks(chunk))
            .zip(p.par_chunks(chunk))
            .map(|((gpc, gac), pc)| {
                let mut acc = vec![0.0f64; f];
                for ((gp, ga), pr) in gpc.chunks_mut(f).zip(gac.chunks(f)).zip(pc.chunks(f)) {
                    for j in 0..f {
                        let gs = ga[j] * gp[j];
                        acc[j] += gs * pr[j];
                        gp[j] = gs * freq[j];
                    }
                }
                acc
            })
            .collect();
        let mut gf = vec![0.0f64; f];
        for part in &parts {
            gf.iter_mut().zip(part).for_each(|(a, &b)| *a += b);
        }
        g_freq.iter_mut().zip(&gf).for_each(|(a, &b)| *a += b);
        let d_in = if i == 0 { e } else { f };
        let (wt, _) = &w.layers[i];
        let (mut gw, mut gb) = (vec![0.0f64; f * d_in], vec![0.0f64; f]);
        let mut g_in = pool::try_take("filter grad [L, in]", l * d_in, 0.0f64)?;
        linear_bwd(&cache.inputs[i], &to64(wt), &g_pre, l, d_in, f, Some(&mut g_in), &mut gw, Some(&mut gb))?;
        pool::give(g_pre);
        let (gw_t, gb_t) = &mut grads.layers[i];
        add64(gw_t, &gw);
        add64(gb_t, &gb);
        pool::give(std::mem::replace(&mut g_act, g_in));
    }
    add64(&mut grads.freq, &g_freq);
    add64(&mut grads.z[..l * e], &g_act);
    pool::give(g_act);
    Ok(())
}

/// The cache must come from a forward pass of a filter shaped like `w`, and `grads` must be
/// shaped like `w` (both may come from the caller: a mismatch is an error, not an index panic).
fn check_bwd_shapes<T: Scalar>(w: &ImplicitFilter<T>, cache: &FilterCache<T>, grads: &FilterGrads<T>) -> Result<()> {
    w.validate()?;
    let (e, f, l, n) = (w.emb_dim, w.width, cache.l, w.layers.len());
    if l == 0 || l > w.l_max {
        return Err(HyenaError::Length(format!("filter cache of length {l}, l_max is {}", w.l_max)));
    }
    if cache.inputs.len() != n || cache.pre.len() != n {
        return Err(HyenaError::shape("filter cache", format!("{n} hidden layers"), format!("{} / {}", cache.inputs.len(), cache.pre.len())));
    }
    for (i, (x, p)) in cache.inputs.iter().zip(&cache.pre).enumerate() {
        let d_in = if i == 0 { e } else { f };
        check_len("filter cache layer input [L, in]", x.len(), l * d_in)?;
        check_len("filter cache pre-activation [L, F]", p.len(), l * f)?;
    }
    check_len("filter cache last activation [L, F]", cache.last.len(), l * f)?;
    if let Some(win) = &cache.window {
        check_len("filter cache window [L, C]", win.len(), l * w.channels)?;
    }
    if w.normalized {
        check_len("filter cache modulated [L, C]", cache.modulated.len(), l * w.channels)?;
    }
    check_len("filter grad z", grads.z.len(), w.z.len())?;
    check_len("filter grad freq", grads.freq.len(), f)?;
    check_len("filter grad output weight", grads.out_weight.len(), w.out_weight.len())?;
    if grads.layers.len() != n {
        return Err(HyenaError::shape("filter grad layers", n, grads.layers.len()));
    }
    for ((gw, gb), (ww, wb)) in grads.layers.iter().zip(&w.layers) {
        check_len("filter grad layer weight", gw.len(), ww.len())?;
        check_len("filter grad layer bias", gb.len(), wb.len())?;
    }
    Ok(())
}

fn add64<T: Scalar>(dst: &mut [T], src: &[f64]) {
    dst.iter_mut().zip(src).for_each(|(a, &x)| *a = T::lit(a.as_f64() + x));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transposes (f32: AVX 8 × 8 blocks in 64-row stripes where the CPU has AVX; f64: the
    /// 16 × 16 tile) against the definition, on shapes with partial blocks on both sides and
    /// more than one stripe, writing and accumulating.
    #[test]
    fn transpose_matches_definition() {
        check_transpose::<f32>();
        check_transpose::<f64>();
    }

    fn check_transpose<T: Scalar>() {
        for (rows, cols) in [(1, 1), (3, 40), (17, 16), (33, 31), (64, 5), (136, 24), (72, 83)] {
            let src: Vec<T> = (0..rows * cols).map(|i| T::lit(i as f64)).collect();
            let t = transpose(&src, rows, cols).unwrap();
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], src[r * cols + c], "{rows}x{cols} at ({r}, {c})");
                }
            }
            let mut acc = vec![T::lit(0.5); rows * cols];
            super::super::linear::transpose_into(&src, rows, cols, &mut acc, true).unwrap();
            assert!(acc.iter().zip(&t).all(|(&a, &x)| a == x + T::lit(0.5)), "{rows}x{cols}: accumulate");
            // Into rows 3 apart more than `rows`: the gaps keep their values.
            let ld = rows + 3;
            let mut wide = vec![T::lit(-1.0); cols * ld];
            super::super::linear::transpose_strided_into(&src, rows, cols, &mut wide, ld, false).unwrap();
            for c in 0..cols {
                assert!(wide[c * ld..c * ld + rows] == t[c * rows..(c + 1) * rows], "{rows}x{cols}: strided row {c}");
                assert!(wide[c * ld + rows..(c + 1) * ld].iter().all(|&x| x == T::lit(-1.0)), "{rows}x{cols}: gap {c}");
            }
            // The parallel split (blocks of 16 destination rows, the source's columns read with
            // its row stride), writing and accumulating, with the same gaps.
            for accumulate in [false, true] {
                let mut par = vec![T::lit(-1.0); cols * ld];
                super::super::linear::par_transpose_strided_into(&src, rows, cols, &mut par, ld, accumulate).unwrap();
                let base = if accumulate { T::lit(-1.0) } else { T::zero() };
                for c in 0..cols {
                    assert!(par[c * ld..c * ld + rows].iter().zip(&t[c * rows..(c + 1) * rows]).all(|(&a, &x)| a == x + base), "{rows}x{cols}: parallel row {c} ({accumulate})");
                    assert!(par[c * ld + rows..(c + 1) * ld].iter().all(|&x| x == T::lit(-1.0)), "{rows}x{cols}: parallel gap {c}");
                }
            }
        }
    }
}
