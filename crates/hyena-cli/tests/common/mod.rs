//! Helpers shared by the `hyena` CLI tests.

use std::path::PathBuf;

/// The `hyena` binary under test: `$HYENA_BIN` when set, else the one cargo built with this test.
/// The GPU bundle (`scripts/gpu-check`) runs these test binaries on a machine where cargo's build
/// folder, whose absolute path `CARGO_BIN_EXE_hyena` holds, does not exist.
pub fn hyena_bin() -> PathBuf {
    std::env::var_os("HYENA_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hyena")))
}
