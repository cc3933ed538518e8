//! The CPU reference and CPU backend: every kernel is checked against these functions.
//!
//! All functions are generic over [`crate::Scalar`] (f32, f64), take flat row-major slices with the
//! layout stated on each function, check every length, and return typed errors.

pub mod gating;
pub mod fftconv;
pub mod linear;
pub mod reduce;
pub mod filter;
pub mod shortconv;
pub mod vmath;
