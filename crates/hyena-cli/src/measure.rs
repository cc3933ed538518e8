//! `hyena kernels --measure`: the launches that `--profile` models, run on the real GPU (feature
//! `cuda`) and timed one by one with CUDA events, beside the model's prediction for the same launch
//! (read from a `--profile --json` file given with `--predicted`). The first lent GPU calibrates
//! the model this way (`scripts/gpu-check`; ratios recorded in docs/GPU_MODEL.md).
//!
//! Each launch (kernel or cuBLAS GEMM) is timed alone: events recorded on the launch stream
//! before and after it, then synchronised ([`Device::time_ms`]), so the times exclude launch
//! overlap and include one launch latency each. Every shape runs one warm-up pass (module loading,
//! cuBLAS heuristics, allocator pools) and then `--repeat` passes; the median per launch is kept.
//! Rows are matched with the predictions by setting, pass and position in the pass (the launch
//! sequence is deterministic for a shape), and the kernel names must agree.

use crate::profile::{conv_setting, operator_setting, profiled_operator, tcconv_channels, tcconv_setting, tcdft_setting, tcfft_rows_for, tcfft_setting, ConvOperands, GpuChoice, ProfileArgs, StorageDtype, TC_PRECISIONS};
use hyena_kernels::device::wrap::Wrapper;
use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar, GemmSpec, LaunchConfig};
use hyena_model::device_operator::DeviceOperator;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

type AnyErr = Box<dyn std::error::Error>;

/// One measured launch, with the model's prediction for it when one was given.
#[derive(Clone, Debug, Serialize)]
pub struct MeasuredRow {
    pub setting: String,
    pub pass: String,
    /// Position of the launch in its pass (kernels and GEMMs in issue order).
    pub index: usize,
    pub kernel: String,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    /// Median over the repeats, µs (CUDA events around the launch alone).
    pub measured_us: f64,
    /// Every repeat, µs.
    pub samples_us: Vec<f64>,
    /// The model's time for this launch on the chosen GPU (`--gpu`), µs, if predicted.
    pub predicted_us: Option<f64>,
    /// measured / predicted.
    pub ratio: Option<f64>,
    /// The model's dominating bound for this launch.
    pub bound: Option<String>,
}

/// Label of a GEMM row (the same as `--profile`'s, so rows join by name).
pub fn gemm_label(g: &GemmSpec) -> String {
    format!("gemm {}x{}x{} x{} (beta {})", g.m, g.n, g.k, g.batch, g.beta)
}

struct Timed {
    kernel: String,
    grid: [u32; 3],
    block: [u32; 3],
    ms: f64,
}

/// A [`Device`] that times every kernel launch and GEMM of the device it wraps with
/// [`Device::time_ms`] (CUDA events on a GPU) and logs them in issue order.
struct TimingDevice {
    inner: Arc<dyn Device>,
    log: Mutex<Vec<Timed>>,
}

impl TimingDevice {
    fn take(&self) -> Vec<Timed> {
        self.log.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
    }
    fn push(&self, t: Timed) {
        if let Ok(mut l) = self.log.lock() {
            l.push(t);
        }
    }
}

impl Wrapper for TimingDevice {
    fn inner(&self) -> &dyn Device {
        &*self.inner
    }
    fn name(&self) -> String {
        format!("{} (every launch timed alone)", self.inner.name())
    }
    unsafe fn launch_raw(&self, name: &str, cfg: LaunchConfig, params: &[u8]) -> hyena_kernels::Result<()> {
        let inner = &self.inner;
        // SAFETY: forwarded under the caller's contract of `launch_raw`; the closure runs once,
        // inside this call.
        let ms = inner.time_ms(&mut || unsafe { inner.launch_raw(name, cfg, params) })?;
        self.push(Timed { kernel: name.to_string(), grid: cfg.grid.into(), block: cfg.block.into(), ms });
        Ok(())
    }
    unsafe fn gemm(&self, spec: &GemmSpec) -> hyena_kernels::Result<()> {
        let inner = &self.inner;
        // SAFETY: forwarded under the caller's contract of `gemm`; the closure runs once, inside
        // this call.
        let ms = inner.time_ms(&mut || unsafe { inner.gemm(spec) })?;
        self.push(Timed { kernel: gemm_label(spec), grid: [0; 3], block: [0; 3], ms });
        Ok(())
    }
}

/// The model's rows of a `--profile --json` file, by (setting, pass), in issue order:
/// (kernel, predicted µs on the chosen GPU, bound).
type Predictions = HashMap<(String, String), Vec<(String, f64, String)>>;

