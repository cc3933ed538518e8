//! `ops::gemm::gemm` over `Device::gemm` (cuBLAS `cublasGemmStridedBatchedEx` on the GPU, the
//! simulator's GEMM) vs a naive f64 GEMM on the same (storage-rounded) inputs, for every dtype, both transposes, padded
//! leading dimensions, batches, and beta = 0 with C poisoned with NaN (C must not be read); the
//! same for `gemm_f32_out` (16-bit operands, f32 C).
#![cfg(any(feature = "cuda", feature = "sim"))]

use crate::common;

use half::{bf16, f16};
use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar, GemmSpec, Trans};
use hyena_kernels::ops::gemm::{gemm, gemm_f32_out, gemm_with, GemmIn, GemmOut};
use hyena_kernels::HyenaError;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::Arc;

trait Elem: DeviceScalar {
    /// Relative accuracy of the storage type (output rounding) and of the accumulation.
    const STORE_EPS: f64;
    const ACC_EPS: f64;
}
impl Elem for f32 {
    const STORE_EPS: f64 = 1.2e-7;
    const ACC_EPS: f64 = 1e-6;
}
impl Elem for f64 {
    const STORE_EPS: f64 = 2.3e-16;
    const ACC_EPS: f64 = 1e-13;
}
impl Elem for f16 {
    const STORE_EPS: f64 = 1.0 / 1024.0;
    const ACC_EPS: f64 = 1e-5;
}
impl Elem for bf16 {
    const STORE_EPS: f64 = 1.0 / 128.0;
    const ACC_EPS: f64 = 1e-5;
}

fn random<T: Elem>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.random_range(-1.0..1.0))).collect()
}

