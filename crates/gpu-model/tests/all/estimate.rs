//! The executed-instruction estimate on microkernels whose dynamic SASS count is derived by hand
//! from the committed listing (tests/fixtures/micro_sm90.sass; addresses are /*xxxx*/ there).
//!
//! The per-line counts fed to the estimate are what a SIMT simulator reports for these kernels
//! (per warp: a line executed by any lane counts once; a host-compiled loop body line runs once per
//! trip, its `for` header line once per trip plus the entry test). They are derived by hand here;
//! joining the simulator's own counts is the next step (crates/cudasim `LineCount`).
//! Every estimate must be within 10% of the hand count.

use gpu_model::sass::{estimate, LineExec, Listing, Pipe};

const FIXTURE: &str = include_str!("../fixtures/micro_sm90.sass");

/// A listing of one entry function `k` whose body follows its label: the synthetic kernels below
/// (a `concat!`, so it serves `const`s and `format!` strings alike).
macro_rules! kernel_k {
    ($body:literal) => {
        concat!("//----- .text.k -----\n.other k,@\"STO_CUDA_ENTRY\"\nk:\n", $body)
    };
}

/// Line counts of `file`: each inline chain (innermost line first) run `n` times per warp.
fn lines_in(file: &str, per_warp: &[(&[u32], u64)], warps: u64) -> Vec<LineExec> {
    per_warp
        .iter()
        .map(|(chain, n)| LineExec {
            frames: chain.iter().map(|l| (file.to_string(), *l)).collect(),
            warp_execs: n * warps,
            mem_requests: 0,
        })
        .collect()
}

fn lines(per_warp: &[(&[u32], u64)], warps: u64) -> Vec<LineExec> {
    lines_in("/src/kernels/micro.cu", per_warp, warps)
}

fn run(kernel: &str, per_warp: &[(&[u32], u64)], warps: u64) -> gpu_model::sass::Estimate {
    let l = Listing::parse(FIXTURE).unwrap();
    estimate(l.function(kernel).unwrap(), &lines(per_warp, warps), warps)
}

fn within(est: f64, hand: f64, tol: f64) {
    let err = (est - hand).abs() / hand;
    assert!(
        err <= tol,
        "estimate {est} vs hand count {hand}: error {:.1}%",
        100.0 * err
    );
}

#[test]
fn straight() {
    // /*0000*/../*00e0*/ EXIT: 15 instructions once per warp; the self-branch at 00f0 and the NOPs
    // after it are unreachable. 4 warps: 60.
    let e = run(
        "micro_straight",
        &[(&[11], 1), (&[12], 1), (&[13], 1), (&[14], 1), (&[15], 1)],
        4,
    );
    assert_eq!(e.total, 60.0);
    // Pipes (hand): LDG 0090 + STG 00d0 = 2 global; FFMA 00c0 + HFMA2.MMA 00a0 = 2 fp32.
    assert_eq!(e.pipe(Pipe::Global), 8.0);
    assert_eq!(e.pipe(Pipe::Fp32), 8.0);
    assert_eq!(e.unmatched_instrs, 0);
    // The executed footprint leaves out the unreachable self-branch and NOPs of the listing.
    let listed = Listing::parse(FIXTURE).unwrap().function("micro_straight").unwrap().instrs.len();
    assert!(listed > 15, "the fixture lists {listed} instructions");
    assert_eq!(e.executed_instrs(), 15);
}

#[test]
fn looped() {
    // Runtime trip count n, one warp. nvcc unrolled the loop by 4 with a remainder loop:
    //   0000-0060  7  entry, `@!P0 BRA .L_x_3` when n < 1
    //   0070-00d0  7  set-up, `@!P1 BRA .L_x_4` when n - 1 < 3
    //   00e0-0110  4  main-loop set-up
    //   0120-0210 16  main loop .L_x_5, floor(n/4) trips
    //   0220       1  `@!P0 BRA .L_x_3` when n % 4 == 0
    //   0230-0260  4  remainder set-up
    //   0270-02e0  8  remainder loop .L_x_6, n % 4 trips
    //   02f0-0320  4  store, EXIT
    // n = 10: 7+7+4+16·2+1+4+8·2+4 = 75;  n = 64: 7+7+4+16·16+1+4 = 279;  n = 3: 7+7+1+4+8·3+4 = 47.
    // The estimate cannot see which straight blocks a trip count skips (00e0-0110 at n < 4,
    // 0230-0260 at n % 4 == 0): 75, 283 (+1.4%), 51 (+8.5%).
    // Line counts per warp: 17, 18, 22, 23 once; the body line 21 n times; the header line 20 n + 1.
    for (n, hand) in [(10u64, 75.0), (64, 279.0), (3, 47.0)] {
        let e = run(
            "micro_looped",
            &[
                (&[17], 1),
                (&[18], 1),
                (&[20], n + 1),
                (&[21], n),
                (&[22], 1),
                (&[23], 1),
            ],
            1,
        );
        eprintln!("looped n={n}: estimate {} hand {hand}", e.total);
        within(e.total, hand, 0.10);
        // 32 warps with the same trip count scale exactly.
        let e32 = run(
            "micro_looped",
            &[
                (&[17], 1),
                (&[18], 1),
                (&[20], n + 1),
                (&[21], n),
                (&[22], 1),
                (&[23], 1),
            ],
            32,
        );
        assert!((e32.total - 32.0 * e.total).abs() < 1e-6 * e32.total);
    }
    // The global loads: n LDG per warp (4 per main trip, 1 per remainder trip) exactly at n = 10.
    let e = run(
        "micro_looped",
        &[
            (&[17], 1),
            (&[18], 1),
            (&[20], 11),
            (&[21], 10),
            (&[22], 1),
            (&[23], 1),
        ],
        1,
    );
    assert_eq!(e.pipe(Pipe::Global), 10.0 + 1.0, "10 LDG + 1 STG");
    // Loads per load-holding block execution: main loop 4 × 2 trips, remainder 1 × 2 trips → 10 / 4.
    assert_eq!(e.global_load_ilp, 2.5);
}

#[test]
fn divergent() {
    // `if (i & 32)` with 64-thread blocks: warp 0 takes the else branch, warp 1 the then branch;
    // nvcc predicates both sides (0000-0170, 24 instructions, none skipped): 24 per warp, 2 warps.
    // The lines both warps ran once.
    let both: &[(&[u32], u64)] = &[(&[25], 1), (&[26], 1), (&[27], 1), (&[28], 1), (&[33], 1), (&[34], 1)];
    let e = run("micro_divergent", both, 2);
    // Lines 29 and 31 each ran for one of the two warps.
    let mut per = lines(both, 2);
    per.extend(lines(&[(&[29], 1), (&[31], 1)], 1));
    let l = Listing::parse(FIXTURE).unwrap();
    let e2 = estimate(l.function("micro_divergent").unwrap(), &per, 2);
    within(e2.total, 48.0, 0.10);
    assert_eq!(e2.total, e.total);
    // MUFU.SIN and MUFU.EX2 both issue for both warps (predicated off for one of them).
    assert_eq!(e2.pipe(Pipe::Mufu), 4.0);
}

#[test]
fn unrolled() {
    // `#pragma unroll` over 8 constant trips: straight code 0000-0180, 25 instructions (8 LDG,
    // 8 FFMA); the host-compiled loop runs line 41 8 times per warp. 3 warps: 75.
    let e = run(
        "micro_unrolled",
        &[
            (&[36], 1),
            (&[37], 1),
            (&[40], 9),
            (&[41], 8),
            (&[42], 1),
            (&[43], 1),
        ],
        3,
    );
    within(e.total, 75.0, 0.10);
    assert_eq!(e.pipe(Pipe::Global), 3.0 * 9.0, "8 LDG + 1 STG per warp");
    assert_eq!(
        e.global_load_ilp, 8.0,
        "the 8 loads issue back to back in one block"
    );
}

#[test]
fn called() {
    // `poly` inlined twice; nvcc files both copies under `line 7/8 inlined at line 47`, the host
    // compiler reports one chain per call site (47 and 48). 0000-00f0: 16 instructions per warp.
    let e = run(
        "micro_called",
        &[
            (&[45], 1),
            (&[46], 1),
            (&[47], 1),
            (&[48], 1),
            (&[49], 1),
            (&[50], 1),
            (&[7, 47], 1),
            (&[7, 48], 1),
            (&[8, 47], 1),
            (&[8, 48], 1),
        ],
        2,
    );
    within(e.total, 32.0, 0.10);
    assert_eq!(e.pipe(Pipe::Fp32), 2.0 * 5.0, "4 FFMA + FADD per warp");
}

