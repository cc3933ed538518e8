//! The order-N recurrence of the Hyena operator, written once for both backends: which operands
//! each step reads ([`schedule`]), and the checks of a pass's batch, length and input ([`check_dims`],
//! [`check_input_len`]).
//!
//! The in_proj + short-conv output has N+1 chunks `x₀ … x_{N−1}, v = x_N`. Step `o` (0 ≤ o < N−1)
//! computes `post ⊙ (h_o ∗ (pre ⊙ cur) + bias_o ⊙ (pre ⊙ cur))` with `cur` = `v` at the first step,
//! else the output of step `o − 1`, `pre` = `x_{N−1−o}`, and `post` = `x₀` at the last step only
//! (the output gate `x₀ ⊙ v`). The CPU stores the chunks batch-major (`[B, (N+1)·D, L]`), the device
//! chunk-major (`[N+1, B, D, L]`, see `device_operator`); each resolves a [`Step`]'s chunk and step
//! indices in its own layout. The backward walks the same steps in reverse
//! (`schedule(n).rev()`).

use crate::error::{ModelError, Result};
use crate::operator::mul;
use hyena_kernels::HyenaError;

/// Where a step's gated input `cur` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    /// Chunk `i` of the short-conv output (`v` = chunk N, for the first step).
    Chunk(usize),
    /// The output of step `o` (the previous step).
    Step(usize),
}

/// One step of the recurrence: its index (filter `h_o`, bias `bias_o`) and operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Step index `o`, 0 ≤ o < N−1.
    pub o: usize,
    /// The gated input.
    pub cur: Src,
    /// The chunk of the pre-gate, `x_{N−1−o}`.
    pub pre: usize,
    /// The chunk of the post-gate (`x₀`, the last step only).
    pub post: Option<usize>,
}

impl Step {
    /// The operands `(cur, pre, post)` of this step, each fetched by `get` in the caller's
    /// layout (`Src::Chunk(i)`: chunk `i` of the short-conv output; `Src::Step(o)`: the output of
    /// step `o`), in that order.
    pub fn operands<X, E>(&self, mut get: impl FnMut(Src) -> std::result::Result<X, E>) -> std::result::Result<(X, X, Option<X>), E> {
        let cur = get(self.cur)?;
        let pre = get(Src::Chunk(self.pre))?;
        let post = match self.post {
            Some(i) => Some(get(Src::Chunk(i))?),
            None => None,
        };
        Ok((cur, pre, post))
    }
}

/// The N−1 steps of an order-`n` recurrence (n ≥ 2), first to last; `.rev()` for the backward.
pub(crate) fn schedule(n: usize) -> impl DoubleEndedIterator<Item = Step> + ExactSizeIterator {
    (0..n.saturating_sub(1)).map(move |o| Step {
        o,
        cur: if o == 0 { Src::Chunk(n) } else { Src::Step(o - 1) },
        pre: n - 1 - o,
        post: (o == n - 2).then_some(0),
    })
}

/// The batch and length of a pass: both positive, `l ≤ l_max` (the same errors on either backend).
pub(crate) fn check_dims(b: usize, l: usize, l_max: usize) -> Result<()> {
    if l == 0 || b == 0 {
        return Err(ModelError::Kernel(HyenaError::Length(format!("batch and length must be positive, got B={b}, L={l}"))));
    }
    if l > l_max {
        return Err(ModelError::TooLong { l, l_max });
    }
    Ok(())
}

/// An input `[B, L, D]` named `what` holds `len` elements: `B·L·D` (checked arithmetic), which
/// is returned.
pub(crate) fn check_input_len(what: &str, len: usize, b: usize, l: usize, d: usize) -> Result<usize> {
    let bld = mul(what, mul(what, b, l)?, d)?;
    hyena_kernels::error::check_len(what, len, bld)?;
    Ok(bld)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Order 3 (safari's `x₀ ⊙ (h₁ ∗ (x₁ ⊙ (h₀ ∗ (x₂ ⊙ v))))`, v = chunk 3), from the module docs.
    #[test]
    fn order_three_schedule() {
        let s: Vec<Step> = schedule(3).collect();
        assert_eq!(
            s,
            [
                Step { o: 0, cur: Src::Chunk(3), pre: 2, post: None },
                Step { o: 1, cur: Src::Step(0), pre: 1, post: Some(0) },
            ]
        );
        let back: Vec<usize> = schedule(3).rev().map(|s| s.o).collect();
        assert_eq!(back, [1, 0]);
        // Order 2: one step, v gated by x₁ before and x₀ after.
        assert_eq!(schedule(2).collect::<Vec<_>>(), [Step { o: 0, cur: Src::Chunk(2), pre: 1, post: Some(0) }]);
    }
}
