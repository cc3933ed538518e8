//! The tensor-core DFT (`kernels/tcdft.cu` through `ops::tcdft`) vs the CPU reference
//! `cpu::tcdft::dft256` (rustfft) run in f64 on the same f32 inputs, on every available device.
//! A submodule of the fftconv tests (tests/all/fftconv.rs).
//!
//! Bounds on the relative L2 error of y, derived from the operand rounding (u = 2⁻¹¹, tf32's unit
//! roundoff under round-to-nearest; ε = 2⁻²⁴, fp32's):
//! - 1xTF32: in one stage Ŷ = (F + ΔF)(X + ΔX) with |ΔF| ≤ u|F| and |ΔX| ≤ u|X| elementwise
//!   (re and im rounded separately), so ‖ΔF‖₂ ≤ ‖ΔF‖_F ≤ u·‖F‖_F = 16u = 4u·‖F‖₂ (|F_jk| = 1,
//!   ‖F‖₂ = 4) and ‖ΔX‖ ≤ u‖X‖: the stage's relative error is ≤ 4u + u + O(u²) plus fp32
//!   accumulation (≤ 4·γ₁₆ normwise, ≈ 4e-6) and the f32 twiddle (≈ 2ε). Two stages: ≤ 10u + 1e-5
//!   ≈ 4.9e-3. This is a worst case (every rounding aligned); random roundings give ~u.
//! - 3xTF32: each operand is hi + lo + δ with |δ| ≤ u·|lo| ≤ u²·|a|, and the dropped lo·lo is
//!   ≤ u²|a||b|: 3u² per product instead of 2u; the fp32 sum of 3·16 products per output adds
//!   ≤ 4·γ₄₈ ≈ 1.2e-5 normwise in the worst case. The test holds it to the project's f32 bound,
//!   1e-5 (common::Storage::BOUND), which the worst case slightly exceeds but random data is far
//!   below (measured figures: docs/GPU_MODEL.md, "Tensor-core FFT stages").
//!
//! - f16 operands (`mma.m16n8k16`): the 1xTF32 derivation with f16's unit roundoff, also 2⁻¹¹
//!   (data in [−1, 1]: no value leaves f16's normal range but the tiny ones, whose absolute error
//!   2⁻²⁵ is far below the normwise bound).
//!
//! Besides the bound, 3xTF32 must be at least 100× more accurate than 1xTF32 (the u² terms against
//! the u terms: 2⁻¹¹ ≈ 2000× apart), which fails if the split were dropped.

use crate::common::{self, read_checked};
use hyena_kernels::cpu::tcdft::dft256;
use hyena_kernels::device::DeviceBuffer;
use hyena_kernels::ops::tcdft::{tc_dft256, TcPrecision};
use rand::{rngs::StdRng, SeedableRng};

