//! The hyena kernels in the SIMT simulator's registry (feature `sim`). The simulator's own
//! self-tests and planted-bug kernels live in `crates/cudasim` (built for its tests only).
#![cfg(feature = "sim")]

use hyena_kernels::device::sim::{registry, sim_kernels};

#[test]
fn registry_lists_every_kernel_with_params_size() {
    let reg = registry();
    assert_eq!(reg.len(), sim_kernels().len());
    for k in sim_kernels() {
        let r = reg.get(k.name).unwrap_or_else(|| panic!("{} missing from the C++ registry", k.name));
        assert_eq!(r.params_type, k.params);
        assert!(k.source.starts_with("kernels/"), "{}: {}", k.name, k.source);
        if let Some(info) = hyena_kernels::kernels::find(k.name) {
            assert_eq!(info.params_size, r.params_size, "{}", k.name);
        }
    }
    // Every kernel of the kernel index is in the simulator.
    for k in hyena_kernels::kernels::KERNELS {
        assert!(reg.contains_key(k.name), "{} is not built into the simulator", k.name);
    }
    // The fftconv row kernels are declared uniform (block sampling when counting).
    for name in ["hyena_fftconv_fwd_f32", "hyena_fftconv_bwd_bf16", "hyena_fftconv_filter_f16"] {
        assert!(reg[name].uniform_blocks, "{name}");
    }
    assert!(!reg["hyena_gate_fwd_f32"].uniform_blocks);
    // The simulator's test kernels are not part of this crate.
    assert!(reg.keys().all(|n| n.starts_with("hyena_")), "{:?}", reg.keys().collect::<Vec<_>>());
}

/// Counters through the hyena adapter on a real kernel: a sampled launch of the uniform fftconv
/// forward scales to the full run (requests, shared wavefronts, barriers and math are the same in
/// every block; sectors are not compared: the per-channel spectrum rows are not sector-aligned).
#[test]
fn sampled_fftconv_counters_scale_to_the_full_run() {
    use hyena_kernels::device::sim::{LaunchCounters, SimDevice};
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::gated_fftconv_fwd;
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (bs, c, l) = (4usize, 2usize, 64usize);
    let v: Vec<f32> = (0..bs * c * l).map(|i| ((i * 37) % 11) as f32 * 0.1 - 0.5).collect();
    let h: Vec<f32> = (0..c * l).map(|i| ((i * 13) % 7) as f32 * 0.05).collect();
    let dv = DeviceBuffer::from_host(&dev, &v).unwrap();
    let dh = DeviceBuffer::from_host(&dev, &h).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &vec![0.5f32; c]).unwrap();
    let mut dy = DeviceBuffer::from_host(&dev, &vec![f32::NAN; bs * c * l]).unwrap();
    let mut run = |sample: Option<u32>| -> LaunchCounters {
        sim.set_block_sample(sample);
        sim.set_counters(true);
        gated_fftconv_fwd(&dev, &dh, &dd, &dv, None, None, bs, c, l, &mut dy).unwrap();
        sim.set_counters(false);
        sim.set_block_sample(None);
        let v = sim.take_counters();
        assert_eq!(v.len(), 2, "filter and forward launches: {v:?}");
        v.into_iter().find(|k| k.kernel == "hyena_fftconv_fwd_f32").unwrap()
    };
    let full = run(None);
    let part = run(Some(3));
    assert_eq!((full.blocks_total, full.blocks_run), (8, 8));
    assert_eq!((part.blocks_total, part.blocks_run), (8, 3));
    let s = |x: u64| x as f64 * part.scale();
    assert_eq!(s(part.global.load_requests), full.global.load_requests as f64);
    assert_eq!(s(part.global.store_requests), full.global.store_requests as f64);
    assert_eq!(s(part.shared.load_wavefronts), full.shared.load_wavefronts as f64);
    assert_eq!(s(part.shared.store_wavefronts), full.shared.store_wavefronts as f64);
    assert_eq!(s(part.barriers), full.barriers as f64);
    assert_eq!(s(part.math.sincos), full.math.sincos as f64);
    // No sin/cos: the forward copies the precomputed twiddle table (`load_tw`, branch fwd9).
    assert!(full.barriers > 0 && full.math.sincos == 0 && full.shared.load_wavefronts > 0, "{full:?}");
    assert!(!full.lines.is_empty() && full.lines.iter().any(|l| l.frames[0].0.ends_with("fftconv.cu")));
}

/// Structural properties of the shared-memory FFT kernels (issue 11), asserted on the simulator's
/// counters for one block per launch at tiny shapes (FFT sizes n = 256, 4096, 16384):
/// - no transcendental and no division per butterfly: sin/cos calls per block none (every kernel
///   of this path copies the precomputed table, `load_tw`; the bound below is kept) or at most the twiddle table a block builds once (`HYENA_TW_ENTRIES` layout in kernels/fftconv.cu: for N = 2^e,
///   e = 1..log2 n, min(N/2, 64) fine entries plus min(N/128, 64) coarse ones), no divisions,
///   no exp/log/sqrt; a radix-2 FFT with a sincospif per butterfly makes (n/4)·log2(n/2) calls;
/// - at most ⌈log16 n⌉ + 2 barriers per FFT (filter: 1 FFT, forward: 2, backward: 4, its batch
///   reduce: 1, + 2 for its batch sum's round trip through shared memory);
/// - shared-memory wavefronts per request ≤ 1.15 over the kernel (bank conflicts; 8-byte
///   accesses count 2 wavefronts per request, so this also asks for 4-byte shared accesses).
#[test]
fn fftconv_smem_kernels_meet_the_structural_bounds() {
    use hyena_kernels::device::sim::SimDevice;
    let sim = std::sync::Arc::new(SimDevice::new());
    let check = smem_structural_check;
    for l in [100usize, 2048, 8192] {
        let log2n = (2 * l).next_power_of_two().trailing_zeros();
        let ks = fftconv_fwd_bwd_counters(&sim, l, None);
        let find = |name: &str| ks.iter().find(|k| k.kernel == name).unwrap_or_else(|| panic!("{name} not launched: {ks:?}"));
        check(find("hyena_fftconv_filter_f32"), log2n, 1, 0);
        check(find("hyena_fftconv_fwd_f32"), log2n, 2, 0);
        // The filter spectrum and the forward (branch fwd9), the backward's rows and reduce (branch
        // bwd10) copy the precomputed table (`load_tw`): no sin/cos at all (before: up to 893
        // sincospif per block, ~13 % of the forward's instructions and ~7 % of the backward's at
        // L = 8K).
        for name in ["hyena_fftconv_filter_f32", "hyena_fftconv_fwd_f32", "hyena_fftconv_bwd_f32", "hyena_fftconv_bwd_reduce_f32"] {
            assert_eq!(find(name).math.sincos, 0, "{name} L={l}: {:?}", find(name).math);
        }
        check(find("hyena_fftconv_bwd_f32"), log2n, 4, 0);
        // The batch reduce: one inverse FFT per channel after the batch sum (before: radix-2 with
        // bit-reversed stores, 3.9 wavefronts per request at L = 8192). Its first pass reads the
        // folded sum from shared memory (2 barriers where a conv's fused pass has none of its own):
        // ⌈log16 n⌉ + 4.
        check(find("hyena_fftconv_bwd_reduce_f32"), log2n, 1, 2);
    }
}

