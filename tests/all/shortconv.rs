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
use hyena_kernels::ops::shortconv::{shortconv_bwd, shortconv_bwd_chunks, shortconv_fwd, shortconv_fwd_chunks};
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

/// The reduce of the parameter partials over B·segs rows, four rows' loads at a time and the rest
/// one by one: 6 rows (bf16 L = 16384: 2 segments × B = 3; f32 L = 20481: 6 segments × B = 1) and 12
/// (f32 L = 16384: 4 × 3), against the reference and bit for bit between two runs (`check`).
#[test]
fn shortconv_bwd_reduces_many_partial_rows() {
    for dev in common::devices() {
        check::<bf16>(&dev, 3, 2, 16384, 4100);
        check::<f32>(&dev, 1, 3, 20481, 4101);
        check::<f32>(&dev, 3, 2, 16384, 4102);
    }
}

/// `K` stacked chunks in one launch with the in_proj bias folded into the input: chunk `i` against
/// the CPU reference run on `z = x + in_bias` (every position of `x` is inside the row, so every
/// element gets the bias; the reference's causal zero padding stays unbiased, as the kernel's).
/// `off` places x, grad_y and the outputs at an element offset (1: misaligned views, the
/// element-by-element path).
fn check_chunks<T: Storage>(dev: &Arc<dyn Device>, k: usize, bs: usize, c: usize, l: usize, off: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = format!("{} shortconv_chunks<{:?}> K={k} B={bs} C={c} L={l} off={off}", dev.name(), T::DTYPE);
    let (n, kc) = (k * bs * c * l, k * c);
    let x = random::<T>(&mut rng, n + off);
    let (w, b, bin, gy) = (random::<T>(&mut rng, 3 * kc), random::<T>(&mut rng, kc), random::<T>(&mut rng, kc), random::<T>(&mut rng, n + off));
    let (xf, wf, bf, binf, gyf) = (widen(&x[off..]), widen(&w), widen(&b), widen(&bin), widen(&gy[off..]));
    let chunk = bs * c * l;
    let (mut y_ref, mut gx_ref, mut gw_ref, mut gb_ref) = (vec![0f64; n], vec![0f64; n], vec![0f64; 3 * kc], vec![0f64; kc]);
    for i in 0..k {
        let z: Vec<f64> = (0..chunk).map(|j| xf[i * chunk + j] + binf[i * c + (j / l) % c]).collect();
        let (wi, bi) = (&wf[i * 3 * c..(i + 1) * 3 * c], &bf[i * c..(i + 1) * c]);
        let r = i * chunk..(i + 1) * chunk;
        cpu::shortconv_fwd(&z, wi, bi, bs, c, l, &mut y_ref[r.clone()]).unwrap();
        cpu::shortconv_bwd(&z, wi, bi, &gyf[r.clone()], bs, c, l, &mut gx_ref[r], &mut gw_ref[i * 3 * c..(i + 1) * 3 * c], &mut gb_ref[i * c..(i + 1) * c])
            .unwrap();
    }
    let (dx, dgy) = (DeviceBuffer::from_host(dev, &x).unwrap(), DeviceBuffer::from_host(dev, &gy).unwrap());
    let (dw, db, dbin) = (DeviceBuffer::from_host(dev, &w).unwrap(), DeviceBuffer::from_host(dev, &b).unwrap(), DeviceBuffer::from_host(dev, &bin).unwrap());
    let xv = dx.view(off..off + n).unwrap();
    let mut dy = poisoned::<T>(dev, n + off);
    shortconv_fwd_chunks(dev, xv, &dw, &db, Some(dbin.as_view()), k, bs, c, l, dy.view_mut(off..off + n).unwrap()).unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    let y = read_checked(&tag, &dy, n + off);
    assert!(y[..off].iter().all(|v| v.is_nan()), "{tag}: wrote before the output view");
    assert_close(&format!("{tag} y"), &y[off..], &y_ref, T::BOUND);
    // in_proj's bias gradient: grad_x summed over batch and positions, per chunk and channel.
    let gib_ref: Vec<f64> = (0..kc)
        .map(|ic| {
            let (i, ch) = (ic / c, ic % c);
            (0..bs).map(|b| gx_ref[i * chunk + (b * c + ch) * l..][..l].iter().sum::<f64>()).sum()
        })
        .collect();
    let (mut dgx, mut dgw, mut dgb) = (poisoned::<T>(dev, n + off), poisoned::<T>(dev, 3 * kc), poisoned::<T>(dev, kc));
    let mut dgib = poisoned::<T>(dev, kc);
    let gyv = dgy.view(off..off + n).unwrap();
    let (gxv, gwv, gbv) = (dgx.view_mut(off..off + n).unwrap(), dgw.view_mut(0..3 * kc).unwrap(), dgb.view_mut(0..kc).unwrap());
    let gibv = dgib.view_mut(0..kc).unwrap();
    shortconv_bwd_chunks(dev, xv, &dw, Some(dbin.as_view()), gyv, k, bs, c, l, gxv, gwv, gbv, Some(gibv)).unwrap_or_else(|e| panic!("{tag}: {e}"));
    dev.synchronize().unwrap();
    let gx = read_checked(&tag, &dgx, n + off);
    assert_close(&format!("{tag} grad_x"), &gx[off..], &gx_ref, T::BOUND);
    assert_close(&format!("{tag} grad_w"), &read_checked(&tag, &dgw, 3 * kc), &gw_ref, T::BOUND);
    assert_close(&format!("{tag} grad_b"), &read_checked(&tag, &dgb, kc), &gb_ref, T::BOUND);
    assert_close(&format!("{tag} grad_in_bias"), &read_checked(&tag, &dgib, kc), &gib_ref, T::BOUND);
}

