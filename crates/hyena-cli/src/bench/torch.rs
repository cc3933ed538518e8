//! The optional PyTorch baselines: runs `scripts/bench_torch.py` as a subprocess and reads the
//! JSON it writes — all lengths in one run ([`run`]), or one request at a time ([`Server`]) so
//! that each PyTorch cell runs right after its Rust counterpart. Absent Python or torch is not
//! an error — the caller prints why and continues.

use super::report::Cell;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

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
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    p25: Option<f64>,
    #[serde(default)]
    p75: Option<f64>,
}

impl HelperResult {
    fn cell(&self) -> Cell {
        match self.value {
            Some(v) if self.status == "ok" && v.is_finite() => Cell { min: self.min, p25: self.p25, p75: self.p75, ..Cell::ok(v, self.reps) },
            _ => Cell::missing(if self.status == "ok" { "error: no value".to_string() } else { self.status.clone() }),
        }
    }
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
    r.add_header(out.meta, out.columns);
    for x in out.results {
        r.cells.insert((x.key.clone(), x.l), x.cell());
    }
    Ok(r)
}

impl TorchResults {
    fn add_header(&mut self, meta: serde_json::Map<String, serde_json::Value>, columns: Vec<HelperColumn>) {
        for (k, v) in meta {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            self.meta.push((k, s));
        }
        for c in columns {
            self.columns.push((c.key, c.label, c.unit));
        }
    }
}

/// A reply of the helper's `--serve` mode: `{"results": [...]}`, or `{"error": "..."}`.
#[derive(Deserialize)]
struct ServeReply {
    #[serde(default)]
    results: Vec<HelperResult>,
    #[serde(default)]
    error: Option<String>,
}

/// The helper in `--serve` mode: started once, asked for one length (and some columns) at a
/// time; what it answered accumulates in [`Server::results`].
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Header and every cell answered so far.
    pub results: TorchResults,
}

impl Server {
    /// Start `python script args… --serve` and read its header line (meta and columns).
    pub fn start(python: &str, script: &Path, args: &[String]) -> Result<Server, String> {
        let mut child = Command::new(python)
            .arg(script)
            .args(args)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("internal: the helper's pipes were not opened".into());
        };
        let mut srv = Server { child, stdin: Some(stdin), stdout: BufReader::new(stdout), results: TorchResults::default() };
        let line = srv.read_line()?;
        let head: HelperOut = serde_json::from_str(&line).map_err(|e| format!("helper header is not the expected JSON: {e}"))?;
        srv.results.add_header(head.meta, head.columns);
        Ok(srv)
    }

    /// Column keys the helper offers.
    pub fn keys(&self) -> Vec<String> {
        self.results.columns.iter().map(|(k, _, _)| k.clone()).collect()
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(format!("the helper exited ({})", self.exit_status())),
            Ok(_) => Ok(line),
            Err(e) => Err(format!("cannot read the helper's reply: {e}")),
        }
    }

    fn exit_status(&mut self) -> String {
        match self.child.wait() {
            Ok(s) => s.to_string(),
            Err(e) => format!("status unknown: {e}"),
        }
    }

    /// Run the helper's cells `keys` at length `l` now; returns them and keeps them in
    /// [`Server::results`].
    pub fn cells(&mut self, l: usize, keys: &[&str]) -> Result<Vec<(String, Cell)>, String> {
        let req = serde_json::json!({ "L": l, "keys": keys }).to_string();
        let stdin = self.stdin.as_mut().ok_or("the helper's input is closed")?;
        writeln!(stdin, "{req}").and_then(|_| stdin.flush()).map_err(|e| format!("cannot write to the helper: {e}"))?;
        let line = self.read_line()?;
        let reply: ServeReply = serde_json::from_str(&line).map_err(|e| format!("helper reply is not the expected JSON: {e}"))?;
        if let Some(e) = reply.error {
            return Err(format!("the helper refused {req}: {e}"));
        }
        let mut out = Vec::new();
        for x in reply.results {
            let c = x.cell();
            self.results.cells.insert((x.key.clone(), x.l), c.clone());
            out.push((x.key, c));
        }
        Ok(out)
    }
}

impl Drop for Server {
    /// Closing its input ends the helper's loop; wait for it so that no process is left behind.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
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
    fn parses_the_spread() {
        let t = r#"{"results": [{"key": "k", "L": 8, "value": 2.0, "reps": 9, "status": "ok", "min": 1.5, "p25": 1.8, "p75": 2.4}]}"#;
        let c = &parse(t).unwrap().cells[&("k".to_string(), 8)];
        assert_eq!((c.value, c.min, c.p25, c.p75, c.reps), (Some(2.0), Some(1.5), Some(1.8), Some(2.4), 9));
    }

    /// The `--serve` protocol end to end against a stand-in helper (a shell script, no torch):
    /// header, one request, a refusal, and the helper exiting early.
    #[cfg(unix)]
    #[test]
    fn server_speaks_the_protocol() {
        let dir = std::env::temp_dir().join(format!("hyena-torch-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("helper.sh");
        // Header, then: the first request gets one result, the second a refusal, then exit.
        std::fs::write(
            &script,
            r#"echo '{"meta": {"torch_version": "x"}, "columns": [{"key": "torch_hyena_fwd", "label": "t"}]}'
read req
echo '{"results": [{"key": "torch_hyena_fwd", "L": 1024, "value": 3.0, "reps": 7, "status": "ok", "min": 2.0, "p25": 2.5, "p75": 3.5}]}'
read req; echo '{"error": "no"}'
"#,
        )
        .unwrap();
        let mut srv = Server::start("sh", &script, &[]).unwrap();
        assert_eq!(srv.keys(), ["torch_hyena_fwd"]);
        let got = srv.cells(1024, &["torch_hyena_fwd"]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].1.value, got[0].1.min, got[0].1.reps), (Some(3.0), Some(2.0), 7));
        assert_eq!(srv.results.cells[&("torch_hyena_fwd".to_string(), 1024)].p75, Some(3.5));
        assert!(srv.cells(2048, &[]).unwrap_err().contains("refused"));
        // The helper is gone: either the write or the read says so, whichever comes first.
        let e = srv.cells(4096, &[]).unwrap_err();
        assert!(e.contains("exited") || e.contains("cannot write"), "{e}");
        drop(srv);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_python_is_an_error_not_a_panic() {
        assert!(probe("/nonexistent/python-for-hyena-test").is_err());
    }
}
