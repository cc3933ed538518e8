//! Counters against hand counts on microkernels (`tests/kernels/counters.cu`); block sampling
//! against a full run; counters on/off give the same violations; per-line counts of a loop.

use cudasim::{LaunchConfig, LaunchCounters, SimDevice, SimError};
use cudasim_testkernels::{SimTestParams, KERNELS};

fn cfg(grid: u32, block: u32) -> LaunchConfig {
    LaunchConfig::linear(grid, block, 0)
}

/// Run one launch with counters on and return its counters.
fn count(d: &SimDevice, name: &str, c: LaunchConfig, p: SimTestParams) -> LaunchCounters {
    d.set_counters(true);
    let r = d.launch(name, &c, &p.bytes());
    d.set_counters(false);
    r.unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut v = d.take_counters();
    assert_eq!(v.len(), 1, "{name}: one launch, one record");
    let c = v.pop().unwrap();
    eprintln!("{name}: {c:?}");
    c
}

fn buffers(d: &SimDevice, nx: usize, nout: usize) -> (u64, u64) {
    let x: Vec<f32> = (0..nx).map(|i| (i % 7) as f32 * 0.25).collect();
    (d.upload(&x).unwrap(), d.upload(&vec![0.0f32; nout]).unwrap())
}

#[test]
fn counters_are_off_by_default() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 256, 256);
    d.launch("cnt_copy", &cfg(4, 64), &SimTestParams { x, out, n: 0, aux: 0 }.bytes()).unwrap();
    assert!(d.take_counters().is_empty());
}

#[test]
fn coalesced_copy_is_4_sectors_per_request() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 256, 256);
    let c = count(&d, "cnt_copy", cfg(4, 64), SimTestParams { x, out, n: 0, aux: 0 });
    // 4 blocks x 2 warps = 8 warps, one load and one store each; 32 lanes x 4 B = 128 B = 4 sectors.
    let g = &c.global;
    assert_eq!((g.load_requests, g.store_requests), (8, 8));
    assert_eq!((g.load_sectors, g.store_sectors), (32, 32));
    assert_eq!((g.load_bytes, g.store_bytes), (1024, 1024));
    // 1 KiB read + 1 KiB written, all distinct: 64 sectors; no block shares one.
    assert_eq!((g.unique_sectors, g.multi_block_sectors), (64, 0));
    // DRAM: 32 sectors read in, 32 written back.
    assert_eq!(g.dram_sectors, 64);
    assert_eq!((c.blocks_total, c.blocks_run, c.scale()), (4, 4, 1.0));
    assert_eq!((c.grid, c.block, c.dyn_shared_bytes), ([4, 1, 1], [64, 1, 1], 0));
    assert_eq!((c.shared.load_requests, c.shared.store_requests, c.barriers), (0, 0, 0));
}

/// The same copy in place (out = x): 32 distinct sectors, each read in and written back, so the
/// DRAM floor is 64 sector transfers where the distinct-sector count is 32.
#[test]
fn an_in_place_copy_moves_its_sectors_both_ways() {
    let d = SimDevice::new(&KERNELS);
    let (x, _) = buffers(&d, 256, 256);
    let g = count(&d, "cnt_copy", cfg(4, 64), SimTestParams { x, out: x, n: 0, aux: 0 }).global;
    assert_eq!((g.load_sectors, g.store_sectors), (32, 32));
    assert_eq!((g.unique_sectors, g.dram_sectors), (32, 64));
}

/// A block that stores sectors and, after a barrier, loads them back (another warp's words): the
/// load finds them in the L2, so each is one DRAM transfer (written back), not two; x read in and
/// aux written back as usual: 8 + 8 + 8. (The counters group a block's requests with its loads
/// first; the sectors' state follows the order the accesses were made.)
#[test]
fn sectors_stored_then_loaded_by_one_block_are_one_transfer() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 64, 64);
    let (aux, _) = buffers(&d, 64, 64);
    let g = count(&d, "cnt_write_read_back", cfg(1, 64), SimTestParams { x, out, n: 0, aux }).global;
    assert_eq!((g.load_requests, g.store_requests), (4, 4));
    assert_eq!((g.unique_sectors, g.dram_sectors), (24, 24));
}

#[test]
fn stride_32_read_is_32_sectors_per_request() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 64 * 32, 64);
    let c = count(&d, "cnt_stride32", cfg(1, 64), SimTestParams { x, out, n: 0, aux: 0 });
    let g = &c.global;
    assert_eq!((g.load_requests, g.load_sectors, g.load_bytes), (2, 64, 256));
    assert_eq!((g.store_requests, g.store_sectors), (2, 8));
}

