//! Occupancy against hand-derived cases and the time model's bound selection.

use gpu_model::model::{predict, predict_gemm, Gemm, LaunchWork, HMMA_FLOPS, H100_SXM, H200};
use gpu_model::occupancy::{occupancy, Limiter, SM80, SM90};
use gpu_model::sass::Pipe;

#[test]
fn occupancy_hand_cases() {
    // 256 threads = 8 warps, 32 regs: 32·32 = 1024 regs per warp (a multiple of 256); 16384 regs
    // per sub-partition hold 16 warps, 4 sub-partitions 64 warps = 8 blocks; 64 warps / 8 = 8 by
    // the warp limit too; shared 1 KiB reserved → 228 blocks. 8 blocks, 64 warps (warps first).
    let o = occupancy(&SM90, 256, 32, 0, 0).unwrap();
    assert_eq!(
        (o.blocks_per_sm, o.warps_per_sm, o.limiter),
        (8, 64, Limiter::Warps)
    );
    assert_eq!(o.fraction, 1.0);
    // 64 regs: 2048 per warp → 8 warps per sub-partition → 32 warps → 4 blocks of 8 warps.
    let o = occupancy(&SM90, 256, 64, 0, 0).unwrap();
    assert_eq!(
        (o.blocks_per_sm, o.warps_per_sm, o.limiter),
        (4, 32, Limiter::Registers)
    );
    // 33 regs, 128 threads: 33·32 = 1056 → rounded up to 1280 per warp; ⌊16384 / 1280⌋ = 12 warps
    // per sub-partition, 48 per SM, 4 warps per block → 12 blocks (the warp limit allows 16).
    let o = occupancy(&SM90, 128, 33, 0, 0).unwrap();
    assert_eq!(
        (o.blocks_per_sm, o.warps_per_sm, o.limiter),
        (12, 48, Limiter::Registers)
    );
    // 1024 threads × 128 regs = 128 K registers > 64 K: no block fits.
    assert_eq!(occupancy(&SM90, 1024, 128, 0, 0).unwrap().blocks_per_sm, 0);
    // 100 KiB dynamic shared: 102400 + 1024 reserved = 103424 (a multiple of 128);
    // sm_90: ⌊233472 / 103424⌋ = 2 blocks; sm_80: ⌊167936 / 103424⌋ = 1.
    let o = occupancy(&SM90, 256, 32, 0, 100 * 1024).unwrap();
    assert_eq!(
        (o.blocks_per_sm, o.warps_per_sm, o.limiter),
        (2, 16, Limiter::SharedMemory)
    );
    assert_eq!(
        occupancy(&SM80, 256, 32, 0, 100 * 1024)
            .unwrap()
            .blocks_per_sm,
        1
    );
    // Static + dynamic add: 60 KiB + 40 KiB is the same 100 KiB.
    assert_eq!(
        occupancy(&SM90, 256, 32, 60 * 1024, 40 * 1024)
            .unwrap()
            .blocks_per_sm,
        2
    );
    // 1 byte of shared: 1025 → 1152 bytes, 202 would fit; one-warp blocks stop at 32 blocks.
    let o = occupancy(&SM90, 32, 16, 0, 1).unwrap();
    assert_eq!((o.blocks_per_sm, o.limiter), (32, Limiter::Blocks));
    // A 48 KiB block (49152 + 1024 = 50176): 4 on sm_90 (200704 ≤ 233472), 3 on sm_80.
    assert_eq!(
        occupancy(&SM90, 128, 32, 0, 48 * 1024)
            .unwrap()
            .blocks_per_sm,
        4
    );
    assert_eq!(
        occupancy(&SM80, 128, 32, 0, 48 * 1024)
            .unwrap()
            .blocks_per_sm,
        3
    );
}

#[test]
fn occupancy_rejects_impossible_shapes() {
    assert!(occupancy(&SM90, 0, 32, 0, 0).is_err());
    assert!(occupancy(&SM90, 1025, 32, 0, 0).is_err());
    assert!(occupancy(&SM90, 256, 256, 0, 0).is_err());
    assert!(occupancy(&SM90, 256, 32, 0, 227 * 1024 + 1).is_err());
    assert!(occupancy(&SM80, 256, 32, 0, 164 * 1024).is_err());
    assert!(occupancy(&SM90, 256, 32, 0, 227 * 1024).is_ok());
}

