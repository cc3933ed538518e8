//! CPU reference ops: FFT convolution against the direct O(L²) oracle, every backward against
//! central finite differences (f64), f32 against f64, causality, and typed errors on bad shapes.

use hyena_kernels::cpu::fftconv::{
    fftconv_bwd, fftconv_direct, fftconv_fwd, gated_fftconv_bwd, gated_fftconv_fwd, next_smooth, FftConvPlan, Rows,
};
use hyena_kernels::cpu::filter::{filter_bwd, filter_fwd, modulation_deltas, positional_embedding, ImplicitFilter};
use hyena_kernels::cpu::linear::{linear_bwd, linear_fwd, matmul};
use hyena_kernels::cpu::shortconv::{shortconv_bwd, shortconv_fwd, shortconv_fwd_in_bias};
use hyena_kernels::{rel_l2, HyenaError, Scalar};
use rand::{Rng, SeedableRng};

fn rnd(rng: &mut impl Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn cast<T: Scalar>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::lit(x)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Central finite differences of `loss` w.r.t. every element of `x` (f64, step 1e-6).
fn fd(x: &[f64], mut loss: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let eps = 1e-6;
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = xp[i];
            xp[i] = x0 + eps;
            let lp = loss(&xp);
            xp[i] = x0 - eps;
            let lm = loss(&xp);
            xp[i] = x0;
            (lp - lm) / (2.0 * eps)
        })
        .collect()
}

const LENGTHS: [usize; 8] = [1, 2, 3, 5, 17, 64, 255, 1000];

#[test]
fn next_smooth_is_smooth_and_minimal() {
    for x in 1..2000usize {
        let n = next_smooth(x);
        assert!(n >= x);
        let mut r = n;
        for p in [2, 3, 5] {
            while r % p == 0 {
                r /= p;
            }
        }
        assert_eq!(r, 1, "{n} is not 5-smooth");
        for m in x..n {
            let mut r = m;
            for p in [2, 3, 5] {
                while r % p == 0 {
                    r /= p;
                }
            }
            assert_ne!(r, 1, "{m} < {n} is smooth and ≥ {x}");
        }
    }
}

#[test]
fn fftconv_matches_direct_oracle() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for &l in &LENGTHS {
        let (b, c) = (2, 3);
        let u = rnd(&mut rng, b * c * l);
        let h = rnd(&mut rng, c * l);
        let d = rnd(&mut rng, c);
        let want = fftconv_direct(&u, &h, &d, b, c, l).unwrap();
        let mut y = vec![f64::NAN; b * c * l];
        fftconv_fwd(&u, &h, &d, b, c, l, &mut y).unwrap();
        let e = rel_l2(&y, &want);
        assert!(e < 1e-12, "f64 L={l}: {e:e}");
        let mut y32 = vec![f32::NAN; b * c * l];
        fftconv_fwd(&cast::<f32>(&u), &cast::<f32>(&h), &cast::<f32>(&d), b, c, l, &mut y32).unwrap();
        let e = rel_l2(&y32, &want);
        assert!(e < 1e-5, "f32 L={l}: {e:e}");
    }
}

#[test]
fn fftconv_backward_matches_finite_differences() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for &l in &[1usize, 2, 7, 30] {
        let (b, c) = (2, 2);
        let u = rnd(&mut rng, b * c * l);
        let h = rnd(&mut rng, c * l);
        let d = rnd(&mut rng, c);
        let g = rnd(&mut rng, b * c * l);
        let loss = |u: &[f64], h: &[f64], d: &[f64]| dot(&fftconv_direct(u, h, d, b, c, l).unwrap(), &g);
        let gr = fftconv_bwd(&u, &h, &d, &g, b, c, l).unwrap();
        let e = rel_l2(&gr.grad_u, &fd(&u, |x| loss(x, &h, &d)));
        assert!(e < 1e-7, "grad_u L={l}: {e:e}");
        let e = rel_l2(&gr.grad_h, &fd(&h, |x| loss(&u, x, &d)));
        assert!(e < 1e-7, "grad_h L={l}: {e:e}");
        let e = rel_l2(&gr.grad_d, &fd(&d, |x| loss(&u, &h, x)));
        assert!(e < 1e-7, "grad_D L={l}: {e:e}");
    }
}

