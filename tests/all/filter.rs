//! Implicit-filter kernels (`kernels/filter.cu` through `ops::filter`) vs the CPU reference
//! (`cpu::filter`, run in f64 on the storage-rounded weights), forward and backward, on every
//! available device (the simulator in CI).
//!
//! Bounds (relative L2 error of each output tensor against the f64 reference):
//! - f32 storage: 1e-5. The hidden layers run in f64 on the device too (≈1e-15); the output layer
//!   is an f32 sum of F products (tensor-core 3xTF32 products in the forward: each within 3·2⁻²²
//!   of the f32 product; with 1xTF32 instead, the f32 cases fail this bound), the modulation an
//!   f32 expf; the backward's output-layer GEMMs
//!   are f32 sums of C products (g_last) and of ≤ 1024 positions per split (grad out_weight, the
//!   splits summed in f64), the hidden layers' per-block f32 partials summed in f64: each a few
//!   f32 ulps times √(terms) (~1e-6 at most here), so 1e-5 leaves margin while catching any
//!   indexing bug.
//! - bf16/f16 storage: 1e-2. Same arithmetic; the extra error is the final rounding of every stored
//!   output (≤ 2⁻⁹ relative for bf16, 2⁻¹¹ for f16), and for grad_z the f32→T rounding of an f64.
//!
//! Weights at realistic scales: z and t from `positional_embedding`, deltas from
//! `modulation_deltas`, weights and biases uniform ±1/√fan_in, freq = 1 or uniform in [0.5, 1.5],
//! grad_h uniform ±1. Outputs are poisoned with NaN (a margin behind each view must stay NaN, and
//! rows ≥ L of grad_z must stay untouched).
#![cfg(any(feature = "cuda", feature = "sim"))]

use crate::common;

use common::{poisoned, read_checked, Storage, MARGIN};
use half::{bf16, f16};
use hyena_kernels::cpu::filter::{filter_bwd, filter_fwd, modulation_deltas, positional_embedding, ImplicitFilter};
use hyena_kernels::device::{Device, DeviceBuffer};
use hyena_kernels::ops::filter::{
    implicit_filter_bwd, implicit_filter_bwd_with, implicit_filter_fwd, implicit_filter_fwd_fill, implicit_filter_fwd_keep, pre_len,
    FilterBuffers, FilterDims, FilterGradViews, MAX_LAYERS,
};
use hyena_kernels::ops::gating::{BiasFill, Broadcast};
use hyena_kernels::HyenaError;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::Arc;

/// One test shape.
#[derive(Clone, Copy, Debug)]
struct Case {
    l: usize,
    l_max: usize,
    e: usize,
    f: usize,
    c: usize,
    n_layers: usize,
    modulate: bool,
    shift: f64,
    random_freq: bool,
}

/// A random filter, every value already rounded to the storage type `T` (so the f64 reference
/// sees exactly what the device sees).
fn filter<T: Storage>(case: &Case, seed: u64) -> ImplicitFilter<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let r = |v: f64| T::from_f64(v).to_f64();
    let (z, t) = positional_embedding::<f64>(case.e, case.l_max).unwrap();
    let mut uni = |n: usize, a: f64| (0..n).map(|_| r(rng.random_range(-a..a))).collect::<Vec<f64>>();
    let mut layers = Vec::new();
    for i in 0..case.n_layers {
        let d_in = if i == 0 { case.e } else { case.f };
        let a = 1.0 / (d_in as f64).sqrt();
        layers.push((uni(case.f * d_in, a), uni(case.f, a)));
    }
    let out_weight = uni(case.c * case.f, 1.0 / (case.f as f64).sqrt());
    let freq = if case.random_freq { uni(case.f, 0.5).into_iter().map(|x| r(1.0 + x)).collect() } else { vec![1.0; case.f] };
    ImplicitFilter {
        emb_dim: case.e,
        width: case.f,
        channels: case.c,
        l_max: case.l_max,
        z: z.into_iter().map(r).collect(),
        t: t.into_iter().map(r).collect(),
        layers,
        freq,
        out_weight,
        deltas: modulation_deltas::<f64>(case.c).unwrap().into_iter().map(r).collect(),
        modulate: case.modulate,
        shift: case.shift,
        normalized: false,
    }
}