#[test]
fn helper_count_splits_over_device_inline_copies() {
    // A helper the device compiler inlined at two call sites (chains [3, 10] and [3, 20]) but the
    // host compiler did not: its one chain [3] ran 8 times in all and is split 4 / 4, while the
    // call-site lines say each path ran 4 times. The loop makes the line counts bound the blocks.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_a:\n//## File \"h.cu\", line 3 inlined at \"h.cu\", line 10\n//## File \"h.cu\", line 10\nFMUL\nFFMA\n\
        //## File \"h.cu\", line 11\n@P BRA `(.L_a)\n\
        .L_b:\n//## File \"h.cu\", line 3 inlined at \"h.cu\", line 20\n//## File \"h.cu\", line 20\nFMUL\nFFMA\n\
        //## File \"h.cu\", line 21\n@P BRA `(.L_b)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = lines_in("h.cu", &[(&[9], 1), (&[3], 8), (&[10], 4), (&[11], 5), (&[20], 4), (&[21], 5), (&[30], 1)], 1);
    let e = estimate(&l.functions[0], &per, 1);
    // Hand: S2R 1 + loop a 4 × 3 + loop b 4 × 3 + EXIT 1 = 26.
    assert_eq!(e.total, 26.0);
}

fn exec(chain: &[u32], n: u64) -> LineExec {
    LineExec {
        frames: chain.iter().map(|l| ("h.cu".to_string(), *l)).collect(),
        warp_execs: n,
        mem_requests: 0,
    }
}

/// [`exec`] with the host's memory requests of the line (`requests` in all).
fn exec_req(chain: &[u32], n: u64, requests: u64) -> LineExec {
    LineExec { mem_requests: requests, ..exec(chain, n) }
}

#[test]
fn template_instance_the_host_never_ran_counts_zero() {
    // A runtime `switch` (BRX with its target list) over two inlined instances of a helper (line
    // 3, inlined at 10 and at 20), the host-compiled helper not inlined (one chain [3]). The host
    // ran only the call at line 10: the copy at 20 never runs. 2 warps. Hand: S2R + BRX, the
    // instance at 10 (4 + BRA), EXIT = 8 per warp, 16. Before the call-site check (BRX reaching
    // every label, [3] split evenly) the copy at 20 counted once per warp too: 21.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\nBRX R2 -0x40 (*\"BRANCH_TARGETS .L_a,.L_b\"*)\n\
        .L_a:\n//## File \"h.cu\", line 3 inlined at \"h.cu\", line 10\n//## File \"h.cu\", line 10\nFMUL\nFFMA\nFMUL\nFFMA\n\
        //## File \"h.cu\", line 11\nBRA `(.L_end)\n\
        .L_b:\n//## File \"h.cu\", line 3 inlined at \"h.cu\", line 20\n//## File \"h.cu\", line 20\nFMUL\nFFMA\nFMUL\nFFMA\n\
        //## File \"h.cu\", line 21\nBRA `(.L_end)\n\
        .L_end:\n//## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 2), exec(&[3], 2), exec(&[10], 2), exec(&[11], 2), exec(&[30], 2)];
    let e = estimate(&l.functions[0], &per, 2);
    assert_eq!(e.total, 16.0);
    // The compact form keeps the target list.
    let again = Listing::parse(&l.to_compact()).unwrap();
    assert_eq!(estimate(&again.functions[0], &per, 2).total, 16.0);
}

#[test]
fn block_runs_at_most_as_often_as_control_reaches_it() {
    // A loop of 4 trips per warp (line 10 loads, line 13 branches back); inside it, behind a
    // runtime `if`, a block of arithmetic only: a helper's loop that nvcc unrolled (line 5 inlined
    // at 11) and the host compiler kept rolled, 15 host trips per call: its line counts 60 per
    // warp, and a block without a memory access gives no unroll factor to divide by. Control
    // reaches it at most 4 times per warp. Hand, 1 warp: S2R 1 + 4 × (LDS, ISETP, BRA 3 + the
    // arithmetic 4 + STS, BRA 2) + EXIT 1 = 38 (without the flow bound: 262).
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 10\nLDS\nISETP\n@P BRA `(.L_skip)\n\
        //## File \"h.cu\", line 5 inlined at \"h.cu\", line 11\n//## File \"h.cu\", line 11\nFMUL\nFFMA\nFMUL\nFFMA\n\
        .L_skip:\n//## File \"h.cu\", line 12\nSTS\n//## File \"h.cu\", line 13\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![
        exec(&[9], 1),
        exec(&[10], 4),
        exec(&[5, 11], 60),
        exec(&[11], 4),
        exec(&[12], 4),
        exec(&[13], 4),
        exec(&[30], 1),
    ];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 38.0);
}

#[test]
fn copies_without_a_remainder_loop_leave_the_line_to_its_other_blocks() {
    // A loop of 4 trips per warp. Line 11 is a store the host ran twice per trip (a rolled inner
    // loop of 2, fully unrolled by nvcc: 2 × LEA + STS in block B, m = 2) and nvcc hoisted one
    // of its address computations into the loop's head block A. Hand, 1 warp: S2R 1 + 4 × (A:
    // LEA, ISETP, BRA 3 + B: 4 + BRA 1) + EXIT 1 = 34. When B spent line 11's count (8) as
    // an unrolled body with a remainder, A was left with none and counted zero: 22.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_a:\n//## File \"h.cu\", line 11\nLEA\n//## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_b)\n\
        .L_b:\n//## File \"h.cu\", line 11\nLEA\nSTS\nLEA\nSTS\n//## File \"h.cu\", line 13\n@P BRA `(.L_a)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 1), exec(&[10], 4), exec(&[11], 8), exec(&[13], 4), exec(&[30], 1)];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 34.0);
}

#[test]
fn unrolled_copies_in_blocks_of_their_own_share_the_line() {
    // A loop of 2 trips per warp (line 10 head, line 13 back branch) whose body is a loop of 4
    // trips that nvcc unrolled and the host compiler kept rolled; each trip tests a bound (line
    // 11: ISETP + BRA) and loads a point (line 12: LDG + STS), so every copy sits in basic blocks
    // of its own (the radix-16 P0 pass of the fused conv: 16 copies). The host ran lines 11 and
    // 12 4 times per trip: 8 per warp, 2 for each copy. Hand, 1 warp: S2R 1 + 2 × (IADD3 1 +
    // 4 × 4 + ISETP, BRA 2) + EXIT 1 = 40. With m counted per block (1) each copy could take the
    // whole line's count, and only the flow bound held them (the old rule: 96).
    let copy = |k: usize| {
        format!(
            "//## File \"h.cu\", line 11\nISETP\n@P BRA `(.L_s{k})\n//## File \"h.cu\", line 12\nLDG\nSTS\n.L_s{k}:\n"
        )
    };
    let text = format!(
        kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 10\nIADD3\n{}{}{}{}\
        //## File \"h.cu\", line 13\nISETP\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n"),
        copy(1),
        copy(2),
        copy(3),
        copy(4)
    );
    let l = Listing::parse(&text).unwrap();
    let per = vec![exec(&[9], 1), exec(&[10], 2), exec(&[11], 8), exec(&[12], 8), exec(&[13], 2), exec(&[30], 1)];
    let e = estimate(&l.functions[0], &per, 1);
    assert_eq!(e.total, 40.0, "{:?}", e.per_instr);
    // Each copy's load runs once per trip.
    let f = &l.functions[0];
    for (k, i) in f.instrs.iter().enumerate() {
        if i.opcode == "LDG" {
            assert_eq!(e.per_instr[k], 2.0, "LDG at {k}: {:?}", e.per_instr);
        }
    }
}

