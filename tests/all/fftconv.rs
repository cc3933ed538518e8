//! Fused gated causal FFT convolution kernels (`kernels/fftconv.cu` through `ops::fftconv`) vs the
//! CPU reference `cpu::fftconv::gated_fftconv_fwd` run in f64 on the storage-rounded inputs (and the
//! O(L²) direct oracle for L ≤ 1000), on every available device (the simulator in CI).
//!
//! Bounds (relative L2 error of y):
//! - f32 storage: 1e-5. The kernel computes two fp32 FFTs of n ≤ 16384 points; the rounding error
//!   of a radix-2 FFT grows like ε·log2(n) (≈ 6e-8 · 14 ≈ 1e-6 in L2), plus the split/fold steps.
//! - bf16/f16 storage: 1e-2. Arithmetic is fp32 (as above), plus one rounding of each output to
//!   the storage type (2⁻⁹ relative for bf16, 2⁻¹² for f16).
//!
//! y is poisoned with NaN before the launch (and a margin behind it must stay NaN); inputs are
//! random and non-zero. The L = 4097 and 8192 rows use B = C = 1 (simulator time).
#![cfg(any(feature = "cuda", feature = "sim"))]

use crate::common;

mod tcdft;

use common::fftconv::{check_a_spectrum_kept, check_bwd_on_tensor_cores, check_bwd_reads_inner, check_shortconv_bwd_fused, check_shortconv_fwd_fused, check_fwd, check_fwd_inner, check_gated_bwd, fwd_case};
use common::{read_checked, random, rel_l2, widen, Storage};
use half::{bf16, f16};
use hyena_kernels::cpu::fftconv::{fftconv_direct, FftConvPlan};
use hyena_kernels::device::{Device, DeviceBuffer};
use hyena_kernels::ops::fftconv::{
    a_spectrum_len, a_spectrum_pays, bwd_tensor_cores, fft_size, fftconv_filter, fwd_tensor_cores, gated_fftconv_bwd, spectra_four_step, gated_fftconv_bwd_spectrum_keep, gated_fftconv_fwd,
    gated_fftconv_fwd_spectrum_keep, spectrum_len, GatedConvGradViews, LONG_MAX_LEN,
};
use hyena_kernels::HyenaError;
use rand::{rngs::StdRng, SeedableRng};
use std::sync::Arc;

/// Run one case (`common::fftconv::check_fwd`); `gates`: whether pre and post are given. For
/// L ≤ 1000 the f64 FFT reference is first checked against the O(L²) direct oracle.
fn check<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, gates: bool, seed: u64) {
    let k = fwd_case::<T>(bs, c, l, gates, seed);
    if l <= 1000 {
        // The direct oracle agrees with the FFT reference (guards the reference itself).
        let (vf, pref, postf, hfl, df) = (widen(&k.v), widen(&k.pre), widen(&k.post), widen(&k.h), widen(&k.d));
        let a: Vec<f64> = if gates { vf.iter().zip(&pref).map(|(x, g)| x * g).collect() } else { vf.clone() };
        let mut direct = fftconv_direct(&a, &hfl, &df, bs, c, l).unwrap();
        if gates {
            direct.iter_mut().zip(&postf).for_each(|(o, g)| *o *= g);
        }
        let tag = format!("{} gated_fftconv_fwd<{:?}> B={bs} C={c} L={l} gates={gates}", dev.name(), T::DTYPE);
        assert!(rel_l2(&direct, &k.want) < 1e-12, "{tag}: CPU FFT reference vs direct oracle");
    }
    check_fwd(dev, &k);
}

/// (L, B, C): short rows with several batches and channels, long ones with one row.
fn shapes() -> Vec<(usize, usize, usize)> {
    vec![(1, 2, 3), (2, 3, 2), (3, 2, 2), (17, 2, 3), (255, 2, 2), (1000, 1, 2), (4097, 1, 1), (8192, 1, 1)]
}

#[test]
fn gated_fftconv_fwd_f32_matches_cpu() {
    for dev in common::devices() {
        for (i, (l, bs, c)) in shapes().into_iter().enumerate() {
            check::<f32>(&dev, bs, c, l, true, 100 + i as u64);
        }
    }
}

#[test]
fn fftconv_fwd_f32_without_gates_matches_cpu() {
    for dev in common::devices() {
        for (i, &(l, bs, c)) in [(1, 1, 2), (5, 2, 1), (300, 1, 2)].iter().enumerate() {
            check::<f32>(&dev, bs, c, l, false, 200 + i as u64);
        }
    }
}

