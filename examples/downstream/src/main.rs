//! A downstream crate using the Hyena operator through the public API only: build an operator,
//! run forward and backward, and check shapes, finiteness and causality.
//!
//! It is a member of the root workspace only so that `scripts/test` compiles it with the
//! dependencies the workspace has already built (as its own workspace it rebuilt them: 1 min 56 s
//! of a CI run, docs/BUILD.md); it names nothing but the crates' public items, as any user would.
//! `scripts/test` runs its checks as the unit test below; by hand:
//! `cargo run -p hyena-downstream-example --release`

use hyena_model::{HyenaOperator, OperatorConfig};
use rand::{Rng, SeedableRng};
use std::process::ExitCode;

type Res<T> = Result<T, String>;

fn rand_vec(rng: &mut impl Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn max_abs(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |a, v| a.max(v.abs()))
}

/// f32 operator: forward/backward shapes and finiteness.
fn shapes_and_finiteness() -> Res<()> {
    let (b, l, d) = (2usize, 1000usize, 64usize);
    let cfg = OperatorConfig { d_model: d, l_max: 1024, order: 3, filter_order: 64, emb_dim: 5, ..OperatorConfig::default() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let op = HyenaOperator::<f32>::init(&cfg, &mut rng).map_err(|e| e.to_string())?;
    let u: Vec<f32> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let (y, cache) = op.forward(&u, b, l).map_err(|e| e.to_string())?;
    if y.len() != b * l * d {
        return Err(format!("y has {} elements, want {}", y.len(), b * l * d));
    }
    if cache.dims() != (b, l) {
        return Err(format!("cache dims {:?}, want {:?}", cache.dims(), (b, l)));
    }
    let gy: Vec<f32> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut grads = op.zeros_like();
    let gu = op.backward(&cache, &gy, &mut grads).map_err(|e| e.to_string())?;
    if gu.len() != u.len() {
        return Err(format!("grad_u has {} elements, want {}", gu.len(), u.len()));
    }
    if !y.iter().chain(&gu).all(|v| v.is_finite()) {
        return Err("non-finite value in y or grad_u".into());
    }
    let mut n_params = 0;
    for p in grads.params() {
        if !p.data.iter().all(|v| v.is_finite()) {
            return Err(format!("non-finite gradient in {}", p.name));
        }
        n_params += p.data.len();
    }
    if max_abs(&gu.iter().map(|&v| v as f64).collect::<Vec<_>>()) == 0.0 {
        return Err("grad_u is identically zero".into());
    }
    // bad input is an error, not a panic
    if op.forward(&u[..10], b, l).is_ok() {
        return Err("forward accepted a short input".into());
    }
    if op.forward(&u, b, 2048).is_ok() {
        return Err("forward accepted L > l_max".into());
    }
    println!("ok  f32 forward/backward: B={b} L={l} D={d} order 3, {n_params} gradient values, all finite");
    Ok(())
}

/// f64 operator: y[t] depends only on u[≤ t], and grad_u[s] = 0 for s after the last position
/// that receives gradient.
fn causality() -> Res<()> {
    let (b, l, d) = (1usize, 300usize, 16usize);
    let cfg = OperatorConfig { d_model: d, l_max: l, order: 2, filter_order: 32, emb_dim: 3, ..OperatorConfig::default() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let op = HyenaOperator::<f64>::init(&cfg, &mut rng).map_err(|e| e.to_string())?;
    let u = rand_vec(&mut rng, b * l * d);
    let (y1, _) = op.forward(&u, b, l).map_err(|e| e.to_string())?;
    let t0 = 173;
    let mut u2 = u.clone();
    for t in t0..l {
        for c in 0..d {
            u2[t * d + c] += 3.0;
        }
    }
    let (y2, _) = op.forward(&u2, b, l).map_err(|e| e.to_string())?;
    let scale = max_abs(&y1).max(1e-300);
    let before = y1[..t0 * d].iter().zip(&y2[..t0 * d]).fold(0.0f64, |a, (p, q)| a.max((p - q).abs())) / scale;
    let after = y1[t0 * d..].iter().zip(&y2[t0 * d..]).fold(0.0f64, |a, (p, q)| a.max((p - q).abs())) / scale;
    if before > 1e-10 {
        return Err(format!("forward is not causal: outputs before t={t0} moved by {before:e} (relative)"));
    }
    if after < 1e-6 {
        return Err(format!("outputs after t={t0} did not react to the input change ({after:e})"));
    }
    // backward: gradient only at position t1 → no gradient flows to inputs after t1
    let t1 = 120;
    let mut gy = vec![0.0f64; b * l * d];
    for c in 0..d {
        gy[t1 * d + c] = rng.random_range(-1.0..1.0);
    }
    let (_, cache) = op.forward(&u, b, l).map_err(|e| e.to_string())?;
    let mut grads = op.zeros_like();
    let gu = op.backward(&cache, &gy, &mut grads).map_err(|e| e.to_string())?;
    let gscale = max_abs(&gu).max(1e-300);
    let leak = max_abs(&gu[(t1 + 1) * d..]) / gscale;
    if leak > 1e-10 {
        return Err(format!("backward is not causal: grad_u after t={t1} is {leak:e} (relative)"));
    }
    if max_abs(&gu[..=t1 * d + d - 1]) == 0.0 {
        return Err("grad_u before t1 is zero".into());
    }
    println!("ok  causality (f64): Δy before t={t0} is {before:.1e} relative; grad_u after t={t1} is {leak:.1e} relative");
    Ok(())
}

/// Runs every check; the failures, by name.
fn failures() -> Vec<String> {
    let checks: [(&str, fn() -> Res<()>); 2] = [("shapes_and_finiteness", shapes_and_finiteness), ("causality", causality)];
    checks.into_iter().filter_map(|(name, f)| f().err().map(|e| format!("FAIL {name}: {e}"))).collect()
}

fn main() -> ExitCode {
    let failed = failures();
    for f in &failed {
        eprintln!("{f}");
    }
    if failed.is_empty() {
        println!("downstream example: all checks passed");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    /// The checks `main` runs, as the workspace test command runs them.
    #[test]
    fn public_api_checks_pass() {
        let failed = super::failures();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }
}
