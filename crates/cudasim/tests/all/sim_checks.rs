//! cudasim self-tests: a correct kernel with shared memory, barriers, shuffles, votes and atomics
//! gives the right answer; every planted bug in `tests/kernels/planted_bugs.cu` is reported as a
//! typed error naming kernel and violation; C++ exceptions never cross into Rust.

use cudasim::{LaunchConfig, SimDevice, SimError, ThreadOrder, Violation};
use cudasim_testkernels::{SimTestParams, KERNELS};
use rand::{Rng, SeedableRng};

fn dev() -> SimDevice {
    SimDevice::new(&KERNELS)
}

fn cfg(grid: u32, block: u32, shared: u32) -> LaunchConfig {
    LaunchConfig::linear(grid, block, shared)
}

fn launch(d: &SimDevice, name: &str, c: LaunchConfig, p: SimTestParams) -> Result<(), SimError> {
    d.launch(name, &c, &p.bytes())
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// A device buffer of f32 (freed with the device).
struct Buf<'a> {
    d: &'a SimDevice,
    addr: u64,
    n: usize,
}
impl<'a> Buf<'a> {
    fn from_host(d: &'a SimDevice, v: &[f32]) -> Self {
        Buf { d, addr: d.upload(v).unwrap(), n: v.len() }
    }
    fn addr(&self) -> u64 {
        self.addr
    }
    fn to_host(&self) -> Vec<f32> {
        self.d.download(self.addr, self.n).unwrap()
    }
}

