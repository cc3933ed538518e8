//! Gated causal FFT convolution checks shared by `tests/all/fftconv.rs` (single-pass rows) and
//! `tests/all/fftconv_long.rs` (multi-pass rows): the device result vs `cpu::fftconv` run in f64 on
//! the storage-rounded inputs, every output poisoned with NaN (plus a margin that must stay NaN),
//! within [`Storage::BOUND`] (forward and backward alike: every output is a handful of fp32 FFTs;
//! grad_h and grad_D add a sum over the batch).

use super::{assert_close, poisoned, random, read_checked, widen, Storage};
use hyena_kernels::cpu::fftconv::{gated_fftconv_bwd as cpu_bwd, gated_fftconv_fwd as cpu_fwd, FftConvPlan, GatedConvGrads, Rows};
use hyena_kernels::device::{Device, DeviceBuffer};
use hyena_kernels::ops::fftconv::{
    a_spectrum_len, bwd_tensor_cores, fft_size, fftconv_filter, gated_fftconv_bwd, gated_fftconv_bwd_spectrum_inner,
    fwd_tensor_cores, gated_fftconv_bwd_spectrum_keep, gated_fftconv_fwd, gated_fftconv_fwd_spectrum_inner, gated_fftconv_fwd_spectrum_keep,
    spectra_four_step, spectrum_len, GatedConvGradViews,
};
use rand::{rngs::StdRng, SeedableRng};
use std::sync::Arc;

/// One row's real spectrum (bins 0 … m) as the kernels store it, interleaved re/im: natural order,
/// or with `four` (`ops::fftconv::spectra_four_step`) bin k < m at 256·(k mod 32) + k/32, bin m last.
pub fn spectrum_row_in_layout(bins: &[realfft::num_complex::Complex<f64>], four: bool) -> Vec<f64> {
    let m = bins.len() - 1;
    let mut row = vec![0f64; 2 * bins.len()];
    for (k, z) in bins.iter().enumerate() {
        let at = if four && k < m { 256 * (k % 32) + k / 32 } else { k };
        row[2 * at] = z.re;
        row[2 * at + 1] = z.im;
    }
    row
}

/// `x` as contiguous [B, C, L] rows.
pub fn rows_of(x: &[f64], bs: usize, c: usize, l: usize) -> Rows<'_, f64> {
    Rows::contiguous(x, bs, c, l).unwrap()
}

/// One forward case: random storage-rounded inputs and the f64 reference output.
pub struct FwdCase<T> {
    pub bs: usize,
    pub c: usize,
    pub l: usize,
    /// Whether pre and post are given.
    pub gates: bool,
    pub v: Vec<T>,
    pub pre: Vec<T>,
    pub post: Vec<T>,
    pub h: Vec<T>,
    pub d: Vec<T>,
    pub want: Vec<f64>,
}

/// Draw a forward case from `seed` (v, pre, post, h, D in that order) and its f64 reference through
/// the CPU FFT path.
pub fn fwd_case<T: Storage>(bs: usize, c: usize, l: usize, gates: bool, seed: u64) -> FwdCase<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = bs * c * l;
    let (v, pre, post) = (random::<T>(&mut rng, n), random::<T>(&mut rng, n), random::<T>(&mut rng, n));
    let (h, d) = (random::<T>(&mut rng, c * l), random::<T>(&mut rng, c));
    let (vf, pref, postf, hfl, df) = (widen(&v), widen(&pre), widen(&post), widen(&h), widen(&d));
    let plan = FftConvPlan::<f64>::new(l).unwrap();
    let spec = plan.filter_spectra(&hfl, c).unwrap();
    let rows = |x| rows_of(x, bs, c, l);
    let mut want = vec![0f64; n];
    let (p_rows, q_rows) = if gates { (Some(rows(&pref)), Some(rows(&postf))) } else { (None, None) };
    cpu_fwd(&plan, &spec, &df, rows(&vf), p_rows, q_rows, &mut want).unwrap();
    FwdCase { bs, c, l, gates, v, pre, post, h, d, want }
}

/// One `gated_fftconv_fwd` call (filter spectrum + convolution) on `dev` vs `k.want`.
pub fn check_fwd<T: Storage>(dev: &Arc<dyn Device>, k: &FwdCase<T>) {
    let (bs, c, l, gates) = (k.bs, k.c, k.l, k.gates);
    let tag = format!("{} gated_fftconv_fwd<{:?}> B={bs} C={c} L={l} gates={gates}", dev.name(), T::DTYPE);
    let n = bs * c * l;
    let up = |x: &[T]| DeviceBuffer::from_host(dev, x).unwrap();
    let (dv, dpre, dpost, dh, dd) = (up(&k.v), up(&k.pre), up(&k.post), up(&k.h), up(&k.d));
    let mut dy = poisoned::<T>(dev, n);
    let (gp, gq) = if gates { (Some(dpre.as_view()), Some(dpost.as_view())) } else { (None, None) };
    gated_fftconv_fwd(dev, &dh, &dd, &dv, gp, gq, bs, c, l, dy.view_mut(0..n).unwrap()).unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    let err = assert_close(&tag, &read_checked(&tag, &dy, n), &k.want, T::BOUND);
    eprintln!("{tag}: relative L2 error {err:.3e}");
}