#[test]
fn gated_fftconv_fwd_bf16_f16_match_cpu() {
    for dev in common::devices() {
        // P0 radix R0 = 1 (L = 3), 16 (255), 4 (1000), 8 (2048), 2 (6001: the checked path at the
        // row's end); odd L and odd row offsets take the checked path of fwd_p0 / fwd_last.
        // Branch fwd10: 1002 (B = 2: row 1 starts 4-byte but not 16-byte aligned). 1000, 1002 and
        // 6001 take the two-block kernel (fwd_2b: radix 2 or 4 first, no parked pass; 6001 the one
        // built for m = 2^13, fwd_2b_m13: odd rows at 4K < L ≤ 8K); 4096 the 128-register kernel
        // built for m = 2^12 (fwd_m12). 8192 (B = 2), the path's longest row (L > 8192 is the
        // multi-pass path's, tests/all/fftconv_long.rs), runs on tensor cores (fwd_tc_m13:
        // ops::fftconv::fwd_tensor_cores, even L at 4K < L ≤ 8K; more in
        // gated_fftconv_fwd_on_tensor_cores_matches_cpu).
        for (i, &(l, bs, c)) in
            [(3, 2, 2), (255, 1, 2), (1000, 1, 1), (1002, 2, 1), (2048, 1, 1), (4096, 2, 1), (6001, 1, 1), (8192, 2, 1)]
            .iter()
            .enumerate()
        {
            check::<bf16>(&dev, bs, c, l, true, 300 + i as u64);
            check::<f16>(&dev, bs, c, l, true, 400 + i as u64);
        }
    }
}

/// The fused forward on tensor cores (`hyena_fftconv_fwd_tc_m13_*`: `ops::fftconv::
/// fwd_tensor_cores`, even L at 4K < L ≤ 8K in 2-byte storage) beyond the shapes above: without
/// gates (pre and post absent) at the shortest row it takes (L = 4098) and a tail (7000); and its
/// per-row power of two: three rows of one channel whose v is scaled by 2^12, 1 and 2^-12 (without
/// it the first would leave f16's range in the transforms and the last reach its subnormals),
/// each row within the storage bound relative to its own norm (one L2 over all would let the
/// largest row hide the others).
#[test]
fn gated_fftconv_fwd_on_tensor_cores_matches_cpu() {
    use hyena_kernels::cpu::fftconv::gated_fftconv_fwd as cpu_fwd;
    assert!(fwd_tensor_cores::<bf16>(3, 8192) && fwd_tensor_cores::<f16>(1, 4098) && !fwd_tensor_cores::<f32>(1, 8192));
    assert!(!fwd_tensor_cores::<bf16>(1, 8191) && !fwd_tensor_cores::<bf16>(1, 4096) && !fwd_tensor_cores::<bf16>(1, 8194));
    for dev in common::devices() {
        check::<bf16>(&dev, 1, 2, 4098, false, 770);
        check::<f16>(&dev, 2, 1, 7000, false, 771);
        let (bs, c, l) = (3usize, 1usize, 8192usize);
        let mut k = fwd_case::<bf16>(bs, c, l, true, 772);
        for (r, row) in k.v.chunks_mut(l).enumerate() {
            let f = [4096.0f32, 1.0, 1.0 / 4096.0][r];
            row.iter_mut().for_each(|x| *x = bf16::from_f32(x.to_f32() * f));
        }
        let plan = FftConvPlan::<f64>::new(l).unwrap();
        let spec = plan.filter_spectra(&widen(&k.h), c).unwrap();
        let (vf, pref, postf) = (widen(&k.v), widen(&k.pre), widen(&k.post));
        let rows = |x| common::fftconv::rows_of(x, bs, c, l);
        let mut want = vec![0f64; bs * c * l];
        cpu_fwd(&plan, &spec, &widen(&k.d), rows(&vf), Some(rows(&pref)), Some(rows(&postf)), &mut want).unwrap();
        let up = |x: &[bf16]| DeviceBuffer::from_host(&dev, x).unwrap();
        let (dv, dpre, dpost, dh, dd) = (up(&k.v), up(&k.pre), up(&k.post), up(&k.h), up(&k.d));
        let n = bs * c * l;
        let mut dy = common::poisoned::<bf16>(&dev, n);
        gated_fftconv_fwd(&dev, &dh, &dd, &dv, Some(dpre.as_view()), Some(dpost.as_view()), bs, c, l, dy.view_mut(0..n).unwrap()).unwrap();
        dev.synchronize().unwrap();
        let got = read_checked("tensor-core forward, scaled rows", &dy, n);
        for (r, (g, w)) in got.chunks(l).zip(want.chunks(l)).enumerate() {
            let what = format!("{} gated_fftconv_fwd<bf16> L={l} row {r} (v scaled by 2^{})", dev.name(), [12, 0, -12][r]);
            let err = common::assert_close(&what, g, w, <bf16 as Storage>::BOUND);
            eprintln!("{what}: relative L2 error {err:.3e}");
        }
    }
}

