//! Finite-difference checks of the LM's layer ops (LayerNorm, GELU-tanh, embedding, softmax
//! cross-entropy) and of the whole LM's backward on a tiny model, in f64.

use hyena_model::layers::*;
use hyena_model::lm::next_token_targets;
use hyena_model::train::TrainRng;
use hyena_model::{HyenaLm, LmConfig};
use rand::Rng;

fn randv(rng: &mut TrainRng, n: usize, s: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-s..s)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Central difference of `f` along coordinate `i` of `x`.
fn fd(x: &[f64], i: usize, h: f64, f: &dyn Fn(&[f64]) -> f64) -> f64 {
    let mut p = x.to_vec();
    p[i] += h;
    let fp = f(&p);
    p[i] -= 2.0 * h;
    let fm = f(&p);
    (fp - fm) / (2.0 * h)
}

fn assert_close(what: &str, ana: f64, num: f64) {
    let tol = 1e-6 * (1.0 + num.abs());
    assert!((ana - num).abs() <= tol, "{what}: analytic {ana:.10e} vs numeric {num:.10e}");
}

#[test]
fn layernorm_fd() {
    let mut rng = TrainRng::seed(1);
    let (rows, d, eps) = (3, 7, 1e-5);
    let x = randv(&mut rng, rows * d, 2.0);
    let w = randv(&mut rng, d, 1.5);
    let b = randv(&mut rng, d, 1.0);
    let r = randv(&mut rng, rows * d, 1.0);
    let (_, cache) = layernorm_fwd(&x, &w, &b, rows, d, eps).unwrap();
    let mut gw = vec![0.0; d];
    let mut gb = vec![0.0; d];
    let gx = layernorm_bwd(&x, &w, &cache, &r, rows, d, &mut gw, &mut gb).unwrap();
    let loss_x = |x: &[f64]| dot(&layernorm_fwd(x, &w, &b, rows, d, eps).unwrap().0, &r);
    for i in 0..rows * d {
        assert_close(&format!("dx[{i}]"), gx[i], fd(&x, i, 1e-5, &loss_x));
    }
    let loss_w = |w: &[f64]| dot(&layernorm_fwd(&x, w, &b, rows, d, eps).unwrap().0, &r);
    let loss_b = |b: &[f64]| dot(&layernorm_fwd(&x, &w, b, rows, d, eps).unwrap().0, &r);
    for j in 0..d {
        assert_close(&format!("dw[{j}]"), gw[j], fd(&w, j, 1e-5, &loss_w));
        assert_close(&format!("db[{j}]"), gb[j], fd(&b, j, 1e-5, &loss_b));
    }
    // Normalised rows: mean 0, variance 1 (w=1, b=0).
    let (y, _) = layernorm_fwd(&x, &vec![1.0; d], &vec![0.0; d], rows, d, 0.0).unwrap();
    for row in y.chunks(d) {
        let m = row.iter().sum::<f64>() / d as f64;
        let v = row.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / d as f64;
        assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-9);
    }
}