/// `gated_fftconv_fwd_spectrum_inner` on `dev` (gates given): y vs `k.want` and inner (the value
/// before the post gate) vs the f64 reference run without the post gate, both poisoned before.
pub fn check_fwd_inner<T: Storage>(dev: &Arc<dyn Device>, k: &FwdCase<T>) {
    let (bs, c, l) = (k.bs, k.c, k.l);
    assert!(k.gates, "inner: the value before the post gate");
    let tag = format!("{} gated_fftconv_fwd_spectrum_inner<{:?}> B={bs} C={c} L={l}", dev.name(), T::DTYPE);
    let n = bs * c * l;
    let plan = FftConvPlan::<f64>::new(l).unwrap();
    let spec = plan.filter_spectra(&widen(&k.h), c).unwrap();
    let (vf, pref) = (widen(&k.v), widen(&k.pre));
    let mut want_inner = vec![0f64; n];
    cpu_fwd(&plan, &spec, &widen(&k.d), rows_of(&vf, bs, c, l), Some(rows_of(&pref, bs, c, l)), None, &mut want_inner).unwrap();
    let up = |x: &[T]| DeviceBuffer::from_host(dev, x).unwrap();
    let (dv, dpre, dpost, dh, dd) = (up(&k.v), up(&k.pre), up(&k.post), up(&k.h), up(&k.d));
    let mut hf = DeviceBuffer::<f32>::alloc(dev, spectrum_len(c, l).unwrap()).unwrap();
    fftconv_filter(dev, &dh, c, l, &mut hf).unwrap();
    let (mut dy, mut dz) = (poisoned::<T>(dev, n), poisoned::<T>(dev, n));
    gated_fftconv_fwd_spectrum_inner(
        dev,
        &hf,
        &dd,
        &dv,
        Some(dpre.as_view()),
        Some(dpost.as_view()),
        bs,
        c,
        l,
        dy.view_mut(0..n).unwrap(),
        Some(dz.view_mut(0..n).unwrap()),
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    for (name, buf, want) in [("y", &dy, &k.want), ("inner", &dz, &want_inner)] {
        let what = format!("{tag} {name}");
        let err = assert_close(&what, &read_checked(&what, buf, n), want, T::BOUND);
        eprintln!("{what}: relative L2 error {err:.3e}");
    }
}

/// One backward case: storage-rounded inputs drawn from `rng` (v, pre, post, grad_y, h, D in that
/// order) and the f64 reference gradients (pre and post given with `gates`).
struct BwdCase<T> {
    v: Vec<T>,
    pre: Vec<T>,
    post: Vec<T>,
    gy: Vec<T>,
    h: Vec<T>,
    d: Vec<T>,
    want: GatedConvGrads<f64>,
}

fn bwd_case<T: Storage>(rng: &mut StdRng, bs: usize, c: usize, l: usize, gates: bool) -> BwdCase<T> {
    let n = bs * c * l;
    let (v, pre, post, gy) = (random::<T>(rng, n), random::<T>(rng, n), random::<T>(rng, n), random::<T>(rng, n));
    let (h, d) = (random::<T>(rng, c * l), random::<T>(rng, c));
    let (vf, pref, postf, gyf) = (widen(&v), widen(&pre), widen(&post), widen(&gy));
    let plan = FftConvPlan::<f64>::new(l).unwrap();
    let spec = plan.filter_spectra(&widen(&h), c).unwrap();
    let rows = |x| rows_of(x, bs, c, l);
    let (p_rows, q_rows) = if gates { (Some(rows(&pref)), Some(rows(&postf))) } else { (None, None) };
    let want = cpu_bwd(&plan, &spec, &widen(&d), rows(&vf), p_rows, q_rows, &gyf).unwrap();
    BwdCase { v, pre, post, gy, h, d, want }
}

/// Fresh NaN-poisoned gradient buffers `[grad_v, grad_pre, grad_post, grad_h, grad_D]` for
/// `(B·C·L = n, C, L)`.
fn poisoned_grads<T: Storage>(dev: &Arc<dyn Device>, n: usize, c: usize, l: usize) -> [DeviceBuffer<T>; 5] {
    [n, n, n, c * l, c].map(|k| poisoned::<T>(dev, k))
}

/// The backward's views of `g` ([`poisoned_grads`]): grad_pre and grad_post with `gates`.
fn grad_views<T: Storage>(g: &mut [DeviceBuffer<T>; 5], n: usize, c: usize, l: usize, gates: bool) -> GatedConvGradViews<'_, T> {
    let [gv, gpre, gpost, gh, gd] = g;
    GatedConvGradViews {
        grad_v: gv.view_mut(0..n).unwrap(),
        grad_pre: gates.then(|| gpre.view_mut(0..n).unwrap()),
        grad_post: gates.then(|| gpost.view_mut(0..n).unwrap()),
        grad_h: gh.view_mut(0..c * l).unwrap(),
        grad_d: gd.view_mut(0..c).unwrap(),
    }
}

/// `gated_fftconv_bwd_spectrum_inner` on `dev` (gates given) with an `inner` drawn at random, not
/// the forward's: grad_post must be exactly `round(inner ⊙ grad_y)` (the value given is read, not
/// recomputed), and grad_v, grad_pre, grad_h, grad_D the f64 reference's (inner plays no part
/// in them). Every output poisoned before.
pub fn check_bwd_reads_inner<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gated_fftconv_bwd_spectrum_inner<{:?}> B={bs} C={c} L={l}", dev.name(), T::DTYPE);
    let n = bs * c * l;
    let k = bwd_case::<T>(&mut rng, bs, c, l, true);
    let (want, gy) = (&k.want, &k.gy);
    let inner = random::<T>(&mut rng, n);
    let up = |x: &[T]| DeviceBuffer::from_host(dev, x).unwrap();
    let (dv, dpre, dpost, dgy, dh, dd, dz) = (up(&k.v), up(&k.pre), up(&k.post), up(gy), up(&k.h), up(&k.d), up(&inner));
    let mut hf = DeviceBuffer::<f32>::alloc(dev, spectrum_len(c, l).unwrap()).unwrap();
    fftconv_filter(dev, &dh, c, l, &mut hf).unwrap();
    let mut g = poisoned_grads::<T>(dev, n, c, l);
    let grads = grad_views(&mut g, n, c, l, true);
    gated_fftconv_bwd_spectrum_inner(
        dev,
        &hf,
        &dd,
        &dv,
        Some(dpre.as_view()),
        Some(dpost.as_view()),
        Some(dz.as_view()),
        &dgy,
        bs,
        c,
        l,
        grads,
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    let [gv, gpre, gpost, gh, gd] = &g;
    let outs = [
        ("grad_v", gv, n, &want.grad_v),
        ("grad_pre", gpre, n, want.grad_pre.as_ref().unwrap()),
        ("grad_h", gh, c * l, &want.grad_h),
        ("grad_D", gd, c, &want.grad_d),
    ];
    for (name, buf, k, w) in outs {
        let what = format!("{tag} {name}");
        let err = assert_close(&what, &read_checked(&what, buf, k), w, T::BOUND);
        eprintln!("{what}: relative L2 error {err:.3e}");
    }
    let what = format!("{tag} grad_post");
    let got = read_checked(&what, gpost, n);
    for (i, (x, (z, y))) in got.iter().zip(inner.iter().zip(gy)).enumerate() {
        let exact = T::from_f32(z.to_f64() as f32 * y.to_f64() as f32).to_f64();
        assert_eq!(x.to_bits(), exact.to_bits(), "{what}[{i}]: {x} != round(inner · grad_y) = {exact}");
    }
}

