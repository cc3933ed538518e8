//! Multi-pass (four-step) path of the fused gated causal FFT convolution (`L >` `SMEM_MAX_LEN`,
//! `kernels/fftconv.cu` "multi-pass" section) vs the CPU reference `cpu::fftconv::gated_fftconv_fwd`
//! run in f64 on the storage-rounded inputs, on every available device (the simulator in CI).
//!
//! Bounds (relative L2 error of y):
//! - f32 storage: 1e-5. Two fp32 complex FFTs of n = 65536 points (n1 = 16, n2 = 4096, plus one
//!   twiddle multiply per pass; every twiddle from the kernels' three-level table, ≈ 4 ulp):
//!   rounding grows like ε·log2(n) ≈ 6e-8·16 ≈ 1e-6.
//! - bf16/f16 storage: 1e-2. The same fp32 arithmetic plus one rounding of each output to the
//!   storage type (2⁻⁹ relative for bf16, 2⁻¹² for f16); the reference sees the same rounded inputs.
//!
//! y is poisoned with NaN before the launch (and a margin behind it must stay NaN). Two channels
//! of a batch row share one complex FFT (split by symmetry in the row pass): shapes cover C = 1
//! (a lone channel: the imaginary half empty), C = 2 (one full pair) and C = 3 (a pair and a lone
//! channel), B up to 3, with and without gates, and both forms of the column
//! passes (n1 ≤ 32 in registers, n1 ≥ 64 through a shared tile: L = 40000 and 65537). Simulator
//! time: each L ≈ 32K row pair costs ~1-2 s; L = 2^20 is an ignored test meant for GPU runs. The
//! shortest rows of the path (L = 8193 … 16384: n1 = 8) are the operator's 16K forward since
//! 2026-12-05.
#![cfg(any(feature = "cuda", feature = "sim"))]

use crate::common;

use common::fftconv::{check_a_spectrum_kept, check_bwd_reads_inner, check_fwd, check_fwd_inner, check_gated_bwd, fwd_case};
use common::{assert_close, poisoned, read_checked, Storage};
use half::{bf16, f16};
use hyena_kernels::device::{Device, DeviceBuffer};
use hyena_kernels::ops::fftconv::{
    fft_size, fftconv_filter, gated_fftconv_fwd, gated_fftconv_fwd_spectrum, spectrum_len, LONG_MAX_LEN,
    SMEM_MAX_LEN,
};
use hyena_kernels::HyenaError;
use std::sync::Arc;

/// One `gated_fftconv_fwd` call (filter spectrum + convolution) on a multi-pass row vs the f64
/// reference (`common::fftconv::check_fwd`), timed.
fn check<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, gates: bool, seed: u64) {
    assert!(l > SMEM_MAX_LEN);
    let t0 = std::time::Instant::now();
    check_fwd(dev, &fwd_case::<T>(bs, c, l, gates, seed));
    eprintln!("{} long fwd<{:?}> B={bs} C={c} L={l}: {:.2} s", dev.name(), T::DTYPE, t0.elapsed().as_secs_f64());
}

#[test]
fn long_gated_fftconv_fwd_f32_matches_cpu() {
    for dev in common::devices() {
        check::<f32>(&dev, 1, 1, SMEM_MAX_LEN + 1, true, 1000);
        check::<f32>(&dev, 1, 2, 20000, true, 1001);
        check::<f32>(&dev, 3, 1, 32768, true, 1002);
        check::<f32>(&dev, 1, 3, 32768, true, 1006);
        check::<f32>(&dev, 2, 2, 20000, false, 1003);
        // n1 = 32, the largest column FFT in registers, and n1 = 64, the smallest through the
        // shared tile (LONG_REG_LOG2N1 in ops::fftconv).
        check::<f32>(&dev, 1, 2, 40000, true, 1004);
        check::<f32>(&dev, 1, 2, 65537, true, 1005);
    }
}

#[test]
fn long_gated_fftconv_fwd_bf16_f16_match_cpu() {
    for dev in common::devices() {
        check::<bf16>(&dev, 1, 2, 20000, true, 1100);
        check::<f16>(&dev, 1, 1, 16385, true, 1101);
        check::<bf16>(&dev, 1, 2, 65536, true, 1102);
    }
}

