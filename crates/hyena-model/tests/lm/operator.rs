//! The operator beyond the golden files: finite differences for orders 2–4 (every parameter
//! tensor, sampled elements), causality, and typed errors.

use hyena_kernels::rel_l2;
use hyena_model::operator::{CachePolicy, ParamKind};
use hyena_model::{HyenaOperator, ModelError, OperatorConfig};
use rand::{Rng, SeedableRng};

fn cfg(order: usize, l_max: usize, normalized: bool) -> OperatorConfig {
    OperatorConfig {
        d_model: 3,
        l_max,
        order,
        filter_order: 5,
        emb_dim: 5,
        w: 2.0,
        num_inner_mlps: 1,
        modulate: true,
        shift: 0.05,
        normalized,
    }
}

fn loss(op: &HyenaOperator<f64>, u: &[f64], g: &[f64], b: usize, l: usize) -> f64 {
    let (y, _) = op.forward(u, b, l).unwrap();
    y.iter().zip(g).map(|(a, b)| a * b).sum()
}

#[test]
fn operator_gradients_match_finite_differences() {
    for (order, normalized) in [(2, false), (3, true), (4, false)] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(order as u64);
        let (b, l) = (2, 9);
        let op = HyenaOperator::<f64>::init(&cfg(order, 12, normalized), &mut rng).unwrap();
        let n = b * l * op.cfg.d_model;
        let u: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let g: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (_, cache) = op.forward(&u, b, l).unwrap();
        let mut grads = op.zeros_like();
        let gu = op.backward(&cache, &g, &mut grads).unwrap();
        let eps = 1e-6;
        // Input gradient, every element.
        let fd_u: Vec<f64> = (0..n)
            .map(|i| {
                let (mut up, mut um) = (u.clone(), u.clone());
                up[i] += eps;
                um[i] -= eps;
                (loss(&op, &up, &g, b, l) - loss(&op, &um, &g, b, l)) / (2.0 * eps)
            })
            .collect();
        assert!(rel_l2(&gu, &fd_u) < 1e-6, "order {order}: grad_u {:e}", rel_l2(&gu, &fd_u));
        // Every trainable tensor, every element (the model is tiny).
        let names: Vec<(String, ParamKind)> = op.params().into_iter().map(|p| (p.name, p.kind)).collect();
        let grad_params = grads.params();
        for (pi, (name, kind)) in names.iter().enumerate() {
            if *kind != ParamKind::Trainable {
                continue;
            }
            let len = grad_params[pi].data.len();
            let fdv: Vec<f64> = (0..len)
                .map(|j| {
                    let mut opp = op.clone();
                    opp.params_mut()[pi].data[j] += eps;
                    let mut opm = op.clone();
                    opm.params_mut()[pi].data[j] -= eps;
                    (loss(&opp, &u, &g, b, l) - loss(&opm, &u, &g, b, l)) / (2.0 * eps)
                })
                .collect();
            let e = rel_l2(grad_params[pi].data, &fdv);
            assert!(e < 1e-5, "order {order}: grad {name}: {e:e}");
        }
    }
}

#[test]
fn operator_is_causal() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for order in [2, 3] {
        let (b, l) = (1, 64);
        let op = HyenaOperator::<f64>::init(&cfg(order, 64, false), &mut rng).unwrap();
        let d = op.cfg.d_model;
        let u: Vec<f64> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (y0, _) = op.forward(&u, b, l).unwrap();
        for t0 in [1usize, 17, 40, 63] {
            let mut u2 = u.clone();
            for t in t0..l {
                for c in 0..d {
                    u2[t * d + c] += 3.0;
                }
            }
            let (y1, _) = op.forward(&u2, b, l).unwrap();
            for t in 0..t0 {
                for c in 0..d {
                    let diff = (y0[t * d + c] - y1[t * d + c]).abs();
                    assert!(diff < 1e-12, "order {order}: y[{t}] changed by {diff:e} when u[≥{t0}] changed");
                }
            }
            let changed = (0..d).any(|c| (y0[t0 * d + c] - y1[t0 * d + c]).abs() > 1e-9);
            assert!(changed, "order {order}: the change at t0={t0} must reach y[t0]");
        }
    }
}

#[test]
fn operator_bad_input_is_a_typed_error() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let op = HyenaOperator::<f32>::init(&cfg(2, 16, false), &mut rng).unwrap();
    let u = vec![0.5f32; 17 * 3];
    assert!(matches!(op.forward(&u, 1, 17), Err(ModelError::TooLong { l: 17, l_max: 16 })));
    assert!(matches!(op.forward(&u[..10], 1, 16), Err(ModelError::Kernel(_))));
    assert!(op.forward(&u, 1, 0).is_err());
    let mut bad = cfg(1, 16, false);
    assert!(HyenaOperator::<f32>::init(&bad, &mut rng).is_err());
    bad.order = 2;
    bad.emb_dim = 4;
    assert!(matches!(HyenaOperator::<f32>::init(&bad, &mut rng), Err(ModelError::Config(_))));
}

/// The device operator (simulator) in every storage type against the CPU operator in f64, on
/// random weights and inputs (rounded to the storage type), orders 2 and 3, odd L, the
/// `normalized` filter (host-side) too.
///
/// Bounds (relative L2, outputs and every parameter gradient): f32 storage 1e-5 (as the golden
/// files). bf16/f16 storage: 5·u, u the storage's unit roundoff (bf16 2⁻⁸ → 1.95e-2, f16 2⁻¹¹ →
/// 2.4e-3): a forward+backward stores about five intermediate tensors in the storage type (in_proj,
/// short conv, h, the conv outputs, grad_h …), each rounding adds up to u, and the parameter
/// gradients are sums over positions whose cancellation does not shrink that relative error.
/// Measured worst cases at these shapes: ≈ 3.5·u for both half types.
#[cfg(any(feature = "cuda", feature = "sim"))]
use crate::common;