fn load_predictions(path: &Path, gpu: GpuChoice) -> Result<Predictions, AnyErr> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--predicted {}: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("--predicted {}: not JSON: {e}", path.display()))?;
    let rows = doc
        .get("rows")
        .and_then(|r| r.as_array())
        .ok_or_else(|| format!("--predicted {}: no `rows` array (write it with `hyena kernels --profile --json`)", path.display()))?;
    let key = match gpu {
        GpuChoice::H200 => "h200_us",
        GpuChoice::H100 => "h100_us",
    };
    let mut m: Predictions = HashMap::new();
    for r in rows {
        let s = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let (Some(setting), Some(pass), Some(kernel), Some(us)) =
            (s("setting"), s("pass"), s("kernel"), r.get(key).and_then(|v| v.as_f64()))
        else {
            return Err(format!("--predicted {}: a row without setting/pass/kernel/{key}", path.display()).into());
        };
        m.entry((setting, pass)).or_default().push((kernel, us, s("bound").unwrap_or_default()));
    }
    Ok(m)
}

/// Median of each launch position over the repeats, joined with the predictions.
fn rows_of(setting: &str, pass: &str, reps: &[Vec<Timed>], pred: Option<&Predictions>) -> Result<Vec<MeasuredRow>, AnyErr> {
    let first = &reps[0];
    for r in reps {
        if r.len() != first.len() || r.iter().zip(first).any(|(a, b)| a.kernel != b.kernel) {
            return Err(format!("{setting} {pass}: the launch sequence changed between repeats").into());
        }
    }
    let predicted = pred.and_then(|p| p.get(&(setting.to_string(), pass.to_string())));
    let mut out = Vec::new();
    for (i, t) in first.iter().enumerate() {
        let mut samples: Vec<f64> = reps.iter().map(|r| r[i].ms * 1e3).collect();
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let measured_us = sorted[sorted.len() / 2];
        let p = predicted.and_then(|p| p.get(i)).filter(|(k, _, _)| *k == t.kernel);
        if predicted.is_some() && p.is_none() {
            eprintln!("measure: {setting} {pass} #{i} `{}`: the prediction file has another launch there", t.kernel);
        }
        samples.shrink_to_fit();
        out.push(MeasuredRow {
            setting: setting.to_string(),
            pass: pass.to_string(),
            index: i,
            kernel: t.kernel.clone(),
            grid: t.grid,
            block: t.block,
            measured_us,
            samples_us: samples,
            predicted_us: p.map(|x| x.1),
            ratio: p.filter(|x| x.1 > 0.0).map(|x| measured_us / x.1),
            bound: p.map(|x| x.2.clone()),
        });
    }
    Ok(out)
}

fn operator_rows<S: DeviceScalar>(
    dev: &Arc<TimingDevice>,
    a: &ProfileArgs,
    b: usize,
    l: usize,
    pred: Option<&Predictions>,
) -> Result<Vec<MeasuredRow>, AnyErr> {
    let setting = operator_setting(a, b, l);
    let op = profiled_operator(a, l)?;
    let ddev: Arc<dyn Device> = dev.clone();
    let dop = DeviceOperator::<f32, S>::new(op.clone(), ddev.clone())?;
    let n = b * l * a.d_model;
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for rep in 0..=a.repeat.max(1) {
        let mut u = DeviceBuffer::<S>::alloc(&ddev, n)?;
        u.write(&vec![S::from_f64(0.5); n])?;
        dev.take();
        let (y, cache) = dop.forward_device(u, b, l)?;
        let f = dev.take();
        let mut grads = op.zeros_like();
        let gu = dop.backward_device(&cache, &y, &mut grads)?;
        drop(gu);
        let g = dev.take();
        if rep > 0 {
            fwd.push(f);
            bwd.push(g);
        }
    }
    let mut rows = rows_of(&setting, "forward", &fwd, pred)?;
    rows.extend(rows_of(&setting, "backward", &bwd, pred)?);
    Ok(rows)
}

fn conv_rows<S: DeviceScalar>(
    dev: &Arc<TimingDevice>,
    a: &ProfileArgs,
    l: usize,
    pred: Option<&Predictions>,
) -> Result<Vec<MeasuredRow>, AnyErr> {
    let setting = conv_setting(a, l);
    let ddev: Arc<dyn Device> = dev.clone();
    let mut x = ConvOperands::<S>::alloc(&ddev, a.conv_batch, a.d_model, l)?;
    x.zero_inputs()?;
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for rep in 0..=a.repeat.max(1) {
        dev.take();
        x.forward(&ddev)?;
        let tf = dev.take();
        x.backward(&ddev)?;
        let tb = dev.take();
        if rep > 0 {
            fwd.push(tf);
            bwd.push(tb);
        }
    }
    let mut rows = rows_of(&setting, "forward", &fwd, pred)?;
    rows.extend(rows_of(&setting, "backward", &bwd, pred)?);
    Ok(rows)
}