#[test]
fn sectors_read_by_every_block_count_once_and_as_reuse() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 32, 5 * 32);
    let c = count(&d, "cnt_reuse", cfg(5, 32), SimTestParams { x, out, n: 0, aux: 0 });
    // x[0..32): 4 sectors read by all 5 blocks; out: 5 x 4 sectors, one block each.
    assert_eq!(c.global.unique_sectors, 4 + 20);
    assert_eq!(c.global.dram_sectors, 4 + 20);
    assert_eq!(c.global.multi_block_sectors, 4);
    assert_eq!(c.global.load_sectors, 5 * 4);
}

#[test]
fn column_reads_of_32x32_and_32x33_shared_arrays() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 32, 32);
    for (name, col_wavefronts) in [("cnt_smem_col32", 32), ("cnt_smem_col33", 1)] {
        let c = count(&d, name, cfg(1, 32), SimTestParams { x, out, n: 5, aux: 0 });
        // Fill: 32 row stores by the warp (one request per row, lane t -> word r*W + t: 32 banks).
        assert_eq!((c.shared.store_requests, c.shared.store_wavefronts), (32, 32), "{name}");
        // Column read s[t][5]: word t*W + 5, bank (t*W + 5) % 32.
        assert_eq!((c.shared.load_requests, c.shared.load_wavefronts), (1, col_wavefronts), "{name}");
        assert_eq!(c.barriers, 1, "{name}");
    }
}

#[test]
fn float2_float4_and_broadcast_wavefronts() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 32, 32);
    let c = count(&d, "cnt_smem_vec", cfg(1, 32), SimTestParams { x, out, n: 0, aux: 0 });
    // Loads: float2 (2 half-warp phases of 16 lanes x 2 words in 32 banks: 2), float4 (4 quarter-
    // warp phases of 8 lanes x 4 words: 4), broadcast of one word (1): 3 requests, 7 wavefronts.
    assert_eq!((c.shared.load_requests, c.shared.load_wavefronts), (3, 2 + 4 + 1));
    // Stores: float2 (2), float4 (4), one lane's scalar (1).
    assert_eq!((c.shared.store_requests, c.shared.store_wavefronts), (3, 2 + 4 + 1));
    let got: Vec<f32> = d.download(out, 32).unwrap();
    for t in 0..32 {
        let u = ((t + 1) % 32) as f32;
        assert_eq!(got[t], u + 1.0 + u + 1.0 + 2.0 + 3.0 + 5.0, "t={t}");
    }
}

#[test]
fn barriers_collectives_math_and_atomics() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 64, 64);
    let c = count(&d, "cnt_barriers", cfg(3, 64), SimTestParams { x, out, n: 7, aux: 0 });
    assert_eq!(c.barriers, 3 * 7, "7 barriers per block, 3 blocks");

    let k = 5;
    let c = count(&d, "cnt_math", cfg(1, 64), SimTestParams { x, out, n: k, aux: 0 });
    // 64 lanes x k sinf; one __expf, sqrtf and __fdividef per lane.
    assert_eq!(c.math.sincos, 64 * k);
    assert_eq!((c.math.exp_log, c.math.sqrt, c.math.div_rcp), (64, 64, 64));
    // One shuffle and one __syncwarp per warp, 2 warps.
    assert_eq!(c.warp_collectives, 2 * 2);

    let aux = d.upload(&[0.0f32; 2]).unwrap();
    let out = d.upload(&[0.0f32; 1]).unwrap();
    let c = count(&d, "cnt_atomics", cfg(2, 64), SimTestParams { x, out, n: 0, aux });
    assert_eq!((c.atomics_shared, c.atomics_global, c.atomics), (128, 128, 256));
    assert_eq!(d.download::<f32>(aux, 2).unwrap(), vec![64.0, 64.0]);
    assert_eq!(d.download::<f32>(out, 1).unwrap(), vec![128.0]);
}

#[test]
fn sampled_counts_scale_to_the_full_run_for_uniform_kernels() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 16 * 64, 16 * 64);
    let p = SimTestParams { x, out, n: 0, aux: 0 };
    let full = count(&d, "cnt_copy", cfg(16, 64), p);
    d.set_block_sample(Some(3));
    let part = count(&d, "cnt_copy", cfg(16, 64), p);
    // A non-uniform kernel runs fully even when sampling is on.
    let nonuni = count(&d, "cnt_reuse", cfg(2, 32), SimTestParams { x, out, n: 0, aux: 0 });
    d.set_block_sample(None);
    assert_eq!((part.blocks_total, part.blocks_run), (16, 3));
    assert_eq!((nonuni.blocks_total, nonuni.blocks_run), (2, 2));
    let s = part.scale();
    let scaled = |v: u64| (v as f64 * s).round() as u64;
    let (f, g) = (&full.global, &part.global);
    assert_eq!(scaled(g.load_requests), f.load_requests);
    assert_eq!(scaled(g.load_sectors), f.load_sectors);
    assert_eq!(scaled(g.store_sectors), f.store_sectors);
    assert_eq!(scaled(g.load_bytes), f.load_bytes);
    assert_eq!(scaled(g.unique_sectors), f.unique_sectors);
    assert_eq!(scaled(g.dram_sectors), f.dram_sectors);
}

