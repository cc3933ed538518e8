//! # hyena-kernels
//!
//! Hand-written CUDA kernels for the Hyena operator (Poli et al. 2023), the safe Rust API that
//! launches them, and the CPU reference every kernel is checked against.
//!
//! - [`cpu`]: the CPU reference and CPU backend (causal FFT long convolution, implicit filter,
//!   short depthwise convolution, gating, linear projections), forward and backward, f32 and f64.
//! - [`device`]: one launch path shared by the GPU (feature `cuda`) and the SIMT simulator
//!   (feature `sim`).

pub mod cpu;
pub mod device;
pub mod error;
pub mod scalar;

pub use error::{HyenaError, Result};
pub use scalar::{rel_l2, Scalar};