/// Expect a simulator violation of `kind` from kernel `name`.
fn expect_violation(r: Result<(), SimError>, name: &str, kind: Violation) -> String {
    let err = match r {
        Ok(()) => panic!("kernel `{name}`: expected {kind:?}, the launch succeeded"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert_eq!(err.violation(), Some(kind), "kernel `{name}`: wrong error: {msg}");
    assert!(msg.contains(name), "message must name the kernel: {msg}");
    assert!(msg.contains(kind.label()), "message must name the violation: {msg}");
    eprintln!("[expected] {msg}");
    msg
}

#[test]
fn registry_lists_every_kernel_with_params_size() {
    let reg = KERNELS.kernels();
    assert_eq!(reg.len(), KERNELS.sources().len());
    for k in KERNELS.sources() {
        let r = reg.get(k.name).unwrap_or_else(|| panic!("{} missing from the C++ registry", k.name));
        assert_eq!(r.params_type, k.params);
        assert_eq!(r.params_type, "SimTestParams");
        assert_eq!(r.params_size, std::mem::size_of::<SimTestParams>());
        assert_eq!(r.uniform_blocks, k.uniform_blocks);
    }
    assert!(reg.contains_key("simbug_shared_race") && reg.contains_key("simtest_block_sum"));
}

fn block_sum_case(order: ThreadOrder, block: u32, blocks: u32, per_block: usize, seed: u64) {
    let d = SimDevice::new(&KERNELS).with_thread_order(order);
    let x = random(per_block * blocks as usize, seed);
    let xb = Buf::from_host(&d, &x);
    let out = Buf::from_host(&d, &vec![f32::NAN; blocks as usize]);
    let aux = Buf::from_host(&d, &vec![f32::NAN; blocks as usize]);
    let p = SimTestParams { x: xb.addr(), out: out.addr(), n: per_block as u64, aux: aux.addr() };
    launch(&d, "simtest_block_sum", cfg(blocks, block, block * 4), p).unwrap();
    let got = out.to_host();
    let cnt = aux.to_host();
    for b in 0..blocks as usize {
        let chunk = &x[b * per_block..(b + 1) * per_block];
        let want: f64 = chunk.iter().map(|&v| v as f64).sum();
        let pos = chunk.iter().filter(|&&v| v > 0.0).count() as f32;
        assert!((got[b] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()), "block {b}: {} vs {want}", got[b]);
        assert_eq!(cnt[b], pos, "block {b}: positive count");
    }
}

#[test]
fn block_sum_matches_host_forward_and_reverse_order() {
    block_sum_case(ThreadOrder::Forward, 128, 3, 1000, 1);
    block_sum_case(ThreadOrder::Reverse, 128, 3, 1000, 1);
    block_sum_case(ThreadOrder::Forward, 256, 2, 300, 2);
    block_sum_case(ThreadOrder::Forward, 32, 4, 77, 3);
}

#[test]
fn warp_scan_matches_host() {
    let d = dev();
    let n = 300usize;
    let x = random(n, 4);
    let xb = Buf::from_host(&d, &x);
    let out = Buf::from_host(&d, &vec![f32::NAN; n]);
    let p = SimTestParams { x: xb.addr(), out: out.addr(), n: n as u64, aux: 0 };
    launch(&d, "simtest_scan", cfg(3, 128, 0), p).unwrap();
    let got = out.to_host();
    for b in 0..3 {
        let mut acc = 0.0f64;
        for i in b * 128..((b + 1) * 128).min(n) {
            acc += x[i] as f64;
            assert!((got[i] as f64 - acc).abs() < 1e-4, "i={i}: {} vs {acc}", got[i]);
        }
    }
}

fn bug_setup(d: &SimDevice, n: usize) -> (Buf<'_>, Buf<'_>) {
    let x = Buf::from_host(d, &random(n, 9));
    let out = Buf::from_host(d, &vec![f32::NAN; n]);
    (x, out)
}

#[test]
fn shared_memory_race_is_reported() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    let msg = expect_violation(launch(&d, "simbug_shared_race", cfg(1, 64, 0), p), "simbug_shared_race", Violation::Race);
    assert!(msg.contains("static shared memory (a 1024-byte __shared__ variable)"), "{msg}");
    // In reverse order too.
    let r = SimDevice::new(&KERNELS).with_thread_order(ThreadOrder::Reverse);
    let (x, out) = bug_setup(&r, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    expect_violation(launch(&r, "simbug_shared_race", cfg(1, 64, 0), p), "simbug_shared_race", Violation::Race);
    // Write-write race on a shared scalar.
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    let msg = expect_violation(launch(&d, "simbug_shared_ww", cfg(1, 64, 0), p), "simbug_shared_ww", Violation::Race);
    assert!(msg.contains("write-write"), "{msg}");
}

#[test]
fn race_free_control_kernel_passes() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    launch(&d, "simtest_shared_norace", cfg(1, 64, 0), p).unwrap();
    let xs = x.to_host();
    let got = out.to_host();
    for t in 0..64 {
        assert_eq!(got[t], xs[(t + 1) % 64]);
    }
}

#[test]
fn out_of_bounds_global_write_is_reported() {
    let d = dev();
    let (x, out) = bug_setup(&d, 100);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 100, aux: 0 };
    let msg = expect_violation(
        launch(&d, "simbug_oob_global", cfg(1, 128, 0), p),
        "simbug_oob_global",
        Violation::OutOfBoundsGlobal,
    );
    assert!(msg.contains("write"), "{msg}");
    assert!(msg.contains("0 bytes past the end of the 400-byte allocation"), "{msg}");
    // The bad write was not performed: the device is still usable and the data intact.
    assert_eq!(out.to_host().len(), 100);
}

#[test]
fn out_of_bounds_shared_writes_are_reported() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    let msg = expect_violation(
        launch(&d, "simbug_oob_shared", cfg(1, 64, 0), p),
        "simbug_oob_shared",
        Violation::OutOfBoundsShared,
    );
    assert!(msg.contains("static __shared__ write") && msg.contains("thread (63,0,0)"), "{msg}");
    assert!(msg.contains("0 bytes past the end of a 256-byte __shared__ variable"), "{msg}");
    let msg = expect_violation(
        launch(&d, "simbug_oob_dyn_shared", cfg(1, 64, 64 * 4), p),
        "simbug_oob_dyn_shared",
        Violation::OutOfBoundsShared,
    );
    assert!(msg.contains("dynamic shared memory write") && msg.contains("byte offset 256"), "{msg}");
    // With one float more of dynamic shared memory the same kernel is in bounds: but it then
    // reads tile[0], which nobody wrote (poisoned NaN), and no error is due.
    launch(&d, "simbug_oob_dyn_shared", cfg(1, 64, 65 * 4), p).unwrap();
    assert!(out.to_host()[0].is_nan());
}

