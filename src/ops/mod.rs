//! Safe launch wrappers, written once over `Arc<dyn Device>`: they check dtypes, lengths, devices,
//! alignment and aliasing (each view argument declared once to [`Args`], which runs the checks),
//! choose grid and block, fill the params struct and call
//! [`Device::launch_raw`](crate::device::Device::launch_raw). The same code runs on the GPU and in
//! the simulator.
//!
//! Inputs are [`DeviceView`]s (shared borrows), outputs [`DeviceViewMut`]s (exclusive borrows;
//! pass `&mut buffer` or `&mut view`), so the memory a launch uses stays allocated and is not
//! touched by anything else while the call runs (see [`crate::device`] for why that covers the
//! queued work on a GPU). Every size is computed with checked arithmetic; a launch that cannot be
//! described is a typed error.

// The wrapper `src/ops/<m>.rs` of every kernel module `kernels/<m>.cu`, declared by the build
// (build/modules.rs): a new kernel module is listed nowhere by hand.
include!(concat!(env!("OUT_DIR"), "/ops_modules.rs"));
pub mod gemm;

use crate::device::{as_bytes, DType, Device, DeviceView, DeviceViewMut, LaunchConfig, NoUninit, Pod};
use crate::error::{check_len, HyenaError, Result};
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

/// Launch shape of a grid-stride loop over `items` independent work items: blocks of
/// [`ELEMENTWISE_BLOCK`] threads, at most [`ELEMENTWISE_MAX_GRID`] of them, no shared memory.
pub(crate) fn elementwise_config(items: usize) -> LaunchConfig {
    let blocks = items.div_ceil(ELEMENTWISE_BLOCK as usize).max(1);
    let grid = blocks.min(ELEMENTWISE_MAX_GRID as usize) as u32;
    LaunchConfig { grid: (grid, 1, 1), block: (ELEMENTWISE_BLOCK, 1, 1), shared_bytes: 0 }
}

/// A view a launch takes: inputs ([`DeviceView`]) are read, outputs ([`DeviceViewMut`]) written.
pub(crate) trait LaunchArg {
    /// Whether the launch writes it (an output overlaps no other argument).
    const OUTPUT: bool;
    /// Device address of its first element.
    fn addr(&self) -> u64;
    /// Elements.
    fn len(&self) -> usize;
    /// Bytes of one element.
    fn elem(&self) -> usize;
    /// Whether it lives on `dev`.
    fn is_on(&self, dev: &Arc<dyn Device>) -> bool;
}

/// `LaunchArg` for a view type: its inherent methods, and whether it is an output.
macro_rules! launch_arg {
    ($($view:ident => $output:expr),*) => {$(
        impl<T: Pod> LaunchArg for $view<'_, T> {
            const OUTPUT: bool = $output;
            fn addr(&self) -> u64 {
                $view::addr(self)
            }
            fn len(&self) -> usize {
                $view::len(self)
            }
            fn elem(&self) -> usize {
                std::mem::size_of::<T>()
            }
            fn is_on(&self, dev: &Arc<dyn Device>) -> bool {
                $view::is_on(self, dev)
            }
        }
    )*};
}

launch_arg!(DeviceView => false, DeviceViewMut => true);

/// How much of a view a launch uses.
enum Need {
    /// Exactly this many elements (a shape).
    Exactly(usize),
    /// At most this many from its start (an extent derived from strides); the view may be longer.
    Reach(usize),
}

/// One declared argument (see [`Args`]).
struct Declared {
    /// `"<op> <name>"`: what errors call the argument.
    name: String,
    /// The name with its shape, e.g. `"<op> x [B, C, L]"`, for length errors.
    what: String,
    addr: u64,
    bytes: usize,
    len: usize,
    need: Need,
    on_dev: bool,
    output: bool,
    align: usize,
    /// Why the alignment is more than the element's (None: the element).
    align_why: Option<&'static str>,
}

/// The view arguments of one launch, each declared once with its required length; [`check`]
/// then runs, in this order, the length, device, alignment and overlap checks of all of them
/// (the kernels read inputs through `__restrict__` pointers, so no output may overlap another
/// argument), and returns the first failure as a typed error naming the op and the argument.
///
/// ```text
/// Args::new(dev, "gate_fwd").arg("a", &a, n).arg("b", &b, n).arg("out", &out, n).check()?;
/// ```
///
/// [`check`]: Args::check
pub(crate) struct Args<'d> {
    dev: &'d Arc<dyn Device>,
    op: &'static str,
    list: Vec<Declared>,
}