/// `gated_fftconv_bwd` on `dev` vs `cpu::fftconv::gated_fftconv_bwd` in f64: grad_v, grad_h,
/// grad_D (and grad_pre, grad_post with `gates`), each poisoned with NaN before the launch.
pub fn check_gated_bwd<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, gates: bool, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gated_fftconv_bwd<{:?}> B={bs} C={c} L={l} gates={gates}", dev.name(), T::DTYPE);
    let n = bs * c * l;
    let BwdCase { v, pre, post, gy, h, d, want } = bwd_case::<T>(&mut rng, bs, c, l, gates);
    let up = |x: &[T]| DeviceBuffer::from_host(dev, x).unwrap();
    let (dv, dpre, dpost, dgy, dh, dd) = (up(&v), up(&pre), up(&post), up(&gy), up(&h), up(&d));
    // One backward into fresh poisoned buffers: [grad_v, grad_pre, grad_post, grad_h, grad_D].
    let run = || -> [DeviceBuffer<T>; 5] {
        let mut g = poisoned_grads::<T>(dev, n, c, l);
        let grads = grad_views(&mut g, n, c, l, gates);
        let (gp, gq) = if gates { (Some(dpre.as_view()), Some(dpost.as_view())) } else { (None, None) };
        gated_fftconv_bwd(dev, &dh, &dd, &dv, gp, gq, &dgy, bs, c, l, grads).unwrap_or_else(|e| panic!("{tag}: {e}"));
        dev.synchronize().unwrap();
        g
    };
    let [gv, gpre, gpost, gh, gd] = run();
    let mut outs = vec![("grad_v", &gv, n, &want.grad_v), ("grad_h", &gh, c * l, &want.grad_h), ("grad_D", &gd, c, &want.grad_d)];
    if gates {
        outs.push(("grad_pre", &gpre, n, want.grad_pre.as_ref().unwrap()));
        outs.push(("grad_post", &gpost, n, want.grad_post.as_ref().unwrap()));
    }
    for (name, buf, k, w) in &outs {
        let what = format!("{tag} {name}");
        let err = assert_close(&what, &read_checked(&what, buf, *k), w, T::BOUND);
        eprintln!("{what}: relative L2 error {err:.3e}");
    }

    // Deterministic: a second backward into fresh poisoned buffers gives the same bits.
    let [gv2, gpre2, gpost2, gh2, gd2] = run();
    let mut again = vec![&gv2, &gh2, &gd2];
    if gates {
        again.push(&gpre2);
        again.push(&gpost2);
    }
    for ((name, buf, _, _), buf2) in outs.iter().zip(again) {
        let bits = |b: &DeviceBuffer<T>| widen(&b.to_host().unwrap()).iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        assert_eq!(bits(buf), bits(buf2), "{tag} {name}: differs between two runs");
    }
}

/// On a simulator with 16 KiB of shared memory, an f32 forward at row length `l` (B = C = 1) needs
/// more: a SharedMemory error before anything is launched or written.
#[cfg(feature = "sim")]
pub fn assert_fwd_over_shared_memory_limit(l: usize) {
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::HyenaError;
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_max_shared_bytes(16 * 1024));
    let v = DeviceBuffer::from_host(&dev, &vec![0.5f32; l]).unwrap();
    let h = DeviceBuffer::from_host(&dev, &vec![0.25f32; l]).unwrap();
    let d = DeviceBuffer::from_host(&dev, &[0.125f32]).unwrap();
    let mut y = DeviceBuffer::from_host(&dev, &vec![f32::NAN; l]).unwrap();
    let e = gated_fftconv_fwd(&dev, &h, &d, &v, None, None, 1, 1, l, &mut y).unwrap_err();
    assert!(matches!(e, HyenaError::SharedMemory { .. }), "L={l}: {e}");
    assert!(y.to_host().unwrap().iter().all(|x| x.is_nan()), "L={l}: nothing may be written");
}

