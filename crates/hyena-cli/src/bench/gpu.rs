//! Device columns of `hyena bench` (`--device cuda`, or `--device sim` to check the path end to
//! end in the simulator): the project's kernels + cuBLAS, bf16 storage, timed with the device's
//! [`time_ms`](hyena_kernels::device::Device::time_ms) (CUDA events on a GPU).
//!
//! - `hyena_gpu_fwd` / `hyena_gpu_fwdbwd`: the Hyena operator ([`DeviceOperator`]) forward and
//!   forward+backward, weights uploaded once before timing (as in inference/training steps);
//! - `core_gpu_fwd`: the mixing core alone — the fused gated causal FFT convolution
//!   `post ⊙ (h ∗ (pre ⊙ v) + D ⊙ (pre ⊙ v))` over `width` channels with the filter spectrum
//!   precomputed;
//! - `core_gpu_bw`: the core's achieved bandwidth as a percentage of a device-to-device copy
//!   measured in the same run (bytes: 3 input rows + 1 output row per channel, bf16).

use super::report::Cell;
use super::{time_cell, Policy};
use half::bf16;
use hyena_kernels::device::{Device, DeviceBuffer};
use hyena_kernels::ops::fftconv as conv;
use hyena_model::device_operator::DeviceOperator;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// Storage type of the device columns (as FlashAttention's bf16 baseline).
pub type Storage = bf16;

pub(crate) struct GpuBench {
    pub dev: Arc<dyn Device>,
    pub batch: usize,
    pub width: usize,
    pub order: usize,
    pub filter_width: usize,
    /// `--modulate`: the filter's window.
    pub modulate: bool,
}

fn err(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    if s.contains("OUT_OF_MEMORY") {
        format!("OOM ({s})")
    } else {
        s
    }
}

fn rand_bf16(rng: &mut impl Rng, n: usize) -> Vec<Storage> {
    (0..n).map(|_| bf16::from_f32(rng.random_range(-1.0f32..1.0))).collect()
}

impl GpuBench {
    /// Device-to-device copy bandwidth in GB/s (read + write bytes per second), median of the
    /// policy's repetitions on a buffer of `bytes`.
    pub fn copy_gbps(&self, bytes: usize, p: &Policy) -> Result<f64, String> {
        let src = DeviceBuffer::<u8>::alloc(&self.dev, bytes).map_err(err)?;
        let mut dst = DeviceBuffer::<u8>::alloc(&self.dev, bytes).map_err(err)?;
        let cell = time_cell(p, || self.dev.time_ms(&mut || dst.copy_from(src.as_view())).map_err(err));
        match cell.value {
            Some(ms) if ms > 0.0 => Ok(2.0 * bytes as f64 / (ms * 1e-3) / 1e9),
            _ => Err(cell.status),
        }
    }

    /// One cell; `copy_gbps` feeds the bandwidth column.
    pub fn run(&self, key: &str, l: usize, p: &Policy, core_ms: Option<f64>, copy_gbps: Option<f64>) -> Cell {
        let r = match key {
            "hyena_gpu_fwd" | "hyena_gpu_fwdbwd" => self.hyena(l, p, key == "hyena_gpu_fwdbwd"),
            "core_gpu_fwd" => self.core(l, p),
            "core_gpu_bw" => match (core_ms, copy_gbps) {
                (Some(ms), Some(gbps)) => Ok(Cell::ok(100.0 * self.core_bytes(l) / (ms * 1e-3) / 1e9 / gbps, 1)),
                (None, _) => Ok(Cell::missing("no core time")),
                (_, None) => Ok(Cell::missing("no copy bandwidth")),
            },
            other => Err(format!("unknown column {other}")),
        };
        r.unwrap_or_else(|e| Cell::missing(format!("error: {e}")))
    }

    /// Bytes the fused conv must move: v, pre, post read and y written, once each (bf16).
    pub fn core_bytes(&self, l: usize) -> f64 {
        4.0 * (self.batch * self.width * l * std::mem::size_of::<Storage>()) as f64
    }

    fn hyena(&self, l: usize, p: &Policy, bwd: bool) -> Result<Cell, String> {
        let cfg = super::operator_config(self.width, l, self.order, self.filter_width, self.modulate);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let op = DeviceOperator::<f32, Storage>::init(&cfg, self.dev.clone(), &mut rng).map_err(err)?;
        let w = op.upload().map_err(err)?;
        let n = self.batch * l * self.width;
        let u = DeviceBuffer::from_host(&self.dev, &rand_bf16(&mut rng, n)).map_err(err)?;
        let gy = DeviceBuffer::from_host(&self.dev, &rand_bf16(&mut rng, n)).map_err(err)?;
        let (b, dev) = (self.batch, &self.dev);
        Ok(time_cell(p, || {
            // The input is moved into the forward's cache: a fresh copy per run, not timed.
            let mut ui = DeviceBuffer::<Storage>::alloc(dev, n).map_err(err)?;
            ui.copy_from(u.as_view()).map_err(err)?;
            let mut ui = Some(ui);
            dev.time_ms(&mut || {
                let ui = ui.take().ok_or_else(|| hyena_kernels::HyenaError::Invalid("input already used".into()))?;
                let (y, cache) = op.forward_with(w.clone(), ui, b, l).map_err(to_kernel)?;
                std::hint::black_box(&y);
                if bwd {
                    // The parameter gradients stay on the device (as in a training step whose
                    // optimizer runs there): no host copy inside the timed pass.
                    let (gu, g) = op.backward_device_grads(&cache, &gy).map_err(to_kernel)?;
                    std::hint::black_box((&gu, &g));
                }
                Ok(())
            })
            .map_err(err)
        }))
    }

    fn core(&self, l: usize, p: &Policy) -> Result<Cell, String> {
        let (b, c, dev) = (self.batch, self.width, &self.dev);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // A decaying random filter, like the modulated implicit filter.
        let h: Vec<Storage> = (0..c * l)
            .map(|i| bf16::from_f32(rng.random_range(-1.0f32..1.0) * (-((i % l) as f32) / (l as f32 / 8.0)).exp()))
            .collect();
        let h = DeviceBuffer::from_host(dev, &h).map_err(err)?;
        let mut hf = DeviceBuffer::<f32>::alloc(dev, conv::spectrum_len(c, l).map_err(err)?).map_err(err)?;
        conv::fftconv_filter(dev, &h, c, l, &mut hf).map_err(err)?;
        let d = DeviceBuffer::from_host(dev, &rand_bf16(&mut rng, c)).map_err(err)?;
        let n = b * c * l;
        let v = DeviceBuffer::from_host(dev, &rand_bf16(&mut rng, n)).map_err(err)?;
        let pre = DeviceBuffer::from_host(dev, &rand_bf16(&mut rng, n)).map_err(err)?;
        let post = DeviceBuffer::from_host(dev, &rand_bf16(&mut rng, n)).map_err(err)?;
        let mut y = DeviceBuffer::<Storage>::alloc(dev, n).map_err(err)?;
        Ok(time_cell(p, || {
            dev.time_ms(&mut || {
                conv::gated_fftconv_fwd_spectrum(dev, &hf, &d, &v, Some(pre.as_view()), Some(post.as_view()), b, c, l, &mut y)
            })
            .map_err(err)
        }))
    }
}

fn to_kernel(e: hyena_model::ModelError) -> hyena_kernels::HyenaError {
    match e {
        hyena_model::ModelError::Kernel(k) => k,
        other => hyena_kernels::HyenaError::Invalid(other.to_string()),
    }
}
