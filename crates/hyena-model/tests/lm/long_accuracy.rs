//! f32 accuracy at long sequence lengths (issue 12): `y`, `grad_u` and every parameter gradient of
//! the operator in f32 storage against the f64 CPU operator, relative L2 ≤ 1e-5, at L = 64K on the
//! CPU (about a second) and on a device (the simulator with feature `sim`, a GPU with `cuda`), and
//! at L = 1M on the CPU and the device. The device tests and the 1M tests are `#[ignore]`d (each
//! costs ~40 s to many minutes on CI's 2 cores); run them with `--ignored`, results in
//! docs/BENCHMARKS.md ("f32 accuracy at long L").
//!
//! The parameter gradients are reductions over B·L positions; accumulated naively in f32 their
//! relative error grows like u·√(B·L) (u = 2⁻²⁴): ≈ 1.5e-5 at 64K, 6e-5 at 1M. The shapes are tiny
//! (D = 4, filter width 8) so that each test costs seconds: the error of a sum depends on its
//! length, not on D.

use hyena_kernels::rel_l2;
use hyena_model::operator::ParamKind;
use hyena_model::{HyenaOperator, OperatorConfig};
use rand::{Rng, SeedableRng};

/// The bound of the golden-file conformance (README), never loosened.
const TOL: f64 = 1e-5;

fn cfg(order: usize, l: usize) -> OperatorConfig {
    OperatorConfig {
        d_model: 4,
        l_max: l,
        order,
        filter_order: 8,
        emb_dim: 5,
        w: 1.0,
        num_inner_mlps: 1,
        modulate: true,
        shift: 0.05,
        normalized: false,
    }
}

/// A random operator whose weights are exactly representable in f32, with random `u` and `grad_y`
/// (also f32 values), and the f64 reference: `(op, u, gy, y, grad_u, grads)`.
struct Case {
    op: HyenaOperator<f64>,
    b: usize,
    l: usize,
    u: Vec<f64>,
    gy: Vec<f64>,
    y: Vec<f64>,
    gu: Vec<f64>,
    grads: HyenaOperator<f64>,
}

fn case(order: usize, b: usize, l: usize, seed: u64) -> Case {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut op = HyenaOperator::<f64>::init(&cfg(order, l), &mut rng).unwrap();
    for p in op.params_mut() {
        p.data.iter_mut().for_each(|x| *x = *x as f32 as f64);
    }
    let n = b * l * op.cfg.d_model;
    let u: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0f32..1.0) as f64).collect();
    let gy: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0f32..1.0) as f64).collect();
    let (y, cache) = op.forward(&u, b, l).unwrap();
    let mut grads = op.zeros_like();
    let gu = op.backward(&cache, &gy, &mut grads).unwrap();
    Case { op, b, l, u, gy, y, gu, grads }
}

/// Compare every output of a run against the reference; prints one line per tensor (the
/// measured table of docs/BENCHMARKS.md comes from these lines) and returns the failures.
fn compare(tag: &str, c: &Case, y: &[f64], gu: &[f64], grads: &HyenaOperator<f64>) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |what: &str, ours: &[f64], want: &[f64]| {
        let e = rel_l2(ours, want);
        println!("{tag} {what}: rel L2 {e:.3e}");
        if !(e <= TOL) {
            bad.push(format!("{tag} {what}: rel L2 {e:.3e} > {TOL:.0e}"));
        }
    };
    check("y", y, &c.y);
    check("grad_u", gu, &c.gu);
    for (p, q) in grads.params().into_iter().zip(c.grads.params()) {
        if p.kind == ParamKind::Trainable {
            check(&p.name, p.data, q.data);
        }
    }
    bad
}