/// The bounds of `fftconv_smem_kernels_meet_the_structural_bounds` for one launch `k` of an
/// n = 2^log2n row kernel holding `ffts` FFTs: barriers per block ≤ ffts·(⌈log16 n⌉ + 2) +
/// `extra_barriers`, sin/cos per block at most the table's entries, no division/exp/log/sqrt, and
/// ≤ 1.15 shared wavefronts per request.
fn smem_structural_check(k: &hyena_kernels::device::sim::LaunchCounters, log2n: u32, ffts: u64, extra_barriers: u64) {
    let table = (1..=log2n).map(|e| (1u64 << (e - 1)).min(64) + if e >= 8 { (1u64 << (e - 7)).min(64) } else { 0 }).sum();
    let bar_bound = ffts * (log2n.div_ceil(4) as u64 + 2) + extra_barriers;
    let (barriers, wf) = twiddles_from_table(k, log2n, table);
    assert!(barriers <= bar_bound as f64, "{}: {barriers} barriers per block (bound {bar_bound})", k.kernel);
    assert!(wf <= 1.15, "{}: {wf} wavefronts per shared request ({:?})", k.kernel, k.shared);
}

/// The two-block kernels (2-byte storage, 64 registers on sm_90; `ops::fftconv` takes them at
/// 256 < L ≤ 1K and 4K < L ≤ 8K among other shapes) under the same bounds, bf16, B = C = 1: the
/// forward (2 FFTs), the backward's A kernel (the forward's code with A's bins stored: 2) and G
/// kernel (2, + 1 for grad_D's block sum through shared memory), and the batch reduce after them
/// (1 + 2, as above) and the filter spectrum (1); no sin/cos in any (the table is copied,
/// `load_tw`). L = 1000 runs the generic kernels, L = 8191 those built for m = 2^13 (`*_m13_*`: odd
/// rows; even ones at 4K < L ≤ 8K run the forward on tensor cores, tested below),
/// and L = 4096 the 128-register forward and backward (2 and 4 FFTs), reduce and filter spectrum
/// built for m = 2^12 (`*_m12_*`).
#[test]
fn fftconv_two_block_kernels_meet_the_structural_bounds() {
    use hyena_kernels::device::sim::SimDevice;
    let sim = std::sync::Arc::new(SimDevice::new());
    for l in [1000usize, 4096, 8191] {
        let log2n = (2 * l).next_power_of_two().trailing_zeros();
        let ks = fftconv_fwd_bwd_counters_of(&sim, l, None, false, false, half::bf16::from_f32);
        let find = |name: &str| ks.iter().find(|k| k.kernel == name).unwrap_or_else(|| panic!("{name} not launched at L={l}: {ks:?}"));
        // At 4K < L ≤ 8K the kernels built for m = 2^13 (`_m13`), at 2K < L ≤ 4K the 128-register
        // forward and backward built for m = 2^12 (`_m12`, 2 and 4 FFTs), else the generic ones.
        let two_block = vec![("hyena_fftconv_fwd_2b", 2, 0), ("hyena_fftconv_bwd_a_2b", 2, 0), ("hyena_fftconv_bwd_g_2b", 2, 1)];
        let (mc, kernels) = match l {
            8191 => ("_m13", two_block),
            4096 => ("_m12", vec![("hyena_fftconv_fwd", 2, 0), ("hyena_fftconv_bwd", 4, 0)]),
            _ => ("", two_block),
        };
        let named = kernels.iter().map(|&(k, f, e)| (format!("{k}{mc}_bf16"), f, e));
        // (the filter's spectrum at 4K < L ≤ 8K is made on tensor cores: checked below)
        let filter = (mc != "_m13").then(|| (format!("hyena_fftconv_filter{mc}_bf16"), 1, 0));
        for (name, ffts, extra) in named.chain([(format!("hyena_fftconv_bwd_reduce{mc}_bf16"), 1, 2)]).chain(filter) {
            assert_eq!(find(&name).math.sincos, 0, "{name} L={l}: {:?}", find(&name).math);
            smem_structural_check(find(&name), log2n, ffts, extra);
        }
    }
}

/// The two-block kernels given the forward's `inner` (the operator keeps it at these shapes):
/// `hyena_fftconv_fwd_2b_inner_*` (2 FFTs, as the plain forward) and the backward's A kernel
/// without the convolution, `hyena_fftconv_bwd_a_spec_2b_*` (1 FFT: P0, the middle passes and the
/// last pass, no inverse), under the bounds above, bf16, B = C = 1, no sin/cos; L = 1000 the
/// generic kernels, 8192 those built for m = 2^13; the A kernel with the convolution does not run.
/// With A's spectrum kept too (the operator's choice at these shapes): the forward that stores
/// it, `hyena_fftconv_fwd_2b_inner_spec_*` (2 FFTs), and the G kernel alone (no A kernel at all).
#[test]
fn fftconv_two_block_inner_kernels_meet_the_structural_bounds() {
    use hyena_kernels::device::sim::SimDevice;
    let sim = std::sync::Arc::new(SimDevice::new());
    for (l, mc) in [(1000usize, ""), (8191, "_m13")] {
        let log2n = (2 * l).next_power_of_two().trailing_zeros();
        for spec in [false, true] {
            let ks = fftconv_fwd_bwd_counters_of(&sim, l, None, true, spec, half::bf16::from_f32);
            let find = |name: &str| ks.iter().find(|k| k.kernel == name).unwrap_or_else(|| panic!("{name} not launched at L={l}: {ks:?}"));
            let fwd = format!("hyena_fftconv_fwd_2b_inner{}{mc}_bf16", if spec { "_spec" } else { "" });
            let mut kernels = vec![(fwd, 2), (format!("hyena_fftconv_bwd_g_2b{mc}_bf16"), 2)];
            if !spec {
                kernels.push((format!("hyena_fftconv_bwd_a_spec_2b{mc}_bf16"), 1));
            }
            for (name, ffts) in kernels {
                let k = find(&name);
                assert_eq!(k.math.sincos, 0, "{name} L={l}: {:?}", k.math);
                smem_structural_check(k, log2n, ffts, if name.contains("bwd_g") { 1 } else { 0 });
            }
            assert!(ks.iter().all(|k| !k.kernel.starts_with("hyena_fftconv_bwd_a_2b")), "L={l}: the A kernel with the convolution ran: {ks:?}");
            if spec {
                assert!(ks.iter().all(|k| !k.kernel.starts_with("hyena_fftconv_bwd_a_")), "L={l}: an A kernel ran given A's spectrum: {ks:?}");
            }
        }
    }
}

/// DRAM bytes of the shared-memory forward against the bytes that must move (issue 11: ≤ 1.1×),
/// B = 16 bf16 rows per channel (the throughput setting), C = 2, L = 256, every block run. Must
/// move per row: v, pre, post read and y written once, 4·2L bytes. The DRAM floor is the launch's
/// distinct 32-byte sectors: each channel's filter spectrum hf[c] (8(n/2+1) bytes, fp32 complex)
/// counts once for its 16 rows, as on the GPU, where the grid runs a channel's rows as adjacent
/// blocks (blockIdx.x = c·B + b) and they find hf[c] in L2: 1 + 8(n/2+1)/(16·8L) ≈ 1.06. (The
/// profile's block sampling runs blocks of different channels and so counts hf[c] once per row,
/// ≈ 2× at bf16: docs/GPU_MODEL.md, "The fused conv's DRAM bytes".) The backward is not asserted:
/// its [C, B, n/2+1] fp32 workspace is written and read back by the reduce (≈ 1.6× at bf16).
#[test]
fn fftconv_fwd_dram_bytes_stay_near_the_bytes_that_must_move() {
    use half::bf16;
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::gated_fftconv_fwd;
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (bs, c, l) = (16usize, 2usize, 256usize);
    let x: Vec<bf16> = (0..bs * c * l).map(|i| bf16::from_f32(((i * 37) % 11) as f32 * 0.1 - 0.5)).collect();
    // v, pre, post: three buffers (one buffer in several roles would share its sectors).
    let ins: Vec<DeviceBuffer<bf16>> = (0..3).map(|_| DeviceBuffer::from_host(&dev, &x).unwrap()).collect();
    let dh = DeviceBuffer::from_host(&dev, &x[..c * l]).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &vec![bf16::from_f32(0.5); c]).unwrap();
    let mut y = DeviceBuffer::<bf16>::alloc(&dev, bs * c * l).unwrap();
    sim.set_counters(true);
    gated_fftconv_fwd(&dev, &dh, &dd, &ins[0], Some(ins[1].as_view()), Some(ins[2].as_view()), bs, c, l, &mut y).unwrap();
    sim.set_counters(false);
    let ks = sim.take_counters();
    let k = ks.iter().find(|k| k.kernel == "hyena_fftconv_fwd_bf16").unwrap_or_else(|| panic!("{ks:?}"));
    assert_eq!((k.blocks_total, k.blocks_run), ((bs * c) as u64, (bs * c) as u64));
    let must_move = (bs * c * 4 * 2 * l) as f64;
    let dram = (k.global.dram_sectors * 32) as f64;
    eprintln!("hyena_fftconv_fwd_bf16 B={bs} C={c} L={l}: DRAM bytes {dram} / must move {must_move} = {:.3}", dram / must_move);
    assert!(dram <= 1.1 * must_move, "DRAM bytes {dram} > 1.1 x {must_move} ({:?})", k.global);
    // The hf rows are reused across blocks: at least the 15 later rows of each channel.
    assert!(k.global.multi_block_sectors > 0, "{:?}", k.global);
}