/// `common::assert_close`, printing the error with `HYENA_FILTER_TEST_VERBOSE` set.
fn assert_close(what: &str, got: &[f64], want: &[f64], bound: f64) {
    let err = common::assert_close(what, got, want, bound);
    if std::env::var_os("HYENA_FILTER_TEST_VERBOSE").is_some() {
        eprintln!("{what}: {err:.3e}");
    }
}

/// Poisoned gradient buffers (each view = the first `len` elements).
struct Grads<T: Storage> {
    z: DeviceBuffer<T>,
    layers: Vec<(DeviceBuffer<T>, DeviceBuffer<T>)>,
    freq: DeviceBuffer<T>,
    out_weight: DeviceBuffer<T>,
}
impl<T: Storage> Grads<T> {
    fn new(dev: &Arc<dyn Device>, w: &ImplicitFilter<f64>) -> Self {
        Grads {
            z: poisoned(dev, w.z.len()),
            layers: w.layers.iter().map(|(a, b)| (poisoned(dev, a.len()), poisoned(dev, b.len()))).collect(),
            freq: poisoned(dev, w.freq.len()),
            out_weight: poisoned(dev, w.out_weight.len()),
        }
    }
    fn views(&mut self) -> FilterGradViews<'_, T> {
        fn v<T: Storage>(b: &mut DeviceBuffer<T>) -> hyena_kernels::device::DeviceViewMut<'_, T> {
            let n = b.len() - MARGIN;
            b.view_mut(0..n).unwrap()
        }
        FilterGradViews {
            z: v(&mut self.z),
            layers: self.layers.iter_mut().map(|(a, b)| (v(a), v(b))).collect(),
            freq: v(&mut self.freq),
            out_weight: v(&mut self.out_weight),
        }
    }
    /// Every gradient as f64 (grad z: rows < L only; rows ≥ L must still hold the NaN poison).
    fn read(&self, tag: &str, e: usize, l: usize) -> Vec<(String, Vec<f64>)> {
        let mut out = Vec::new();
        let z = read_checked(&format!("{tag} grad z"), &self.z, self.z.len() - MARGIN);
        assert!(z[l * e..].iter().all(|x| x.is_nan()), "{tag}: grad z rows >= L were touched");
        out.push(("grad z".to_string(), z[..l * e].to_vec()));
        for (i, (a, b)) in self.layers.iter().enumerate() {
            out.push((format!("grad W{i}"), read_checked(tag, a, a.len() - MARGIN)));
            out.push((format!("grad b{i}"), read_checked(tag, b, b.len() - MARGIN)));
        }
        out.push(("grad freq".to_string(), read_checked(tag, &self.freq, self.freq.len() - MARGIN)));
        out.push(("grad out_weight".to_string(), read_checked(tag, &self.out_weight, self.out_weight.len() - MARGIN)));
        out
    }
}

