//! Conformance with the original safari implementation: every `operator_*.safetensors` golden
//! file (float64 PyTorch outputs and gradients) must match in f64 (rel. L2 ≤ 1e-10) and in f32
//! (rel. L2 ≤ 1e-5), for y, grad_u and every parameter gradient.

use hyena_kernels::{rel_l2, Scalar};
use hyena_model::operator::ParamKind;
use hyena_model::{HyenaOperator, OperatorConfig, TensorFile};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    if let Ok(d) = std::env::var("HYENA_GOLDEN_DIR") {
        return PathBuf::from(d);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
}

fn operator_files() -> Vec<PathBuf> {
    let dir = golden_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("golden dir {} not readable: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("operator_") && n.ends_with(".safetensors")
        })
        .collect();
    v.sort();
    assert!(v.len() >= 4, "expected the golden operator files in {}", dir.display());
    v
}

/// Forward + backward of `op` on `u`/`grad_y` on some backend: `(y, grad_u, parameter grads)`.
type Pass<'a, T> = &'a dyn Fn(&HyenaOperator<T>, &[T], &[T], usize, usize) -> (Vec<T>, Vec<T>, HyenaOperator<T>);

fn cpu_pass<T: Scalar>(op: &HyenaOperator<T>, u: &[T], gy: &[T], b: usize, l: usize) -> (Vec<T>, Vec<T>, HyenaOperator<T>) {
    let (y, cache) = op.forward(u, b, l).unwrap();
    let mut grads = op.zeros_like();
    let gu = op.backward(&cache, gy, &mut grads).unwrap();
    (y, gu, grads)
}

fn check_file<T: Scalar>(path: &PathBuf, tol: f64) {
    check_file_on::<T>(path, tol, "cpu", &cpu_pass::<T>)
}

fn check_file_on<T: Scalar>(path: &PathBuf, tol: f64, backend: &str, pass: Pass<'_, T>) {
    let f = TensorFile::load(path).unwrap();
    let cfg = OperatorConfig::from_json(&f.config_json().unwrap().expect("config metadata")).unwrap();
    let op = HyenaOperator::<T>::from_tensors(&f, "weights.", &cfg).unwrap();
    let (us, u) = f.float("input.u", None).unwrap();
    let (b, l, d) = (us[0], us[1], us[2]);
    assert_eq!(d, op.cfg.d_model);
    let u: Vec<T> = u.iter().map(|&x| T::lit(x)).collect();
    let (_, gy) = f.float("input.grad_y", Some(us)).unwrap();
    let gy: Vec<T> = gy.iter().map(|&x| T::lit(x)).collect();
    let (y, gu, grads) = pass(&op, &u, &gy, b, l);
    let name = format!("{} [{backend}]", path.file_name().unwrap().to_string_lossy());
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut check = |what: &str, ours: &[T], golden: &[f64]| {
        let e = rel_l2(ours, golden);
        report.push(format!("{name} {} {what}: {e:.3e}", T::NAME));
        if !(e <= tol) {
            failures.push(format!("{name} ({}) {what}: rel L2 {e:.3e} > {tol:.0e}", T::NAME));
        }
    };
    check("output.y", &y, f.float("output.y", Some(us)).unwrap().1);
    check("output.grad_u", &gu, f.float("output.grad_u", Some(us)).unwrap().1);
    let mut n_grads = 0;
    for p in grads.params() {
        let key = format!("grad.{}", p.name);
        match p.kind {
            ParamKind::Trainable => {
                let (_, g) = f.float(&key, Some(&p.shape)).unwrap();
                check(&key, p.data, g);
                n_grads += 1;
            }
            ParamKind::Buffer => assert!(!f.tensors.contains_key(&key), "{key}: golden has a gradient for a buffer"),
        }
    }
    // Every gradient in the file was checked.
    let in_file = f.tensors.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(n_grads, in_file, "{name}: some golden gradients were not compared");
    for r in report {
        println!("{r}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_operators_f64() {
    for p in operator_files() {
        check_file::<f64>(&p, 1e-10);
    }
}

#[test]
fn golden_operators_f32() {
    for p in operator_files() {
        check_file::<f32>(&p, 1e-5);
    }
}

#[cfg(any(feature = "cuda", feature = "sim"))]
use crate::common;

/// The same conformance on the CUDA device abstraction — on the GPU when present and in the SIMT
/// simulator — in f32 storage (the kernels' widest), with the same 1e-5 bound as the CPU f32 path.
#[cfg(any(feature = "cuda", feature = "sim"))]
#[test]
fn golden_operators_device_f32() {
    use hyena_model::device_operator::DeviceOperator;
    for dev in common::devices() {
        let pass = |op: &HyenaOperator<f32>, u: &[f32], gy: &[f32], b: usize, l: usize| {
            let dop = DeviceOperator::<f32, f32>::new(op.clone(), dev.clone()).unwrap();
            let (y, cache) = dop.forward(u, b, l).unwrap();
            let mut grads = op.zeros_like();
            let gu = dop.backward(&cache, gy, &mut grads).unwrap();
            (y, gu, grads)
        };
        let tag = format!("{:?}", dev.kind()).to_lowercase();
        for p in operator_files() {
            check_file_on::<f32>(&p, 1e-5, &tag, &pass);
        }
    }
}
