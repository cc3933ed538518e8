//! # hyena-model
//!
//! The Hyena operator (Poli et al. 2023) built on `hyena-kernels`: forward and backward, weights
//! loaded from safari / HyenaDNA safetensors checkpoints under their original names.

pub mod config;
pub mod error;
pub mod operator;
pub mod tensors;

pub use config::OperatorConfig;
pub use error::{ModelError, Result};
pub use operator::HyenaOperator;
pub use tensors::TensorFile;