/// A batch loop (header line 10, its test and increment at the backward branch) whose body holds
/// a load and shared store (line 11), an inner loop of 4 trips that nvcc unrolled and the host
/// kept rolled (line 5 inlined at 12: arithmetic only, so no unroll factor is read), a barrier
/// behind `if (pr != 0)` (lines 13, 14) and a global store (line 15); plus a computation nvcc
/// hoisted into the loop from before it (line 8) and a helper's test the host ran once per warp
/// (line 3 inlined at 12). Blocks: A = S2R entry; B (loop head) = LDG, STS, 16 × arithmetic,
/// IADD3 (8), FMUL (3<12), ISETP, BRA (13): 22; C = BAR: 1; D = STG, IADD3, ISETP, BRA: 4.
const BATCH_LOOP: &str = kernel_k!("\
    //## File \"h.cu\", line 9\nS2R\n\
    .L_loop:\n//## File \"h.cu\", line 11\nLDG\nSTS\n\
    //## File \"h.cu\", line 5 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\n\
    FMUL\nFFMA\nFMUL\nFFMA\nFMUL\nFFMA\nFMUL\nFFMA\nFMUL\nFFMA\nFMUL\nFFMA\nFMUL\nFFMA\nFMUL\nFFMA\n\
    //## File \"h.cu\", line 8\nIADD3\n\
    //## File \"h.cu\", line 3 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nFMUL\n\
    //## File \"h.cu\", line 13\nISETP\n@P BRA `(.L_skip)\n\
    //## File \"h.cu\", line 14\nBAR\n\
    .L_skip:\n//## File \"h.cu\", line 15\nSTG\n//## File \"h.cu\", line 10\nIADD3\nISETP\n@P BRA `(.L_loop)\n\
    //## File \"h.cu\", line 30\nEXIT\n");

fn batch_loop(trips: u64, latch: u64, warps: u64) -> f64 {
    batch_loop_store(trips, latch, warps, trips)
}

/// [`batch_loop`] with the host's count of the store's line (15) per warp given apart.
fn batch_loop_store(trips: u64, latch: u64, warps: u64, store: u64) -> f64 {
    let l = Listing::parse(BATCH_LOOP).unwrap();
    let w = warps;
    let per = vec![
        exec(&[9], w),
        exec(&[8], w),
        exec(&[10], latch * w),
        exec(&[11], trips * w),
        exec(&[5, 12], 4 * trips * w),
        exec(&[3, 12], w),
        exec(&[12], trips * w),
        exec(&[13], trips * w),
        exec(&[14], (trips - 1) * w),
        exec(&[15], store * w),
        exec(&[30], w),
    ];
    estimate(&l.functions[0], &per, w).total
}

#[test]
fn loop_run_once_per_warp_is_bounded_by_its_body_statements() {
    // One trip per warp (the pair loop of `long_rows_bwd` at B = 1): the host's header line counts
    // 4 per warp, the body statements 1. Hand, 2 warps: 2 × (S2R 1 + B 22 + D 4 + EXIT 1) = 56.
    // With the lines run once per warp all set aside as code nvcc moved in, B took the inner
    // loop's 4 per warp and D the header's 4: 2 × (1 + 88 + 16 + 1) = 212.
    assert_eq!(batch_loop(1, 4, 2), 56.0);
}

#[test]
fn code_moved_into_a_loop_still_does_not_bound_it() {
    // The same loop at 3 trips per warp: the hoisted line 8 (before the header) and the helper's
    // test (inlined, not a statement of the loop itself) run once per warp and must not bound B.
    // Hand, 2 warps: 2 × (S2R 1 + 3 × B 22 + 2 × C 1 + 3 × D 4 + EXIT 1) = 164.
    assert_eq!(batch_loop(3, 4, 2), 164.0);
}

#[test]
fn a_body_line_counted_once_does_not_bound_a_loop_whose_header_ran_many_times() {
    // 16 trips per warp (the header counted 18 per warp), but the host filed the store's work
    // under another line and counted its own line (15) once per warp (`hyena_tc_dft256_f16mma_f32`'s
    // second load). Hand, 2 warps: 2 × (S2R 1 + 16 × B 22 + 15 × C 1 + 16 × D 4 + EXIT 1) = 866;
    // with line 15 set aside D's bound is its header's line, 18 per warp: 866 + 2 × 2 × 4 = 882
    // (the header's two extra counts, as for any loop whose latch block has no other line).
    // Read as a one-trip loop, D took 1 per warp: 866 − 2 × 15 × 4 = 746.
    assert_eq!(batch_loop_store(16, 18, 2, 1), 882.0);
}

#[test]
fn a_line_of_one_unrolled_load_gives_its_copies() {
    // A loop of 4 trips per warp (header line 10 counted 6 per warp) whose body nvcc unrolled 4
    // times and the host kept rolled: line 11 a single `LDS` per execution (4 in the block, 16
    // per warp, one request each), line 12 its `FADD` (arithmetic only: no copies read). Hand,
    // 2 warps: 2 × (S2R 1 + 4 × (4 LDS + 4 FADD + ISETP + BRA) + EXIT 1) = 84. Before (line 11
    // read as one copy, the header's 6 per warp the tightest bound): 124. With two requests per
    // execution (two loads on the line) the 4 LDS are 2 copies of 8 executions per warp: the
    // same 4 trips.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 11\nLDS\nLDS\nLDS\nLDS\n\
        //## File \"h.cu\", line 12\nFADD\nFADD\nFADD\nFADD\n\
        //## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let w = 2;
    let per = vec![exec(&[9], w), exec(&[10], 6 * w), exec_req(&[11], 16 * w, 16 * w), exec(&[12], 16 * w), exec(&[30], w)];
    assert_eq!(estimate(&l.functions[0], &per, w).total, 84.0);
    let per = vec![exec(&[9], w), exec(&[10], 6 * w), exec_req(&[11], 8 * w, 16 * w), exec(&[12], 16 * w), exec(&[30], w)];
    assert_eq!(estimate(&l.functions[0], &per, w).total, 84.0);
}

/// A straight block behind `if (act)` (line 10, evaluated by every warp) that half the warps
/// reach: a load (line 11) and a store (line 13) once per acting warp, between them a loop of 4
/// trips the host kept rolled and nvcc unrolled into the block (line 12: arithmetic only, so no
/// copies to read). The fused conv's pair pass at 8K: threads < pair_slots act (warps 0–7 of
/// 16), its `for q` pair loop 16 calls per acting warp.
const HALF_ACT: &str = kernel_k!("\
    //## File \"h.cu\", line 9\nS2R\n//## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_skip)\n\
    //## File \"h.cu\", line 11\nLDS\n\
    //## File \"h.cu\", line 5 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nFFMA\nFFMA\nFFMA\nFFMA\n\
    //## File \"h.cu\", line 13\nSTS\n\
    .L_skip:\n//## File \"h.cu\", line 30\nEXIT\n");

#[test]
fn straight_block_reached_by_half_the_warps_counts_the_warps_that_reach_it() {
    // 4 warps, 2 act. Hand: entry (S2R, ISETP, BRA) 3 × 4 + the block (LDS, 4 FFMA, STS) 6 × 2 +
    // EXIT 4 = 28. The old rule took the block's count from its most executed line, line 12
    // (8 = 4 trips × 2 warps, capped at the 4 warps): 12 + 24 + 4 = 40.
    let l = Listing::parse(HALF_ACT).unwrap();
    let per = vec![exec(&[9], 4), exec(&[10], 4), exec(&[11], 2), exec(&[5, 12], 8), exec(&[12], 2), exec(&[13], 2), exec(&[30], 4)];
    let e = estimate(&l.functions[0], &per, 4);
    assert_eq!(e.total, 28.0, "{:?}", e.per_instr);
    // Every warp reaching it (4 act): the once-per-warp lines say 4, the block counts 4 (line 12
    // at 16 changes nothing): 12 + 24 + 4 = 40.
    let per = vec![exec(&[9], 4), exec(&[10], 4), exec(&[11], 4), exec(&[5, 12], 16), exec(&[12], 4), exec(&[13], 4), exec(&[30], 4)];
    assert_eq!(estimate(&l.functions[0], &per, 4).total, 40.0);
    // No line of the block ran at most once per warp (the acting warps' load and store are
    // unknown to the counts): the unrolled line still gives the count, capped at the warps (40).
    let per = vec![exec(&[9], 4), exec(&[10], 4), exec(&[5, 12], 8), exec(&[30], 4)];
    assert_eq!(estimate(&l.functions[0], &per, 4).total, 40.0);
}

