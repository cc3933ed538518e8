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
    std::fs::remove_dir_all(&out).ok();
}