/// The fused backward on tensor cores (`hyena_fftconv_bwd_g_tc_m13_*` and
/// `hyena_fftconv_bwd_reduce_tc_m13_*`: `ops::fftconv::bwd_tensor_cores`, given the forward's
/// spectrum; `common::fftconv::check_bwd_on_tensor_cores`): the G kernel's per-row and the
/// reduce's per-channel power of two with grad_y's rows of channel 0 scaled by 2^12, 1 and 2^-12
/// (the first row's transform and its channel's spectrum sum would leave f16's range without
/// them) and channel 1's by 2^-20 (the sum's channel near f16's subnormals), each row and channel
/// checked against its own norm; without a pre gate at the shortest row it takes (4098) and with
/// a tail (7000) in f16; B = 1 (the paper's setting, no batch sum) at 8192.
#[test]
fn gated_fftconv_bwd_on_tensor_cores_matches_cpu() {
    assert!(bwd_tensor_cores::<bf16>(3, 8192) && bwd_tensor_cores::<f16>(1, 4098) && !bwd_tensor_cores::<f32>(1, 8192));
    assert!(!bwd_tensor_cores::<bf16>(1, 8191) && !bwd_tensor_cores::<bf16>(1, 4096) && !bwd_tensor_cores::<bf16>(1, 8194));
    for dev in common::devices() {
        let f = |b: usize, c: usize| if c == 0 { [4096.0, 1.0, 1.0 / 4096.0][b] } else { 1.0 / 1048576.0 };
        check_bwd_on_tensor_cores::<bf16>(&dev, 3, 2, 8192, true, &f, 780);
        check_bwd_on_tensor_cores::<f16>(&dev, 1, 2, 4098, false, &|_, _| 1.0, 781);
        check_bwd_on_tensor_cores::<f16>(&dev, 2, 1, 7000, true, &|_, _| 1.0, 782);
        check_bwd_on_tensor_cores::<bf16>(&dev, 1, 1, 8192, false, &|_, _| 1.0, 783);
    }
}

/// The tensor-core forward with the short conv fused (`gated_fftconv_shortconv_fwd`,
/// `common::fftconv::check_shortconv_fwd_fused`): the same bits as its two launches, the device
/// operator's roles at B = 1 and 8192 keeping `inner` and the spectrum, another order of the chunks
/// at B = 2 with a tail (6002) in f16 keeping neither (not written); where it does not
/// apply it queues nothing and says so, and roles that are not a permutation are a typed error.
#[test]
fn gated_fftconv_shortconv_fwd_on_tensor_cores_is_the_two_launches() {
    use hyena_kernels::ops::fftconv::{gated_fftconv_shortconv_fwd, shortconv_fwd_fuses, ShortConvFwdViews};
    assert!(shortconv_fwd_fuses::<bf16>(1, 768, 8192) && shortconv_fwd_fuses::<f16>(2, 3, 6002));
    assert!(!shortconv_fwd_fuses::<f32>(1, 2, 8192) && !shortconv_fwd_fuses::<bf16>(1, 2, 4096) && !shortconv_fwd_fuses::<bf16>(1, 2, 8191));
    for dev in common::devices() {
        check_shortconv_fwd_fused::<bf16>(&dev, 1, 2, 8192, [2, 1, 0], true, false, 792);
        check_shortconv_fwd_fused::<f16>(&dev, 2, 1, 6002, [0, 2, 1], false, false, 793);
        // B = 1 with the filter's spectrum formed in the same kernel (the device operator's
        // paper setting): hf the bits of fftconv_filter too; C = 3, a tail (7002), both storages.
        check_shortconv_fwd_fused::<bf16>(&dev, 1, 3, 8192, [2, 1, 0], true, true, 794);
        check_shortconv_fwd_fused::<f16>(&dev, 1, 3, 7002, [1, 0, 2], false, true, 795);
        // Not applicable (L = 4096: the SIMT forward's shapes): Ok(false), the outputs untouched.
        let (c, l) = (1usize, 4096usize);
        let n = c * l;
        let buf = |len: usize| DeviceBuffer::<bf16>::from_host(&dev, &vec![bf16::from_f32(0.5); len]).unwrap();
        let (z, w, sb, d) = (buf(3 * n), buf(9 * c), buf(3 * c), buf(c));
        let hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
        let (mut uc, mut y) = (buf(3 * n), buf(n));
        let mut call = |roles: [usize; 3]| {
            let sc = ShortConvFwdViews { z: z.as_view(), w: w.as_view(), bias: sb.as_view(), roles, uc: uc.as_view_mut() };
            gated_fftconv_shortconv_fwd(&dev, &hf, &d, sc, 1, c, l, y.as_view_mut(), None, None)
        };
        assert!(!call([2, 1, 0]).unwrap(), "{}: L = 4096 is not a fused shape", dev.name());
        match call([0, 1, 1]) {
            Err(HyenaError::Invalid(m)) => assert!(m.contains("permutation"), "{}: {m}", dev.name()),
            other => panic!("{}: roles [0, 1, 1]: {other:?}", dev.name()),
        }
        dev.synchronize().unwrap();
        assert!(y.to_host().unwrap().iter().chain(&uc.to_host().unwrap()).all(|x| x.to_f32() == 0.5), "{}: Ok(false) wrote an output", dev.name());
    }
}