/// The same values bit for bit (and the same length).
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn check<T: Storage>(dev: &Arc<dyn Device>, case: &Case, seed: u64) {
    let tag = format!("{} filter<{:?}> {case:?}", dev.name(), T::DTYPE);
    let w = filter::<T>(case, seed);
    let (e, c, l) = (case.e, case.c, case.l);
    let (h_ref, cache) = filter_fwd(&w, l).unwrap();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let gh: Vec<f64> = (0..c * l).map(|_| T::from_f64(rng.random_range(-1.0..1.0)).to_f64()).collect();
    let mut g_ref = w.zero_grads();
    filter_bwd(&w, &cache, &gh, &mut g_ref).unwrap();

    let bufs = FilterBuffers::<T>::upload(dev, &w).unwrap();
    let views = bufs.views();
    let dims = FilterDims::of(&w, l);
    let mut h = poisoned::<T>(dev, c * l);
    implicit_filter_fwd(dev, &views, &dims, h.view_mut(0..c * l).unwrap()).unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    assert_close(&format!("{tag} h"), &read_checked(&tag, &h, c * l), &h_ref, T::BOUND);

    let dgh = DeviceBuffer::from_host(dev, &gh.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>()).unwrap();
    let mut grads = Grads::<T>::new(dev, &w);
    implicit_filter_bwd(dev, &views, &dims, dgh.as_view(), grads.views()).unwrap_or_else(|e| panic!("{tag}: {e}"));
    let got = grads.read(&tag, e, l);
    let mut want = vec![g_ref.z[..l * e].to_vec()];
    for (a, b) in &g_ref.layers {
        want.push(a.clone());
        want.push(b.clone());
    }
    want.push(g_ref.freq.clone());
    want.push(g_ref.out_weight.clone());
    for ((name, g), r) in got.iter().zip(&want) {
        assert_close(&format!("{tag} {name}"), g, r, T::BOUND);
    }

    // Deterministic: a second backward gives the same bits.
    let mut again = Grads::<T>::new(dev, &w);
    implicit_filter_bwd(dev, &views, &dims, dgh.as_view(), again.views()).unwrap();
    let same = |what: &str, got2: &[(String, Vec<f64>)]| {
        for ((name, a), (_, b)) in got2.iter().zip(&got) {
            assert!(same_bits(a, b), "{tag}: {name} differs {what}");
        }
    };
    same("between two runs", &again.read(&tag, e, l));

    // The forward keeping its hidden pre-activations: the same h, every pre-activation written
    // (finite, the poisoned margin behind the view untouched), and the backward reading them
    // instead of recomputing gives the same gradients bit for bit.
    let n_pre = pre_len(&dims, case.n_layers).unwrap();
    let mut pre = DeviceBuffer::from_host(dev, &vec![f64::NAN; n_pre + MARGIN]).unwrap();
    let mut h2 = poisoned::<T>(dev, c * l);
    implicit_filter_fwd_keep(dev, &views, &dims, h2.view_mut(0..c * l).unwrap(), Some(pre.view_mut(0..n_pre).unwrap()))
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    assert!(same_bits(&read_checked(&tag, &h, c * l), &read_checked(&tag, &h2, c * l)), "{tag}: h differs when the forward keeps pre");
    // The same launch with two bias broadcasts (the operator's projections): h the same bits, each
    // broadcast exactly the bias values (by row: out[r][k] = bias[r % nb], nb = 3 < rows; by
    // column: out[r][k] = bias[k]), nothing past either output. fill[0] on the 16-byte pack path
    // with more packs than the launch has threads at L ≤ 2048 (≤ 32 blocks of ≤ 1024): the loop's
    // index steps; fill[1] (cols = C) on either path.
    let (r0, r1, l0c) = (8191, 5, 64);
    let b0: Vec<T> = (0..3).map(|_| T::from_f64(rng.random_range(-1.0..1.0))).collect();
    let b1: Vec<T> = (0..c).map(|_| T::from_f64(rng.random_range(-1.0..1.0))).collect();
    let (db0, db1) = (DeviceBuffer::from_host(dev, &b0).unwrap(), DeviceBuffer::from_host(dev, &b1).unwrap());
    let (mut o0, mut o1, mut h3) = (poisoned::<T>(dev, r0 * l0c), poisoned::<T>(dev, r1 * c), poisoned::<T>(dev, c * l));
    let fills = [
        Some(BiasFill { bias: db0.as_view(), how: Broadcast::ByRow, rows: r0, cols: l0c, out: o0.view_mut(0..r0 * l0c).unwrap() }),
        Some(BiasFill { bias: db1.as_view(), how: Broadcast::ByColumn, rows: r1, cols: c, out: o1.view_mut(0..r1 * c).unwrap() }),
    ];
    implicit_filter_fwd_fill(dev, &views, &dims, h3.view_mut(0..c * l).unwrap(), None, fills).unwrap_or_else(|e| panic!("{tag}: {e}"));
    assert!(same_bits(&read_checked(&tag, &h, c * l), &read_checked(&tag, &h3, c * l)), "{tag}: h differs with the fills");
    let want0: Vec<f64> = (0..r0 * l0c).map(|i| b0[(i / l0c) % 3].to_f64()).collect();
    let want1: Vec<f64> = (0..r1 * c).map(|i| b1[i % c].to_f64()).collect();
    assert!(same_bits(&read_checked(&format!("{tag} fill[0]"), &o0, r0 * l0c), &want0), "{tag}: fill[0] is not the broadcast");
    assert!(same_bits(&read_checked(&format!("{tag} fill[1]"), &o1, r1 * c), &want1), "{tag}: fill[1] is not the broadcast");

    let pre_host = pre.to_host().unwrap();
    assert!(pre_host[..n_pre].iter().all(|x| x.is_finite()), "{tag}: a pre-activation was not written");
    assert!(pre_host[n_pre..].iter().all(|x| x.is_nan()), "{tag}: the margin behind pre was written");
    let mut with_pre = Grads::<T>::new(dev, &w);
    implicit_filter_bwd_with(dev, &views, &dims, dgh.as_view(), with_pre.views(), Some(pre.view(0..n_pre).unwrap()))
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    same("given the forward's pre-activations", &with_pre.read(&tag, e, l));
}

