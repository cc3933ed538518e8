//! The backend a command runs on: one type for `hyena run`, `bench` and `train-recall`, opened in
//! one place. A device kind this build lacks opens to the typed
//! [`HyenaError::NotCompiled`] of [`DeviceKind::open`] (as candle's stub CUDA backend), never
//! to a compile-time special case in each command.

use clap::ValueEnum;
use hyena_kernels::device::{Device, DeviceKind};
use hyena_kernels::{HyenaError, Scalar};
use hyena_model::{HyenaOperator, ModelError};
use std::sync::Arc;

/// Where the Hyena operators run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The CPU backend.
    Cpu,
    /// The CUDA device abstraction on the SIMT simulator (build feature `sim`; a path check: its
    /// times are not GPU times).
    Sim,
    /// The CUDA device abstraction on a GPU (build feature `cuda`).
    Cuda,
}

/// Arithmetic precision of the CPU parts (the device kernels store f32, bf16 or f16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    F32,
    F64,
}

impl Backend {
    /// The name on the command line and in output metadata.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Sim => "sim",
            Backend::Cuda => "cuda",
        }
    }

    /// The device kind, `None` for the CPU.
    pub fn device_kind(self) -> Option<DeviceKind> {
        match self {
            Backend::Cpu => None,
            Backend::Sim => Some(DeviceKind::Sim),
            Backend::Cuda => Some(DeviceKind::Cuda),
        }
    }

    /// The device of this backend (`None` for the CPU). A build without it gets
    /// [`HyenaError::NotCompiled`].
    pub fn open(self) -> Result<Option<Arc<dyn Device>>, HyenaError> {
        self.device_kind().map(DeviceKind::open).transpose()
    }

    /// [`Backend::open`] for a command line: a build without the backend is an error naming the
    /// flag (`--backend`, `--device`) that asked for it and the build that has it.
    pub fn open_for(self, flag: &str, command: &str) -> Result<Option<Arc<dyn Device>>, ModelError> {
        self.open().map_err(|e| match e {
            HyenaError::NotCompiled { feature } => ModelError::Config(self.rebuild_hint(flag, command, feature)),
            e => e.into(),
        })
    }

    /// "`flag` `name` needs a build with feature `feature` (how to build it)".
    pub fn rebuild_hint(self, flag: &str, command: &str, feature: &str) -> String {
        format!(
            "{flag} {} needs a build with feature `{feature}` (cargo run --release -p hyena-cli --features {feature} -- {command} …)",
            self.name()
        )
    }
}

/// The type of the Hyena operator on a device: [`DeviceOperator`] with f32 storage.
///
/// [`DeviceOperator`]: hyena_model::device_operator::DeviceOperator
#[cfg(any(feature = "cuda", feature = "sim"))]
pub type DeviceMixer<T> = hyena_model::device_operator::DeviceOperator<T, f32>;

/// Without device features no device opens ([`Backend::open`]); the CPU operator's type stands
/// in for the device operator's, and [`on_device`] is the stub that says what is missing.
#[cfg(not(any(feature = "cuda", feature = "sim")))]
pub type DeviceMixer<T> = HyenaOperator<T>;

/// The operator `op` on `dev`, f32 storage (the kernels' widest).
pub fn on_device<T: Scalar>(op: HyenaOperator<T>, dev: &Arc<dyn Device>) -> Result<DeviceMixer<T>, ModelError> {
    #[cfg(any(feature = "cuda", feature = "sim"))]
    return DeviceMixer::new(op, dev.clone());
    #[cfg(not(any(feature = "cuda", feature = "sim")))]
    {
        drop(op);
        Err(HyenaError::NotCompiled { feature: dev.kind().feature() }.into())
    }
}