/// The tensor-core backward with the short conv's backward fused (`gated_fftconv_shortconv_bwd`,
/// `common::fftconv::check_shortconv_bwd_fused`): the device operator's roles at B = 1 (the G
/// kernel reduces its channel itself) at 8192, another order of the chunks at B = 2 (the batch
/// reduce) with a tail (6002) in f16; where it does not apply it queues nothing and says so, and
/// roles that are not a permutation are a typed error.
#[test]
fn gated_fftconv_shortconv_bwd_on_tensor_cores_matches_cpu() {
    use hyena_kernels::ops::fftconv::{gated_fftconv_shortconv_bwd, shortconv_bwd_fuses, ShortConvBwdViews};
    assert!(shortconv_bwd_fuses::<bf16>(1, 768, 8192) && shortconv_bwd_fuses::<f16>(2, 3, 6002));
    assert!(!shortconv_bwd_fuses::<f32>(1, 2, 8192) && !shortconv_bwd_fuses::<bf16>(1, 2, 4096) && !shortconv_bwd_fuses::<bf16>(1, 2, 8191));
    for dev in common::devices() {
        check_shortconv_bwd_fused::<bf16>(&dev, 1, 2, 8192, [2, 1, 0], 790);
        check_shortconv_bwd_fused::<f16>(&dev, 2, 1, 6002, [0, 2, 1], 791);
        // Not applicable (L = 4096: the SIMT backward's shapes): Ok(false), the outputs untouched.
        let (c, l) = (1usize, 4096usize);
        let n = c * l;
        let buf = |len: usize| DeviceBuffer::<bf16>::from_host(&dev, &vec![bf16::from_f32(0.5); len]).unwrap();
        let (uc, z, w, inner, gy, d) = (buf(3 * n), buf(3 * n), buf(9 * c), buf(n), buf(n), buf(c));
        let hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
        let a = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(1, c, l).unwrap()).unwrap();
        let (mut gz, mut gw, mut gb, mut gh, mut gd) = (buf(3 * n), buf(9 * c), buf(3 * c), buf(n), buf(c));
        let mut call = |roles: [usize; 3]| {
            let sc = ShortConvBwdViews { z: z.as_view(), w: w.as_view(), roles, grad_z: gz.as_view_mut(), grad_w: gw.as_view_mut(), grad_b: gb.as_view_mut(), grad_in_bias: None };
            gated_fftconv_shortconv_bwd(&dev, &hf, &d, &uc, &inner, &a, &gy, 1, c, l, sc, gh.as_view_mut(), gd.as_view_mut())
        };
        assert!(!call([2, 1, 0]).unwrap(), "{}: L = 4096 is not a fused shape", dev.name());
        match call([2, 2, 0]) {
            Err(HyenaError::Invalid(m)) => assert!(m.contains("permutation"), "{}: {m}", dev.name()),
            other => panic!("{}: roles [2, 2, 0]: {other:?}", dev.name()),
        }
        dev.synchronize().unwrap();
        assert!(gz.to_host().unwrap().iter().all(|x| x.to_f32() == 0.5), "{}: Ok(false) wrote grad_z", dev.name());
    }
}

