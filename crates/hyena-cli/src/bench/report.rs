//! The results of `hyena bench`: one row per sequence length, one cell per timed column; printed
//! as a table, written as JSON and CSV, and drawn as a log–log runtime plot.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One measured (or not measured) quantity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Median in milliseconds (or, for bandwidth columns, the unit the column names).
    pub value: Option<f64>,
    /// Timed repetitions behind the median (0 when not measured).
    pub reps: usize,
    /// "ok", or why there is no value: "skipped (est. > 30 s)", "OOM (est. 40.1 GiB)",
    /// "pending: GPU kernels", "error: …".
    pub status: String,
    /// The time of one run estimated before running (ms), when the column has an estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub est_ms: Option<f64>,
    /// Peak memory estimated before running (MiB, the whole process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub est_mib: Option<f64>,
    /// Measured peak resident memory of the process during the cell (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_mib: Option<f64>,
    /// The fastest timed run, same unit as `value` (cells timed by repeated runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// First quartile of the timed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p25: Option<f64>,
    /// Third quartile of the timed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p75: Option<f64>,
    /// For a column that takes the faster of several implementations of one quantity (the
    /// PyTorch Hyena operator: the bench's port or safari's module), which one this cell is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Cell {
    pub fn ok(value: f64, reps: usize) -> Self {
        Cell { value: Some(value), reps, status: "ok".into(), est_ms: None, est_mib: None, peak_mib: None, min: None, p25: None, p75: None, variant: None }
    }
    pub fn missing(status: impl Into<String>) -> Self {
        Cell { value: None, reps: 0, status: status.into(), est_ms: None, est_mib: None, peak_mib: None, min: None, p25: None, p75: None, variant: None }
    }
    /// Interquartile range as a fraction of the median, when the spread is known.
    pub fn iqr_rel(&self) -> Option<f64> {
        match (self.value, self.p25, self.p75) {
            (Some(m), Some(a), Some(b)) if m > 0.0 => Some((b - a) / m),
            _ => None,
        }
    }
    /// Short text for the terminal table.
    fn short(&self, decimals: usize) -> String {
        match self.value {
            Some(v) => match &self.variant {
                Some(w) => format!("{v:.decimals$} {w}"),
                None => format!("{v:.decimals$}"),
            },
            None => {
                let s = &self.status;
                if let Some(rest) = s.strip_prefix("skipped (est. > ") {
                    format!("skip>{}", rest.trim_end_matches(')').replace(' ', ""))
                } else if s.starts_with("skipped") {
                    "skipped".into()
                } else if s.starts_with("OOM") {
                    "OOM".into()
                } else if s.starts_with("pending") {
                    "pending".into()
                } else if s.starts_with("error") {
                    "error".into()
                } else {
                    "—".into()
                }
            }
        }
    }
}

/// A timed column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Stable key used in JSON/CSV (`hyena_fwd`, `attn_fwd`, …).
    pub key: String,
    /// What was timed, in words.
    pub label: String,
    /// Unit of the values ("ms", "GB/s", "%").
    pub unit: String,
    /// Draw on the runtime plot.
    pub plot: bool,
}

/// A derived ratio column: `num / den` of two timed columns (a speedup when > 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub key: String,
    pub num: String,
    pub den: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub l: usize,
    /// Same order as `Report::columns`.
    pub cells: Vec<Cell>,
}

/// Everything one `hyena bench` run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Free-form header facts (backend, threads, B, D, heads, reps, machine, date, command).
    pub meta: Vec<(String, String)>,
    pub columns: Vec<Column>,
    pub ratios: Vec<Ratio>,
    pub rows: Vec<Row>,
    /// Lines printed under the table (which baseline was used, what was skipped and why).
    pub notes: Vec<String>,
}