#[test]
fn barrier_divergence_is_reported() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 40, aux: 0 };
    let msg = expect_violation(
        launch(&d, "simbug_barrier_exit", cfg(1, 64, 0), p),
        "simbug_barrier_exit",
        Violation::BarrierDivergence,
    );
    assert!(msg.contains("exited"), "{msg}");
    // With n == blockDim nobody exits early: fine.
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    launch(&d, "simbug_barrier_exit", cfg(1, 64, 0), p).unwrap();
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    let msg = expect_violation(
        launch(&d, "simbug_barrier_split", cfg(1, 64, 0), p),
        "simbug_barrier_split",
        Violation::BarrierDivergence,
    );
    assert!(msg.contains("planted_bugs.cu"), "{msg}");
}

#[test]
fn warp_collective_with_exited_lanes_is_reported() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    let msg = expect_violation(
        launch(&d, "simbug_shfl_exited", cfg(1, 64, 0), p),
        "simbug_shfl_exited",
        Violation::WarpDivergence,
    );
    assert!(msg.contains("__shfl_xor_sync"), "{msg}");
    let msg = expect_violation(
        launch(&d, "simbug_shfl_vs_barrier", cfg(1, 64, 0), p),
        "simbug_shfl_vs_barrier",
        Violation::WarpDivergence,
    );
    assert!(msg.contains("deadlock") && msg.contains("__syncthreads") && msg.contains("__shfl_xor_sync"), "{msg}");
}

#[test]
fn launch_arguments_are_checked_before_running() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    assert!(matches!(launch(&d, "no_such_kernel", cfg(1, 64, 0), p), Err(SimError::KernelNotBuilt(_))));
    let bytes = p.bytes();
    assert!(matches!(
        d.launch("simtest_shared_norace", &cfg(1, 64, 0), &bytes[..16]),
        Err(SimError::Params { expected: 32, got: 16, .. })
    ));
    assert!(matches!(
        launch(&d, "simtest_shared_norace", cfg(1, 64, 228 * 1024), p),
        Err(SimError::SharedMemory { requested, limit, .. }) if requested == 228 * 1024 && limit == 227 * 1024
    ));
    assert!(matches!(launch(&d, "simtest_shared_norace", cfg(1, 1025, 0), p), Err(SimError::InvalidLaunch { .. })));
    assert!(matches!(launch(&d, "simtest_shared_norace", cfg(0, 64, 0), p), Err(SimError::InvalidLaunch { .. })));
    let small = SimDevice::new(&KERNELS).with_max_shared_bytes(1024);
    assert_eq!(small.max_shared_bytes(), 1024);
    // A params struct pointing at memory of another device is caught as an invalid address.
    let other = dev();
    let (x2, _o2) = bug_setup(&other, 64);
    let p = SimTestParams { x: x2.addr(), out: out.addr(), n: 64, aux: 0 };
    expect_violation(
        launch(&d, "simtest_shared_norace", cfg(1, 64, 0), p),
        "simtest_shared_norace",
        Violation::OutOfBoundsGlobal,
    );
}