/// Behind `if (act)` (line 10, every warp), a block that half the warps reach: a helper called
/// twice on line 11 (both calls in the block under one chain: E = 2 calls × 2 warps = the 4
/// warps), then `if (u != 0)` (line 12, evaluated by the acting warps only) over an arm that holds
/// only a loop the host kept rolled and nvcc unrolled (line 5 inlined at 13: 4 trips per warp).
/// The fused conv's pair pass: the twiddles wb1, wb2 of line 508, `if (pr.u != 0)` at 509.
#[test]
fn a_block_ending_in_a_branch_runs_at_most_as_often_as_the_branch_line() {
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n//## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_skip)\n\
        //## File \"h.cu\", line 3 inlined at \"h.cu\", line 11\n//## File \"h.cu\", line 11\nFMUL\nFMUL\n\
        //## File \"h.cu\", line 12\nISETP\n@P BRA `(.L_skip)\n\
        //## File \"h.cu\", line 5 inlined at \"h.cu\", line 13\n//## File \"h.cu\", line 13\nFFMA\nFFMA\nFFMA\nFFMA\n\
        .L_skip:\n//## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    // 4 warps, 2 act, both take the arm. Hand: entry 3 × 4 + (FMUL, FMUL, ISETP, BRA) 4 × 2 +
    // the arm 4 × 2 + EXIT 4 = 32. Line 11 (4: two calls on each acting warp) read as every
    // warp set both blocks at 4 (the arm through the flow bound): 12 + 16 + 16 + 4 = 48.
    let per = vec![
        exec(&[9], 4),
        exec(&[10], 4),
        exec(&[3, 11], 4),
        exec(&[11], 2),
        exec(&[12], 2),
        exec(&[5, 13], 8),
        exec(&[13], 2),
        exec(&[30], 4),
    ];
    let e = estimate(&l.functions[0], &per, 4);
    assert_eq!(e.total, 32.0, "{:?}", e.per_instr);
}

/// A line whose count is a sum over every counted chain sharing only its innermost line (here:
/// line 3, inlined at 12 in the SASS, counted by the host only inlined at 20 and at 21) is not a
/// line known to run once per warp: it does not set the block's count.
#[test]
fn a_count_joined_on_the_innermost_line_alone_does_not_set_a_straight_block() {
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n//## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_skip)\n\
        //## File \"h.cu\", line 11\nLDS\n\
        //## File \"h.cu\", line 3 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nFADD\n\
        //## File \"h.cu\", line 5 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nFFMA\nFFMA\nFFMA\nFFMA\n\
        .L_skip:\n//## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    // 4 warps, 2 act; line 3's counted chains ([3, 20], [3, 21]: 1 and 2) join line 3 inlined at
    // 12 by its innermost line only (E = 3 ≤ 4). Hand: 3 × 4 + (LDS, FADD, 4 FFMA) 6 × 2 + 4 = 28
    // (with line 3's 3 taken as warps: 32).
    let per = vec![
        exec(&[9], 4),
        exec(&[10], 4),
        exec(&[11], 2),
        exec(&[3, 20], 1),
        exec(&[3, 21], 2),
        exec(&[5, 12], 8),
        exec(&[12], 2),
        exec(&[30], 4),
    ];
    let e = estimate(&l.functions[0], &per, 4);
    assert_eq!(e.total, 28.0, "{:?}", e.per_instr);
}

/// The same microkernels run in the SIMT simulator (crates/cudasim, counters on), their line
/// counts fed to the estimate as `hyena kernels --profile` does: the estimate must stay within 10%
/// of the hand counts above. micro.cu is compiled for the simulator through the wrapper
/// `kernels/micro_sim.cu` (built by cudasim-testkernels), whose one-parameter kernels call
/// micro.cu's functions: the wrapper's own frame is the outermost frame of every chain and is
/// dropped, so the chains are those a kernel of micro.cu itself would report.
mod simulated {
    use super::{within, FIXTURE};
    use cudasim::{LaunchConfig, SimDevice};
    use cudasim_testkernels::micro;
    use gpu_model::sass::{estimate, Estimate, LineExec, Listing};
    use std::collections::BTreeMap;

    /// Run `sim_micro_<kernel>` on one block of `threads` threads: the simulator's line counts.
    fn sim_lines(kernel: &str, threads: u32, n: i32) -> Vec<LineExec> {
        let d = SimDevice::new(&micro::KERNELS);
        d.set_counters(true);
        let x = d.upload(&vec![0.25f32; 32 * 72 + threads as usize]).unwrap();
        let y = d.upload(&vec![0.0f32; threads as usize]).unwrap();
        d.launch(&format!("sim_{kernel}"), &LaunchConfig::linear(1, threads, 0), &micro::params(y, x, n))
            .unwrap();
        let c = d.take_counters().pop().expect("counters of the launch");
        let mut merged: BTreeMap<Vec<(String, u32)>, u64> = BTreeMap::new();
        for l in &c.lines {
            let mut frames = l.frames.clone();
            while frames.last().is_some_and(|(f, _)| f.ends_with("micro_sim.cu")) {
                frames.pop();
            }
            if !frames.is_empty() {
                *merged.entry(frames).or_default() += l.warp_execs;
            }
        }
        let lines: Vec<LineExec> =
            merged.into_iter().map(|(frames, warp_execs)| LineExec { frames, warp_execs, mem_requests: 0 }).collect();
        assert!(
            lines.iter().any(|l| l.frames[0].0.ends_with("micro.cu")),
            "no line counts of micro.cu for {kernel}: {lines:?}"
        );
        lines
    }

    /// Warp executions the simulator reports for `micro.cu` line `line` (outermost frame).
    fn count_of(lines: &[LineExec], line: u32) -> u64 {
        lines
            .iter()
            .filter(|l| l.frames.len() == 1 && l.frames[0].0.ends_with("micro.cu") && l.frames[0].1 == line)
            .map(|l| l.warp_execs)
            .sum()
    }

    /// Estimate `micro_<kernel>` from the simulator's line counts of a one-block run.
    fn run(kernel: &str, threads: u32, n: i32) -> Estimate {
        let lines = sim_lines(kernel, threads, n);
        let l = Listing::parse(FIXTURE).unwrap();
        let warps = threads.div_ceil(32) as u64;
        let e = estimate(l.function(kernel).unwrap(), &lines, warps);
        eprintln!("{kernel} n={n}: estimate {} from the simulator's lines {lines:?}", e.total);
        e
    }

    #[test]
    fn straight() {
        // 4 warps × 15 (hand count above).
        // The host compiler reports no count for the kernel's signature line (11) and closing
        // brace (15); their SASS (S2R, EXIT) takes the count of its basic block.
        within(run("micro_straight", 128, 0).total, 60.0, 0.10);
    }

    #[test]
    fn looped() {
        // One warp; hand counts 75, 279, 47 (derivation in the hand-fed test above).
        for (n, hand) in [(10, 75.0), (64, 279.0), (3, 47.0)] {
            within(run("micro_looped", 32, n).total, hand, 0.10);
        }
    }

    #[test]
    fn divergent() {
        // 2 warps × 24: warp 0 takes the else branch, warp 1 the then branch.
        within(run("micro_divergent", 64, 0).total, 48.0, 0.10);
        // Each side ran for one warp; the store after the `if` once per warp, although the host
        // compiler put pieces of it into both arms (rows that do not start a statement).
        let lines = sim_lines("micro_divergent", 64, 0);
        assert_eq!((count_of(&lines, 29), count_of(&lines, 31)), (1, 1));
        assert_eq!(count_of(&lines, 33), 2, "y[i] = v: once per warp");
    }

    #[test]
    fn unrolled() {
        // 3 warps × 25.
        within(run("micro_unrolled", 96, 0).total, 75.0, 0.10);
        // The host compiler keeps the loop: its body 8 times per warp. The store after it once
        // per warp, although a piece of it sits in the loop's block (summing every block that
        // holds a row of the line counted it 9 times per warp).
        let lines = sim_lines("micro_unrolled", 96, 0);
        assert_eq!(count_of(&lines, 41), 3 * 8);
        assert_eq!(count_of(&lines, 42), 3, "y[i] = acc: once per warp");
    }

    #[test]
    fn called() {
        // 2 warps × 16.
        within(run("micro_called", 64, 0).total, 32.0, 0.10);
    }
}

#[test]
fn a_gcd_unroll_factor_above_the_executions_per_warp_takes_a_divisor_that_fits() {
    // A loop of 1 trip per warp whose body holds 4 calls of a helper line that issues 2 LDS and
    // 2 LEA per call (`make_float2(b[i], b[m + i])`): 8 LDS + 8 LEA, gcd 8, while the host ran
    // the line 4 times per warp. Read as 8 copies, the block got ⌊4 / 8⌋ = 0 trips; the largest
    // divisor of 8 that fits 4 executions gives 1 trip. Hand, 1 warp: S2R 1 + 1 × (16 + BRA 1) +
    // EXIT 1 = 19 (the zero-trip reading gave 1).
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 11\nLEA\nLDS\nLDS\nLEA\nLEA\nLDS\nLDS\nLEA\nLEA\nLDS\nLDS\nLEA\nLEA\nLDS\nLDS\nLEA\n\
        //## File \"h.cu\", line 13\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 1), exec(&[11], 4), exec(&[13], 1), exec(&[30], 1)];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 19.0);
}

