//! `hyena run` end to end: every golden operator file, split into a weights file and an inputs
//! file, must reproduce the golden outputs and gradients (f64 ≤ 1e-10, f32 ≤ 1e-5); bad inputs
//! exit non-zero with a message naming the problem and write nothing.

use crate::common;

use hyena_kernels::rel_l2;
use hyena_model::TensorFile;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    std::env::var("HYENA_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"))
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hyena-run-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Split a golden file into (weights with metadata, inputs).
fn split(golden: &TensorFile, dir: &Path) -> (PathBuf, PathBuf) {
    let mut w = TensorFile { metadata: golden.metadata.clone(), ..Default::default() };
    let mut i = TensorFile::default();
    for (k, t) in &golden.tensors {
        if k.starts_with("weights.") {
            w.tensors.insert(k.clone(), t.clone());
        } else if k.starts_with("input.") {
            i.tensors.insert(k.clone(), t.clone());
        }
    }
    let (wp, ip) = (dir.join("w.safetensors"), dir.join("i.safetensors"));
    w.save(&wp, safetensors::Dtype::F64).unwrap();
    i.save(&ip, safetensors::Dtype::F64).unwrap();
    (wp, ip)
}

fn hyena(args: &[&str]) -> std::process::Output {
    Command::new(common::hyena_bin()).args(args).output().unwrap()
}

/// A GPU this build can use (feature `cuda`, driver and device present): `hyena run --backend
/// cuda` is then checked too. Prints the `[devices]` line `scripts/gpu-check` looks for.
fn gpu_present() -> bool {
    use hyena_kernels::device::DeviceKind;
    let (devs, skipped) = hyena_kernels::device::available();
    match devs.iter().find(|d| d.kind() == DeviceKind::Cuda) {
        Some(d) => {
            eprintln!("[devices] running on CUDA: {}", d.name());
            true
        }
        None => {
            if let Some(s) = skipped.iter().find(|s| s.starts_with("CUDA")) {
                eprintln!("[devices] skipping {s}");
            }
            false
        }
    }
}

#[test]
fn run_reproduces_every_golden_operator_file() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("operator_"))
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let golden = TensorFile::load(&f).unwrap();
        let dir = tmpdir(&name);
        let (wp, ip) = split(&golden, &dir);
        // The CPU backend in f64 and f32; with feature `sim`, the device path on the simulator.
        let mut runs = vec![("f64", "cpu", 1e-10), ("f32", "cpu", 1e-5)];
        if cfg!(feature = "sim") {
            runs.push(("f32", "sim", 1e-5));
        }
        if gpu_present() {
            runs.push(("f32", "cuda", 1e-5));
        }
        for (prec, backend, tol) in runs {
            let out = dir.join(format!("out-{prec}-{backend}.safetensors"));
            let o = hyena(&["run", "--weights", wp.to_str().unwrap(), "--inputs", ip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--precision", prec, "--backend", backend]);
            assert!(o.status.success(), "{name} {prec} {backend}: {}", String::from_utf8_lossy(&o.stderr));
            let prec = format!("{prec} {backend}");
            let res = TensorFile::load(&out).unwrap();
            let expected: Vec<&String> = golden.tensors.keys().filter(|k| k.starts_with("output.") || k.starts_with("grad.")).collect();
            assert_eq!(res.tensors.len(), expected.len(), "{name} {prec}: tensor count");
            for k in expected {
                let (_, want) = golden.float(k, None).unwrap();
                let (_, got) = res.float(k, None).unwrap_or_else(|e| panic!("{name} {prec}: {e}"));
                let e = rel_l2(got, want);
                assert!(e <= tol, "{name} {prec} {k}: {e:e} > {tol:e}");
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn bad_inputs_fail_with_a_named_problem_and_write_nothing() {
    let golden = TensorFile::load(golden_dir().join("operator_tiny_order2.safetensors")).unwrap();
    let dir = tmpdir("bad");
    let (wp, ip) = split(&golden, &dir);
    let out = dir.join("out.safetensors");
    let run = |w: &Path, i: &Path, extra: &[&str]| {
        let mut args = vec!["run", "--weights", w.to_str().unwrap(), "--inputs", i.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = hyena(&args);
        assert!(!o.status.success(), "expected failure");
        assert!(!out.exists(), "nothing may be written on error");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let variant = |tag: &str, f: &dyn Fn(&mut TensorFile)| {
        let mut w = TensorFile::load(&wp).unwrap();
        f(&mut w);
        let p = dir.join(format!("{tag}.safetensors"));
        w.save(&p, safetensors::Dtype::F64).unwrap();
        p
    };
    // Missing tensor.
    let p = variant("missing", &|w| {
        w.tensors.remove("weights.out_proj.bias");
    });
    assert!(run(&p, &ip, &[]).contains("out_proj.bias"));
    // Wrong shape.
    let p = variant("shape", &|w| {
        w.insert_float("weights.short_filter.bias", vec![5], vec![0.0; 5]);
    });
    assert!(run(&p, &ip, &[]).contains("short_filter.bias"));
    // Unknown key.
    let p = variant("unknown", &|w| {
        w.insert_float("weights.mystery", vec![1], vec![0.0]);
    });
    assert!(run(&p, &ip, &[]).contains("mystery"));
    // NaN in weights.
    let p = variant("nan", &|w| {
        let (s, v) = w.float("weights.in_proj.weight", None).unwrap();
        let (s, mut v) = (s.to_vec(), v.to_vec());
        v[3] = f64::NAN;
        w.insert_float("weights.in_proj.weight", s, v);
    });
    assert!(run(&p, &ip, &[]).contains("in_proj.weight"));
    // L > l_max.
    let mut long = TensorFile::default();
    long.insert_float("input.u", vec![1, 17, 4], vec![0.1; 17 * 4]);
    let lp = dir.join("long.safetensors");
    long.save(&lp, safetensors::Dtype::F64).unwrap();
    assert!(run(&wp, &lp, &[]).contains("l_max"));
    // Truncated file.
    let bytes = std::fs::read(&wp).unwrap();
    let tp = dir.join("trunc.safetensors");
    std::fs::write(&tp, &bytes[..bytes.len() / 2]).unwrap();
    assert!(run(&tp, &ip, &[]).contains("trunc.safetensors"));
    std::fs::remove_dir_all(&dir).ok();
}
