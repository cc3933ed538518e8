//! How far the CPU operator's parts are from this machine's limits (issue 15): the projection
//! GEMMs' GFLOP/s against the cores' measured FMA peak, and the gated FFT convolution's bytes per
//! second against the measured copy bandwidth. A tool, not a check (`#[ignore]`d; it prints what
//! it measured and asserts only that the timed calls succeeded). One command, ~1–2 min on a quiet
//! 2-core machine (docs/BENCHMARKS.md, "How far from the machine's limits"):
//!
//! ```sh
//! cargo test --release -p hyena-model --test lm -- --ignored --exact limits::machine_limits --nocapture
//! ```
//!
//! Shapes: B = 1, D = 256 and B = 8, D = 768 at L = 1K and 8K (order 2: in_proj has CG = 3·D
//! rows), each GEMM in the operand layout and batch loop the operator uses (`operator.rs`), with
//! one thread and with every thread of the global rayon pool (`RAYON_NUM_THREADS`). Times are
//! the best of up to 3 calls after one warm-up call (best, not median: a throughput against a
//! peak), so the figures are upper bounds of what one operator call achieves.

use hyena_kernels::cpu::fftconv::{gated_fftconv_bwd_into, gated_fftconv_fwd, FftConvPlan, GatedBwdOut, Rows};
use hyena_kernels::cpu::linear::matmul;
use hyena_kernels::cpu::reduce::matmul_sum_k;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Best wall time (s) of up to 3 calls of `f` after one warm-up call, stopping once 2 s are spent.
fn best_secs(mut f: impl FnMut()) -> f64 {
    f();
    let (start, mut best) = (Instant::now(), f64::INFINITY);
    for _ in 0..3 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        if start.elapsed().as_secs_f64() > 2.0 {
            break;
        }
    }
    best
}

/// Iterations of one FMA probe call (16 vector FMAs each: ~8 M cycles at 2 FMAs per cycle, a
/// few ms, shorter than a scheduler time slice, so the best of [`PROBE_RUNS`] calls is one
/// uninterrupted run even when other processes share the cores).
const PROBE_ITERS: usize = 1_000_000;
const PROBE_RUNS: usize = 30;

/// 16 independent accumulators of `fma(a, x, b)`: more chains than the FMA latency (4 cycles)
/// times the ports (2) needs, so the loop is bound by FMA throughput, not by a dependency.
/// Returns a value that depends on every accumulator (so nothing is optimised away).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_probe_avx512(iters: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(seed); 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(a, *x, b);
        }
    }
    let mut s = _mm512_setzero_ps();
    for x in acc {
        s = _mm512_add_ps(s, x);
    }
    _mm512_reduce_add_ps(s)
}

/// As [`fma_probe_avx512`] with 8-lane AVX2 FMAs (the `gemm` crate's path on CPUs without AVX-512).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_probe_avx2(iters: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(seed); 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(a, *x, b);
        }
    }
    let mut out = [0.0f32; 8];
    let mut s = _mm256_setzero_ps();
    for x in acc {
        s = _mm256_add_ps(s, x);
    }
    // SAFETY: `out` holds 8 f32, the width of one unaligned 256-bit store.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// FMA peak (GFLOP/s, 2 flops per lane) of `threads` threads running the widest probe at once,