fn to_f32_op(op: &HyenaOperator<f64>) -> HyenaOperator<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut o = HyenaOperator::<f32>::init(&op.cfg, &mut rng).unwrap();
    for (dst, src) in o.params_mut().into_iter().zip(op.params()) {
        dst.data.iter_mut().zip(src.data).for_each(|(a, &x)| *a = x as f32);
    }
    o
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn cpu_f32(c: &Case) -> Vec<String> {
    let op = to_f32_op(&c.op);
    let u: Vec<f32> = c.u.iter().map(|&x| x as f32).collect();
    let gy: Vec<f32> = c.gy.iter().map(|&x| x as f32).collect();
    let t = std::time::Instant::now();
    let (y, cache) = op.forward(&u, c.b, c.l).unwrap();
    let mut g = op.zeros_like();
    let gu = op.backward(&cache, &gy, &mut g).unwrap();
    println!("cpu f32 order {} B {} L {}: f32 forward+backward {:.2} s", c.op.cfg.order, c.b, c.l, t.elapsed().as_secs_f64());
    // The gradients back in f64 (exact widening) for the comparison.
    let mut g64 = c.op.zeros_like();
    for (dst, src) in g64.params_mut().into_iter().zip(g.params()) {
        dst.data.iter_mut().zip(src.data).for_each(|(a, &x)| *a = x as f64);
    }
    let tag = format!("cpu f32 order {} B {} L {}", c.op.cfg.order, c.b, c.l);
    compare(&tag, c, &widen(&y), &widen(&gu), &g64)
}

#[test]
fn cpu_f32_holds_1e5_at_64k() {
    let mut bad = Vec::new();
    for (order, b) in [(2, 2), (3, 1)] {
        bad.extend(cpu_f32(&case(order, b, 1 << 16, 40 + order as u64)));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// L = 2²⁰ (1M) on the CPU: ~40 s (f64 reference included) and ~2 GiB on a 2-core machine, so
/// not in CI's budget. Run: `cargo test -p hyena-model --test lm -- --ignored --nocapture long_accuracy::`;
/// measured errors and time are recorded in docs/BENCHMARKS.md ("f32 accuracy at long L").
#[test]
#[ignore]
fn cpu_f32_holds_1e5_at_1m() {
    let mut bad = Vec::new();
    for order in [2, 3] {
        bad.extend(cpu_f32(&case(order, 1, 1 << 20, 50 + order as u64)));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[cfg(any(feature = "cuda", feature = "sim"))]
use crate::common;

#[cfg(any(feature = "cuda", feature = "sim"))]
fn device_f32(dev: &std::sync::Arc<dyn hyena_kernels::device::Device>, c: &Case) -> Vec<String> {
    use hyena_model::device_operator::DeviceOperator;
    let dop = DeviceOperator::<f64, f32>::new(c.op.clone(), dev.clone()).unwrap();
    let t = std::time::Instant::now();
    let (y, cache) = dop.forward(&c.u, c.b, c.l).unwrap();
    let mut g = c.op.zeros_like();
    let gu = dop.backward(&cache, &c.gy, &mut g).unwrap();
    let tag = format!("{:?} f32 order {} B {} L {}", dev.kind(), c.op.cfg.order, c.b, c.l);
    println!("{tag}: forward+backward {:.2} s", t.elapsed().as_secs_f64());
    compare(&tag, c, &y, &gu, &g)
}

/// L = 2¹⁶ through the device path. In the simulator this takes 1–2 minutes on the 2-core CI
/// machine (the kernels run as CPU fibers), past CI's budget, so it is `#[ignore]`d; CI keeps the
/// chunked device reductions covered at L = 9000 and 16400 (`tests/lm/operator.rs`). Run:
/// `cargo test -p hyena-model --features sim --test lm -- --ignored --nocapture long_accuracy::`;
/// measured errors and time in docs/BENCHMARKS.md ("f32 accuracy at long L").
#[cfg(any(feature = "cuda", feature = "sim"))]
#[test]
#[ignore]
fn device_f32_holds_1e5_at_64k() {
    let mut bad = Vec::new();
    for dev in common::devices() {
        for (order, b) in [(2, 2), (3, 1)] {
            bad.extend(device_f32(&dev, &case(order, b, 1 << 16, 60 + order as u64)));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// L = 2²⁰ through the device path: on a GPU this is the 1M device check; in the
/// simulator it takes tens of minutes. Run: `cargo test -p hyena-model --features cuda (or sim)
/// --test lm -- --ignored --nocapture device_f32_holds_1e5_at_1m`.
#[cfg(any(feature = "cuda", feature = "sim"))]
#[test]
#[ignore]
fn device_f32_holds_1e5_at_1m() {
    let mut bad = Vec::new();
    for dev in common::devices() {
        for order in [2, 3] {
            bad.extend(device_f32(&dev, &case(order, 1, 1 << 20, 70 + order as u64)));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
