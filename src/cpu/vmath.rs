//! Vectorizable f64 `sin`/`cos` over slices, for the implicit filter's `sin(freq ⊙ x)`.
//!
//! The filter evaluates millions of `sin` per forward pass (3 layers × L × F); glibc's `sin` is
//! scalar, so it dominated the CPU filter. These loops are branch-free over a block, so LLVM
//! vectorizes them (AVX-512 on x86-64-v4):
//!
//! 1. range reduction `x = k·π/2 + r`, `|r| ≤ π/4`, with fdlibm's three-part Cody–Waite split of
//!    π/2 (33 + 33 + 53 bits; `k·pio2_1` and `k·pio2_2` are exact for `|k| < 2²⁰`);
//! 2. fdlibm's minimax polynomials `__kernel_sin` / `__kernel_cos` on `[−π/4, π/4]` (|error| below
//!    one ulp of the result there);
//! 3. quadrant selection by `k mod 4`.
//!
//! Blocks holding any `|x| > `[`REDUCE_MAX`] (or a non-finite value) fall back to `f64::sin`, so the
//! result is always correct; the filter's arguments are far below that bound. Accuracy against
//! `f64::sin` is tested to 4·2⁻⁵³ absolute over `|x| ≤ 10⁵`.

// The coefficients are written as fdlibm publishes them (more digits than an f64 holds; each
// literal rounds to the intended double).
#![allow(clippy::excessive_precision)]

/// Largest `|x|` the fast path reduces (so that `|k| < 2²⁰`).
pub const REDUCE_MAX: f64 = 1.0e6;

const BLOCK: usize = 64;

// π/2 split in three parts (fdlibm e_rem_pio2.c): pio2_1 has 33 significant bits, pio2_2 the next
// 33, pio2_3 the next 53.
const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
const PIO2_1: f64 = 1.570_796_326_734_125_614_17e0;
const PIO2_2: f64 = 6.077_100_506_303_965_976_60e-11;
const PIO2_3: f64 = 2.022_266_248_711_166_455_80e-21;

// fdlibm k_sin.c / k_cos.c coefficients.
const S1: f64 = -1.666_666_666_666_663_243_48e-1;
const S2: f64 = 8.333_333_333_322_489_461_24e-3;
const S3: f64 = -1.984_126_982_985_794_931_34e-4;
const S4: f64 = 2.755_731_370_707_006_767_89e-6;
const S5: f64 = -2.505_076_025_340_686_341_95e-8;
const S6: f64 = 1.589_690_995_211_550_102_21e-10;
const C1: f64 = 4.166_666_666_666_660_190_37e-2;
const C2: f64 = -1.388_888_888_887_410_957_49e-3;
const C3: f64 = 2.480_158_728_947_672_941_78e-5;
const C4: f64 = -2.755_731_435_139_066_330_35e-7;
const C5: f64 = 2.087_572_321_298_174_827_90e-9;
const C6: f64 = -1.135_964_755_778_819_482_65e-11;

/// 1.5·2⁵²: adding it rounds to an integer (ties to even) for |y| < 2⁵¹, and the integer's low
/// bits are then the low bits of the sum's representation.
const MAGIC: f64 = 6_755_399_441_055_744.0;

#[inline(always)]
fn kernel(x: f64, shift: i64) -> f64 {
    // k = round(x·2/π) (no libm call, no float→int conversion: both vectorize on plain SSE2);
    // r = x − k·π/2 in three steps.
    let t = x * INV_PIO2 + MAGIC;
    let kf = t - MAGIC;
    let r = ((x - kf * PIO2_1) - kf * PIO2_2) - kf * PIO2_3;
    let z = r * r;
    let s = r + r * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
    let c = 1.0 - 0.5 * z + z * z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    // Quadrant q = (k + shift) mod 4: sin, cos, −sin, −cos (shift 1 turns sin into cos).
    let q = (t.to_bits() as i64).wrapping_add(shift) & 3;
    let v = if q & 1 == 0 { s } else { c };
    if q & 2 == 0 {
        v
    } else {
        -v
    }
}

fn apply(v: &mut [f64], shift: i64, slow: fn(f64) -> f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            return unsafe { apply_avx512(v, shift, slow) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { apply_avx2(v, shift, slow) };
        }
    }
    apply_generic(v, shift, slow)
}

/// [`apply_generic`] compiled for AVX-512 (same operations, no FMA contraction: bit-identical).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn apply_avx512(v: &mut [f64], shift: i64, slow: fn(f64) -> f64) {
    apply_generic(v, shift, slow)
}

/// [`apply_generic`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn apply_avx2(v: &mut [f64], shift: i64, slow: fn(f64) -> f64) {
    apply_generic(v, shift, slow)
}

#[inline(always)]
fn apply_generic(v: &mut [f64], shift: i64, slow: fn(f64) -> f64) {
    for block in v.chunks_mut(BLOCK) {
        // `x.abs() <= REDUCE_MAX` is false for NaN too: such blocks take the exact path.
        let fast = block.iter().fold(true, |ok, x| ok & (x.abs() <= REDUCE_MAX));
        if fast {
            block.iter_mut().for_each(|x| *x = kernel(*x, shift));
        } else {
            block.iter_mut().for_each(|x| *x = slow(*x));
        }
    }
}

/// `v[i] = sin(v[i])`.
pub fn sin_in_place(v: &mut [f64]) {
    apply(v, 0, f64::sin)
}

/// `v[i] = cos(v[i])`.
pub fn cos_in_place(v: &mut [f64]) {
    apply(v, 1, f64::cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: fn(&mut [f64]), exact: fn(f64) -> f64, name: &str) {
        let mut x: Vec<f64> = Vec::new();
        // Deterministic spread over |x| ≤ 1e5, plus quadrant boundaries and tiny values.
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            let mag = 10f64.powf(-3.0 + 8.0 * u);
            x.push(if s & 1 == 0 { mag } else { -mag });
        }
        for k in -1000..1000 {
            let b = k as f64 * std::f64::consts::FRAC_PI_4;
            x.extend([b, b.next_up(), b.next_down()]);
        }
        x.extend([0.0, -0.0, 1e-300, REDUCE_MAX, REDUCE_MAX * 2.0, f64::NAN, f64::INFINITY]);
        let mut out = x.clone();
        f(&mut out);
        let mut worst = 0.0f64;
        for (&v, &o) in x.iter().zip(&out) {
            let e = exact(v);
            if e.is_nan() {
                assert!(o.is_nan(), "{name}({v}) = {o}, want NaN");
                continue;
            }
            let err = (o - e).abs();
            worst = worst.max(err);
            assert!(err <= 4.0 * f64::EPSILON / 2.0, "{name}({v}) = {o:e}, std gives {e:e} (error {err:e})");
        }
        eprintln!("{name}: worst absolute error {worst:e}");
    }

    #[test]
    fn sin_matches_std() {
        check(sin_in_place, f64::sin, "sin");
    }

    #[test]
    fn cos_matches_std() {
        check(cos_in_place, f64::cos, "cos");
    }

    /// Every dispatch path gives the same bits (no FMA contraction anywhere).
    #[test]
    fn dispatch_paths_agree_bitwise() {
        let x: Vec<f64> = (0..10_000).map(|i| (i as f64 - 5000.0) * 0.0137).collect();
        let (mut a, mut b) = (x.clone(), x.clone());
        apply(&mut a, 0, f64::sin);
        apply_generic(&mut b, 0, f64::sin);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
