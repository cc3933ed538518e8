//! `hyena kernels --profile` end to end at a tiny shape: the operator's forward and backward run on
//! the simulator with counters, every launch is joined with its SASS and modelled. The model's
//! figures are not checked against a GPU here (none exists); the structure and the model's
//! invariants are.
#![cfg(all(feature = "sim", feature = "cuda"))]

use crate::common;

use std::process::Command;

#[test]
fn profile_models_every_launch_of_the_operator() {
    let json = std::env::temp_dir().join(format!("hyena-profile-{}.json", std::process::id()));
    let o = Command::new(common::hyena_bin())
        .args(["kernels", "--profile", "--batch", "2", "--d-model", "16", "--lengths", "256", "--filter-width", "8"])
        .args(["--conv-lengths", "0", "--operator", "--head-dim", "8", "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("model, not a GPU measurement"), "{text}");
    assert!(text.contains("## Operator vs FlashAttention-2"), "{text}");
    assert!(text.contains("total forward") && text.contains("total backward"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert!(j["notes"].as_array().unwrap().is_empty(), "{}", j["notes"]);
    let rows = j["rows"].as_array().unwrap();
    // The forward (device_operator.rs, order 2): the implicit filter first (its launch also writes
    // the first in_proj chunk's and out_proj's bias broadcasts), per in_proj chunk a GEMM (3 chunks
    // at B = 2) after a bias broadcast of its own for the later two, one short conv launch for the
    // 3 chunks, the filter spectrum, one fused conv, the out_proj GEMM.
    let fwd: Vec<&str> = rows
        .iter()
        .filter(|r| r["pass"] == "forward")
        .map(|r| r["kernel"].as_str().unwrap())
        .map(|k| if k.starts_with("gemm") { "gemm" } else { k })
        .collect();
    let mut want = vec!["hyena_filter_fwd_bf16", "gemm"];
    want.extend(["hyena_bias_fill_bf16", "gemm"].repeat(2));
    want.extend(["hyena_shortconv_fwd_bf16", "hyena_fftconv_filter_bf16", "hyena_fftconv_fwd_bf16", "gemm"]);
    assert_eq!(fwd, want);
    // `--operator`: the passes' rows summed, 3 µs per launch, beside FlashAttention-2 at
    // 324 TFLOP/s: causal forward FLOPs 2·B·H·L²·dh = 2·2·2·256²·8 = 4 194 304.
    let v = &j["operator_vs_fa2"].as_array().unwrap()[0];
    assert_eq!((v["b"].as_u64(), v["l"].as_u64(), v["heads"].as_u64()), (Some(2), Some(256), Some(2)), "{v}");
    let sum = |pass: &str| rows.iter().filter(|r| r["pass"] == pass).map(|r| r["h200_us"].as_f64().unwrap()).sum::<f64>();
    let n_bwd = rows.iter().filter(|r| r["pass"] == "backward").count();
    assert_eq!(v["fwd"]["launches"].as_u64(), Some(want.len() as u64), "{v}");
    assert_eq!(v["bwd"]["launches"].as_u64(), Some(n_bwd as u64), "{v}");
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1e-12);
    assert!(close(v["hyena_fwd_ms"].as_f64().unwrap(), (sum("forward") + 3.0 * want.len() as f64) * 1e-3), "{v}");
    let fwdbwd = (sum("forward") + sum("backward") + 3.0 * (want.len() + n_bwd) as f64) * 1e-3;
    assert!(close(v["hyena_fwdbwd_ms"].as_f64().unwrap(), fwdbwd), "{v}");
    assert!(close(v["fa2_fwd_ms"].as_f64().unwrap(), 4_194_304.0 / 324e12 * 1e3), "{v}");
    assert!(close(v["fa2_fwdbwd_ms"].as_f64().unwrap(), 3.5 * 4_194_304.0 / 324e12 * 1e3), "{v}");
    // The paper's MHA module: the core plus 2 projection GEMMs forward and 4 backward, modelled
    // like the Hyena side's GEMMs, plus one launch of the core per pass.
    assert_eq!((v["mha_proj_fwd"]["launches"].as_u64(), v["mha_proj_bwd"]["launches"].as_u64()), (Some(2), Some(4)), "{v}");
    let proj_us = v["mha_proj_fwd"]["gemms_us"].as_f64().unwrap() + v["mha_proj_bwd"]["gemms_us"].as_f64().unwrap();
    assert!(proj_us > 0.0, "{v}");
    let mha = v["fa2_fwdbwd_ms"].as_f64().unwrap() + (proj_us + 3.0 * (2 + 4 + 2) as f64) * 1e-3;
    assert!(close(v["mha_fwdbwd_ms"].as_f64().unwrap(), mha), "{v}");
    for r in rows {
        let (h200, h100) = (r["h200_us"].as_f64().unwrap(), r["h100_us"].as_f64().unwrap());
        assert!(h200.is_finite() && h200 > 0.0, "{r}");
        // Same SMs and clock, less DRAM bandwidth: never faster on the H100.
        assert!(h100 >= h200 * (1.0 - 1e-12), "{r}");
        assert_eq!(r["model"], "model, not a GPU measurement");
        if !r["kernel"].as_str().unwrap().starts_with("gemm") {
            assert!(r["warp_instrs"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r["warps_per_sm"].as_u64().unwrap() > 0, "{r}");
            // The fused conv's two FFTs (n = 512 at L = 256) need barriers between their passes,
            // and issue 11 bounds them by ⌈log16 n⌉ + 2 = 5 per FFT: 1 ≤ barriers ≤ 10 per block.
            if r["kernel"] == "hyena_fftconv_fwd_bf16" {
                let b = r["barriers_per_block"].as_f64().unwrap();
                assert!((1.0..=10.0).contains(&b), "{r}");
            }
        }
    }
}

/// `--measure` times the same launches on a GPU beside the predictions of a `--profile --json`:
/// without a GPU it must stop with an error naming the missing GPU (never a panic, never made-up
/// rows); with one, every launch of the tiny shape is measured and joined with its prediction.
#[test]
fn measure_needs_a_gpu_and_joins_the_profile_rows() {
    let dir = std::env::temp_dir();
    let pred = dir.join(format!("hyena-measure-pred-{}.json", std::process::id()));
    let meas = dir.join(format!("hyena-measure-{}.json", std::process::id()));
    let shape = ["--batch", "2", "--d-model", "16", "--lengths", "256", "--filter-width", "8", "--conv-lengths", "0"];
    let gpu = hyena_kernels::device::cuda::CudaDevice::device_count().is_ok_and(|n| n > 0);
    if !gpu {
        let o = Command::new(common::hyena_bin())
            .args(["kernels", "--measure", "--repeat", "1"])
            .args(shape)
            .args(["--json", meas.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "--measure succeeded without a GPU");
        assert!(err.contains("times the kernels on a CUDA GPU"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!meas.exists(), "no rows may be written without a GPU");
        return;
    }
    let o = Command::new(common::hyena_bin())
        .args(["kernels", "--profile"])
        .args(shape)
        .args(["--json", pred.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(common::hyena_bin())
        .args(["kernels", "--measure", "--repeat", "1"])
        .args(shape)
        .args(["--predicted", pred.to_str().unwrap(), "--json", meas.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&pred);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&meas).unwrap()).unwrap();
    let _ = std::fs::remove_file(&meas);
    let rows = j["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["pass"] == "backward"), "{j}");
    for r in rows {
        assert!(r["measured_us"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["predicted_us"].as_f64().is_some_and(|p| p > 0.0), "every launch joins its prediction: {r}");
    }
}

/// Issue 11: at least 16 resident warps per SM for the fused conv's shared-memory kernels at
/// L ≤ 8K (sm_90), from ptxas's registers and static shared memory of this build and the launch
/// shape of `ops::fftconv` (threads: clamp(n/32, 32, 512) for the forward and, since branch bwd10,
/// the backward's rows and reduce (n/4 before); dynamic shared memory: forward the spectrum 4n
/// bytes plus a = pre ⊙ v, 4L rounded up to 16; backward rows two spectra, 8n, reduce one, 4n;
/// n = the power of two ≥ 2L; the filter spectrum, n/32 threads up to 1024, 4n). Today ~128
/// registers (reduce and filter spectrum 64): one 512-thread block (16 warps)
/// per SM at 8K, 2 blocks of 256 threads at 4K, 4 of 128 at 2K; smaller blocks at shorter L fit
/// more.
#[test]
fn fftconv_smem_kernels_keep_16_warps_per_sm_up_to_8k() {
    use gpu_model::occupancy::{occupancy, SM90};
    for l in [100u32, 256, 1024, 4096, 8192] {
        let n = (2 * l).next_power_of_two();
        // One radix-16 butterfly per thread, n/32 (forward: branch fwd9, backward: bwd10). The
        // backward's reduce fits 64 registers on sm_90 (`HYENA_FFTCONV_TWO_BLOCKS`, 2026-12-04):
        // 32 warps per SM at 4K and 8K (four 256-thread blocks, two of 512); shorter rows' small
        // blocks are bounded by shared memory first (7 KiB of table each: 25 warps at L = 100).
        let two_block_warps = if l >= 4096 { 32 } else { 16 };
        for (kernel, threads, dyn_smem, min_warps) in [
            ("hyena_fftconv_fwd_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), 16),
            ("hyena_fftconv_bwd_bf16", (n / 32).clamp(32, 512), 8 * n, 16),
            ("hyena_fftconv_bwd_reduce_bf16", (n / 32).clamp(32, 512), 4 * n, two_block_warps),
            // The filter spectrum at 64 registers (1024-thread launch bound, 2026-12-05): n/32
            // threads up to 1024, the spectrum 4n bytes: two 512-thread blocks at 8K.
            ("hyena_fftconv_filter_bf16", (n / 32).clamp(32, 1024), 4 * n, two_block_warps),
            // The two-block forward (64 registers on sm_90, 2026-12-05), which ops::fftconv takes at
            // 4K < L ≤ 8K among other shapes: two 512-thread blocks at 8K.
            ("hyena_fftconv_fwd_2b_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
            // The backward's two-block kernels (2026-12-05), the same shapes: A's (the forward's
            // kernel with A's spectrum stored) and G's (one spectrum, no a).
            ("hyena_fftconv_bwd_a_2b_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
            ("hyena_fftconv_bwd_g_2b_bf16", (n / 32).clamp(32, 512), 4 * n, if l == 8192 { 32 } else { 16 }),
            // The 4K rows' kernels built for m = 2^12 (128-register forward and backward).
            ("hyena_fftconv_fwd_m12_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), 16),
            ("hyena_fftconv_bwd_m12_bf16", (n / 32).clamp(32, 512), 8 * n, 16),
            ("hyena_fftconv_bwd_reduce_m12_bf16", (n / 32).clamp(32, 512), 4 * n, two_block_warps),
            ("hyena_fftconv_filter_m12_bf16", (n / 32).clamp(32, 1024), 4 * n, two_block_warps),
            // The same three, the reduce and the filter spectrum built for m = 2^13 (the 8K rows).
            ("hyena_fftconv_bwd_reduce_m13_bf16", (n / 32).clamp(32, 512), 4 * n, two_block_warps),
            // The 8K rows' filter spectrum and forward on tensor cores (2026-12-06): 16 warps, the
            // row's two f32 planes (64 KiB), two blocks per SM.
            ("hyena_fftconv_filter_tc_m13_bf16", 512, 65536, 32),
            ("hyena_fftconv_fwd_tc_m13_bf16", 512, 65536, 32),
            // The 8K backward on tensor cores given the forward's spectrum (2026-12-06): the same.
            ("hyena_fftconv_bwd_g_tc_m13_bf16", 512, 65536, 32),
            ("hyena_fftconv_bwd_reduce_tc_m13_bf16", 512, 65536, 32),
            // With the short conv's backward fused (the operator at order 2): the same, its sums'
            // 1 KiB of static shared memory more still two blocks per SM.
            ("hyena_fftconv_bwd_g_sc_tc_m13_bf16", 512, 65536, 32),
            // The forward with the short conv fused (the operator at order 2): the forward's.
            ("hyena_fftconv_fwd_sc_tc_m13_bf16", 512, 65536, 32),
            ("hyena_fftconv_fwd_2b_m13_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
            ("hyena_fftconv_bwd_a_2b_m13_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
            ("hyena_fftconv_bwd_g_2b_m13_bf16", (n / 32).clamp(32, 512), 4 * n, if l == 8192 { 32 } else { 16 }),
            // Given the forward's value before the post gate (the operator's choice at these
            // shapes): the forward with its store and A's kernel without the convolution (the
            // spectrum only, 4n bytes).
            ("hyena_fftconv_fwd_2b_inner_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
            ("hyena_fftconv_bwd_a_spec_2b_bf16", (n / 32).clamp(32, 512), 4 * n, if l == 8192 { 32 } else { 16 }),
            ("hyena_fftconv_fwd_2b_inner_m13_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
            ("hyena_fftconv_bwd_a_spec_2b_m13_bf16", (n / 32).clamp(32, 512), 4 * n, if l == 8192 { 32 } else { 16 }),
            // With A's spectrum kept as well (then no A kernel runs): the forward that stores it.
            ("hyena_fftconv_fwd_2b_inner_spec_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
            ("hyena_fftconv_fwd_2b_inner_spec_m13_bf16", (n / 32).clamp(32, 512), 4 * n + (4 * l).next_multiple_of(16), if l == 8192 { 32 } else { 16 }),
        ] {
            let res = hyena_kernels::kernels::resources_of(kernel, "sm_90").unwrap_or_else(|| panic!("no ptxas report for {kernel}"));
            let o = occupancy(&SM90, threads, res.registers, res.static_smem, dyn_smem).unwrap();
            assert!(o.warps_per_sm >= min_warps, "{kernel} L={l}: {o:?} ({} registers, {threads} threads, {dyn_smem} B dynamic)", res.registers);
        }
    }
}

/// The fused convolution alone (`--conv-lengths`, `--conv-batch`) on the long path: forward and
/// backward rows (the backward's pass 3 of the inputs one `long_grad_in` launch), and the share of
/// issue 11's roofline metric recomputed from the rows: bytes that must move (bf16: fwd 4·B·C·L
/// elements, bwd 7·B·C·L + 2·C·L) over the H200's copy bandwidth over the pass's predicted time.
#[test]
fn profile_models_the_fused_convolution_forward_and_backward() {
    let json = std::env::temp_dir().join(format!("hyena-profile-conv-{}.json", std::process::id()));
    let (b, c, l) = (2usize, 4usize, 20000usize);
    let o = Command::new(common::hyena_bin())
        .args(["kernels", "--profile", "--batch", "1", "--d-model", &c.to_string(), "--lengths", "0"])
        .args(["--conv-lengths", &l.to_string(), "--conv-batch", &b.to_string(), "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("## Fused convolution against issue 11's roofline metric"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let setting = format!("fused conv b={b} c={c} l={l} bf16");
    let rows: Vec<&serde_json::Value> = j["rows"].as_array().unwrap().iter().filter(|r| r["setting"] == setting.as_str()).collect();
    let kernels = |pass: &str| -> Vec<&str> { rows.iter().filter(|r| r["pass"] == pass).map(|r| r["kernel"].as_str().unwrap()).collect() };
    assert_eq!(kernels("forward").last(), Some(&"hyena_fftconv_long_out_reg_bf16"), "{:?}", kernels("forward"));
    let bwd = kernels("backward");
    assert_eq!(bwd.iter().filter(|k| k.starts_with("hyena_fftconv_long_grad_in")).count(), 1, "{bwd:?}");
    assert!(!bwd.iter().any(|k| k.starts_with("hyena_fftconv_long_out")), "{bwd:?}");
    let shares = j["conv_issue_shares"].as_array().unwrap();
    assert_eq!(shares.len(), 2, "{shares:?}");
    let copy_bw = gpu_model::model::H200.copy_bw;
    for (s, pass, elems) in [(&shares[0], "forward", 4 * b * c * l), (&shares[1], "backward", 7 * b * c * l + 2 * c * l)] {
        assert_eq!((s["setting"].as_str(), s["pass"].as_str()), (Some(setting.as_str()), Some(pass)), "{s}");
        let us: f64 = rows.iter().filter(|r| r["pass"] == pass).map(|r| r["h200_us"].as_f64().unwrap()).sum();
        let bytes = 2.0 * elems as f64;
        assert_eq!(s["must_move_bytes"].as_f64(), Some(bytes), "{s}");
        let want = 100.0 * bytes / copy_bw / (us * 1e-6);
        let got = s["share_pct"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-9 * want && got > 0.0 && got < 100.0, "{s}: {got} vs {want}");
    }
}