#[cfg(any(feature = "cuda", feature = "sim"))]
#[test]
fn device_operator_matches_cpu_in_every_storage() {
    use hyena_kernels::device::{Device, DeviceScalar};
    use hyena_model::device_operator::DeviceOperator;
    use std::sync::Arc;
    fn check<S: DeviceScalar>(dev: &Arc<dyn Device>, order: usize, l: usize, normalized: bool, tol: f64) {
        check_b::<S>(dev, 2, order, l, normalized, tol)
    }
    fn check_b<S: DeviceScalar>(dev: &Arc<dyn Device>, b: usize, order: usize, l: usize, normalized: bool, tol: f64) {
        let c = cfg(order, l.max(64), normalized);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7 + order as u64 + l as u64);
        // Weights and inputs are rounded to the storage type first: the reference is the exact
        // (f64) result for the values the device actually holds.
        let round = |x: f64| S::from_f64(x).to_f64();
        let mut op = HyenaOperator::<f64>::init(&c, &mut rng).unwrap();
        for p in op.params_mut() {
            p.data.iter_mut().for_each(|x| *x = round(*x));
        }
        let n = b * l * c.d_model;
        let u: Vec<f64> = (0..n).map(|_| round(rng.random_range(-1.0..1.0))).collect();
        let gy: Vec<f64> = (0..n).map(|_| round(rng.random_range(-1.0..1.0))).collect();
        let (y, cache) = op.forward(&u, b, l).unwrap();
        let mut grads = op.zeros_like();
        let gu = op.backward(&cache, &gy, &mut grads).unwrap();
        let dop = DeviceOperator::<f64, S>::new(op.clone(), dev.clone()).unwrap();
        let (yd, cd) = dop.forward(&u, b, l).unwrap();
        let mut gd = op.zeros_like();
        let gud = dop.backward(&cd, &gy, &mut gd).unwrap();
        let tag = format!("{:?} {:?} B {b} order {order} L {l} normalized {normalized}", dev.kind(), S::DTYPE);
        let mut worst = 0.0f64;
        let mut cmp = |what: &str, ours: &[f64], want: &[f64]| {
            let e = rel_l2(ours, want);
            worst = worst.max(e);
            assert!(e <= tol, "{tag} {what}: rel L2 {e:.3e} > {tol:.1e}");
        };
        cmp("y", &yd, &y);
        cmp("grad_u", &gud, &gu);
        for (p, q) in gd.params().into_iter().zip(grads.params()) {
            if p.kind == ParamKind::Trainable {
                cmp(&p.name, p.data, q.data);
            }
        }
        println!("{tag}: worst rel L2 {worst:.3e}");
    }
    for dev in common::devices() {
        // The conv's multi-pass path too (forward and backward above 8192; the forward's row
        // spectra of a kept for the backward).
        check::<f32>(&dev, 2, 9000, false, 1e-5);
        // 16-bit storage past the f32 leaf length (512 positions): the position sums per item.
        check::<half::f16>(&dev, 2, 1500, false, 5.0 * 2f64.powi(-11));
        check::<half::bf16>(&dev, 2, 1500, false, 5.0 * 2f64.powi(-8));
        // The conv's two-block shapes in 16-bit storage, where the forward keeps the value before
        // the post gate for the backward (L = 1000; 17 and 33 below too).
        check::<half::f16>(&dev, 2, 1000, false, 5.0 * 2f64.powi(-11));
        // 4K < L ≤ 8K in 16-bit storage: the tensor-core forward and backward, the short conv's
        // backward fused into the latter (order 2).
        check::<half::f16>(&dev, 2, 6000, false, 5.0 * 2f64.powi(-11));
        check::<half::bf16>(&dev, 2, 8192, false, 5.0 * 2f64.powi(-8));
        // B = 1 there (the paper's setting): the filter's spectrum formed inside the fused
        // forward (no spectrum launch), the backward reducing each channel in its row's block.
        check_b::<half::bf16>(&dev, 1, 2, 8192, false, 5.0 * 2f64.powi(-8));
        check_b::<half::f16>(&dev, 1, 2, 6000, false, 5.0 * 2f64.powi(-11));
        for (order, l, normalized) in [(2, 17, false), (3, 33, false), (2, 9, true)] {
            check::<f32>(&dev, order, l, normalized, 1e-5);
            check::<half::bf16>(&dev, order, l, normalized, 5.0 * 2f64.powi(-8));
            check::<half::f16>(&dev, order, l, normalized, 5.0 * 2f64.powi(-11));
        }
    }
}

/// The device operator's forward at the paper's setting (B = 1, order 2, 2-byte storage, 4K < L ≤
/// 8K) runs the filter's spectrum inside the fused step (`hyena_fftconv_fwd_sc_tc_m13_*` forms it:
/// no `hyena_fftconv_filter_tc_m13_*` launch), and at B = 2 the spectrum kernel first, as before.
#[cfg(feature = "sim")]
#[test]
fn device_operator_forms_the_filter_spectrum_in_the_step_at_batch_1() {
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::Device;
    use hyena_model::device_operator::DeviceOperator;
    use std::sync::Arc;
    let l = 8192;
    let op = HyenaOperator::<f64>::init(&cfg(2, l, false), &mut rand::rngs::StdRng::seed_from_u64(3)).unwrap();
    for (b, spectrum_launch) in [(1usize, false), (2, true)] {
        let sim = Arc::new(SimDevice::new());
        let dev: Arc<dyn Device> = sim.clone();
        let dop = DeviceOperator::<f64, half::bf16>::new(op.clone(), dev.clone()).unwrap();
        let u: Vec<f64> = (0..b * l * 3).map(|i| ((i * 37 % 11) as f64) * 0.1 - 0.5).collect();
        sim.set_counters(true);
        dop.forward(&u, b, l).unwrap();
        sim.set_counters(false);
        let names: Vec<String> = sim.take_counters().into_iter().map(|k| k.kernel).collect();
        assert!(names.iter().any(|k| k == "hyena_fftconv_fwd_sc_tc_m13_bf16"), "B = {b}: {names:?}");
        assert_eq!(names.iter().any(|k| k == "hyena_fftconv_filter_tc_m13_bf16"), spectrum_launch, "B = {b}: {names:?}");
    }
}