#[test]
fn gated_fftconv_rejects_bad_arguments_with_typed_errors() {
    for dev in common::devices() {
        let (bs, c, l) = (1, 2, 4);
        let v = DeviceBuffer::from_host(&dev, &[0.5f32; 8]).unwrap();
        let h = DeviceBuffer::from_host(&dev, &[0.25f32; 8]).unwrap();
        let d = DeviceBuffer::from_host(&dev, &[0.125f32; 2]).unwrap();
        let mut y = DeviceBuffer::<f32>::alloc(&dev, 8).unwrap();
        gated_fftconv_fwd(&dev, &h, &d, &v, None, None, bs, c, l, &mut y).unwrap();
        let e = gated_fftconv_fwd(&dev, &h, &d, &v, None, None, bs, c, 3, &mut y).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let e = gated_fftconv_fwd(&dev, &h, &d, &v, Some(v.view(0..7).unwrap()), None, bs, c, l, &mut y).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        // An output overlapping an input (`y` = `v`) no longer compiles: `&mut v` and `&v` at once
        // (see the compile_fail example of `ops::gating::gate_fwd`).
        let e = gated_fftconv_fwd(&dev, h.view(0..0).unwrap(), &d, v.view(0..0).unwrap(), None, None, bs, c, 0, y.view_mut(0..0).unwrap())
            .unwrap_err();
        assert!(matches!(e, HyenaError::Length(_)), "{e}");
        // Beyond the multi-pass path: a TooLong error naming the limit (before any allocation).
        let long = LONG_MAX_LEN + 1;
        let e = gated_fftconv_fwd(&dev, &h, &d, &v, None, None, 1, 1, long, &mut y).unwrap_err();
        assert!(matches!(&e, HyenaError::TooLong { limit: LONG_MAX_LEN, .. }), "{e}");
    }
}

/// A device with less shared memory than a launch needs: SharedMemory error before launching.
#[cfg(feature = "sim")]
#[test]
fn gated_fftconv_shared_memory_over_the_limit_is_an_error() {
    common::fftconv::assert_fwd_over_shared_memory_limit(4096); // filter kernel: 4n = 32 KiB > 16 KiB
}

/// Backward: `common::fftconv::check_gated_bwd` (same bounds as the forward: every output is a
/// handful of fp32 FFTs; grad_h and grad_D add a sum over the batch).
#[test]
fn gated_fftconv_bwd_f32_matches_cpu() {
    for dev in common::devices() {
        for (i, &(l, bs, c)) in
            [(1, 2, 3), (2, 3, 2), (3, 2, 2), (17, 3, 2), (255, 2, 2), (1000, 2, 1), (4097, 1, 1)].iter().enumerate()
        {
            check_gated_bwd::<f32>(&dev, bs, c, l, true, 500 + i as u64);
        }
        check_gated_bwd::<f32>(&dev, 2, 2, 33, false, 600);
    }
}

/// 2-byte storage through every radix of the backward's first and last passes (`fwd_p0`,
/// `fwd_last` on both buffers since branch bwd10): R0 = 8 (L = 100, 2048), 16 (255, 4096: H = 8
/// low points, the output hook's two groups of 4), 2 (6000: the checked path at the row's end);
/// odd L and odd row offsets (255, B·C rows of odd length) take the checked path, L = 33 without gates.
/// The two-block kernels (`bwd_a_2b` then `bwd_g_2b`, the workspace carrying A between them; with
/// gates, L ≤ 64, 256 < L ≤ 1K, 4K < L ≤ 8K): L = 40, 1000, 1001 (odd rows: the checked path), and
/// the `_m13` kernels (4K < L ≤ 8K) at 6000 and at 8192 with B = 2 (the reduce over two rows' spectra).
#[test]
fn gated_fftconv_bwd_bf16_matches_cpu() {
    for dev in common::devices() {
        check_gated_bwd::<bf16>(&dev, 2, 2, 100, true, 700);
        for (i, &(l, bs, c)) in
            [(255usize, 1usize, 2usize), (2048, 1, 1), (4096, 1, 1), (6000, 1, 1), (40, 2, 2), (1000, 2, 2), (1001, 1, 2), (8192, 2, 1)]
                .iter()
                .enumerate()
        {
            check_gated_bwd::<bf16>(&dev, bs, c, l, true, 710 + i as u64);
            check_gated_bwd::<f16>(&dev, bs, c, l, true, 720 + i as u64);
        }
        check_gated_bwd::<f16>(&dev, 2, 1, 33, false, 730);
        // Without gates at 4K < L ≤ 8K: the generic 128-register backward (no post gate, so not
        // the two-block kernels) reading the filter's spectrum in the four-step order
        // (ops::fftconv::spectra_four_step).
        check_gated_bwd::<bf16>(&dev, 1, 1, 6000, false, 731);
    }
}