#[test]
fn an_unrolled_body_whose_address_arithmetic_does_not_replicate_runs_once_per_warp() {
    // A loop of 1 trip per warp whose body holds 16 calls of a two-plane load line (`ld`: 2 LDS
    // per call) with its address arithmetic shared across the copies: 32 LDS, 29 LEA, 3 LOP3 (gcd
    // 1: read as no copies, the block took all 16 executions per warp as 16 trips, the filter
    // spectrum's `fused_read_park` at 64 registers). 32 memory instructions, a whole multiple of
    // the 16 executions per warp: one trip. Hand, 2 warps: 2 × (S2R 1 + 65 + EXIT 1) = 134
    // (the gcd reading gave 2 × (1 + 16 × 65 + 1) = 2084).
    let mut body = String::new();
    for q in 0..32 {
        if q < 29 {
            body.push_str("LEA\n");
        }
        if q < 3 {
            body.push_str("LOP3.LUT\n");
        }
        body.push_str("LDS\n");
    }
    let text = format!(
        kernel_k!("//## File \"h.cu\", line 9\nS2R\n.L_loop:\n//## File \"h.cu\", line 11\n{}//## File \"h.cu\", line 13\n@P BRA `(.L_loop)\n//## File \"h.cu\", line 30\nEXIT\n"),
        body
    );
    let l = Listing::parse(&text).unwrap();
    let per = vec![exec(&[9], 2), exec(&[11], 32), exec(&[13], 2), exec(&[30], 2)];
    assert_eq!(estimate(&l.functions[0], &per, 2).total, 134.0);
}

#[test]
fn several_accesses_of_a_rolled_line_are_no_copies() {
    // A rolled loop of 3 trips per warp whose line issues 4 LDG per execution (nvcc files the
    // loads of four statements under the first: `load_a` of the filter forward's output layer)
    // beside 3 LEA: 4 memory instructions for 3 executions per warp, no whole multiple of them,
    // so no unrolled body. Hand, 1 warp: S2R 1 + 3 × (7 + BRA 1) + EXIT 1 = 26.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 11\nLEA\nLDG.E.U16\nLEA\nLDG.E.U16\nLEA\nLDG.E.U16\nLDG.E.U16\n\
        //## File \"h.cu\", line 13\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 1), exec(&[11], 3), exec(&[13], 3), exec(&[30], 1)];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 26.0);
}

#[test]
fn the_join_of_copies_of_one_body_runs_as_often_as_the_block_they_branch_off() {
    // A loop of 4 trips per warp. Its head (line 10) branches to one of two copies of one body
    // (line 11: nvcc unswitched a test out of an unrolled loop, `long_rows_bwd`'s `pr == 0`), one
    // of them holding a piece of later code (line 14); the host ran line 11 once per trip, which
    // each copy's lines would read as 4 (they carry the same lines): the copies share the head's
    // 4, 2 each (which one ran is unknown). Their join holds a line the host ran twice per trip
    // (line 15: two buffers' arithmetic, no unroll factor to read) and the loop's back branch
    // (line 13, the header: 5 per warp). The join runs once per trip of the head: 4. Estimate,
    // 1 warp: S2R 1 + 4 × 3 (head) + 2 × 4 (copy A) + 2 × 3 (copy B) + 4 × 3 (join) + EXIT 1 =
    // 40 (by hand 38 to 42, as the head's 4 trips went to A or B); with both copies at 4 and the
    // join capped only by their sum it gave 66.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 10\nLDS\nISETP\n@P BRA `(.L_b)\n\
        //## File \"h.cu\", line 11\nFADD\nFMUL\n//## File \"h.cu\", line 14\nIADD3\n//## File \"h.cu\", line 11\nBRA `(.L_join)\n\
        .L_b:\n//## File \"h.cu\", line 11\nFADD\nFADD\nFMUL\n\
        .L_join:\n//## File \"h.cu\", line 15\nFADD\nFADD\n//## File \"h.cu\", line 13\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 1), exec(&[10], 4), exec(&[11], 4), exec(&[14], 4), exec(&[15], 8), exec(&[13], 5), exec(&[30], 1)];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 40.0);
}

/// An outer loop (header line 20, 3 trips per warp) around a helper's inner loop (its header line
/// 5 inlined at line 22, 4 trips per outer trip) whose block holds an instruction of the outer
/// loop's own body (line 21: code nvcc sank into the inner loop, run 3 times per warp on the
/// host). Blocks: A = S2R; B (inner loop) = LDS, 2 FFMA (line 6 inlined at 22), IADD3 (21),
/// IADD3, ISETP, BRA (5 inlined at 22): 7; C = STS (22), IADD3, ISETP, BRA (20): 4; EXIT.
/// `hyena_filter_fwd`'s hidden layers: the layer loop's lines inside the k loop bounded it to
/// one trip per warp (24 for 3864).
const NESTED_CALLER_LINE: &str = kernel_k!("\
    //## File \"h.cu\", line 19\nS2R\n\
    .L_outer:\n.L_inner:\n//## File \"h.cu\", line 6 inlined at \"h.cu\", line 22\n//## File \"h.cu\", line 22\nLDS\nFFMA\nFFMA\n\
    //## File \"h.cu\", line 21\nIADD3\n\
    //## File \"h.cu\", line 5 inlined at \"h.cu\", line 22\n//## File \"h.cu\", line 22\nIADD3\nISETP\n@P BRA `(.L_inner)\n\
    //## File \"h.cu\", line 22\nSTS\n//## File \"h.cu\", line 20\nIADD3\nISETP\n@P BRA `(.L_outer)\n\
    //## File \"h.cu\", line 30\nEXIT\n");

#[test]
fn a_caller_line_inside_an_inlined_inner_loop_does_not_bound_it() {
    // 2 warps, 3 outer trips, 12 inner trips per warp. Hand: 2 × (S2R 1 + 12 × B 7 + 3 × C 4 +
    // EXIT 1) = 196. Bounded by line 21 (3 per warp), B counted 3 per warp: 2 × (1 + 21 + 12 + 1) = 70.
    let l = Listing::parse(NESTED_CALLER_LINE).unwrap();
    let runs: &[(&[u32], u64)] = &[(&[19], 1), (&[20], 3), (&[21], 3), (&[22], 3), (&[5, 22], 12), (&[6, 22], 12), (&[30], 1)];
    let per = lines_in("h.cu", runs, 2);
    assert_eq!(estimate(&l.functions[0], &per, 2).total, 196.0);
}

/// Two sibling loops of one function: the first (header line 10, body line 11, 2 trips per
/// warp), the second (header line 20, body line 21, 4 trips per warp) whose block holds two loads
/// that the line table gives the first loop's body (line 11: code nvcc shares between identical
/// bodies, `long_rows`' forward and inverse row loops). Blocks: A = S2R; B = LDS, FADD (11),
/// IADD3, ISETP, BRA (10): 5; C = LDS, LDS (11), FADD, STS (21), IADD3, ISETP, BRA (20): 7; EXIT.
const SHARED_BODY: &str = kernel_k!("\
    //## File \"h.cu\", line 9\nS2R\n\
    .L_first:\n//## File \"h.cu\", line 11\nLDS\nFADD\n//## File \"h.cu\", line 10\nIADD3\nISETP\n@P BRA `(.L_first)\n\
    .L_second:\n//## File \"h.cu\", line 11\nLDS\nLDS\n//## File \"h.cu\", line 21\nFADD\nSTS\n\
    //## File \"h.cu\", line 20\nIADD3\nISETP\n@P BRA `(.L_second)\n\
    //## File \"h.cu\", line 30\nEXIT\n");