/// The sweep: every length with both depths, modulation on/off, shift 0/0.05, fixed and random freq.
fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (i, &l) in [1usize, 2, 3, 17, 255, 1000].iter().enumerate() {
        for (j, &n_layers) in [1usize, 3].iter().enumerate() {
            let k = i * 2 + j;
            let big = l >= 255;
            v.push(Case {
                l,
                l_max: l + [0, 1, 7][k % 3],
                e: [5, 7, 33][k % 3],
                // F = 64 (safari's default) on the short shapes, smaller on the long ones to keep
                // the simulator fast; C crosses the 4-channel groups and 32-channel chunks.
                f: if big { [16, 24][j] } else { 64 },
                c: [1, 5, 37, 8][k % 4],
                n_layers,
                modulate: k % 4 != 3,
                shift: if k % 2 == 0 { 0.0 } else { 0.05 },
                random_freq: k % 3 != 0,
            });
        }
    }
    v
}

fn sweep<T: Storage>(salt: u64) {
    for dev in common::devices() {
        for (i, case) in cases().iter().enumerate() {
            check::<T>(&dev, case, 1000 * i as u64 + salt);
        }
    }
}

#[test]
fn filter_f32_matches_cpu() {
    sweep::<f32>(0);
}
#[test]
fn filter_bf16_matches_cpu() {
    sweep::<bf16>(1);
}
#[test]
fn filter_f16_matches_cpu() {
    sweep::<f16>(2);
}

/// Longer than the backward's 1024-position split (four full splits in one strided-batched GEMM
/// and a 1-position one alone) with 4 hidden layers, F = 32 and C = 40 (two 32-channel blocks of
/// the grad_h · window kernel).
#[test]
fn filter_f32_long_four_layers() {
    let case = Case { l: 4097, l_max: 4100, e: 9, f: 32, c: 40, n_layers: 4, modulate: true, shift: 0.05, random_freq: true };
    for dev in common::devices() {
        check::<f32>(&dev, &case, 4242);
    }
}

/// More channels than one 128-channel chunk of the forward's output layer, so the forward splits
/// them over `gridDim.y` (`ops::filter`'s channel split, while the tiles leave SMs without a block):
/// C = 300 over 65 tiles (3 chunks over 2 blocks along y: two chunks in one, one in the other, the
/// last chunk 44 channels) and C = 773 over 18 tiles (7 chunks, one per block along y). Odd L
/// makes c·L odd for every other row, so both the 2-element stores and the element stores of an
/// unaligned row run, and the last tile's partial pair of positions is stored element-wise.
#[test]
fn filter_fwd_channels_split_over_blocks() {
    let a = Case { l: 4097, l_max: 4100, e: 5, f: 16, c: 300, n_layers: 2, modulate: true, shift: 0.05, random_freq: true };
    let b = Case { l: 1101, l_max: 1101, e: 3, f: 8, c: 773, n_layers: 1, modulate: true, shift: 0.0, random_freq: true };
    for dev in common::devices() {
        check::<bf16>(&dev, &a, 300);
        check::<f32>(&dev, &a, 301);
        check::<f16>(&dev, &b, 773);
    }
}