#[test]
fn gelu_tanh_fd_and_values() {
    let mut rng = TrainRng::seed(2);
    let x = randv(&mut rng, 40, 4.0);
    let r = randv(&mut rng, 40, 1.0);
    let gx = gelu_tanh_bwd(&x, &r).unwrap();
    let f = |x: &[f64]| dot(&gelu_tanh_fwd(x), &r);
    for i in 0..x.len() {
        assert_close(&format!("dx[{i}]"), gx[i], fd(&x, i, 1e-5, &f));
    }
    // Values of 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) from Python's math module.
    let y = gelu_tanh_fwd(&[1.0f64, -0.5, 3.0]);
    for (a, b) in y.iter().zip([0.8411919906082768, -0.15428599017485606, 2.996362607918227]) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn embedding_fwd_bwd() {
    let mut rng = TrainRng::seed(3);
    let (rows, d) = (5, 3);
    let table = randv(&mut rng, rows * d, 1.0);
    let ids = [4i64, 0, 4, 2];
    let y = embedding_fwd(&ids, &table, rows, d).unwrap();
    assert_eq!(&y[..3], &table[12..15]);
    let r = randv(&mut rng, ids.len() * d, 1.0);
    let mut g = vec![0.0; rows * d];
    embedding_bwd(&ids, &r, rows, d, &mut g).unwrap();
    let f = |t: &[f64]| dot(&embedding_fwd(&ids, t, rows, d).unwrap(), &r);
    for i in 0..rows * d {
        assert_close(&format!("dE[{i}]"), g[i], fd(&table, i, 1e-4, &f));
    }
    assert!(embedding_fwd(&[5i64], &table, rows, d).is_err());
    assert!(embedding_fwd(&[-1i64], &table, rows, d).is_err());
}

#[test]
fn cross_entropy_fd() {
    let mut rng = TrainRng::seed(4);
    let (n, v) = (4, 6);
    let logits = randv(&mut rng, n * v, 3.0);
    let targets = [2i64, IGNORE_INDEX, 5, 0];
    let (loss, g, counted) = cross_entropy(&logits, &targets, n, v).unwrap();
    assert_eq!(counted, 3);
    // Direct evaluation of the mean CE.
    let mut direct = 0.0;
    for (r, &t) in targets.iter().enumerate() {
        if t == IGNORE_INDEX {
            continue;
        }
        let row = &logits[r * v..(r + 1) * v];
        let lse = row.iter().map(|x| x.exp()).sum::<f64>().ln();
        direct += lse - row[t as usize];
    }
    assert!((loss - direct / 3.0).abs() < 1e-12);
    let f = |x: &[f64]| cross_entropy(x, &targets, n, v).unwrap().0;
    for i in 0..n * v {
        assert_close(&format!("dlogits[{i}]"), g[i], fd(&logits, i, 1e-5, &f));
    }
    assert!(g[v..2 * v].iter().all(|&x| x == 0.0), "ignored row has a gradient");
    assert!(cross_entropy(&logits, &[6i64, 0, 0, 0], n, v).is_err());
}

/// Whole-model gradient check on a tiny randomly initialised LM: a sample of coordinates of every
/// trainable tensor against central differences of the loss.
#[test]
fn tiny_lm_fd() {
    let cfg = LmConfig {
        d_model: 4,
        n_layer: 2,
        d_inner: 8,
        vocab_size: 6,
        l_max: 10,
        filter_order: 4,
        emb_dim: 3,
        w: 1.0,
        lr_pos_emb: 1e-5,
        ..Default::default()
    };
    let mut rng = TrainRng::seed(5);
    let mut lm = HyenaLm::<f64>::init(&cfg, &mut rng).unwrap();
    // Larger weights than the 0.02 init so that every path carries signal.
    for p in lm.params_mut() {
        if p.kind == hyena_model::operator::ParamKind::Trainable && !p.name.contains("norm") && !p.name.contains("ln_f") {
            for x in p.data.iter_mut() {
                *x += rng.random_range(-0.3..0.3);
            }
        }
    }
    let (b, l) = (2, 9);
    let ids: Vec<i64> = (0..b * l).map(|_| rng.random_range(0..6)).collect();
    let targets = next_token_targets(&ids, b, l);
    let mut grads = lm.zeros_like();
    lm.loss_and_grad(&ids, &targets, b, l, &mut grads).unwrap();
    let names: Vec<(String, usize)> = lm
        .params()
        .into_iter()
        .filter(|p| p.kind == hyena_model::operator::ParamKind::Trainable)
        .map(|p| (p.name, p.data.len()))
        .collect();
    assert!(names.iter().any(|(n, _)| n.ends_with("pos_emb.z")));
    let loss_at = |lm: &HyenaLm<f64>| {
        let mut g = lm.zeros_like();
        lm.loss_and_grad(&ids, &targets, b, l, &mut g).unwrap().0
    };
    for (pi, (name, len)) in names.iter().enumerate() {
        for k in [0, len / 2, len - 1] {
            let ana = grads.params().into_iter().find(|p| &p.name == name).unwrap().data[k];
            let mut m = lm.clone();
            let h = 1e-5;
            m.params_mut().into_iter().find(|p| &p.name == name).unwrap().data[k] += h;
            let lp = loss_at(&m);
            m.params_mut().into_iter().find(|p| &p.name == name).unwrap().data[k] -= 2.0 * h;
            let lmn = loss_at(&m);
            let num = (lp - lmn) / (2.0 * h);
            let tol = 1e-6 * (1.0 + num.abs()) + 1e-8;
            assert!((ana - num).abs() <= tol, "#{pi} {name}[{k}]: analytic {ana:.10e} vs numeric {num:.10e}");
        }
    }
}
