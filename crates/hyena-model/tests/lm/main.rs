//! hyena-model's integration tests, one binary (the model code is generic, so every test binary
//! would recompile it, and link everything again: docs/BUILD.md, "Where CI time goes"): the
//! language model (golden conformance, finite differences of each layer, the optimizer, resume, bad
//! checkpoints) and the operator (golden files, CPU vs devices, long-sequence accuracy). New tests
//! go into one of these modules, or a new module here.

mod bad_checkpoints;
mod bad_input;
mod fuzz;
mod golden_lm;
mod layers_fd;
mod train_optim;

mod golden_operator;
mod long_accuracy;
mod limits;
mod operator;

#[path = "../../../../tests/common/mod.rs"]
mod common;