#[test]
fn a_shared_memory_request_the_host_cannot_hold_is_a_typed_error() {
    // 4 GiB - 1 of dynamic shared memory with the limit lifted: the simulator's shadow for it
    // (~40 bytes per byte) cannot be allocated. The C++ std::bad_alloc must not cross extern "C"
    // (that would abort the process): it comes back as SimError::OutOfMemory.
    let d = SimDevice::new(&KERNELS).with_max_shared_bytes(usize::MAX);
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    let r = launch(&d, "simtest_shared_norace", cfg(1, 64, u32::MAX), p);
    match r {
        Err(SimError::OutOfMemory(m)) => assert!(m.contains("simtest_shared_norace"), "{m}"),
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // The runtime is usable afterwards.
    launch(&d, "simtest_shared_norace", cfg(1, 64, 0), p).unwrap();
    let xs = x.to_host();
    assert_eq!(out.to_host()[0], xs[1]);
}

#[test]
fn copies_are_bounds_checked() {
    let d = dev();
    let b = d.alloc(40).unwrap();
    let mut host = vec![0u8; 44];
    assert!(matches!(d.copy_dtoh(b, &mut host), Err(SimError::Buffer { .. })));
    assert!(matches!(d.copy_htod(&host, b + 4), Err(SimError::Buffer { .. })));
    assert!(matches!(d.copy_dtod(b, 0x10, 4), Err(SimError::Buffer { .. })));
    d.copy_htod(&host[..40], b).unwrap();
    assert_eq!(d.download::<f32>(b, 10).unwrap(), vec![0.0f32; 10]);
    assert!(d.free(b));
    assert!(!d.free(b), "a second free of the same address is refused");
    assert_eq!(d.live_allocations(), 0);
}

/// A `free` racing a copy of the same allocation (the check-then-use race: the range was checked,
/// the table lock released, then the bytes copied) must wait for the copy or make it fail, never
/// let it touch freed memory. 64 MiB is above glibc's largest mmap threshold (32 MiB), so `free`
/// unmaps the pages and a copy still running afterwards faults (the test binary crashes) or
/// reads bytes that are not the ones written. The freeing thread starts 2 ms after the copy,
/// well inside the ~10 ms a 64 MiB copy takes.
#[test]
fn a_free_during_a_copy_waits_or_fails_never_uses_freed_memory() {
    const BYTES: usize = 64 << 20;
    let d = dev();
    let host = vec![0x5au8; BYTES];
    let mut back = vec![0u8; BYTES];
    for round in 0..4 {
        let addr = d.alloc(BYTES).unwrap();
        d.copy_htod(&host, addr).unwrap();
        back.fill(0);
        let go = std::sync::Barrier::new(2);
        let res = std::thread::scope(|s| {
            s.spawn(|| {
                go.wait();
                std::thread::sleep(std::time::Duration::from_millis(2));
                assert!(d.free(addr));
            });
            go.wait();
            if round % 2 == 0 {
                d.copy_dtoh(addr, &mut back)
            } else {
                d.copy_htod(&host, addr)
            }
        });
        match res {
            Ok(()) if round % 2 == 0 => assert!(back.iter().all(|&b| b == 0x5a), "round {round}: a copy read freed memory"),
            Ok(()) => {}
            Err(SimError::Buffer { .. }) => {} // the free won the lock: the copy was refused
            Err(e) => panic!("round {round}: unexpected error {e}"),
        }
        // Freed now, whoever won: every later use is refused.
        assert!(matches!(d.copy_dtoh(addr, &mut back[..4]), Err(SimError::Buffer { .. })));
    }
    assert_eq!(d.live_allocations(), 0);
}

#[test]
fn global_memory_races_are_reported() {
    for order in [ThreadOrder::Forward, ThreadOrder::Reverse] {
        let d = SimDevice::new(&KERNELS).with_thread_order(order);
        let x = Buf::from_host(&d, &random(4 * 64, 5));
        let out = Buf::from_host(&d, &vec![f32::NAN; 64]);
        let aux = Buf::from_host(&d, &vec![f32::NAN; 64]);
        let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: aux.addr() };
        // Every block writes the same outputs.
        let msg = expect_violation(
            launch(&d, "simbug_global_blocks_ww", cfg(4, 64, 0), p),
            "simbug_global_blocks_ww",
            Violation::Race,
        );
        assert!(msg.contains("write-write between blocks") && msg.contains("global memory"), "{msg}");
        // One block alone is fine.
        launch(&d, "simbug_global_blocks_ww", cfg(1, 64, 0), p).unwrap();
        // Intra-block: write then read a neighbour's output without a barrier.
        let msg = expect_violation(
            launch(&d, "simbug_global_rw", cfg(1, 64, 0), p),
            "simbug_global_rw",
            Violation::Race,
        );
        assert!(msg.contains("global memory"), "{msg}");
    }
}

#[test]
fn global_atomics_from_every_block_are_not_a_race() {
    let d = dev();
    let n = 1000;
    let xs = random(n, 6);
    let x = Buf::from_host(&d, &xs);
    let out = Buf::from_host(&d, &[0.0f32]);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: n as u64, aux: 0 };
    launch(&d, "simtest_global_atomic_sum", cfg(3, 64, 0), p).unwrap();
    let want: f64 = xs.iter().map(|&v| v as f64).sum();
    let got = out.to_host()[0] as f64;
    assert!((got - want).abs() < 1e-3, "{got} vs {want}");
}