/// The forward keeping its transform of a = pre ⊙ v (`gated_fftconv_fwd_spectrum_keep`, a shape
/// where `a_spectrum_pays`) and the backward reading it (`gated_fftconv_bwd_spectrum_keep`: the G
/// kernel alone on the shared-memory path, no pass 1 on a and no row FFTs of Za on the multi-pass path), against the
/// same calls without it: y and inner the same bits; on the shared-memory path `a_spec` row c·B + b,
/// bin k is the f64 real FFT of a (row (b, c) zero padded to n) at k = 0 … n/2 within 1e-5 relative L2
/// (fp32 FFTs of exact fp32 products; the multi-pass layout is opaque: every entry written,
/// finite); every gradient the same bits as the backward's without it, which is checked against
/// the f64 reference (grad_post = round(inner ⊙ grad_y)). A second backward on the same `a_spec`
/// gives the same bits (it is read, not overwritten). Every output poisoned before.
pub fn check_a_spectrum_kept<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gated_fftconv_*_spectrum_keep<{:?}> B={bs} C={c} L={l}", dev.name(), T::DTYPE);
    let n = bs * c * l;
    let k = bwd_case::<T>(&mut rng, bs, c, l, true);
    let up = |x: &[T]| DeviceBuffer::from_host(dev, x).unwrap();
    let (dv, dpre, dpost, dgy, dh, dd) = (up(&k.v), up(&k.pre), up(&k.post), up(&k.gy), up(&k.h), up(&k.d));
    let mut hf = DeviceBuffer::<f32>::alloc(dev, spectrum_len(c, l).unwrap()).unwrap();
    fftconv_filter(dev, &dh, c, l, &mut hf).unwrap();
    let ns = a_spectrum_len(bs, c, l).unwrap();
    // Forward without and with the spectrum: [y, inner] each.
    let fwd = |spec: Option<&mut DeviceBuffer<f32>>| -> [DeviceBuffer<T>; 2] {
        let (mut dy, mut dz) = (poisoned::<T>(dev, n), poisoned::<T>(dev, n));
        gated_fftconv_fwd_spectrum_keep(
            dev,
            &hf,
            &dd,
            &dv,
            Some(dpre.as_view()),
            Some(dpost.as_view()),
            bs,
            c,
            l,
            dy.view_mut(0..n).unwrap(),
            Some(dz.view_mut(0..n).unwrap()),
            spec.map(|s| s.view_mut(0..ns).unwrap()),
        )
        .unwrap_or_else(|e| panic!("{tag} forward: {e}"));
        dev.synchronize().unwrap();
        [dy, dz]
    };
    let plain = fwd(None);
    let mut spec = poisoned::<f32>(dev, ns);
    let kept = fwd(Some(&mut spec));
    for (name, a, b) in [("y", &plain[0], &kept[0]), ("inner", &plain[1], &kept[1])] {
        let what = format!("{tag} {name}");
        let (a, b) = (read_checked(&what, a, n), read_checked(&what, b, n));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{what}: not the same bits with the spectrum kept");
    }
    // The spectrum: per row the f64 real FFT of a = pre ⊙ v padded to n (shared-memory path).
    let what = format!("{tag} a_spec");
    let got = read_checked(&what, &spec, ns);
    assert!(got.iter().all(|x| x.is_finite()), "{what}: an entry not written (NaN poison)");
    let nf = fft_size(l).unwrap();
    let long = l > hyena_kernels::ops::fftconv::SMEM_MAX_LEN;
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let r2c = planner.plan_fft_forward(nf);
    let mut want = Vec::with_capacity(ns);
    // Spectrum row s = c·B + b (channel-major, the kernels' block order) is memory row b·C + c.
    for s in 0..if long { 0 } else { bs * c } {
        let r = (s % bs) * c + s / bs;
        let mut x = vec![0f64; nf];
        for t in 0..l {
            x[t] = k.pre[r * l + t].to_f64() * k.v[r * l + t].to_f64();
        }
        let mut out = r2c.make_output_vec();
        r2c.process(&mut x, &mut out).unwrap();
        // At n = 2^14 in 2-byte storage the kernels keep it in the four-step order
        // (ops::fftconv::a_spectrum_len): bin k < m at 256·(k mod 32) + k/32, bin m last.
        want.extend(spectrum_row_in_layout(&out, spectra_four_step::<T>(nf)));
    }
    // The tensor-core forward's spectrum comes from its f16-operand transform (ops::fftconv::
    // fwd_tensor_cores): the FFT-8192's bound, 17u per transform (tests/all/fftconv/tcdft.rs), plus
    // the rounding of a to f16 (u), u = 2^-11; the SIMT kernels' from fp32 FFTs of exact products.
    let tc = fwd_tensor_cores::<T>(bs * c, l);
    if !long {
        let err = assert_close(&what, &got, &want, if tc { 18.0 / 2048.0 } else { 1e-5 });
        eprintln!("{what}: relative L2 error {err:.3e} (tensor cores: {tc})");
    }
    // Backward: the two-kernel one (given inner) vs the G kernel alone given the spectrum, twice.
    let inner = &plain[1];
    let bwd = |spec: Option<&DeviceBuffer<f32>>| -> [DeviceBuffer<T>; 5] {
        let mut g = poisoned_grads::<T>(dev, n, c, l);
        let grads = grad_views(&mut g, n, c, l, true);
        gated_fftconv_bwd_spectrum_keep(
            dev,
            &hf,
            &dd,
            &dv,
            Some(dpre.as_view()),
            Some(dpost.as_view()),
            Some(inner.view(0..n).unwrap()),
            spec.map(|s| s.view(0..ns).unwrap()),
            &dgy,
            bs,
            c,
            l,
            grads,
        )
        .unwrap_or_else(|e| panic!("{tag} backward: {e}"));
        dev.synchronize().unwrap();
        g
    };
    let two = bwd(None);
    let [gv, gpre, gpost, gh, gd] = &two;
    for (name, buf, len, w) in [
        ("grad_v", gv, n, &k.want.grad_v),
        ("grad_pre", gpre, n, k.want.grad_pre.as_ref().unwrap()),
        ("grad_h", gh, c * l, &k.want.grad_h),
        ("grad_D", gd, c, &k.want.grad_d),
    ] {
        let what = format!("{tag} {name}");
        let err = assert_close(&what, &read_checked(&what, buf, len), w, T::BOUND);
        eprintln!("{what}: relative L2 error {err:.3e}");
    }
    let zi = read_checked("inner", inner, n);
    let gp = read_checked(&format!("{tag} grad_post"), gpost, n);
    for (i, (x, (z, y))) in gp.iter().zip(zi.iter().zip(&k.gy)).enumerate() {
        let exact = T::from_f32(*z as f32 * y.to_f64() as f32).to_f64();
        assert_eq!(x.to_bits(), exact.to_bits(), "{tag} grad_post[{i}]: {x} != round(inner · grad_y) = {exact}");
    }
    // Given the spectrum: the two-kernel backward's bits where the forward's spectrum is the one
    // that backward forms (fp32, the SIMT kernels); from the tensor-core forward (f16 operands)
    // grad_h differs in its rounding, so every gradient is checked against the f64 reference
    // instead, and run 1 against run 0 bit for bit (the spectrum is read, not overwritten).
    let runs: Vec<[DeviceBuffer<T>; 5]> = (0..2).map(|_| bwd(Some(&spec))).collect();
    for (run, one) in runs.iter().enumerate() {
        for (i, name) in ["grad_v", "grad_pre", "grad_post", "grad_h", "grad_D"].iter().enumerate() {
            let what = format!("{tag} {name} (spectrum kept, run {run})");
            let len = [n, n, n, c * l, c][i];
            let b = read_checked(&what, &one[i], len);
            let same_as = if run == 1 { &runs[0][i] } else { &two[i] };
            if run == 1 || !tc {
                let a = read_checked(&what, same_as, len);
                assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{what}: not the bits of {}", if run == 1 { "run 0" } else { "the two-kernel backward" });
            } else if *name != "grad_post" {
                let w = match *name {
                    "grad_v" => &k.want.grad_v,
                    "grad_pre" => k.want.grad_pre.as_ref().unwrap(),
                    "grad_h" => &k.want.grad_h,
                    _ => &k.want.grad_d,
                };
                let err = assert_close(&what, &b, w, T::BOUND);
                eprintln!("{what}: relative L2 error {err:.3e}");
            } else {
                let a = read_checked(&what, same_as, len);
                assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{what}: grad_post = round(inner · grad_y) either way");
            }
        }
    }
}