impl Report {
    fn col(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.key == key)
    }

    /// Value of `key` in `row`, if measured.
    pub fn value(&self, row: &Row, key: &str) -> Option<f64> {
        self.col(key).and_then(|i| row.cells.get(i)).and_then(|c| c.value)
    }

    /// `num / den` for a row, when both were measured and `den > 0`.
    pub fn ratio(&self, row: &Row, r: &Ratio) -> Option<f64> {
        match (self.value(row, &r.num), self.value(row, &r.den)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        }
    }

    /// The human-readable table (header lines, column legend, rows, notes).
    pub fn table(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.meta {
            let _ = writeln!(s, "# {k}: {v}");
        }
        let _ = writeln!(s, "# columns (median {}; speedup = ratio of the two times):", "ms unless stated");
        for c in &self.columns {
            let _ = writeln!(s, "#   {:<20} {} [{}]", c.key, c.label, c.unit);
        }
        for r in &self.ratios {
            let _ = writeln!(s, "#   {:<20} {} / {}", r.key, r.num, r.den);
        }
        let widths: Vec<usize> = self.columns.iter().map(|c| c.key.len().max(9)).collect();
        let rwidths: Vec<usize> = self.ratios.iter().map(|r| r.key.len().max(7)).collect();
        let _ = write!(s, "{:>7}", "L");
        for (c, w) in self.columns.iter().zip(&widths) {
            let _ = write!(s, " {:>w$}", c.key, w = w);
        }
        for (r, w) in self.ratios.iter().zip(&rwidths) {
            let _ = write!(s, " {:>w$}", r.key, w = w);
        }
        s.push('\n');
        for row in &self.rows {
            let _ = write!(s, "{:>7}", fmt_len(row.l));
            for (i, w) in widths.iter().enumerate() {
                let txt = row.cells.get(i).map(|c| c.short(2)).unwrap_or_else(|| "—".into());
                let _ = write!(s, " {txt:>w$}", w = w);
            }
            for (r, w) in self.ratios.iter().zip(&rwidths) {
                let txt = self.ratio(row, r).map(|x| format!("{x:.2}x")).unwrap_or_else(|| "—".into());
                let _ = write!(s, " {txt:>w$}", w = w);
            }
            s.push('\n');
        }
        let mut mem = String::new();
        for row in &self.rows {
            for (c, cell) in self.columns.iter().zip(&row.cells) {
                if cell.est_ms.is_none() && cell.est_mib.is_none() && cell.peak_mib.is_none() {
                    continue;
                }
                let f = |v: Option<f64>, unit: &str| v.map(|x| format!("{x:.0} {unit}")).unwrap_or_else(|| "—".into());
                let _ = write!(mem, "#   {:>6} {:<14} est. {:>10}, est. {:>10}, peak {:>10}", fmt_len(row.l), c.key, f(cell.est_ms, "ms"), f(cell.est_mib, "MiB"), f(cell.peak_mib, "MiB"));
                if let (Some(e), Some(p)) = (cell.est_mib, cell.peak_mib) {
                    let _ = write!(mem, " (est./peak {:.2})", e / p);
                }
                mem.push('\n');
            }
        }
        if !mem.is_empty() {
            let _ = writeln!(s, "# estimates before each cell and measured peak resident memory of the process:");
            s.push_str(&mem);
        }
        let mut spread = String::new();
        for row in &self.rows {
            for (c, cell) in self.columns.iter().zip(&row.cells) {
                let (Some(v), Some(lo), Some(a), Some(b)) = (cell.value, cell.min, cell.p25, cell.p75) else { continue };
                let _ = write!(spread, "#   {:>6} {:<20} min {lo:>10.3}  p25 {a:>10.3}  median {v:>10.3}  p75 {b:>10.3}", fmt_len(row.l), c.key);
                if let Some(r) = cell.iqr_rel() {
                    let _ = write!(spread, "  IQR {:>5.1} %", 100.0 * r);
                }
                let _ = writeln!(spread, "  ({} runs)", cell.reps);
            }
        }
        if !spread.is_empty() {
            let _ = writeln!(s, "# spread of the timed runs per cell (the table shows the median; IQR = p75 − p25, as % of the median):");
            s.push_str(&spread);
        }
        for n in &self.notes {
            let _ = writeln!(s, "# {n}");
        }
        s
    }

    /// CSV: `L`, then per column `<key>_<unit>` (the median), `<key>_reps`, `<key>_status`, the
    /// estimates and peak, and the spread (`<key>_min`, `_p25`, `_p75`), then the ratios.
    pub fn csv(&self) -> String {
        let mut s = String::from("L");
        // Columns that choose between implementations get `<key>_variant` (which one won).
        let chooses: Vec<bool> = (0..self.columns.len())
            .map(|i| self.rows.iter().any(|r| r.cells.get(i).is_some_and(|c| c.variant.is_some())))
            .collect();
        for (c, &ch) in self.columns.iter().zip(&chooses) {
            let _ = write!(s, ",{k}_{u},{k}_reps,{k}_status,{k}_est_ms,{k}_est_mib,{k}_peak_mib,{k}_min,{k}_p25,{k}_p75", k = c.key, u = unit_tag(&c.unit));
            if ch {
                let _ = write!(s, ",{}_variant", c.key);
            }
        }
        for r in &self.ratios {
            let _ = write!(s, ",{}", r.key);
        }
        s.push('\n');
        for row in &self.rows {
            let _ = write!(s, "{}", row.l);
            for i in 0..self.columns.len() {
                let c = row.cells.get(i).cloned().unwrap_or_else(|| Cell::missing("absent"));
                let v = c.value.map(|v| format!("{v:.4}")).unwrap_or_default();
                let o = |x: Option<f64>| x.map(|x| format!("{x:.1}")).unwrap_or_default();
                let q = |x: Option<f64>| x.map(|x| format!("{x:.4}")).unwrap_or_default();
                let _ = write!(s, ",{v},{},{},{},{},{}", c.reps, csv_field(&c.status), o(c.est_ms), o(c.est_mib), o(c.peak_mib));
                let _ = write!(s, ",{},{},{}", q(c.min), q(c.p25), q(c.p75));
                if chooses[i] {
                    let _ = write!(s, ",{}", csv_field(c.variant.as_deref().unwrap_or("")));
                }
            }
            for r in &self.ratios {
                let v = self.ratio(row, r).map(|x| format!("{x:.4}")).unwrap_or_default();
                let _ = write!(s, ",{v}");
            }
            s.push('\n');
        }
        s
    }

    /// JSON: the report plus the ratios evaluated per row.
    pub fn json(&self) -> serde_json::Value {
        let speedups: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut m = serde_json::Map::new();
                m.insert("L".into(), row.l.into());
                for r in &self.ratios {
                    m.insert(r.key.clone(), self.ratio(row, r).map(serde_json::Value::from).unwrap_or(serde_json::Value::Null));
                }
                serde_json::Value::Object(m)
            })
            .collect();
        serde_json::json!({ "report": self, "speedups": speedups })
    }

    /// Write `bench.json`, `bench.csv`, `bench.txt` and `bench.svg` under `dir` (created if
    /// needed); returns the paths written.
    pub fn write_all(&self, dir: &Path, stem: &str) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut out = Vec::new();
        let json = serde_json::to_string_pretty(&self.json()).map_err(std::io::Error::other)?;
        for (ext, body) in [("json", json), ("csv", self.csv()), ("txt", self.table())] {
            let p = dir.join(format!("{stem}.{ext}"));
            write_atomic(&p, body.as_bytes())?;
            out.push(p);
        }
        let svg = dir.join(format!("{stem}.svg"));
        self.plot_svg(&svg)?;
        out.push(svg);
        Ok(out)
    }

    /// Log–log runtime vs sequence length, one line per plotted column (like the paper's
    /// Figure 4.3).
    pub fn plot_svg(&self, path: &Path) -> std::io::Result<()> {
        use plotters::coord::combinators::BindKeyPoints;
        use plotters::prelude::*;
        let series: Vec<(String, Vec<(f64, f64)>)> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.plot && c.unit == "ms")
            .map(|(i, c)| {
                let pts: Vec<(f64, f64)> = self
                    .rows
                    .iter()
                    .filter_map(|r| r.cells.get(i).and_then(|c| c.value).map(|v| (r.l as f64, v)))
                    .filter(|&(_, v)| v > 0.0 && v.is_finite())
                    .collect();
                (c.label.clone(), pts)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        let (xmin, xmax) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), &(x, _)| (a.min(x), b.max(x)));
        let (ymin, ymax) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), &(_, y)| (a.min(y), b.max(y)));
        let (xmin, xmax) = if all.is_empty() { (1024.0, 65536.0) } else { (xmin / 1.3, xmax * 1.3) };
        let (ymin, ymax) = if all.is_empty() { (0.1, 1000.0) } else { (ymin / 2.0, ymax * 2.0) };
        let mut xticks: Vec<f64> = self.rows.iter().map(|r| r.l as f64).collect();
        if xticks.is_empty() {
            xticks = vec![1024.0, 65536.0];
        }
        let err = |e: &dyn std::fmt::Display| std::io::Error::other(format!("plot {}: {e}", path.display()));
        let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let title = self
            .meta
            .iter()
            .find(|(k, _)| k == "title")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "runtime vs sequence length".into());
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((xmin..xmax).log_scale().with_key_points(xticks), (ymin..ymax).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("sequence length L")
            .y_desc("runtime (ms, median)")
            .x_label_formatter(&|x| fmt_len(x.round() as usize))
            .y_label_formatter(&|y| if *y >= 1.0 { format!("{y:.0}") } else { format!("{y:.2}") })
            .draw()
            .map_err(|e| err(&e))?;
        for (i, (label, pts)) in series.iter().enumerate() {
            const COLORS: [RGBColor; 10] = [
                RGBColor(31, 119, 180),
                RGBColor(214, 39, 40),
                RGBColor(44, 160, 44),
                RGBColor(255, 127, 14),
                RGBColor(148, 103, 189),
                RGBColor(140, 86, 75),
                RGBColor(227, 119, 194),
                RGBColor(127, 127, 127),
                RGBColor(188, 189, 34),
                RGBColor(23, 190, 207),
            ];
            let color = COLORS[i % COLORS.len()].to_rgba();
            let style = ShapeStyle { color, filled: true, stroke_width: 2 };
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))
                .map_err(|e| err(&e))?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, style))).map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}

