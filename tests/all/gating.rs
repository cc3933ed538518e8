//! Gating kernels (`kernels/gating.cu` through `ops::gating`) vs the CPU reference
//! (`cpu::gating`), forward and backward, f32/bf16/f16 storage, on every available device.
//!
//! Inputs are random, bounded away from zero; outputs are poisoned with NaN, including a margin
//! around every view, which must stay NaN (input margins hold a finite value, so an out-of-bounds
//! write is visible). The reference computes in f32 on the
//! storage-rounded inputs and rounds once to the storage type, exactly what the kernel does, so the
//! tolerance is one unit in the last place of the storage type.
#![cfg(any(feature = "cuda", feature = "sim"))]

use crate::common;

use half::{bf16, f16};
use hyena_kernels::cpu::gating as cpu;
use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar};
use hyena_kernels::ops::gating::{bias_fill, gate_bwd, gate_fwd, Broadcast};
use hyena_kernels::HyenaError;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::Arc;

trait Elem: DeviceScalar {
    /// Relative size of one unit in the last place.
    const ULP: f64;
    fn from_f32(x: f32) -> Self;
    fn to_f32(self) -> f32;
}
impl Elem for f32 {
    const ULP: f64 = f32::EPSILON as f64;
    fn from_f32(x: f32) -> Self {
        x
    }
    fn to_f32(self) -> f32 {
        self
    }
}
impl Elem for bf16 {
    const ULP: f64 = 1.0 / 128.0;
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}
impl Elem for f16 {
    const ULP: f64 = 1.0 / 1024.0;
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

const LENGTHS: &[usize] = &[1, 3, 17, 1000, 4097];

/// Random values in ±[0.25, 2], rounded to the storage type.
fn random<T: Elem>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| {
            let m: f32 = rng.random_range(0.25..2.0);
            T::from_f32(if rng.random_bool(0.5) { m } else { -m })
        })
        .collect()
}

