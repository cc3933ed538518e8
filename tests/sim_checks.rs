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
    // The simulator's test kernels are not part of this crate.
    assert!(reg.keys().all(|n| n.starts_with("hyena_")), "{:?}", reg.keys().collect::<Vec<_>>());
}