#[test]
fn tc_dft256_matches_rustfft_within_tf32_bounds() {
    const U: f64 = 1.0 / 2048.0;
    let batch = 9; // 3 blocks of 4 warps, the last one partly idle
    let mut rng = StdRng::seed_from_u64(256);
    let x: Vec<f32> = common::random(&mut rng, batch * 512);
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let mut want = vec![0f64; batch * 512];
    dft256(&xd, &mut want, batch).unwrap();
    for dev in common::devices() {
        let xb = DeviceBuffer::from_host(&dev, &x).unwrap();
        let mut err = [0f64; 3];
        let cases = [(TcPrecision::Tf32, 10.0 * U + 1e-5), (TcPrecision::Split3xTf32, 1e-5), (TcPrecision::F16, 10.0 * U + 1e-5)];
        for (e, (prec, bound)) in err.iter_mut().zip(cases) {
            let mut y = common::poisoned::<f32>(&dev, batch * 512);
            tc_dft256(&dev, &xb, y.view_mut(0..batch * 512).unwrap(), batch, prec).unwrap();
            let got = read_checked("tc_dft256 y", &y, batch * 512);
            *e = common::assert_close(&format!("{} tc_dft256 {prec:?}", dev.name()), &got, &want, bound);
            eprintln!("[measured] {} tc_dft256 {prec:?}: relative L2 error {e:.3e} (bound {bound:.2e})", dev.name());
        }
        assert!(err[1] * 100.0 < err[0], "3xTF32 ({:.2e}) must be far below 1xTF32 ({:.2e})", err[1], err[0]);
        // f16 operands carry the same unit roundoff as tf32: the same order of error, far above
        // 3xTF32's (fails if the operands were not rounded, or rounded to bf16: 8x coarser).
        assert!(err[2] > 10.0 * err[1] && err[2] < 4.0 * err[0], "f16 ({:.2e}) vs 1xTF32 ({:.2e}), 3xTF32 ({:.2e})", err[2], err[0], err[1]);
    }
    // Bad arguments are typed errors.
    if let Some(dev) = common::devices().first() {
        let xb = DeviceBuffer::from_host(dev, &x[..512]).unwrap();
        let mut y = DeviceBuffer::<f32>::alloc(dev, 512).unwrap();
        let e = tc_dft256(dev, &xb, &mut y, 2, TcPrecision::Tf32).unwrap_err();
        assert!(e.to_string().contains("tc_dft256 x"), "{e}");
    }
}

/// The GPU model's SASS estimate of each instance (`gpu_model::sass::estimate`, what `hyena
/// kernels --profile --tc-dft` prints) against the static SASS: the per-transform loop is straight
/// code (one backward branch per instance), so a launch of 16 transforms per warp executes at
/// least 16 × the loop's instructions per warp and at most that plus the rest of the function once.
/// The estimate once read the f16 kernel's loop as run once per warp (1.35 M warp-instructions
/// for a launch whose loop alone is 12.4 M: a line the host counted once per warp read as a
/// one-trip loop) and the 3xTF32 launch at 5.5x its loop (the unexecuted 1xTF32 copy took a
/// line's count): docs/GPU_MODEL.md, "The estimator reads the tensor-core DFTs".
#[cfg(all(feature = "sim", feature = "cuda"))]
#[test]
fn tc_dft256_estimate_counts_its_transform_loop_once_per_transform() {
    use gpu_model::sass::{estimate, LineExec};
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::Device;
    use hyena_kernels::ops::ELEMENTWISE_MAX_GRID;
    use std::sync::Arc;
    let listing = hyena_kernels::kernels::sass_sm90().unwrap();
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    const PER_WARP: usize = 16;
    let batch = ELEMENTWISE_MAX_GRID as usize * 4 * PER_WARP; // every warp of the full grid: 16 transforms
    let x = DeviceBuffer::from_host(&dev, &vec![0.25f32; batch * 512]).unwrap();
    let mut y = DeviceBuffer::<f32>::alloc(&dev, batch * 512).unwrap();
    for prec in [TcPrecision::Tf32, TcPrecision::Split3xTf32, TcPrecision::F16] {
        sim.set_block_sample(Some(2));
        sim.set_counters(true);
        tc_dft256(&dev, &x, &mut y, batch, prec).unwrap();
        sim.set_counters(false);
        sim.set_block_sample(None);
        let c = sim.take_counters().pop().unwrap();
        let f = listing.function(&c.kernel).unwrap();
        // The loops: the length of each backward branch's region (not the self-loop `BRA` nvcc
        // pads the function with after its last `EXIT`).
        let loops: Vec<usize> = f
            .instrs
            .iter()
            .enumerate()
            .filter_map(|(k, i)| {
                let t = *f.labels.get(i.target.as_deref()?)?;
                (i.opcode == "BRA" && t < k).then(|| k + 1 - t)
            })
            .collect();
        // The instance this launch ran: the 3xTF32 loop is the f32 kernel's longer one.
        let len = match prec {
            TcPrecision::Split3xTf32 => *loops.iter().max().unwrap(),
            _ => *loops.iter().min().unwrap(),
        } as f64;
        assert_eq!(loops.len(), if prec == TcPrecision::F16 { 1 } else { 2 }, "{}: loops {loops:?}", c.kernel);
        let warps = c.blocks_run * 4;
        let lines: Vec<LineExec> = c.lines.iter().map(|l| LineExec { frames: l.frames.clone(), warp_execs: l.warp_execs, mem_requests: l.mem_requests }).collect();
        let est = estimate(f, &lines, warps).total;
        let (lo, hi) = (warps as f64 * PER_WARP as f64 * len, warps as f64 * (PER_WARP as f64 * len + f.instrs.len() as f64 - len));
        eprintln!("[model] {} {prec:?}: loop {len} instructions, estimate {est} for {warps} warps ({lo}..={hi})", c.kernel);
        assert!(est >= lo && est <= hi, "{} {prec:?}: estimate {est}, static bounds {lo}..={hi}", c.kernel);
    }
}