#[test]
fn warp_synchronous_shared_memory_needs_syncwarp() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    launch(&d, "simtest_warp_exchange", cfg(1, 64, 0), p).unwrap();
    let xs = x.to_host();
    let got = out.to_host();
    for t in 0..64 {
        assert_eq!(got[t], xs[t ^ 1], "t={t}");
    }
    let msg = expect_violation(
        launch(&d, "simbug_warp_exchange", cfg(1, 64, 0), p),
        "simbug_warp_exchange",
        Violation::Race,
    );
    assert!(msg.contains("a 1024-byte __shared__ variable"), "{msg}");
    launch(&d, "simtest_warp_reread_then_write", cfg(1, 64, 0), p).unwrap();
    let got = out.to_host();
    for t in 0..64 {
        let e = t & !1;
        let want = if t % 2 == 0 { xs[e] + xs[e + 1] } else { xs[e] - xs[e + 1] } + xs[t];
        assert_eq!(got[t], want, "t={t}");
    }
    expect_violation(launch(&d, "simbug_warp_reread_then_write", cfg(1, 64, 0), p), "simbug_warp_reread_then_write", Violation::Race);
    launch(&d, "simtest_syncwarp_divergent", cfg(1, 64, 0), p).unwrap();
    let got = out.to_host();
    for t in 0..64 {
        let src = t ^ 1;
        let want = if src % 2 == 1 { 2.0 * xs[src] } else { xs[src] };
        assert_eq!(got[t], want, "t={t}");
    }
    expect_violation(
        launch(&d, "simbug_half_warp_exchange", cfg(1, 64, 0), p),
        "simbug_half_warp_exchange",
        Violation::Race,
    );
}

#[test]
fn cuda_idioms_match_host_computation() {
    use half::{bf16, f16};
    let d = dev();
    let (bx, by, gx, gy) = (32usize, 2usize, 2usize, 2usize);
    let nt = bx * by;
    let n = nt * gx * gy;
    let xs = random(n, 7);
    let x = Buf::from_host(&d, &xs);
    let out = Buf::from_host(&d, &vec![f32::NAN; 16 * n]);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: n as u64, aux: 0 };
    let c = LaunchConfig { grid: [gx as u32, gy as u32, 1], block: [bx as u32, by as u32, 1], shared_bytes: 0 };
    launch(&d, "simtest_idioms", c, p).unwrap();
    let got = out.to_host();
    let close = |g: f32, w: f64, tol: f64, what: &str| {
        assert!((g as f64 - w).abs() <= tol * (1.0 + w.abs()), "{what}: got {g}, want {w}");
    };
    for g in 0..n {
        let blk = g / nt;
        let tib = g % nt;
        let lane = tib % 32;
        let warp_base = blk * nt + (tib / 32) * 32;
        let v = xs[g];
        let o = &got[16 * g..16 * g + 16];
        let vd = v as f64;
        close(o[0], vd.exp(), 1e-6, "expf");
        close(o[1], vd.sin() + 2.0 * vd.cos(), 1e-6, "sincosf");
        close(o[2], 1.0 / (1.0 + vd * vd).sqrt(), 1e-6, "rsqrtf");
        close(o[3], vd / 3.0, 1e-6, "fdividef");
        close(o[4], vd * 2.0 + 1.0, 1e-6, "fmaf");
        let q: f64 = xs[(g / 4) * 4..(g / 4) * 4 + 4].iter().map(|&t| t as f64).sum();
        close(o[5], q, 1e-6, "float4");
        let h = |t: f32| f16::from_f32(t).to_f32();
        let hm = h(h(v) * h(v)) as f64 + h(h(2.0 * v) * h(2.0 * v)) as f64;
        close(o[6], hm, 1e-3, "half2");
        assert_eq!(o[7], bf16::from_f32(v).to_f32(), "bf16 round trip");
        close(o[8], vd + xs[warp_base + (lane ^ 1)] as f64, 1e-6, "shfl_xor double");
        let down = if lane % 8 + 1 < 8 { xs[warp_base + lane + 1] } else { v };
        assert_eq!(o[9], down, "shfl_down width 8, lane {lane}");
        let up = if lane % 16 >= 3 { xs[warp_base + lane - 3] } else { v };
        assert_eq!(o[10], up, "shfl_up width 16, lane {lane}");
        let idx = (lane / 8) * 8 + (lane + 5) % 8;
        assert_eq!(o[11], xs[warp_base + idx], "shfl idx width 8, lane {lane}");
        let warp = &xs[warp_base..warp_base + 32];
        let pos = warp.iter().filter(|&&t| t > 0.0).count();
        let any = warp.iter().any(|&t| t > 0.9) as usize;
        assert_eq!(o[12], (pos + 100 * any + 1000) as f32, "ballot/any/all");
        assert_eq!(o[13], 496.0, "reduce_add");
        let l = lane as u32;
        let bits = l.count_ones() as i64 + if l == 0 { 0 } else { l.trailing_zeros() as i64 + 1 } + (l.reverse_bits() >> 27) as i64;
        assert_eq!(o[14], ((l.min(7) + l.max(3)) as i64 + bits) as f32, "int intrinsics, lane {lane}");
        let block = &xs[blk * nt..(blk + 1) * nt];
        let bmax = block.iter().map(|&t| (t * 1000.0) as i32).max().unwrap();
        let big = block.iter().any(|&t| t > 0.99) as i32;
        assert_eq!(o[15], bmax as f32 + 10000.0 * big as f32 + 100000.0, "atomicMax / syncthreads_or/and");
    }
}

