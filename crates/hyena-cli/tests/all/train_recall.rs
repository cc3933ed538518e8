//! `hyena train-recall` end to end on a tiny model: it trains, logs JSON lines, writes a
//! checkpoint, and a run stopped after 3 updates and resumed ends with exactly the weights of an
//! uninterrupted run.

use crate::common;

use hyena_model::TensorFile;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("hyena-cli-recall-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn train(dir: &Path, ckpt: &str, log: &str, extra: &[&str]) {
    let mut args: Vec<String> = [
        "train-recall", "--vocab", "6", "--seq-len", "8", "--d-model", "8", "--n-layer", "1", "--filter-order", "4",
        "--emb-dim", "3", "--steps", "6", "--batch", "4", "--train-examples", "20", "--test-examples", "8",
        "--eval-every", "3", "--log-every", "1", "--seed", "3", "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !extra.contains(&"--precision") {
        args.extend(["--precision".into(), "f64".into()]);
    }
    args.extend(["--checkpoint".into(), dir.join(ckpt).display().to_string(), "--log".into(), dir.join(log).display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::new(common::hyena_bin()).args(&args).output().unwrap();
    assert!(o.status.success(), "train-recall failed: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn train_resume_equals_uninterrupted() {
    let dir = tmpdir();
    train(&dir, "a.safetensors", "a.jsonl", &[]);
    train(&dir, "b.safetensors", "b.jsonl", &["--max-updates", "3"]);
    let mid = TensorFile::load(dir.join("b.safetensors")).unwrap();
    assert_eq!(mid.metadata["step"], "3");
    train(&dir, "b.safetensors", "b.jsonl", &["--resume"]);
    let a = TensorFile::load(dir.join("a.safetensors")).unwrap();
    let b = TensorFile::load(dir.join("b.safetensors")).unwrap();
    assert_eq!(a.metadata["step"], "6");
    assert_eq!(a.metadata["rng_state"], b.metadata["rng_state"]);
    assert!(a.tensors.keys().any(|k| k.starts_with("optim.exp_avg.")));
    assert_eq!(a.tensors.keys().collect::<Vec<_>>(), b.tensors.keys().collect::<Vec<_>>());
    for (k, t) in &a.tensors {
        assert_eq!(t, &b.tensors[k], "{k} differs between the uninterrupted and the resumed run");
    }
    // The log holds JSON objects with the loss and the test accuracy.
    let log = std::fs::read_to_string(dir.join("a.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|v| v.get("loss").is_some_and(|x| x.as_f64().unwrap().is_finite())));
    assert!(lines.iter().any(|v| v.get("test_accuracy").is_some()));
    // `hyena run` takes the training checkpoint as LM weights (its `optim.` tensors are skipped).
    let mut inp = TensorFile::default();
    inp.tensors.insert(
        "input.input_ids".into(),
        hyena_model::tensors::Tensor { shape: vec![1, 10], data: hyena_model::tensors::TensorData::Int(vec![1, 5, 2, 4, 1, 5, 3, 4, 0, 1]), dtype: "I64".into() },
    );
    inp.save(dir.join("ids.safetensors"), safetensors::Dtype::F64).unwrap();
    let o = Command::new(common::hyena_bin())
        .arg("run")
        .arg("--weights")
        .arg(dir.join("a.safetensors"))
        .arg("--inputs")
        .arg(dir.join("ids.safetensors"))
        .arg("--out")
        .arg(dir.join("run.safetensors"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = TensorFile::load(dir.join("run.safetensors")).unwrap();
    assert_eq!(r.tensors["output.logits"].shape, vec![1, 10, 6]);
    assert!(r.tensors.contains_key("grad.backbone.layers.0.mixer.filter_fn.pos_emb.z"), "z is trained (lr_pos_emb 1e-5)");
    // Resuming with other settings is refused.
    let o = Command::new(common::hyena_bin())
        .args(["train-recall", "--vocab", "6", "--seq-len", "8", "--d-model", "16", "--steps", "6", "--quiet", "--resume", "--precision", "f64"])
        .arg("--checkpoint")
        .arg(dir.join("a.safetensors"))
        .arg("--log")
        .arg(dir.join("c.jsonl"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("other settings"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `--backend sim`: the same tiny run with every Hyena operator on the device abstraction (the
/// simulator) logs the same per-step losses as the CPU run (f32: relative difference ≤ 1e-4 over
/// 6 AdamW steps, where a 1e-5 difference in one step's weights can grow) and writes a checkpoint
/// of the same tensors.
#[cfg(feature = "sim")]
#[test]
fn train_on_sim_follows_the_cpu_run() {
    let dir = std::env::temp_dir().join(format!("hyena-cli-recall-sim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    train(&dir, "cpu.safetensors", "cpu.jsonl", &["--precision", "f32"]);
    train(&dir, "sim.safetensors", "sim.jsonl", &["--precision", "f32", "--backend", "sim"]);
    let losses = |f: &str| -> Vec<f64> {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter_map(|v| v.get("loss").and_then(|x| x.as_f64()))
            .collect()
    };
    let (c, s) = (losses("cpu.jsonl"), losses("sim.jsonl"));
    assert_eq!(c.len(), 6);
    assert_eq!(c.len(), s.len());
    for (i, (a, b)) in c.iter().zip(&s).enumerate() {
        assert!((a - b).abs() <= 1e-4 * a.abs(), "step {}: CPU loss {a} vs sim loss {b}", i + 1);
    }
    let log = std::fs::read_to_string(dir.join("sim.jsonl")).unwrap();
    assert!(log.contains("\"backend\":\"sim\""), "{log}");
    let (a, b) = (TensorFile::load(dir.join("cpu.safetensors")).unwrap(), TensorFile::load(dir.join("sim.safetensors")).unwrap());
    assert_eq!(a.tensors.keys().collect::<Vec<_>>(), b.tensors.keys().collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).ok();
}
