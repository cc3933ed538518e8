//! The optional PyTorch baselines: runs `scripts/bench_torch.py` as a subprocess and reads the
//! JSON it writes. Absent Python or torch is not an error — the caller prints why and continues.

use super::report::Cell;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the helper reported.
#[derive(Debug, Default)]
pub struct TorchResults {
    /// (column key, L) → cell.
    pub cells: HashMap<(String, usize), Cell>,
    /// Header facts (torch version, threads, attention backend, device name).
    pub meta: Vec<(String, String)>,
    /// Column key → label, in the helper's order.
    pub columns: Vec<(String, String, String)>,
}

#[derive(Deserialize)]
struct HelperColumn {
    key: String,
    label: String,
    #[serde(default = "ms")]
    unit: String,
}

fn ms() -> String {
    "ms".into()
}

#[derive(Deserialize)]
struct HelperResult {
    key: String,
    #[serde(rename = "L")]
    l: usize,
    value: Option<f64>,
    #[serde(default)]
    reps: usize,
    status: String,
}

#[derive(Deserialize)]
struct HelperOut {
    #[serde(default)]
    meta: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    columns: Vec<HelperColumn>,
    #[serde(default)]
    results: Vec<HelperResult>,
}

/// Locate the helper: `--torch-script`, else `scripts/bench_torch.py` under the current
/// directory or the workspace this binary was built from.
pub fn find_script(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let here = PathBuf::from("scripts/bench_torch.py");
    if here.is_file() {
        return Some(here);
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench_torch.py");
    ws.is_file().then_some(ws)
}

/// `Ok(version)` when `python -c 'import torch'` works, else `Err(reason)`.
pub fn probe(python: &str) -> Result<String, String> {
    match Command::new(python).args(["-c", "import torch; print(torch.__version__)"]).output() {
        Err(e) => Err(format!("cannot run `{python}`: {e}")),
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("").trim().to_string();
            Err(format!("`{python} -c 'import torch'` failed: {last}"))
        }
    }
}

/// Parse the helper's JSON output.
pub fn parse(text: &str) -> Result<TorchResults, String> {
    let out: HelperOut = serde_json::from_str(text).map_err(|e| format!("helper output is not the expected JSON: {e}"))?;
    let mut r = TorchResults::default();
    for (k, v) in out.meta {
        let s = match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        r.meta.push((k, s));
    }
    for c in out.columns {
        r.columns.push((c.key, c.label, c.unit));
    }
    for x in out.results {
        let cell = match x.value {
            Some(v) if x.status == "ok" && v.is_finite() => Cell::ok(v, x.reps),
            _ => Cell::missing(if x.status == "ok" { "error: no value".to_string() } else { x.status }),
        };
        r.cells.insert((x.key, x.l), cell);
    }
    Ok(r)
}

/// Run the helper with `args`; it writes JSON to `json_out`. Its stderr (progress) is passed
/// through to ours.
pub fn run(python: &str, script: &Path, args: &[String], json_out: &Path) -> Result<TorchResults, String> {
    let status = Command::new(python)
        .arg(script)
        .args(args)
        .arg("--out")
        .arg(json_out)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("{} exited with {status}", script.display()));
    }
    let text = std::fs::read_to_string(json_out).map_err(|e| format!("cannot read {}: {e}", json_out.display()))?;
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_helper_json() {
        let t = r#"{"meta": {"torch": "2.1", "threads": 2},
            "columns": [{"key": "torch_sdpa_fwd", "label": "PyTorch SDPA fwd"}],
            "results": [
              {"key": "torch_sdpa_fwd", "L": 1024, "value": 1.5, "reps": 5, "status": "ok"},
              {"key": "torch_sdpa_fwd", "L": 65536, "value": null, "reps": 0, "status": "skipped (est. > 30 s)"}
            ]}"#;
        let r = parse(t).unwrap();
        assert_eq!(r.cells[&("torch_sdpa_fwd".to_string(), 1024)], Cell::ok(1.5, 5));
        assert_eq!(r.cells[&("torch_sdpa_fwd".to_string(), 65536)].status, "skipped (est. > 30 s)");
        assert_eq!(r.columns[0].2, "ms");
        assert!(r.meta.contains(&("threads".to_string(), "2".to_string())));
        assert!(parse("not json").is_err());
    }

    #[test]
    fn missing_python_is_an_error_not_a_panic() {
        assert!(probe("/nonexistent/python-for-hyena-test").is_err());
    }
}