/// The operator's use: the channels in groups (its order steps), one spectrum per group, the
/// convolution per group on its own spectrum. Groups of 1 and 2 channels out of C = 3: a lone
/// channel (the imaginary half of its complex signal empty) and a full channel pair. On this path
/// a spectrum is `⌈C/2⌉` complex rows of n (channel pairs).
#[test]
fn long_spectrum_per_channel_group_matches_cpu() {
    for dev in common::devices() {
        let (bs, c, l) = (1, 3, 16400);
        let k = fwd_case::<f32>(bs, c, l, true, 1200);
        let up = |x: &[f32]| DeviceBuffer::from_host(&dev, x).unwrap();
        let (dv, dpre, dpost, dh, dd) = (up(&k.v), up(&k.pre), up(&k.post), up(&k.h), up(&k.d));
        let n = fft_size(l).unwrap();
        assert_eq!(spectrum_len(1, l).unwrap(), 2 * n);
        assert_eq!(spectrum_len(2, l).unwrap(), 2 * n);
        assert_eq!(spectrum_len(3, l).unwrap(), 4 * n);
        let mut dy = poisoned::<f32>(&dev, c * l);
        for (c0, cg) in [(0usize, 1usize), (1, 2)] {
            let per = spectrum_len(cg, l).unwrap();
            let mut hf = poisoned::<f32>(&dev, per);
            fftconv_filter(&dev, dh.view(c0 * l..(c0 + cg) * l).unwrap(), cg, l, hf.view_mut(0..per).unwrap()).unwrap();
            dev.synchronize().unwrap();
            let spec = read_checked("filter hf", &hf, per);
            assert!(spec.iter().all(|x| x.is_finite()), "filter left hf entries unwritten");
            let r = c0 * l..(c0 + cg) * l;
            gated_fftconv_fwd_spectrum(
                &dev,
                hf.view(0..per).unwrap(),
                dd.view(c0..c0 + cg).unwrap(),
                dv.view(r.clone()).unwrap(),
                Some(dpre.view(r.clone()).unwrap()),
                Some(dpost.view(r.clone()).unwrap()),
                bs,
                cg,
                l,
                dy.view_mut(r).unwrap(),
            )
            .unwrap();
            dev.synchronize().unwrap();
        }
        let tag = format!("{} long spectrum per channel group C={c} L={l}", dev.name());
        assert_close(&tag, &read_checked(&tag, &dy, c * l), &k.want, f32::BOUND);
    }
}

#[test]
fn long_rows_beyond_the_limit_are_length_errors() {
    for dev in common::devices() {
        let x = DeviceBuffer::<f32>::alloc(&dev, 4).unwrap();
        let mut y = DeviceBuffer::<f32>::alloc(&dev, 4).unwrap();
        let long = LONG_MAX_LEN + 1;
        assert!(matches!(fft_size(long), Err(HyenaError::TooLong { len, limit: LONG_MAX_LEN, .. }) if len == long));
        assert!(matches!(spectrum_len(1, long), Err(HyenaError::TooLong { limit: LONG_MAX_LEN, .. })));
        let e = gated_fftconv_fwd(&dev, &x, &x, &x, None, None, 1, 1, long, &mut y).unwrap_err();
        assert!(matches!(&e, HyenaError::TooLong { limit: LONG_MAX_LEN, .. }), "{e}");
        let e = fftconv_filter(&dev, &x, 1, long, &mut y).unwrap_err();
        assert!(matches!(&e, HyenaError::TooLong { limit: LONG_MAX_LEN, .. }), "{e}");
    }
}

/// A device with less shared memory than the row pass needs (4096 complex = 32 KiB at any L
/// of the multi-pass path; at L = 8193 the column passes hold their columns in registers):
/// SharedMemory error before anything is launched or written.
#[cfg(feature = "sim")]
#[test]
fn long_shared_memory_over_the_limit_is_an_error() {
    common::fftconv::assert_fwd_over_shared_memory_limit(SMEM_MAX_LEN + 1);
}

/// The simulator running threads and blocks last-first: results must not depend on the order.
#[cfg(feature = "sim")]
#[test]
fn long_reverse_thread_order_matches_cpu() {
    use hyena_kernels::device::sim::{SimDevice, ThreadOrder};
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_thread_order(ThreadOrder::Reverse));
    check::<f32>(&dev, 1, 2, 16385, true, 1300);
}

