//! A crate with one CUDA kernel (`kernels/saxpy.cu`) that tests it on the CPU with cudasim, as any
//! Rust crate with CUDA kernels could: `build.rs` calls `cudasim::build::Builder`, the crate
//! includes the generated kernel library, and [`saxpy`] launches by name with a params blob.

use cudasim::{LaunchConfig, Params, SimDevice, SimError};

cudasim::include_kernels!("saxpy");

/// A simulator device running this crate's kernels.
pub fn device() -> SimDevice {
    SimDevice::new(&KERNELS)
}

/// `y = a * x + y` on the simulator.
pub fn saxpy(dev: &SimDevice, a: f32, x: &[f32], y: &mut [f32]) -> Result<(), SimError> {
    if x.len() != y.len() || u32::try_from(x.len()).is_err() {
        return Err(SimError::Buffer { what: "saxpy".into(), problem: format!("x has {} elements, y {}", x.len(), y.len()) });
    }
    let n = x.len() as u32;
    let dx = dev.upload(x)?;
    let dy = dev.upload(y)?;
    let params = Params::new().u64(dx).u64(dy).f32(a).u32(n).finish();
    let r = dev.launch("saxpy", &LaunchConfig::linear(n.div_ceil(128).max(1), 128, 0), &params);
    let out = r.and_then(|()| dev.download::<f32>(dy, y.len()));
    dev.free(dx);
    dev.free(dy);
    y.copy_from_slice(&out?);
    Ok(())
}