fn copy(bytes: f64, blocks_per_sm: u32, warps_per_block: u32, ilp: f64) -> LaunchWork {
    // A copy: every byte read once and written once, 128-byte (4-sector) warp requests.
    let sectors = 2.0 * bytes / 32.0;
    LaunchWork {
        blocks: 1 << 20,
        blocks_per_sm,
        warps_per_block,
        dram_bytes: 2.0 * bytes,
        l2_sectors: sectors,
        global_requests: sectors / 4.0,
        shared_wavefronts: 0.0,
        warp_instrs: [0.0; 10],
        ilp,
    }
}

#[test]
fn dram_bound_at_copy_bandwidth_with_enough_bytes_in_flight() {
    // 64 warps × 4 loads × 128 B = 32 KiB in flight per SM; Little's law needs
    // 4.3e12 / 132 × 600 / 1.98e9 ≈ 9.9 KB: the copy bandwidth holds.
    let w = copy(1e9, 8, 8, 4.0);
    let p = predict(&H200, &w);
    assert_eq!(p.bound, "dram");
    assert_eq!(p.dram_bw, H200.copy_bw);
    assert!((p.seconds - 2e9 / 4.3e12).abs() < 1e-12);
    assert!((p.roofline_pct(&H200, 2e9) - 100.0).abs() < 1e-9);
    // The H100 moves the same bytes at its own copy bandwidth.
    let p = predict(&H100_SXM, &w);
    assert!((p.seconds - 2e9 / H100_SXM.copy_bw).abs() < 1e-12);
}

#[test]
fn latency_bound_with_one_warp_per_sm() {
    // One 1-warp block per SM, one 128-byte load in flight: 132 × 128 B per 600 cycles.
    let w = copy(1e9, 1, 1, 1.0);
    let p = predict(&H200, &w);
    let bw = 132.0 * 128.0 / (600.0 / 1.98e9);
    assert!((p.dram_bw - bw).abs() < 1e-3 * bw);
    assert_eq!(p.bound, "dram");
    assert!((p.seconds - 2e9 / bw).abs() < 1e-9 * p.seconds);
    assert!(p.roofline_pct(&H200, 2e9) < 2.0);
}

#[test]
fn instruction_shared_and_partial_wave_bounds() {
    let clk = H200.clock_hz;
    // INT at 2 warp-instructions / clock / SM: 132 · 2 · clk per ms → 1 ms; issue would take 0.5.
    let mut w = copy(1e6, 8, 8, 4.0);
    w.warp_instrs[1] = 132.0 * 2.0 * clk * 1e-3;
    let p = predict(&H200, &w);
    assert_eq!(p.bound, "pipe:int");
    assert!((p.seconds - 1e-3).abs() < 1e-12);
    // MUFU at 0.5 / clock / SM.
    let mut w = copy(1e6, 8, 8, 4.0);
    w.warp_instrs[Pipe::ALL.iter().position(|p| *p == Pipe::Mufu).unwrap()] =
        132.0 * 0.5 * clk * 2e-3;
    let p = predict(&H200, &w);
    assert_eq!(p.bound, "pipe:mufu");
    assert!((p.seconds - 2e-3).abs() < 1e-12);
    // Shared memory at 1 wavefront / clock / SM.
    let mut w = copy(1e6, 8, 8, 4.0);
    w.shared_wavefronts = 132.0 * clk * 3e-3;
    let p = predict(&H200, &w);
    assert_eq!(p.bound, "shared");
    assert!((p.seconds - 3e-3).abs() < 1e-12);
    // 66 blocks on 132 SMs: the scheduler gives 66 SMs one block each, the same work takes twice
    // as long, whatever the occupancy would allow.
    w.blocks = 66;
    for blocks_per_sm in [1, 8] {
        w.blocks_per_sm = blocks_per_sm;
        let p = predict(&H200, &w);
        assert!((p.seconds - 6e-3).abs() < 1e-12);
    }
}

#[test]
fn few_resident_warps_issue_at_the_warp_latency() {
    // 1 ms of issue at 4 warp-instructions per clock per SM.
    let clk = H200.clock_hz;
    let instrs = 132.0 * 4.0 * clk * 1e-3;
    let c = H200.warp_issue_interval;
    assert!(c > 4.0 && c < 16.0, "{c}");
    // 16 resident warps (one block of 16 per SM): each warp issues every c cycles, 16 / c per
    // clock per SM < 4: the latency bound, instrs · c / (132 · 16 · clk).
    let mut w = copy(1e6, 1, 16, 4.0);
    w.warp_instrs[Pipe::ALL.iter().position(|p| *p == Pipe::Control).unwrap()] = instrs;
    let p = predict(&H200, &w);
    assert_eq!(p.bound, "latency");
    let want = instrs * c / (132.0 * 16.0 * clk);
    assert!(
        (p.seconds - want).abs() < 1e-9 * want,
        "{} vs {want}",
        p.seconds
    );
    assert!((p.seconds / 1e-3 - 4.0 * c / 16.0).abs() < 1e-9);
    // 64 resident warps issue more than 4 per clock: the issue bound again (1 ms).
    w.blocks_per_sm = 4;
    let p = predict(&H200, &w);
    assert_eq!(p.bound, "issue");
    assert!((p.seconds - 1e-3).abs() < 1e-12);
}

