//! `hyena run` on the HyenaDNA LM golden file split into a weights file and an inputs file: the
//! outputs and every gradient match the golden values (f64: 1e-10, f32: 1e-5); bad files give an
//! error naming the tensor (or file), a failure exit status, and no output file.

use crate::common;

use hyena_model::tensors::{Tensor, TensorData};
use hyena_model::TensorFile;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden() -> TensorFile {
    let dir = std::env::var("HYENA_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"));
    TensorFile::load(dir.join("hyenadna_lm_small.safetensors")).unwrap()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hyena-cli-lm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// (weights, inputs) files from the golden file; `prefix` replaces `weights.`.
fn split(dir: &Path, g: &TensorFile, prefix: &str) -> (PathBuf, PathBuf) {
    let mut w = TensorFile { metadata: g.metadata.clone(), ..Default::default() };
    let mut i = TensorFile::default();
    for (k, t) in &g.tensors {
        if let Some(rest) = k.strip_prefix("weights.") {
            w.tensors.insert(format!("{prefix}{rest}"), t.clone());
        } else if k.starts_with("input.") {
            i.tensors.insert(k.clone(), t.clone());
        }
    }
    let (wp, ip) = (dir.join("weights.safetensors"), dir.join("inputs.safetensors"));
    w.save(&wp, safetensors::Dtype::F64).unwrap();
    i.save(&ip, safetensors::Dtype::F64).unwrap();
    (wp, ip)
}

fn hyena(args: &[&str]) -> (bool, String) {
    let o = Command::new(common::hyena_bin()).args(args).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).to_string())
}

fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

fn conformance(precision: &str, prefix: &str, tol: f64) {
    conformance_on(precision, "cpu", prefix, tol)
}