/// A device wrapper that counts the host-facing operations (host copies both ways and explicit
/// synchronisations) and forwards everything to the device underneath.
#[cfg(any(feature = "cuda", feature = "sim"))]
mod counting {
    use hyena_kernels::device::{wrap::Wrapper, Device};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    pub struct Counting {
        pub inner: Arc<dyn Device>,
        pub htod: AtomicUsize,
        pub dtoh: AtomicUsize,
        pub sync: AtomicUsize,
    }

    impl Counting {
        pub fn new(inner: Arc<dyn Device>) -> Self {
            Self { inner, htod: AtomicUsize::new(0), dtoh: AtomicUsize::new(0), sync: AtomicUsize::new(0) }
        }
        /// (host-to-device copies, device-to-host copies, synchronisations) since the last call.
        pub fn take(&self) -> (usize, usize, usize) {
            (self.htod.swap(0, Relaxed), self.dtoh.swap(0, Relaxed), self.sync.swap(0, Relaxed))
        }
    }

    impl Wrapper for Counting {
        fn inner(&self) -> &dyn Device {
            &*self.inner
        }
        unsafe fn copy_htod_raw(&self, src: &[u8], dst: u64) -> hyena_kernels::Result<()> {
            self.htod.fetch_add(1, Relaxed);
            // SAFETY (both copies): forwarded under the caller's contract.
            unsafe { self.inner.copy_htod_raw(src, dst) }
        }
        unsafe fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> hyena_kernels::Result<()> {
            self.dtoh.fetch_add(1, Relaxed);
            unsafe { self.inner.copy_dtoh_raw(src, dst) }
        }
        fn synchronize(&self) -> hyena_kernels::Result<()> {
            self.sync.fetch_add(1, Relaxed);
            self.inner.synchronize()
        }
    }
}

/// A pass on device memory with weights uploaded beforehand queues only device work: no host
/// copy and no synchronisation in `forward_with` nor in `backward_device_grads` (the gradients
/// stay on the device); `DeviceGrads::add_to` then gives exactly what `backward` adds (the same
/// device work, copied afterwards). The first pass may upload the cached vector of ones; the
/// second must not copy anything.
#[cfg(any(feature = "cuda", feature = "sim"))]
#[test]
fn device_pass_makes_no_host_copy_or_synchronisation() {
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_model::device_operator::DeviceOperator;
    use std::sync::Arc;
    for dev in common::devices() {
        let counting = Arc::new(counting::Counting::new(dev.clone()));
        let cdev: Arc<dyn Device> = counting.clone();
        let (b, l) = (2, 40);
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let c = OperatorConfig { d_model: 6, ..cfg(2, l, false) };
        let dop = DeviceOperator::<f32, f32>::init(&c, cdev.clone(), &mut rng).unwrap();
        let n = b * l * c.d_model;
        let u: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let gy: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let w = dop.upload().unwrap();
        let gyd = DeviceBuffer::from_host(&cdev, &gy).unwrap();
        let mut grads = Vec::new();
        for pass in 0..2 {
            let ud = DeviceBuffer::from_host(&cdev, &u).unwrap();
            counting.take();
            let (y, cache) = dop.forward_with(w.clone(), ud, b, l).unwrap();
            let (gu, g) = dop.backward_device_grads(&cache, &gyd).unwrap();
            let (htod, dtoh, sync) = counting.take();
            assert_eq!((dtoh, sync), (0, 0), "pass {pass}: device-to-host copies, synchronisations");
            // Pass 0 uploads the ones (1 copy); pass 1 reuses them. Zero fills go through
            // `zero_raw` (a memset on a GPU), not a host copy.
            assert_eq!(htod, usize::from(pass == 0), "pass {pass}: host-to-device copies");
            let mut held = dop.op.zeros_like();
            g.add_to(&mut held).unwrap();
            grads.push((y.to_host().unwrap(), gu.to_host().unwrap(), held));
        }
        // The host path (`backward`) adds the same gradients.
        let (y, cache) = dop.forward(&u, b, l).unwrap();
        let mut host = dop.op.zeros_like();
        let gu = dop.backward(&cache, &gy, &mut host).unwrap();
        for (yd, gud, held) in &grads {
            assert_eq!(yd, &y);
            assert_eq!(gud, &gu);
            for (p, q) in held.params().into_iter().zip(host.params()) {
                assert_eq!(p.data, q.data, "{}", p.name);
            }
        }
    }
}

/// The inference path (`infer`: channel groups, no cache, the filter in blocks of positions) gives
/// forward's `y`. The two differ only in summation order (out_proj summed per group and added to
/// the bias first), so in f64 they agree to rounding: 1e-13 relative L2 is ~1000 ulps of headroom
/// while a wrong channel, gate or filter row gives O(1).
#[test]
fn infer_matches_forward_for_every_grouping() {
    for (order, normalized) in [(2, false), (3, true), (4, false)] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(10 + order as u64);
        let c = OperatorConfig { d_model: 5, ..cfg(order, 40, normalized) };
        let op = HyenaOperator::<f64>::init(&c, &mut rng).unwrap();
        let (b, l) = (2, 37);
        let u: Vec<f64> = (0..b * l * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (y, _) = op.forward(&u, b, l).unwrap();
        for g in [1, 2, 5, 9] {
            let yi = op.infer_grouped(&u, b, l, g).unwrap();
            assert!(rel_l2(&yi, &y) < 1e-13, "order {order}, group {g}: {:e}", rel_l2(&yi, &y));
        }
        assert!(rel_l2(&op.infer(&u, b, l).unwrap(), &y) < 1e-13);
    }
}

