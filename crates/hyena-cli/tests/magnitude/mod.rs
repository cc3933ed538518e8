//! The conditioning-aware f32 accuracy bound of the shape property test (issue 12): a running
//! error bound for every output and gradient of the Hyena operator, computed in f64.
//!
//! # The bound
//!
//! For each compared tensor with f64 reference `x`, f32 result `y` (both on the same
//! f32-representable data) and, per element, a magnitude `M_i` and a rounding depth `k`:
//!
//! ```text
//! ‖ (|y − x| − γ_k·M)₊ ‖₂ ≤ 1e-5 · ‖x‖₂,     γ_k = k·u / (1 − k·u),  u = 2⁻²⁴
//! ```
//!
//! i.e. `|y_i − x_i| ≤ γ_k·M_i + s_i` with shares `s` of total ‖s‖₂ ≤ 1e-5·‖x‖₂. With `M = 0` it
//! is the plain relative L2 bound of the golden tests; the magnitude term admits an element's
//! error only up to the worst-case rounding error of that element's own computation, so a sum
//! that cancels (Σ|tᵢ| ≫ |Σtᵢ|) may err by what the rounding of its terms explains and no more.
//!
//! `M_i` is the element computed with every value replaced by its magnitude: each product and sum
//! on absolute values (|a·b| → M_a·M_b, a + b → M_a + M_b), the convolutions as the direct sums
//! Σ|h|·|a|. Products and sums are the whole f32 part of the operator: the filter's hidden layers
//! (linear, sin, and their backward with cos) run in f64 on both paths (`cpu::filter`,
//! `kernels/filter.cu`) on the same data, so their values are the same in the f32 and f64 runs
//! and enter `M` as constants (|sin|, |cos|, |pre|); the one f32 transcendental, the modulation
//! window `exp(−t|δ|) + shift`, enters with the |derivative| bound of its argument's rounding
//! (`exp(−x)·(1 + x) + |shift|`, below).
//!
//! # The depth `k`
//!
//! Higham (*Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1–3.4): if every
//! operation rounds with relative error ≤ u, a value computed by sums and products of exact data
//! is `Σⱼ mⱼ·Πᵢ(1 + δᵢⱼ)` over its monomials `mⱼ`, monomial j passing through `kⱼ` roundings, so
//! `|ŷ − y| ≤ γ_k·Σⱼ|mⱼ| = γ_k·M` with `k = maxⱼ kⱼ` (Lemma 3.1). The depth of a value follows from
//! the operations that made it: inputs (f32-representable) 0; `a·b`: `k_a + k_b + 1`; a sum of n
//! terms accumulated in f32 in any order: `max k + n − 1` (recursive summation; pairwise or FMA is
//! less); a sum widened to f64 and rounded once (`dot_f64`, the kernels' double accumulators):
//! `max k + 1` (f64's own error, ≤ n·2⁻⁵³ of M, is below one f32 rounding for the sizes tested).
//! Each tensor's `k` is the maximum over its elements, tracked through the computation below:
//!
//! - in_proj `Σ_D W·u + b`: `D + 1`; short conv (3 taps + bias): `+ 1 + 3` → chunks `x_i`: `D + 5`.
//! - filter: `last` rounded to f32 (1), `Σ_F W_out·last` (`1 + F − 1`), window (4: argument,
//!   `exp` within 2 ulp, `+ shift`), product (1): `h`: `F + 6`.
//! - a gated convolution `h ∗ (pre ⊙ cur) + bias·(pre ⊙ cur)`: the products as above plus
//!   [`fft_depth`] for the FFT, then the skip add.
//! - sums over the B·L positions: the skip gradient `grad_D`, the short-conv gradients and the
//!   batch sum of `grad_h` are f64 sums on both backends (`+ 1`); the projection weight and bias
//!   gradients and the filter's output layer are GEMMs over positions in f32 chunks of at most
//!   1024 (CPU `reduce::K_CHUNK`; the device's are 512) added in f64: `min(B·L, 1024) + 1`.
//!
//! Example (the previous derivation, order 2, `grad.filter_fn.bias`): `x₀, x₁, v`: `D + 5`;
//! `a = x₁ ⊙ v`: `2D + 11`; `g = x₀ ⊙ W_outᵀ·gy`: `(D + 5) + D + 1 = 2D + 6`; `Σ g·a` in f64:
//! `(2D + 6) + (2D + 11) + 1 + 1 = 4D + 19` (the 4D + 18 of the product chain plus the final
//! rounding).
//!
//! What the depth does not bound: an FFT's rounding error is normwise (Higham §24.1: relative
//! ≈ log₂n·(4√2 + 1)·u of ‖h‖‖a‖ for the whole output), not per term. [`fft_depth`] counts one
//! rounding per butterfly level of the three transforms a term passes through; where the FFT's
//! error at an element exceeds that, the main term `1e-5·‖x‖₂` is what covers it (at the tested
//! L ≤ 97 the FFTs' normwise error is ~1e-6 of ‖x‖). The bound also assumes the filter is not
//! `normalized` (an L1 normalisation divides by a sum of absolute values; the property test's
//! filters are not normalised, and [`bounds`] refuses one).

