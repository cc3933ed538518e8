//! Gating product on a device: `out = a ⊙ b` and its backward (`kernels/gating.cu`); and the bias
//! broadcast the projections write before a β = 1 GEMM ([`bias_fill`]).
//! Storage f32, bf16 or f16; arithmetic in f32 (one rounding per output).

use super::{elementwise_config as config, launch, Args};
use crate::device::{Device, DeviceScalar, DeviceView, DeviceViewMut, Pod};
use crate::error::{HyenaError, Result};
use crate::kernels::{HyenaBiasFillParams, HyenaGateBwdParams, HyenaGateFwdParams};
use std::sync::Arc;

use super::storage_suffix as suffix;

/// Work items of the kernel's grid-stride loop: 16-byte packs when every pointer is 16-byte
/// aligned (the kernel's vector path), single elements otherwise.
fn items(addrs: &[u64], n: usize, elem: usize) -> usize {
    if addrs.iter().all(|a| a % 16 == 0) {
        n.div_ceil(16 / elem)
    } else {
        n
    }
}

/// `out = a ⊙ b` elementwise on `dev` (all three of the same length).
///
/// `out` is an exclusive borrow, so it cannot alias an input:
/// ```compile_fail,E0502
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # use hyena_kernels::ops::gating::gate_fwd;
/// # fn f(dev: &std::sync::Arc<dyn Device>) -> hyena_kernels::Result<()> {
/// let mut a = DeviceBuffer::<f32>::from_host(dev, &[1.0, 2.0])?;
/// let b = DeviceBuffer::<f32>::from_host(dev, &[3.0, 4.0])?;
/// gate_fwd(dev, &a, &b, &mut a)?;
/// # Ok(()) }
/// ```
/// ```no_run
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # use hyena_kernels::ops::gating::gate_fwd;
/// # fn f(dev: &std::sync::Arc<dyn Device>) -> hyena_kernels::Result<()> {
/// let a = DeviceBuffer::<f32>::from_host(dev, &[1.0, 2.0])?;
/// let b = DeviceBuffer::<f32>::from_host(dev, &[3.0, 4.0])?;
/// let mut out = DeviceBuffer::<f32>::alloc(dev, 2)?;
/// gate_fwd(dev, &a, &b, &mut out)?;
/// # Ok(()) }
/// ```
pub fn gate_fwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    a: impl Into<DeviceView<'a, T>>,
    b: impl Into<DeviceView<'a, T>>,
    out: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let (a, b, out) = (a.into(), b.into(), out.into());
    let sfx = suffix(T::DTYPE, "gate_fwd")?;
    let n = a.len();
    Args::new(dev, "gate_fwd").arg("a", &a, n).arg("b", &b, n).arg("out", &out, n).check()?;
    let elem = std::mem::size_of::<T>();
    if n == 0 {
        return Ok(());
    }
    let p = HyenaGateFwdParams { a: a.addr(), b: b.addr(), out: out.addr(), n: n as u64 };
    let cfg = config(items(&[p.a, p.b, p.out], n, elem));
    // SAFETY: the kernel touches n elements of a, b (borrowed shared) and out (borrowed
    // exclusively, not overlapping them: checked), all of length n on `dev` (checked).
    unsafe { launch(dev, &format!("hyena_gate_fwd_{sfx}"), cfg, &p) }
}

/// Backward of [`gate_fwd`]: `grad_a = grad_out ⊙ b`, `grad_b = grad_out ⊙ a` (all of the same
/// length). The two outputs are exclusive borrows: they overlap neither each other nor an input.
/// ```compile_fail,E0499
/// # use hyena_kernels::device::{Device, DeviceBuffer};
/// # use hyena_kernels::ops::gating::gate_bwd;
/// # fn f(dev: &std::sync::Arc<dyn Device>) -> hyena_kernels::Result<()> {
/// let a = DeviceBuffer::<f32>::from_host(dev, &[1.0, 2.0])?;
/// let mut g = DeviceBuffer::<f32>::alloc(dev, 2)?;
/// gate_bwd(dev, &a, &a, &a, &mut g, &mut g)?;
/// # Ok(()) }
/// ```
pub fn gate_bwd<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    a: impl Into<DeviceView<'a, T>>,
    b: impl Into<DeviceView<'a, T>>,
    grad_out: impl Into<DeviceView<'a, T>>,
    grad_a: impl Into<DeviceViewMut<'a, T>>,
    grad_b: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let (a, b, gy, ga, gb) = (a.into(), b.into(), grad_out.into(), grad_a.into(), grad_b.into());
    let sfx = suffix(T::DTYPE, "gate_bwd")?;
    let n = a.len();
    Args::new(dev, "gate_bwd")
        .arg("a", &a, n)
        .arg("b", &b, n)
        .arg("grad_out", &gy, n)
        .arg("grad_a", &ga, n)
        .arg("grad_b", &gb, n)
        .check()?;
    let elem = std::mem::size_of::<T>();
    if n == 0 {
        return Ok(());
    }
    let p = HyenaGateBwdParams {
        a: a.addr(),
        b: b.addr(),
        grad_out: gy.addr(),
        grad_a: ga.addr(),
        grad_b: gb.addr(),
        n: n as u64,
    };
    let cfg = config(items(&[p.a, p.b, p.grad_out, p.grad_a, p.grad_b], n, elem));
    // SAFETY: the kernel touches n elements of every argument: inputs borrowed shared, the two
    // outputs exclusively and not overlapping anything (checked), all of length n on `dev`.
    unsafe { launch(dev, &format!("hyena_gate_bwd_{sfx}"), cfg, &p) }
}