/// L = 2^20 (n = 2^21: n1 = 512, n2 = 4096), forward only, B = 2, C = 1 (a lone channel per batch
/// row): passed on the simulator with the channel-paired radix-16 rows (2026-12-03, 6.8 s on the
/// 2-core dev machine, debug build); meant for GPU runs
/// (`cargo test --features cuda --test all -- --ignored fftconv_long::`).
#[test]
#[ignore = "long: L = 2^20 (~1 min on the simulator); run on a GPU"]
fn long_gated_fftconv_fwd_f32_one_million() {
    for dev in common::devices() {
        check::<f32>(&dev, 2, 1, 1 << 20, true, 1400);
    }
}

/// The longest row, L = LONG_MAX_LEN = 2^22 (n = 2^23: n1 = 2048 in 8-column tiles of 128 KiB,
/// the four-step twiddle table at its 256 entries per level), forward only, B = 2, C = 1 (a lone
/// channel per batch row). Minutes on the simulator; meant for GPU runs like the test above.
#[test]
#[ignore = "long: L = 2^22 (minutes on the simulator); run on a GPU"]
fn long_gated_fftconv_fwd_f32_longest() {
    for dev in common::devices() {
        check::<f32>(&dev, 2, 1, LONG_MAX_LEN, true, 1401);
    }
}

/// Multi-pass backward (`L >` `SMEM_MAX_LEN`) vs `cpu::fftconv::gated_fftconv_bwd` in f64
/// (`common::fftconv::check_gated_bwd`), same bounds as the forward (each output is two fp32 FFTs
/// of n points; grad_h and grad_D add a sum over the batch, in the frequency domain, in batch
/// order). All outputs poisoned with NaN. Timed.
fn check_bwd<T: Storage>(dev: &Arc<dyn Device>, bs: usize, c: usize, l: usize, gates: bool, seed: u64) {
    assert!(l > SMEM_MAX_LEN);
    let t0 = std::time::Instant::now();
    check_gated_bwd::<T>(dev, bs, c, l, gates, seed);
    eprintln!("{} long bwd<{:?}> B={bs} C={c} L={l}: {:.2} s", dev.name(), T::DTYPE, t0.elapsed().as_secs_f64());
}

#[test]
fn long_gated_fftconv_bwd_f32_matches_cpu() {
    for dev in common::devices() {
        check_bwd::<f32>(&dev, 3, 1, SMEM_MAX_LEN + 1, true, 1500);
        // L = 16384, the paper's 16K row (n1 = 8).
        check_bwd::<f32>(&dev, 2, 2, 16384, false, 1501);
        check_bwd::<f32>(&dev, 1, 2, 32768, true, 1502);
        // Columns in registers at n1 = 32, through the shared tile at n1 = 64.
        check_bwd::<f32>(&dev, 2, 2, 40000, true, 1504);
        check_bwd::<f32>(&dev, 1, 2, 65537, true, 1505);
    }
}

/// The backward of the longest row, L = LONG_MAX_LEN = 2^22 (every gradient, B = 2, C = 1: a lone
/// channel in each batch row, the batch sum of grad_h over two rows). Minutes on the simulator; meant for GPU runs.
#[test]
#[ignore = "long: L = 2^22 (minutes on the simulator); run on a GPU"]
fn long_gated_fftconv_bwd_f32_longest() {
    for dev in common::devices() {
        check_bwd::<f32>(&dev, 2, 1, LONG_MAX_LEN, true, 1503);
    }
}

#[test]
fn long_gated_fftconv_bwd_bf16_f16_match_cpu() {
    for dev in common::devices() {
        check_bwd::<bf16>(&dev, 1, 2, 20000, true, 1600);
        check_bwd::<f16>(&dev, 1, 3, 9000, true, 1601);
    }
}

/// The value before the post gate on the multi-pass paths: the forward's (long_out, and the
/// shared-memory forward at 8K < L ≤ 16K whose backward is multi-pass) vs the reference, and the
/// backward given one (`check_bwd_reads_inner`: grad_post = round(inner ⊙ grad_y) bit for bit,
/// long_rows_bwd without A·H, long_grad_in without the Za transform), columns in registers
/// (L = 9000, 40000) and through the shared tile (65537), C odd and even.
#[test]
fn long_inner_value_matches_cpu() {
    for dev in common::devices() {
        check_fwd_inner(&dev, &fwd_case::<f32>(1, 3, SMEM_MAX_LEN + 1, true, 1800));
        check_fwd_inner(&dev, &fwd_case::<bf16>(1, 2, 40000, true, 1801));
        check_bwd_reads_inner::<f32>(&dev, 2, 3, 9000, 1802);
        check_bwd_reads_inner::<bf16>(&dev, 1, 2, 40000, 1803);
        check_bwd_reads_inner::<f16>(&dev, 1, 1, 65537, 1804);
    }
}