/// `infer` keeps the filter spectra between calls (`hyena_model::spectra`), keyed by every value
/// they depend on: after a change of any filter tensor, flag or of L, `infer` must give the
/// forward's `y` of the changed operator (the forward never uses the kept spectra), not the
/// previous one's (each change moves `y` by far more than the 1e-13 of the comparison); a repeated
/// call gives the same bits.
#[test]
fn infer_kept_spectra_follow_every_filter_tensor() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(77);
    let mut op = HyenaOperator::<f64>::init(&cfg(2, 40, false), &mut rng).unwrap();
    let (b, l) = (1, 23);
    let u: Vec<f64> = (0..b * 40 * 3).map(|_| rng.random_range(-1.0..1.0)).collect();
    let u = &u[..b * l * 3];
    let first = op.infer(u, b, l).unwrap();
    assert!(op.infer(u, b, l).unwrap() == first, "a repeated call gives the same bits");
    let changes: Vec<(&str, fn(&mut HyenaOperator<f64>))> = vec![
        ("z", |op| op.filter.z[4] += 0.5),
        ("t", |op| op.filter.t[3] += 0.25),
        ("layer weight", |op| op.filter.layers[0].0[2] += 0.5),
        ("layer bias", |op| op.filter.layers[1].1[0] += 0.5),
        ("freq", |op| op.filter.freq[1] *= 1.5),
        ("out weight", |op| op.filter.out_weight[0] += 0.5),
        ("deltas", |op| op.filter.deltas[0] *= 2.0),
        ("shift", |op| op.filter.shift += 0.5),
        ("normalized", |op| op.filter.normalized = !op.filter.normalized),
        ("modulate", |op| op.filter.modulate = !op.filter.modulate),
    ];
    let mut prev = first;
    for (what, change) in changes {
        change(&mut op);
        let yi = op.infer(u, b, l).unwrap();
        let (y, _) = op.forward(u, b, l).unwrap();
        assert!(rel_l2(&yi, &y) < 1e-13, "after a change of {what}: {:e}", rel_l2(&yi, &y));
        assert!(rel_l2(&prev, &y) > 1e-6, "the change of {what} moves y");
        prev = yi;
    }
    // Another length with the same weights: its own spectra.
    let (y, _) = op.forward(&u[..(l - 1) * 3], b, l - 1).unwrap();
    assert!(rel_l2(&op.infer(&u[..(l - 1) * 3], b, l - 1).unwrap(), &y) < 1e-13);
}

