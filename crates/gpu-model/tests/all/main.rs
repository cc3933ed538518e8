//! gpu-model's integration tests, one test binary with one module per former test file (each test
//! binary linked the simulator and its test kernels again: docs/BUILD.md, "Where CI time goes").

mod estimate;
mod occupancy_model;
mod sass_listing;
