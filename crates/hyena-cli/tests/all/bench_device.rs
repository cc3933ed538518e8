//! `hyena bench --device sim`: the device columns (operator fwd, fwd+bwd, fused conv, bandwidth)
//! run end to end through the same code as `--device cuda`, in the simulator, at tiny sizes. Only
//! the path is checked (every cell measured, the files written): simulator times mean nothing.
#![cfg(feature = "sim")]

use crate::common;

use std::process::Command;

#[test]
fn bench_device_sim_fills_every_device_column() {
    let out = std::env::temp_dir().join(format!("hyena-bench-sim-{}", std::process::id()));
    let o = Command::new(common::hyena_bin())
        .args(["bench", "--device", "sim", "--lengths", "17,64", "--width", "8", "--head-dim", "8", "--filter-width", "8"])
        .args(["--reps", "1", "--sample-secs", "0", "--warmup", "0", "--no-torch", "--quiet", "--out-dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    let rep = &j["report"];
    let keys: Vec<&str> = rep["columns"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["hyena_gpu_fwd", "hyena_gpu_fwdbwd", "core_gpu_fwd", "core_gpu_bw"]);
    let rows = rep["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        for (k, c) in keys.iter().zip(r["cells"].as_array().unwrap()) {
            assert_eq!(c["status"], "ok", "L={} {k}: {c}", r["l"]);
            assert!(c["value"].as_f64().unwrap() > 0.0, "L={} {k}: {c}", r["l"]);
        }
    }
    let text = std::fs::read_to_string(out.join("bench.txt")).unwrap();
    assert!(text.contains("NOT GPU times"), "the simulator's times must be labelled");
    // The paper's benchmark filter by default (modulate=False), said in the header.
    assert!(text.contains("no window (modulate=False, the paper's benchmark)"), "{text}");
    std::fs::remove_dir_all(&out).ok();
}

/// `--modulate`: safari's windowed filter on the device path, named in the header; the operator's
/// cells still run.
#[test]
fn bench_device_sim_modulate_windows_the_filter() {
    let out = std::env::temp_dir().join(format!("hyena-bench-sim-mod-{}", std::process::id()));
    let o = Command::new(common::hyena_bin())
        .args(["bench", "--device", "sim", "--lengths", "17", "--width", "8", "--head-dim", "8", "--filter-width", "8", "--modulate"])
        .args(["--reps", "1", "--sample-secs", "0", "--warmup", "0", "--no-torch", "--quiet", "--out-dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("bench.txt")).unwrap();
    assert!(text.contains("windowed (--modulate, safari's default)") && !text.contains("no window"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    let cells = j["report"]["rows"][0]["cells"].as_array().unwrap();
    assert!(cells.iter().take(2).all(|c| c["status"] == "ok" && c["value"].as_f64().is_some_and(|v| v > 0.0)), "{cells:?}");
    std::fs::remove_dir_all(&out).ok();
}