/// The training path that recomputes activations per channel group (`CachePolicy::Recompute`,
/// the one `forward` takes at long L) against the one that keeps them: same `y`, `grad_u` and
/// every parameter gradient. Only summation orders differ (out_proj and `grad_u` summed per group,
/// the GEMMs on narrower operands), so in f64 they agree to rounding: 1e-13 relative L2 leaves
/// ~1000 ulps of headroom while a wrong channel, row gather/scatter or a missing group gives O(1).
#[test]
fn recomputed_backward_matches_kept_for_every_grouping() {
    for (order, normalized, b) in [(2, false, 2), (3, true, 1), (4, false, 2)] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(20 + order as u64);
        let c = OperatorConfig { d_model: 5, ..cfg(order, 40, normalized) };
        let op = HyenaOperator::<f64>::init(&c, &mut rng).unwrap();
        let l = 37;
        let u: Vec<f64> = (0..b * l * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
        let gy: Vec<f64> = (0..b * l * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
        let run = |policy: CachePolicy| {
            let (y, cache) = op.forward_with(&u, b, l, policy).unwrap();
            let mut grads = op.zeros_like();
            let gu = op.backward(&cache, &gy, &mut grads).unwrap();
            (y, gu, grads, cache.recompute_group())
        };
        let (y, gu, grads, kept) = run(CachePolicy::Keep);
        assert_eq!(kept, None);
        for g in [1, 2, 5, 9] {
            let (yr, gur, gr, group) = run(CachePolicy::Recompute { group: g });
            assert_eq!(group, Some(g.min(5)), "order {order}, group {g}");
            assert!(rel_l2(&yr, &y) < 1e-13, "order {order}, group {g}: y {:e}", rel_l2(&yr, &y));
            assert!(rel_l2(&gur, &gu) < 1e-13, "order {order}, group {g}: grad_u {:e}", rel_l2(&gur, &gu));
            for (p, q) in gr.params().into_iter().zip(grads.params()) {
                let e = rel_l2(p.data, q.data);
                assert!(e < 1e-13 || q.data.iter().all(|&x| x == 0.0) && p.data == q.data, "order {order}, group {g}: {} {e:e}", p.name);
            }
        }
    }
}

/// `CachePolicy::Budget` keeps the activations exactly when they fit its bytes (`kept_bytes`), 0
/// always recomputes, `Auto` is the 2 GiB default, and `forward` follows the operator's own
/// policy (`set_cache_policy`), with the same `y` either way.
#[test]
fn cache_budget_is_an_operator_setting() {
    use hyena_kernels::cpu::fftconv::FftConvPlan;
    use hyena_model::operator::{kept_bytes, CachePolicy, TRAIN_CACHE_BYTES};
    let mut rng = rand::rngs::StdRng::seed_from_u64(30);
    let mut op = HyenaOperator::<f64>::init(&OperatorConfig { d_model: 5, ..cfg(2, 40, false) }, &mut rng).unwrap();
    let (b, l) = (2, 37);
    let u: Vec<f64> = (0..b * l * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
    let kept = kept_bytes(5, 2, b, l, FftConvPlan::<f64>::cached(l).unwrap().bins(), 8);
    assert_eq!(op.cache_policy(), CachePolicy::Auto);
    assert_eq!(CachePolicy::Auto.budget(), Some(TRAIN_CACHE_BYTES));
    let (y, cache) = op.forward(&u, b, l).unwrap();
    assert_eq!(cache.recompute_group(), None);
    for (bytes, recomputes) in [(0, true), (kept - 1, true), (kept, false)] {
        op.set_cache_policy(CachePolicy::Budget { bytes });
        let (yb, cache) = op.forward(&u, b, l).unwrap();
        assert_eq!(cache.recompute_group().is_some(), recomputes, "budget {bytes} of {kept} bytes");
        assert!(rel_l2(&yb, &y) < 1e-13, "budget {bytes}: {:e}", rel_l2(&yb, &y));
    }
    // The command line's `--train-cache-mib`: MiB, saturating; absent is `Auto`.
    assert_eq!(CachePolicy::from_budget_mib(None), CachePolicy::Auto);
    assert_eq!(CachePolicy::from_budget_mib(Some(3)), CachePolicy::Budget { bytes: 3 << 20 });
    assert_eq!(CachePolicy::from_budget_mib(Some(usize::MAX)), CachePolicy::Budget { bytes: usize::MAX });
}

/// The kept path's activations, the backward's temporaries and the implicit filter's work
/// buffers and cache come from `hyena_kernels::cpu::pool` with stale contents: a call after calls
/// of other lengths (whose buffers it reuses, filled with their values) must give the bits of the
/// first call, and so must a call after `pool::release` (fresh buffers). A buffer read before it
/// is written would differ. Both cache policies (kept, recomputed in groups of 2 channels) and a
/// normalised filter (its `modulated` buffer).
#[test]
fn pooled_buffers_carry_no_state_between_calls() {
    for (normalized, policy) in [(false, CachePolicy::Auto), (true, CachePolicy::Auto), (true, CachePolicy::Recompute { group: 2 })] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(31);
        let op = HyenaOperator::<f32>::init(&OperatorConfig { d_model: 6, ..cfg(3, 64, normalized) }, &mut rng).unwrap();
        let b = 2;
        let data = |l: usize, rng: &mut rand::rngs::StdRng| -> Vec<f32> { (0..b * l * 6).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let (u, gy) = (data(50, &mut rng), data(50, &mut rng));
        let call = |u: &[f32], gy: &[f32], l: usize| {
            let (y, cache) = op.forward_with(u, b, l, policy).unwrap();
            let mut grads = op.zeros_like();
            let gu = op.backward(&cache, gy, &mut grads).unwrap();
            let params: Vec<Vec<f32>> = grads.params().iter().map(|p| p.data.to_vec()).collect();
            (y, gu, params)
        };
        let first = call(&u, &gy, 50);
        for l in [64, 41, 50] {
            let (u2, gy2) = (data(l, &mut rng), data(l, &mut rng));
            call(&u2, &gy2, l);
            assert!(call(&u, &gy, 50) == first, "after a call at L = {l} ({policy:?}, normalized {normalized})");
        }
        hyena_model::pool::release();
        assert!(call(&u, &gy, 50) == first, "after pool::release ({policy:?}, normalized {normalized})");
    }
}

/// The same bits whatever the threads: forward and backward (every gradient) in rayon pools of 1,
/// 2 and 3 threads, and called from outside any pool (the global one, as `hyena bench` and
/// `train-recall` call the operator), must agree exactly. A reduction whose grouping follows the
/// pool's size or its work stealing (a rayon `fold`/`reduce` over positions) differs here: in f64
/// (f32 gradients would round most such differences away), at L = 1500 (the filter's position
/// sums have several chunks to split).
#[test]
fn same_bits_for_every_thread_count() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(47);
    let op = HyenaOperator::<f64>::init(&OperatorConfig { d_model: 4, filter_order: 16, emb_dim: 5, ..cfg(2, 1536, false) }, &mut rng).unwrap();
    let (b, l) = (2, 1500);
    let data = |rng: &mut rand::rngs::StdRng| -> Vec<f64> { (0..b * l * 4).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let (u, gy) = (data(&mut rng), data(&mut rng));
    let call = || {
        let (y, cache) = op.forward(&u, b, l).unwrap();
        let mut grads = op.zeros_like();
        let gu = op.backward(&cache, &gy, &mut grads).unwrap();
        let params: Vec<Vec<f64>> = grads.params().iter().map(|p| p.data.to_vec()).collect();
        (y, gu, params)
    };
    let here = call();
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for rep in 0..3 {
            let got = pool.install(call);
            assert!(got.0 == here.0 && got.1 == here.1, "{threads} threads, call {rep}: y or grad_u differs");
            for (i, (a, w)) in got.2.iter().zip(&here.2).enumerate() {
                assert!(a == w, "{threads} threads, call {rep}: gradient of parameter {i} ({}) differs", op.params()[i].name);
            }
        }
    }
}

/// `filter_infer` evaluates the filter in blocks of 256 positions, 32 blocks (8192 positions) per
/// window: at L = 8501 (two windows, the second of one full and one partial block, 53 positions)
/// it must give `filter_fwd`'s h, modulated and normalised, to rounding.
#[test]
fn filter_infer_matches_filter_fwd_across_blocks() {
    use hyena_kernels::cpu::filter::{filter_fwd, filter_infer};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for normalized in [false, true] {
        let op = HyenaOperator::<f64>::init(&OperatorConfig { d_model: 4, ..cfg(3, 8501, normalized) }, &mut rng).unwrap();
        let (h, _) = filter_fwd(&op.filter, 8501).unwrap();
        let hi = filter_infer(&op.filter, 8501).unwrap();
        assert!(rel_l2(&hi, &h) < 1e-14, "normalized {normalized}: {:e}", rel_l2(&hi, &h));
        let (h5, _) = filter_fwd(&op.filter, 5).unwrap();
        assert!(rel_l2(&filter_infer(&op.filter, 5).unwrap(), &h5) < 1e-14);
        assert!(filter_infer(&op.filter, 8502).is_err() && filter_infer(&op.filter, 0).is_err());
    }
}

/// f32 inference against the f32 forward (same arithmetic, reordered sums): 1e-5 relative.
#[test]
fn infer_f32_matches_forward() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let op = HyenaOperator::<f32>::init(&OperatorConfig { d_model: 6, ..cfg(2, 64, false) }, &mut rng).unwrap();
    let (b, l) = (1, 64);
    let u: Vec<f32> = (0..b * l * 6).map(|_| rng.random_range(-1.0..1.0)).collect();
    let (y, _) = op.forward(&u, b, l).unwrap();
    let y64: Vec<f64> = y.iter().map(|&x| x as f64).collect();
    let yi: Vec<f64> = op.infer_grouped(&u, b, l, 4).unwrap().iter().map(|&x| x as f64).collect();
    assert!(rel_l2(&yi, &y64) < 1e-5, "{:e}", rel_l2(&yi, &y64));
    assert!(matches!(op.infer(&u, 1, 65), Err(ModelError::TooLong { .. })));
}