/// The forward's value before the post gate (`gated_fftconv_fwd_spectrum_inner`) vs the reference
/// without the post gate, y unchanged; and the backward given an inner value
/// (`gated_fftconv_bwd_spectrum_inner`, `common::fftconv::check_bwd_reads_inner`): grad_post =
/// round(inner ⊙ grad_y) bit for bit, the other gradients the reference's. f32 and the 2-byte
/// fast paths (L = 2048, 4096: full butterflies; 255: odd rows, the checked path). The multi-pass
/// path's: tests/all/fftconv_long.rs.
#[test]
fn gated_fftconv_inner_value_matches_cpu() {
    for dev in common::devices() {
        check_fwd_inner(&dev, &fwd_case::<f32>(2, 3, 1000, true, 740));
        check_fwd_inner(&dev, &fwd_case::<bf16>(1, 2, 4096, true, 741));
        check_fwd_inner(&dev, &fwd_case::<f16>(2, 1, 255, true, 742));
        check_bwd_reads_inner::<f32>(&dev, 2, 3, 1000, 743);
        check_bwd_reads_inner::<bf16>(&dev, 1, 1, 4096, 744);
        check_bwd_reads_inner::<f16>(&dev, 1, 2, 2048, 745);
        check_bwd_reads_inner::<bf16>(&dev, 2, 1, 255, 746);
        // The two-block shapes of 2-byte storage (the operator keeps `inner` there): the forward
        // `hyena_fftconv_fwd_2b_inner_*` and the backward's A kernel without the convolution
        // (`hyena_fftconv_bwd_a_spec_2b_*`): L = 999 and 1000 the generic kernels (999: odd rows,
        // the checked path), 8191 the forward built for m = 2^13 (odd rows; even ones at 4K < L ≤
        // 8K run on tensor cores, as 8192 here: ops::fftconv::fwd_tensor_cores), 6000 and 8192
        // the backward's built for m = 2^13.
        check_fwd_inner(&dev, &fwd_case::<f16>(2, 1, 1000, true, 749));
        check_fwd_inner(&dev, &fwd_case::<bf16>(1, 2, 999, true, 750));
        check_fwd_inner(&dev, &fwd_case::<bf16>(1, 2, 8191, true, 751));
        check_fwd_inner(&dev, &fwd_case::<f16>(2, 1, 8192, true, 756));
        check_bwd_reads_inner::<f16>(&dev, 1, 2, 1000, 752);
        check_bwd_reads_inner::<bf16>(&dev, 2, 1, 999, 753);
        check_bwd_reads_inner::<bf16>(&dev, 2, 1, 6000, 754);
        check_bwd_reads_inner::<f16>(&dev, 1, 1, 8192, 755);
    }
}

/// The forward keeping A's spectrum for the backward (`gated_fftconv_{fwd,bwd}_spectrum_keep`,
/// `common::fftconv::check_a_spectrum_kept`): the spectrum is A = rFFT(pre ⊙ v), the forward's
/// outputs the same bits as without it, every gradient the same bits as without it (the SIMT
/// forward) or within the bound of the reference (the tensor-core forward, whose spectrum has
/// f16-operand rounding). The two-block shapes: L = 999 (odd rows: the checked path) and 1000
/// the generic kernels, 6001 (odd rows) the SIMT forward built for m = 2^13; the tensor-core
/// forward (even L at 4K < L ≤ 8K) at 6000 (the row's tail past L, B = C = 2: rows channel-major
/// as the backward reads the spectrum) and 8192 (B = 2: the batch reduce over two rows).
#[test]
fn gated_fftconv_keeps_a_spectrum_for_the_backward() {
    for dev in common::devices() {
        check_a_spectrum_kept::<bf16>(&dev, 1, 2, 999, 760);
        check_a_spectrum_kept::<f16>(&dev, 2, 1, 1000, 761);
        check_a_spectrum_kept::<bf16>(&dev, 1, 2, 6001, 762);
        check_a_spectrum_kept::<f16>(&dev, 2, 2, 6000, 764);
        check_a_spectrum_kept::<bf16>(&dev, 2, 1, 8192, 763);
    }
}