/// The fused backward on tensor cores (`ops::fftconv::bwd_tensor_cores`: the G kernel and the
/// batch reduce of kernels/tcdft.cu, given the forward's spectrum of a and `inner`) against the
/// f64 reference, with a post gate and, with `pre`, a pre gate: grad_y's row (b, c) scaled by
/// `scale(b, c)` (a power of two, so the inputs stay exact) before the reference is formed. Each
/// row of grad_v and grad_pre within [`Storage::BOUND`] of its own norm, each channel's grad_h of
/// its own and grad_D relative to its own value (one L2 over all would let the largest rows hide
/// the rest: the kernels' per-row and per-channel powers of two are what is checked);
/// grad_post = round(inner ⊙ grad_y) bit for bit. Every output poisoned before.
pub fn check_bwd_on_tensor_cores<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, pre: bool, scale: &dyn Fn(usize, usize) -> f32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gated_fftconv_bwd_spectrum_keep<{:?}> on tensor cores B={bs} C={c} L={l} pre={pre}", dev.name(), T::DTYPE);
    assert!(bwd_tensor_cores::<T>(bs * c, l), "{tag}: not a tensor-core shape");
    let n = bs * c * l;
    let (v, pr, post, mut gy) = (random::<T>(&mut rng, n), random::<T>(&mut rng, n), random::<T>(&mut rng, n), random::<T>(&mut rng, n));
    let (h, d) = (random::<T>(&mut rng, c * l), random::<T>(&mut rng, c));
    for (r, row) in gy.chunks_mut(l).enumerate() {
        let f = scale(r / c, r % c);
        row.iter_mut().for_each(|x| *x = T::from_f32(x.to_f64() as f32 * f));
    }
    let (vf, pref, postf, gyf) = (widen(&v), widen(&pr), widen(&post), widen(&gy));
    let plan = FftConvPlan::<f64>::new(l).unwrap();
    let spec = plan.filter_spectra(&widen(&h), c).unwrap();
    let rows = |x| rows_of(x, bs, c, l);
    let want = cpu_bwd(&plan, &spec, &widen(&d), rows(&vf), pre.then(|| rows(&pref)), Some(rows(&postf)), &gyf).unwrap();
    let up = |x: &[T]| DeviceBuffer::from_host(dev, x).unwrap();
    let (dv, dpre, dpost, dgy, dh, dd) = (up(&v), up(&pr), up(&post), up(&gy), up(&h), up(&d));
    let dpre = pre.then_some(&dpre);
    let mut hf = DeviceBuffer::<f32>::alloc(dev, spectrum_len(c, l).unwrap()).unwrap();
    fftconv_filter(dev, &dh, c, l, &mut hf).unwrap();
    let ns = a_spectrum_len(bs, c, l).unwrap();
    let (mut dy, mut dz, mut da) = (poisoned::<T>(dev, n), poisoned::<T>(dev, n), poisoned::<f32>(dev, ns));
    gated_fftconv_fwd_spectrum_keep(dev, &hf, &dd, &dv, dpre.map(|x| x.as_view()), Some(dpost.as_view()), bs, c, l, dy.view_mut(0..n).unwrap(), Some(dz.view_mut(0..n).unwrap()), Some(da.view_mut(0..ns).unwrap()))
        .unwrap_or_else(|e| panic!("{tag} forward: {e}"));
    let mut g = poisoned_grads::<T>(dev, n, c, l);
    let [gv, gpre, gpost, gh, gd] = &mut g;
    let grads = GatedConvGradViews {
        grad_v: gv.view_mut(0..n).unwrap(),
        grad_pre: pre.then(|| gpre.view_mut(0..n).unwrap()),
        grad_post: Some(gpost.view_mut(0..n).unwrap()),
        grad_h: gh.view_mut(0..c * l).unwrap(),
        grad_d: gd.view_mut(0..c).unwrap(),
    };
    gated_fftconv_bwd_spectrum_keep(dev, &hf, &dd, &dv, dpre.map(|x| x.as_view()), Some(dpost.as_view()), Some(dz.view(0..n).unwrap()), Some(da.view(0..ns).unwrap()), &dgy, bs, c, l, grads)
        .unwrap_or_else(|e| panic!("{tag} backward: {e}"));
    dev.synchronize().unwrap();
    let [gv, gpre, gpost, gh, gd] = &g;
    let mut checks = vec![("grad_v", read_checked(&format!("{tag} grad_v"), gv, n), &want.grad_v, l)];
    if pre {
        checks.push(("grad_pre", read_checked(&format!("{tag} grad_pre"), gpre, n), want.grad_pre.as_ref().unwrap(), l));
    }
    checks.push(("grad_h", read_checked(&format!("{tag} grad_h"), gh, c * l), &want.grad_h, l));
    checks.push(("grad_D", read_checked(&format!("{tag} grad_D"), gd, c), &want.grad_d, 1));
    for (name, got, w, len) in &checks {
        let mut worst = 0f64;
        for (r, (x, y)) in got.chunks(*len).zip(w.chunks(*len)).enumerate() {
            worst = worst.max(assert_close(&format!("{tag} {name} row {r}"), x, y, T::BOUND));
        }
        eprintln!("{tag} {name}: worst row's relative L2 error {worst:.3e}");
    }
    let zi = read_checked(&format!("{tag} inner"), &dz, n);
    let gp = read_checked(&format!("{tag} grad_post"), gpost, n);
    for (i, (x, (z, y))) in gp.iter().zip(zi.iter().zip(&gy)).enumerate() {
        let exact = T::from_f32(*z as f32 * y.to_f64() as f32).to_f64();
        assert_eq!(x.to_bits(), exact.to_bits(), "{tag} grad_post[{i}]: {x} != round(inner · grad_y) = {exact}");
    }
}