#[test]
fn lines_of_an_earlier_loop_do_not_bound_a_later_loop() {
    // 2 warps. Hand: 2 × (S2R 1 + 2 × B 5 + 4 × C 7 + EXIT 1) = 80. Bounded by line 11 (2 per
    // warp, two copies read from its LDS pair: 1 trip), C counted once per warp: 2 × (1 + 10 + 7 + 1) = 38.
    let l = Listing::parse(SHARED_BODY).unwrap();
    let per = lines_in("h.cu", &[(&[9], 1), (&[10], 2), (&[11], 2), (&[20], 4), (&[21], 4), (&[30], 1)], 2);
    assert_eq!(estimate(&l.functions[0], &per, 2).total, 80.0);
}

/// An `if (full) { fast } else { checked }` whose checked arm the host never ran (its lines have
/// no count at all), its reconvergence `BSYNC` attributed to a checked line, then work both arms
/// share. Lines: 9 entry, 10 the test, 11 the fast arm, 20/21 the checked arm, 30 the shared
/// work, 31 the exit.
const CHECKED_ARM: &str = kernel_k!("\
    //## File \"h.cu\", line 9\nS2R\nBSSY `(.L_join)\n\
    //## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_checked)\n\
    //## File \"h.cu\", line 11\nLDG\nFMUL\nSTG\nBRA `(.L_join)\n\
    .L_checked:\n//## File \"h.cu\", line 20\nISETP\nIADD3\nLDG\nFMUL\n//## File \"h.cu\", line 21\nSTG\nIADD3\n\
    .L_join:\n//## File \"h.cu\", line 21\nBSYNC\n\
    //## File \"h.cu\", line 30\nFADD\nFMUL\nFADD\nSTS\n//## File \"h.cu\", line 31\nEXIT\n");

#[test]
fn an_arm_whose_lines_the_host_never_ran_counts_zero() {
    // 3 warps, every one on the fast arm. Hand: S2R, BSSY 2 + ISETP, BRA 2 + fast arm 4 + BSYNC 1
    // + shared work 4 + EXIT 1 = 14 per warp, 42. Before: the checked arm, no counted line,
    // took the count of the block before it (the test: every warp), 6 more per warp: 60.
    let l = Listing::parse(CHECKED_ARM).unwrap();
    let per = vec![exec(&[9], 3), exec(&[10], 3), exec(&[11], 3), exec(&[30], 3), exec(&[31], 3)];
    let e = estimate(&l.functions[0], &per, 3);
    assert_eq!(e.total, 42.0);
    // The join and the shared work after it still run on every warp: the arm before the join in
    // the listing is the one that did not run.
    assert_eq!(e.per_instr[e.per_instr.len() - 2], 3.0);
}

#[test]
fn an_arm_without_lines_of_its_own_counts_when_code_it_alone_reaches_ran() {
    // The checked arm first (the fall-through of the test), where the host compiler folded its
    // test (line 20) into the line before it and its store (line 21) sits in a block of its own
    // that only the arm reaches: line 21 ran, so the arm ran though line 20 has no count. 2 warps,
    // every one on the checked arm (the fast arm's line 11 never ran). Hand: S2R, BSSY 2 +
    // ISETP, BRA 2 + the checked arm 8 (line 20: 5 with its BRA; line 21: STG, IADD3, BRA) +
    // BSYNC 1 + shared work 4 + EXIT 1 = 18 per warp, 36.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\nBSSY `(.L_join)\n\
        //## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_fast)\n\
        //## File \"h.cu\", line 20\nISETP\nIADD3\nLDG\nFMUL\n@P BRA `(.L_st)\n\
        .L_st:\n//## File \"h.cu\", line 21\nSTG\nIADD3\nBRA `(.L_join)\n\
        .L_fast:\n//## File \"h.cu\", line 11\nLDG\nFMUL\nSTG\n\
        .L_join:\n//## File \"h.cu\", line 11\nBSYNC\n\
        //## File \"h.cu\", line 30\nFADD\nFMUL\nFADD\nSTS\n//## File \"h.cu\", line 31\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 2), exec(&[10], 2), exec(&[21], 2), exec(&[30], 2), exec(&[31], 2)];
    let e = estimate(&l.functions[0], &per, 2);
    let f = &l.functions[0];
    let line20: f64 = f
        .instrs
        .iter()
        .zip(&e.per_instr)
        .filter(|(i, _)| i.chain.is_some_and(|c| f.chains[c][0].line == 20))
        .map(|(_, c)| c)
        .sum();
    assert_eq!(line20, 10.0, "line 20's 5 instructions on both warps");
    assert_eq!(e.total, 36.0);
}

#[test]
fn a_hoisted_line_does_not_bound_a_loop_of_predicated_lines() {
    // A loop of 4 trips per warp whose block holds only predicated lines (a bounds test `if (j <
    // cnt)` around its body, line 12; the latch, line 13) and one instruction of a line the host
    // ran once per warp before the loop (line 5, hoisted into it by nvcc: `bwd_rows`' `load_tw`
    // in its middle passes). Hand, 2 warps: S2R 1 + 4 × (MOV, LDS, FADD, BRA) + EXIT 1 = 18 per
    // warp, 36. Before (the hoisted line bounding the block once no line was left unpredicated):
    // one trip per warp, 12.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 5\nMOV\n//## File \"h.cu\", line 12\n@P LDS\n@P FADD\n\
        //## File \"h.cu\", line 13\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 2), exec(&[5], 2), exec(&[12], 8), exec(&[13], 8), exec(&[30], 2)];
    assert_eq!(estimate(&l.functions[0], &per, 2).total, 36.0);
}

/// A runtime `switch` over two instances of one body (`with_r0`'s arms): arm a inlines a helper
/// (line 3) into the body (line 5) at call site 10, arm b the same body at 20, where nvcc files
/// the helper's code under the body's line (chain [5, 20]). Both warps take arm b.
const SWITCH_ARMS: &str = kernel_k!("\
    //## File \"h.cu\", line 9\nS2R\nBRX R2 -0x40 (*\"BRANCH_TARGETS .L_a,.L_b\"*)\n\
    .L_a:\n//## File \"h.cu\", line 3 inlined at \"h.cu\", line 5\n//## File \"h.cu\", line 5 inlined at \"h.cu\", line 10\n\
    //## File \"h.cu\", line 10\nFMUL\nFFMA\nFMUL\nFFMA\n\
    //## File \"h.cu\", line 11\nBRA `(.L_end)\n\
    .L_b:\n//## File \"h.cu\", line 5 inlined at \"h.cu\", line 20\n//## File \"h.cu\", line 20\nFMUL\nFFMA\nFMUL\nFFMA\n\
    //## File \"h.cu\", line 21\nBRA `(.L_end)\n\
    .L_end:\n//## File \"h.cu\", line 30\nEXIT\n");

#[test]
fn the_other_arm_of_a_switch_counts_zero_though_the_host_credits_a_line_to_its_call_site() {
    // The host ran the helper's line only through arm b ([3, 5, 20]), but its line tables credit
    // one line of arm b's code (a lambda's entry line 4) to arm a's call site ([4, 10]): the
    // call site alone says arm a ran. Hand, 2 warps: S2R, BRX 2 + arm b 4 + BRA 1 + EXIT 1 = 8 per
    // warp, 16. Before (arm a's copy took the only counted chain of line 3): 26.
    let l = Listing::parse(SWITCH_ARMS).unwrap();
    let per = vec![
        exec(&[9], 2),
        exec(&[3, 5, 20], 2),
        exec(&[5, 20], 2),
        exec(&[21], 2),
        exec(&[4, 10], 2),
        exec(&[30], 2),
    ];
    let e = estimate(&l.functions[0], &per, 2);
    assert_eq!(e.total, 16.0);
}

/// Two instances of one template loop called at lines 10 and 20 behind a uniform flag
/// (`hyena_tc_dft256_f32`'s 1xTF32 and 3xTF32 instances). In arm b nvcc files line 5's work under
/// line 6 (no SASS chain of line 5 at call site 20); arm a keeps line 5.
const ARMS_FOLDED: &str = kernel_k!("\
    //## File \"h.cu\", line 9\nS2R\nBRX R2 -0x40 (*\"BRANCH_TARGETS .L_a,.L_b\"*)\n\
    .L_a:\n//## File \"h.cu\", line 5 inlined at \"h.cu\", line 10\n//## File \"h.cu\", line 10\nFMUL\nFFMA\nFMUL\nFFMA\n\
    //## File \"h.cu\", line 11\nISETP\n@P BRA `(.L_a)\nBRA `(.L_end)\n\
    .L_b:\n//## File \"h.cu\", line 6 inlined at \"h.cu\", line 20\n//## File \"h.cu\", line 20\nFMUL\nFFMA\nFMUL\nFFMA\nLDG\nSTG\n\
    //## File \"h.cu\", line 21\nISETP\n@P BRA `(.L_b)\n\
    .L_end:\n//## File \"h.cu\", line 30\nSTG\nEXIT\n");

