//! The CPU reference and CPU backend: every kernel is checked against these functions.
//!
//! All functions are generic over [`crate::Scalar`] (f32, f64), take flat row-major slices with the
//! layout stated on each function, check every length, and return typed errors.

// The reference `src/cpu/<m>.rs` of every kernel module `kernels/<m>.cu`, declared by the build
// (build/modules.rs): a new kernel module is listed nowhere by hand.
include!(concat!(env!("OUT_DIR"), "/cpu_modules.rs"));
// Shared by the references and the model, with no kernel of their own.
// The fused conv's spectral step on the half-length spectrum (used by fftconv).
pub(crate) mod halfspec;
pub mod linear;
pub mod pool;
pub mod reduce;
pub mod vmath;