#[test]
fn shortconv_chunks_with_folded_bias_match_cpu() {
    for dev in common::devices() {
        // Vector path with several blocks per row (bf16: 2048 positions per block, f32: 1024),
        // a tail length (element path), misaligned views, a row shorter than a warp's positions,
        // rows of 1 and 2 (in_proj's bias gradient reads grad_y's first two positions).
        for (i, &(l, off)) in [(4096usize, 0usize), (2051, 0), (1000, 1), (5, 0), (2, 0), (1, 1)].iter().enumerate() {
            check_chunks::<f32>(&dev, 3, 2, 3, l, off, 500 + i as u64);
            check_chunks::<bf16>(&dev, 3, 2, 3, l, off, 600 + i as u64);
        }
    }
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

/// Structural (issue 11): the short conv moves what it must and no more. bf16, 3 chunks with the
/// folded bias, L = 4096 (forward: 2 blocks per row), full runs with counters:
/// - stores are 16-byte vectors: one store request per warp and chunk, 16 sectors (512 B) each;
/// - distinct DRAM sectors ≤ 1.1 × the bytes that must move (forward: x read, y written; backward:
///   x, grad_y read, grad_x written; the weights, biases and the f64 workspace are the rest).
#[cfg(feature = "sim")]
#[test]
fn shortconv_moves_its_rows_once_with_vector_accesses() {
    use hyena_kernels::device::sim::SimDevice;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (k, bs, c, l) = (3usize, 2usize, 2usize, 4096usize);
    let (n, kc) = (k * bs * c * l, k * c);
    let mut rng = StdRng::seed_from_u64(31);
    let up = |v: Vec<bf16>| DeviceBuffer::from_host(&dev, &v).unwrap();
    let (x, gy) = (up(random::<bf16>(&mut rng, n)), up(random::<bf16>(&mut rng, n)));
    let (w, b, bin) = (up(random::<bf16>(&mut rng, 3 * kc)), up(random::<bf16>(&mut rng, kc)), up(random::<bf16>(&mut rng, kc)));
    let (mut y, mut gx) = (DeviceBuffer::<bf16>::alloc(&dev, n).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, n).unwrap());
    let (mut gw, mut gb) = (DeviceBuffer::<bf16>::alloc(&dev, 3 * kc).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, kc).unwrap());
    sim.set_counters(true);
    shortconv_fwd_chunks(&dev, &x, &w, &b, Some(bin.as_view()), k, bs, c, l, &mut y).unwrap();
    shortconv_bwd_chunks(&dev, &x, &w, Some(bin.as_view()), &gy, k, bs, c, l, &mut gx, &mut gw, &mut gb, None).unwrap();
    sim.set_counters(false);
    let runs = sim.take_counters();
    let get = |name: &str| runs.iter().find(|r| r.kernel == name).unwrap_or_else(|| panic!("no {name} in {runs:?}"));
    // 8 bf16 per thread: n / 8 threads, n / 256 warp-requests of 512 B per stored tensor.
    let warps = (n / 256) as u64;
    let row_bytes = (2 * n) as f64;
    for (name, tensors_in, ws_per_block) in [("hyena_shortconv_fwd_bf16", 1.0, 0), ("hyena_shortconv_bwd_bf16", 2.0, k as u64)] {
        let r = get(name);
        assert_eq!(r.blocks_total, r.blocks_run, "{name}: a full run");
        // The backward's block partials: per block and chunk, 4 f64 sums in one request, laid out
        // channel-fastest ([K·B, segs, 4, C]: the sums C·8 = 16 bytes apart at C = 2, inside one
        // 64-byte-aligned span of 64 bytes): 2 sectors.
        assert_eq!(c, 2, "the partials' sector count below assumes C = 2");
        let ws = r.blocks_total * ws_per_block;
        assert_eq!((r.global.store_requests, r.global.store_sectors), (warps + ws, 16 * warps + 2 * ws), "{name}: {:?}", r.global);
        let must = (tensors_in + 1.0) * row_bytes;
        let dram = 32.0 * r.global.dram_sectors as f64;
        assert!(dram <= 1.1 * must, "{name}: {dram} B of distinct sectors, {must} B must move");
        assert!(dram >= must, "{name}: {dram} B of distinct sectors < the {must} B it reads and writes");
    }
}