/// The GEMM under test: `gemm` (C in T) or `gemm_f32_out` (C in f32).
type Run<T, U> = fn(&Arc<dyn Device>, usize, usize, usize, f64, GemmIn<'_, T>, GemmIn<'_, T>, f64, GemmOut<'_, U>, usize) -> hyena_kernels::Result<()>;

/// Operands in T, C in U; U's constants give the output rounding and the accumulation's accuracy.
#[allow(clippy::too_many_arguments)]
fn case<T: Elem, U: Elem>(dev: &Arc<dyn Device>, run: Run<T, U>, ta: Trans, tb: Trans, m: usize, n: usize, k: usize, batch: usize, beta: f64) {
    let mut rng = StdRng::seed_from_u64((m * 1000 + n * 100 + k) as u64 + beta as u64);
    let tag = format!("{} gemm<{:?} -> {:?}> {ta:?}{tb:?} m={m} n={n} k={k} batch={batch} beta={beta}", dev.name(), T::DTYPE, U::DTYPE);
    let (ar, ac) = if ta == Trans::N { (m, k) } else { (k, m) };
    let (br, bc) = if tb == Trans::N { (k, n) } else { (n, k) };
    // Padded leading dimensions and batch strides with gaps.
    let (lda, ldb, ldc) = (ar + 2, br + 1, m + 3);
    let (sa, sb, sc) = (lda * ac + 5, ldb * bc + 3, ldc * n + 7);
    let a = random::<T>(&mut rng, sa * batch);
    let b = random::<T>(&mut rng, sb * batch);
    let c0: Vec<U> = if beta == 0.0 { vec![U::from_f64(f64::NAN); sc * batch] } else { random(&mut rng, sc * batch) };
    let alpha = 1.5;
    let (da, db, mut dc) = (
        DeviceBuffer::from_host(dev, &a).unwrap(),
        DeviceBuffer::from_host(dev, &b).unwrap(),
        DeviceBuffer::from_host(dev, &c0).unwrap(),
    );
    let ga = GemmIn { view: da.as_view(), ld: lda, stride: sa, trans: ta };
    let gb = GemmIn { view: db.as_view(), ld: ldb, stride: sb, trans: tb };
    let gc = GemmOut { view: dc.as_view_mut(), ld: ldc, stride: sc };
    run(dev, m, n, k, alpha, ga, gb, beta, gc, batch).unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    let got = dc.to_host().unwrap();
    for bi in 0..batch {
        for j in 0..n {
            for i in 0..m {
                let (mut acc, mut mag) = (0.0f64, 0.0f64);
                for l in 0..k {
                    let x = a[bi * sa + if ta == Trans::N { i + l * lda } else { l + i * lda }].to_f64();
                    let y = b[bi * sb + if tb == Trans::N { l + j * ldb } else { j + l * ldb }].to_f64();
                    acc += x * y;
                    mag += (x * y).abs();
                }
                let ci = bi * sc + i + j * ldc;
                let mut want = alpha * acc;
                let mut scale = alpha * mag;
                if beta != 0.0 {
                    want += beta * c0[ci].to_f64();
                    scale += (beta * c0[ci].to_f64()).abs();
                }
                let g = got[ci].to_f64();
                let tol = U::STORE_EPS * want.abs() + U::ACC_EPS * scale.max(1e-30) * (k as f64).sqrt();
                assert!(
                    !g.is_nan() && (g - want).abs() <= tol,
                    "{tag}: C[{bi}][{i},{j}] = {g}, want {want} (tol {tol})"
                );
            }
        }
    }
    // Padding between columns and batches of C is untouched.
    for (idx, (g, c)) in got.iter().zip(&c0).enumerate() {
        let (bi, r) = (idx / sc, idx % sc);
        let inside = bi < batch && r < ldc * n && r % ldc < m;
        if !inside {
            let (g, c) = (g.to_f64(), c.to_f64());
            assert!(g == c || (g.is_nan() && c.is_nan()), "{tag}: padding element {idx} changed");
        }
    }
}

fn sweep_with<T: Elem, U: Elem>(run: Run<T, U>) {
    for dev in common::devices() {
        for (ta, tb) in [(Trans::N, Trans::N), (Trans::T, Trans::N), (Trans::N, Trans::T), (Trans::T, Trans::T)] {
            case::<T, U>(&dev, run, ta, tb, 5, 7, 3, 3, 0.0);
            case::<T, U>(&dev, run, ta, tb, 17, 9, 33, 2, 0.5);
        }
        case::<T, U>(&dev, run, Trans::N, Trans::N, 1, 1, 1, 1, 0.0);
        case::<T, U>(&dev, run, Trans::N, Trans::T, 64, 48, 80, 1, 0.0);
    }
}

fn sweep<T: Elem>() {
    sweep_with::<T, T>(gemm::<T>);
}

#[test]
fn gemm_f32_matches_reference() {
    sweep::<f32>();
}
#[test]
fn gemm_f64_matches_reference() {
    sweep::<f64>();
}
#[test]
fn gemm_f16_matches_reference() {
    sweep::<f16>();
}
#[test]
fn gemm_bf16_matches_reference() {
    sweep::<bf16>();
}
/// 16-bit operands with an f32 C (the implicit filter backward's output-layer GEMMs): C within
/// f32's rounding and accumulation bounds of the exact product of the stored operands, so not
/// rounded to the operands' type (bf16's 2⁻⁸ would fail the f32 bound).
#[test]
fn gemm_16bit_operands_f32_out_match_reference() {
    sweep_with::<bf16, f32>(gemm_f32_out::<bf16>);
    sweep_with::<f16, f32>(gemm_f32_out::<f16>);
    sweep_with::<f32, f32>(gemm_f32_out::<f32>);
}

#[test]
fn gemm_out_of_bounds_or_bad_spec_is_a_typed_error() {
    for dev in common::devices() {
        let a = DeviceBuffer::from_host(&dev, &[1.0f32; 12]).unwrap();
        let mut c = DeviceBuffer::<f32>::alloc(&dev, 12).unwrap();
        let run = |s: &GemmSpec, c: &mut DeviceBuffer<f32>| {
            let ga = GemmIn { view: a.as_view(), ld: s.lda, stride: s.stride_a, trans: s.trans_a };
            let gb = GemmIn { view: a.as_view(), ld: s.ldb, stride: s.stride_b, trans: s.trans_b };
            let gc = GemmOut { view: c.as_view_mut(), ld: s.ldc, stride: s.stride_c };
            gemm(&dev, s.m, s.n, s.k, s.alpha, ga, gb, s.beta, gc, s.batch)
        };
        let ok = GemmSpec {
            dtype: hyena_kernels::device::DType::F32,
            c_dtype: hyena_kernels::device::DType::F32,
            trans_a: Trans::N,
            trans_b: Trans::N,
            m: 3,
            n: 4,
            k: 4,
            alpha: 1.0,
            a: a.addr(),
            lda: 3,
            stride_a: 0,
            b: a.addr(),
            ldb: 4,
            stride_b: 0,
            beta: 0.0,
            c: c.addr(),
            ldc: 3,
            stride_c: 0,
            batch: 1,
            tf32: false,
        };
        // A needs lda*(k-1)+m = 12 elements: fine. B (4x4) needs 16: out of bounds, caught by the
        // typed wrapper against the view and by the device against its allocations.
        let e = run(&ok, &mut c).unwrap_err();
        assert!(matches!(e, HyenaError::Buffer { .. }), "{e}");
        // SAFETY: a and c are held here and used by nothing else; B's range is refused before
        // anything runs (what this checks).
        let e = unsafe { dev.gemm(&ok) }.unwrap_err();
        assert!(matches!(e, HyenaError::Buffer { .. }), "{e}");
        // Batch 2 with a stride walking past C.
        let mut s = ok;
        s.k = 3;
        s.ldb = 3;
        s.n = 4;
        s.batch = 2;
        s.stride_c = 12;
        let e = run(&s, &mut c).unwrap_err();
        assert!(matches!(e, HyenaError::Buffer { .. }), "{e}");
        // ldc smaller than m.
        let mut s = ok;
        s.k = 3;
        s.ldb = 3;
        s.ldc = 2;
        let e = run(&s, &mut c).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        // Sizes whose extents overflow: a typed error, not a panic.
        let mut s = ok;
        s.m = usize::MAX;
        s.lda = usize::MAX;
        s.ldc = usize::MAX;
        let e = run(&s, &mut c).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        // C in a type the operands do not allow (f32 operands, f16 C; f64 operands, f32 C):
        // refused by the device before anything runs, and through the typed wrapper.
        let mut s = ok;
        s.k = 3;
        s.ldb = 3;
        s.c_dtype = hyena_kernels::device::DType::F16;
        // SAFETY: the ranges are in bounds; the type pair is refused before anything runs.
        let e = unsafe { dev.gemm(&s) }.unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        let a64 = DeviceBuffer::from_host(&dev, &[1.0f64; 12]).unwrap();
        let g64 = GemmIn { view: a64.as_view(), ld: 3, stride: 0, trans: Trans::N };
        let e = gemm_f32_out(&dev, 3, 4, 3, 1.0, g64, g64, 0.0, GemmOut { view: c.as_view_mut(), ld: 3, stride: 0 }, 1).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        // The in-bounds version works: C = A(3x3 of ones) * B(3x4 of ones) = 3.
        let mut s = ok;
        s.k = 3;
        s.ldb = 3;
        run(&s, &mut c).unwrap();
        dev.synchronize().unwrap();
        assert_eq!(c.to_host().unwrap(), vec![3.0f32; 12]);
    }
}

/// The TF32 switch (`Device::set_tf32`) and one GEMM's own flag (`gemm_with`, `GemmSpec::tf32`):
/// off by default; on, f32 GEMMs round their operands to
/// TF32 and stay within TF32's error bound of the exact product; off again, the results are
/// bit-identical to those before it was ever switched on. In the simulator the rounding is
/// exactly `tf32_round` (to nearest, ties to even), checked against an f64 GEMM of the rounded
/// operands; on a GPU only the bound is checked (cuBLAS's conversion may truncate instead).
#[test]
fn tf32_switch_changes_f32_gemms_within_tf32_error() {
    use hyena_kernels::device::{tf32_round, DeviceKind};
    // By hand: 1 + 2⁻¹¹ is halfway between 1 and 1 + 2⁻¹⁰ (a TF32 ulp at 1): ties to even → 1;
    // 1 + 3·2⁻¹¹ is halfway between 1 + 2⁻¹⁰ (odd) and 1 + 2⁻⁹ (even) → 1 + 2⁻⁹; just above a
    // tie rounds up; values already in TF32 and non-finite ones are unchanged.
    assert_eq!(tf32_round(1.0 + 2f32.powi(-11)), 1.0);
    assert_eq!(tf32_round(1.0 + 3.0 * 2f32.powi(-11)), 1.0 + 2f32.powi(-9));
    assert_eq!(tf32_round(-(1.0 + 2f32.powi(-11) + 2f32.powi(-23))), -(1.0 + 2f32.powi(-10)));
    assert_eq!(tf32_round(1.5), 1.5);
    assert!(tf32_round(f32::NAN).is_nan());
    assert_eq!(tf32_round(f32::INFINITY), f32::INFINITY);
    for dev in common::devices() {
        let (m, n, k) = (24, 20, 64);
        let mut rng = StdRng::seed_from_u64(5);
        let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let (da, db) = (DeviceBuffer::from_host(&dev, &a).unwrap(), DeviceBuffer::from_host(&dev, &b).unwrap());
        let run_with = |tf32: bool| -> Vec<f32> {
            let mut dc = DeviceBuffer::<f32>::alloc(&dev, m * n).unwrap();
            let ga = GemmIn { view: da.as_view(), ld: m, stride: 0, trans: Trans::N };
            let gb = GemmIn { view: db.as_view(), ld: k, stride: 0, trans: Trans::N };
            let c = GemmOut { view: dc.as_view_mut(), ld: m, stride: 0 };
            if tf32 {
                gemm_with(&dev, m, n, k, 1.0, ga, gb, 0.0, c, 1, true).unwrap();
            } else {
                gemm(&dev, m, n, k, 1.0, ga, gb, 0.0, c, 1).unwrap();
            }
            dc.to_host().unwrap()
        };
        let run = || run_with(false);
        assert!(!dev.tf32(), "{}: TF32 must be off by default", dev.name());
        let before = run();
        dev.set_tf32(true).unwrap();
        assert!(dev.tf32());
        let tf = run();
        dev.set_tf32(false).unwrap();
        let after = run();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&before), bits(&after), "{}: off again must be bit-identical", dev.name());
        // One GEMM's own TF32 flag (`gemm_with(.., true)`, switch off): the switch's result, and
        // the switch stays off for the next GEMM.
        let one = run_with(true);
        assert!(!dev.tf32(), "{}: a GEMM's flag must not turn the switch on", dev.name());
        assert_eq!(bits(&one), bits(&tf), "{}: gemm_with(tf32) differs from the switch", dev.name());
        assert_eq!(bits(&run()), bits(&before), "{}: the next plain GEMM must be f32 again", dev.name());
        let mut changed = 0;
        for j in 0..n {
            for i in 0..m {
                // Column-major: C[i + j·m] = Σ_l A[i + l·m]·B[l + j·k].
                let dot = |f: &dyn Fn(f32) -> f64| -> (f64, f64) {
                    (0..k).fold((0.0, 0.0), |(s, g), l| {
                        let (x, y) = (f(a[i + l * m]), f(b[l + j * k]));
                        (s + x * y, g + (x * y).abs())
                    })
                };
                let (exact, mag) = dot(&|x| x as f64);
                let (rounded, _) = dot(&|x| tf32_round(x) as f64);
                let c = tf[i + j * m] as f64;
                // f32 accumulation of k terms: ≤ 1.01·k·2⁻²⁴·Σ|terms| (first order). Operand
                // rounding: each factor within one TF32 ulp (2⁻¹⁰ relative; covers truncation as
                // well as rounding to nearest), so each product within (2·2⁻¹⁰ + 2⁻²⁰)·|ab|.
                let acc = 1.01 * k as f64 * 2f64.powi(-24) * mag * (1.0 + 2f64.powi(-9));
                let bound = (2.0 * 2f64.powi(-10) + 2f64.powi(-20)) * mag + acc;
                assert!((c - exact).abs() <= bound, "{} ({i},{j}): |{c} - {exact}| > {bound}", dev.name());
                if dev.kind() == DeviceKind::Sim {
                    assert!((c - rounded).abs() <= acc, "{} ({i},{j}): |{c} - {rounded}| > {acc} (TF32-rounded operands)", dev.name());
                }
                changed += usize::from(tf[i + j * m] != before[i + j * m]);
            }
        }
        // Rounding 13 bits off both operands moves nearly every output.
        assert!(changed > m * n / 2, "{}: TF32 changed only {changed} of {} outputs", dev.name(), m * n);
    }
}
