//! The `hyena` CLI's integration tests, one test binary with one module per former test file (each
//! test binary linked hyena-model, hyena-kernels and every dependency again: docs/BUILD.md, "Where
//! CI time goes"). New tests go into one of these modules, or a new module here.

#[path = "../common/mod.rs"]
mod common;
#[path = "../magnitude/mod.rs"]
mod magnitude;

mod bad_input;
mod bench_device;
mod kernels_profile;
mod run_lm;
mod run_operator;
mod train_recall;