/// The tensor-core DFT-256 (each operand precision), the 8192-point FFT and convolution prototypes, on the
/// launches `--profile --tc-dft batch` prices (zero inputs: the time does not depend on them).
fn tcdft_rows(dev: &Arc<TimingDevice>, a: &ProfileArgs, batch: usize, pred: Option<&Predictions>) -> Result<Vec<MeasuredRow>, AnyErr> {
    use hyena_kernels::ops::tcdft::{tc_conv8192, tc_dft256, tc_fft8192};
    let ddev: Arc<dyn Device> = dev.clone();
    let fft_rows = tcfft_rows_for(batch);
    let n = (batch * 512).max(fft_rows * 16384);
    let x = DeviceBuffer::<f32>::from_host(&ddev, &vec![0.0f32; n])?;
    let mut y = DeviceBuffer::<f32>::alloc(&ddev, n)?;
    let mut time = |run: &mut dyn FnMut(&mut DeviceBuffer<f32>) -> Result<(), AnyErr>| -> Result<Vec<Vec<Timed>>, AnyErr> {
        let mut reps = Vec::new();
        for rep in 0..=a.repeat.max(1) {
            dev.take();
            run(&mut y)?;
            let t = dev.take();
            if rep > 0 {
                reps.push(t);
            }
        }
        Ok(reps)
    };
    let mut rows = Vec::new();
    for prec in TC_PRECISIONS {
        let reps = time(&mut |y| Ok(tc_dft256(&ddev, x.view(0..batch * 512)?, y.view_mut(0..batch * 512)?, batch, prec)?))?;
        rows.extend(rows_of(&tcdft_setting(batch, prec), "forward", &reps, pred)?);
    }
    let m = fft_rows * 16384;
    let reps = time(&mut |y| Ok(tc_fft8192(&ddev, x.view(0..m)?, y.view_mut(0..m)?, fft_rows)?))?;
    rows.extend(rows_of(&tcfft_setting(fft_rows), "forward", &reps, pred)?);
    // The convolution prototype: as many real rows of 8192 points, zero coefficients.
    let channels = tcconv_channels(fft_rows, a.d_model);
    let coef = DeviceBuffer::<half::f16>::from_host(&ddev, &vec![half::f16::ZERO; channels * 8192 * 4])?;
    let scale = DeviceBuffer::<f32>::from_host(&ddev, &vec![1.0f32; channels])?;
    let half = fft_rows * 8192;
    let reps = time(&mut |y| Ok(tc_conv8192(&ddev, x.view(0..half)?, &coef, &scale, y.view_mut(0..half)?, fft_rows, channels)?))?;
    rows.extend(rows_of(&tcconv_setting(fft_rows, channels), "forward", &reps, pred)?);
    Ok(rows)
}

fn print_rows(rows: &[MeasuredRow], gpu: &str) {
    let (mut setting, mut pass) = ("", "");
    let (mut tot_m, mut tot_p) = (0.0, 0.0);
    let flush = |pass: &str, m: f64, p: f64| {
        if !pass.is_empty() {
            let ratio = if p > 0.0 { format!("{:.2}", m / p) } else { "-".into() };
            println!("  {:<9} {:<40} {:>16} {:>12.1} {:>12.1} {:>7}", "", format!("total {pass}"), "", m, p, ratio);
        }
    };
    for r in rows {
        if r.setting != setting || r.pass != pass {
            flush(pass, tot_m, tot_p);
            (tot_m, tot_p) = (0.0, 0.0);
            if r.setting != setting {
                println!("\n## {}", r.setting);
                setting = &r.setting;
            }
            pass = &r.pass;
            println!(
                "  {:<9} {:<40} {:>16} {:>12} {:>12} {:>7} {}",
                r.pass,
                "kernel",
                "grid x block",
                "measured us",
                format!("model {gpu}"),
                "ratio",
                "model bound"
            );
        }
        let shape = if r.block[0] == 0 {
            String::new()
        } else {
            format!("{}x{}", r.grid[0] * r.grid[1] * r.grid[2], r.block[0] * r.block[1] * r.block[2])
        };
        let p = r.predicted_us.map(|p| format!("{p:.1}")).unwrap_or_else(|| "-".into());
        let ratio = r.ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        println!(
            "  {:<9} {:<40} {:>16} {:>12.1} {:>12} {:>7} {}",
            "",
            r.kernel,
            shape,
            r.measured_us,
            p,
            ratio,
            r.bound.as_deref().unwrap_or("")
        );
        tot_m += r.measured_us;
        tot_p += r.predicted_us.unwrap_or(0.0);
    }
    flush(pass, tot_m, tot_p);
}