/// and its name.
fn fma_peak(threads: usize) -> Option<(f64, &'static str)> {
    #[cfg(target_arch = "x86_64")]
    {
        let (lanes, name): (usize, &str) = if is_x86_feature_detected!("avx512f") {
            (16, "AVX-512")
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            (8, "AVX2+FMA")
        } else {
            return None;
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok()?;
        let run = |iters: usize| {
            pool.broadcast(|ctx| {
                let seed = 1.0 + ctx.index() as f32;
                // SAFETY: the CPU has the feature each probe is compiled for (checked above).
                match lanes {
                    16 => unsafe { fma_probe_avx512(iters, seed) },
                    _ => unsafe { fma_probe_avx2(iters, seed) },
                }
            })
        };
        run(PROBE_ITERS); // wake the threads, settle the clock
        let mut secs = f64::INFINITY;
        for _ in 0..PROBE_RUNS {
            let t = Instant::now();
            let r = run(PROBE_ITERS);
            secs = secs.min(t.elapsed().as_secs_f64());
            assert!(r.iter().all(|x| x.is_finite()));
        }
        let flops = (threads * PROBE_ITERS * 16 * lanes * 2) as f64;
        Some((flops / secs / 1e9, name))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = threads;
        None
    }
}

/// Copy bandwidth (GB/s, bytes read + bytes written) of a 256 MiB buffer, `threads` threads
/// each copying its contiguous part.
fn copy_bandwidth(threads: usize) -> f64 {
    use rayon::prelude::*;
    let n = 64 << 20; // f32 elements: 256 MiB per buffer, far past the caches
    let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut dst = vec![1.0f32; n];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let part = n.div_ceil(threads);
    let secs = pool.install(|| {
        best_secs(|| {
            dst.par_chunks_mut(part).zip(src.par_chunks(part)).for_each(|(d, s)| d.copy_from_slice(s));
            std::hint::black_box(&dst);
        })
    });
    assert_eq!(dst[n - 1], (n - 1) as f32);
    (2 * n * 4) as f64 / secs / 1e9
}

fn rand_vec(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// One shape's projection GEMMs, timed in the current rayon pool; prints one line each.
fn gemm_limits(b: usize, d: usize, l: usize, peak: f64, tag: &str) {
    let cg = 3 * d; // in_proj rows at order 2: x0, x1, v
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (w_in, w_out_t) = (rand_vec(&mut rng, cg * d), rand_vec(&mut rng, d * d));
    let (u, gy) = (rand_vec(&mut rng, b * l * d), rand_vec(&mut rng, b * l * d));
    let (last, gz) = (rand_vec(&mut rng, b * d * l), rand_vec(&mut rng, b * cg * l));
    let mut z = vec![0.0f32; b * cg * l];
    let mut y = vec![0.0f32; b * l * d];
    let mut g = vec![0.0f32; b * d * l];
    let (mut dw_out, mut dw_in) = (vec![0.0f32; d * d], vec![0.0f32; cg * d]);
    let mut gu = vec![0.0f32; b * l * d];
    // (name, multiply-adds, seconds): the operator's calls (operator.rs), batch loop included.
    let mut rows: Vec<(&str, usize, f64)> = Vec::new();
    let macs_in = b * cg * l * d;
    let macs_out = b * l * d * d;
    rows.push((
        "in_proj  Z_b[CG,L] = W_in·U_bᵀ",
        macs_in,
        best_secs(|| {
            for bi in 0..b {
                matmul(&mut z[bi * cg * l..(bi + 1) * cg * l], &w_in, &u[bi * l * d..(bi + 1) * l * d], cg, l, d, false, true, false).unwrap();
            }
        }),
    ));
    rows.push((
        "out_proj y_b[L,D] = Pre_bᵀ·W_outᵀ",
        macs_out,
        best_secs(|| {
            for bi in 0..b {
                matmul(&mut y[bi * l * d..(bi + 1) * l * d], &last[bi * d * l..(bi + 1) * d * l], &w_out_t, l, d, d, true, false, false).unwrap();
            }
        }),
    ));
    rows.push((
        "dPre     g_b[D,L] = W_outᵀ·gy_bᵀ",
        macs_out,
        best_secs(|| {
            for bi in 0..b {
                matmul(&mut g[bi * d * l..(bi + 1) * d * l], &w_out_t, &gy[bi * l * d..(bi + 1) * l * d], d, l, d, false, true, false).unwrap();
            }
        }),
    ));
    let ab_out: Vec<(&[f32], &[f32])> = (0..b).map(|bi| (&last[bi * d * l..(bi + 1) * d * l], &gy[bi * l * d..(bi + 1) * l * d])).collect();
    rows.push(("dW_out   Σ_b Pre_b·gy_b", macs_out, best_secs(|| matmul_sum_k(&mut dw_out, &ab_out, d, d, l, false, false).unwrap())));
    rows.push((
        "dU       gu_b[L,D] = dZ_bᵀ·W_in",
        macs_in,
        best_secs(|| {
            for bi in 0..b {
                matmul(&mut gu[bi * l * d..(bi + 1) * l * d], &gz[bi * cg * l..(bi + 1) * cg * l], &w_in, l, d, cg, true, false, false).unwrap();
            }
        }),
    ));
    let ab_in: Vec<(&[f32], &[f32])> = (0..b).map(|bi| (&gz[bi * cg * l..(bi + 1) * cg * l], &u[bi * l * d..(bi + 1) * l * d])).collect();
    rows.push(("dW_in    Σ_b dZ_b·U_b", macs_in, best_secs(|| matmul_sum_k(&mut dw_in, &ab_in, cg, d, l, false, false).unwrap())));
    assert!(z.iter().chain(&y).chain(&g).chain(&dw_out).chain(&dw_in).chain(&gu).all(|x| x.is_finite()));

    let (mut fwd, mut all) = ((0usize, 0.0f64), (0usize, 0.0f64));
    for (i, (name, macs, s)) in rows.iter().enumerate() {
        let gf = 2.0 * *macs as f64 / s / 1e9;
        println!("  {tag:<28} gemm {name:<34} {:>9.2} ms {gf:>7.1} GFLOP/s {:>5.1} % of peak", s * 1e3, 100.0 * gf / peak);
        if i < 2 {
            fwd = (fwd.0 + macs, fwd.1 + s);
        }
        all = (all.0 + macs, all.1 + s);
    }
    for (what, (macs, s)) in [("forward GEMMs", fwd), ("fwd+bwd GEMMs", all)] {
        let gf = 2.0 * macs as f64 / s / 1e9;
        println!("  {tag:<28} {what:<39} {:>9.2} ms {gf:>7.1} GFLOP/s {:>5.1} % of peak", s * 1e3, 100.0 * gf / peak);
    }
}

/// One shape's gated FFT convolution forward and backward, timed in the current rayon pool:
/// bytes per second against the copy bandwidth, and the FFTs' flops per second against the FMA
/// peak (a real FFT of size n counted as 2.5·n·log₂n flops, half a complex one's 5·n·log₂n; the
/// forward runs 2 per row, the backward 4 per row and 1 per channel; the pointwise products are
/// not counted).
fn conv_limits(b: usize, d: usize, l: usize, peak: f64, copy_gbs: f64, tag: &str) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    // The gated FFT convolution y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ pre ⊙ v) over [B, D, L], with
    // precomputed filter spectra, as the operator calls it. Bytes: the least traffic a pass needs
    // (each [B, D, L] operand read or written once, spectra and grad_h once), f32.
    let plan = FftConvPlan::<f32>::new(l).unwrap();
    let h: Vec<f32> = (0..d * l).map(|i| rng.random_range(-1.0f32..1.0) * (-((i % l) as f32) / (l as f32 / 8.0)).exp()).collect();
    let hf = plan.filter_spectra(&h, d).unwrap();
    let dd = rand_vec(&mut rng, d);
    let n = b * d * l;
    let (v, pre, post) = (rand_vec(&mut rng, n), rand_vec(&mut rng, n), rand_vec(&mut rng, n));
    let rows3 = || (Rows::contiguous(&v, b, d, l).unwrap(), Rows::contiguous(&pre, b, d, l).unwrap(), Rows::contiguous(&post, b, d, l).unwrap());
    let mut yc = vec![0.0f32; n];
    let s_fwd = best_secs(|| {
        let (rv, rp, rq) = rows3();
        gated_fftconv_fwd(&plan, &hf, &dd, rv, Some(rp), Some(rq), &mut yc).unwrap();
    });
    let spectra_bytes = d * plan.bins() * 8;
    let fwd_bytes = 4 * n * 4 + spectra_bytes;
    let (mut gv, mut gp, mut gq, mut gh, mut gd) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; d * l], vec![0.0f32; d]);
    let s_bwd = best_secs(|| {
        let (rv, rp, rq) = rows3();
        let out = GatedBwdOut {
            grad_v: gv.chunks_mut(l).collect(),
            grad_pre: Some(gp.chunks_mut(l).collect()),
            grad_post: Some(gq.chunks_mut(l).collect()),
            grad_h: &mut gh,
            grad_d: &mut gd,
        };
        gated_fftconv_bwd_into(&plan, &hf, &dd, rv, Some(rp), Some(rq), &yc, out).unwrap();
    });
    assert!(yc.iter().chain(&gv).chain(&gh).all(|x| x.is_finite()));
    let bwd_bytes = 7 * n * 4 + d * l * 4 + spectra_bytes;
    let nf = plan.fft_size() as f64;
    let fft_flops = 2.5 * nf * nf.log2();
    for (what, bytes, ffts, s) in [("gated FFT conv fwd", fwd_bytes, 2 * b * d, s_fwd), ("gated FFT conv bwd", bwd_bytes, 4 * b * d + d, s_bwd)] {
        let gbs = bytes as f64 / s / 1e9;
        let gf = ffts as f64 * fft_flops / s / 1e9;
        println!(
            "  {tag:<28} {what:<39} {:>9.2} ms {gbs:>7.1} GB/s    {:>5.1} % of copy bandwidth; FFTs {gf:>6.1} GFLOP/s {:>5.1} % of peak",
            s * 1e3,
            100.0 * gbs / copy_gbs,
            100.0 * gf / peak
        );
    }
}

#[test]
#[ignore]
fn machine_limits() {
    let all = rayon::current_num_threads();
    let mut counts = vec![1];
    if all > 1 {
        counts.push(all);
    }
    println!("machine limits (GFLOP/s = 2 flops per multiply-add; GB/s = bytes read + written)");
    let mut limits = Vec::new();
    for &t in &counts {
        let Some((peak, isa)) = fma_peak(t) else {
            println!("  no x86-64 FMA probe on this machine: GEMM figures without a peak");
            return;
        };
        let copy = copy_bandwidth(t);
        println!("  threads={t}: {isa} FMA peak {peak:.1} GFLOP/s; copy of 256 MiB {copy:.1} GB/s");
        limits.push((t, peak, copy));
    }
    for &(t, peak, copy) in &limits {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
        pool.install(|| {
            for (b, d) in [(1usize, 256usize), (8, 768)] {
                for l in [1024usize, 8192] {
                    let tag = format!("B={b} D={d} L={l} threads={t}");
                    gemm_limits(b, d, l, peak, &tag);
                    conv_limits(b, d, l, peak, copy, &tag);
                }
            }
        });
    }
}
