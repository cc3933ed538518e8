//! The floating-point types the CPU reference is generic over (f32 and f64).

use num_traits::Float;

/// A real scalar the CPU reference computes in: `f32` or `f64`.
pub trait Scalar:
    Float + realfft::FftNum + Default + Send + Sync + std::fmt::Debug + std::fmt::Display + std::iter::Sum + 'static
{
    /// "f32" or "f64".
    const NAME: &'static str;
    /// Lossy conversion from f64 (named `lit` to avoid clashing with `FromPrimitive::from_f64`).
    fn lit(x: f64) -> Self;
    /// Widening conversion to f64.
    fn as_f64(self) -> f64;
}

impl Scalar for f32 {
    const NAME: &'static str = "f32";
    #[inline]
    fn lit(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Scalar for f64 {
    const NAME: &'static str = "f64";
    #[inline]
    fn lit(x: f64) -> Self {
        x
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
}

/// Relative L2 error ‖a − b‖ / ‖b‖ computed in f64 (0 when both are zero).
pub fn rel_l2<A: Scalar, B: Scalar>(a: &[A], b: &[B]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = x.as_f64() - y.as_f64();
        num += d * d;
        den += y.as_f64() * y.as_f64();
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}