/// The forward keeping its row spectra of a = pre ⊙ v for the backward (`gated_fftconv_{fwd,bwd}_
/// spectrum_keep` on the multi-pass path: `hyena_fftconv_long_rows_bwd_kept`,
/// `common::fftconv::check_a_spectrum_kept`): y, inner and every gradient the same bits as without
/// it, the backward given it twice the same bits. Columns in registers (L = SMEM_MAX_LEN + 1,
/// 40000) and through the shared tile (65537); C odd and even, B = 2 (two batch rows per channel
/// pair: the grad_h sum kept in the slab across them).
#[test]
fn long_forward_keeps_the_row_spectra_of_a_for_the_backward() {
    for dev in common::devices() {
        check_a_spectrum_kept::<f32>(&dev, 2, 3, SMEM_MAX_LEN + 1, 1810);
        check_a_spectrum_kept::<bf16>(&dev, 1, 2, 40000, 1811);
        check_a_spectrum_kept::<f16>(&dev, 1, 1, 65537, 1812);
    }
}

/// The backward with threads and blocks run last-first.
#[cfg(feature = "sim")]
#[test]
fn long_bwd_reverse_thread_order_matches_cpu() {
    use hyena_kernels::device::sim::{SimDevice, ThreadOrder};
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_thread_order(ThreadOrder::Reverse));
    check_bwd::<f32>(&dev, 1, 3, 10000, true, 1700);
    // Given the forward's row spectra of a (B = 2: the grad_h sum read back from the slab).
    check_a_spectrum_kept::<f32>(&dev, 2, 2, SMEM_MAX_LEN + 1, 1701);
}

/// Given the forward's row spectra of a, the long backward's row pass holds 2 rows of n2 complex
/// (64 KiB, `hyena_fftconv_long_rows_bwd_kept`), so on an sm_80-sized device (163 KiB per block)
/// the forward keeping them and the backward reading them both run (the path without them is the
/// SharedMemory error of the next test), and every output has the bits of the same calls on the
/// default, sm_90-sized simulator. Gates and `inner` on, C = 2, L = 40000, f32.
#[cfg(feature = "sim")]
#[test]
fn long_backward_given_the_row_spectra_fits_an_sm80_sized_device() {
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::ops::fftconv::{a_spectrum_len, gated_fftconv_bwd_spectrum_keep, gated_fftconv_fwd_spectrum_keep, GatedConvGradViews};
    let (c, l) = (2, 40000);
    let n = c * l;
    let run = |dev: Arc<dyn Device>| -> Vec<Vec<f64>> {
        let up = |k: usize, m: usize| DeviceBuffer::from_host(&dev, &(0..n).map(|i| ((i * k % m) as f32 - (m / 2) as f32) / m as f32).collect::<Vec<_>>()).unwrap();
        let (v, pre, post, gy, h) = (up(7, 97), up(11, 89), up(13, 83), up(17, 79), up(19, 73));
        let d = DeviceBuffer::from_host(&dev, &[0.5f32, -0.25]).unwrap();
        let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
        fftconv_filter(&dev, &h.view(0..c * l).unwrap(), c, l, &mut hf).unwrap();
        let ns = a_spectrum_len(1, c, l).unwrap();
        let (mut y, mut inner, mut a) = (poisoned::<f32>(&dev, n), poisoned::<f32>(&dev, n), poisoned::<f32>(&dev, ns));
        gated_fftconv_fwd_spectrum_keep(&dev, &hf, &d, &v, Some(pre.as_view()), Some(post.as_view()), 1, c, l, y.view_mut(0..n).unwrap(), Some(inner.view_mut(0..n).unwrap()), Some(a.view_mut(0..ns).unwrap()))
            .unwrap_or_else(|e| panic!("{}: forward keeping the row spectra: {e}", dev.name()));
        let mut g = [n, n, n, c * l, c].map(|k| poisoned::<f32>(&dev, k));
        let [gv, gpre, gpost, gh, gd] = &mut g;
        let grads = GatedConvGradViews {
            grad_v: gv.view_mut(0..n).unwrap(),
            grad_pre: Some(gpre.view_mut(0..n).unwrap()),
            grad_post: Some(gpost.view_mut(0..n).unwrap()),
            grad_h: gh.view_mut(0..c * l).unwrap(),
            grad_d: gd.view_mut(0..c).unwrap(),
        };
        gated_fftconv_bwd_spectrum_keep(&dev, &hf, &d, &v, Some(pre.as_view()), Some(post.as_view()), Some(inner.view(0..n).unwrap()), Some(a.view(0..ns).unwrap()), &gy, 1, c, l, grads)
            .unwrap_or_else(|e| panic!("{}: backward given the row spectra: {e}", dev.name()));
        dev.synchronize().unwrap();
        let mut out = vec![read_checked("y", &y, n), read_checked("inner", &inner, n)];
        for (name, b, k) in [("grad_v", &g[0], n), ("grad_pre", &g[1], n), ("grad_post", &g[2], n), ("grad_h", &g[3], c * l), ("grad_D", &g[4], c)] {
            out.push(read_checked(name, b, k));
        }
        out
    };
    let small = run(Arc::new(SimDevice::new().with_max_shared_bytes(163 * 1024)));
    let full = run(Arc::new(SimDevice::new()));
    for (name, (a, b)) in ["y", "inner", "grad_v", "grad_pre", "grad_post", "grad_h", "grad_D"].iter().zip(small.iter().zip(&full)) {
        assert!(a.iter().all(|x| x.is_finite()), "{name}: not every value written (NaN poison)");
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name}: the 163 KiB device's bits differ");
    }
}