/// y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ (pre ⊙ v)) built from the oracle.
fn gated_direct(v: &[f64], pre: &[f64], post: &[f64], h: &[f64], d: &[f64], b: usize, c: usize, l: usize) -> Vec<f64> {
    let a: Vec<f64> = v.iter().zip(pre).map(|(x, y)| x * y).collect();
    let s = fftconv_direct(&a, h, d, b, c, l).unwrap();
    s.iter().zip(post).map(|(x, y)| x * y).collect()
}

#[test]
fn gated_conv_forward_and_backward() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for &l in &[1usize, 3, 17, 40] {
        let (b, c) = (2, 3);
        let n = b * c * l;
        let (v, pre, post, g) = (rnd(&mut rng, n), rnd(&mut rng, n), rnd(&mut rng, n), rnd(&mut rng, n));
        let h = rnd(&mut rng, c * l);
        let d = rnd(&mut rng, c);
        let plan = FftConvPlan::<f64>::new(l).unwrap();
        let hf = plan.filter_spectra(&h, c).unwrap();
        fn rows(x: &[f64], b: usize, c: usize, l: usize) -> Rows<'_, f64> {
            Rows::contiguous(x, b, c, l).unwrap()
        }
        let mut y = vec![f64::NAN; n];
        gated_fftconv_fwd(&plan, &hf, &d, rows(&v, b, c, l), Some(rows(&pre, b, c, l)), Some(rows(&post, b, c, l)), &mut y).unwrap();
        let e = rel_l2(&y, &gated_direct(&v, &pre, &post, &h, &d, b, c, l));
        assert!(e < 1e-12, "fwd L={l}: {e:e}");
        let gr = gated_fftconv_bwd(&plan, &hf, &d, rows(&v, b, c, l), Some(rows(&pre, b, c, l)), Some(rows(&post, b, c, l)), &g).unwrap();
        let loss = |v: &[f64], p: &[f64], q: &[f64], h: &[f64], d: &[f64]| dot(&gated_direct(v, p, q, h, d, b, c, l), &g);
        let checks: [(&str, &[f64], Vec<f64>); 5] = [
            ("v", &gr.grad_v, fd(&v, |x| loss(x, &pre, &post, &h, &d))),
            ("pre", gr.grad_pre.as_ref().unwrap(), fd(&pre, |x| loss(&v, x, &post, &h, &d))),
            ("post", gr.grad_post.as_ref().unwrap(), fd(&post, |x| loss(&v, &pre, x, &h, &d))),
            ("h", &gr.grad_h, fd(&h, |x| loss(&v, &pre, &post, x, &d))),
            ("D", &gr.grad_d, fd(&d, |x| loss(&v, &pre, &post, &h, x))),
        ];
        for (name, ours, want) in checks {
            let e = rel_l2(ours, &want);
            assert!(e < 1e-7, "grad {name} L={l}: {e:e}");
        }
        // Without pre/post the op is the plain convolution.
        let mut y2 = vec![f64::NAN; n];
        gated_fftconv_fwd(&plan, &hf, &d, rows(&v, b, c, l), None, None, &mut y2).unwrap();
        let e = rel_l2(&y2, &fftconv_direct(&v, &h, &d, b, c, l).unwrap());
        assert!(e < 1e-12, "ungated L={l}: {e:e}");
    }
}