/// The operands both fused short-conv checks start from: z `[3, B, C, L]`, the short conv's
/// weights `[3C, 3]` and bias `[3C]`, the filter h `[C, L]` and D `[C]` (random, drawn in that
/// order), on the device; the filter's spectrum; and uc = the device's short conv of z
/// (`shortconv_fwd_chunks`: the operands the backward reads, the first of the forward's two
/// launches), poisoned before it.
struct ShortConvCase<T: Storage> {
    n: usize,
    ns: usize,
    z: Vec<T>,
    w: Vec<T>,
    sb: Vec<T>,
    h: Vec<T>,
    d: Vec<T>,
    dz: DeviceBuffer<T>,
    dw: DeviceBuffer<T>,
    dsb: DeviceBuffer<T>,
    dd: DeviceBuffer<T>,
    hf: DeviceBuffer<f32>,
    duc: DeviceBuffer<T>,
}

impl<T: Storage> ShortConvCase<T> {
    fn new(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, rng: &mut StdRng) -> Self {
        use hyena_kernels::ops::shortconv::shortconv_fwd_chunks;
        let n = bs * c * l;
        let (z, w, sb) = (random::<T>(rng, 3 * n), random::<T>(rng, 9 * c), random::<T>(rng, 3 * c));
        let (h, d) = (random::<T>(rng, c * l), random::<T>(rng, c));
        let up = |x: &[T]| DeviceBuffer::from_host(dev, x).unwrap();
        let (dz, dw, dsb, dh, dd) = (up(&z), up(&w), up(&sb), up(&h), up(&d));
        let mut hf = DeviceBuffer::<f32>::alloc(dev, spectrum_len(c, l).unwrap()).unwrap();
        fftconv_filter(dev, &dh, c, l, &mut hf).unwrap();
        let mut duc = poisoned::<T>(dev, 3 * n);
        shortconv_fwd_chunks(dev, &dz, &dw, &dsb, None, 3, bs, c, l, duc.view_mut(0..3 * n).unwrap()).unwrap();
        ShortConvCase { n, ns: a_spectrum_len(bs, c, l).unwrap(), z, w, sb, h, d, dz, dw, dsb, dd, hf, duc }
    }

    /// Chunk r of uc.
    fn op(&self, r: usize) -> hyena_kernels::device::DeviceView<'_, T> {
        self.duc.view(r * self.n..(r + 1) * self.n).unwrap()
    }
}