/// An sm_80-sized device (163 KiB of shared memory per block): the long forward fits (its row
/// pass takes 64 KiB) and runs; the long backward that recomputes grad_post (post gate, no
/// `inner`: its row pass holds 6 rows of n2 complex = 192 KiB) does not: a SharedMemory error
/// naming `hyena_fftconv_long_rows_bwd`, and none of the caller's gradient buffers written.
#[cfg(feature = "sim")]
#[test]
fn long_backward_on_an_sm80_sized_device_is_a_shared_memory_error() {
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::ops::fftconv::{gated_fftconv_bwd, GatedConvGradViews};
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_max_shared_bytes(163 * 1024));
    let (c, l) = (2, 40000);
    let n = c * l;
    let up = |x: &[f32]| DeviceBuffer::from_host(&dev, x).unwrap();
    let v = up(&(0..n).map(|i| ((i % 97) as f32 - 48.0) / 64.0).collect::<Vec<_>>());
    let h = up(&(0..n).map(|i| ((i % 89) as f32 - 44.0) / 256.0).collect::<Vec<_>>());
    let d = up(&[0.5, -0.25]);
    let mut y = poisoned::<f32>(&dev, n);
    gated_fftconv_fwd(&dev, &h, &d, &v, None, None, 1, c, l, y.view_mut(0..n).unwrap()).unwrap();
    dev.synchronize().unwrap();
    let got = read_checked("long forward on 163 KiB", &y, n);
    assert!(got.iter().all(|x| x.is_finite()), "the long forward fits 163 KiB and writes all of y");
    let mut g = [n, n, c * l, c].map(|k| poisoned::<f32>(&dev, k));
    let [gv, gpost, gh, gd] = &mut g;
    let grads = GatedConvGradViews {
        grad_v: gv.view_mut(0..n).unwrap(),
        grad_pre: None,
        grad_post: Some(gpost.view_mut(0..n).unwrap()),
        grad_h: gh.view_mut(0..c * l).unwrap(),
        grad_d: gd.view_mut(0..c).unwrap(),
    };
    let e = gated_fftconv_bwd(&dev, &h, &d, &v, None, Some(v.as_view()), &v, 1, c, l, grads).unwrap_err();
    assert!(
        matches!(&e, HyenaError::SharedMemory { kernel, requested, limit }
            if kernel.contains("long_rows_bwd") && *requested > 163 * 1024 && *limit == 163 * 1024),
        "{e}"
    );
    dev.synchronize().unwrap();
    for (k, b) in g.iter().enumerate() {
        assert!(b.to_host().unwrap().iter().all(|x| x.is_nan()), "gradient {k} written despite the error");
    }
}
