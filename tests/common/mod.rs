//! Shared test helpers for the kernel tests.
//!
//! [`devices`] returns the CUDA GPU (feature `cuda`, when a driver and a GPU are present) and the
//! SIMT simulator (feature `sim`), one shared instance of each per test binary, and prints a
//! one-line skip reason for each that is absent (once per test binary, straight to stderr so that
//! it shows without `--nocapture`).
//!
//! The comparison helpers: [`Storage`] (the kernels' storage types and their error bounds),
//! [`random`] inputs, [`widen`] to f64, [`rel_l2`] / [`assert_close`] against an f64 reference,
//! and NaN-[`poisoned`] output buffers with a [`MARGIN`] behind each view that [`read_checked`]
//! verifies was not written. [`fftconv`] holds the gated FFT convolution checks shared by
//! `tests/all/fftconv.rs` and `tests/all/fftconv_long.rs`.
#![allow(dead_code)]

#[cfg(any(feature = "cuda", feature = "sim"))]
pub mod fftconv;

use half::{bf16, f16};
use hyena_kernels::device::{Device, DeviceBuffer, DeviceKind, DeviceScalar};
use rand::{rngs::StdRng, Rng};
use std::io::Write;
use std::sync::{Arc, OnceLock};

fn note(msg: &str) {
    // Written to the real stderr on purpose: libtest captures only the print macros.
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn open() -> Vec<Arc<dyn Device>> {
    let (v, skipped) = hyena_kernels::device::available();
    for d in &v {
        match d.kind() {
            DeviceKind::Cuda => note(&format!("[devices] running on CUDA: {}", d.name())),
            DeviceKind::Sim => note(&format!("[devices] running on the simulator: {}", d.name())),
        }
    }
    for s in skipped {
        note(&format!("[devices] skipping {s}"));
    }
    if v.is_empty() {
        note("[devices] no device available: device tests check nothing in this build");
    }
    v
}

/// Every device available to this build and machine (shared per test binary).
pub fn devices() -> Vec<Arc<dyn Device>> {
    static DEVICES: OnceLock<Vec<Arc<dyn Device>>> = OnceLock::new();
    DEVICES.get_or_init(open).clone()
}

/// Storage types of the kernels and the bound on the relative L2 error of each output tensor
/// against an f64 reference run on the same storage-rounded inputs (the test files' module docs
/// give the per-kernel reasoning):
/// - f32: 1e-5. The kernels compute in fp32 (a few ulps per output, ≈1e-7, times at most a
///   log2(n) factor for FFTs and tree sums); 1e-5 leaves margin while catching any indexing bug.
/// - bf16/f16: 1e-2. The same fp32 arithmetic plus one rounding of each output to the storage type
///   (≤ 2⁻⁹ relative for bf16, 2⁻¹² for f16).
pub trait Storage: DeviceScalar {
    const BOUND: f64;
    /// Round an f32 to this type (round to nearest even).
    fn from_f32(x: f32) -> Self;
}
impl Storage for f32 {
    const BOUND: f64 = 1e-5;
    fn from_f32(x: f32) -> Self {
        x
    }
}
impl Storage for bf16 {
    const BOUND: f64 = 1e-2;
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
}
impl Storage for f16 {
    const BOUND: f64 = 1e-2;
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
}

/// The `kernels/` directory the tests read sources from: the working directory's first (cargo
/// runs tests from the package root; scripts/gpu-check runs the carried test binaries from the
/// repository root), else the one this package was built from.
pub fn kernels_dir() -> std::path::PathBuf {
    let here = std::path::Path::new("kernels");
    if here.join("hyena_params.h").is_file() {
        here.to_path_buf()
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels")
    }
}

/// Elements behind each poisoned output view that must still be NaN after a launch.
pub const MARGIN: usize = 3;

/// `n` values uniform in [-1, 1) (drawn as f32), rounded to `T`.
pub fn random<T: Storage>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f32(rng.random_range(-1.0f32..1.0))).collect()
}

/// Widen to f64 (exact).
pub fn widen<T: DeviceScalar>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// ‖got − want‖₂ / ‖want‖₂.
pub fn rel_l2(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(g, w)| (g - w) * (g - w)).sum();
    let den: f64 = want.iter().map(|w| w * w).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Assert `got` has the length of `want`, is finite everywhere (no unwritten NaN poison) and is
/// within relative L2 error `bound` of it; returns the error.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], bound: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert!(got.iter().all(|x| x.is_finite()), "{what}: non-finite output (unwritten NaN poison?)");
    let err = rel_l2(got, want);
    assert!(err <= bound, "{what}: relative L2 error {err:.3e} > {bound:.0e}");
    err
}

/// A NaN-filled device buffer of `n` elements plus [`MARGIN`] (the output view is `0..n`).
pub fn poisoned<T: DeviceScalar>(dev: &Arc<dyn Device>, n: usize) -> DeviceBuffer<T> {
    DeviceBuffer::from_host(dev, &vec![T::from_f64(f64::NAN); n + MARGIN]).unwrap()
}

/// The first `n` elements of `buf`, widened to f64; panics if anything behind them (the margin of a
/// [`poisoned`] buffer) is no longer NaN.
pub fn read_checked<T: DeviceScalar>(what: &str, buf: &DeviceBuffer<T>, n: usize) -> Vec<f64> {
    let all = widen(&buf.to_host().unwrap());
    assert!(all[n..].iter().all(|x| x.is_nan()), "{what}: wrote past the output view");
    all[..n].to_vec()
}