/// The streaming reader/writer used by `hyena run`'s inference path: `save_floats` writes a file
/// `TensorFile::load` reads back exactly (f64, and f32 to f32 rounding), `TensorIndex::read_float`
/// reads what `TensorFile::save` wrote, and a truncated file is a typed error.
#[test]
fn streaming_tensor_io_round_trips() {
    use hyena_model::tensors::{save_floats, TensorIndex};
    use hyena_model::TensorFile;
    use safetensors::Dtype;
    let dir = std::env::temp_dir().join(format!("hyena-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let v: Vec<f64> = (0..3 * 5).map(|i| (i as f64 - 7.0) / 3.0).collect();
    let w: Vec<f64> = vec![1.5, -2.25];
    let mut meta = std::collections::HashMap::new();
    meta.insert("precision".to_string(), "f64".to_string());
    for dt in [Dtype::F64, Dtype::F32] {
        let p = dir.join(format!("{dt:?}.safetensors"));
        save_floats(&p, &[("a", &[3, 5], &v), ("b", &[2], &w)], &meta, dt).unwrap();
        let f = TensorFile::load(&p).unwrap();
        let round = |x: f64| if dt == Dtype::F32 { x as f32 as f64 } else { x };
        assert_eq!(f.float("a", Some(&[3, 5])).unwrap().1, v.iter().map(|&x| round(x)).collect::<Vec<_>>());
        assert_eq!(f.float("b", None).unwrap().1, &w[..]);
        assert_eq!(f.metadata.get("precision").map(String::as_str), Some("f64"));
        let idx = TensorIndex::open(&p).unwrap();
        let (s, a32) = idx.read_float::<f32>("a", None).unwrap();
        assert_eq!(s, vec![3, 5]);
        assert_eq!(a32, v.iter().map(|&x| x as f32).collect::<Vec<_>>());
        assert!(idx.read_float::<f64>("a", Some(&[5, 3])).is_err());
        assert!(matches!(idx.read_float::<f64>("c", None), Err(ModelError::MissingTensor(_))));
        // Truncated: the last tensor's range no longer fits.
        let bytes = std::fs::read(&p).unwrap();
        let t = dir.join("trunc.safetensors");
        std::fs::write(&t, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(TensorIndex::open(&t), Err(ModelError::Format { .. })));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Harnesses for instruction-count profiles of the CPU operator (`#[ignore]`d: they are tools, run
/// under callgrind by hand, see docs/BENCHMARKS.md "Fixed costs at L = 1K"). Each runs its work on
/// a one-thread rayon pool (`install`), so every instruction of the measured function executes on
/// one thread and `callgrind_annotate --inclusive=yes` attributes it to the `#[inline(never)]`
/// function named below.
mod profile {
    use super::*;

    /// Runs `f` on a rayon pool of `HYENA_PROFILE_THREADS` threads (default 1: every instruction
    /// on one thread; more to compare the multi-threaded paths' sample shares). With
    /// `HYENA_PROFILE_CALLER=main`, `f` runs on the test's own thread with the global pool sized so
    /// (as `hyena bench` calls the operator: every parallel loop is handed to the pool's workers
    /// and back).
    fn one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        let t = std::env::var("HYENA_PROFILE_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1usize);
        if std::env::var("HYENA_PROFILE_CALLER").is_ok_and(|v| v == "main") {
            // Fails when another test built the global pool first: then it has its own size.
            let _ = rayon::ThreadPoolBuilder::new().num_threads(t.max(1)).build_global();
            return f();
        }
        rayon::ThreadPoolBuilder::new().num_threads(t.max(1)).build().unwrap().install(f)
    }

    type FwdBwd = (Vec<f32>, Vec<f32>, Vec<Vec<f32>>);

    /// The forward's cache policy: [`CachePolicy::Recompute`] in groups of `HYENA_PROFILE_GROUP`
    /// channels when that is set, else the default ([`CachePolicy::Auto`]).
    fn policy() -> CachePolicy {
        match std::env::var("HYENA_PROFILE_GROUP").ok().and_then(|v| v.parse().ok()) {
            Some(group) => CachePolicy::Recompute { group },
            None => CachePolicy::Auto,
        }
    }

    #[inline(always)]
    fn fwd_bwd(op: &HyenaOperator<f32>, u: &[f32], gy: &[f32], b: usize, l: usize) -> FwdBwd {
        let (y, cache) = op.forward_with(u, b, l, policy()).unwrap();
        let mut grads = op.zeros_like();
        let gu = op.backward(&cache, gy, &mut grads).unwrap();
        (y, gu, grads.params().iter().map(|p| p.data.to_vec()).collect())
    }

    /// The first call (one-time costs: FFT plans, pooled workspaces), outside the measurement.
    #[inline(never)]
    fn warm_up_fwd_bwd(op: &HyenaOperator<f32>, u: &[f32], gy: &[f32], b: usize, l: usize) -> FwdBwd {
        fwd_bwd(op, u, gy, b, l)
    }

    /// `iters` calls, the measured ones (a different body from [`warm_up_fwd_bwd`], so that the
    /// compiler does not merge the two functions into one symbol).
    #[inline(never)]
    fn measured_fwd_bwd(op: &HyenaOperator<f32>, u: &[f32], gy: &[f32], b: usize, l: usize, iters: usize) -> Vec<FwdBwd> {
        (0..iters).map(|_| fwd_bwd(op, u, gy, b, l)).collect()
    }

    /// Forward+backward of the issue-15 shape (B = `HYENA_PROFILE_B`, default 1; D =
    /// `HYENA_PROFILE_D`, default 256; order 2, filter width 64, f32) at
    /// L = `HYENA_PROFILE_L` (default 1024), `HYENA_PROFILE_ITERS` times (default 1) after one
    /// call outside the measurement: `valgrind --tool=callgrind --toggle-collect='*measured_fwd_bwd*' <test
    /// binary> --ignored --exact operator::profile::operator_fwd_bwd`. Every call must give bit-identical
    /// results (reused workspaces may not carry state from one call to the next).
    #[test]
    #[ignore]
    fn operator_fwd_bwd() {
        let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        let (b, d) = (env("HYENA_PROFILE_B", 1), env("HYENA_PROFILE_D", 256));
        let (l, iters) = (env("HYENA_PROFILE_L", 1024), env("HYENA_PROFILE_ITERS", 1));
        let c = OperatorConfig { d_model: d, l_max: l, order: 2, filter_order: 64, emb_dim: 33, ..OperatorConfig::default() };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let op = HyenaOperator::<f32>::init(&c, &mut rng).unwrap();
        let u: Vec<f32> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let gy: Vec<f32> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        one_thread(|| {
            let first = warm_up_fwd_bwd(&op, &u, &gy, b, l);
            for r in measured_fwd_bwd(&op, &u, &gy, b, l, iters) {
                assert!(r == first, "a repeated call gave different results");
            }
        });
    }

    /// [`operator_fwd_bwd`]'s harness for the inference path (`infer`, no cache):
    /// `--toggle-collect='*measured_infer*'`; `HYENA_PROFILE_B`, `_D`, `_L`, `_ITERS` as there;
    /// `HYENA_PROFILE_FRESH_SPECTRA=1` computes the filter in every call.
    #[test]
    #[ignore]
    fn operator_infer() {
        #[inline(never)]
        fn warm_up_infer(op: &HyenaOperator<f32>, u: &[f32], b: usize, l: usize) -> Vec<f32> {
            op.infer(u, b, l).unwrap()
        }
        // `HYENA_PROFILE_FRESH_SPECTRA=1`: drop the filter spectra `infer` keeps between calls
        // before each call, so that every call computes the filter (as `hyena bench`'s
        // `hyena_fwd` column does).
        let fresh = std::env::var("HYENA_PROFILE_FRESH_SPECTRA").is_ok_and(|v| v == "1");
        #[inline(never)]
        // Each result is compared and dropped (as `hyena bench` drops it), not kept: kept results
        // would fault in fresh pages on every call.
        fn measured_infer(op: &HyenaOperator<f32>, u: &[f32], b: usize, l: usize, iters: usize, fresh: bool, first: &[f32]) -> usize {
            (0..iters)
                .filter(|_| {
                    if fresh {
                        hyena_model::spectra::release();
                    }
                    op.infer(u, b, l).unwrap() != first
                })
                .count()
        }
        let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        let (b, d) = (env("HYENA_PROFILE_B", 1), env("HYENA_PROFILE_D", 256));
        let (l, iters) = (env("HYENA_PROFILE_L", 1024), env("HYENA_PROFILE_ITERS", 1));
        let c = OperatorConfig { d_model: d, l_max: l, order: 2, filter_order: 64, emb_dim: 33, ..OperatorConfig::default() };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let op = HyenaOperator::<f32>::init(&c, &mut rng).unwrap();
        let u: Vec<f32> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        one_thread(|| {
            let first = warm_up_infer(&op, &u, b, l);
            let differing = measured_infer(&op, &u, b, l, iters, fresh, &first);
            assert_eq!(differing, 0, "repeated calls gave different results");
        });
    }

    use hyena_kernels::cpu::linear::matmul;
    use hyena_kernels::cpu::reduce::matmul_sum_k;

    /// `[r, c]` row-major → `[c, r]`.
    fn transpose(x: &[f32], r: usize, c: usize) -> Vec<f32> {
        (0..c * r).map(|i| x[(i % r) * c + i / r]).collect()
    }

    // One function per GEMM and operand layout (`n` = stored as used, `t` = transposed), each a
    // single call, for `callgrind_annotate --inclusive=yes` (names `gemm_*`).
    #[inline(never)]
    fn gemm_dpre_tt(c: &mut [f32], w: &[f32], gy: &[f32], d: usize, l: usize) {
        matmul(c, w, gy, d, l, d, true, true, false).unwrap();
    }
    #[inline(never)]
    fn gemm_dpre_nt(c: &mut [f32], wt: &[f32], gy: &[f32], d: usize, l: usize) {
        matmul(c, wt, gy, d, l, d, false, true, false).unwrap();
    }
    #[inline(never)]
    fn gemm_dwout_tt(c: &mut [f32], gy: &[f32], last: &[f32], d: usize, l: usize) {
        matmul_sum_k(c, &[(gy, last)], d, d, l, true, true).unwrap();
    }
    #[inline(never)]
    fn gemm_dwout_nn(ct: &mut [f32], gy: &[f32], last: &[f32], d: usize, l: usize) {
        matmul_sum_k(ct, &[(last, gy)], d, d, l, false, false).unwrap();
    }
    #[inline(never)]
    fn gemm_du_tn(gu: &mut [f32], gz: &[f32], w_in: &[f32], d: usize, cg: usize, l: usize) {
        matmul(gu, gz, w_in, l, d, cg, true, false, false).unwrap();
    }
    #[inline(never)]
    fn gemm_dwin_nn(c: &mut [f32], gz: &[f32], u: &[f32], d: usize, cg: usize, l: usize) {
        matmul_sum_k(c, &[(gz, u)], cg, d, l, false, false).unwrap();
    }
    #[inline(never)]
    fn gemm_inproj_nt(z: &mut [f32], w_in: &[f32], u: &[f32], d: usize, cg: usize, l: usize) {
        matmul(z, w_in, u, cg, l, d, false, true, false).unwrap();
    }
    #[inline(never)]
    fn gemm_outproj_tt(y: &mut [f32], last: &[f32], w: &[f32], d: usize, l: usize) {
        matmul(y, last, w, l, d, d, true, true, false).unwrap();
    }
    #[inline(never)]
    fn gemm_outproj_tn(y: &mut [f32], last: &[f32], wt: &[f32], d: usize, l: usize) {
        matmul(y, last, wt, l, d, d, true, false, false).unwrap();
    }
    // Channel-major alternatives: every operand row-major ("nn"), the `[L, D]` tensors transposed
    // to `[D, L]` (or back) by a copy outside the GEMM (timed apart: `transpose_ld`).
    #[inline(never)]
    fn gemm_inproj_nn(z: &mut [f32], w_in: &[f32], ut: &[f32], d: usize, cg: usize, l: usize) {
        matmul(z, w_in, ut, cg, l, d, false, false, false).unwrap();
    }
    #[inline(never)]
    fn gemm_du_t_tn(gut: &mut [f32], w_in: &[f32], gz: &[f32], d: usize, cg: usize, l: usize) {
        matmul(gut, w_in, gz, d, l, cg, true, false, false).unwrap();
    }
    #[inline(never)]
    fn gemm_dpre_nn(c: &mut [f32], wt: &[f32], gyt: &[f32], d: usize, l: usize) {
        matmul(c, wt, gyt, d, l, d, false, false, false).unwrap();
    }
    #[inline(never)]
    fn gemm_outproj_t_nn(yt: &mut [f32], w: &[f32], last: &[f32], d: usize, l: usize) {
        matmul(yt, w, last, d, l, d, false, false, false).unwrap();
    }
    #[inline(never)]
    fn transpose_ld(x: &[f32], r: usize, c: usize) -> Vec<f32> {
        transpose(x, r, c)
    }

    /// The operator's projection GEMMs at B = 1, D = 256, order 2 (CG = 768 in_proj rows), L =
    /// `HYENA_PROFILE_L` (default 1024), each in its current operand layout and in the alternative
    /// a cheap transposed copy of the small operand (W_out) or of the small result allows, on one
    /// thread: `valgrind --tool=callgrind <test binary> --ignored --exact operator::profile::gemm_layouts`,
    /// then `callgrind_annotate --inclusive=yes` on the `gemm_*` functions. The alternatives must
    /// give the same products: only the summation order differs (f32 sums of ≤ 1024 terms between f64
    /// accumulations, error ~u·√K ≈ 2e-6 at worst), so 1e-5 relative, while a wrong transpose gives O(1).
    #[test]
    #[ignore]
    fn gemm_layouts() {
        let l = std::env::var("HYENA_PROFILE_L").ok().and_then(|v| v.parse().ok()).unwrap_or(1024usize);
        let (d, cg) = (256usize, 768usize);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut r = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
        let (w, w_in, gy, u, last, gz) = (r(d * d), r(cg * d), r(l * d), r(l * d), r(d * l), r(cg * l));
        let wt = transpose(&w, d, d);
        one_thread(|| {
            let (mut a, mut b) = (vec![0.0f32; d * l], vec![0.0f32; d * l]);
            gemm_dpre_tt(&mut a, &w, &gy, d, l);
            gemm_dpre_nt(&mut b, &wt, &gy, d, l);
            assert!(rel_l2(&a, &b) < 1e-5, "dPre {:e}", rel_l2(&a, &b));
            let (mut a, mut b) = (vec![0.0f32; d * d], vec![0.0f32; d * d]);
            gemm_dwout_tt(&mut a, &gy, &last, d, l);
            gemm_dwout_nn(&mut b, &gy, &last, d, l);
            let bt = transpose(&b, d, d);
            assert!(rel_l2(&a, &bt) < 1e-5, "dW_out {:e}", rel_l2(&a, &bt));
            let mut gu = vec![0.0f32; l * d];
            gemm_du_tn(&mut gu, &gz, &w_in, d, cg, l);
            let mut dwin = vec![0.0f32; cg * d];
            gemm_dwin_nn(&mut dwin, &gz, &u, d, cg, l);
            let mut z = vec![0.0f32; cg * l];
            gemm_inproj_nt(&mut z, &w_in, &u, d, cg, l);
            let (mut a, mut b) = (vec![0.0f32; l * d], vec![0.0f32; l * d]);
            gemm_outproj_tt(&mut a, &last, &w, d, l);
            gemm_outproj_tn(&mut b, &last, &wt, d, l);
            assert!(rel_l2(&a, &b) < 1e-5, "out_proj {:e}", rel_l2(&a, &b));
            // The rest are checked by the operator's tests; here they must at least be finite.
            assert!(gu.iter().chain(&dwin).chain(&z).all(|x| x.is_finite()));
            // Channel-major alternatives against the layouts above.
            let ut = transpose_ld(&u, l, d);
            let mut z2 = vec![0.0f32; cg * l];
            gemm_inproj_nn(&mut z2, &w_in, &ut, d, cg, l);
            assert!(rel_l2(&z, &z2) < 1e-5, "in_proj {:e}", rel_l2(&z, &z2));
            let mut gut = vec![0.0f32; d * l];
            gemm_du_t_tn(&mut gut, &w_in, &gz, d, cg, l);
            let gu2 = transpose_ld(&gut, d, l);
            assert!(rel_l2(&gu, &gu2) < 1e-5, "dU {:e}", rel_l2(&gu, &gu2));
            let gyt = transpose_ld(&gy, l, d);
            let (mut a, mut b) = (vec![0.0f32; d * l], vec![0.0f32; d * l]);
            gemm_dpre_nt(&mut a, &wt, &gy, d, l);
            gemm_dpre_nn(&mut b, &wt, &gyt, d, l);
            assert!(rel_l2(&a, &b) < 1e-5, "dPre nn {:e}", rel_l2(&a, &b));
            let mut yt = vec![0.0f32; d * l];
            gemm_outproj_t_nn(&mut yt, &w, &last, d, l);
            let mut y = vec![0.0f32; l * d];
            gemm_outproj_tn(&mut y, &last, &wt, d, l);
            let y2 = transpose_ld(&yt, d, l);
            assert!(rel_l2(&y, &y2) < 1e-5, "out_proj nn {:e}", rel_l2(&y, &y2));
        });
    }
}
