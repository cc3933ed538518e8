//! cudasim's self-test and planted-bug kernels (`crates/cudasim/tests/kernels/*.cu`), as a kernel
//! library for cudasim's integration tests only (a dev-dependency: never linked into a release
//! build of anything).

cudasim::include_kernels!("testkernels");

/// gpu-model's microkernels (`crates/gpu-model/tests/kernels/micro.cu`, wrapped by `micro_sim.cu`:
/// kernel `sim_micro_<name>` runs `micro_<name>`), for the instruction-estimate tests that join the
/// simulator's line counts with the kernels' SASS.
pub mod micro {
    cudasim::include_kernels!("micro");

    /// `MicroParams` of micro_sim.cu: output, input, trip count (`micro_looped` only).
    pub fn params(y: u64, x: u64, n: i32) -> Vec<u8> {
        cudasim::Params::new().u64(y).u64(x).i32(n).finish()
    }
}

/// The params struct every test kernel takes (`SimTestParams` in tests/kernels/simtest.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTestParams {
    /// const float*, input
    pub x: u64,
    /// float*, output
    pub out: u64,
    /// number of input elements (meaning per kernel)
    pub n: u64,
    /// float* or int*, second output / scratch (per kernel)
    pub aux: u64,
}

impl SimTestParams {
    /// The params blob.
    pub fn bytes(&self) -> Vec<u8> {
        cudasim::Params::new().u64(self.x).u64(self.out).u64(self.n).u64(self.aux).finish()
    }
}