/// L = 16384 (the longest row of the conv's shared-memory path), every storage type, small F and C
/// to keep the simulator's time down.
#[test]
fn filter_l16384_every_storage() {
    let case = Case { l: 16384, l_max: 16384, e: 5, f: 8, c: 3, n_layers: 3, modulate: true, shift: 0.05, random_freq: true };
    for dev in common::devices() {
        check::<f32>(&dev, &case, 16384);
        check::<bf16>(&dev, &case, 16385);
        check::<f16>(&dev, &case, 16386);
    }
}

/// F not a multiple of 4 (the fp64 MMAs' last k-step over the features in g_{i-1} = gpre·W_i
/// reads row F - 1 and zeroes those operands; the M tiles past F in the forward, the recompute and
/// d W_i), E = 5 (layer 0's last k-step over the inputs), C across channel chunks.
#[test]
fn filter_width_not_a_multiple_of_four() {
    let case = Case { l: 300, l_max: 301, e: 5, f: 10, c: 7, n_layers: 3, modulate: true, shift: 0.05, random_freq: true };
    for dev in common::devices() {
        check::<f32>(&dev, &case, 1010);
        check::<bf16>(&dev, &case, 1011);
    }
}

/// Two chunks of the backward's workspaces (32768 positions, then 100): two tiles per kernel-1
/// block (the second chunk's blocks offset), 33 splits of the grad out_weight GEMM (32 in one
/// strided batch, the last one 100 positions), a partial last block. Tiny E, F, C keep the
/// simulator's time down.
#[test]
fn filter_bwd_two_chunks() {
    let case = Case { l: 32768 + 100, l_max: 32768 + 101, e: 3, f: 4, c: 2, n_layers: 1, modulate: true, shift: 0.05, random_freq: true };
    for dev in common::devices() {
        check::<f32>(&dev, &case, 32868);
    }
}

/// The backward reads the pre-activations it is given (not a recompute): given the forward's own
/// it matches the plain backward bit for bit (`check`); given others (each scaled by 1.5) the
/// weight and freq gradients differ, and every gradient stays finite.
#[test]
fn filter_bwd_reads_the_given_pre_activations() {
    let case = Case { l: 70, l_max: 70, e: 5, f: 16, c: 9, n_layers: 2, modulate: true, shift: 0.0, random_freq: true };
    for dev in common::devices() {
        let w = filter::<f32>(&case, 11);
        let bufs = FilterBuffers::<f32>::upload(&dev, &w).unwrap();
        let views = bufs.views();
        let dims = FilterDims::of(&w, case.l);
        let n_pre = pre_len(&dims, case.n_layers).unwrap();
        let mut h = poisoned::<f32>(&dev, case.c * case.l);
        let mut pre = DeviceBuffer::<f64>::from_host(&dev, &vec![f64::NAN; n_pre]).unwrap();
        implicit_filter_fwd_keep(&dev, &views, &dims, h.view_mut(0..case.c * case.l).unwrap(), Some(pre.as_view_mut())).unwrap();
        let mut rng = StdRng::seed_from_u64(12);
        let gh: Vec<f32> = (0..case.c * case.l).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dgh = DeviceBuffer::from_host(&dev, &gh).unwrap();
        let scaled: Vec<f64> = pre.to_host().unwrap().iter().map(|x| 1.5 * x).collect();
        let other = DeviceBuffer::from_host(&dev, &scaled).unwrap();
        let mut g_own = Grads::<f32>::new(&dev, &w);
        implicit_filter_bwd_with(&dev, &views, &dims, dgh.as_view(), g_own.views(), Some(pre.as_view())).unwrap();
        let mut g_other = Grads::<f32>::new(&dev, &w);
        implicit_filter_bwd_with(&dev, &views, &dims, dgh.as_view(), g_other.views(), Some(other.as_view())).unwrap();
        let (a, b) = (g_own.read("own", case.e, case.l), g_other.read("other", case.e, case.l));
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(y.iter().all(|v| v.is_finite()), "{name}: not finite given other pre-activations");
            if name.starts_with("grad W") || name == "grad freq" {
                assert!(x != y, "{name}: the same given other pre-activations: the backward did not read them");
            }
        }
    }
}