/// The fused forward on tensor cores (`hyena_fftconv_fwd_tc_m13_bf16`, ops::fftconv::
/// fwd_tensor_cores: even L at 4K < L ≤ 8K, 2-byte storage; kernels/tcdft.cu) on the simulator's
/// counters, with `inner` and A's spectrum kept as the operator runs it (then the backward's G
/// kernel alone reads that spectrum), B = 2, C = 2, L = 8192, v, pre and post distinct buffers,
/// every block run:
/// - sin/cos only in the tables a block builds once (the FFT-8192's stage-1 twiddles, 16 warps × 6
///   per lane; the inverse's bases and steps, 32·32 + 128; the bins' bases W^k, 17·32): 4768 per
///   block, none per row; no division, exp, log or sqrt;
/// - barriers: the tables' 1 per block, and per row 4 (the row's largest |a|, stage 1 → stage 2,
///   the inverse's two stages, the planes free for the next row), within issue 11's ⌈log16 n⌉ + 2
///   = 6 for the row's FFT pair;
/// - shared memory: one wavefront per request (every plane access conflict-free, the tables read
///   lane-indexed or broadcast);
/// - global: DRAM bytes (distinct sectors) within 1.02× of what must move: v, pre, post read, y and
///   inner written (2L bytes each), A's spectrum written (8(m + 1)) per row, hf read once per
///   channel (8(m + 1), its rows' L2 reuse), D; L2 sectors within 1.5× of the bytes asked for
///   (hf and the spectrum in the four-step order: 8 consecutive bins per 8 lanes).
/// The filter's spectrum (made on tensor cores at these shapes) is checked here too.
#[test]
fn fftconv_fwd_on_tensor_cores_meets_the_structural_bounds() {
    use half::bf16;
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::{a_spectrum_len, fftconv_filter, gated_fftconv_fwd_spectrum_keep, spectrum_len};
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (bs, c, l) = (2usize, 2usize, 8192usize);
    let n = bs * c * l;
    let x: Vec<bf16> = (0..n).map(|i| bf16::from_f32(((i * 37) % 11) as f32 * 0.1 - 0.5)).collect();
    let ins: Vec<DeviceBuffer<bf16>> = (0..3).map(|_| DeviceBuffer::from_host(&dev, &x).unwrap()).collect();
    let dh = DeviceBuffer::from_host(&dev, &x[..c * l]).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &vec![bf16::from_f32(0.5); c]).unwrap();
    let (mut y, mut z) = (DeviceBuffer::<bf16>::alloc(&dev, n).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, n).unwrap());
    let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
    let mut a = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(bs, c, l).unwrap()).unwrap();
    sim.set_counters(true);
    fftconv_filter(&dev, &dh, c, l, &mut hf).unwrap();
    gated_fftconv_fwd_spectrum_keep(&dev, &hf, &dd, &ins[0], Some(ins[1].as_view()), Some(ins[2].as_view()), bs, c, l, &mut y, Some(z.as_view_mut()), Some(a.as_view_mut()))
        .unwrap();
    sim.set_counters(false);
    let ks = sim.take_counters();
    // The filter's spectrum (hyena_fftconv_filter_tc_m13_bf16, the forward half of the same row
    // and the split): its tables' sin/cos only (3072 + 17·32 per block), 3 barriers per channel
    // (the row's largest |h|, stage 1 → 2, the planes free) and the tables' 1, one wavefront
    // per shared request, hf written in 8-byte accesses of 8 consecutive bins per 8 lanes.
    let f = ks.iter().find(|k| k.kernel == "hyena_fftconv_filter_tc_m13_bf16").unwrap_or_else(|| panic!("{ks:?}"));
    eprintln!("{}: {:?} {:?} {:?} barriers {}", f.kernel, f.global, f.shared, f.math, f.barriers);
    assert_eq!((f.blocks_total, f.blocks_run), (c as u64, c as u64));
    assert_eq!(f.math.sincos, (3072 + 17 * 32) * f.blocks_run, "{:?}", f.math);
    assert_eq!((f.math.div_rcp, f.math.exp_log, f.math.sqrt), (0, 0, 0), "{:?}", f.math);
    assert_eq!(f.barriers, f.blocks_run + 3 * c as u64);
    assert_eq!((f.shared.load_wavefronts, f.shared.store_wavefronts), (f.shared.load_requests, f.shared.store_requests), "{:?}", f.shared);
    // 8 consecutive bins (64 B) per 8 lanes: 2 sectors, 3 where the row's base is not 32-byte
    // aligned (rows m + 1 = 8193 bins apart); natural order would take one sector per 8 bytes (4×).
    assert!(f.global.store_sectors * 32 <= 3 * f.global.store_bytes / 2, "{:?}", f.global);
    // h's rows at even L: each lane's pair of points as one 32-bit word (128 B per warp request;
    // 2-byte loads gave 64 and half the DRAM bandwidth in the model's latency bound), h read twice
    // (the row's largest |h|, then stage 1): 2·L·2 bytes per channel.
    assert_eq!(f.global.load_bytes, 2 * 2 * (c * l) as u64, "{:?}", f.global);
    assert_eq!(f.global.load_bytes, 128 * f.global.load_requests, "{:?}", f.global);
    let k = ks.iter().find(|k| k.kernel == "hyena_fftconv_fwd_tc_m13_bf16").unwrap_or_else(|| panic!("{ks:?}"));
    let rows = (bs * c) as u64;
    assert_eq!((k.blocks_total, k.blocks_run), (rows, rows), "one row per block at 4 rows");
    eprintln!("{}: {:?} {:?} {:?} barriers {}", k.kernel, k.global, k.shared, k.math, k.barriers);
    assert_eq!(k.math.sincos, 4768 * k.blocks_run, "{:?}", k.math);
    assert_eq!((k.math.div_rcp, k.math.exp_log, k.math.sqrt), (0, 0, 0), "{:?}", k.math);
    assert_eq!(k.barriers, k.blocks_run + 4 * rows);
    let sh = &k.shared;
    assert_eq!((sh.load_wavefronts, sh.store_wavefronts), (sh.load_requests, sh.store_requests), "{sh:?}");
    let m = 8193u64;
    // The L2's bytes for the stores (y, inner: 32 contiguous bytes per 8 lanes; the spectrum as the
    // filter's above) and the loads (hf in the four-step order as well, one 8-byte access per lane):
    // within 1.5× of the bytes asked for.
    assert_dram_and_l2(k, rows * (5 * 2 * l as u64 + 8 * m) + c as u64 * (8 * m + 2));
}

