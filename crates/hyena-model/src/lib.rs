//! # hyena-model
//!
//! The Hyena operator (Poli et al. 2023) built on `hyena-kernels`: forward and backward, weights
//! loaded from safari / HyenaDNA safetensors checkpoints under their original names; the HyenaDNA
//! language model ([`lm`]) with its layers ([`layers`]), AdamW training ([`train`]) and the
//! associative recall task ([`recall`]). With feature `cuda` or `sim`, [`device_operator`] runs the
//! operator's passes on the CUDA device abstraction (a GPU or the SIMT simulator).

pub mod config;
#[cfg(any(feature = "cuda", feature = "sim"))]
pub mod device_operator;
#[cfg(any(feature = "cuda", feature = "sim"))]
mod device_reduce;
pub mod error;
pub mod layers;
pub mod lm;
pub mod operator;
pub mod recall;
pub mod tensors;
pub mod train;

pub use config::OperatorConfig;
pub use error::{ModelError, Result};
pub use lm::{HyenaLm, LmConfig};
pub use operator::HyenaOperator;
pub use tensors::TensorFile;