/// The forward's half-length spectral pass (`src/cpu/halfspec.rs`) at the lengths where its block
/// loop changes shape: N = next_smooth(L) odd or even, the pairs fewer than one block of 16, an
/// exact number of blocks (N = 162: 80 pairs), blocks plus a remainder, and a long row; f64 and
/// f32 against the O(L²) oracle.
#[test]
fn gated_conv_forward_at_the_spectral_pass_block_edges() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for &l in &[4usize, 9, 16, 27, 34, 100, 162, 2048] {
        let (b, c) = (1, 2);
        let n = b * c * l;
        let (v, pre, post) = (rnd(&mut rng, n), rnd(&mut rng, n), rnd(&mut rng, n));
        let h = rnd(&mut rng, c * l);
        let d = rnd(&mut rng, c);
        let want = gated_direct(&v, &pre, &post, &h, &d, b, c, l);
        let plan = FftConvPlan::<f64>::new(l).unwrap();
        let hf = plan.filter_spectra(&h, c).unwrap();
        fn rows<T>(x: &[T], b: usize, c: usize, l: usize) -> Rows<'_, T> {
            Rows::contiguous(x, b, c, l).unwrap()
        }
        let mut y = vec![f64::NAN; n];
        gated_fftconv_fwd(&plan, &hf, &d, rows(&v, b, c, l), Some(rows(&pre, b, c, l)), Some(rows(&post, b, c, l)), &mut y).unwrap();
        let e = rel_l2(&y, &want);
        assert!(e < 1e-12, "f64 L={l} (N = {}): {e:e}", plan.fft_size() / 2);
        let (v32, p32, q32, h32, d32) = (cast::<f32>(&v), cast::<f32>(&pre), cast::<f32>(&post), cast::<f32>(&h), cast::<f32>(&d));
        let plan = FftConvPlan::<f32>::new(l).unwrap();
        let hf = plan.filter_spectra(&h32, c).unwrap();
        let mut y32 = vec![f32::NAN; n];
        gated_fftconv_fwd(&plan, &hf, &d32, rows(&v32, b, c, l), Some(rows(&p32, b, c, l)), Some(rows(&q32, b, c, l)), &mut y32).unwrap();
        let e = rel_l2(&y32, &want);
        assert!(e < 1e-5, "f32 L={l}: {e:e}");
    }
}

#[test]
fn fftconv_is_causal() {
    // Changing u at time t0 leaves every output before t0 unchanged, for every length.
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    for &l in &[2usize, 17, 255, 1000] {
        let (b, c) = (1, 2);
        let u = rnd(&mut rng, b * c * l);
        let h = rnd(&mut rng, c * l);
        let d = rnd(&mut rng, c);
        let mut y0 = vec![0.0; b * c * l];
        fftconv_fwd(&u, &h, &d, b, c, l, &mut y0).unwrap();
        let t0 = l / 2;
        let mut u2 = u.clone();
        for ch in 0..c {
            for t in t0..l {
                u2[ch * l + t] += 10.0;
            }
        }
        let mut y1 = vec![0.0; b * c * l];
        fftconv_fwd(&u2, &h, &d, b, c, l, &mut y1).unwrap();
        for ch in 0..c {
            for t in 0..t0 {
                assert!((y0[ch * l + t] - y1[ch * l + t]).abs() < 1e-9, "L={l}: y[{t}] depends on u[≥{t0}]");
            }
            assert!((y0[ch * l + t0] - y1[ch * l + t0]).abs() > 1e-6, "the perturbation must show at t0");
        }
    }
}

fn small_filter(rng: &mut impl Rng, l_max: usize, normalized: bool, shift: f64) -> ImplicitFilter<f64> {
    let (e, f, c) = (5, 6, 4);
    let (z, t) = positional_embedding::<f64>(e, l_max).unwrap();
    ImplicitFilter {
        emb_dim: e,
        width: f,
        channels: c,
        l_max,
        z,
        t,
        layers: vec![(rnd(rng, f * e), rnd(rng, f)), (rnd(rng, f * f), rnd(rng, f)), (rnd(rng, f * f), rnd(rng, f))],
        freq: rnd(rng, f).iter().map(|x| 1.0 + x).collect(),
        out_weight: rnd(rng, c * f),
        deltas: modulation_deltas(c).unwrap(),
        modulate: true,
        shift,
        normalized,
    }
}