/// 1024 → "1K", 65536 → "64K", 1000 → "1000".
pub fn fmt_len(l: usize) -> String {
    if l >= 1024 && l % 1024 == 0 {
        format!("{}K", l / 1024)
    } else {
        l.to_string()
    }
}

fn unit_tag(u: &str) -> String {
    match u {
        "%" => "pct".into(),
        "GB/s" => "gbps".into(),
        other => other.chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Write through a temporary file in the same directory, then rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-write");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            meta: vec![("backend".into(), "cpu".into()), ("title".into(), "test".into())],
            columns: vec![
                Column { key: "hyena_fwd".into(), label: "Hyena fwd".into(), unit: "ms".into(), plot: true },
                Column { key: "attn_fwd".into(), label: "attention fwd".into(), unit: "ms".into(), plot: true },
                Column { key: "bw".into(), label: "bandwidth".into(), unit: "%".into(), plot: false },
            ],
            ratios: vec![Ratio { key: "speedup_fwd".into(), num: "attn_fwd".into(), den: "hyena_fwd".into() }],
            rows: vec![
                Row {
                    l: 1024,
                    cells: vec![
                        Cell {
                            est_ms: Some(1.5),
                            est_mib: Some(20.0),
                            peak_mib: Some(21.5),
                            min: Some(1.8),
                            p25: Some(1.9),
                            p75: Some(2.1),
                            ..Cell::ok(2.0, 5)
                        },
                        Cell::ok(3.0, 5),
                        Cell::missing("pending: GPU kernels"),
                    ],
                },
                Row {
                    l: 65536,
                    cells: vec![Cell::ok(100.0, 3), Cell::missing("skipped (est. > 30 s)"), Cell::missing("error: a, \"b\"")],
                },
            ],
            notes: vec!["attention baseline: blocked CPU".into()],
        }
    }

    #[test]
    fn table_has_rows_ratios_and_statuses() {
        let t = sample().table();
        assert!(t.contains("# backend: cpu"));
        let lines: Vec<&str> = t.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[1].trim_start().starts_with("1K"));
        assert!(lines[1].contains("1.50x"), "{t}");
        assert!(lines[2].contains("skip>30s"), "{t}");
        assert!(lines[2].contains("error"));
        assert!(t.contains("# attention baseline: blocked CPU"));
        let mem: Vec<&str> = t.lines().filter(|l| l.contains("peak")).collect();
        assert!(mem.iter().any(|l| l.contains("hyena_fwd") && l.contains("20 MiB") && l.contains("(est./peak 0.93)")), "{t}");
        // The spread line of the one cell that has one: IQR (2.1 − 1.9) / 2.0 = 10 %.
        let spread: Vec<&str> = t.lines().filter(|l| l.contains(" p25 ")).collect();
        assert_eq!(spread.len(), 1, "{t}");
        assert!(spread[0].contains("hyena_fwd") && spread[0].contains("min      1.800") && spread[0].contains("IQR  10.0 %"), "{t}");
        assert!(spread[0].contains("(5 runs)"), "{t}");
    }

    #[test]
    fn csv_round_trips_fields() {
        let c = sample().csv();
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(
            lines[0],
            "L,hyena_fwd_ms,hyena_fwd_reps,hyena_fwd_status,hyena_fwd_est_ms,hyena_fwd_est_mib,hyena_fwd_peak_mib,\
             hyena_fwd_min,hyena_fwd_p25,hyena_fwd_p75,\
             attn_fwd_ms,attn_fwd_reps,attn_fwd_status,attn_fwd_est_ms,attn_fwd_est_mib,attn_fwd_peak_mib,\
             attn_fwd_min,attn_fwd_p25,attn_fwd_p75,\
             bw_pct,bw_reps,bw_status,bw_est_ms,bw_est_mib,bw_peak_mib,bw_min,bw_p25,bw_p75,speedup_fwd"
        );
        assert_eq!(
            lines[1],
            "1024,2.0000,5,ok,1.5,20.0,21.5,1.8000,1.9000,2.1000,3.0000,5,ok,,,,,,,,0,pending: GPU kernels,,,,,,,1.5000"
        );
        assert_eq!(lines[2], "65536,100.0000,3,ok,,,,,,,,0,skipped (est. > 30 s),,,,,,,,0,\"error: a, \"\"b\"\"\",,,,,,,");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn json_round_trips_and_has_speedups() {
        let r = sample();
        let j = r.json();
        let back: Report = serde_json::from_value(j["report"].clone()).unwrap();
        assert_eq!(back, r);
        assert_eq!(j["speedups"][0]["speedup_fwd"], 1.5);
        assert!(j["speedups"][1]["speedup_fwd"].is_null());
    }

    #[test]
    fn writes_all_files() {
        let dir = std::env::temp_dir().join(format!("hyena-bench-test-{}", std::process::id()));
        let paths = sample().write_all(&dir, "bench").unwrap();
        assert_eq!(paths.len(), 4);
        for p in &paths {
            assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
        }
        let svg = std::fs::read_to_string(dir.join("bench.svg")).unwrap();
        assert!(svg.contains("<svg"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn empty_report_still_writes() {
        let r = Report { meta: vec![], columns: vec![], ratios: vec![], rows: vec![], notes: vec![] };
        let dir = std::env::temp_dir().join(format!("hyena-bench-empty-{}", std::process::id()));
        assert!(r.write_all(&dir, "x").is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fmt_len_uses_k() {
        assert_eq!(fmt_len(1024), "1K");
        assert_eq!(fmt_len(65536), "64K");
        assert_eq!(fmt_len(1000), "1000");
    }
}
