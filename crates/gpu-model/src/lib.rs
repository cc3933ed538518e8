//! A model of what a kernel launch would cost on an NVIDIA sm_80/sm_90 GPU, built from inputs that
//! need no GPU: the kernel's SASS (nvdisasm of the cubin nvcc writes), its static resources (ptxas),
//! and per-launch counters from a CPU simulator (global sectors, shared wavefronts, per-source-line
//! execution counts). Everything it prints is a model, not a GPU measurement.
//!
//! - [`sass`]: parse `nvdisasm -gi -c` listings, classify opcodes into pipes, and estimate the
//!   executed warp-instructions of a launch by joining the SASS with per-line execution counts.
//! - [`occupancy`]: resident blocks and warps per SM (the CUDA occupancy rules for sm_80 / sm_90).
//! - [`model`]: predicted time per launch on H100-SXM / H200 as the largest of several bounds.
//!
//! The crate has no dependency on any simulator: its inputs are plain structs ([`sass::LineExec`],
//! [`model::LaunchWork`]) that a caller fills from whatever produced the counts.

pub mod model;
pub mod occupancy;
pub mod sass;

/// What can go wrong with caller input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    /// The SASS listing is not in the form nvdisasm writes.
    #[error("SASS listing, line {line}: {msg}")]
    Listing { line: usize, msg: String },
    /// A launch shape or resource figure the rules cannot accept.
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// Label printed with every predicted figure.
pub const MODEL_LABEL: &str = "model, not a GPU measurement";
