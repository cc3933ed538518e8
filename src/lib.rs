//! # hyena-kernels
//!
//! Hand-written CUDA kernels for the Hyena operator (Poli et al. 2023), the safe Rust API that
//! launches them, and the CPU reference every kernel is checked against.
//!
//! - [`cpu`]: the CPU reference and CPU backend (causal FFT long convolution, implicit filter,
//!   short depthwise convolution, gating, linear projections), forward and backward, f32 and f64.
//! - [`device`]: one launch path shared by the GPU (feature `cuda`) and the SIMT simulator
//!   (feature `sim`).
//! - [`kernels`] (features `cuda`/`sim`): the kernel index and the generated launch-params structs.
//! - [`ops`] (features `cuda`/`sim`): safe launch wrappers over `Arc<dyn Device>`.

pub mod cpu;
pub mod device;
pub mod error;
#[cfg(any(feature = "cuda", feature = "sim"))]
pub mod kernels;
#[cfg(any(feature = "cuda", feature = "sim"))]
pub mod ops;
pub mod scalar;

pub use error::{HyenaError, Result};
pub use scalar::{rel_l2, Scalar};
