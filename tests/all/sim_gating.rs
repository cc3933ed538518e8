//! The real gating kernels (`kernels/gating.cu`) on the SIMT simulator, explicitly: through the
//! shared `ops::gating` wrappers vs `cpu::gating` in both thread orders, and launched directly
//! with a params struct that reaches past its buffers (must be reported, not read host memory).
#![cfg(feature = "sim")]

use half::bf16;
use hyena_kernels::cpu::gating as cpu;
use hyena_kernels::device::sim::{SimDevice, SimViolation, ThreadOrder};
use hyena_kernels::device::{as_bytes, Device, DeviceBuffer, LaunchConfig};
use hyena_kernels::HyenaError;
use hyena_kernels::kernels::HyenaGateFwdParams;
use hyena_kernels::ops::gating::{gate_bwd, gate_fwd};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::Arc;

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0.25f32..2.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 }).collect()
}

#[test]
fn gating_f32_on_the_simulator_matches_cpu_in_both_orders() {
    for order in [ThreadOrder::Forward, ThreadOrder::Reverse] {
        let dev: Arc<dyn Device> = Arc::new(SimDevice::new().with_thread_order(order));
        // 1037: vector path plus a tail; offset 1: the element-by-element path.
        for (n, off) in [(1037usize, 0usize), (1037, 1), (5, 0)] {
            let a = random(n + off, 10);
            let b = random(n + off, 11);
            let gy = random(n + off, 12);
            let da = DeviceBuffer::from_host(&dev, &a).unwrap();
            let db = DeviceBuffer::from_host(&dev, &b).unwrap();
            let dgy = DeviceBuffer::from_host(&dev, &gy).unwrap();
            let mut dout = DeviceBuffer::from_host(&dev, &vec![f32::NAN; n + off]).unwrap();
            let mut dga = DeviceBuffer::from_host(&dev, &vec![f32::NAN; n + off]).unwrap();
            let mut dgb = DeviceBuffer::from_host(&dev, &vec![f32::NAN; n + off]).unwrap();
            let r = off..off + n;
            gate_fwd(&dev, da.view(r.clone()).unwrap(), db.view(r.clone()).unwrap(), dout.view_mut(r.clone()).unwrap())
                .unwrap();
            gate_bwd(
                &dev,
                da.view(r.clone()).unwrap(),
                db.view(r.clone()).unwrap(),
                dgy.view(r.clone()).unwrap(),
                dga.view_mut(r.clone()).unwrap(),
                dgb.view_mut(r.clone()).unwrap(),
            )
            .unwrap();
            let mut want = vec![0.0f32; n];
            let mut wga = vec![0.0f32; n];
            let mut wgb = vec![0.0f32; n];
            cpu::gate_fwd(&a[r.clone()], &b[r.clone()], &mut want).unwrap();
            cpu::gate_bwd(&a[r.clone()], &b[r.clone()], &gy[r.clone()], &mut wga, &mut wgb).unwrap();
            // One f32 multiply per output: bit-exact.
            assert_eq!(&dout.to_host().unwrap()[r.clone()], &want[..], "{order:?} n={n} off={off}");
            assert_eq!(&dga.to_host().unwrap()[r.clone()], &wga[..], "{order:?} n={n} off={off}");
            assert_eq!(&dgb.to_host().unwrap()[r.clone()], &wgb[..], "{order:?} n={n} off={off}");
            if off > 0 {
                assert!(dout.to_host().unwrap()[0].is_nan(), "wrote before the view");
            }
        }
    }
}

#[test]
fn gating_bf16_on_the_simulator_rounds_once() {
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new());
    let n = 300;
    let a: Vec<bf16> = random(n, 20).into_iter().map(bf16::from_f32).collect();
    let b: Vec<bf16> = random(n, 21).into_iter().map(bf16::from_f32).collect();
    let da = DeviceBuffer::from_host(&dev, &a).unwrap();
    let db = DeviceBuffer::from_host(&dev, &b).unwrap();
    let mut dout = DeviceBuffer::from_host(&dev, &vec![bf16::NAN; n]).unwrap();
    gate_fwd(&dev, &da, &db, &mut dout).unwrap();
    let got = dout.to_host().unwrap();
    for i in 0..n {
        assert_eq!(got[i], bf16::from_f32(a[i].to_f32() * b[i].to_f32()), "i={i}");
    }
}

#[test]
fn gating_launched_past_its_buffers_is_reported() {
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new());
    let n = 64usize;
    let da = DeviceBuffer::from_host(&dev, &random(n, 1)).unwrap();
    let db = DeviceBuffer::from_host(&dev, &random(n, 2)).unwrap();
    let dout = DeviceBuffer::from_host(&dev, &vec![f32::NAN; n]).unwrap();
    // n claims 8 more elements than the buffers hold: the kernel's reads run past `a`.
    let p = HyenaGateFwdParams { a: da.addr(), b: db.addr(), out: dout.addr(), n: n as u64 + 8 };
    let cfg = LaunchConfig { grid: (1, 1, 1), block: (32, 1, 1), shared_bytes: 0 };
    // SAFETY: the simulator checks every access of the kernel (the overrun is reported, not
    // performed); da, db, dout are held here and used by nothing else.
    let err = unsafe { dev.launch_raw("hyena_gate_fwd_f32", cfg, as_bytes(std::slice::from_ref(&p))) }.unwrap_err();
    match &err {
        HyenaError::SimViolation { kernel, kind, .. } => {
            assert_eq!((kernel.as_str(), *kind), ("hyena_gate_fwd_f32", SimViolation::OutOfBoundsGlobal), "{err}")
        }
        other => panic!("expected a simulator violation, got {other}"),
    }
    assert!(err.to_string().contains("hyena_gate_fwd_f32"), "{err}");
    // A one-block grid covers any n through the grid-stride loop.
    let p = HyenaGateFwdParams { n: n as u64, ..p };
    // SAFETY: n elements of da, db, dout, held here.
    unsafe { dev.launch_raw("hyena_gate_fwd_f32", cfg, as_bytes(std::slice::from_ref(&p))) }.unwrap();
    assert!(dout.to_host().unwrap().iter().all(|v| v.is_finite()));
}