/// Every planted bug with counters off and on: the same error, message for message.
#[test]
fn counters_do_not_change_the_checks() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 4 * 64, 4 * 64);
    let aux = d.upload(&vec![0.0f32; 4 * 64]).unwrap();
    let cases: &[(&str, u32, u32, u32, u64)] = &[
        ("simbug_shared_race", 1, 64, 0, 64),
        ("simbug_shared_ww", 1, 64, 0, 64),
        ("simbug_oob_global", 1, 128, 0, 100),
        ("simbug_oob_shared", 1, 64, 0, 64),
        ("simbug_oob_dyn_shared", 1, 64, 256, 64),
        ("simbug_barrier_exit", 1, 64, 0, 40),
        ("simbug_barrier_split", 1, 64, 0, 64),
        ("simbug_shfl_exited", 1, 64, 0, 64),
        ("simbug_global_blocks_ww", 4, 64, 0, 64),
        ("simbug_global_rw", 1, 64, 0, 64),
        ("simbug_warp_exchange", 1, 64, 0, 64),
        ("simbug_half_warp_exchange", 1, 64, 0, 64),
        ("simbug_shfl_vs_barrier", 1, 64, 0, 64),
        ("simbug_trap", 1, 64, 0, 64),
        ("simtest_shared_norace", 1, 64, 0, 64),
        ("simtest_block_sum", 3, 128, 512, 64),
    ];
    // The oob_global case needs an output of exactly 100 floats.
    let out100 = d.upload(&vec![0.0f32; 100]).unwrap();
    let run = |name: &str, grid: u32, block: u32, shared: u32, n: u64| -> Result<(), SimError> {
        let o = if name == "simbug_oob_global" { out100 } else { out };
        d.launch(name, &LaunchConfig::linear(grid, block, shared), &SimTestParams { x, out: o, n, aux }.bytes())
    };
    let mut violations = 0;
    for &(name, grid, block, shared, n) in cases {
        d.set_counters(false);
        let off = run(name, grid, block, shared, n);
        d.set_counters(true);
        let on = run(name, grid, block, shared, n);
        d.set_counters(false);
        assert_eq!(off, on, "{name}");
        violations += off.is_err() as usize;
    }
    assert_eq!(violations, 14, "every planted bug is reported");
    // Failed launches leave no counters; the two clean ones do.
    assert_eq!(d.take_counters().len(), 2);
}

#[test]
fn per_line_counts_of_a_loop_equal_the_trip_count() {
    let d = SimDevice::new(&KERNELS);
    let (x, out) = buffers(&d, 64, 3 * 64);
    let trips = 9u64;
    let c = count(&d, "cnt_loop", cfg(3, 64), SimTestParams { x, out, n: trips, aux: 0 });
    let src = include_str!("../kernels/counters.cu");
    let body = src.lines().position(|l| l.contains("// LOOP-BODY")).unwrap() as u32 + 1;
    let hits: Vec<_> = c
        .lines
        .iter()
        .filter(|l| l.frames.first().is_some_and(|(f, line)| f.ends_with("counters.cu") && *line == body))
        .collect();
    assert!(!hits.is_empty(), "no count for counters.cu:{body}; lines: {:#?}", c.lines);
    let warps = 3 * 2;
    let warp_execs: u64 = hits.iter().map(|l| l.warp_execs).sum();
    let thread_execs: u64 = hits.iter().map(|l| l.thread_execs).sum();
    assert_eq!(warp_execs, trips * warps, "{hits:#?}");
    assert_eq!(thread_execs, trips * warps * 32, "{hits:#?}");
    // Its one load `x[i]`: one warp request per trip and warp; the store after the loop (two
    // lines down): one per warp.
    let requests: u64 = hits.iter().map(|l| l.mem_requests).sum();
    assert_eq!(requests, trips * warps, "{hits:#?}");
    let store: u64 = c
        .lines
        .iter()
        .filter(|l| l.frames.first().is_some_and(|(f, line)| f.ends_with("counters.cu") && *line == body + 2))
        .map(|l| l.mem_requests)
        .sum();
    assert_eq!(store, warps, "lines: {:#?}", c.lines);
}