/// Where A's spectrum is not kept, typed errors: f32 storage or a one-block shape (L = 4096) on
/// the shared-memory path, no `inner` (the backward's A kernel it replaces writes grad_post from
/// it), a wrong length.
#[test]
fn gated_fftconv_a_spectrum_rejects_what_it_does_not_serve() {
    assert!(a_spectrum_pays::<bf16>(1, 768, 8192) && a_spectrum_pays::<f16>(1, 2, 1000));
    assert!(!a_spectrum_pays::<f32>(1, 768, 8192) && !a_spectrum_pays::<bf16>(1, 768, 4096) && !a_spectrum_pays::<bf16>(1, 768, 2048));
    // The multi-pass path in every storage type, up to its limit.
    assert!(a_spectrum_pays::<f32>(1, 768, 8193) && a_spectrum_pays::<bf16>(1, 768, 16384) && a_spectrum_pays::<bf16>(4, 768, LONG_MAX_LEN) && !a_spectrum_pays::<f32>(1, 1, LONG_MAX_LEN + 1));
    for dev in common::devices() {
        let up = |l: usize, x: f32| DeviceBuffer::from_host(&dev, &vec![bf16::from_f32(x); 2 * l]).unwrap();
        let up32 = |l: usize| DeviceBuffer::from_host(&dev, &vec![0.5f32; 2 * l]).unwrap();
        // (bs, c, l) = (1, 2, l): f32 on a two-block length, bf16 on L = 4096 (one block per row).
        for (l, f32_storage) in [(1000usize, true), (4096, false)] {
            let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(2, l).unwrap()).unwrap();
            let mut spec = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(1, 2, l).unwrap()).unwrap();
            let e = if f32_storage {
                let (v, d) = (up32(l), DeviceBuffer::from_host(&dev, &[0.5f32; 2]).unwrap());
                let (mut y, mut z) = (up32(l), up32(l));
                fftconv_filter(&dev, &v, 2, l, &mut hf).unwrap();
                gated_fftconv_fwd_spectrum_keep(&dev, &hf, &d, &v, Some(v.as_view()), Some(v.as_view()), 1, 2, l, &mut y, Some(z.as_view_mut()), Some(spec.as_view_mut()))
            } else {
                let (v, d) = (up(l, 0.5), DeviceBuffer::from_host(&dev, &[bf16::from_f32(0.5); 2]).unwrap());
                let (mut y, mut z) = (up(l, 0.0), up(l, 0.0));
                fftconv_filter(&dev, &v, 2, l, &mut hf).unwrap();
                gated_fftconv_fwd_spectrum_keep(&dev, &hf, &d, &v, Some(v.as_view()), Some(v.as_view()), 1, 2, l, &mut y, Some(z.as_view_mut()), Some(spec.as_view_mut()))
            }
            .unwrap_err();
            assert!(matches!(&e, HyenaError::Invalid(m) if m.contains("a_spec")), "L = {l}: {e}");
        }
        let l = 1000;
        let (v, d) = (up(l, 0.5), DeviceBuffer::from_host(&dev, &[bf16::from_f32(0.5); 2]).unwrap());
        let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(2, l).unwrap()).unwrap();
        fftconv_filter(&dev, &v, 2, l, &mut hf).unwrap();
        let ns = a_spectrum_len(1, 2, l).unwrap();
        let mut spec = DeviceBuffer::<f32>::alloc(&dev, ns + 2).unwrap();
        let (mut y, mut z) = (up(l, 0.0), up(l, 0.0));
        let e = gated_fftconv_fwd_spectrum_keep(&dev, &hf, &d, &v, Some(v.as_view()), Some(v.as_view()), 1, 2, l, &mut y, None, Some(spec.view_mut(0..ns).unwrap()))
            .unwrap_err();
        assert!(matches!(&e, HyenaError::Invalid(m) if m.contains("inner")), "{e}");
        let e = gated_fftconv_fwd_spectrum_keep(&dev, &hf, &d, &v, Some(v.as_view()), Some(v.as_view()), 1, 2, l, &mut y, Some(z.as_view_mut()), Some(spec.as_view_mut()))
            .unwrap_err();
        assert!(matches!(&e, HyenaError::Shape { .. }) && e.to_string().contains("a_spec"), "{e}");
        // The backward: the same conditions.
        let mut g: Vec<DeviceBuffer<bf16>> = [2 * l, 2 * l, 2 * l, 2 * l, 2].iter().map(|&k| up(k / 2, 0.0)).collect();
        let [gv, gpre, gpost, gh, gd] = &mut g[..] else { unreachable!() };
        let grads = GatedConvGradViews {
            grad_v: gv.as_view_mut(),
            grad_pre: Some(gpre.as_view_mut()),
            grad_post: Some(gpost.as_view_mut()),
            grad_h: gh.as_view_mut(),
            grad_d: gd.view_mut(0..2).unwrap(),
        };
        let e = gated_fftconv_bwd_spectrum_keep(&dev, &hf, &d, &v, Some(v.as_view()), Some(v.as_view()), None, Some(spec.view(0..ns).unwrap()), &v, 1, 2, l, grads)
            .unwrap_err();
        assert!(matches!(&e, HyenaError::Invalid(m) if m.contains("inner")), "{e}");
    }
}