fn widen<T: Elem>(v: &[T]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

fn narrow<T: Elem>(v: &[f32]) -> Vec<T> {
    v.iter().map(|&x| T::from_f32(x)).collect()
}

/// Every element of `got` within one ulp of `want` (no NaN), with a message naming the first miss.
fn assert_close<T: Elem>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f32() as f64, w.to_f32() as f64);
        assert!(
            !g.is_nan() && (g - w).abs() <= T::ULP * w.abs(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// Offsets (in elements) of the views of a, b, and the outputs inside their buffers.
/// `[0,0,0]`: whole aligned buffers (vector path); `[4,4,4]` for f32 / `[8,8,8]` for 16-bit: views
/// that are still 16-byte aligned; odd offsets: misaligned views (element path).
fn layouts<T: Elem>() -> Vec<[usize; 3]> {
    let pack = 16 / std::mem::size_of::<T>();
    vec![[0, 0, 0], [pack, pack, pack], [1, 0, 3], [3, 1, 2]]
}

/// Elements after each view (and before it, at its offset) that the kernel must not touch.
const MARGIN: usize = 5;
/// Input margins hold this finite value, output margins NaN: an out-of-bounds write (of a product
/// of margin values) shows up as a non-NaN in an output margin.
const INPUT_MARGIN: f32 = 3.0;

fn check_fwd<T: Elem>(dev: &Arc<dyn Device>, n: usize, off: [usize; 3], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gate_fwd<{:?}> n={n} offsets={off:?}", dev.name(), T::DTYPE);
    let a = random::<T>(&mut rng, n);
    let b = random::<T>(&mut rng, n);
    let mut want = vec![0f32; n];
    cpu::gate_fwd(&widen(&a), &widen(&b), &mut want).unwrap();
    let want: Vec<T> = narrow(&want);

    let nan = T::from_f32(f32::NAN);
    let fill = T::from_f32(INPUT_MARGIN);
    let pad = |v: &[T], o: usize| -> Vec<T> {
        let mut p = vec![fill; o];
        p.extend_from_slice(v);
        p.extend(std::iter::repeat_n(fill, MARGIN));
        p
    };
    let da = DeviceBuffer::from_host(dev, &pad(&a, off[0])).unwrap();
    let db = DeviceBuffer::from_host(dev, &pad(&b, off[1])).unwrap();
    let mut dout = DeviceBuffer::from_host(dev, &vec![nan; off[2] + n + MARGIN]).unwrap();
    gate_fwd(
        dev,
        da.view(off[0]..off[0] + n).unwrap(),
        db.view(off[1]..off[1] + n).unwrap(),
        dout.view_mut(off[2]..off[2] + n).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    let all = dout.to_host().unwrap();
    assert_close(&tag, &all[off[2]..off[2] + n], &want);
    assert!(
        all[..off[2]].iter().chain(&all[off[2] + n..]).all(|x| x.to_f32().is_nan()),
        "{tag}: wrote outside the output view"
    );
}

fn check_bwd<T: Elem>(dev: &Arc<dyn Device>, n: usize, off: [usize; 3], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} gate_bwd<{:?}> n={n} offsets={off:?}", dev.name(), T::DTYPE);
    let a = random::<T>(&mut rng, n);
    let b = random::<T>(&mut rng, n);
    let gy = random::<T>(&mut rng, n);
    let (mut wa, mut wb) = (vec![0f32; n], vec![0f32; n]);
    cpu::gate_bwd(&widen(&a), &widen(&b), &widen(&gy), &mut wa, &mut wb).unwrap();
    let (wa, wb): (Vec<T>, Vec<T>) = (narrow(&wa), narrow(&wb));

    let nan = T::from_f32(f32::NAN);
    let fill = T::from_f32(INPUT_MARGIN);
    // a at off[0], b and grad_out at off[1], grad_a and grad_b (separate buffers) at off[2].
    let place = |v: &[T], o: usize| -> DeviceBuffer<T> {
        let mut p = vec![fill; o];
        p.extend_from_slice(v);
        p.extend(std::iter::repeat_n(fill, MARGIN));
        DeviceBuffer::from_host(dev, &p).unwrap()
    };
    let (oa, ob) = (off[2], off[2]);
    let da = place(&a, off[0]);
    let db = place(&b, off[1]);
    let dgy = place(&gy, off[1]);
    let mut dga = DeviceBuffer::from_host(dev, &vec![nan; oa + n + MARGIN]).unwrap();
    let mut dgb = DeviceBuffer::from_host(dev, &vec![nan; ob + n + MARGIN]).unwrap();
    gate_bwd(
        dev,
        da.view(off[0]..off[0] + n).unwrap(),
        db.view(off[1]..off[1] + n).unwrap(),
        dgy.view(off[1]..off[1] + n).unwrap(),
        dga.view_mut(oa..oa + n).unwrap(),
        dgb.view_mut(ob..ob + n).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    for (name, buf, o, want) in [("grad_a", &dga, oa, &wa), ("grad_b", &dgb, ob, &wb)] {
        let all = buf.to_host().unwrap();
        assert_close(&format!("{tag} {name}"), &all[o..o + n], want);
        assert!(
            all[..o].iter().chain(&all[o + n..]).all(|x| x.to_f32().is_nan()),
            "{tag} {name}: wrote outside the output view"
        );
    }
}

fn sweep<T: Elem>(bwd: bool) {
    for dev in common::devices() {
        for (i, &n) in LENGTHS.iter().enumerate() {
            for (j, off) in layouts::<T>().into_iter().enumerate() {
                let seed = 1000 * i as u64 + j as u64 + if bwd { 7 } else { 0 };
                if bwd {
                    check_bwd::<T>(&dev, n, off, seed);
                } else {
                    check_fwd::<T>(&dev, n, off, seed);
                }
            }
        }
    }
}

#[test]
fn gate_fwd_f32_matches_cpu() {
    sweep::<f32>(false);
}
#[test]
fn gate_fwd_bf16_matches_cpu() {
    sweep::<bf16>(false);
}
#[test]
fn gate_fwd_f16_matches_cpu() {
    sweep::<f16>(false);
}
#[test]
fn gate_bwd_f32_matches_cpu() {
    sweep::<f32>(true);
}
#[test]
fn gate_bwd_bf16_matches_cpu() {
    sweep::<bf16>(true);
}
#[test]
fn gate_bwd_f16_matches_cpu() {
    sweep::<f16>(true);
}

#[test]
fn gating_rejects_bad_arguments_with_typed_errors() {
    for dev in common::devices() {
        let a = DeviceBuffer::from_host(&dev, &[1.5f32; 8]).unwrap();
        let b = DeviceBuffer::from_host(&dev, &[2.5f32; 8]).unwrap();
        let mut short = DeviceBuffer::from_host(&dev, &[0.5f32; 7]).unwrap();
        let mut out = DeviceBuffer::<f32>::alloc(&dev, 8).unwrap();
        // Length mismatch (output, then input).
        let e = gate_fwd(&dev, &a, &b, &mut short).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let e = gate_fwd(&dev, &a, &short, &mut out).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let e = gate_bwd(&dev, &a, &b, &a, &mut out, &mut short).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        // An output overlapping an input, or two overlapping outputs, no longer compile (the
        // compile_fail examples of `gate_fwd` / `gate_bwd`); disjoint parts of one buffer work.
        let mut ab = DeviceBuffer::from_host(&dev, &[1.5f32, 2.5, -1.0, 7.0]).unwrap();
        let (x, y) = ab.as_view_mut().split_at(2).unwrap();
        gate_fwd(&dev, a.view(0..2).unwrap(), &x, y).unwrap();
        assert_eq!(ab.to_host().unwrap(), vec![1.5, 2.5, 1.5 * 1.5, 1.5 * 2.5]);
        // f64 storage has no gating kernel.
        let a64 = DeviceBuffer::from_host(&dev, &[1.0f64; 4]).unwrap();
        let mut o64 = DeviceBuffer::<f64>::alloc(&dev, 4).unwrap();
        let e = gate_fwd(&dev, &a64, &a64, &mut o64).unwrap_err();
        assert!(matches!(e, HyenaError::Dtype(_)), "{e}");
        // A view out of range.
        assert!(matches!(a.view(4..9), Err(HyenaError::Buffer { .. })));
        // launch_raw: unknown kernel, wrong params size.
        let cfg = hyena_kernels::device::LaunchConfig { grid: (1, 1, 1), block: (32, 1, 1), shared_bytes: 0 };
        // SAFETY: both are refused before anything is launched (what this checks).
        let e = unsafe { dev.launch_raw("hyena_no_such_kernel", cfg, &[0u8; 32]) }.unwrap_err();
        assert!(matches!(e, HyenaError::KernelNotBuilt(_)), "{e}");
        // SAFETY: as above.
        let e = unsafe { dev.launch_raw("hyena_gate_fwd_f32", cfg, &[0u8; 24]) }.unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "a wrong params size must be caught before launching: {e}");
        // Nothing was written by the rejected calls: `out` is still readable and unchanged length.
        assert_eq!(out.to_host().unwrap().len(), 8);
    }
}

#[test]
fn empty_gating_is_a_no_op() {
    for dev in common::devices() {
        let a = DeviceBuffer::<f32>::alloc(&dev, 0).unwrap();
        let mut out = DeviceBuffer::<f32>::alloc(&dev, 0).unwrap();
        gate_fwd(&dev, &a, &a, out.view_mut(0..0).unwrap()).unwrap();
        assert!(out.to_host().unwrap().is_empty());
    }
}

/// `bias_fill` writes exactly the broadcast bias (bit for bit: no arithmetic) into its view and
/// nothing around it, for row and column broadcasts, on the 16-byte pack path (aligned view,
/// whole packs per row) and the element path (odd offset, or rows of a partial pack); by column
/// with the bias 16-byte aligned (one pack load) and not (a view one element in: element loads);
/// and one shape with more packs than the launch has threads.
fn check_bias_fill<T: Elem>(dev: &Arc<dyn Device>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let pack = 16 / std::mem::size_of::<T>();
    // (rows, cols, bias length for by-row, output offset)
    let shapes = [
        (6, 4 * pack, 3, 0),
        (7, 4 * pack, 7, pack),
        (5, 3 * pack + 1, 2, 0),
        (9, 2 * pack, 9, 3),
        (1, 1, 1, 1),
        // More packs than the launch has threads (1056 blocks of 256): the pack loop's index
        // steps (row, column pack and bias row carried, no division per pack) over 2–3 turns.
        (4099, 80 * pack, 5, 0),
    ];
    for (rows, cols, nb_row, off) in shapes {
        for (how, boff) in [(Broadcast::ByRow, 0), (Broadcast::ByColumn, 0), (Broadcast::ByColumn, 1)] {
            let nb = if how == Broadcast::ByRow {
                nb_row
            } else {
                cols
            };
            let tag = format!(
                "{} bias_fill<{:?}> {how:?} rows={rows} cols={cols} nb={nb} offset={off} bias offset={boff}",
                dev.name(),
                T::DTYPE
            );
            let bias = random::<T>(&mut rng, nb);
            let mut padded = random::<T>(&mut rng, boff);
            padded.extend_from_slice(&bias);
            let dbias_buf = DeviceBuffer::from_host(dev, &padded).unwrap();
            let dbias = dbias_buf.view(boff..boff + nb).unwrap();
            let n = rows * cols;
            let nan = T::from_f32(f32::NAN);
            let mut dout = DeviceBuffer::from_host(dev, &vec![nan; off + n + MARGIN]).unwrap();
            bias_fill(
                dev,
                dbias,
                how,
                rows,
                cols,
                dout.view_mut(off..off + n).unwrap(),
            )
            .unwrap_or_else(|e| panic!("{tag}: {e}"));
            dev.synchronize().unwrap();
            let all = dout.to_host().unwrap();
            for r in 0..rows {
                for c in 0..cols {
                    let want = if how == Broadcast::ByRow {
                        bias[r % nb]
                    } else {
                        bias[c]
                    };
                    let got = all[off + r * cols + c];
                    assert!(
                        got.to_f32().to_bits() == want.to_f32().to_bits(),
                        "{tag}: [{r}][{c}] = {}, want {}",
                        got.to_f32(),
                        want.to_f32()
                    );
                }
            }
            assert!(
                all[..off]
                    .iter()
                    .chain(&all[off + n..])
                    .all(|x| x.to_f32().is_nan()),
                "{tag}: wrote outside the output view"
            );
        }
    }
}

#[test]
fn bias_fill_broadcasts_exactly_the_bias() {
    for dev in common::devices() {
        check_bias_fill::<f32>(&dev, 11);
        check_bias_fill::<bf16>(&dev, 12);
        check_bias_fill::<f16>(&dev, 13);
    }
}

#[test]
fn bias_fill_rejects_bad_arguments_with_typed_errors() {
    for dev in common::devices() {
        let bias = DeviceBuffer::from_host(&dev, &[1.5f32; 4]).unwrap();
        let mut out = DeviceBuffer::<f32>::alloc(&dev, 12).unwrap();
        // By column, the bias must hold one value per column.
        let e = bias_fill(&dev, &bias, Broadcast::ByColumn, 4, 3, &mut out).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        // The output must hold rows * cols elements.
        let e = bias_fill(&dev, &bias, Broadcast::ByRow, 5, 3, &mut out).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        // An empty bias cannot be broadcast by row; a size product that overflows is refused.
        let empty = DeviceBuffer::<f32>::alloc(&dev, 0).unwrap();
        let e = bias_fill(&dev, &empty, Broadcast::ByRow, 4, 3, &mut out).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        let e = bias_fill(&dev, &bias, Broadcast::ByRow, usize::MAX, 2, &mut out).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        // Rows of 2^31 or more columns: the kernel steps its indices in 32 bits.
        let e = bias_fill(&dev, &bias, Broadcast::ByRow, 1, 1 << 31, &mut out).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)) && e.to_string().contains("2^31"), "{e}");
        // f64 storage has no kernel.
        let b64 = DeviceBuffer::from_host(&dev, &[1.0f64; 3]).unwrap();
        let mut o64 = DeviceBuffer::<f64>::alloc(&dev, 12).unwrap();
        let e = bias_fill(&dev, &b64, Broadcast::ByColumn, 4, 3, &mut o64).unwrap_err();
        assert!(matches!(e, HyenaError::Dtype(_)), "{e}");
    }
}
