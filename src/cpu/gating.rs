//! Gating products (elementwise multiply), forward and backward.

use crate::error::{check_len, Result};
use crate::scalar::Scalar;

/// `out = a ⊙ b`.
pub fn gate_fwd<T: Scalar>(a: &[T], b: &[T], out: &mut [T]) -> Result<()> {
    check_len("gate_fwd b", b.len(), a.len())?;
    check_len("gate_fwd out", out.len(), a.len())?;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x * y;
    }
    Ok(())
}

/// Backward of [`gate_fwd`]: `grad_a = grad_out ⊙ b`, `grad_b = grad_out ⊙ a`.
pub fn gate_bwd<T: Scalar>(a: &[T], b: &[T], grad_out: &[T], grad_a: &mut [T], grad_b: &mut [T]) -> Result<()> {
    let n = a.len();
    check_len("gate_bwd b", b.len(), n)?;
    check_len("gate_bwd grad_out", grad_out.len(), n)?;
    check_len("gate_bwd grad_a", grad_a.len(), n)?;
    check_len("gate_bwd grad_b", grad_b.len(), n)?;
    for i in 0..n {
        grad_a[i] = grad_out[i] * b[i];
        grad_b[i] = grad_out[i] * a[i];
    }
    Ok(())
}