impl<'d> Args<'d> {
    /// The arguments of the op `op` (the prefix of every error's argument name) on `dev`.
    pub fn new(dev: &'d Arc<dyn Device>, op: &'static str) -> Self {
        Args { dev, op, list: Vec::new() }
    }

    fn push<V: LaunchArg>(mut self, spec: &str, v: &V, need: Need) -> Self {
        // `spec` is the name, then optionally its shape after a space: "x [B, C, L]".
        let name = spec.split_once(' ').map_or(spec, |(n, _)| n);
        self.list.push(Declared {
            name: format!("{} {name}", self.op),
            what: format!("{} {spec}", self.op),
            addr: v.addr(),
            // A view's byte length fits: it lies inside one allocation.
            bytes: v.len() * v.elem(),
            len: v.len(),
            need,
            on_dev: v.is_on(self.dev),
            output: V::OUTPUT,
            align: v.elem(),
            align_why: None,
        });
        self
    }

    /// An argument of exactly `len` elements; `spec` is its name, optionally followed by a space
    /// and its shape (`"x [B, C, L]"`, shown in length errors).
    pub fn arg<V: LaunchArg>(self, spec: &str, v: &V, len: usize) -> Self {
        self.push(spec, v, Need::Exactly(len))
    }

    /// [`arg`](Self::arg) for an optional view (nothing is declared for `None`).
    pub fn opt<V: LaunchArg>(self, spec: &str, v: Option<&V>, len: usize) -> Self {
        match v {
            Some(v) => self.arg(spec, v, len),
            None => self,
        }
    }

    /// An argument the launch reads or writes up to `extent` elements of (the view may be longer).
    pub fn reach<V: LaunchArg>(self, spec: &str, v: &V, extent: usize) -> Self {
        self.push(spec, v, Need::Reach(extent))
    }

    /// The last declared argument must be aligned to `bytes` (more than its element), because
    /// `why` (e.g. `"complex f32"`).
    pub fn align(mut self, bytes: usize, why: &'static str) -> Self {
        if let Some(a) = self.list.last_mut() {
            a.align = bytes;
            a.align_why = Some(why);
        }
        self
    }

    /// Run every check over every declared argument (see [`Args`]).
    pub fn check(self) -> Result<()> {
        for a in &self.list {
            match a.need {
                Need::Exactly(n) => check_len(&a.what, a.len, n)?,
                Need::Reach(extent) if extent > a.len => {
                    return Err(HyenaError::Buffer {
                        name: a.name.clone(),
                        problem: format!(
                            "the sizes, leading dimension, stride and batch reach {extent} elements; the view holds {}",
                            a.len
                        ),
                    })
                }
                Need::Reach(_) => {}
            }
        }
        if let Some(a) = self.list.iter().find(|a| !a.on_dev) {
            return Err(HyenaError::Buffer { name: a.name.clone(), problem: "belongs to another device".into() });
        }
        for a in &self.list {
            if a.addr % a.align as u64 != 0 {
                let problem = match a.align_why {
                    None => format!("address {:#x} is not aligned to its {}-byte element", a.addr, a.align),
                    Some(why) => format!("not {}-byte aligned ({why})", a.align),
                };
                return Err(HyenaError::Buffer { name: a.name.clone(), problem });
            }
        }
        for (i, x) in self.list.iter().enumerate() {
            for y in &self.list[i + 1..] {
                if !(x.output || y.output) || x.bytes == 0 || y.bytes == 0 {
                    continue;
                }
                let (x0, x1) = (x.addr as u128, x.addr as u128 + x.bytes as u128);
                let (y0, y1) = (y.addr as u128, y.addr as u128 + y.bytes as u128);
                if x0 < y1 && y0 < x1 {
                    let (out, other) = if x.output { (x, y) } else { (y, x) };
                    return Err(HyenaError::Buffer {
                        name: out.name.clone(),
                        problem: format!("output overlaps `{}`", other.name),
                    });
                }
            }
        }
        Ok(())
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