/// A launch's DRAM bytes within 1.02× of `must_move`, and its L2 sectors within 1.5× of the bytes
/// its loads and its stores ask for (the 8K tensor-core forwards).
fn assert_dram_and_l2(k: &hyena_kernels::device::sim::LaunchCounters, must_move: u64) {
    let dram = k.global.dram_sectors * 32;
    eprintln!("{}: DRAM bytes {dram} / must move {must_move} = {:.4}; L2 sectors per request: loads {:.2}, stores {:.2}", k.kernel, dram as f64 / must_move as f64,
        k.global.load_sectors as f64 / k.global.load_requests as f64, k.global.store_sectors as f64 / k.global.store_requests as f64);
    assert!(dram as f64 <= 1.02 * must_move as f64, "{}: DRAM bytes {dram} > 1.02 x {must_move} ({:?})", k.kernel, k.global);
    assert!(k.global.store_sectors * 32 <= 3 * k.global.store_bytes / 2, "{}: {:?}", k.kernel, k.global);
    assert!(k.global.load_sectors * 32 <= 3 * k.global.load_bytes / 2, "{}: {:?}", k.kernel, k.global);
}

/// The fused backward on tensor cores given the forward's spectrum (`hyena_fftconv_bwd_g_tc_m13_bf16`
/// and `hyena_fftconv_bwd_reduce_tc_m13_bf16`, ops::fftconv::bwd_tensor_cores; kernels/tcdft.cu)
/// on the simulator's counters, B = 2, C = 2, L = 8192, every input a distinct buffer, every
/// block run:
/// - sin/cos only in the tables each block builds once (the forward's: 4768), no division, exp,
///   log or sqrt;
/// - barriers: the tables' 1 per block; the G kernel 5 per row (the row's largest |g|, stage 1 →
///   stage 2, the inverse's two, the row's Σ g·a), the reduce 3 per channel (the spectrum sum's
///   largest value, the inverse's two): within issue 11's ⌈log16 n⌉ + 2 = 6 per FFT; at B = 1
///   the G kernel alone, 8 per row (its channel reduced in its block: no reduce launch);
/// - shared memory: one wavefront per request;
/// - global: DRAM bytes within 1.02× of what must move: the G kernel's v, pre, post, grad_y and
///   inner read, grad_v, grad_pre and grad_post written (2L bytes each), A read and the
///   workspace written (8(m + 1) each) per row, hf read once per channel; the reduce's workspace
///   read, grad_h written (at B = 1 the G kernel's bytes and grad_h: ws read back from the L2); L2 sectors within 1.5× of the bytes asked for (A, hf and the workspace
///   in the four-step order: 8 consecutive bins per 8 lanes).
#[test]
fn fftconv_bwd_on_tensor_cores_meets_the_structural_bounds() {
    use half::bf16;
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::{a_spectrum_len, fftconv_filter, gated_fftconv_bwd_spectrum_keep, gated_fftconv_fwd_spectrum_keep, spectrum_len, GatedConvGradViews};
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (bs, c, l) = (2usize, 2usize, 8192usize);
    let n = bs * c * l;
    let x: Vec<bf16> = (0..n).map(|i| bf16::from_f32(((i * 37) % 11) as f32 * 0.1 - 0.5)).collect();
    // v, pre, post, grad_y
    let ins: Vec<DeviceBuffer<bf16>> = (0..4).map(|_| DeviceBuffer::from_host(&dev, &x).unwrap()).collect();
    let dh = DeviceBuffer::from_host(&dev, &x[..c * l]).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &vec![bf16::from_f32(0.5); c]).unwrap();
    let mut outs: Vec<DeviceBuffer<bf16>> = (0..5).map(|_| DeviceBuffer::<bf16>::alloc(&dev, n).unwrap()).collect();
    let (mut gh, mut gd) = (DeviceBuffer::<bf16>::alloc(&dev, c * l).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, c).unwrap());
    let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
    let mut a = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(bs, c, l).unwrap()).unwrap();
    fftconv_filter(&dev, &dh, c, l, &mut hf).unwrap();
    let [y, z, gv, gpre, gpost] = &mut outs[..] else { unreachable!() };
    gated_fftconv_fwd_spectrum_keep(&dev, &hf, &dd, &ins[0], Some(ins[1].as_view()), Some(ins[2].as_view()), bs, c, l, &mut *y, Some(z.as_view_mut()), Some(a.as_view_mut()))
        .unwrap();
    let grads = GatedConvGradViews { grad_v: gv.as_view_mut(), grad_pre: Some(gpre.as_view_mut()), grad_post: Some(gpost.as_view_mut()), grad_h: gh.as_view_mut(), grad_d: gd.as_view_mut() };
    sim.set_counters(true);
    gated_fftconv_bwd_spectrum_keep(&dev, &hf, &dd, &ins[0], Some(ins[1].as_view()), Some(ins[2].as_view()), Some(z.as_view()), Some(a.as_view()), &ins[3], bs, c, l, grads).unwrap();
    sim.set_counters(false);
    let mut ks = sim.take_counters();
    assert_eq!(ks.len(), 2, "the G kernel and the reduce only: {:?}", ks.iter().map(|k| &k.kernel).collect::<Vec<_>>());
    // B = 1 (the paper's setting): the G kernel alone, each row's channel reduced in its block
    // right after the row (3 barriers more per row; ws read back from the L2: no DRAM bytes).
    let b1 = {
        let n1 = c * l;
        let mut a1 = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(1, c, l).unwrap()).unwrap();
        let [y, z, gv, gpre, gpost] = &mut outs[..] else { unreachable!() };
        let v = |i: usize| ins[i].view(0..n1).unwrap();
        gated_fftconv_fwd_spectrum_keep(&dev, &hf, &dd, v(0), Some(v(1)), Some(v(2)), 1, c, l, y.view_mut(0..n1).unwrap(), Some(z.view_mut(0..n1).unwrap()), Some(a1.as_view_mut()))
            .unwrap();
        let grads = GatedConvGradViews {
            grad_v: gv.view_mut(0..n1).unwrap(),
            grad_pre: Some(gpre.view_mut(0..n1).unwrap()),
            grad_post: Some(gpost.view_mut(0..n1).unwrap()),
            grad_h: gh.as_view_mut(),
            grad_d: gd.as_view_mut(),
        };
        sim.set_counters(true);
        gated_fftconv_bwd_spectrum_keep(&dev, &hf, &dd, v(0), Some(v(1)), Some(v(2)), Some(z.view(0..n1).unwrap()), Some(a1.as_view()), v(3), 1, c, l, grads).unwrap();
        sim.set_counters(false);
        let k1 = sim.take_counters();
        assert_eq!(k1.len(), 1, "B = 1: the G kernel only: {:?}", k1.iter().map(|k| &k.kernel).collect::<Vec<_>>());
        k1.into_iter().next().unwrap()
    };
    let (rows, m) = ((bs * c) as u64, 8193u64);
    let g_bytes = |rows: u64| rows * (8 * 2 * l as u64 + 2 * 8 * m + 4) + c as u64 * (8 * m + 2);
    let mut b1 = b1;
    b1.kernel = "hyena_fftconv_bwd_g_tc_m13_bf16 (B = 1)".into();
    ks.push(b1);
    for (name, units, per_unit, must_move) in [
        ("hyena_fftconv_bwd_g_tc_m13_bf16", rows, 5, g_bytes(rows)),
        ("hyena_fftconv_bwd_reduce_tc_m13_bf16", c as u64, 3, rows * (8 * m + 4) + c as u64 * (2 * l as u64 + 2)),
        ("hyena_fftconv_bwd_g_tc_m13_bf16 (B = 1)", c as u64, 8, g_bytes(c as u64) + c as u64 * (2 * l as u64 + 2)),
    ] {
        let k = ks.iter().find(|k| k.kernel == name).unwrap_or_else(|| panic!("{name} not launched: {ks:?}"));
        eprintln!("{name}: {:?} {:?} {:?} barriers {}", k.global, k.shared, k.math, k.barriers);
        assert_eq!((k.blocks_total, k.blocks_run), (units, units), "{name}: one row or channel per block here");
        assert_eq!(k.math.sincos, 4768 * k.blocks_run, "{name}: {:?}", k.math);
        assert_eq!((k.math.div_rcp, k.math.exp_log, k.math.sqrt), (0, 0, 0), "{name}: {:?}", k.math);
        assert_eq!(k.barriers, k.blocks_run + per_unit * units, "{name}");
        let sh = &k.shared;
        assert_eq!((sh.load_wavefronts, sh.store_wavefronts), (sh.load_requests, sh.store_requests), "{name}: {sh:?}");
        let dram = k.global.dram_sectors * 32;
        eprintln!("{name}: DRAM bytes {dram} / must move {must_move} = {:.4}", dram as f64 / must_move as f64);
        assert!(dram as f64 <= 1.02 * must_move as f64, "{name}: DRAM bytes {dram} > 1.02 x {must_move} ({:?})", k.global);
        assert!(k.global.store_sectors * 32 <= 3 * k.global.store_bytes / 2, "{name}: {:?}", k.global);
        assert!(k.global.load_sectors * 32 <= 3 * k.global.load_bytes / 2, "{name}: {:?}", k.global);
    }
}