fn write_outputs(a: &ProfileArgs, rows: &[MeasuredRow], gpu: &str, device: &str, notes: &[String]) -> Result<(), AnyErr> {
    if let Some(p) = &a.json {
        let doc = serde_json::json!({
            "what": "per-launch GPU time (CUDA events around each launch alone, median of the repeats) beside the model's prediction",
            "device": device,
            "model_gpu": gpu,
            "repeats": a.repeat.max(1),
            "notes": notes,
            "rows": rows,
        });
        std::fs::write(p, serde_json::to_string_pretty(&doc)?)?;
    }
    if let Some(p) = &a.csv {
        let mut s = String::from("setting,pass,index,kernel,grid,block,measured_us,predicted_us,ratio,bound\n");
        for r in rows {
            let o = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
            s.push_str(&format!(
                "\"{}\",{},{},\"{}\",{}x{}x{},{}x{}x{},{:.3},{},{},{}\n",
                r.setting,
                r.pass,
                r.index,
                r.kernel,
                r.grid[0],
                r.grid[1],
                r.grid[2],
                r.block[0],
                r.block[1],
                r.block[2],
                r.measured_us,
                o(r.predicted_us),
                o(r.ratio),
                r.bound.as_deref().unwrap_or("")
            ));
        }
        std::fs::write(p, s)?;
    }
    Ok(())
}

/// `hyena kernels --measure`: needs a CUDA GPU (a typed error without one).
pub fn measure(a: &ProfileArgs) -> Result<(), AnyErr> {
    let pred = a.predicted.as_deref().map(|p| load_predictions(p, a.gpu)).transpose()?;
    let inner = hyena_kernels::device::cuda::CudaDevice::arc(0)
        .map_err(|e| format!("`--measure` times the kernels on a CUDA GPU: {e}"))?;
    let device = inner.name();
    let dev = Arc::new(TimingDevice { inner, log: Mutex::new(Vec::new()) });
    let gpu = match a.gpu {
        GpuChoice::H200 => "H200",
        GpuChoice::H100 => "H100-SXM",
    };
    println!("# hyena kernels --measure on {device}: every launch timed alone with CUDA events (median of {} repeats after a warm-up)", a.repeat.max(1));
    println!("# beside the model's prediction for {gpu} (model, not a GPU measurement) from {}", a.predicted.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "nothing (no --predicted)".into()));
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    // Each shape's rows (or the note of its failure) are printed and written out before the next
    // shape runs, so a deadline that cuts the run keeps what was measured.
    let mut record = |what: String, r: Result<Vec<MeasuredRow>, AnyErr>| -> Result<(), AnyErr> {
        match r {
            Ok(r) => {
                print_rows(&r, gpu);
                rows.extend(r);
            }
            Err(e) => notes.push(format!("{what}: failed ({e})")),
        }
        write_outputs(a, &rows, gpu, &device, &notes)
    };
    // Small shapes first, so a deadline cuts the largest ones: the tensor-core DFTs (well under
    // a second) before the operator.
    if a.tc_dft > 0 {
        let what = format!("tensor-core DFT-256 and FFT-8192, {} transforms", a.tc_dft);
        eprintln!("measure: {what} ...");
        let r = tcdft_rows(&dev, a, a.tc_dft, pred.as_ref());
        record(what, r)?;
    }
    for &l in &a.lengths {
        for &b in &a.batch {
            let what = operator_setting(a, b, l);
            eprintln!("measure: {what} ...");
            let r = match a.dtype {
                StorageDtype::Bf16 => operator_rows::<half::bf16>(&dev, a, b, l, pred.as_ref()),
                StorageDtype::F16 => operator_rows::<half::f16>(&dev, a, b, l, pred.as_ref()),
                StorageDtype::F32 => operator_rows::<f32>(&dev, a, b, l, pred.as_ref()),
            };
            record(what, r)?;
        }
    }
    for &l in a.conv_lengths.iter().filter(|&&l| l > 0) {
        let what = conv_setting(a, l);
        eprintln!("measure: {what} ...");
        let r = match a.dtype {
            StorageDtype::Bf16 => conv_rows::<half::bf16>(&dev, a, l, pred.as_ref()),
            StorageDtype::F16 => conv_rows::<half::f16>(&dev, a, l, pred.as_ref()),
            StorageDtype::F32 => conv_rows::<f32>(&dev, a, l, pred.as_ref()),
        };
        record(what, r)?;
    }
    for n in &notes {
        println!("note: {n}");
    }
    if !notes.is_empty() {
        return Err(format!("{} shape(s) failed (notes above)", notes.len()).into());
    }
    Ok(())
}