#[test]
fn tensor_pipe_at_the_datasheet_peak() {
    // Hand count: 989 TFLOP/s dense bf16 (H100/H200 datasheet: 989.4) over 132 SMs × 1.98 GHz ×
    // 4096 FLOP per HMMA.16816 = 989e12 / 1.070530e15 = 0.92384 warp-instructions per clock per SM.
    let t = Pipe::ALL.iter().position(|p| *p == Pipe::Tensor).unwrap();
    assert_eq!(HMMA_FLOPS, 2.0 * 16.0 * 8.0 * 16.0);
    assert!((H200.tensor_rate() - 0.92384).abs() < 1e-5, "{}", H200.tensor_rate());
    assert_eq!(H100_SXM.tensor_rate(), H200.tensor_rate());
    // 1 ms of bf16 m16n8k16 work: 989e12 · 1e-3 / 4096 = 2.4146e8 HMMA; the same count of TF32
    // m16n8k8 (2048 FLOP each at half the peak, 494.5 TFLOP/s) takes as long. The FP32 pipe
    // gets as many instructions, at 4 per clock: not the bound.
    let mut w = copy(1e6, 8, 8, 4.0);
    w.warp_instrs[t] = 989e12 * 1e-3 / 4096.0;
    w.warp_instrs[0] = w.warp_instrs[t];
    let p = predict(&H200, &w);
    assert_eq!(p.bound, "pipe:tensor");
    assert!((p.seconds - 1e-3).abs() < 1e-3 * 1e-3, "{}", p.seconds);
    assert!((p.seconds - w.warp_instrs[t] * 2048.0 / 494.5e12).abs() < 1e-3 * 1e-3);
    // A kernel without tensor instructions has a zero tensor bound.
    let p = predict(&H200, &copy(1e6, 8, 8, 4.0));
    let b = p.bounds.iter().find(|b| b.name == "pipe:tensor").unwrap();
    assert_eq!(b.seconds, 0.0);
}

#[test]
fn gemm_from_flops_and_bytes() {
    // 8192³ bf16: 2·8192³ = 1.0995e12 FLOP at 989 TFLOP/s × 0.8 = 1.39 ms; bytes 3·8192²·2 = 403 MB
    // at 4.3 TB/s = 94 µs: FLOP-bound.
    let g = Gemm {
        m: 8192,
        n: 8192,
        k: 8192,
        batch: 1,
        elem_bytes: 2,
        c_elem_bytes: 2,
        tensor: true,
        tf32: false,
    };
    let p = predict_gemm(&H200, &g);
    assert_eq!(p.bound, "gemm:flops");
    assert!((p.seconds - 2.0 * 8192f64.powi(3) / (989e12 * 0.8)).abs() < 1e-12);
    // A skinny GEMM (m = 1): bytes dominate.
    let g = Gemm {
        m: 1,
        n: 8192,
        k: 8192,
        batch: 1,
        elem_bytes: 2,
        c_elem_bytes: 2,
        tensor: true,
        tf32: false,
    };
    assert_eq!(predict_gemm(&H200, &g).bound, "dram");
    // f32 8192³: SIMT at 66.9 TFLOP/s × 0.8; on TF32 tensor cores at half the bf16 peak
    // (494.5 TFLOP/s × 0.8).
    let mut g = Gemm {
        m: 8192,
        n: 8192,
        k: 8192,
        batch: 1,
        elem_bytes: 4,
        c_elem_bytes: 4,
        tensor: false,
        tf32: false,
    };
    let flops = 2.0 * 8192f64.powi(3);
    let p = predict_gemm(&H200, &g);
    assert!(
        (p.seconds - flops / (66.9e12 * 0.8)).abs() < 1e-9,
        "{}",
        p.seconds
    );
    g.tf32 = true;
    let p = predict_gemm(&H200, &g);
    assert!(
        (p.seconds - flops / (989e12 / 2.0 * 0.8)).abs() < 1e-12,
        "{}",
        p.seconds
    );
}