use hyena_model::HyenaOperator;
use std::collections::BTreeMap;

/// Unit roundoff of f32.
pub const U: f64 = 1.0 / 16_777_216.0;

/// Chunk of the position sums of the projection GEMMs (CPU `hyena_kernels::cpu::reduce::K_CHUNK`;
/// the device's `device_reduce::K_CHUNK` is 512): the longest f32 running sum they form.
const GEMM_CHUNK: usize = 1024;

/// The magnitudes `M` (one per element) and the rounding depth `k` of one tensor.
#[derive(Clone, Debug)]
pub struct Bound {
    /// Per element: the computation on absolute values.
    pub m: Vec<f64>,
    /// Rounding steps any term of any element passes through.
    pub k: u32,
}

impl Bound {
    /// `γ_k = k·u / (1 − k·u)`.
    pub fn gamma(&self) -> f64 {
        let ku = self.k as f64 * U;
        ku / (1.0 - ku)
    }

    /// The largest share of its rounding bound an element's error takes, `maxᵢ |yᵢ − xᵢ| / (γ_k·Mᵢ)`
    /// (how much room the magnitude term leaves; recorded in the searches).
    pub fn used(&self, y: &[f64], x: &[f64]) -> f64 {
        let g = self.gamma();
        y.iter().zip(x).zip(&self.m).map(|((&yi, &xi), &mi)| if mi > 0.0 { (yi - xi).abs() / (g * mi) } else { 0.0 }).fold(0.0, f64::max)
    }

    /// The part of `|y − x|` that the element's own rounding does not explain, as relative L2
    /// against `x`: `‖(|y − x| − γ_k·M)₊‖₂ / ‖x‖₂` (absolute when `x = 0`, like `rel_l2`).
    pub fn excess(&self, y: &[f64], x: &[f64]) -> f64 {
        assert_eq!((y.len(), x.len()), (self.m.len(), self.m.len()), "tensor and magnitude lengths");
        let g = self.gamma();
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for ((&yi, &xi), &mi) in y.iter().zip(x).zip(&self.m) {
            let r = ((yi - xi).abs() - g * mi).max(0.0);
            num += r * r;
            den += xi * xi;
        }
        if den == 0.0 {
            num.sqrt()
        } else {
            (num / den).sqrt()
        }
    }
}

/// Depth of an FFT convolution of length `l` (FFT size ≤ 2·next_power_of_two(l)): one rounding per
/// butterfly level of the three transforms (the operand's, the filter's, the inverse) — a count
/// for the per-term bookkeeping, not a per-term bound (see the module docs).
pub fn fft_depth(l: usize) -> u32 {
    3 * (2 * l).next_power_of_two().trailing_zeros()
}