fn conformance_on(precision: &str, backend: &str, prefix: &str, tol: f64) {
    let g = golden();
    let dir = tmpdir(&format!("ok-{precision}-{backend}"));
    let (wp, ip) = split(&dir, &g, prefix);
    let out = dir.join("out.safetensors");
    let (ok, err) = hyena(&["run", "--weights", wp.to_str().unwrap(), "--inputs", ip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--precision", precision, "--backend", backend]);
    assert!(ok, "hyena run failed: {err}");
    let o = TensorFile::load(&out).unwrap();
    let mut compared = 0;
    for (k, t) in &g.tensors {
        if !(k.starts_with("output.") || k.starts_with("grad.")) {
            continue;
        }
        let ours = o.tensors.get(k).unwrap_or_else(|| panic!("output lacks {k}"));
        assert_eq!(ours.shape, t.shape, "{k}");
        let (TensorData::Float(a), TensorData::Float(b)) = (&ours.data, &t.data) else { panic!("{k} not float") };
        let e = rel_l2(a, b);
        assert!(e <= tol, "{precision} {backend} {k}: rel L2 {e:.3e} > {tol:.0e}");
        compared += 1;
    }
    assert_eq!(compared, 3 + 49, "3 outputs + 49 parameter gradients compared");
    assert_eq!(o.tensors.len(), compared, "no extra output tensors");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lm_f64_matches_golden() {
    conformance("f64", "weights.", 1e-10);
}

#[test]
fn lm_f32_matches_golden_with_model_prefix() {
    conformance("f32", "model.", 1e-5);
}

/// `hyena run --backend sim`: every Hyena operator of the LM on the device abstraction.
#[cfg(feature = "sim")]
#[test]
fn lm_sim_matches_golden() {
    conformance_on("f32", "sim", "weights.", 1e-5);
}

/// Device backends take f32 (the kernels store f32/bf16/f16): f64 is a named error, and a
/// backend the build lacks names its feature.
#[test]
fn device_backend_precision_and_feature_errors() {
    let g = golden();
    let dir = tmpdir("backend-errors");
    let (wp, ip) = split(&dir, &g, "weights.");
    let out = dir.join("out.safetensors");
    let base = ["run", "--weights", wp.to_str().unwrap(), "--inputs", ip.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        hyena(&a)
    };
    let (ok, err) = with(&["--backend", "sim", "--precision", "f64"]);
    assert!(!ok && err.contains("f64") && err.contains("f32"), "{err}");
    assert!(!out.exists());
    if !cfg!(feature = "cuda") {
        let (ok, err) = with(&["--backend", "cuda"]);
        assert!(!ok && err.contains("feature `cuda`"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn expect_failure(name: &str, weights: &TensorFile, inputs: &TensorFile, needle: &str) {
    let dir = tmpdir(name);
    let (wp, ip) = (dir.join("w.safetensors"), dir.join("i.safetensors"));
    weights.save(&wp, safetensors::Dtype::F64).unwrap();
    inputs.save(&ip, safetensors::Dtype::F64).unwrap();
    let out = dir.join("out.safetensors");
    let (ok, err) = hyena(&["run", "--weights", wp.to_str().unwrap(), "--inputs", ip.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok, "{name}: expected failure");
    assert!(err.contains(needle), "{name}: stderr does not name `{needle}`: {err}");
    assert!(!err.contains("panicked"), "{name}: panic: {err}");
    assert!(!out.exists(), "{name}: output written despite the error");
    std::fs::remove_dir_all(&dir).ok();
}

fn parts() -> (TensorFile, TensorFile) {
    let g = golden();
    let mut w = TensorFile { metadata: g.metadata.clone(), ..Default::default() };
    let mut i = TensorFile::default();
    for (k, t) in &g.tensors {
        if k.starts_with("weights.") {
            w.tensors.insert(k.clone(), t.clone());
        } else if k.starts_with("input.") {
            i.tensors.insert(k.clone(), t.clone());
        }
    }
    (w, i)
}

#[test]
fn bad_files_are_named_errors() {
    let (w, i) = parts();
    // Missing tensor.
    let mut w1 = w.clone();
    w1.tensors.remove("weights.backbone.layers.1.norm1.bias");
    expect_failure("missing", &w1, &i, "weights.backbone.layers.1.norm1.bias");
    // Wrong shape.
    let mut w2 = w.clone();
    w2.tensors.insert("weights.backbone.layers.0.mlp.fc1.bias".into(), Tensor::float(vec![63], vec![0.0; 63]));
    expect_failure("shape", &w2, &i, "weights.backbone.layers.0.mlp.fc1.bias");
    // Unknown extra tensor.
    let mut w3 = w.clone();
    w3.tensors.insert("weights.backbone.layers.0.mixer.surprise".into(), Tensor::float(vec![1], vec![0.0]));
    expect_failure("unknown", &w3, &i, "weights.backbone.layers.0.mixer.surprise");
    // Float token ids.
    let mut i2 = TensorFile::default();
    i2.tensors.insert("input.input_ids".into(), Tensor::float(vec![2, 64], vec![1.0; 128]));
    expect_failure("float-ids", &w, &i2, "input.input_ids");
    // Token id outside the vocabulary.
    let mut i3 = TensorFile::default();
    i3.tensors.insert("input.input_ids".into(), Tensor { shape: vec![1, 4], data: TensorData::Int(vec![1, 2, 99, 3]), dtype: "I64".into() });
    expect_failure("oov", &w, &i3, "input_ids");
}

#[test]
fn truncated_and_unknown_dtype_files() {
    let (w, i) = parts();
    let dir = tmpdir("trunc");
    let (wp, ip) = (dir.join("w.safetensors"), dir.join("i.safetensors"));
    w.save(&wp, safetensors::Dtype::F64).unwrap();
    i.save(&ip, safetensors::Dtype::F64).unwrap();
    let bytes = std::fs::read(&wp).unwrap();
    std::fs::write(&wp, &bytes[..bytes.len() - 100]).unwrap();
    let out = dir.join("out.safetensors");
    let (ok, err) = hyena(&["run", "--weights", wp.to_str().unwrap(), "--inputs", ip.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && err.contains("w.safetensors") && !err.contains("panicked"), "{err}");
    assert!(!out.exists());
    // A U16 tensor among the weights.
    let data = vec![0u8; 32];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::U16, vec![16], &data).unwrap();
    let bytes = safetensors::serialize(vec![("weights.backbone.ln_f.bias".to_string(), view)], None).unwrap();
    std::fs::write(&wp, bytes).unwrap();
    let (ok, err) = hyena(&["run", "--weights", wp.to_str().unwrap(), "--inputs", ip.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && err.contains("weights.backbone.ln_f.bias") && !err.contains("panicked"), "{err}");
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).ok();
}