#[test]
fn a_count_the_host_ran_through_another_call_site_gives_a_copy_no_share() {
    // Both warps take arm b, 4 trips. The host counted line 5 through call site 20 by an odd
    // chain ([5, 7, 20]) and the `else` line of the other arm (10) once per warp, so arm a's
    // call site looks run and its copy ([5, 10]) was the only one to take line 5's count.
    // Hand, 2 warps: S2R, BRX 2 + 4 × arm b 8 + STG, EXIT 2 = 36 per warp, 72. Before: arm a's
    // loop ran 4 trips too (120).
    let l = Listing::parse(ARMS_FOLDED).unwrap();
    let w = 2;
    let per = vec![
        exec(&[9], w),
        exec(&[10], w),
        exec(&[20], w),
        exec(&[5, 7, 20], 4 * w),
        exec(&[6, 20], 4 * w),
        exec(&[21], 4 * w),
        exec(&[30], w),
    ];
    let e = estimate(&l.functions[0], &per, w);
    assert_eq!(e.total, 72.0, "{:?}", e.per_instr);
}

#[test]
fn a_call_site_whose_body_the_host_ran_there_keeps_its_count() {
    // The same listing, one warp on each arm; the host credits both arms' helper line to arm b
    // ([3, 5, 20], 2) but ran another line of the body through arm a ([6, 5, 10]): the body ran
    // at call site 10, so arm a's copy is no other arm's and keeps a count.
    let l = Listing::parse(SWITCH_ARMS).unwrap();
    let per = vec![
        exec(&[9], 2),
        exec(&[3, 5, 20], 2),
        exec(&[6, 5, 10], 1),
        exec(&[5, 20], 1),
        exec(&[11], 1),
        exec(&[21], 1),
        exec(&[30], 2),
    ];
    let e = estimate(&l.functions[0], &per, 2);
    let f = &l.functions[0];
    let arm_a: f64 = f
        .instrs
        .iter()
        .zip(&e.per_instr)
        .filter(|(i, _)| i.chain.is_some_and(|c| f.chains[c].last().is_some_and(|fr| fr.line == 10)))
        .map(|(_, c)| c)
        .sum();
    // Hand: 4 (its four instructions on one warp). The estimate gives 8: the count of line 3,
    // which the host filed under arm b for both warps, all goes to arm a's copy, the only one
    // with that line (an over-count left standing; the rule above must not zero it).
    assert!(arm_a >= 4.0, "arm a ran on one warp: {arm_a}");
}

#[test]
fn the_join_of_a_branch_around_an_arm_runs_as_often_as_the_branch() {
    // A middle pass's body, 2 trips per warp (latch: line 13): its loads and the `s == 0` test
    // (line 10), the twiddles behind it: `Tw::get`'s table test (line 20, `e <= 7`) with the
    // near lookup (line 21) or the far one (line 22: two reads and a product), both joining at
    // the twiddle products (line 5 inlined at 11: a helper's loop the host kept rolled, 15 per
    // call), then the DFT every trip takes (line 6 inlined at 12: 30 per call) and its store.
    // Trip 1 looks up near, trip 2 far, but the host counted the near line twice per warp (it
    // also ran it for a second lookup nvcc folded into the first): the near block and the
    // products after the table's join read 2 and 3 runs per warp, not 1 and 2. Hand, 1 warp:
    // S2R 1 + 2 × (head 4 + table test 2 + products 4 + DFT 4 + STS, ISETP, BRA 3) + near 2 +
    // far 4 + EXIT 1 = 42; with that over-count of the input, 42 + 2 + 4 = 48. The DFT runs as
    // often as the head, 2: before, its join took the head's and the products' counts, 5 (60).
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 10\nLDS\nLDS\nISETP\n@P BRA `(.L_join)\n\
        //## File \"h.cu\", line 20\nISETP\n@P BRA `(.L_far)\n\
        //## File \"h.cu\", line 21\nLDS\nBRA `(.L_tw)\n\
        .L_far:\n//## File \"h.cu\", line 22\nLDS\nLDS\nFMUL\nFFMA\n\
        .L_tw:\n//## File \"h.cu\", line 5 inlined at \"h.cu\", line 11\n//## File \"h.cu\", line 11\nFMUL\nFFMA\nFMUL\nFFMA\n\
        .L_join:\n//## File \"h.cu\", line 6 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nFADD\nFADD\nFADD\nFADD\n\
        .L_st:\n//## File \"h.cu\", line 13\nSTS\nISETP\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![
        exec(&[9], 1),
        exec(&[10], 2),
        exec(&[20], 2),
        exec(&[21], 2),
        exec(&[22], 1),
        exec(&[5, 11], 30),
        exec(&[6, 12], 60),
        exec(&[13], 2),
        exec(&[30], 1),
    ];
    let e = estimate(&l.functions[0], &per, 1);
    let f = &l.functions[0];
    for (i, c) in f.instrs.iter().zip(&e.per_instr) {
        if i.chain.is_some_and(|k| f.chains[k][0].line == 6) {
            assert_eq!(*c, 2.0, "the DFT block runs once per trip");
        }
    }
    assert_eq!(e.total, 48.0);
}

#[test]
fn divergence_branch_falls_through_to_the_converged_path() {
    // nvcc's `BRA.DIV` before a `__shfl_xor_sync`: the slow path (.L_div) runs only for a diverged
    // warp; the kernels shuffle converged. 2 warps. Hand: S2R, BRA.DIV, 2 SHFL, FADD, EXIT = 6
    // per warp, 12 (the slow path's WARPSYNC + SHFL + BRA never). Before: BRA.DIV was taken as an
    // unconditional jump, the converged shuffles and everything after them unreachable: S2R +
    // BRA.DIV + the slow path only.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\nBRA.DIV UR4, `(.L_div)\n\
        //## File \"h.cu\", line 10\nSHFL.BFLY\nSHFL.BFLY\n\
        .L_join:\n//## File \"h.cu\", line 11\nFADD\n//## File \"h.cu\", line 30\nEXIT\n\
        .L_div:\n//## File \"h.cu\", line 10\nWARPSYNC\nSHFL.BFLY\nBRA `(.L_join)\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![exec(&[9], 2), exec(&[10], 2), exec(&[11], 2), exec(&[30], 2)];
    assert_eq!(estimate(&l.functions[0], &per, 2).total, 12.0);
}

#[test]
fn a_control_only_join_filed_under_an_unrun_copy_runs_as_often_as_its_arms() {
    // A loop of 2 trips per warp (latch: line 13) around `if (full) { fast } else { checked(); }`
    // where `checked` is a helper (lines 20-21) inlined at call site 12 (the else arm) and again
    // at 40 after the loop. nvcc files the arms' reconvergence `BSYNC` under the helper's last
    // line at site 12 ([21, 12]), in a block of its own (the next statement starts at a label).
    // The host ran the helper only through site 40: the copy at 12 is another call site's, never
    // run. 2 warps, every trip on the fast arm. Hand: S2R 1 + 2 × (head 4 + fast arm 4 + BSYNC 1
    // + latch block 4) + helper at 40: 6 + EXIT 1 = 34 per warp, 68. Before: the join took its
    // line's count (0, a copy that never ran) and the flow step zeroed the latch block after it
    // (5 per trip): 48. The fused forward's pair loop at 8K (`split`'s `k == 0` test) lost 492
    // instructions of its arm that way.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 10\nLDS\nISETP\nBSSY `(.L_join)\n@P BRA `(.L_checked)\n\
        //## File \"h.cu\", line 11\nLDG\nFMUL\nSTG\nBRA `(.L_join)\n\
        .L_checked:\n//## File \"h.cu\", line 20 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nISETP\nIADD3\nLDG\nFMUL\n\
        //## File \"h.cu\", line 21 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nSTG\nIADD3\n\
        .L_join:\n//## File \"h.cu\", line 21 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nBSYNC\n\
        .L_next:\n//## File \"h.cu\", line 13\nFADD\nFMUL\nISETP\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 20 inlined at \"h.cu\", line 40\n//## File \"h.cu\", line 40\nISETP\nIADD3\nLDG\nFMUL\n\
        //## File \"h.cu\", line 21 inlined at \"h.cu\", line 40\n//## File \"h.cu\", line 40\nSTG\nIADD3\n\
        //## File \"h.cu\", line 31\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![
        exec(&[9], 2),
        exec(&[10], 4),
        exec(&[11], 4),
        exec(&[13], 4),
        exec(&[20, 40], 2),
        exec(&[21, 40], 2),
        exec(&[31], 2),
    ];
    let e = estimate(&l.functions[0], &per, 2);
    let f = &l.functions[0];
    for (i, c) in f.instrs.iter().zip(&e.per_instr) {
        let inner = i.chain.map(|k| f.chains[k][0].line);
        if i.opcode == "BSYNC" || inner == Some(13) {
            assert_eq!(*c, 4.0, "{} (line {inner:?}) runs on every trip", i.opcode);
        }
    }
    assert_eq!(e.total, 68.0);
}