#[test]
fn filter_backward_matches_finite_differences() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for (normalized, shift, l, l_max) in [(false, 0.0, 12, 12), (false, 0.05, 9, 16), (true, 0.0, 10, 10)] {
        let w = small_filter(&mut rng, l_max, normalized, shift);
        let g = rnd(&mut rng, w.channels * l);
        let (_, cache) = filter_fwd(&w, l).unwrap();
        let mut grads = w.zero_grads();
        filter_bwd(&w, &cache, &g, &mut grads).unwrap();
        let loss = |w: &ImplicitFilter<f64>| dot(&filter_fwd(w, l).unwrap().0, &g);
        let check = |name: &str, ours: &[f64], get: &dyn Fn(&mut ImplicitFilter<f64>) -> &mut Vec<f64>| {
            let mut wc = w.clone();
            let x0 = get(&mut wc).clone();
            let want = fd(&x0, |x| {
                *get(&mut wc) = x.to_vec();
                loss(&wc)
            });
            let e = rel_l2(ours, &want);
            assert!(e < 1e-6, "filter grad {name} (normalized={normalized}, shift={shift}): {e:e}");
        };
        check("z", &grads.z, &|w| &mut w.z);
        check("freq", &grads.freq, &|w| &mut w.freq);
        check("out_weight", &grads.out_weight, &|w| &mut w.out_weight);
        for i in 0..3 {
            check(&format!("layer{i}.weight"), &grads.layers[i].0, &|w| &mut w.layers[i].0);
            check(&format!("layer{i}.bias"), &grads.layers[i].1, &|w| &mut w.layers[i].1);
        }
        // Rows of z past L get no gradient.
        assert!(grads.z[l * w.emb_dim..].iter().all(|&x| x == 0.0));
    }
}

#[test]
fn filter_uses_first_rows_when_shorter_than_l_max() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let w = small_filter(&mut rng, 20, false, 0.0);
    let (full, _) = filter_fwd(&w, 20).unwrap();
    let (part, _) = filter_fwd(&w, 7).unwrap();
    for c in 0..w.channels {
        for t in 0..7 {
            assert_eq!(part[c * 7 + t], full[c * 20 + t]);
        }
    }
    assert!(matches!(filter_fwd(&w, 21), Err(HyenaError::Length(_))));
}

#[test]
fn shortconv_forward_and_backward() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for &l in &[1usize, 2, 3, 11] {
        let (b, c) = (2, 3);
        let x = rnd(&mut rng, b * c * l);
        let w = rnd(&mut rng, c * 3);
        let bias = rnd(&mut rng, c);
        let g = rnd(&mut rng, b * c * l);
        let fwd = |x: &[f64], w: &[f64], bias: &[f64]| {
            let mut y = vec![f64::NAN; b * c * l];
            shortconv_fwd(x, w, bias, b, c, l, &mut y).unwrap();
            y
        };
        // Direct definition: y[t] = w0 x[t-2] + w1 x[t-1] + w2 x[t] + b.
        let y = fwd(&x, &w, &bias);
        for row in 0..b * c {
            let ch = row % c;
            for t in 0..l {
                let at = |s: isize| if s < 0 { 0.0 } else { x[row * l + s as usize] };
                let want = w[ch * 3] * at(t as isize - 2) + w[ch * 3 + 1] * at(t as isize - 1) + w[ch * 3 + 2] * at(t as isize) + bias[ch];
                assert!((y[row * l + t] - want).abs() < 1e-12);
            }
        }
        let (mut gx, mut gw, mut gb) = (vec![f64::NAN; b * c * l], vec![0.0; c * 3], vec![0.0; c]);
        shortconv_bwd(&x, &w, &bias, &g, b, c, l, &mut gx, &mut gw, &mut gb).unwrap();
        let loss = |x: &[f64], w: &[f64], bb: &[f64]| dot(&fwd(x, w, bb), &g);
        assert!(rel_l2(&gx, &fd(&x, |v| loss(v, &w, &bias))) < 1e-7);
        assert!(rel_l2(&gw, &fd(&w, |v| loss(&x, v, &bias))) < 1e-7);
        assert!(rel_l2(&gb, &fd(&bias, |v| loss(&x, &w, v))) < 1e-7);
    }
}