/// The 8192-point tensor-core FFT prototype (`ops::tcdft::tc_fft8192`: a radix-32 stage as a GEMM
/// from global memory, one shared-memory exchange, then the DFT-256's two radix-16 stages, all
/// with f16 operands) against rustfft in f64, in the kernel's four-step output order. Bound: the
/// DFT-256 derivation above for its two stages (5u each), the radix-32 stage likewise (‖ΔF‖₂ ≤
/// u‖F‖_F = 32u = √32·u·‖F‖₂, plus u for its input: 6.7u), fp32 twiddles and sums (1e-5): 17u +
/// 1e-5 ≈ 8.3e-3. Also checked: it is no more accurate than f16 operands allow (≥ 0.3u: fails if
/// the operands were not rounded) and the poisoned output is overwritten everywhere.
#[test]
fn tc_fft8192_matches_rustfft_within_f16_bounds() {
    use hyena_kernels::cpu::tcdft::fft8192_four_step;
    use hyena_kernels::ops::tcdft::tc_fft8192;
    const U: f64 = 1.0 / 2048.0;
    let batch = 2;
    let mut rng = StdRng::seed_from_u64(8192);
    let x: Vec<f32> = common::random(&mut rng, batch * 16384);
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let mut want = vec![0f64; batch * 16384];
    fft8192_four_step(&xd, &mut want, batch).unwrap();
    for dev in common::devices() {
        let xb = DeviceBuffer::from_host(&dev, &x).unwrap();
        let mut y = common::poisoned::<f32>(&dev, batch * 16384);
        tc_fft8192(&dev, &xb, y.view_mut(0..batch * 16384).unwrap(), batch).unwrap();
        let got = read_checked("tc_fft8192 y", &y, batch * 16384);
        let bound = 17.0 * U + 1e-5;
        let e = common::assert_close(&format!("{} tc_fft8192", dev.name()), &got, &want, bound);
        eprintln!("[measured] {} tc_fft8192 f16: relative L2 error {e:.3e} (bound {bound:.2e})", dev.name());
        assert!(e > 0.3 * U, "{}: error {e:.3e} is below what f16 operands allow", dev.name());
    }
    if let Some(dev) = common::devices().first() {
        let xb = DeviceBuffer::from_host(dev, &x[..16384]).unwrap();
        let mut y = DeviceBuffer::<f32>::alloc(dev, 16384).unwrap();
        let e = tc_fft8192(dev, &xb, &mut y, 2).unwrap_err();
        assert!(e.to_string().contains("x [batch, 8192, 2]"), "{e}");
    }
}

