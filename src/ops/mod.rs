//! Safe launch wrappers, written once over `Arc<dyn Device>`: they check dtypes, lengths, devices,
//! alignment and aliasing, choose grid and block, fill the params struct and call
//! [`Device::launch_raw`](crate::device::Device::launch_raw). The same code runs on the GPU and in
//! the simulator.
//!
//! Inputs are [`DeviceView`]s (shared borrows), outputs [`DeviceViewMut`]s (exclusive borrows;
//! pass `&mut buffer` or `&mut view`), so the memory a launch uses stays allocated and is not
//! touched by anything else while the call runs (see [`crate::device`] for why that covers the
//! queued work on a GPU). Every size is computed with checked arithmetic; a launch that cannot be
//! described is a typed error.

pub mod gating;
pub mod shortconv;
pub mod fftconv;
pub mod filter;
pub mod gemm;

use crate::device::{as_bytes, DType, Device, DeviceView, DeviceViewMut, LaunchConfig, NoUninit, Pod};
use crate::error::{HyenaError, Result};
use std::sync::Arc;

/// Symbol suffix of a kernel family's entry point for a storage dtype (`hyena_<op>_<suffix>`):
/// every family stores f32, bf16 or f16 with f32 arithmetic; f64 is a typed error naming `op`.
pub(crate) fn storage_suffix(dtype: DType, op: &str) -> Result<&'static str> {
    match dtype {
        DType::F32 => Ok("f32"),
        DType::BF16 => Ok("bf16"),
        DType::F16 => Ok("f16"),
        DType::F64 => Err(HyenaError::Dtype(format!("{op} kernels store f32, bf16 or f16; got f64"))),
    }
}

/// Threads per block of the elementwise kernels.
pub const ELEMENTWISE_BLOCK: u32 = 256;
/// Upper bound on blocks of a grid-stride elementwise launch (enough to fill an H200:
/// 132 SMs x 2048 threads = 1056 blocks of 256).
pub const ELEMENTWISE_MAX_GRID: u32 = 1056;

/// Grid size for `items` independent work items of a grid-stride loop.
pub(crate) fn elementwise_grid(items: usize) -> u32 {
    let blocks = items.div_ceil(ELEMENTWISE_BLOCK as usize).max(1);
    blocks.min(ELEMENTWISE_MAX_GRID as usize) as u32
}

/// A view argument of an op, for the checks below.
pub(crate) struct Arg {
    pub name: &'static str,
    pub addr: u64,
    pub bytes: usize,
    pub output: bool,
}

impl Arg {
    pub fn input<T: Pod>(name: &'static str, v: &DeviceView<'_, T>) -> Self {
        // A view's byte length fits: it lies inside one allocation.
        Arg { name, addr: v.addr(), bytes: v.len() * std::mem::size_of::<T>(), output: false }
    }
    pub fn output<T: Pod>(name: &'static str, v: &DeviceViewMut<'_, T>) -> Self {
        Arg { name, addr: v.addr(), bytes: v.len() * std::mem::size_of::<T>(), output: true }
    }
}

/// A read-only or writable view, for [`check_device`].
pub(crate) trait OnDevice {
    fn is_on(&self, dev: &Arc<dyn Device>) -> bool;
}
impl<T: Pod> OnDevice for DeviceView<'_, T> {
    fn is_on(&self, dev: &Arc<dyn Device>) -> bool {
        DeviceView::is_on(self, dev)
    }
}
impl<T: Pod> OnDevice for DeviceViewMut<'_, T> {
    fn is_on(&self, dev: &Arc<dyn Device>) -> bool {
        DeviceViewMut::is_on(self, dev)
    }
}

/// `a·b`, or a typed error naming `what`.
pub(crate) fn mul(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| HyenaError::Invalid(format!("{what} overflows ({a}·{b})")))
}

/// `a·b·c`, or a typed error naming `what`.
pub(crate) fn mul3(a: usize, b: usize, c: usize, what: &str) -> Result<usize> {
    a.checked_mul(b)
        .and_then(|x| x.checked_mul(c))
        .ok_or_else(|| HyenaError::Invalid(format!("{what} overflows ({a}·{b}·{c})")))
}

/// Launch `name` with the params struct `p`.
///
/// # Safety
/// As [`Device::launch_raw`]: every address in `p` comes from a view the caller holds for this
/// call (inputs shared, outputs exclusive) or a workspace it owns until the launch completed,
/// with sizes in `p` that keep the kernel inside them.
pub(crate) unsafe fn launch<P: NoUninit>(dev: &Arc<dyn Device>, name: &str, cfg: LaunchConfig, p: &P) -> Result<()> {
    dev.launch_raw(name, cfg, as_bytes(std::slice::from_ref(p)))
}

/// Check that every view lives on `dev`.
pub(crate) fn check_device(dev: &Arc<dyn Device>, name: &str, v: &impl OnDevice) -> Result<()> {
    if v.is_on(dev) {
        Ok(())
    } else {
        Err(HyenaError::Buffer {
            name: name.to_string(),
            problem: "belongs to another device".into(),
        })
    }
}

/// Check element alignment of every argument and that no output overlaps any other argument
/// (kernels read inputs through `__restrict__` pointers).
pub(crate) fn check_args(args: &[Arg], elem: usize) -> Result<()> {
    for a in args {
        if a.addr % elem as u64 != 0 {
            return Err(HyenaError::Buffer {
                name: a.name.to_string(),
                problem: format!("address {:#x} is not aligned to its {elem}-byte element", a.addr),
            });
        }
    }
    for (i, x) in args.iter().enumerate() {
        for y in &args[i + 1..] {
            if !(x.output || y.output) || x.bytes == 0 || y.bytes == 0 {
                continue;
            }
            let (x0, x1) = (x.addr as u128, x.addr as u128 + x.bytes as u128);
            let (y0, y1) = (y.addr as u128, y.addr as u128 + y.bytes as u128);
            if x0 < y1 && y0 < x1 {
                return Err(HyenaError::Buffer {
                    name: if x.output { x.name } else { y.name }.to_string(),
                    problem: format!("output overlaps `{}`", if x.output { y.name } else { x.name }),
                });
            }
        }
    }
    Ok(())
}