/// The tensor-core forward with the short conv fused (`gated_fftconv_shortconv_fwd`,
/// `hyena_fftconv_fwd_sc_tc_m13_bf16`) at B = 2, C = 2, L = 8192, keeping inner and the spectrum:
/// one launch (no `hyena_shortconv_fwd`), the forward's structure (sin/cos only in the tables, 4
/// barriers per row, one wavefront per shared request), DRAM bytes within 2 % of what must move
/// (the three z rows read, y, inner and the three operands written, the spectrum written, hf and
/// the weights per channel: the operands read back come from the L2), L2 sectors within 1.5× of
/// the bytes asked for.
#[test]
fn fftconv_shortconv_fwd_on_tensor_cores_meets_the_structural_bounds() {
    check_shortconv_fwd_counters(2, false);
}

/// The same at B = 1 with the filter's spectrum formed in the kernel
/// (`gated_fftconv_shortconv_filter_fwd`, the device operator's paper setting), C = 2, L = 8192:
/// one launch (no `hyena_fftconv_filter_tc_m13_*`), the tables' sin/cos only, 7 barriers per row
/// (the spectrum kernel's 3 per channel, the forward's 4), one wavefront per shared request, and
/// DRAM bytes within 2 % of what must move: the forward's with hf written instead of read and h
/// read (2L per channel) — the row's pairs read its spectrum back from the L2, not from DRAM.
#[test]
fn fftconv_shortconv_filter_fwd_on_tensor_cores_meets_the_structural_bounds() {
    check_shortconv_fwd_counters(1, true);
}

/// The two tests above at B = `bs`, C = 2, L = 8192: with `filter`, `gated_fftconv_shortconv_filter_fwd`
/// (B = 1; the spectrum kernel's 3 barriers per row more, hf written and h read instead of hf
/// read), else `fftconv_filter` first (not counted) and `gated_fftconv_shortconv_fwd`.
fn check_shortconv_fwd_counters(bs: usize, filter: bool) {
    use half::bf16;
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::{a_spectrum_len, fftconv_filter, gated_fftconv_shortconv_filter_fwd, gated_fftconv_shortconv_fwd, spectrum_len, ShortConvFwdViews};
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (c, l) = (2usize, 8192usize);
    let (n, m, rows) = (bs * c * l, 8193u64, (bs * c) as u64);
    let pattern = |n: usize, k: usize| -> Vec<bf16> { (0..n).map(|i| bf16::from_f32((((i + k) * 37) % 11) as f32 * 0.1 - 0.5)).collect() };
    let dh = DeviceBuffer::from_host(&dev, &pattern(c * l, 1)).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &vec![bf16::from_f32(0.5); c]).unwrap();
    let (dw, db, z) = (DeviceBuffer::from_host(&dev, &pattern(9 * c, 2)).unwrap(), DeviceBuffer::from_host(&dev, &pattern(3 * c, 3)).unwrap(), DeviceBuffer::from_host(&dev, &pattern(3 * n, 4)).unwrap());
    let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
    if !filter {
        fftconv_filter(&dev, &dh, c, l, &mut hf).unwrap();
    }
    let (mut uc, mut y, mut inner) = (DeviceBuffer::<bf16>::alloc(&dev, 3 * n).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, n).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, n).unwrap());
    let mut a = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(bs, c, l).unwrap()).unwrap();
    let sc = ShortConvFwdViews { z: z.as_view(), w: dw.as_view(), bias: db.as_view(), roles: [2, 1, 0], uc: uc.as_view_mut() };
    let (yv, iv, av) = (y.as_view_mut(), Some(inner.as_view_mut()), Some(a.as_view_mut()));
    sim.set_counters(true);
    let fused = match filter {
        true => gated_fftconv_shortconv_filter_fwd(&dev, &dh, &mut hf, &dd, sc, c, l, yv, iv, av),
        false => gated_fftconv_shortconv_fwd(&dev, &hf, &dd, sc, bs, c, l, yv, iv, av),
    };
    assert!(fused.unwrap());
    sim.set_counters(false);
    let ks = sim.take_counters();
    let names: Vec<&str> = ks.iter().map(|k| k.kernel.as_str()).collect();
    assert_eq!(names, ["hyena_fftconv_fwd_sc_tc_m13_bf16"], "one launch");
    let k = &ks[0];
    eprintln!("{}: {:?} {:?} {:?} barriers {}", k.kernel, k.global, k.shared, k.math, k.barriers);
    assert_eq!((k.blocks_total, k.blocks_run), (rows, rows), "one row per block");
    assert_eq!(k.math.sincos, 4768 * k.blocks_run, "{:?}", k.math);
    assert_eq!((k.math.div_rcp, k.math.exp_log, k.math.sqrt), (0, 0, 0), "{:?}", k.math);
    assert_eq!(k.barriers, k.blocks_run + (if filter { 7 } else { 4 }) * rows);
    let sh = &k.shared;
    assert_eq!((sh.load_wavefronts, sh.store_wavefronts), (sh.load_requests, sh.store_requests), "{sh:?}");
    // Per row 3 z rows read and 5 rows written (2L bytes each), the spectrum (8(m + 1)); per
    // channel hf (8m: read, or with `filter` written) and D, the three operands' 3 weights and
    // bias (2 bytes each), and with `filter` h read (2L).
    let h_read = if filter { 2 * l as u64 } else { 0 };
    assert_dram_and_l2(k, rows * (8 * 2 * l as u64 + 8 * m) + c as u64 * (h_read + 8 * m + 2 + 3 * 4 * 2));
}