/// The 8192-point prototype's structure on the simulator's counters: every shared-memory access of
/// the exchange is one wavefront per request (the XOR layout of `fft8k_slot`: with the plain
/// index p, stage 1's stores and stage 2's loads put 4 lanes on each bank they touch; the lane-
/// indexed constant tables are one wavefront too), two barriers per row and one for the
/// constants, and the row read and written once (8-byte requests, each 32-byte sector used
/// whole: 8 sectors per request).
#[cfg(feature = "sim")]
#[test]
fn tc_fft8192_exchanges_through_shared_memory_without_bank_conflicts() {
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::Device;
    use hyena_kernels::ops::tcdft::tc_fft8192;
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let rows = 3;
    let x = DeviceBuffer::from_host(&dev, &vec![0.5f32; rows * 16384]).unwrap();
    let mut y = DeviceBuffer::<f32>::alloc(&dev, rows * 16384).unwrap();
    sim.set_counters(true);
    tc_fft8192(&dev, &x, &mut y, rows).unwrap();
    sim.set_counters(false);
    let c = sim.take_counters().pop().unwrap();
    assert_eq!(c.kernel, "hyena_tc_fft8192_f16mma_f32");
    let s = &c.shared;
    // Row points: 8192 stored by stage 1 per plane (32 lanes a request), loaded by stage 2; the
    // twiddle table: 16 words per lane stored once per block, loaded 8 per transform.
    assert!(s.store_requests > 0 && s.load_requests > 0, "{s:?}");
    assert_eq!(s.load_wavefronts, s.load_requests, "shared loads: {s:?}");
    assert_eq!(s.store_wavefronts, s.store_requests, "shared stores: {s:?}");
    // One for the constants, two per row (one block per row here).
    assert_eq!(c.barriers, rows as u64 * 3, "barriers (per block)");
    let g = &c.global;
    assert_eq!(g.load_sectors, 8 * g.load_requests, "{g:?}");
    assert_eq!(g.load_requests * 32 * 8, (rows * 8192 * 8) as u64, "the row read once: {g:?}");
}