#[test]
fn filter_rejects_bad_arguments_with_typed_errors() {
    let case = Case { l: 10, l_max: 12, e: 5, f: 8, c: 3, n_layers: 2, modulate: true, shift: 0.0, random_freq: false };
    for dev in common::devices() {
        let w = filter::<f32>(&case, 7);
        let bufs = FilterBuffers::<f32>::upload(&dev, &w).unwrap();
        let views = bufs.views();
        let dims = FilterDims::of(&w, case.l);
        let mut h = poisoned::<f32>(&dev, case.c * case.l);
        let mut hv = h.view_mut(0..case.c * case.l).unwrap();
        let untouched = |h: &DeviceBuffer<f32>| h.to_host().unwrap().iter().all(|x| x.is_nan());
        // L > l_max and L = 0: Length.
        let e = implicit_filter_fwd(&dev, &views, &FilterDims { l: 13, ..dims }, &mut hv).unwrap_err();
        assert!(matches!(e, HyenaError::Length(_)), "{e}");
        let e = implicit_filter_fwd(&dev, &views, &FilterDims { l: 0, ..dims }, &mut hv).unwrap_err();
        assert!(matches!(e, HyenaError::Length(_)), "{e}");
        // Wrong lengths: Shape.
        let e = implicit_filter_fwd(&dev, &views, &dims, hv.reborrow().into_view_mut(0..case.c * case.l - 1).unwrap()).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let n_pre = pre_len(&dims, case.n_layers).unwrap();
        let mut pre = DeviceBuffer::<f64>::from_host(&dev, &vec![f64::NAN; n_pre + 1]).unwrap();
        let e = implicit_filter_fwd_keep(&dev, &views, &dims, &mut hv, Some(pre.view_mut(0..n_pre + 1).unwrap())).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }) && e.to_string().contains("pre"), "{e}");
        // A bias broadcast given to the launch whose out is not rows·cols: Shape naming it.
        let fb = DeviceBuffer::from_host(&dev, &[1.0f32; 3]).unwrap();
        let mut fo = poisoned::<f32>(&dev, 7);
        let fill = BiasFill { bias: fb.as_view(), how: Broadcast::ByColumn, rows: 2, cols: 3, out: fo.view_mut(0..7).unwrap() };
        let e = implicit_filter_fwd_fill(&dev, &views, &dims, &mut hv, None, [None, Some(fill)]).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }) && e.to_string().contains("fill[1]"), "{e}");
        assert!(fo.to_host().unwrap().iter().all(|x| x.is_nan()), "a refused fill wrote");
        let mut bad = views.clone();
        bad.z = bufs.z.view(0..bufs.z.len() - 1).unwrap();
        let e = implicit_filter_fwd(&dev, &bad, &dims, &mut hv).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let mut bad = views.clone();
        bad.layers.swap(0, 1); // layer 0 must be [F, E]
        let e = implicit_filter_fwd(&dev, &bad, &dims, &mut hv).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        // Too many / no hidden layers, normalized: Invalid.
        let mut bad = views.clone();
        while bad.layers.len() <= MAX_LAYERS {
            bad.layers.push(views.layers[1]);
        }
        let e = implicit_filter_fwd(&dev, &bad, &dims, &mut hv).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        let mut bad = views.clone();
        bad.layers.clear();
        let e = implicit_filter_fwd(&dev, &bad, &dims, &mut hv).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        let e = implicit_filter_fwd(&dev, &views, &FilterDims { normalized: true, ..dims }, &mut hv).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        // An output overlapping an input no longer compiles (`&mut` and `&` borrows of one
        // buffer); adjacent parts of one buffer, split with `split_at`, work.
        let mut big = DeviceBuffer::<f32>::alloc(&dev, 100).unwrap();
        let (zpart, rest) = big.as_view_mut().split_at(60).unwrap();
        let mut alias = views.clone();
        alias.z = (&zpart).into();
        implicit_filter_fwd(&dev, &alias, &dims, rest.into_view_mut(0..30).unwrap()).unwrap();
        // Backward: wrong number of grad layers, short grad_h.
        let gh = DeviceBuffer::<f32>::from_host(&dev, &vec![0.5; case.c * case.l]).unwrap();
        let mut grads = Grads::<f32>::new(&dev, &w);
        let mut gv = grads.views();
        gv.layers.pop();
        let e = implicit_filter_bwd(&dev, &views, &dims, gh.as_view(), gv).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let e = implicit_filter_bwd(&dev, &views, &dims, gh.view(1..case.c * case.l).unwrap(), grads.views()).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        assert!(untouched(&h), "a failed call launched");
        assert!(grads.z.to_host().unwrap().iter().all(|x| x.is_nan()), "a failed backward launched");
        // f64 storage has no kernel.
        let z64 = DeviceBuffer::from_host(&dev, &vec![0.0f64; 60]).unwrap();
        let v64 = hyena_kernels::ops::filter::FilterViews {
            z: z64.as_view(),
            t: z64.view(0..12).unwrap(),
            layers: vec![(z64.view(0..40).unwrap(), z64.view(0..8).unwrap())],
            freq: z64.view(0..8).unwrap(),
            out_weight: z64.view(0..24).unwrap(),
            deltas: z64.view(0..3).unwrap(),
        };
        let mut h64 = DeviceBuffer::<f64>::alloc(&dev, 30).unwrap();
        let e = implicit_filter_fwd(&dev, &v64, &dims, &mut h64).unwrap_err();
        assert!(matches!(e, HyenaError::Dtype(_)), "{e}");
    }
}