/// The tensor-core backward with the short conv's backward fused (`gated_fftconv_shortconv_bwd`,
/// `hyena_fftconv_bwd_g_sc_tc_m13_*`) at B = 2 (then the batch reduce and the short conv's reduce)
/// and B = 1 (the G kernel alone: it reduces its channel and writes the short conv's gradients):
/// the G kernel's structure as without the fusion (sin/cos only in the tables, one wavefront per shared request:
/// the gradients' slots and the sums' rows padded) with 2 barriers more per row (one before the
/// output writes the planes, one for the sums), and its DRAM bytes within 2 % of what must move:
/// the unfused kernel's plus the three short conv input rows read and the row sums and heads
/// written (the gradients wrt the operands are never stored).
#[test]
fn fftconv_shortconv_bwd_on_tensor_cores_meets_the_structural_bounds() {
    use half::bf16;
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::{a_spectrum_len, fftconv_filter, gated_fftconv_fwd_spectrum_keep, gated_fftconv_shortconv_bwd, spectrum_len, ShortConvBwdViews};
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (c, l) = (2usize, 8192usize);
    let m = 8193u64;
    let pattern = |n: usize, k: usize| -> Vec<bf16> { (0..n).map(|i| bf16::from_f32((((i + k) * 37) % 11) as f32 * 0.1 - 0.5)).collect() };
    let dh = DeviceBuffer::from_host(&dev, &pattern(c * l, 1)).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &vec![bf16::from_f32(0.5); c]).unwrap();
    let dw = DeviceBuffer::from_host(&dev, &pattern(9 * c, 2)).unwrap();
    let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
    fftconv_filter(&dev, &dh, c, l, &mut hf).unwrap();
    for bs in [2usize, 1] {
        let n = bs * c * l;
        let (rows, units) = ((bs * c) as u64, (bs * c) as u64);
        let (uc, z, gy) = (DeviceBuffer::from_host(&dev, &pattern(3 * n, 3)).unwrap(), DeviceBuffer::from_host(&dev, &pattern(3 * n, 4)).unwrap(), DeviceBuffer::from_host(&dev, &pattern(n, 5)).unwrap());
        let (mut y, mut inner) = (DeviceBuffer::<bf16>::alloc(&dev, n).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, n).unwrap());
        let mut a = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(bs, c, l).unwrap()).unwrap();
        let op = |r: usize| uc.view(r * n..(r + 1) * n).unwrap();
        gated_fftconv_fwd_spectrum_keep(&dev, &hf, &dd, op(2), Some(op(1)), Some(op(0)), bs, c, l, &mut y, Some(inner.as_view_mut()), Some(a.as_view_mut())).unwrap();
        let (mut gz, mut gw, mut gb, mut gib) = (DeviceBuffer::<bf16>::alloc(&dev, 3 * n).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, 9 * c).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, 3 * c).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, 3 * c).unwrap());
        let (mut gh, mut gd) = (DeviceBuffer::<bf16>::alloc(&dev, c * l).unwrap(), DeviceBuffer::<bf16>::alloc(&dev, c).unwrap());
        let sc = ShortConvBwdViews { z: z.as_view(), w: dw.as_view(), roles: [2, 1, 0], grad_z: gz.as_view_mut(), grad_w: gw.as_view_mut(), grad_b: gb.as_view_mut(), grad_in_bias: Some(gib.as_view_mut()) };
        sim.set_counters(true);
        assert!(gated_fftconv_shortconv_bwd(&dev, &hf, &dd, &uc, &inner, &a, &gy, bs, c, l, sc, &mut gh, &mut gd).unwrap());
        sim.set_counters(false);
        let ks = sim.take_counters();
        let names: Vec<&str> = ks.iter().map(|k| k.kernel.as_str()).collect();
        let want: &[&str] = if bs == 1 {
            &["hyena_fftconv_bwd_g_sc_tc_m13_bf16"]
        } else {
            &["hyena_fftconv_bwd_g_sc_tc_m13_bf16", "hyena_fftconv_bwd_reduce_tc_m13_bf16", "hyena_shortconv_bwd_reduce_bf16"]
        };
        assert_eq!(names, want, "B = {bs}: the launches");
        let k = &ks[0];
        let name = format!("{} (B = {bs})", k.kernel);
        eprintln!("{name}: {:?} {:?} {:?} barriers {}", k.global, k.shared, k.math, k.barriers);
        assert_eq!((k.blocks_total, k.blocks_run), (units, units), "{name}: one row per block here");
        assert_eq!(k.math.sincos, 4768 * k.blocks_run, "{name}: {:?}", k.math);
        assert_eq!((k.math.div_rcp, k.math.exp_log, k.math.sqrt), (0, 0, 0), "{name}: {:?}", k.math);
        // Per row: the G kernel's 5 (B = 1: 8, its channel's reduce), + 2 here.
        let per_row = if bs == 1 { 10 } else { 7 };
        assert_eq!(k.barriers, k.blocks_run + per_row * units, "{name}");
        let sh = &k.shared;
        assert_eq!((sh.load_wavefronts, sh.store_wavefronts), (sh.load_requests, sh.store_requests), "{name}: {sh:?}");
        // The unfused G kernel's bytes (5 rows read, 3 written, A read, ws and ws_d written, hf per
        // channel; B = 1: grad_h and grad_D per channel too) + the 3 z rows read + per row 3 × (4
        // f64 sums + 2 f32 heads).
        let mut must_move = rows * (8 * 2 * l as u64 + 2 * 8 * m + 4 + 3 * 2 * l as u64 + 3 * (32 + 8)) + c as u64 * (8 * m + 2);
        if bs == 1 {
            must_move += c as u64 * (2 * l as u64 + 2);
        }
        let dram = k.global.dram_sectors * 32;
        eprintln!("{name}: DRAM bytes {dram} / must move {must_move} = {:.4}", dram as f64 / must_move as f64);
        assert!(dram as f64 <= 1.02 * must_move as f64, "{name}: DRAM bytes {dram} > 1.02 x {must_move} ({:?})", k.global);
        assert!(k.global.store_sectors * 32 <= 3 * k.global.store_bytes / 2, "{name}: {:?}", k.global);
        assert!(k.global.load_sectors * 32 <= 3 * k.global.load_bytes / 2, "{name}: {:?}", k.global);
    }
}

/// The counters of one `gated_fftconv_fwd` and one `gated_fftconv_bwd` (B = 1, C = 1, row length
/// `l`, gates on, inputs a fixed pattern), in launch order; `sample`: blocks counted per uniform
/// launch (the outputs are then not computed).
pub(crate) fn fftconv_fwd_bwd_counters(sim: &std::sync::Arc<hyena_kernels::device::sim::SimDevice>, l: usize, sample: Option<u32>) -> Vec<hyena_kernels::device::sim::LaunchCounters> {
    fftconv_fwd_bwd_counters_of(sim, l, sample, false, false, |x: f32| x)
}

