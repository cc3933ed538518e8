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
    assert!(full.barriers > 0 && full.math.sincos > 0 && full.shared.load_wavefronts > 0, "{full:?}");
    assert!(!full.lines.is_empty() && full.lines.iter().any(|l| l.frames[0].0.ends_with("fftconv.cu")));
}