#[test]
fn shared_arrays_of_half_types_work() {
    use half::{bf16, f16};
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    launch(&d, "simtest_half_shared", cfg(1, 64, 0), p).unwrap();
    let xs = x.to_host();
    let got = out.to_host();
    for t in 0..64 {
        let v = xs[63 - t];
        assert_eq!(got[t], f16::from_f32(v).to_f32() + bf16::from_f32(v).to_f32(), "t={t}");
    }
}

#[test]
fn trap_is_reported() {
    let d = dev();
    let (x, out) = bug_setup(&d, 64);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 64, aux: 0 };
    let msg = expect_violation(launch(&d, "simbug_trap", cfg(1, 64, 0), p), "simbug_trap", Violation::Trap);
    assert!(msg.contains("thread (3,0,0)"), "{msg}");
    // The simulator is usable afterwards.
    launch(&d, "simtest_shared_norace", cfg(1, 64, 0), p).unwrap();
}

/// Resident set size of this process in bytes (`/proc/self/statm`, second field, in pages).
fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("statm field 2");
    pages * 4096
}

#[test]
fn lazy_allocations_cost_only_the_pages_touched() {
    const GIB: usize = 1 << 30;
    let d = dev();
    d.set_lazy_alloc(true);
    assert!(d.lazy_alloc());
    // Two 1 GiB buffers; a kernel reads 64 floats near the end of one and writes 64 into the other.
    let before = rss_bytes();
    let x = d.alloc(GIB).unwrap();
    let out = d.alloc(GIB).unwrap();
    let off = (GIB - 4096) as u64;
    let xs = random(64, 21);
    let xb: Vec<u8> = xs.iter().flat_map(|v| v.to_ne_bytes()).collect();
    d.copy_htod(&xb, x + off).unwrap();
    let p = SimTestParams { x: x + off, out: out + off, n: 64, aux: 0 };
    launch(&d, "simtest_shared_norace", cfg(1, 64, 0), p).unwrap();
    let got: Vec<f32> = d.download(out + off, 64).unwrap();
    for t in 0..64 {
        assert_eq!(got[t], xs[(t + 1) % 64], "t={t}");
    }
    // Bytes nobody wrote read as zero in lazy mode (the default mode fills them with 0xff).
    assert_eq!(d.download::<u32>(x + 12345 * 4, 4).unwrap(), vec![0; 4]);
    // A filled allocation would have made 2 GiB resident; the touched pages are a few KiB (other
    // tests of this binary run meanwhile, hence the generous bound).
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 256 << 20, "2 GiB of lazy allocations made {grown} bytes resident");
    // Bounds are still checked against the requested size.
    assert!(d.copy_htod(&[0u8; 8], x + GIB as u64 - 4).is_err());
    assert!(d.free(x) && d.free(out));
    assert_eq!(d.live_allocations(), 0);
    // Where the kernel allows overcommit of untouched memory (not mode 2, strict accounting),
    // 64 GiB of address space on any host, two pages touched.
    let mode = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    if mode.trim() != "2" {
        let big = 64 * GIB;
        let a = d.alloc(big).unwrap();
        d.copy_htod(&7u32.to_ne_bytes(), a).unwrap();
        d.copy_htod(&9u32.to_ne_bytes(), a + big as u64 - 4).unwrap();
        assert_eq!(d.download::<u32>(a, 1).unwrap(), vec![7]);
        assert_eq!(d.download::<u32>(a + big as u64 - 4, 1).unwrap(), vec![9]);
        assert!(d.free(a));
    }
    // Back in the default mode, new allocations are filled with 0xff again.
    d.set_lazy_alloc(false);
    let e = d.alloc(64).unwrap();
    assert_eq!(d.download::<u32>(e, 2).unwrap(), vec![u32::MAX; 2]);
}