/// `fftconv_fwd_bwd_counters` in storage type `T` (the pattern converted by `from`); with `inner`,
/// the filter spectrum once, then the forward keeping its value before the post gate and the
/// backward reading it (`gated_fftconv_{fwd,bwd}_spectrum_inner`), and with `spec` too A's
/// spectrum (`gated_fftconv_{fwd,bwd}_spectrum_keep`).
pub(crate) fn fftconv_fwd_bwd_counters_of<T: hyena_kernels::device::DeviceScalar>(
    sim: &std::sync::Arc<hyena_kernels::device::sim::SimDevice>,
    l: usize,
    sample: Option<u32>,
    inner: bool,
    spec: bool,
    from: impl Fn(f32) -> T,
) -> Vec<hyena_kernels::device::sim::LaunchCounters> {
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::{fftconv_filter, gated_fftconv_bwd, gated_fftconv_bwd_spectrum_inner, gated_fftconv_fwd};
    use hyena_kernels::ops::fftconv::{a_spectrum_len, gated_fftconv_bwd_spectrum_keep, gated_fftconv_fwd_spectrum_keep};
    use hyena_kernels::ops::fftconv::{gated_fftconv_fwd_spectrum_inner, spectrum_len, GatedConvGradViews};
    use std::sync::Arc;
    let dev: Arc<dyn Device> = sim.clone();
    let x: Vec<T> = (0..l).map(|i| from(((i * 37) % 11) as f32 * 0.1 - 0.5)).collect();
    let dx = DeviceBuffer::from_host(&dev, &x).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &[from(0.5)]).unwrap();
    let mut outs: Vec<DeviceBuffer<T>> = (0..6).map(|_| DeviceBuffer::<T>::alloc(&dev, l).unwrap()).collect();
    let mut gd = DeviceBuffer::<T>::alloc(&dev, 1).unwrap();
    sim.set_block_sample(sample);
    sim.set_counters(true);
    let [y, z, gv, gpre, gpost, gh] = &mut outs[..] else { unreachable!() };
    let grads = GatedConvGradViews {
        grad_v: gv.as_view_mut(),
        grad_pre: Some(gpre.as_view_mut()),
        grad_post: Some(gpost.as_view_mut()),
        grad_h: gh.as_view_mut(),
        grad_d: gd.as_view_mut(),
    };
    let gates = || (Some(dx.as_view()), Some(dx.as_view()));
    if spec {
        let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(1, l).unwrap()).unwrap();
        fftconv_filter(&dev, &dx, 1, l, &mut hf).unwrap();
        let mut a = DeviceBuffer::<f32>::alloc(&dev, a_spectrum_len(1, 1, l).unwrap()).unwrap();
        let (pre, post) = gates();
        gated_fftconv_fwd_spectrum_keep(&dev, &hf, &dd, &dx, pre, post, 1, 1, l, &mut *y, Some(z.as_view_mut()), Some(a.as_view_mut())).unwrap();
        let (pre, post) = gates();
        gated_fftconv_bwd_spectrum_keep(&dev, &hf, &dd, &dx, pre, post, Some(z.as_view()), Some(a.as_view()), &dx, 1, 1, l, grads).unwrap();
    } else if inner {
        let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(1, l).unwrap()).unwrap();
        fftconv_filter(&dev, &dx, 1, l, &mut hf).unwrap();
        let (pre, post) = gates();
        gated_fftconv_fwd_spectrum_inner(&dev, &hf, &dd, &dx, pre, post, 1, 1, l, &mut *y, Some(z.as_view_mut())).unwrap();
        let (pre, post) = gates();
        gated_fftconv_bwd_spectrum_inner(&dev, &hf, &dd, &dx, pre, post, Some(z.as_view()), &dx, 1, 1, l, grads).unwrap();
    } else {
        let (pre, post) = gates();
        gated_fftconv_fwd(&dev, &dx, &dd, &dx, pre, post, 1, 1, l, &mut *y).unwrap();
        let (pre, post) = gates();
        gated_fftconv_bwd(&dev, &dx, &dd, &dx, pre, post, &dx, 1, 1, l, grads).unwrap();
    }
    sim.set_counters(false);
    sim.set_block_sample(None);
    sim.take_counters()
}

/// Structural properties of the multi-pass (four-step) kernels, on the simulator's counters (2
/// sampled blocks per launch) at the shortest row both passes take that path for, L =
/// SMEM_MAX_LEN + 1 (n = 2^15: n1 = 8, n2 = 4096), B = 1, C = 1:
/// - no transcendental per butterfly or per point: sin/cos calls per block at most the entries of
///   the three-level twiddle table a block builds once (`PowTw` in kernels/fftconv.cu: levels of
///   a = ⌈E/3⌉ bits for n = 2^E, 2·2^a + 2^(E−2a) entries; n = 2^15: 96), no divisions, no
///   exp/log/sqrt. Before the table the column pass made one sincospif per butterfly of its
///   log2(n1) radix-2 stages plus one per point (~5 per point).
/// - the row passes (`lrow`: radix-16 Stockham passes in registers, swizzled layout): shared
///   wavefronts per request ≤ 1.15 over the kernel (measured 1.02–1.05; the radix-2/4 rows had
///   1.86–1.95: 4-way conflicts of the small spans), and barriers per block ≤ FFTs·(⌈log16 n2⌉ + 2)
///   + 1 (the table). A row block holds two mirror rows (channel pairs): the filter's row pass 2
///   FFTs (7 barriers), the conv's 4 (19), the backward's 10 at B = 1: four forward, four
///   inverse, grad_h's two inverses (23).
/// The column passes (radix-2/4 stages, 1.25 wf/r) are not asserted yet; their figures are printed.
#[test]
fn fftconv_long_kernels_take_twiddles_from_a_table() {
    use hyena_kernels::device::sim::SimDevice;
    use hyena_kernels::ops::fftconv::SMEM_MAX_LEN;
    let sim = std::sync::Arc::new(SimDevice::new());
    let l = SMEM_MAX_LEN + 1;
    let log2n = (2 * l).next_power_of_two().trailing_zeros();
    let a = log2n.div_ceil(3);
    let table = 2 * (1u64 << a) + (1u64 << log2n.saturating_sub(2 * a));
    let ks = fftconv_fwd_bwd_counters(&sim, l, Some(2));
    let long: Vec<_> = ks.iter().filter(|k| k.kernel.starts_with("hyena_fftconv_long_")).collect();
    // Forward: filter spectrum (cols, rows), cols, rows, out; backward: filter spectrum, cols of a
    // and of g, rows_bwd, grad_in (grad_post, grad_v, grad_pre in one launch), grad_h.
    assert_eq!(long.len(), 5 + 7, "{:?}", ks.iter().map(|k| &k.kernel).collect::<Vec<_>>());
    // Rows of n2 = 4096 points: ⌈log16 n2⌉ + 2 = 5 barriers per FFT.
    let per_fft = 12u32.div_ceil(4) as f64 + 2.0;
    let mut row_ffts = [2.0, 4.0, 2.0].into_iter(); // the rows launches in order: filter, conv, filter
    for k in long {
        let (barriers, wf) = twiddles_from_table(k, log2n, table);
        let ffts = match k.kernel.as_str() {
            "hyena_fftconv_long_rows" => row_ffts.next().expect("three row launches"),
            "hyena_fftconv_long_rows_bwd" => 10.0,
            _ => continue,
        };
        assert!(wf <= 1.15, "{}: {wf:.3} shared wavefronts per request (bank conflicts)", k.kernel);
        assert!(barriers <= ffts * per_fft + 1.0, "{}: {barriers} barriers per block for {ffts} FFTs", k.kernel);
    }
}

/// The multi-pass backward given the forward's row spectra of a (`gated_fftconv_{fwd,bwd}_spectrum_
/// keep`, L = SMEM_MAX_LEN + 1: n1 = 8, n2 = 4096; B = 1, C = 1, every block run) against the same
/// pair given only `inner` (`_spectrum_inner`), on the simulator's counters: both run the row pass
/// `hyena_fftconv_long_rows_bwd_kept` (n2/16 threads, two rows of n2 complex: 64 KiB), the same
/// work in both (the same shared requests and barriers); given the forward's spectra the backward
/// launches neither its pass 1 on a (one column pass fewer) nor `hyena_fftconv_long_rows_spectra`.
/// The kept row pass: 6 row FFTs per block (Zg's 2 forward and 2 inverse, grad_h's 2), barriers
/// per block ≤ 6·(⌈log16 n2⌉ + 2) + 1, ≤ 1.15 wavefronts per shared request.
#[test]
fn long_backward_given_the_row_spectra_of_a_skips_their_transforms() {
    use hyena_kernels::device::sim::{LaunchCounters, SimDevice};
    use hyena_kernels::ops::fftconv::SMEM_MAX_LEN;
    let sim = std::sync::Arc::new(SimDevice::new());
    let l = SMEM_MAX_LEN + 1;
    let kept = fftconv_fwd_bwd_counters_of(&sim, l, None, true, true, |x| x);
    let inner = fftconv_fwd_bwd_counters_of(&sim, l, None, true, false, |x| x);
    let names = |ks: &[LaunchCounters]| ks.iter().map(|k| k.kernel.clone()).collect::<Vec<_>>();
    let find = |ks: &[LaunchCounters], name: &str| -> LaunchCounters {
        ks.iter().find(|k| k.kernel == name).unwrap_or_else(|| panic!("{name} not launched: {:?}", names(ks))).clone()
    };
    let count = |ks: &[LaunchCounters], prefix: &str| ks.iter().filter(|k| k.kernel.starts_with(prefix)).count();
    assert_eq!(count(&kept, "hyena_fftconv_long_cols") + 1, count(&inner, "hyena_fftconv_long_cols"), "column passes: {:?} against {:?}", names(&kept), names(&inner));
    assert_eq!((count(&kept, "hyena_fftconv_long_rows_spectra"), count(&inner, "hyena_fftconv_long_rows_spectra")), (0, 1), "{:?} against {:?}", names(&kept), names(&inner));
    let (rk, ri) = (find(&kept, "hyena_fftconv_long_rows_bwd_kept"), find(&inner, "hyena_fftconv_long_rows_bwd_kept"));
    assert_eq!((rk.dyn_shared_bytes, rk.block[0]), (2 * 8 * 4096, 4096 / 16), "shared memory and threads of the row blocks");
    assert_eq!((rk.shared.load_requests, rk.shared.store_requests, rk.barriers), (ri.shared.load_requests, ri.shared.store_requests, ri.barriers));
    let per_fft = 12u32.div_ceil(4) as f64 + 2.0;
    let barriers = rk.barriers as f64 / rk.blocks_run as f64;
    eprintln!("kept row pass: barriers per block {barriers}");
    assert!(barriers <= 6.0 * per_fft + 1.0, "{barriers} barriers per block for 6 row FFTs");
    let s = &rk.shared;
    let wf = (s.load_wavefronts + s.store_wavefronts) as f64 / (s.load_requests + s.store_requests) as f64;
    assert!(wf <= 1.15, "{}: {wf:.3} wavefronts per shared request", rk.kernel);
}