#[test]
fn a_control_only_join_runs_at_most_as_often_as_the_head_of_its_if_else_if_chain() {
    // A loop of 2 trips per warp (latch: line 8, its `for` header) around
    // `if (c) C else if (b) {} else D`: the head A (line 10) branches to C (line 13) or falls to
    // B (line 11), which branches to the join or falls to D (line 12). Every warp diverges (its lanes take every arm), so each arm
    // runs on every trip, and the join (a `BSYNC` filed under line 16, which the host ran 12 times
    // per warp elsewhere) once per trip. 2 warps. Hand: S2R 1 + 2 × (A 4 + B 3 + D 4 + C 2 + J 1
    // + latch 3) + EXIT 1 = 36 per warp, 72. Before: the join took its line's count capped by
    // the sum of its predecessors' (B, D and C: 3 runs per trip), 12 for 4, 80.
    let text = kernel_k!("\
        //## File \"h.cu\", line 7\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 10\nLDS\nISETP\nBSSY `(.L_join)\n@P BRA `(.L_c)\n\
        //## File \"h.cu\", line 11\nISETP\nMOV\n@P BRA `(.L_join)\n\
        //## File \"h.cu\", line 12\nLDS\nMOV\nLDS\nBRA `(.L_join)\n\
        .L_c:\n//## File \"h.cu\", line 13\nMOV\nCS2R\n\
        .L_join:\n//## File \"h.cu\", line 16\nBSYNC\n\
        .L_next:\n//## File \"h.cu\", line 8\nFADD\nISETP\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![
        exec(&[7], 2),
        exec(&[10], 4),
        exec(&[11], 4),
        exec(&[12], 4),
        exec(&[13], 4),
        exec(&[16], 24),
        exec(&[8], 4),
        exec(&[30], 2),
    ];
    let e = estimate(&l.functions[0], &per, 2);
    let f = &l.functions[0];
    for (i, c) in f.instrs.iter().zip(&e.per_instr) {
        if i.opcode == "BSYNC" {
            assert_eq!(*c, 4.0, "the join runs once per trip");
        }
    }
    assert_eq!(e.total, 72.0);
}

#[test]
fn library_code_inlined_into_a_line_runs_as_often_as_the_line() {
    // A loop of 3 trips per warp (header line 10, its test and backward branch, counted 4 per
    // warp) whose line 11 holds its own `FMNMX` and a `min` of math_functions.hpp (`return r >
    // 0.0f ? min(..) : 126u;`): two SASS chains, [hpp:896, 11] and [11], equal once the header
    // frame is dropped. Both run once per execution of the line. Hand, 2 warps: 2 × (S2R 1 + 3
    // × (FMNMX, IMNMX, FMUL, ISETP, BRA) + EXIT 1) = 34. Before (the line's count split between
    // the two chains as if they were two call sites: 1.5 trips per warp): 19. The G kernel's
    // row exponent at 8K: the blocks of its row loop held to half a trip per row.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 11\nFMNMX\n\
        //## File \"math_functions.hpp\", line 896 inlined at \"h.cu\", line 11\n//## File \"h.cu\", line 11\nIMNMX\n\
        //## File \"h.cu\", line 12\nFMUL\n\
        //## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n");
    let l = Listing::parse(text).unwrap();
    let w = 2;
    let per = vec![exec(&[9], w), exec(&[10], 4 * w), exec(&[11], 3 * w), exec(&[12], 3 * w), exec(&[30], w)];
    assert_eq!(estimate(&l.functions[0], &per, w).total, 34.0);
}

#[test]
fn two_accesses_per_execution_halve_the_copies_read_from_the_gcd() {
    // A row loop of 3 trips per warp (header line 10: 4 per warp) whose body holds 8 unrolled
    // calls of a line with two loads (`g_at`: `ld2(gy + at)` and `ld2(po + at)`): 16 LDG and 16
    // PRMT, gcd 16, for 8 executions per trip (24 per warp) and two requests per execution. The
    // copies are 16 / 2 = 8: 3 trips. Hand, 1 warp: S2R 1 + 3 × (32 + ISETP + BRA) + EXIT 1 =
    // 104. Read as 16 copies (⌊24 / 16⌋ = 1 trip, the G kernel's row exponent pass at 8K): 36.
    let mut body = String::new();
    for _ in 0..16 {
        body.push_str("LDG.E\nPRMT\n");
    }
    let text = format!(
        kernel_k!("//## File \"h.cu\", line 9\nS2R\n.L_loop:\n//## File \"h.cu\", line 11\n{}//## File \"h.cu\", line 10\nISETP\n@P BRA `(.L_loop)\n//## File \"h.cu\", line 30\nEXIT\n"),
        body
    );
    let l = Listing::parse(&text).unwrap();
    let per = vec![exec(&[9], 1), exec(&[10], 4), exec_req(&[11], 24, 48), exec(&[30], 1)];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 104.0);
    // Without the host's requests the line reads as 16 copies still (no evidence of two loads
    // per execution).
    let per = vec![exec(&[9], 1), exec(&[10], 4), exec(&[11], 24), exec(&[30], 1)];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 36.0);
}

#[test]
fn the_slow_path_of_a_shuffle_makes_no_loop_head() {
    // A loop of 4 trips per warp (header line 10, counted 5 per warp) around a load (line 11)
    // and a warp sum whose 5 steps nvcc unrolled (line 5 inlined at 12, counted 5 per call: 20
    // per warp): the shuffle, its `BRA.DIV` to the diverged-warp slow path placed after `EXIT`,
    // and the steps' `DADD`s in a block that the slow path jumps back to. That jump is a
    // backward edge from a block control never reaches: no loop head, so the flow bound holds
    // the block to the 4 runs of the block before it. Then `if (lane == 0)` (line 13, every
    // warp once per trip: a store). Hand, 1 warp: S2R 1 + 4 × (LDS ISETP SHFL BRA.DIV 4 + DADD
    // DADD ISETP BRA 4 + STS 1 + latch 1) + EXIT 1 = 42. With the block exempt as a loop head
    // (it took the line's 20 runs per warp, five steps per call): 122. `warp_sum` in the filter
    // backward's frequency loop.
    let text = kernel_k!("\
        //## File \"h.cu\", line 9\nS2R\n\
        .L_loop:\n//## File \"h.cu\", line 11\nLDS\nISETP\n\
        //## File \"sm_30_intrinsics.hpp\", line 538 inlined at \"h.cu\", line 5\n//## File \"h.cu\", line 5 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nSHFL.BFLY\nBRA.DIV UR4, `(.L_slow)\n\
        .L_re:\n//## File \"h.cu\", line 5 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nDADD\nDADD\nISETP\n@P BRA `(.L_join)\n\
        //## File \"h.cu\", line 13\nSTS\n\
        .L_join:\n//## File \"h.cu\", line 10\n@P BRA `(.L_loop)\n\
        //## File \"h.cu\", line 30\nEXIT\n\
        .L_slow:\n//## File \"sm_30_intrinsics.hpp\", line 538 inlined at \"h.cu\", line 5\n//## File \"h.cu\", line 5 inlined at \"h.cu\", line 12\n//## File \"h.cu\", line 12\nWARPSYNC\nSHFL.BFLY\nBRA `(.L_re)\n");
    let l = Listing::parse(text).unwrap();
    let per = vec![
        exec(&[9], 1),
        exec(&[10], 5),
        exec(&[11], 4),
        exec(&[5, 12], 20),
        exec(&[12], 4),
        exec(&[13], 4),
        exec(&[30], 1),
    ];
    assert_eq!(estimate(&l.functions[0], &per, 1).total, 42.0);
}