/// The tensor-core backward with the short conv's backward fused
/// (`ops::fftconv::gated_fftconv_shortconv_bwd`, `hyena_fftconv_bwd_g_sc_tc_m13_*`): z `[3, B, C,
/// L]` random, uc = the device's short conv of it (the stored operands), v, pre, post = uc's chunks
/// `roles`; the forward keeps inner and A. Reference: the f64 gated backward on those operands
/// (grad_post = inner · grad_y, the device's inner), then the f64 short conv backward of each chunk
/// on z: grad_z per row, grad_h per row, grad_D, and per chunk the short conv's weight, bias and
/// in_proj bias gradients against their norms, every output poisoned before the call.
pub fn check_shortconv_bwd_fused<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, roles: [usize; 3], seed: u64) {
    use hyena_kernels::cpu::shortconv as cpu_sc;
    use hyena_kernels::ops::fftconv::{gated_fftconv_shortconv_bwd, shortconv_bwd_fuses, ShortConvBwdViews};
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gated_fftconv_shortconv_bwd<{:?}> B={bs} C={c} L={l} roles={roles:?}", dev.name(), T::DTYPE);
    assert!(shortconv_bwd_fuses::<T>(bs, c, l), "{tag}: not a fused shape");
    let case = ShortConvCase::<T>::new(dev, bs, c, l, &mut rng);
    let (n, c3, ns) = (case.n, 3 * c, case.ns);
    let gy = random::<T>(&mut rng, n);
    let dgy = DeviceBuffer::from_host(dev, &gy).unwrap();
    let (z, w, sb, h, d, dz, dw, dd, hf, duc) = (&case.z, &case.w, &case.sb, &case.h, &case.d, &case.dz, &case.dw, &case.dd, &case.hf, &case.duc);
    let uc = read_checked(&format!("{tag} uc"), duc, 3 * n);
    let part = |x: &[f64], r: usize| x[r * n..(r + 1) * n].to_vec();
    let (vf, pref, postf, gyf) = (part(&uc, roles[0]), part(&uc, roles[1]), part(&uc, roles[2]), widen(&gy));
    let (mut dy, mut dinner, mut da) = (poisoned::<T>(dev, n), poisoned::<T>(dev, n), poisoned::<f32>(dev, ns));
    gated_fftconv_fwd_spectrum_keep(dev, hf, dd, case.op(roles[0]), Some(case.op(roles[1])), Some(case.op(roles[2])), bs, c, l, dy.view_mut(0..n).unwrap(), Some(dinner.view_mut(0..n).unwrap()), Some(da.view_mut(0..ns).unwrap()))
        .unwrap_or_else(|e| panic!("{tag} forward: {e}"));
    let inner = read_checked(&format!("{tag} inner"), &dinner, n);
    // The reference: the gated backward in f64 on the stored operands, then each chunk's short conv
    // backward on z.
    let plan = FftConvPlan::<f64>::new(l).unwrap();
    let spec = plan.filter_spectra(&widen(h), c).unwrap();
    let rows = |x| rows_of(x, bs, c, l);
    let want = cpu_bwd(&plan, &spec, &widen(d), rows(&vf), Some(rows(&pref)), Some(rows(&postf)), &gyf).unwrap();
    let g_post: Vec<f64> = inner.iter().zip(&gyf).map(|(a, b)| a * b).collect();
    let g_op = [&want.grad_v, want.grad_pre.as_ref().unwrap(), &g_post];
    let (zf, wf, sbf) = (widen(z), widen(w), widen(sb));
    let (mut gz_ref, mut gw_ref, mut gb_ref) = (vec![0f64; 3 * n], vec![0f64; 3 * c3], vec![0f64; c3]);
    for (r, &k) in roles.iter().enumerate() {
        let rk = k * n..(k + 1) * n;
        let (wk, bk) = (k * 3 * c..(k + 1) * 3 * c, k * c..(k + 1) * c);
        cpu_sc::shortconv_bwd(&zf[rk.clone()], &wf[wk.clone()], &sbf[bk.clone()], g_op[r], bs, c, l, &mut gz_ref[rk], &mut gw_ref[wk], &mut gb_ref[bk]).unwrap();
    }
    let gib_ref: Vec<f64> = (0..c3).map(|kc| (0..bs).map(|b| gz_ref[(kc / c) * n + (b * c + kc % c) * l..][..l].iter().sum::<f64>()).sum()).collect();
    let (mut dgz, mut dgw, mut dgb, mut dgib) = (poisoned::<T>(dev, 3 * n), poisoned::<T>(dev, 3 * c3), poisoned::<T>(dev, c3), poisoned::<T>(dev, c3));
    let (mut dgh, mut dgd) = (poisoned::<T>(dev, c * l), poisoned::<T>(dev, c));
    let sc = ShortConvBwdViews {
        z: dz.as_view(),
        w: dw.as_view(),
        roles,
        grad_z: dgz.view_mut(0..3 * n).unwrap(),
        grad_w: dgw.view_mut(0..3 * c3).unwrap(),
        grad_b: dgb.view_mut(0..c3).unwrap(),
        grad_in_bias: Some(dgib.view_mut(0..c3).unwrap()),
    };
    let fused = gated_fftconv_shortconv_bwd(dev, hf, dd, duc.view(0..3 * n).unwrap(), dinner.view(0..n).unwrap(), da.view(0..ns).unwrap(), &dgy, bs, c, l, sc, dgh.view_mut(0..c * l).unwrap(), dgd.view_mut(0..c).unwrap())
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    assert!(fused, "{tag}: the fused kernel did not run");
    dev.synchronize().unwrap();
    let gz = read_checked(&format!("{tag} grad_z"), &dgz, 3 * n);
    let mut worst = 0f64;
    for (r, (x, y)) in gz.chunks(l).zip(gz_ref.chunks(l)).enumerate() {
        worst = worst.max(assert_close(&format!("{tag} grad_z row {r}"), x, y, T::BOUND));
    }
    eprintln!("{tag} grad_z: worst row's relative L2 error {worst:.3e}");
    let gh = read_checked(&format!("{tag} grad_h"), &dgh, c * l);
    for (r, (x, y)) in gh.chunks(l).zip(want.grad_h.chunks(l)).enumerate() {
        assert_close(&format!("{tag} grad_h row {r}"), x, y, T::BOUND);
    }
    assert_close(&format!("{tag} grad_D"), &read_checked(&format!("{tag} grad_D"), &dgd, c), &want.grad_d, T::BOUND);
    let (gw, gb, gib) = (read_checked(&format!("{tag} grad_w"), &dgw, 3 * c3), read_checked(&format!("{tag} grad_b"), &dgb, c3), read_checked(&format!("{tag} grad_in_bias"), &dgib, c3));
    for k in 0..3 {
        let e = [
            assert_close(&format!("{tag} chunk {k} grad_w"), &gw[k * 3 * c..(k + 1) * 3 * c], &gw_ref[k * 3 * c..(k + 1) * 3 * c], T::BOUND),
            assert_close(&format!("{tag} chunk {k} grad_b"), &gb[k * c..(k + 1) * c], &gb_ref[k * c..(k + 1) * c], T::BOUND),
            assert_close(&format!("{tag} chunk {k} grad_in_bias"), &gib[k * c..(k + 1) * c], &gib_ref[k * c..(k + 1) * c], T::BOUND),
        ];
        eprintln!("{tag} chunk {k}: grad_w, grad_b, grad_in_bias relative L2 errors {:.3e} {:.3e} {:.3e}", e[0], e[1], e[2]);
    }
}

