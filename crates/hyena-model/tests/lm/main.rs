//! Language-model tests, one binary (the model code is generic, so every test binary would
//! recompile it): golden conformance, finite differences of each layer, the optimizer, resume, and
//! bad checkpoints.

mod bad_checkpoints;
mod bad_input;
mod fuzz;
mod golden_lm;
mod layers_fd;
mod train_optim;

#[cfg(any(feature = "cuda", feature = "sim"))]
#[path = "../../../../tests/common/mod.rs"]
mod common;