/// The tensor-core convolution prototype (`ops::tcdft::tc_conv8192`: the FFT-8192's stages on the
/// zero-padded row, the real-FFT split, filter product and fold as one coefficient pair per bin,
/// the inverse from the same registers' layout, all with f16 operands) against the f64 CPU
/// convolution (`cpu::fftconv::fftconv_fwd`), 3 rows over 2 channels with different filters.
///
/// Bound, from the FFT-8192's (17u per transform, above): the forward's error ‖δZ‖ ≤ 17u·‖Z‖ =
/// 17u·√m·‖a‖ reaches Z' through the coefficients, ‖δZ'‖ ≤ (max|A| + max|B|)·‖δZ‖, and their
/// rounding to f16 (scaled: relative u each) adds u·(max|A| + max|B|)·‖Z‖; the inverse adds 17u
/// of its whole output, the full linear convolution (length 2L − 1, of which the kernel keeps the
/// causal half), norm ‖f‖ = √m·‖Z'‖. So ‖δs‖ ≤ 18u·m·(max|A| + max|B|)·‖a‖ + 17u·‖f‖ per row,
/// plus the f32 rounding of twiddles and sums (1e-5 of ‖s‖): a worst case
/// (every rounding aligned, every bin at the largest coefficient); random roundings give a few u.
/// It also must be no more accurate than f16 operands allow (≥ 0.3u).
#[test]
fn tc_conv8192_matches_the_f64_convolution_within_f16_bounds() {
    use hyena_kernels::cpu::fftconv::fftconv_fwd;
    use hyena_kernels::cpu::tcdft::{conv8192_coefficients, TC_CONV_LEN as L};
    use hyena_kernels::ops::tcdft::tc_conv8192;
    const U: f64 = 1.0 / 2048.0;
    let (batch, channels) = (2, 2);
    let rows = batch * channels - 1; // the last block of a row-per-block grid: 3 rows, channels 0, 1, 0
    let mut rng = StdRng::seed_from_u64(16384);
    let a: Vec<f32> = common::random(&mut rng, batch * channels * L);
    // Decaying filters (as Hyena's implicit ones): spectra far from flat.
    let h: Vec<f32> = common::random::<f32>(&mut rng, channels * L)
        .iter()
        .enumerate()
        .map(|(j, &v)| v * (-((j % L) as f32) / (512.0 * (1 + j / L) as f32)).exp())
        .collect();
    let (coef, scale) = conv8192_coefficients(&h, channels).unwrap();
    let (ad, hd): (Vec<f64>, Vec<f64>) = (a.iter().map(|&v| v as f64).collect(), h.iter().map(|&v| v as f64).collect());
    let zero = vec![0f64; channels];
    let mut want = vec![0f64; batch * channels * L];
    fftconv_fwd(&ad, &hd, &zero, batch, channels, L, &mut want).unwrap();
    want.truncate(rows * L);
    // The full linear convolution (rows and filters zero padded to 2L): its norm bounds the
    // inverse's error.
    let pad = |v: &[f64], n: usize| -> Vec<f64> { v.chunks(L).flat_map(|r| r.iter().copied().chain(std::iter::repeat(0.0).take(L))).take(n * 2 * L).collect() };
    let mut full = vec![0f64; batch * channels * 2 * L];
    fftconv_fwd(&pad(&ad, batch * channels), &pad(&hd, channels), &zero, batch, channels, 2 * L, &mut full).unwrap();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    // The largest |A|, |B| of each channel (the stored values times its scale).
    let maxes: Vec<(f64, f64)> = coef
        .chunks(4 * 8192)
        .zip(&scale)
        .map(|(cc, &sc)| {
            cc.chunks(4).fold((0f64, 0f64), |(ma, mb), c| {
                let v = |j: usize| c[j].to_f64() * sc as f64;
                (ma.max(v(0).hypot(v(1))), mb.max(v(2).hypot(v(3))))
            })
        })
        .collect();
    let (mut num, mut den) = (0f64, 0f64);
    for r in 0..rows {
        let (max_a, max_b) = maxes[r % channels];
        num += 18.0 * U * 8192.0 * (max_a + max_b) * norm(&ad[r * L..(r + 1) * L]) + 17.0 * U * norm(&full[r * 2 * L..(r + 1) * 2 * L]);
        den += norm(&want[r * L..(r + 1) * L]);
    }
    let bound = num / den + 1e-5;
    for dev in common::devices() {
        let ab = DeviceBuffer::from_host(&dev, &a).unwrap();
        let cb = DeviceBuffer::from_host(&dev, &coef).unwrap();
        let sb = DeviceBuffer::from_host(&dev, &scale).unwrap();
        let mut s = common::poisoned::<f32>(&dev, rows * L);
        tc_conv8192(&dev, ab.view(0..rows * L).unwrap(), &cb, &sb, s.view_mut(0..rows * L).unwrap(), rows, channels).unwrap();
        let got = read_checked("tc_conv8192 s", &s, rows * L);
        let e = common::assert_close(&format!("{} tc_conv8192", dev.name()), &got, &want, bound);
        eprintln!("[measured] {} tc_conv8192 f16: relative L2 error {e:.3e} (bound {bound:.2e})", dev.name());
        assert!(e > 0.3 * U, "{}: error {e:.3e} is below what f16 operands allow", dev.name());
    }
    // Bad arguments are typed errors.
    if let Some(dev) = common::devices().first() {
        let ab = DeviceBuffer::from_host(dev, &a).unwrap();
        let cb = DeviceBuffer::from_host(dev, &coef[..4 * L]).unwrap();
        let sb = DeviceBuffer::from_host(dev, &scale).unwrap();
        let mut s = DeviceBuffer::<f32>::alloc(dev, rows * L).unwrap();
        let e = tc_conv8192(dev, ab.view(0..rows * L).unwrap(), &cb, &sb, &mut s, rows, channels).unwrap_err();
        assert!(e.to_string().contains("coef [channels, 8192, 4]"), "{e}");
        let cb = DeviceBuffer::from_host(dev, &coef).unwrap();
        let e = tc_conv8192(dev, ab.view(0..rows * L).unwrap(), &cb, sb.view(0..1).unwrap(), &mut s, rows, channels).unwrap_err();
        assert!(e.to_string().contains("scale [channels]"), "{e}");
        let e = tc_conv8192(dev, ab.view(0..rows * L).unwrap(), &cb, &sb, &mut s, rows, 0).unwrap_err();
        assert!(e.to_string().contains("channels must be at least 1"), "{e}");
        assert!(conv8192_coefficients(&h[..L - 1], 1).is_err());
    }
}