/// tf32 operand as the tensor core reads it: the 13 low mantissa bits dropped.
fn tf32_trunc(x: f32) -> f64 {
    f32::from_bits(x.to_bits() & 0xffff_e000) as f64
}

/// cvt.rna.tf32.f32: to nearest, ties away from zero (finite inputs).
fn tf32_rna(x: f32) -> f64 {
    f32::from_bits((x.to_bits() + 0x1000) & 0xffff_e000) as f64
}

/// Runs one of the `simtest_mma_*` kernels on random A [16][16], B [16][8], C [16][8] and returns
/// (D from the kernel, D = A'·B' + C in f64 from the operands as the kernel hands them to the MMA
/// (`ra`, `rb`), Σ_k |A'_ik B'_kj| + |C_ij| per element for the fp32 summation bound).
fn mma_case(name: &str, k: usize, ra: fn(f32) -> f64, rb: fn(f32) -> f64, seed: u64) -> (Vec<f32>, Vec<f64>, Vec<f64>) {
    let d = dev();
    let xs = random(512, seed);
    let (a, b, c) = (&xs[..256], &xs[256..384], &xs[384..512]);
    let x = Buf::from_host(&d, &xs);
    let out = Buf::from_host(&d, &[f32::NAN; 128]);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 0, aux: 0 };
    launch(&d, name, cfg(1, 32, 0), p).unwrap();
    let (mut want, mut mag) = (vec![0f64; 128], vec![0f64; 128]);
    for i in 0..16 {
        for j in 0..8 {
            let (mut s, mut m) = (c[i * 8 + j] as f64, (c[i * 8 + j] as f64).abs());
            for kk in 0..k {
                let pr = ra(a[i * 16 + kk]) * rb(b[kk * 8 + j]);
                s += pr;
                m += pr.abs();
            }
            want[i * 8 + j] = s;
            mag[i * 8 + j] = m;
        }
    }
    (out.to_host(), want, mag)
}

/// The largest |D − want| / bound over the tile; ≤ 1 passes. The bound: every product of two tf32
/// (11-bit significands) or bf16 (8-bit) operands is exact in fp32, so the only error is the fp32
/// sum of K + 1 terms: |ΔD| ≤ γ_K · (|C| + Σ|A·B|), γ_K = K·u/(1 − K·u), u = 2^-24.
fn mma_excess(got: &[f32], want: &[f64], mag: &[f64], k: usize) -> f64 {
    let u = 2f64.powi(-24);
    let gamma = k as f64 * u / (1.0 - k as f64 * u);
    got.iter()
        .zip(want.iter().zip(mag))
        .map(|(&g, (&w, &m))| (g as f64 - w).abs() / (gamma * m))
        .fold(0.0, f64::max)
}

