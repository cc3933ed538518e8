//! # hyena-model
//!
//! The Hyena operator (Poli et al. 2023) built on `hyena-kernels`: forward and backward, weights
//! loaded from safari / HyenaDNA safetensors checkpoints under their original names; the HyenaDNA
//! language model ([`lm`]) with its layers ([`layers`]), AdamW training ([`train`]) and the
//! associative recall task ([`recall`]). With feature `cuda` or `sim`, [`device_operator`] runs the
//! operator's passes on the CUDA device abstraction (a GPU or the SIMT simulator).
//!
//! # Example
//!
//! A small Hyena operator (width 4, order 2) on one sequence of length 16: forward, then backward
//! from an output gradient, on the CPU; then the same passes through the CUDA kernels on a device
//! ([`device_operator`]), which agree with the CPU:
//!
//! ```
//! use hyena_model::{HyenaOperator, OperatorConfig};
//! use rand::SeedableRng;
//!
//! let cfg = OperatorConfig { d_model: 4, l_max: 16, order: 2, filter_order: 8, ..OperatorConfig::default() };
//! let op = HyenaOperator::<f32>::init(&cfg, &mut rand::rngs::StdRng::seed_from_u64(0))?;
//! let (b, l) = (1, 16);
//! let u: Vec<f32> = (0..b * l * cfg.d_model).map(|i| (i as f32 * 0.37).sin()).collect(); // [B, L, D]
//! let (y, cache) = op.forward(&u, b, l)?; // y: [B, L, D]
//! let grad_y = vec![1.0f32; y.len()];
//! let mut grads = op.zeros_like(); // the parameter gradients accumulate here
//! let grad_u = op.backward(&cache, &grad_y, &mut grads)?;
//! assert_eq!((y.len(), grad_u.len()), (u.len(), u.len()));
//!
//! // On a device: the SIMT simulator here (feature `sim`); `DeviceKind::Cuda.open()` gives
//! // GPU 0 in a build with feature `cuda`.
//! #[cfg(feature = "sim")]
//! {
//!     use hyena_kernels::device::DeviceKind;
//!     use hyena_model::device_operator::DeviceOperator;
//!     let dev = DeviceKind::Sim.open()?;
//!     let on_dev = DeviceOperator::<f32, f32>::new(op.clone(), dev)?; // f32 storage
//!     let (y_dev, cache_dev) = on_dev.forward(&u, b, l)?;
//!     let mut grads_dev = op.zeros_like();
//!     let grad_u_dev = on_dev.backward(&cache_dev, &grad_y, &mut grads_dev)?;
//!     assert!(hyena_kernels::rel_l2(&y_dev, &y) < 1e-5);
//!     assert!(hyena_kernels::rel_l2(&grad_u_dev, &grad_u) < 1e-5);
//! }
//! # Ok::<(), hyena_model::ModelError>(())
//! ```

#![warn(missing_docs)]
// Library code answers caller input with typed errors, never a panic (issue 12): `cargo clippy`
// flags any unwrap/expect/panic! outside tests (docs/BUILD.md, "No panics in library code").
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
#[cfg(any(feature = "cuda", feature = "sim"))]
pub mod device_operator;
#[cfg(any(feature = "cuda", feature = "sim"))]
mod device_reduce;
pub mod error;
pub mod layers;
pub mod lm;
pub mod operator;
pub mod pool;
pub mod recall;
mod recurrence;
pub mod spectra;
pub mod tensors;
pub mod train;

pub use config::OperatorConfig;
pub use error::{ModelError, Result};
pub use lm::{HyenaLm, LmConfig};
pub use operator::HyenaOperator;
pub use tensors::TensorFile;