#[test]
fn gated_fftconv_bwd_rejects_long_rows() {
    for dev in common::devices() {
        let l = LONG_MAX_LEN + 1;
        let x = DeviceBuffer::from_host(&dev, &vec![0.5f32; l]).unwrap();
        let d = DeviceBuffer::from_host(&dev, &[0.5f32]).unwrap();
        let (mut gv, mut gh, mut gd) = (
            DeviceBuffer::<f32>::alloc(&dev, l).unwrap(),
            DeviceBuffer::<f32>::alloc(&dev, l).unwrap(),
            DeviceBuffer::<f32>::alloc(&dev, 1).unwrap(),
        );
        let grads =
            GatedConvGradViews { grad_v: gv.as_view_mut(), grad_pre: None, grad_post: None, grad_h: gh.as_view_mut(), grad_d: gd.as_view_mut() };
        let e = gated_fftconv_bwd(&dev, &x, &d, &x, None, None, &x, 1, 1, l, grads).unwrap_err();
        assert!(matches!(&e, HyenaError::TooLong { limit: LONG_MAX_LEN, .. }), "{e}");
    }
}

/// The simulator running threads and blocks last-first: results must not depend on the order.
#[cfg(feature = "sim")]
#[test]
fn gated_fftconv_reverse_thread_order_matches_cpu() {
    use hyena_kernels::device::sim::{SimDevice, ThreadOrder};
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_thread_order(ThreadOrder::Reverse));
    check::<f32>(&dev, 2, 2, 255, true, 800);
    check_gated_bwd::<f32>(&dev, 3, 2, 100, true, 801);
}

/// The filter spectrum of `c` rows of length `l` (storage `T`) alone vs the CPU plan's of the same
/// stored values in f64, including the DC and Nyquist bins; [C, n/2+1] complex, scaled by 1/n. The
/// kernel computes in f32, so the bound is f32's whatever the storage.
fn check_filter<T: Storage>(dev: &Arc<dyn Device>, l: usize, c: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let h = random::<T>(&mut rng, c * l);
    // The kernel's FFT size n (`fft_size`: a power of two ≥ 2L): the reference is the spectrum of
    // each row zero padded to n/2 (a CPU plan of that length has FFT size n).
    let half = fft_size(l).unwrap() / 2;
    assert!(half >= l && half.is_power_of_two(), "L={l}: n/2 = {half}");
    let k = spectrum_len(c, l).unwrap();
    let mut padded = vec![0.0f64; c * half];
    for (row, src) in padded.chunks_mut(half).zip(widen(&h).chunks(l)) {
        row[..l].copy_from_slice(src);
    }
    let plan = FftConvPlan::<f64>::new(half).unwrap();
    assert_eq!(plan.fft_size(), 2 * half);
    let spectra = plan.filter_spectra(&padded, c).unwrap();
    // At n = 2^14 in 2-byte storage the spectrum is made on tensor cores in the four-step order
    // (ops::fftconv::spectra_four_step): bin j < n/2 of a row at 256·(j mod 32) + j/32, bin n/2
    // last; f16 operands: the FFT-8192's bound, 17u, plus the rounding of h to f16 (u), u = 2^-11.
    let four = spectra_four_step::<T>(2 * half);
    let want: Vec<f64> = spectra.chunks(half + 1).flat_map(|row| common::fftconv::spectrum_row_in_layout(row, four)).collect();
    assert_eq!(k, want.len());
    let dh = DeviceBuffer::from_host(dev, &h).unwrap();
    let mut dhf = common::poisoned::<f32>(dev, k);
    fftconv_filter(dev, &dh, c, l, dhf.view_mut(0..k).unwrap()).unwrap();
    dev.synchronize().unwrap();
    let tag = format!("{} filter spectrum<{:?}> L={l} C={c}", dev.name(), T::DTYPE);
    let err = common::assert_close(&tag, &read_checked(&tag, &dhf, k), &want, if four { 18.0 / 2048.0 } else { 1e-5 });
    eprintln!("{tag}: relative L2 error {err:.3e} (tensor cores: {four})");
}

#[test]
fn fftconv_filter_matches_cpu_spectrum() {
    for dev in common::devices() {
        for (i, &(l, c)) in [(2usize, 3usize), (8, 2), (256, 2)].iter().enumerate() {
            check_filter::<f32>(&dev, l, c, 900 + i as u64);
        }
        // 2-byte rows: at 4K < L ≤ 8K the tensor-core kernel (hyena_fftconv_filter_tc_m13_*):
        // tails (6000, 8191), L = 6001 at C = 2 (row 1 not 4-byte aligned: 2-byte loads), 8192
        // at C = 2; 2048 the SIMT kernel (P0's fast path, the last pass's bin pairs in registers).
        for (i, &(l, c)) in [(6000usize, 1usize), (6001, 2), (8191, 1), (8192, 2), (2048, 1)].iter().enumerate() {
            check_filter::<bf16>(&dev, l, c, 910 + i as u64);
            check_filter::<f16>(&dev, l, c, 920 + i as u64);
        }
    }
}
