//! Short causal depthwise conv kernels (`kernels/shortconv.cu` through `ops::shortconv`) vs the CPU
//! reference (`cpu::shortconv`, run in f64 on the storage-rounded inputs), forward and backward,
//! on every available device (the simulator in CI).
//!
//! Bounds (relative L2 error of each output tensor):
//! - f32 storage: 1e-5. Each output is a sum of at most 3 products (forward, grad_x: a few ulps),
//!   or of B·L products for grad_w/grad_b, summed in f32 per thread then in a tree (error
//!   ~ ε·log2(B·L) relative to Σ|terms|, ≪ 1e-5 for these sizes with inputs of one sign scale).
//! - bf16/f16 storage: 1e-2. Arithmetic is f32; the only extra error is the final rounding of each
//!   output to the storage type (≤ 2⁻⁹ relative for bf16, 2⁻¹² for f16).
//!
//! Outputs are poisoned with NaN (and a margin behind each view must stay NaN); inputs are random
//! and non-zero.
#![cfg(any(feature = "cuda", feature = "sim"))]

use crate::common;

use common::{assert_close, poisoned, random, read_checked, widen, Storage};
use half::{bf16, f16};
use hyena_kernels::cpu::shortconv as cpu;
use hyena_kernels::device::{Device, DeviceBuffer};
use hyena_kernels::ops::shortconv::{shortconv_bwd, shortconv_fwd};
use hyena_kernels::HyenaError;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::Arc;

const LENGTHS: &[usize] = &[1, 2, 3, 17, 255, 1000, 4097, 16384];

fn check<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} shortconv<{:?}> B={bs} C={c} L={l}", dev.name(), T::DTYPE);
    let n = bs * c * l;
    let (x, w, b, gy) = (random::<T>(&mut rng, n), random::<T>(&mut rng, 3 * c), random::<T>(&mut rng, c), random::<T>(&mut rng, n));
    let (xf, wf, bf, gyf) = (widen(&x), widen(&w), widen(&b), widen(&gy));
    let mut y_ref = vec![0f64; n];
    cpu::shortconv_fwd(&xf, &wf, &bf, bs, c, l, &mut y_ref).unwrap();
    let (mut gx_ref, mut gw_ref, mut gb_ref) = (vec![0f64; n], vec![0f64; 3 * c], vec![0f64; c]);
    cpu::shortconv_bwd(&xf, &wf, &bf, &gyf, bs, c, l, &mut gx_ref, &mut gw_ref, &mut gb_ref).unwrap();

    let dx = DeviceBuffer::from_host(dev, &x).unwrap();
    let dw = DeviceBuffer::from_host(dev, &w).unwrap();
    let db = DeviceBuffer::from_host(dev, &b).unwrap();
    let dgy = DeviceBuffer::from_host(dev, &gy).unwrap();
    let mut dy = poisoned::<T>(dev, n);
    shortconv_fwd(dev, &dx, &dw, &db, bs, c, l, dy.view_mut(0..n).unwrap()).unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    assert_close(&format!("{tag} y"), &read_checked(&tag, &dy, n), &y_ref, T::BOUND);

    let (mut dgx, mut dgw, mut dgb) = (poisoned::<T>(dev, n), poisoned::<T>(dev, 3 * c), poisoned::<T>(dev, c));
    // The backward into the first n, 3C and C elements of (grad_x, grad_w, grad_b).
    let bwd = |gx: &mut DeviceBuffer<T>, gw: &mut DeviceBuffer<T>, gb: &mut DeviceBuffer<T>| {
        let (gx, gw, gb) = (gx.view_mut(0..n).unwrap(), gw.view_mut(0..3 * c).unwrap(), gb.view_mut(0..c).unwrap());
        shortconv_bwd(dev, &dx, &dw, &dgy, bs, c, l, gx, gw, gb).unwrap_or_else(|e| panic!("{tag}: {e}"))
    };
    bwd(&mut dgx, &mut dgw, &mut dgb);
    dev.synchronize().unwrap();
    assert_close(&format!("{tag} grad_x"), &read_checked(&tag, &dgx, n), &gx_ref, T::BOUND);
    assert_close(&format!("{tag} grad_w"), &read_checked(&tag, &dgw, 3 * c), &gw_ref, T::BOUND);
    assert_close(&format!("{tag} grad_b"), &read_checked(&tag, &dgb, c), &gb_ref, T::BOUND);

    // Deterministic: a second backward gives the same bits.
    let mut again = poisoned::<T>(dev, 3 * c);
    bwd(&mut dgx, &mut again, &mut dgb);
    let (a, b2) = (again.to_host().unwrap(), dgw.to_host().unwrap());
    assert!(
        a[..3 * c].iter().zip(&b2[..3 * c]).all(|(p, q)| p.to_f64().to_bits() == q.to_f64().to_bits()),
        "{tag}: grad_w differs between two runs"
    );
}

