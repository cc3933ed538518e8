//! Shared test helpers: the devices to run kernel tests on.
//!
//! [`devices`] returns the CUDA GPU (feature `cuda`, when a driver and a GPU are present) and the
//! SIMT simulator (feature `sim`), one shared instance of each per test binary, and prints a
//! one-line skip reason for each that is absent (once per test binary, straight to stderr so that
//! it shows without `--nocapture`).
#![allow(dead_code)]

use hyena_kernels::device::{Device, DeviceKind};
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