/// The tensor-core forward with the short conv fused (`gated_fftconv_shortconv_fwd`) against its two
/// launches (`shortconv_fwd_chunks`, then `gated_fftconv_fwd_spectrum_keep` on the stored operands):
/// `uc`, `y`, and with `keep` `inner` and the kept spectrum the same bits (without, not written),
/// every output poisoned first and nothing written past it; and `y` against the f64 reference on
/// those operands within `T::BOUND`. With `filter` (B = 1): `gated_fftconv_shortconv_filter_fwd`,
/// which also forms the filter's spectrum, against `fftconv_filter` and the two launches: `hf`
/// the same bits as well.
#[allow(clippy::too_many_arguments)]
pub fn check_shortconv_fwd_fused<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, roles: [usize; 3], keep: bool, filter: bool, seed: u64) {
    use hyena_kernels::ops::fftconv::{gated_fftconv_shortconv_filter_fwd, gated_fftconv_shortconv_fwd, shortconv_fwd_fuses, ShortConvFwdViews};
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gated_fftconv_shortconv_fwd<{:?}> B={bs} C={c} L={l} roles={roles:?} keep={keep} filter={filter}", dev.name(), T::DTYPE);
    assert!(!filter || bs == 1, "{tag}: the filter's spectrum is formed in the kernel at B = 1 only");
    assert!(shortconv_fwd_fuses::<T>(bs, c, l), "{tag}: not a fused shape");
    // The two launches: the case's short conv (uc), then the forward on its chunks.
    let case = ShortConvCase::<T>::new(dev, bs, c, l, &mut rng);
    let (n, ns) = (case.n, case.ns);
    let (h, d, dz, dw, dsb, dd, hf, duc) = (&case.h, &case.d, &case.dz, &case.dw, &case.dsb, &case.dd, &case.hf, &case.duc);
    let (mut dy, mut dinner, mut da) = (poisoned::<T>(dev, n), poisoned::<T>(dev, n), poisoned::<f32>(dev, ns));
    gated_fftconv_fwd_spectrum_keep(
        dev,
        hf,
        dd,
        case.op(roles[0]),
        Some(case.op(roles[1])),
        Some(case.op(roles[2])),
        bs,
        c,
        l,
        dy.view_mut(0..n).unwrap(),
        keep.then(|| dinner.view_mut(0..n).unwrap()),
        keep.then(|| da.view_mut(0..ns).unwrap()),
    )
    .unwrap_or_else(|e| panic!("{tag} unfused forward: {e}"));
    // The fused kernel.
    let (mut fuc, mut fy, mut finner, mut fa) = (poisoned::<T>(dev, 3 * n), poisoned::<T>(dev, n), poisoned::<T>(dev, n), poisoned::<f32>(dev, ns));
    let sc = ShortConvFwdViews { z: dz.as_view(), w: dw.as_view(), bias: dsb.as_view(), roles, uc: fuc.view_mut(0..3 * n).unwrap() };
    let hl = hf.len();
    let mut fhf = poisoned::<f32>(dev, hl);
    let (fy_v, fi_v, fa_v) = (fy.view_mut(0..n).unwrap(), keep.then(|| finner.view_mut(0..n).unwrap()), keep.then(|| fa.view_mut(0..ns).unwrap()));
    let fused = if filter {
        let dh = DeviceBuffer::from_host(dev, &case.h).unwrap();
        let r = gated_fftconv_shortconv_filter_fwd(dev, &dh, fhf.view_mut(0..hl).unwrap(), dd, sc, c, l, fy_v, fi_v, fa_v);
        dev.synchronize().unwrap();
        r
    } else {
        gated_fftconv_shortconv_fwd(dev, hf, dd, sc, bs, c, l, fy_v, fi_v, fa_v)
    }
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    assert!(fused, "{tag}: the fused kernel did not run");
    dev.synchronize().unwrap();
    let same = |what: &str, a: &[f64], b: &[f64]| {
        let bad = a.iter().zip(b).position(|(x, y)| x.to_bits() != y.to_bits());
        assert!(bad.is_none(), "{tag} {what}: not the unfused launches' bits (first at {bad:?})");
    };
    let uc = read_checked(&format!("{tag} uc (unfused)"), duc, 3 * n);
    let y = read_checked(&format!("{tag} y"), &fy, n);
    same("y", &y, &read_checked(&format!("{tag} y (unfused)"), &dy, n));
    same("uc", &read_checked(&format!("{tag} uc"), &fuc, 3 * n), &uc);
    if filter {
        same("hf", &read_checked(&format!("{tag} hf"), &fhf, hl), &read_checked(&format!("{tag} hf (fftconv_filter)"), hf, hl));
    } else {
        assert!(fhf.to_host().unwrap().iter().all(|x| x.is_nan()), "{tag}: hf is an input here, but written");
    }
    if keep {
        same("inner", &read_checked(&format!("{tag} inner"), &finner, n), &read_checked(&format!("{tag} inner (unfused)"), &dinner, n));
        same("a_spec", &read_checked(&format!("{tag} a_spec"), &fa, ns), &read_checked(&format!("{tag} a_spec (unfused)"), &da, ns));
    } else {
        assert!(widen(&finner.to_host().unwrap()).iter().all(|x| x.is_nan()), "{tag}: inner not asked for, but written");
        assert!(fa.to_host().unwrap().iter().all(|x| x.is_nan()), "{tag}: a_spec not asked for, but written");
    }
    // And y against the f64 reference on the stored operands.
    let part = |r: usize| uc[r * n..(r + 1) * n].to_vec();
    let (vf, pref, postf) = (part(roles[0]), part(roles[1]), part(roles[2]));
    let plan = FftConvPlan::<f64>::new(l).unwrap();
    let spec = plan.filter_spectra(&widen(h), c).unwrap();
    let rows = |x| rows_of(x, bs, c, l);
    let mut want = vec![0f64; n];
    cpu_fwd(&plan, &spec, &widen(d), rows(&vf), Some(rows(&pref)), Some(rows(&postf)), &mut want).unwrap();
    let mut worst = 0f64;
    for (r, (x, y)) in y.chunks(l).zip(want.chunks(l)).enumerate() {
        worst = worst.max(assert_close(&format!("{tag} y row {r}"), x, y, T::BOUND));
    }
    eprintln!("{tag} y: worst row's relative L2 error {worst:.3e}");
}