/// Asserts that launch `k` (FFT size n = 2^`log2n`) makes no transcendental per butterfly: sin/cos
/// calls per block at most `table` (the twiddle entries a block builds once), no division, no
/// exp/log/sqrt. Prints those rates with the barriers per block and the shared wavefronts per
/// request, and returns the latter two for the caller's bounds.
fn twiddles_from_table(k: &hyena_kernels::device::sim::LaunchCounters, log2n: u32, table: u64) -> (f64, f64) {
    let per = |x: u64| x as f64 / k.blocks_run as f64;
    let s = &k.shared;
    let wf = (s.load_wavefronts + s.store_wavefronts) as f64 / (s.load_requests + s.store_requests) as f64;
    eprintln!(
        "{} n=2^{log2n}: sincos/block {} (table {table}), barriers/block {}, wavefronts/request {wf:.3}",
        k.kernel,
        per(k.math.sincos),
        per(k.barriers)
    );
    assert!(per(k.math.sincos) <= table as f64, "{}: {:?}", k.kernel, k.math);
    assert_eq!((k.math.div_rcp, k.math.exp_log, k.math.sqrt), (0, 0, 0), "{}", k.kernel);
    (per(k.barriers), wf)
}

/// The multi-pass backward given the forward's value before the post gate (`inner`), against the
/// same backward without it, on the simulator's counters (every block run; L = SMEM_MAX_LEN + 1,
/// B = 1, C = 2: one channel pair, n = 2^15). With `inner` no A·H: the row pass is
/// `hyena_fftconv_long_rows_spectra` (Za's 2 forward row FFTs per mirror pair, stored over pass 1)
/// then `hyena_fftconv_long_rows_bwd_kept` (Zg's 2 forward and 2 inverse, grad_h's 2): 8 row FFTs
/// against the full kernel's 10, none of them an inverse of Za. Shared-memory store requests
/// (per thread and row FFT: forward 96 in the kept kernel (P0, middle pass, natural-order store:
/// 32 each over two planes), 64 in the spectra kernel (its bins go to global memory), inverse 64;
/// per mirror pair the full kernel's product stores Za, Zg and acc (12), the kept kernel's Zg (4)):
/// (2·64 + 2·96 + 4·64)·256 + 4·4096 against (4·96 + 6·64)·256 + 12·4096, 2/3; bound ≤ 0.7,
/// ratio printed. `long_grad_in` skips the column transform of Za (pass 3 reads Zg and the gates,
/// plus `inner`): its loaded bytes ≤ 0.8×. Every row pass ≤ 1.15 wavefronts per shared request.
#[test]
fn long_backward_with_the_inner_value_skips_the_second_convolution() {
    use hyena_kernels::device::sim::{LaunchCounters, SimDevice};
    use hyena_kernels::device::{Device, DeviceBuffer};
    use hyena_kernels::ops::fftconv::{
        fftconv_filter, gated_fftconv_bwd_spectrum_inner, spectrum_len, GatedConvGradViews, SMEM_MAX_LEN,
    };
    use std::sync::Arc;
    let sim = Arc::new(SimDevice::new());
    let dev: Arc<dyn Device> = sim.clone();
    let (c, l) = (2usize, SMEM_MAX_LEN + 1);
    let n = c * l;
    let x: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 * 0.1 - 0.5).collect();
    let dx = DeviceBuffer::from_host(&dev, &x).unwrap();
    let dd = DeviceBuffer::from_host(&dev, &[0.5f32, -0.25]).unwrap();
    let mut hf = DeviceBuffer::<f32>::alloc(&dev, spectrum_len(c, l).unwrap()).unwrap();
    fftconv_filter(&dev, &dx.view(0..l * c).unwrap(), c, l, &mut hf).unwrap();
    let run = |inner: bool| -> Vec<LaunchCounters> {
        let mut outs: Vec<DeviceBuffer<f32>> = (0..4).map(|_| DeviceBuffer::<f32>::alloc(&dev, n).unwrap()).collect();
        let mut gd = DeviceBuffer::<f32>::alloc(&dev, c).unwrap();
        let [gv, gpre, gpost, gh] = &mut outs[..] else { unreachable!() };
        let grads = GatedConvGradViews {
            grad_v: gv.as_view_mut(),
            grad_pre: Some(gpre.as_view_mut()),
            grad_post: Some(gpost.as_view_mut()),
            grad_h: gh.view_mut(0..c * l).unwrap(),
            grad_d: gd.as_view_mut(),
        };
        sim.set_counters(true);
        let v = dx.as_view();
        gated_fftconv_bwd_spectrum_inner(&dev, &hf, &dd, v, Some(v), Some(v), inner.then_some(v), v, 1, c, l, grads).unwrap();
        sim.set_counters(false);
        sim.take_counters()
    };
    let (full, with) = (run(false), run(true));
    let find = |ks: &[LaunchCounters], name: &str| -> LaunchCounters {
        ks.iter().find(|k| k.kernel == name).unwrap_or_else(|| panic!("{name} not launched: {:?}", ks.iter().map(|k| &k.kernel).collect::<Vec<_>>())).clone()
    };
    assert!(!with.iter().any(|k| k.kernel == "hyena_fftconv_long_rows_bwd"), "the full row pass ran with inner given");
    let ra = find(&full, "hyena_fftconv_long_rows_bwd");
    let (rs, rk) = (find(&with, "hyena_fftconv_long_rows_spectra"), find(&with, "hyena_fftconv_long_rows_bwd_kept"));
    let (ia, ig) = (find(&full, "hyena_fftconv_long_grad_in_reg_f32"), find(&with, "hyena_fftconv_long_grad_in_reg_f32"));
    let ratio = |a: u64, b: u64| b as f64 / a as f64;
    let stores = ratio(ra.shared.store_requests, rs.shared.store_requests + rk.shared.store_requests);
    let loads_in = ratio(ia.global.load_bytes, ig.global.load_bytes);
    eprintln!("with inner / without: row passes' shared store requests {stores:.4}; grad_in loaded bytes {loads_in:.3}");
    assert!(stores <= 0.7, "row passes' shared store requests {stores:.4} of the full kernel's");
    assert!(loads_in <= 0.8, "grad_in loaded bytes {loads_in:.3} of the full kernel's");
    for k in [&ra, &rs, &rk] {
        let s = &k.shared;
        let wf = (s.load_wavefronts + s.store_wavefronts) as f64 / (s.load_requests + s.store_requests) as f64;
        assert!(wf <= 1.15, "{}: {wf:.3} wavefronts per shared request", k.kernel);
    }
}