fn sweep<T: Storage>(salt: u64) {
    for dev in common::devices() {
        for (i, &l) in LENGTHS.iter().enumerate() {
            let mut rng = StdRng::seed_from_u64(77 + i as u64 + salt);
            let (bs, c) = (rng.random_range(1..=3usize), rng.random_range(1..=5usize));
            check::<T>(&dev, bs, c, l, 1000 * i as u64 + salt);
        }
    }
}

#[test]
fn shortconv_f32_matches_cpu() {
    sweep::<f32>(0);
}
#[test]
fn shortconv_bf16_matches_cpu() {
    sweep::<bf16>(1);
}
#[test]
fn shortconv_f16_matches_cpu() {
    sweep::<f16>(2);
}

#[test]
fn shortconv_rejects_bad_arguments_with_typed_errors() {
    for dev in common::devices() {
        let x = DeviceBuffer::from_host(&dev, &[0.5f32; 12]).unwrap();
        let w = DeviceBuffer::from_host(&dev, &[0.25f32; 6]).unwrap();
        let b = DeviceBuffer::from_host(&dev, &[0.125f32; 2]).unwrap();
        let mut y = DeviceBuffer::<f32>::alloc(&dev, 12).unwrap();
        // B=2, C=2, L=3 is consistent; wrong shapes are Shape errors, L=0 a Length error.
        shortconv_fwd(&dev, &x, &w, &b, 2, 2, 3, &mut y).unwrap();
        let e = shortconv_fwd(&dev, &x, &w, &b, 2, 2, 4, &mut y).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let e = shortconv_fwd(&dev, &x, &w, b.view(0..1).unwrap(), 2, 2, 3, &mut y).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        let e = shortconv_fwd(&dev, x.view(0..0).unwrap(), &w, &b, 0, 2, 0, y.view_mut(0..0).unwrap()).unwrap_err();
        assert!(matches!(e, HyenaError::Length(_)), "{e}");
        // Sizes whose product overflows: a typed error, not a panic.
        let e = shortconv_fwd(&dev, &x, &w, &b, usize::MAX, 2, 3, &mut y).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        let e = shortconv_fwd(&dev, &x, &w, &b, 1, usize::MAX / 2, 1, &mut y).unwrap_err();
        assert!(matches!(e, HyenaError::Invalid(_) | HyenaError::Shape { .. }), "{e}");
        // Outputs overlapping an input or each other no longer compile (exclusive borrows).
        let (mut gw, mut gb) = (DeviceBuffer::<f32>::alloc(&dev, 6).unwrap(), DeviceBuffer::<f32>::alloc(&dev, 2).unwrap());
        let e = shortconv_bwd(&dev, &x, &w, &x, 2, 2, 3, &mut y, &mut gw, gb.view_mut(0..1).unwrap()).unwrap_err();
        assert!(matches!(e, HyenaError::Shape { .. }), "{e}");
        // f64 storage has no kernel.
        let x64 = DeviceBuffer::from_host(&dev, &[1.0f64; 3]).unwrap();
        let w64 = DeviceBuffer::from_host(&dev, &[1.0f64; 3]).unwrap();
        let b64 = DeviceBuffer::from_host(&dev, &[1.0f64; 1]).unwrap();
        let mut y64 = DeviceBuffer::<f64>::alloc(&dev, 3).unwrap();
        let e = shortconv_fwd(&dev, &x64, &w64, &b64, 1, 1, 3, &mut y64).unwrap_err();
        assert!(matches!(e, HyenaError::Dtype(_)), "{e}");
    }
}

/// The simulator running threads and blocks last-first: results must not depend on the order.
#[cfg(feature = "sim")]
#[test]
fn shortconv_reverse_thread_order_matches_cpu() {
    use hyena_kernels::device::sim::{SimDevice, ThreadOrder};
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_thread_order(ThreadOrder::Reverse));
    check::<f32>(&dev, 3, 4, 1000, 900);
}