/// The inference path's fused input bias: `shortconv_fwd_in_bias(x, ib)` must give the bits of
/// adding `ib` to every row of `x` first and then `shortconv_fwd` (f32 and f64, lengths with and
/// without the vectorised interior, outputs poisoned with NaN); a wrong-length bias is an error.
#[test]
fn shortconv_in_bias_is_bias_then_conv() {
    fn check<T: Scalar>(rng: &mut rand::rngs::StdRng) {
        for &l in &[1usize, 2, 3, 37, 1024] {
            let (b, c) = (2, 5);
            let x: Vec<T> = cast(&rnd(rng, b * c * l));
            let (w, bias, ib): (Vec<T>, Vec<T>, Vec<T>) = (cast(&rnd(rng, c * 3)), cast(&rnd(rng, c)), cast(&rnd(rng, c)));
            let mut xb = x.clone();
            for (row, r) in xb.chunks_exact_mut(l).enumerate() {
                r.iter_mut().for_each(|v| *v = *v + ib[row % c]);
            }
            let mut want = vec![T::nan(); b * c * l];
            shortconv_fwd(&xb, &w, &bias, b, c, l, &mut want).unwrap();
            let mut got = vec![T::nan(); b * c * l];
            shortconv_fwd_in_bias(&x, Some(&ib), &w, &bias, b, c, l, &mut got).unwrap();
            assert!(got.iter().all(|v| v.is_finite()), "every output written");
            assert!(got.iter().zip(&want).all(|(g, w)| g.as_f64().to_bits() == w.as_f64().to_bits()), "{} l {l}: bits differ", T::NAME);
            // Without a bias it is shortconv_fwd itself, and the bias must matter.
            let mut plain = vec![T::nan(); b * c * l];
            shortconv_fwd_in_bias(&x, None, &w, &bias, b, c, l, &mut plain).unwrap();
            let mut direct = vec![T::nan(); b * c * l];
            shortconv_fwd(&x, &w, &bias, b, c, l, &mut direct).unwrap();
            assert!(plain.iter().zip(&direct).all(|(g, w)| g.as_f64().to_bits() == w.as_f64().to_bits()));
            assert!(plain.iter().zip(&got).any(|(a, b)| a != b));
            assert!(shortconv_fwd_in_bias(&x, Some(&ib[..c - 1]), &w, &bias, b, c, l, &mut got).is_err());
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(71);
    check::<f32>(&mut rng);
    check::<f64>(&mut rng);
}

#[test]
fn matmul_all_transposes_match_naive() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 70, 65)] {
        let a = rnd(&mut rng, m * k);
        let b = rnd(&mut rng, k * n);
        for ta in [false, true] {
            for tb in [false, true] {
                let ai = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
                let bi = |p: usize, j: usize| if tb { b[j * k + p] } else { b[p * n + j] };
                let mut want = vec![0.0; m * n];
                for i in 0..m {
                    for j in 0..n {
                        want[i * n + j] = (0..k).map(|p| ai(i, p) * bi(p, j)).sum::<f64>() + 0.5;
                    }
                }
                let mut c = vec![0.5; m * n];
                matmul(&mut c, &a, &b, m, n, k, ta, tb, true).unwrap();
                assert!(rel_l2(&c, &want) < 1e-13, "{m}x{n}x{k} ta={ta} tb={tb}");
                let mut c32 = vec![0.5f32; m * n];
                matmul(&mut c32, &cast::<f32>(&a), &cast::<f32>(&b), m, n, k, ta, tb, true).unwrap();
                assert!(rel_l2(&c32, &want) < 1e-5);
            }
        }
    }
}

#[test]
fn linear_backward_matches_finite_differences() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let (rows, di, dout) = (5, 4, 3);
    let x = rnd(&mut rng, rows * di);
    let w = rnd(&mut rng, dout * di);
    let bias = rnd(&mut rng, dout);
    let g = rnd(&mut rng, rows * dout);
    let fwd = |x: &[f64], w: &[f64], b: &[f64]| {
        let mut y = vec![f64::NAN; rows * dout];
        linear_fwd(x, w, Some(b), rows, di, dout, &mut y).unwrap();
        dot(&y, &g)
    };
    let (mut gx, mut gw, mut gb) = (vec![f64::NAN; rows * di], vec![0.0; dout * di], vec![0.0; dout]);
    linear_bwd(&x, &w, &g, rows, di, dout, Some(&mut gx), &mut gw, Some(&mut gb)).unwrap();
    assert!(rel_l2(&gx, &fd(&x, |v| fwd(v, &w, &bias))) < 1e-8);
    assert!(rel_l2(&gw, &fd(&w, |v| fwd(&x, v, &bias))) < 1e-8);
    assert!(rel_l2(&gb, &fd(&bias, |v| fwd(&x, &w, v))) < 1e-8);
}