/// More shared memory than the device allows: a typed error before anything is launched.
#[cfg(feature = "sim")]
#[test]
fn filter_shared_memory_limit_is_a_typed_error() {
    use hyena_kernels::device::sim::SimDevice;
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_max_shared_bytes(16 * 1024));
    let case = Case { l: 40, l_max: 40, e: 33, f: 64, c: 4, n_layers: 3, modulate: true, shift: 0.0, random_freq: false };
    let w = filter::<f32>(&case, 3);
    let bufs = FilterBuffers::<f32>::upload(&dev, &w).unwrap();
    let dims = FilterDims::of(&w, case.l);
    let mut h = poisoned::<f32>(&dev, case.c * case.l);
    let e = implicit_filter_fwd(&dev, &bufs.views(), &dims, h.view_mut(0..case.c * case.l).unwrap()).unwrap_err();
    assert!(matches!(e, HyenaError::SharedMemory { .. }), "{e}");
    let gh = DeviceBuffer::<f32>::from_host(&dev, &vec![0.5; case.c * case.l]).unwrap();
    let mut grads = Grads::<f32>::new(&dev, &w);
    let e = implicit_filter_bwd(&dev, &bufs.views(), &dims, gh.as_view(), grads.views()).unwrap_err();
    assert!(matches!(e, HyenaError::SharedMemory { .. }), "{e}");
    assert!(h.to_host().unwrap().iter().all(|x| x.is_nan()));
}

/// The simulator running threads and blocks last-first: results must not depend on the order.
#[cfg(feature = "sim")]
#[test]
fn filter_reverse_thread_order_matches_cpu() {
    use hyena_kernels::device::sim::{SimDevice, ThreadOrder};
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_thread_order(ThreadOrder::Reverse));
    let case = Case { l: 100, l_max: 120, e: 7, f: 16, c: 33, n_layers: 2, modulate: true, shift: 0.05, random_freq: true };
    check::<f32>(&dev, &case, 900);
}