/// The convolution's structure on the simulator's counters: every shared-memory request one
/// wavefront (the planes' XOR layout for the exchanges, the parking and the bin pairs' mirror
/// reads: checked by enumeration in the kernel comment, here on the counters), three barriers per
/// row (for two 8192-point FFTs; the issue allows ⌈log₁₆ n⌉ + 2 = 6 per FFT) and one for the tables, and global memory as designed: each row of a read once (8-byte
/// requests, whole sectors), its channel's coefficients once (16-byte requests, whole sectors), s
/// written once.
#[cfg(feature = "sim")]
#[test]
fn tc_conv8192_reads_each_row_once_without_bank_conflicts() {
    use hyena_kernels::cpu::tcdft::{conv8192_coefficients, TC_CONV_LEN as L};
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::Device;
    use hyena_kernels::ops::tcdft::tc_conv8192;
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (rows, channels) = (3, 2);
    let a = DeviceBuffer::from_host(&dev, &vec![0.5f32; rows * L]).unwrap();
    let h: Vec<f32> = (0..channels * L).map(|j| 0.25 * (-((j % L) as f32) / 256.0).exp()).collect();
    let (coef, scale) = conv8192_coefficients(&h, channels).unwrap();
    let (coef, scale) = (DeviceBuffer::from_host(&dev, &coef).unwrap(), DeviceBuffer::from_host(&dev, &scale).unwrap());
    let mut s = DeviceBuffer::<f32>::alloc(&dev, rows * L).unwrap();
    sim.set_counters(true);
    tc_conv8192(&dev, &a, &coef, &scale, &mut s, rows, channels).unwrap();
    sim.set_counters(false);
    let c = sim.take_counters().pop().unwrap();
    assert_eq!(c.kernel, "hyena_tc_conv8192_f16mma_f32");
    let sh = &c.shared;
    assert!(sh.store_requests > 0 && sh.load_requests > 0, "{sh:?}");
    assert_eq!(sh.load_wavefronts, sh.load_requests, "shared loads: {sh:?}");
    assert_eq!(sh.store_wavefronts, sh.store_requests, "shared stores: {sh:?}");
    // Per block (one row each here): one for the tables, three per row (stage 1's exchange,
    // the inverse's, the planes' reuse by the next row).
    assert_eq!(c.barriers, 4 * rows as u64, "barriers");
    let g = &c.global;
    let (a_bytes, coef_bytes) = ((rows * 4 * L) as u64, (8 * L) as u64);
    // Every byte of a, s and the used channels' coefficients touched, and the scales' sector.
    assert_eq!(g.unique_sectors * 32, 2 * a_bytes + channels as u64 * coef_bytes + 32, "{g:?}");
    assert_eq!((g.store_bytes, g.store_sectors * 32), (a_bytes, a_bytes), "s written once, whole sectors: {g:?}");
    // a and the row's coefficients read once, in whole sectors, but for column 0, whose bins
    // pair K with 256 − K: bin 0 is its own mirror (its lane reads the coefficient twice: 8 bytes
    // more per row); warp 0's 4 mirror requests of column 0 read runs of 8 coefficients one bin
    // off the 64-byte grid (3 sectors per run instead of 2: 4 × 4 runs) and bin 128, its own
    // mirror, is one lane's request of its own (1 sector): 17 sectors more per row. Each warp
    // reads the channel's scale once per row (one sector, 32 lanes × 4 bytes).
    let once = a_bytes + rows as u64 * coef_bytes;
    let scale_reads = rows as u64 * 16;
    assert_eq!(g.load_bytes, once + rows as u64 * 8 + scale_reads * 128, "{g:?}");
    assert_eq!(g.load_sectors * 32, once + (rows as u64 * 17 + scale_reads) * 32, "{g:?}");
}