/// Depth of a sum over `k` positions done as an f32 GEMM in chunks added in f64.
fn gemm_sum(k: usize) -> u32 {
    k.min(GEMM_CHUNK) as u32 + 1
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

/// A `[B, D, L]` activation or gradient (magnitudes) and its depth.
struct Act {
    m: Vec<f64>,
    k: u32,
}

/// The bounds of every tensor `hyena run` writes for `op` on `u` and `gy` (`[B, L, D]`), keyed like
/// its output file (`output.y`, `output.grad_u`, `grad.<parameter>`).
///
/// A direct evaluation (O(B·D·L²) convolutions): meant for the property test's small shapes.
pub fn bounds(op: &HyenaOperator<f64>, u: &[f64], gy: &[f64], b: usize, l: usize) -> BTreeMap<String, Bound> {
    let cfg = &op.cfg;
    let (d, n) = (cfg.d_model, cfg.order);
    let (c3, cf) = ((n + 1) * d, (n - 1) * d);
    let fl = &op.filter;
    assert!(!fl.normalized, "the magnitude bound does not model a normalized filter");
    let (e, fw) = (fl.emb_dim, fl.width);
    assert_eq!((u.len(), gy.len()), (b * l * d, b * l * d));
    let (uu, gya) = (abs(u), abs(gy));
    let (w_in, b_in) = (abs(&op.in_proj_weight), abs(&op.in_proj_bias));
    let (w_out, b_out) = (abs(&op.out_proj_weight), abs(&op.out_proj_bias));
    let (w_sc, b_sc) = (abs(&op.short_filter_weight), abs(&op.short_filter_bias));
    let fb = abs(&op.filter_bias);
    let fft = fft_depth(l);
    let mut out = BTreeMap::new();

    // in_proj, [B, C3, L]: Σ_D |W|·|u| + |b|.
    let mut zin = vec![0.0; b * c3 * l];
    for bi in 0..b {
        for ch in 0..c3 {
            for t in 0..l {
                zin[(bi * c3 + ch) * l + t] = b_in[ch] + (0..d).map(|j| w_in[ch * d + j] * uu[(bi * l + t) * d + j]).sum::<f64>();
            }
        }
    }
    let k_zin = d as u32 + 1;
    // Short conv: y[t] = b + Σ_j w[j]·x[t − 2 + j].
    let mut uc = vec![0.0; b * c3 * l];
    for row in 0..b * c3 {
        let ch = row % c3;
        for t in 0..l {
            let mut s = b_sc[ch];
            for j in 0..3 {
                if t + j >= 2 {
                    s += w_sc[ch * 3 + j] * zin[row * l + t + j - 2];
                }
            }
            uc[row * l + t] = s;
        }
    }
    let k_x = k_zin + 4;
    let chunk = |i: usize| -> Vec<f64> {
        let mut v = vec![0.0; b * d * l];
        for bi in 0..b {
            v[bi * d * l..(bi + 1) * d * l].copy_from_slice(&uc[(bi * c3 + i * d) * l..(bi * c3 + (i + 1) * d) * l]);
        }
        v
    };

    // The filter: hidden layers as values (the same f64 arithmetic in both runs), then the f32
    // output layer and modulation as magnitudes, h [C, L].
    let mut inputs = Vec::new();
    let mut pres = Vec::new();
    let mut act: Vec<f64> = fl.z[..l * e].to_vec();
    let mut d_in = e;
    for (wt, bias) in &fl.layers {
        let mut pre = vec![0.0; l * fw];
        for q in 0..l {
            for j in 0..fw {
                pre[q * fw + j] = bias[j] + (0..d_in).map(|k| wt[j * d_in + k] * act[q * d_in + k]).sum::<f64>();
            }
        }
        let next: Vec<f64> = pre.chunks(fw).flat_map(|r| r.iter().zip(&fl.freq).map(|(p, fr)| (fr * p).sin())).collect();
        inputs.push(std::mem::replace(&mut act, next));
        pres.push(pre);
        d_in = fw;
    }
    let last = abs(&act);
    let ow = abs(&fl.out_weight);
    // Window exp(−x) + shift, x = t·|δ| rounded: |exp(x̂) − exp(x)| ≤ exp(−x)·x·u, exp's own error
    // and the add of shift ≤ u each, so error ≤ 3u·(exp(−x)(1 + x) + |shift|); 4 leaves exp 2 ulp.
    let (win, k_win): (Vec<f64>, u32) = if fl.modulate {
        let w = (0..l * cf)
            .map(|i| {
                let (q, c) = (i / cf, i % cf);
                let x = (fl.t[q] * fl.deltas[c].abs()).abs();
                (-x).exp() * (1.0 + x) + fl.shift.abs()
            })
            .collect();
        (w, 4)
    } else {
        (vec![1.0; l * cf], 0)
    };
    let mut h = vec![0.0; cf * l];
    for q in 0..l {
        for c in 0..cf {
            let o: f64 = (0..fw).map(|f| ow[c * fw + f] * last[q * fw + f]).sum();
            h[c * l + q] = o * win[q * cf + c];
        }
    }
    let k_out = fw as u32 + 1;
    let k_h = k_out + k_win + u32::from(fl.modulate);

    // The recurrence, step o: a = pre ⊙ cur, s = h_o ∗ a + bias_o·a, out = post ⊙ s.
    let conv = |hrow: &[f64], a: &[f64], bias: f64| -> Vec<f64> {
        (0..l).map(|t| (0..=t).map(|j| hrow[j] * a[t - j]).sum::<f64>() + bias * a[t]).collect()
    };
    struct Step {
        a: Act,
        s: Act,
        out: Act,
    }
    let mut steps: Vec<Step> = Vec::new();
    for o in 0..n - 1 {
        let (cur, k_cur) = if o == 0 { (chunk(n), k_x) } else { (steps[o - 1].out.m.clone(), steps[o - 1].out.k) };
        let pre = chunk(n - 1 - o);
        let a: Vec<f64> = cur.iter().zip(&pre).map(|(x, y)| x * y).collect();
        let k_a = k_cur + k_x + 1;
        let mut s = vec![0.0; b * d * l];
        for bi in 0..b {
            for c in 0..d {
                let r = (bi * d + c) * l;
                let ch = o * d + c;
                s[r..r + l].copy_from_slice(&conv(&h[ch * l..(ch + 1) * l], &a[r..r + l], fb[ch]));
            }
        }
        let k_s = (k_h + k_a + 1 + fft).max(k_a + 1) + 1;
        let post = (o == n - 2).then(|| chunk(0));
        let (om, k_o) = match &post {
            Some(p) => (s.iter().zip(p).map(|(x, y)| x * y).collect(), k_s + k_x + 1),
            None => (s.clone(), k_s),
        };
        steps.push(Step { a: Act { m: a, k: k_a }, s: Act { m: s, k: k_s }, out: Act { m: om, k: k_o } });
    }
    let lastm = &steps[n - 2].out;
    // out_proj: y[b, t, i] = b_out[i] + Σ_c W_out[i, c]·last[b, c, t].
    let mut y = vec![0.0; b * l * d];
    for bi in 0..b {
        for t in 0..l {
            for i in 0..d {
                y[(bi * l + t) * d + i] = b_out[i] + (0..d).map(|c| w_out[i * d + c] * lastm.m[(bi * d + c) * l + t]).sum::<f64>();
            }
        }
    }
    out.insert("output.y".into(), Bound { m: y, k: lastm.k + 1 + d as u32 });

    // Backward. out_proj: db = Σ gy, dW[i, c] = Σ gy[.., i]·last[.., c], g = W_outᵀ·gy.
    let bl = b * l;
    let mut gbo = vec![0.0; d];
    let mut gwo = vec![0.0; d * d];
    let mut g = vec![0.0; b * d * l];
    for bi in 0..b {
        for t in 0..l {
            for i in 0..d {
                let gv = gya[(bi * l + t) * d + i];
                gbo[i] += gv;
                for c in 0..d {
                    gwo[i * d + c] += gv * lastm.m[(bi * d + c) * l + t];
                    g[(bi * d + c) * l + t] += w_out[i * d + c] * gv;
                }
            }
        }
    }
    out.insert("grad.out_proj.bias".into(), Bound { m: gbo, k: gemm_sum(bl) });
    out.insert("grad.out_proj.weight".into(), Bound { m: gwo, k: lastm.k + 1 + gemm_sum(bl) });
    let mut g = Act { m: g, k: d as u32 };
    // Gradients of the short-conv output chunks, [B, C3, L], and each chunk's depth so far.
    let mut g_uc = vec![0.0; b * c3 * l];
    let mut k_chunk: Vec<Option<u32>> = vec![None; n + 1];
    let mut add_chunk = |g_uc: &mut [f64], i: usize, v: &[f64], k: u32| {
        for bi in 0..b {
            let dst = &mut g_uc[(bi * c3 + i * d) * l..(bi * c3 + (i + 1) * d) * l];
            dst.iter_mut().zip(&v[bi * d * l..(bi + 1) * d * l]).for_each(|(a, x)| *a += x);
        }
        k_chunk[i] = Some(match k_chunk[i] {
            None => k,
            Some(k0) => k0.max(k) + 1,
        });
    };
    let mut gh = vec![0.0; cf * l];
    let mut k_gh = 0;
    let mut gfb = vec![0.0; cf];
    let mut k_gfb = 0;
    for o in (0..n - 1).rev() {
        let st = &steps[o];
        let (cur, k_cur) = if o == 0 { (chunk(n), k_x) } else { (steps[o - 1].out.m.clone(), steps[o - 1].out.k) };
        let pre_i = n - 1 - o;
        let pre = chunk(pre_i);
        let gs = if o == n - 2 {
            let x0 = chunk(0);
            let gpost: Vec<f64> = g.m.iter().zip(&st.s.m).map(|(x, y)| x * y).collect();
            add_chunk(&mut g_uc, 0, &gpost, g.k + st.s.k + 1);
            Act { m: g.m.iter().zip(&x0).map(|(x, y)| x * y).collect(), k: g.k + k_x + 1 }
        } else {
            Act { m: g.m.clone(), k: g.k }
        };
        let mut ga = vec![0.0; b * d * l];
        for c in 0..d {
            let ch = o * d + c;
            let hrow = &h[ch * l..(ch + 1) * l];
            for bi in 0..b {
                let r = (bi * d + c) * l;
                let (gr, ar) = (&gs.m[r..r + l], &st.a.m[r..r + l]);
                for j in 0..l {
                    gh[ch * l + j] += (j..l).map(|t| gr[t] * ar[t - j]).sum::<f64>();
                }
                gfb[ch] += gr.iter().zip(ar).map(|(x, y)| x * y).sum::<f64>();
                for t in 0..l {
                    ga[r + t] = (t..l).map(|q| hrow[q - t] * gr[q]).sum::<f64>() + fb[ch] * gr[t];
                }
            }
        }
        k_gh = k_gh.max(gs.k + st.a.k + 1 + fft + 1);
        k_gfb = k_gfb.max(gs.k + st.a.k + 2);
        let k_ga = (k_h + gs.k + 1 + fft).max(gs.k + 1) + 1;
        let gpre: Vec<f64> = ga.iter().zip(&cur).map(|(x, y)| x * y).collect();
        add_chunk(&mut g_uc, pre_i, &gpre, k_ga + k_cur + 1);
        let gcur: Vec<f64> = ga.iter().zip(&pre).map(|(x, y)| x * y).collect();
        if o == 0 {
            add_chunk(&mut g_uc, n, &gcur, k_ga + k_x + 1);
        } else {
            g = Act { m: gcur, k: k_ga + k_x + 1 };
        }
    }
    out.insert("grad.filter_fn.bias".into(), Bound { m: gfb, k: k_gfb });
    let k_guc = k_chunk.iter().map(|k| k.expect("every chunk gets a gradient")).max().unwrap_or(0);

    // Short conv backward: g_zin[t] = Σ_j w[j]·g_uc[t + 2 − j]; dw[j] = Σ g_uc[t]·zin[t − 2 + j]
    // and db = Σ g_uc, both f64 sums.
    let mut gz = vec![0.0; b * c3 * l];
    let (mut gsw, mut gsb) = (vec![0.0; c3 * 3], vec![0.0; c3]);
    for row in 0..b * c3 {
        let ch = row % c3;
        for t in 0..l {
            let gv = g_uc[row * l + t];
            gsb[ch] += gv;
            for j in 0..3 {
                if t + j >= 2 {
                    gsw[ch * 3 + j] += gv * zin[row * l + t + j - 2];
                }
                if t + 2 - j < l {
                    gz[row * l + t] += w_sc[ch * 3 + j] * g_uc[row * l + t + 2 - j];
                }
            }
        }
    }
    out.insert("grad.short_filter.weight".into(), Bound { m: gsw, k: k_guc + k_zin + 2 });
    out.insert("grad.short_filter.bias".into(), Bound { m: gsb, k: k_guc + 1 });
    let k_gz = k_guc + 1 + 2;
    // in_proj backward: grad_u = Σ_C3 g_zin·W_in, dW_in = Σ_{b,t} g_zin·u, db_in = Σ g_zin.
    let mut gu = vec![0.0; b * l * d];
    let (mut gwi, mut gbi) = (vec![0.0; c3 * d], vec![0.0; c3]);
    for bi in 0..b {
        for ch in 0..c3 {
            for t in 0..l {
                let gv = gz[(bi * c3 + ch) * l + t];
                gbi[ch] += gv;
                for j in 0..d {
                    gwi[ch * d + j] += gv * uu[(bi * l + t) * d + j];
                    gu[(bi * l + t) * d + j] += gv * w_in[ch * d + j];
                }
            }
        }
    }
    out.insert("output.grad_u".into(), Bound { m: gu, k: k_gz + c3 as u32 });
    out.insert("grad.in_proj.weight".into(), Bound { m: gwi, k: k_gz + 1 + gemm_sum(bl) });
    out.insert("grad.in_proj.bias".into(), Bound { m: gbi, k: k_gz + gemm_sum(bl) });

    // Filter backward: g = grad_h ⊙ window (f32), g_last = Σ_C W_out·g (f32), dW_out = Σ_L g·last;
    // the hidden layers in f64 (values of cos, freq, pre, inputs, weights enter as constants).
    let k_g2 = k_gh + k_win + u32::from(fl.modulate);
    let mut g2 = vec![0.0; l * cf];
    for q in 0..l {
        for c in 0..cf {
            g2[q * cf + c] = gh[c * l + q] * win[q * cf + c];
        }
    }
    let mut g_act = vec![0.0; l * fw];
    let mut gow = vec![0.0; cf * fw];
    for q in 0..l {
        for c in 0..cf {
            for f in 0..fw {
                g_act[q * fw + f] += ow[c * fw + f] * g2[q * cf + c];
                gow[c * fw + f] += g2[q * cf + c] * last[q * fw + f];
            }
        }
    }
    let n_layers = fl.layers.len();
    out.insert(format!("grad.filter_fn.implicit_filter.{}.weight", 2 * n_layers), Bound { m: gow, k: k_g2 + 2 + gemm_sum(l) });
    let k_gl = k_g2 + cf as u32;
    // f64 from here; the result is rounded to f32 once, after per-tile f64 sums added into an f32
    // accumulator per block on the device (tiles of 32 positions).
    let k_hidden = k_gl + 1 + l.div_ceil(32) as u32;
    let freq = &fl.freq;
    let mut gfreq = vec![0.0; fw];
    for i in (0..n_layers).rev() {
        let d_in = if i == 0 { e } else { fw };
        let (wt, _) = &fl.layers[i];
        let (p, x) = (&pres[i], &inputs[i]);
        let mut gpre = vec![0.0; l * fw];
        for q in 0..l {
            for j in 0..fw {
                let gs = g_act[q * fw + j] * (freq[j] * p[q * fw + j]).cos().abs();
                gfreq[j] += gs * p[q * fw + j].abs();
                gpre[q * fw + j] = gs * freq[j].abs();
            }
        }
        let (mut gw, mut gb) = (vec![0.0; fw * d_in], vec![0.0; fw]);
        let mut g_in = vec![0.0; l * d_in];
        for q in 0..l {
            for j in 0..fw {
                let gv = gpre[q * fw + j];
                gb[j] += gv;
                for k in 0..d_in {
                    gw[j * d_in + k] += gv * x[q * d_in + k].abs();
                    g_in[q * d_in + k] += gv * wt[j * d_in + k].abs();
                }
            }
        }
        out.insert(format!("grad.filter_fn.implicit_filter.{}.weight", 2 * i), Bound { m: gw, k: k_hidden });
        out.insert(format!("grad.filter_fn.implicit_filter.{}.bias", 2 * i), Bound { m: gb, k: k_hidden });
        g_act = g_in;
    }
    out.insert("grad.filter_fn.implicit_filter.1.freq".into(), Bound { m: gfreq, k: k_hidden });
    let mut gzm = vec![0.0; fl.l_max * e];
    gzm[..l * e].copy_from_slice(&g_act);
    out.insert("grad.filter_fn.pos_emb.z".into(), Bound { m: gzm, k: k_hidden });
    out
}