#[test]
fn bad_shapes_are_typed_errors() {
    let u = vec![1.0f64; 10];
    let mut y = vec![0.0f64; 10];
    assert!(matches!(fftconv_fwd(&u, &u[..4], &[1.0], 1, 1, 10, &mut y), Err(HyenaError::Shape { .. })));
    assert!(matches!(fftconv_fwd(&u, &u, &[1.0], 1, 1, 0, &mut y), Err(HyenaError::Length(_))));
    assert!(matches!(FftConvPlan::<f32>::new(0), Err(HyenaError::Length(_))));
    let mut c = vec![0.0f64; 3];
    assert!(matches!(matmul(&mut c, &u, &u, 2, 2, 5, false, false, false), Err(HyenaError::Shape { .. })));
    assert!(matches!(positional_embedding::<f64>(4, 10), Err(HyenaError::Invalid(_))));
    assert!(Rows::new(&u, 2, 1, 6, 6).is_err());
}

/// The transposes of `cpu::linear` against a naive loop: whole sources (`transpose_strided_into`,
/// `par_transpose_strided_into`) and the first columns of a strided one (`par_transpose_cols_into`,
/// the out_proj weight's column groups), copy and accumulate, f32 (the AVX path where the CPU has
/// it) and f64 (the tile loop), shapes that are not multiples of 8 or 16; destination elements
/// outside the written `[cols, rows]` block keep their poison. Bad strides and short buffers are
/// typed errors.
#[test]
fn transposes_match_naive_and_reject_bad_shapes() {
    use hyena_kernels::cpu::linear::{par_transpose_cols_into, par_transpose_strided_into, transpose_strided_into};
    fn run<T: hyena_kernels::Scalar + std::fmt::Debug>(to: impl Fn(f64) -> T) {
        let (rows, cols, lds, ld) = (37usize, 19usize, 23usize, 41usize);
        let src: Vec<T> = (0..(rows - 1) * lds + cols).map(|i| to(1.0 + i as f64 * 0.25)).collect();
        for accumulate in [false, true] {
            for strided in [false, true] {
                let s = if strided { &src[..] } else { &src[..rows * cols] };
                let sl = if strided { lds } else { cols };
                let poison = to(-7.5);
                let mut want = vec![poison; (cols - 1) * ld + rows + 5];
                for r in 0..rows {
                    for c in 0..cols {
                        let x = s[r * sl + c];
                        want[c * ld + r] = if accumulate { want[c * ld + r] + x } else { x };
                    }
                }
                let mut outs = Vec::new();
                let mut a = vec![poison; want.len()];
                par_transpose_cols_into(s, sl, rows, cols, &mut a, ld, accumulate).unwrap();
                outs.push(("par_transpose_cols_into", a));
                if !strided {
                    let mut b = vec![poison; want.len()];
                    transpose_strided_into(s, rows, cols, &mut b, ld, accumulate).unwrap();
                    outs.push(("transpose_strided_into", b));
                    let mut c = vec![poison; want.len()];
                    par_transpose_strided_into(s, rows, cols, &mut c, ld, accumulate).unwrap();
                    outs.push(("par_transpose_strided_into", c));
                }
                for (name, got) in outs {
                    assert!(got == want, "{name} strided={strided} accumulate={accumulate}");
                }
            }
        }
        let mut dst = vec![to(0.0); (cols - 1) * ld + rows];
        let bad = [
            par_transpose_cols_into(&src, cols - 1, rows, cols, &mut dst, ld, false),
            par_transpose_cols_into(&src[..(rows - 1) * lds + cols - 1], lds, rows, cols, &mut dst, ld, false),
            par_transpose_cols_into(&src, lds, rows, cols, &mut dst[..(cols - 1) * ld + rows - 1], ld, false),
            par_transpose_cols_into(&src, lds, rows, cols, &mut dst, rows - 1, false),
        ];
        for (i, r) in bad.into_iter().enumerate() {
            assert!(matches!(r, Err(HyenaError::Invalid(_)) | Err(HyenaError::Shape { .. })), "bad case {i}: {r:?}");
        }
    }
    run::<f32>(|x| x as f32);
    run::<f64>(|x| x);
}
