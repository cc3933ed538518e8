//! The integration tests of hyena-kernels, one test binary with one module per former test file.
//! Each test binary linked the crate, the simulator's kernel library and every dependency again and
//! recompiled what it instantiated of the generic code: on CI's two cores that cost more than one
//! module does (docs/BUILD.md, "Where CI time goes"). New tests go into one of these modules, or a
//! new module here, not into a new `tests/*.rs` file.

#[path = "../common/mod.rs"]
mod common;

mod cpu_ops;
mod device_helpers;
mod fftconv;
mod fftconv_long;
mod filter;
mod gating;
mod gemm;
mod kernel_index;
mod safe_api;
mod shortconv;
mod sim_checks;
mod sim_gating;
mod sim_chains;
