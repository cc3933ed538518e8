//! cudasim's self-test and planted-bug kernels (`crates/cudasim/tests/kernels/*.cu`), as a kernel
//! library for cudasim's integration tests only (a dev-dependency: never linked into a release
//! build of anything).

cudasim::include_kernels!("testkernels");

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