/// How [`bias_fill`] broadcasts its vector over the `[rows, cols]` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broadcast {
    /// `out[r][c] = bias[r % bias.len()]`: one value per row (a projection stored `[C, L]`).
    ByRow,
    /// `out[r][c] = bias[c]`: the vector along every row (a projection stored `[L, C]`);
    /// `bias.len()` must equal `cols`.
    ByColumn,
}

/// One bias broadcast: `bias` over the row-major `[rows, cols]` `out` (see [`Broadcast`]). Run
/// alone by [`bias_fill`], or inside the implicit filter's forward launch
/// ([`crate::ops::filter::implicit_filter_fwd_fill`]: the operator's projections).
pub struct BiasFill<'a, T: Pod> {
    /// The vector (by row: any length ≥ 1, indexed `r % len`; by column: `cols`).
    pub bias: DeviceView<'a, T>,
    /// Along which axis the vector runs.
    pub how: Broadcast,
    /// Rows of `out`.
    pub rows: usize,
    /// Columns of `out` (contiguous).
    pub cols: usize,
    /// `[rows, cols]`, overwritten.
    pub out: DeviceViewMut<'a, T>,
}

impl<'a, T: DeviceScalar> BiasFill<'a, T> {
    /// The job's arguments added to `args` (lengths, device, overlap with the launch's other
    /// arguments; named `{prefix}bias`, `{prefix}out [rows, cols]`), its kernel parameters, and
    /// the elements it writes (parameters `None` for an empty output).
    pub(crate) fn params<'d>(&self, args: Args<'d>, prefix: &str) -> Result<(Args<'d>, Option<HyenaBiasFillParams>, usize)> {
        let (rows, cols) = (self.rows, self.cols);
        let n = rows
            .checked_mul(cols)
            .ok_or_else(|| HyenaError::Invalid(format!("bias_fill: rows {rows} x cols {cols} overflows usize")))?;
        let nb = self.bias.len();
        // The kernel steps its column and bias-row indices in 32 bits (hyena::bias_fill; its
        // launches also keep their thread count below 2^31).
        if cols >= 1 << 31 || nb >= 1 << 31 {
            return Err(HyenaError::Invalid(format!("bias_fill: cols {cols} and the bias length {nb} must be below 2^31")));
        }
        let need_nb = match self.how {
            Broadcast::ByRow if nb == 0 && n > 0 => {
                return Err(HyenaError::Invalid("bias_fill: by-row broadcast of an empty bias".into()));
            }
            Broadcast::ByRow => nb,
            Broadcast::ByColumn => cols,
        };
        let args = args.arg(&format!("{prefix}bias"), &self.bias, need_nb).arg(&format!("{prefix}out [rows, cols]"), &self.out, n);
        let p = (n > 0).then(|| HyenaBiasFillParams {
            bias: self.bias.addr(),
            out: self.out.addr(),
            rows: rows as u64,
            cols: cols as u64,
            nb: nb as u64,
            by_row: u32::from(self.how == Broadcast::ByRow),
            pad: 0,
        });
        Ok((args, p, n))
    }
}

/// Writes a broadcast bias into the row-major `[rows, cols]` `out` (see [`Broadcast`]): the
/// starting value of a β = 1 GEMM that adds a product to its bias. Each element is the bias
/// value itself (no arithmetic), so the result equals a GEMM of the bias with a vector of ones.
pub fn bias_fill<'a, T: DeviceScalar>(
    dev: &Arc<dyn Device>,
    bias: impl Into<DeviceView<'a, T>>,
    how: Broadcast,
    rows: usize,
    cols: usize,
    out: impl Into<DeviceViewMut<'a, T>>,
) -> Result<()> {
    let job = BiasFill { bias: bias.into(), how, rows, cols, out: out.into() };
    let sfx = suffix(T::DTYPE, "bias_fill")?;
    let (args, p, n) = job.params(Args::new(dev, "bias_fill"), "")?;
    args.check()?;
    let Some(p) = p else { return Ok(()) };
    // The kernel's pack path also needs whole packs per row.
    let elem = std::mem::size_of::<T>();
    let work = if cols % (16 / elem) == 0 { items(&[p.out], n, elem) } else { n };
    // SAFETY: the kernel writes the rows * cols elements of out (borrowed exclusively, checked
    // to hold exactly that many and not to overlap bias) and reads bias at indices below nb
    // (by row: r % nb; by column: c < cols = nb, checked), all on `dev` (checked).
    unsafe { launch(dev, &format!("hyena_bias_fill_{sfx}"), config(work), &p) }
}
