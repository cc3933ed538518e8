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
//!
//! # Example
//!
//! The causal long convolution of the Hyena operator, `y = h ∗ u + D·u` per channel (batch 1,
//! 2 channels, length 8), forward and backward on the CPU; then the same through the CUDA kernels
//! on a device, which agree with the CPU:
//!
//! ```
//! use hyena_kernels::cpu::fftconv::{fftconv_bwd, fftconv_fwd};
//!
//! let (b, c, l) = (1, 2, 8);
//! let u: Vec<f32> = (0..b * c * l).map(|i| (i as f32 * 0.37).sin()).collect(); // [B, C, L]
//! let h: Vec<f32> = (0..c * l).map(|i| 0.8f32.powi((i % l) as i32)).collect(); // [C, L], decaying
//! let d = vec![0.5f32; c]; // [C]
//! let mut y = vec![0.0f32; b * c * l];
//! fftconv_fwd(&u, &h, &d, b, c, l, &mut y)?;
//! // y[t] = Σ_{s ≤ t} h[s]·u[t−s] + D·u[t]; at t = 0 that is (h[0] + D)·u[0], h[0] = 1.
//! assert!((y[0] - 1.5 * u[0]).abs() < 1e-6);
//! let grad_y = vec![1.0f32; b * c * l];
//! let g = fftconv_bwd(&u, &h, &d, &grad_y, b, c, l)?;
//! // dΣy/dD[0] = Σ_t u[t] over channel 0.
//! assert!((g.grad_d[0] - u[..l].iter().sum::<f32>()).abs() < 1e-5);
//!
//! // The same kernels on a device: the SIMT simulator here (feature `sim`);
//! // `DeviceKind::Cuda.open()` gives GPU 0 in a build with feature `cuda`.
//! #[cfg(feature = "sim")]
//! {
//!     use hyena_kernels::device::{DeviceBuffer, DeviceKind};
//!     use hyena_kernels::ops::fftconv::{gated_fftconv_bwd, gated_fftconv_fwd, GatedConvGradViews};
//!     let dev = DeviceKind::Sim.open()?;
//!     let (du, dh, dd) = (DeviceBuffer::from_host(&dev, &u)?, DeviceBuffer::from_host(&dev, &h)?, DeviceBuffer::from_host(&dev, &d)?);
//!     let mut dy = DeviceBuffer::<f32>::alloc(&dev, b * c * l)?;
//!     // No gates (`pre`, `post`): the plain convolution.
//!     gated_fftconv_fwd(&dev, &dh, &dd, &du, None, None, b, c, l, &mut dy)?;
//!     assert!(hyena_kernels::rel_l2(&dy.to_host()?, &y) < 1e-6);
//!     let dgy = DeviceBuffer::from_host(&dev, &grad_y)?;
//!     let mut gu = DeviceBuffer::<f32>::alloc(&dev, b * c * l)?;
//!     let mut gh = DeviceBuffer::<f32>::alloc(&dev, c * l)?;
//!     let mut gd = DeviceBuffer::<f32>::alloc(&dev, c)?;
//!     let grads = GatedConvGradViews {
//!         grad_v: gu.as_view_mut(),
//!         grad_pre: None,
//!         grad_post: None,
//!         grad_h: gh.as_view_mut(),
//!         grad_d: gd.as_view_mut(),
//!     };
//!     gated_fftconv_bwd(&dev, &dh, &dd, &du, None, None, &dgy, b, c, l, grads)?;
//!     assert!(hyena_kernels::rel_l2(&gu.to_host()?, &g.grad_u) < 1e-6);
//!     assert!(hyena_kernels::rel_l2(&gh.to_host()?, &g.grad_h) < 1e-6);
//!     assert!(hyena_kernels::rel_l2(&gd.to_host()?, &g.grad_d) < 1e-6);
//! }
//! # Ok::<(), hyena_kernels::HyenaError>(())
//! ```

#![warn(missing_docs)]
// Library code answers caller input with typed errors, never a panic (issue 12): `cargo clippy`
// flags any unwrap/expect/panic! outside tests (docs/BUILD.md, "No panics in library code").
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

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