#[test]
fn warp_mma_matches_host_matrix_product_in_ptx_fragment_layout() {
    // tf32 m16n8k8: A rounded by cvt.rna in the kernel, B raw (the MMA drops its low bits).
    for seed in [11, 12] {
        let (got, want, mag) = mma_case("simtest_mma_tf32", 8, tf32_rna, tf32_trunc, seed);
        let e = mma_excess(&got, &want, &mag, 8);
        assert!(e <= 1.0, "tf32 mma: error {e} × the fp32 summation bound");
        // The operand rounding must be the tf32 one: the product of the unrounded fp32 operands
        // differs from D by ~2^-11 relative, hundreds of times the summation bound.
        let (_, exact, _) = mma_case("simtest_mma_tf32", 8, |x| x as f64, |x| x as f64, seed);
        assert!(mma_excess(&got, &exact, &mag, 8) > 10.0, "tf32 mma: operands were not rounded to tf32");
    }
    let bf = |x: f32| half::bf16::from_f32(x).to_f64();
    let (got, want, mag) = mma_case("simtest_mma_bf16", 16, bf, bf, 13);
    let e = mma_excess(&got, &want, &mag, 16);
    assert!(e <= 1.0, "bf16 mma: error {e} × the fp32 summation bound");
    // f16 m16n8k16 (the bf16 layout): A scaled by 1/256 in the kernel, so a few operands are binary16
    // subnormals; read as bf16 instead, the same registers would give a product far off.
    let h = |x: f32| half::f16::from_f32(x).to_f64();
    let ha = |x: f32| half::f16::from_f32(x / 256.0).to_f64();
    for seed in [15, 16] {
        let (got, want, mag) = mma_case("simtest_mma_f16", 16, ha, h, seed);
        let e = mma_excess(&got, &want, &mag, 16);
        assert!(e <= 1.0, "f16 mma: error {e} × the fp32 summation bound");
        let (_, as_bf16, _) = mma_case("simtest_mma_f16", 16, |x| half::bf16::from_f32(x / 256.0).to_f64(), bf, seed);
        assert!(mma_excess(&got, &as_bf16, &mag, 16) > 10.0, "f16 mma: operands were not read as binary16");
    }
}

#[test]
fn warp_mma_f64_matches_host_matrix_product_in_ptx_fragment_layout() {
    // m8n8k4 f64: A [8][4], B [4][8], C [8][8] from f32 values, whose products are exact in f64,
    // so the only error is the f64 sum of 5 terms: |ΔD| ≤ γ_4 · (|C| + Σ|A·B|), u = 2^-53. A
    // fragment in the wrong place (A's row and column swapped, B read row-major) moves whole
    // products, far beyond that.
    let d = dev();
    for seed in [21, 22] {
        let xs = random(512, seed);
        let (a, b, c) = (&xs[..32], &xs[32..64], &xs[64..128]);
        let x = Buf::from_host(&d, &xs);
        let out = Buf::from_host(&d, &[f32::NAN; 128]);
        let p = SimTestParams { x: x.addr(), out: out.addr(), n: 0, aux: 0 };
        launch(&d, "simtest_mma_f64", cfg(1, 32, 0), p).unwrap();
        let raw: Vec<f32> = out.to_host();
        let got: Vec<f64> = raw.chunks(2).map(|w| f64::from_bits((w[0].to_bits() as u64) | ((w[1].to_bits() as u64) << 32))).collect();
        let u = 2f64.powi(-53);
        let gamma = 4.0 * u / (1.0 - 4.0 * u);
        for i in 0..8 {
            for j in 0..8 {
                let (mut s, mut m) = (c[i * 8 + j] as f64, (c[i * 8 + j] as f64).abs());
                for k in 0..4 {
                    let pr = a[i * 4 + k] as f64 * b[k * 8 + j] as f64;
                    s += pr;
                    m += pr.abs();
                }
                let g = got[i * 8 + j];
                assert!((g - s).abs() <= gamma * m, "f64 mma D[{i}][{j}] = {g}, want {s} (bound {})", gamma * m);
            }
        }
    }
}

#[test]
fn planted_mma_fragment_layout_bug_is_caught() {
    let (got, want, mag) = mma_case("simtest_mma_tf32_layout_bug", 8, tf32_rna, tf32_trunc, 14);
    let e = mma_excess(&got, &want, &mag, 8);
    assert!(e > 1e3, "a swapped A fragment must give a wrong product (error {e} × bound)");
    // An MMA that half the warp skips is a violation (mma.sync is .aligned).
    let d = dev();
    let (x, out) = bug_setup(&d, 512);
    let p = SimTestParams { x: x.addr(), out: out.addr(), n: 0, aux: 0 };
    let msg = expect_violation(
        launch(&d, "simbug_mma_half_warp", cfg(1, 32, 0), p),
        "simbug_mma_half_warp",
        Violation::WarpDivergence,
    );
    assert!(msg.contains("mma.sync"), "{msg}");
}
