//! `hyena bench`: runtime of the Hyena operator vs exact causal attention from 1K to 64K (and
//! beyond), on one backend in one process — the paper's runtime figure, reproducible with one
//! command.
//!
//! CPU (default): the Hyena operator forward and forward+backward, its mixing core alone (the
//! gated FFT long convolution with precomputed filter spectra), and the project's blocked causal
//! attention (online softmax, FlashAttention-2 schedule) of the same width, forward and
//! forward+backward. When Python with torch is found, `scripts/bench_torch.py` adds PyTorch
//! columns (SDPA causal attention, and a standalone PyTorch Hyena operator) at the same sizes and
//! thread count.
//!
//! GPU (`--device cuda`, build feature `cuda`): the project's kernels + cuBLAS in bf16 ([`gpu`]:
//! operator forward and forward+backward, the fused gated conv alone, its bandwidth as a % of a
//! device-to-device copy measured in the same run), timed with CUDA events; FlashAttention-2
//! (PyTorch SDPA restricted to the flash backend) and the PyTorch FFT convolution through the
//! Python helper. `--device sim` (build feature `sim`) runs the same device columns in the SIMT
//! simulator, to check the path end to end at small sizes — its times are not GPU times.

pub mod attention;
#[cfg(any(feature = "cuda", feature = "sim"))]
pub mod gpu;
pub mod report;
pub mod torch;

use attention::{attention_bwd, attention_fwd, AttnShape};
use crate::backend::Backend;
use clap::Args;
use hyena_kernels::device::Device;
use hyena_kernels::HyenaError;
use hyena_kernels::cpu::fftconv::{gated_fftconv_fwd, FftConvPlan, Rows};
use hyena_model::operator::CachePolicy;
use hyena_model::{HyenaOperator, OperatorConfig};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use report::{Cell, Column, Ratio, Report, Row};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Sequence lengths (comma separated; `K` suffix allowed, e.g. 1K,2K,128K). Default: 1K…64K
    /// on the CPU and the simulator; on the GPU the paper's 2K…64K (`--lengths 2K,…,128K` adds
    /// its longest point).
    #[arg(long, value_delimiter = ',', value_parser = parse_len)]
    lengths: Option<Vec<usize>>,
    /// Backend to time.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    device: Backend,
    /// Batch size (default 1 everywhere: the paper's runtime figure, safari
    /// `benchmarks/runtime_hyena_flashmha.py`, runs batch 1; `--batch 16` is the GPU throughput
    /// setting, where launch overheads no longer dominate).
    #[arg(long)]
    batch: Option<usize>,
    /// Model width D (attention uses D / head-dim heads). Default: 256 on the CPU and the
    /// simulator; on the GPU the paper's 768 (12 heads of 64).
    #[arg(long)]
    width: Option<usize>,
    /// Attention head dimension.
    #[arg(long, default_value_t = 64)]
    head_dim: usize,
    /// Order N of the Hyena recurrence.
    #[arg(long, default_value_t = 2)]
    order: usize,
    /// Width of the implicit filter FFN.
    #[arg(long, default_value_t = 64)]
    filter_width: usize,
    /// Window the implicit filter (`exp(−t·|δ|)`, safari's default `modulate=True`), here and in
    /// the PyTorch baselines; the paper's benchmark (safari `benchmarks/runtime_hyena_flashmha.py`)
    /// runs without (`modulate=False`), the default (as `hyena kernels --profile`).
    #[arg(long)]
    modulate: bool,
    /// Fewest timed runs per cell (the median is reported, with the min and quartiles), unless
    /// `--cell-budget-secs` stops a long cell first.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Keep taking timed runs of a cell until they add up to this many seconds (short cells get
    /// hundreds of samples, so that host noise moves their median less).
    #[arg(long, default_value_t = 0.5)]
    sample_secs: f64,
    /// Untimed warm-up runs per cell.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Skip a cell whose estimated single run exceeds this many seconds (extrapolated from the
    /// previous length: L² for attention, L·log L for Hyena).
    #[arg(long, default_value_t = 30.0)]
    max_est_secs: f64,
    /// Time budget per cell: no further timed run starts when it would take the cell's timed
    /// runs past this (there is always at least one).
    #[arg(long, default_value_t = 20.0)]
    cell_budget_secs: f64,
    /// Worker threads (rayon, and torch.set_num_threads for the helper); default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write bench.{json,csv,txt,svg}.
    #[arg(long, default_value = "bench-out")]
    out_dir: PathBuf,
    /// Python interpreter for the PyTorch baselines (default: $HYENA_PYTHON, else python3).
    #[arg(long)]
    python: Option<String>,
    /// Path of the PyTorch helper (default: scripts/bench_torch.py).
    #[arg(long)]
    torch_script: Option<PathBuf>,
    /// Do not run the PyTorch baselines.
    #[arg(long)]
    no_torch: bool,
    /// PyTorch Hyena operators timed against the Rust one (comma-separated subset of `port`,
    /// the bench's own port, and `safari`, the original safari HyenaOperator with nn.Conv1d);
    /// with both, each cell's ratio uses the faster and the `torch_best_*` columns name it.
    #[arg(long, default_value = "port,safari")]
    torch_hyena: String,
    /// Skip the forward+backward columns.
    #[arg(long)]
    fwd_only: bool,
    /// Forward+backward: keep the forward's activations while they take at most this many MiB,
    /// else recompute them per channel group in the backward (0: always recompute; default
    /// 2048, the operator's `CachePolicy::Auto`).
    #[arg(long)]
    train_cache_mib: Option<usize>,
    /// Do not show a progress bar.
    #[arg(long)]
    quiet: bool,
}

fn parse_len(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mul) = match t.strip_suffix(['K', 'k']) {
        Some(n) => (n, 1024usize),
        None => (t, 1),
    };
    let v: usize = num.parse().map_err(|_| format!("invalid length `{s}`"))?;
    let l = v.checked_mul(mul).ok_or_else(|| format!("length `{s}` overflows"))?;
    if l == 0 {
        return Err("lengths must be positive".into());
    }
    Ok(l)
}

/// Timing policy of one cell.
///
/// A cell takes timed runs until they add up to `sample_ms` and number at least `min_reps`, so
/// that a short cell (a 1K forward: a few ms) gets hundreds of samples instead of a handful and
/// its median no longer moves with one slow run; a long one stops at `budget_ms`.
pub(crate) struct Policy {
    /// Untimed runs first (plans, first-touch pages, thread start).
    warmup: usize,
    /// Fewest timed runs, unless the budget stops the cell first.
    min_reps: usize,
    /// Timed runs continue until their times add up to this many ms (`--sample-secs`).
    sample_ms: f64,
    /// No further run starts when the sum so far plus one more run (their mean) would pass this
    /// many ms (`--cell-budget-secs`); there is always at least one timed run.
    budget_ms: f64,
}

impl Policy {
    pub(crate) fn new(warmup: usize, min_reps: usize, sample_secs: f64, budget_secs: f64) -> Self {
        Policy { warmup, min_reps: min_reps.max(1), sample_ms: sample_secs * 1e3, budget_ms: budget_secs * 1e3 }
    }
}

/// Most timed runs of one cell, whatever the policy (a run of a few µs would otherwise take
/// 10⁵ samples to fill half a second).
const MAX_REPS: usize = 10_000;

/// Whether [`time_cell`] takes another timed run after `times` (ms, in order).
fn wants_another(p: &Policy, times: &[f64]) -> bool {
    let n = times.len();
    if n == 0 {
        return true;
    }
    let spent: f64 = times.iter().sum();
    let enough = n >= p.min_reps && spent >= p.sample_ms;
    !enough && n < MAX_REPS && spent + spent / n as f64 <= p.budget_ms
}

/// `q`-quantile (0 ≤ q ≤ 1) of sorted, non-empty `v`: linear interpolation between the two
/// closest ranks (R's type 7, numpy's default; `scripts/bench_torch.py` computes the same).
fn quantile(v: &[f64], q: f64) -> f64 {
    let x = q * (v.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x - x.floor());
    if i + 1 < v.len() {
        v[i] + f * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}

/// The cell of timed runs `times` (non-empty): the median as its value, and the spread.
///
/// The median, not the minimum, is the value: on a shared machine the minimum is the one run that
/// met the quietest moment of the host, while the median is what a run typically costs under the
/// conditions both sides of a ratio saw (the PyTorch cell runs right after its Rust counterpart);
/// the minimum and the quartiles are reported next to it so that the noise shows.
fn sampled_cell(mut times: Vec<f64>) -> Cell {
    times.sort_by(|a, b| a.total_cmp(b));
    let q = |x| quantile(&times, x);
    Cell { min: Some(times[0]), p25: Some(q(0.25)), p75: Some(q(0.75)), ..Cell::ok(q(0.5), times.len()) }
}

/// Run `f` `p.warmup` times untimed, then timed runs as the policy says ([`wants_another`]).
/// `f` returns the milliseconds of the part it times.
fn time_cell(p: &Policy, mut f: impl FnMut() -> Result<f64, String>) -> Cell {
    for _ in 0..p.warmup {
        if let Err(e) = f() {
            return Cell::missing(format!("error: {e}"));
        }
    }
    let mut times = Vec::new();
    while wants_another(p, &times) {
        match f() {
            Ok(ms) => times.push(ms),
            Err(e) => return Cell::missing(format!("error: {e}")),
        }
    }
    sampled_cell(times)
}

/// Bytes of memory available now (Linux `MemAvailable`), if known.
fn mem_available() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Length of the probe run that anchors the first estimate of a column.
const PROBE_LEN: usize = 1024;

/// Estimate one run at length `l` from the previous measured length (`prev`: (L, ms)) with the
/// given growth law.
fn estimate_ms(prev: Option<(usize, f64)>, l: usize, quadratic: bool) -> Option<f64> {
    let (l0, ms) = prev?;
    let r = l as f64 / l0 as f64;
    Some(if quadratic { ms * r * r } else { ms * r * (l as f64).log2().max(1.0) / (l0 as f64).log2().max(1.0) })
}

/// Skip/OOM decision for a cell, `None` to run it.
fn gate(est_ms: Option<f64>, bytes: u128, max_est_secs: f64, avail: Option<u64>) -> Option<Cell> {
    if let Some(a) = avail {
        if bytes as f64 > 0.85 * a as f64 {
            return Some(Cell::missing(format!("OOM (est. {:.1} GiB)", bytes as f64 / (1u64 << 30) as f64)));
        }
    }
    match est_ms {
        Some(ms) if ms / 1e3 > max_est_secs => Some(Cell::missing(format!("skipped (est. > {} s)", fmt_secs(max_est_secs)))),
        _ => None,
    }
}

fn fmt_secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

fn rand_vec(rng: &mut impl Rng, n: usize, amp: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-amp..amp)).collect()
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Resident memory of the bench process besides the cells' buffers (binary, allocator, thread
/// stacks; measured ~30 MiB with 2 threads) where [`resident_bytes`] cannot read it.
const BASE_BYTES: u128 = 32 << 20;

/// The process's resident memory now (Linux `VmRSS`), bytes.
fn resident_bytes() -> Option<u128> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Shape of a CPU cell, for the memory model.
#[derive(Clone, Copy, Debug)]
struct CellShape {
    b: usize,
    l: usize,
    d: usize,
    order: usize,
    filter_width: usize,
    emb_dim: usize,
    modulate: bool,
    threads: usize,
    /// Most bytes of kept activations of the forward+backward ([`CachePolicy::budget`]).
    train_cache_bytes: usize,
}

/// Positions per block of the filter's inference path (`hyena_kernels::cpu::filter::INFER_BLOCK`);
/// it evaluates 2 blocks per thread at a time.
const FILTER_INFER_BLOCK: u128 = 2048;
/// Largest modulation window (with its f64 keys) the filter's cache keeps
/// (`hyena_kernels::cpu::filter::WINDOW_KEEP_BYTES`); larger ones are computed per block.
const FILTER_WINDOW_KEEP_BYTES: u128 = 256 << 20;

/// Peak bytes (f32) a CPU Hyena cell holds, summed from the buffers the code allocates (the
/// process's own resident base is added by the caller). Both paths reuse their buffers from
/// one call to the next (`hyena_model::pool`, the group workspaces, the filter's window cache),
/// so in the timing loop every kept buffer is resident during the whole call, and the peak is
/// the kept set plus the largest transient one:
/// - every cell: the operator's parameters and buffers ([`OperatorConfig::param_count`]; the
///   forward+backward also a gradient holder of that shape), the modulation window `[L, C]`
///   (C = (N−1)·D) the filter's cache keeps up to 256 MiB, FFT scratch per thread;
/// - `hyena_fwd` ([`HyenaOperator::infer`]): u, the filter h `[C, L]`, one channel group's
///   workspaces ([`hyena_model::operator::infer_group`]), the filter spectra (kept between
///   calls by `hyena_model::spectra` up to its `KEEP_BYTES`, else in the group's workspaces),
///   the filter's transients (the `[rows, C]` results of 2 blocks of 2048 positions per thread
///   and each thread's f64 FFN activations) and the group loop's (y, the group's copies of in_proj's rows and out_proj's
///   columns);
/// - `hyena_fwdbwd`: the forward cache (u, the filter FFN's f64 activations and modulation window,
///   and either the in_proj and short-conv outputs, the recurrence steps and filter spectra, or,
///   when those exceed the cache budget `train_cache_bytes`, only the filter h), y, the
///   bench's u and grad_y, and the backward's largest live set (kept: the gradient of the
///   short-conv output and of in_proj, grad_u, grad_h, the current step gradient and the filter
///   backward's temporaries, since the pooled gradients stay resident; recomputed: grad_u, grad_h
///   and one channel group's workspaces or the filter backward's temporaries);
/// - `core_fwd`: v, pre, post, y, h and its spectra.
fn cpu_cell_bytes(key: &str, s: CellShape) -> u128 {
    let sz = 4u128;
    let (b, l, d, n) = (s.b as u128, s.l as u128, s.d as u128, s.order as u128);
    let (f, e, t) = (s.filter_width as u128, s.emb_dim as u128, s.threads.max(1) as u128);
    let nfft = 2 * hyena_kernels::cpu::fftconv::next_smooth(s.l) as u128;
    let bins = nfft / 2 + 1;
    let act = sz * b * l * d; // one [B, L, D] tensor
    let row = sz * l * d; // one [D, L] tensor (no batch)
    let c = (n - 1) * d; // the filter's channels
    let spectra = |c: u128| 2 * sz * c * bins;
    let scratch = t * sz * (3 * nfft + 2 * l);
    let cfg = OperatorConfig { emb_dim: s.emb_dim, ..operator_config(s.d, s.l, s.order, s.filter_width, s.modulate) };
    let params = sz * cfg.param_count().map_or(0, |p| p as u128);
    let window = match sz * l * c + 8 * (l + c) {
        w if s.modulate && w <= FILTER_WINDOW_KEEP_BYTES => w,
        _ => 0,
    };
    let filter_bwd = (n - 1) * row + sz * l * f + 3 * 8 * l * f;
    let cells = match key {
        "hyena_fwd" | "hyena_fwd_kept" => {
            let g = hyena_model::operator::infer_group(s.d, s.order, s.b, s.l, bins as usize, 4) as u128;
            // Spectra up to `hyena_model::spectra::KEEP_BYTES` are kept between calls, all
            // channels' (the group workspaces then hold none); larger ones per group.
            let group_spectra = match spectra(c) <= hyena_model::spectra::KEEP_BYTES as u128 {
                true => spectra(c),
                false => g * 2 * sz * (n - 1) * bins,
            };
            let group = g * sz * b * l * (2 * (n + 1) + (n - 1)) + group_spectra;
            let block = FILTER_INFER_BLOCK.min(l);
            let filter_phase = sz * l.min(2 * FILTER_INFER_BLOCK * t) * c + t * block * (8 * e + 2 * 8 * f + sz * f);
            let group_phase = act + sz * (n + 2) * g * d;
            // The sum, not the larger, of the two phases: the filter's blocks run on the pool's
            // workers, whose glibc arenas keep the freed pages resident while the group loop
            // allocates from the caller's arena (4K, 2 threads: peak 81 MiB, 69 MiB with
            // MALLOC_ARENA_MAX=1, where the larger phase alone gave 67).
            act + (n - 1) * row + group + window + params + scratch + filter_phase + group_phase
        }
        "hyena_fwdbwd" => {
            let layers = 3u128;
            // filter_fwd holds its window in the cache whether or not the window cache keeps it.
            let filter_cache = 8 * l * (e + f * (layers - 1)) + 8 * l * f * layers + sz * l * f + (n - 1) * row;
            let kept = hyena_model::operator::kept_bytes(s.d, s.order, s.b, s.l, bins as usize, 4) as u128;
            if kept <= s.train_cache_bytes as u128 {
                let cache = act + kept + filter_cache;
                let bwd = act * (2 * (n + 1) + 2) + (n - 1) * row + filter_bwd;
                2 * act + cache + act + bwd + scratch + 2 * params
            } else {
                // Recomputed per channel group: the cache keeps u, h and the filter's activations;
                // the backward holds grad_u, grad_h and either one group's workspaces or, after
                // them, the filter backward's [L, C] transpose and [L, F] f64 temporaries.
                let g = hyena_model::operator::train_group(s.d, s.order, s.b, s.l, bins as usize, 4) as u128;
                let ws = g * sz * (b * l * (4 * (n + 1) + (n - 1) + 4) + 2 * (n - 1) * bins);
                let cache = act + (n - 1) * row + filter_cache;
                let bwd = act + (n - 1) * row + ws.max(filter_bwd);
                2 * act + cache + act + bwd + scratch + 2 * params
            }
        }
        "core_fwd" => 4 * act + row + spectra(d) + scratch,
        _ => 0,
    };
    cells
}

/// Reset the process's peak resident memory (Linux `clear_refs`; false where unsupported).
///
/// `clear_refs` sets the peak to the *current* resident size, and memory the previous cell freed
/// stays resident in glibc's heaps (below the mmap threshold, or in the per-thread arenas of the
/// rayon workers) until trimmed: without the trim, a cell's "peak" was the largest earlier cell's
/// (the 8K `core_fwd` read 268 MiB, the 8K fwd+bwd's, against its own ~90). So the freed heap
/// pages go back to the OS first.
fn reset_peak_rss() -> bool {
    trim_heap();
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Return the free pages of every malloc arena to the OS (glibc `malloc_trim`; a no-op elsewhere).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim takes no pointers and only releases memory that no
        // allocation owns; it is thread-safe (it locks each arena).
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Peak resident memory of the process since the last [`reset_peak_rss`] (Linux `VmHWM`), MiB.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Columns of the device backends (`--device cuda|sim`, see [`gpu`]): (key, label, unit).
const DEVICE_COLUMNS: [(&str, &str, &str); 4] = [
    ("hyena_gpu_fwd", "Hyena operator fwd (project kernels + cuBLAS, bf16)", "ms"),
    ("hyena_gpu_fwdbwd", "Hyena operator fwd+bwd (project kernels + cuBLAS, bf16)", "ms"),
    ("core_gpu_fwd", "Hyena mixing core fwd: fused gated FFT conv kernel (bf16)", "ms"),
    ("core_gpu_bw", "mixing core bandwidth, % of device-to-device copy", "%"),
];

const CPU_COLUMNS: [(&str, &str); 6] = [
    ("hyena_fwd", "Hyena operator fwd (Rust CPU; filter and spectra computed in every call, as the PyTorch port does)"),
    ("hyena_fwd_kept", "Hyena operator fwd, filter spectra kept between calls (Rust CPU; inference with fixed weights, no PyTorch counterpart)"),
    ("hyena_fwdbwd", "Hyena operator fwd+bwd (Rust CPU)"),
    ("core_fwd", "Hyena mixing core fwd: gated FFT conv (Rust CPU)"),
    ("attn_fwd", "causal attention fwd, blocked/online softmax (Rust CPU)"),
    ("attn_fwdbwd", "causal attention fwd+bwd, blocked (Rust CPU)"),
];

/// The GPU defaults: the paper's runtime figure (safari `benchmarks/runtime_hyena_flashmha.py`):
/// d_model 768 (12 heads of 64), L = 2K … 64K (its 128K point on request).
const PAPER_WIDTH: usize = 768;
const PAPER_LENGTHS: [usize; 6] = [2048, 4096, 8192, 16384, 32768, 65536];

/// What every column of one `hyena bench` invocation shares, from the flags.
struct Setup {
    /// Sorted, without duplicates.
    lengths: Vec<usize>,
    batch: usize,
    /// Model width D.
    width: usize,
    heads: usize,
    /// Worker threads of the Rust columns.
    threads: usize,
    policy: Policy,
}

pub fn bench(a: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let s = setup(&a)?;
    let mut rep = Report {
        meta: run_meta(&a, &s),
        columns: Vec::new(),
        ratios: Vec::new(),
        rows: s.lengths.iter().map(|&l| Row { l, cells: Vec::new() }).collect(),
        notes: Vec::new(),
    };
    // Probed first, run last, so the Rust columns print early.
    let python = a.python.clone().or_else(|| std::env::var("HYENA_PYTHON").ok()).unwrap_or_else(|| "python3".into());
    let torch_ok = probe_torch(&a, &python, &mut rep.notes);
    match a.device {
        Backend::Cpu => {
            // The helper serves one cell at a time, each right after its Rust counterpart: both
            // sides of a ratio then see the same host conditions (run after all Rust columns,
            // as before, they ran minutes apart and the short cells' ratios moved ±50 %).
            let mut server = torch_ok.as_ref().and_then(|(script, _)| {
                let args = torch_args(&a, &s, "cpu");
                eprintln!("starting the PyTorch baselines: {python} {} {} --serve", script.display(), args.join(" "));
                torch::Server::start(&python, script, &args)
                    .map_err(|e| {
                        eprintln!("PyTorch baselines failed to start: {e}; continuing without them");
                        rep.notes.push(format!("PyTorch baselines: failed to start ({e})"));
                    })
                    .ok()
            });
            cpu_columns(&a, &s, &mut rep, server.as_mut());
            if let (Some(srv), Some((_, ver))) = (server, torch_ok) {
                merge_torch(&mut rep, &srv.results, ver);
                rep.notes.push("PyTorch cells ran right after their Rust counterpart at each length (hyena_fwd, torch_hyena_fwd, torch_safari_fwd, hyena_fwdbwd, …)".into());
                if rep.columns.iter().any(|c| c.key.starts_with("torch_best")) {
                    rep.notes.push(
                        "PyTorch Hyena operator: two implementations, the bench's port (torch_hyena_*: short conv as shifted products) and \
                         safari's HyenaOperator (torch_safari_*: nn.Conv1d short conv, trainable positional embedding); torch_best_* and the \
                         torch/hyena_* ratios take the faster per cell and name it; the slower is sampled until it is clearly slower \
                         (2 runs all > 1.2x the other's median)"
                            .into(),
                    );
                }
            }
        }
        Backend::Cuda | Backend::Sim => {
            device_columns(&a, &s, &mut rep)?;
            if torch_ok.is_none() && a.device == Backend::Cuda {
                rep.notes.push("GPU baselines need Python + torch with CUDA; none were run".into());
            }
            if let Some((script, ver)) = torch_ok {
                torch_columns(&a, &s, &python, &script, ver, &mut rep)?;
            }
        }
    }
    println!("{}", rep.table());
    match rep.write_all(&a.out_dir, "bench") {
        Ok(paths) => {
            for p in paths {
                println!("wrote {}", p.display());
            }
        }
        Err(e) => return Err(format!("cannot write results under {}: {e}", a.out_dir.display()).into()),
    }
    Ok(())
}

/// Check the flags (each error names one) and derive what the columns share; sets the global
/// thread pool when `--threads` is given.
fn setup(a: &BenchArgs) -> Result<Setup, Box<dyn std::error::Error>> {
    if let Some(t) = a.threads {
        if t == 0 {
            return Err("--threads must be at least 1".into());
        }
        rayon::ThreadPoolBuilder::new().num_threads(t).build_global()?;
    }
    let width = a.width.unwrap_or(match a.device {
        Backend::Cpu | Backend::Sim => 256,
        Backend::Cuda => PAPER_WIDTH,
    });
    if width == 0 || a.head_dim == 0 || width % a.head_dim != 0 {
        return Err(format!("--width ({width}) must be a positive multiple of --head-dim ({})", a.head_dim).into());
    }
    if a.order < 2 {
        return Err(format!("--order must be at least 2, got {}", a.order).into());
    }
    if a.filter_width == 0 {
        return Err("--filter-width must be positive".into());
    }
    if !(a.max_est_secs > 0.0) || !(a.cell_budget_secs > 0.0) {
        return Err("--max-est-secs and --cell-budget-secs must be positive".into());
    }
    if !(a.sample_secs >= 0.0 && a.sample_secs.is_finite()) {
        return Err(format!("--sample-secs must be a finite number ≥ 0, got {}", a.sample_secs).into());
    }
    let mut lengths = a.lengths.clone().unwrap_or_else(|| match a.device {
        Backend::Cpu | Backend::Sim => [1, 2, 4, 8, 16, 32, 64].map(|k| k << 10).to_vec(),
        Backend::Cuda => PAPER_LENGTHS.to_vec(),
    });
    lengths.sort_unstable();
    lengths.dedup();
    if lengths.is_empty() {
        return Err("no --lengths given".into());
    }
    let batch = a.batch.unwrap_or(1);
    if batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    Ok(Setup {
        lengths,
        batch,
        width,
        heads: width / a.head_dim,
        threads: rayon::current_num_threads(),
        policy: Policy::new(a.warmup, a.reps, a.sample_secs, a.cell_budget_secs),
    })
}

/// The report's header: what ran, where, how it was timed.
fn run_meta(a: &BenchArgs, s: &Setup) -> Vec<(String, String)> {
    let (batch, heads) = (s.batch, s.heads);
    vec![
        (
            "title".into(),
            format!(
                "Hyena vs attention, {} B={batch} D={} ({heads} heads x {})",
                match a.device {
                    Backend::Cpu => "CPU",
                    Backend::Cuda => "GPU",
                    Backend::Sim => "SIMT simulator (path check, not GPU times)",
                },
                s.width,
                a.head_dim
            ),
        ),
        ("command".into(), std::env::args().collect::<Vec<_>>().join(" ")),
        ("backend".into(), a.device.name().into()),
        ("machine".into(), cpu_model()),
        ("threads".into(), s.threads.to_string()),
        ("dtype".into(), if a.device == Backend::Cpu { "f32" } else { "bf16 storage, f32 arithmetic" }.into()),
        (
            "shape".into(),
            format!(
                "B={batch}, D={}, heads={heads}, head_dim={}, Hyena order={}, filter width={}",
                s.width, a.head_dim, a.order, a.filter_width
            ),
        ),
        (
            "implicit filter".into(),
            if a.modulate { "windowed (--modulate, safari's default)" } else { "no window (modulate=False, the paper's benchmark)" }.into(),
        ),
        (
            "timing".into(),
            format!(
                "median of the timed runs after {} warm-up: at least {} runs and until they add up to {} s, \
                 no run started past ~{} s per cell; cells estimated > {} s per run are skipped",
                s.policy.warmup,
                s.policy.min_reps,
                fmt_secs(a.sample_secs),
                fmt_secs(a.cell_budget_secs),
                fmt_secs(a.max_est_secs)
            ),
        ),
        ("load average at start".into(), load_avg()),
        ("unix time".into(), unix_time()),
    ]
}

/// The PyTorch helper and torch's version when both are there; otherwise a note saying why not.
fn probe_torch(a: &BenchArgs, python: &str, notes: &mut Vec<String>) -> Option<(PathBuf, String)> {
    if a.no_torch {
        notes.push("PyTorch baselines: disabled (--no-torch)".into());
        return None;
    }
    match (torch::find_script(a.torch_script.as_deref()), torch::probe(python)) {
        (None, _) => {
            notes.push("PyTorch baselines: not run (scripts/bench_torch.py not found; pass --torch-script)".into());
            None
        }
        (Some(_), Err(why)) => {
            let m = format!("PyTorch baselines: not run — torch is not available ({why})");
            eprintln!("{m}; continuing without them");
            notes.push(m);
            None
        }
        (Some(script), Ok(ver)) => Some((script, ver)),
    }
}

/// The PyTorch columns timed right after the Rust column `key` (same quantity), in this order.
fn torch_pair(key: &str) -> &'static [&'static str] {
    match key {
        "hyena_fwd" => &["torch_hyena_fwd", "torch_safari_fwd"],
        "hyena_fwdbwd" => &["torch_hyena_fwdbwd", "torch_safari_fwdbwd"],
        "attn_fwd" => &["torch_sdpa_fwd"],
        "attn_fwdbwd" => &["torch_sdpa_fwdbwd"],
        _ => &[],
    }
}

/// The PyTorch Hyena operator's implementations, (name, column key prefix): the bench's port
/// (`scripts/bench_torch.py` `build_hyena`) and safari's original module (`build_safari`).
const TORCH_HYENA_VARIANTS: [(&str, &str); 2] = [("port", "torch_hyena"), ("safari", "torch_safari")];

/// The faster of several measurements of one quantity (`(variant name, cell)`, in a fixed
/// order): the smallest median wins (ties: the first); the result names it in `variant`. No
/// measured cell: a missing cell whose status lists each variant's.
fn faster_variant(cands: &[(&str, &Cell)]) -> Cell {
    let best = cands
        .iter()
        .filter_map(|&(name, c)| c.value.filter(|v| v.is_finite()).map(|v| (name, c, v)))
        .fold(None::<(&str, &Cell, f64)>, |acc, x| match acc {
            Some(a) if a.2 <= x.2 => Some(a),
            _ => Some(x),
        });
    match best {
        Some((name, c, _)) => Cell { variant: Some(name.to_string()), ..c.clone() },
        None => Cell::missing(cands.iter().map(|(n, c)| format!("{n}: {}", c.status)).collect::<Vec<_>>().join("; ")),
    }
}

/// The Rust CPU columns (`--device cpu`): each cell gated by its estimated time and memory,
/// extrapolated from the previous length (or a probe run at [`PROBE_LEN`]): [`CpuBench::gated_cell`].
/// With `torch`, each Rust cell is followed by its PyTorch counterpart ([`torch_pair`]) at the
/// same length, and the helper's other columns run at the end of the length; their cells are
/// kept in the server's results.
fn cpu_columns(a: &BenchArgs, s: &Setup, rep: &mut Report, mut torch: Option<&mut torch::Server>) {
    let (batch, heads) = (s.batch, s.heads);
    let keys: Vec<&(&str, &str)> = CPU_COLUMNS.iter().filter(|(k, _)| !(a.fwd_only && k.ends_with("fwdbwd"))).collect();
    for (k, label) in &keys {
        rep.columns.push(Column { key: k.to_string(), label: label.to_string(), unit: "ms".into(), plot: true });
    }
    rep.ratios.push(Ratio { key: "attn/hyena_fwd".into(), num: "attn_fwd".into(), den: "hyena_fwd".into() });
    if !a.fwd_only {
        rep.ratios.push(Ratio { key: "attn/hyena_fwdbwd".into(), num: "attn_fwdbwd".into(), den: "hyena_fwdbwd".into() });
    }
    rep.ratios.push(Ratio { key: "attn/core_fwd".into(), num: "attn_fwd".into(), den: "core_fwd".into() });
    rep.notes.push(
        "attention baseline (Rust): exact causal softmax attention, blocked 128x128 tiles with online softmax \
         (FlashAttention-2 schedule), rayon over heads x query blocks, block GEMMs via the gemm crate; \
         backward in two passes (dK/dV, then dQ) recomputing the probabilities; Q,K,V given \
         (no projections) — compare with core_fwd; hyena_* include in/out projections, short conv and filter generation"
            .into(),
    );
    rep.notes.push(
        "hyena_fwd is the inference path (HyenaOperator::infer: no cache for a backward, channel groups) \
         with the filter and its spectra computed in every timed call, as the PyTorch port does (the spectra \
         infer keeps for fixed weights are dropped before each run, untimed); hyena_fwd_kept is the same call \
         with them kept between calls (inference with fixed weights; no PyTorch counterpart); \
         hyena_fwdbwd the training path (forward with cache, then backward)"
            .into(),
    );
    let cache_policy = CachePolicy::from_budget_mib(a.train_cache_mib);
    let bench_cpu = CpuBench { batch, width: s.width, heads, head_dim: a.head_dim, order: a.order, filter_width: a.filter_width, modulate: a.modulate, cache_policy };
    let torch_keys: Vec<String> = torch.as_ref().map(|t| t.keys()).unwrap_or_default();
    let pb = progress(a.quiet, (s.lengths.len() * (keys.len() + torch_keys.len())) as u64);
    let avail = mem_available();
    let mut attn_gflops: Option<(usize, f64)> = None;
    let mut prev: std::collections::HashMap<&str, (usize, f64)> = Default::default();
    let mut header: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    header.extend(torch_keys.iter().map(String::as_str));
    say(&pb, row_header(&header));
    for (ri, &l) in s.lengths.iter().enumerate() {
        let mut cells = Vec::new();
        let mut torch_cells: std::collections::HashMap<String, Cell> = Default::default();
        // The helper's cells `want` at this length; a helper that fails is a note, and no more
        // of its cells are asked for.
        let mut ask_torch = |want: Vec<&str>, torch: &mut Option<&mut torch::Server>, notes: &mut Vec<String>| {
            let Some(srv) = torch.as_mut() else { return };
            if want.is_empty() {
                return;
            }
            pb.set_message(format!("L={} {}", report::fmt_len(l), want.join(",")));
            match srv.cells(l, &want) {
                Ok(got) => torch_cells.extend(got),
                Err(e) => {
                    eprintln!("PyTorch baselines failed at L={}: {e}; continuing without them", report::fmt_len(l));
                    notes.push(format!("PyTorch baselines: failed at L={} ({e}); later cells not run", report::fmt_len(l)));
                    *torch = None;
                }
            }
            pb.inc(want.len() as u64);
        };
        for (key, _) in &keys {
            pb.set_message(format!("L={} {key}", report::fmt_len(l)));
            let cell = bench_cpu.gated_cell(key, l, s, a.max_est_secs, avail, prev.get(key).copied());
            // A skipped or OOM cell keeps the extrapolation on the last measured point.
            if let Some(v) = cell.value {
                prev.insert(key, (l, v));
            }
            cells.push(cell);
            pb.inc(1);
            let want: Vec<&str> = torch_pair(key).iter().copied().filter(|t| torch_keys.iter().any(|k| k == t)).collect();
            ask_torch(want, &mut torch, &mut rep.notes);
        }
        let rest: Vec<&str> = torch_keys.iter().map(String::as_str).filter(|k| !keys.iter().any(|(r, _)| torch_pair(r).contains(k))).collect();
        ask_torch(rest, &mut torch, &mut rep.notes);
        if let Some(ms) = keys.iter().position(|(k, _)| *k == "attn_fwd").and_then(|i| cells[i].value) {
            let shape = AttnShape { b: batch, h: heads, l, dh: a.head_dim };
            attn_gflops = Some((l, shape.fwd_flops() / (ms * 1e-3) / 1e9));
        }
        let mut shown = cells.clone();
        shown.extend(torch_keys.iter().map(|k| torch_cells.remove(k).unwrap_or_else(|| Cell::missing("—"))));
        rep.rows[ri].cells = cells;
        say(&pb, row_line(l, &shown));
    }
    pb.finish_and_clear();
    if let Some((l, gf)) = attn_gflops {
        rep.notes.push(format!("Rust attention fwd throughput at L={}: {gf:.1} GFLOP/s (2·B·H·L²·dh causal flops)", report::fmt_len(l)));
    }
}

/// Print a line above the progress bar (indicatif drops `println` when stderr is not a
/// terminal: then print it plainly).
fn say(pb: &ProgressBar, line: String) {
    if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}

/// The PyTorch columns of `scripts/bench_torch.py` at the same sizes and thread count, with
/// the ratios they allow; a failing helper is a note, not an error.
fn torch_columns(a: &BenchArgs, s: &Setup, python: &str, script: &std::path::Path, ver: String, rep: &mut Report) -> Result<(), Box<dyn std::error::Error>> {
    let dev = match a.device {
        Backend::Cpu => "cpu",
        Backend::Cuda => "cuda",
        Backend::Sim => return Err("--device sim has no PyTorch baselines: pass --no-torch".into()),
    };
    let args = torch_args(a, s, dev);
    std::fs::create_dir_all(&a.out_dir)?;
    let json_out = a.out_dir.join(format!("torch-{dev}.json"));
    eprintln!("running the PyTorch baselines: {python} {} {}", script.display(), args.join(" "));
    match torch::run(python, script, &args, &json_out) {
        Ok(tr) => merge_torch(rep, &tr, ver),
        Err(e) => {
            eprintln!("PyTorch baselines failed: {e}; continuing without them");
            rep.notes.push(format!("PyTorch baselines: failed ({e})"));
        }
    }
    Ok(())
}

/// The helper's flags: the same sizes, threads and timing policy as the Rust columns.
fn torch_args(a: &BenchArgs, s: &Setup, dev: &str) -> Vec<String> {
    let lens = s.lengths.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(",");
    let flags = [
        ("--device", dev.to_string()),
        ("--lengths", lens),
        ("--batch", s.batch.to_string()),
        ("--width", s.width.to_string()),
        ("--head-dim", a.head_dim.to_string()),
        ("--order", a.order.to_string()),
        ("--filter-width", a.filter_width.to_string()),
        ("--threads", s.threads.to_string()),
        ("--reps", s.policy.min_reps.to_string()),
        ("--sample-secs", a.sample_secs.to_string()),
        ("--warmup", s.policy.warmup.max(1).to_string()),
        ("--max-est-secs", a.max_est_secs.to_string()),
        ("--cell-budget-secs", a.cell_budget_secs.to_string()),
        ("--hyena-variants", a.torch_hyena.clone()),
    ];
    let mut args: Vec<String> = flags.into_iter().flat_map(|(flag, v)| [flag.to_string(), v]).collect();
    if a.fwd_only {
        args.push("--fwd-only".into());
    }
    if a.modulate {
        args.push("--modulate".into());
    }
    args
}

/// Add the helper's columns (cells by (key, L); a row it did not report says so), its header
/// facts and the ratios its columns allow.
fn merge_torch(rep: &mut Report, tr: &torch::TorchResults, ver: String) {
    rep.meta.push(("torch".into(), ver));
    for (k, v) in &tr.meta {
        rep.meta.push((format!("torch {k}"), v.clone()));
    }
    for (key, label, unit) in &tr.columns {
        rep.columns.push(Column { key: key.clone(), label: label.clone(), unit: unit.clone(), plot: unit == "ms" });
        for row in rep.rows.iter_mut() {
            let c = tr.cells.get(&(key.clone(), row.l)).cloned().unwrap_or_else(|| Cell::missing("not reported"));
            row.cells.push(c);
        }
    }
    add_torch_best(rep);
    let has = |k: &str| rep.columns.iter().any(|c| c.key == k);
    let mut ratios = Vec::new();
    // With both PyTorch Hyena variants the ratio is against the faster per cell (torch_best_*);
    // with one, against it.
    let (tf, tb) = if has("torch_best_fwd") { ("torch_best_fwd", "torch_best_fwdbwd") } else { ("torch_hyena_fwd", "torch_hyena_fwdbwd") };
    let (sf, sb) = if has("torch_safari_fwd") && !has("torch_hyena_fwd") { ("torch_safari_fwd", "torch_safari_fwdbwd") } else { (tf, tb) };
    for (key, num, den) in [
        ("torchsdpa/hyena_fwd", "torch_sdpa_fwd", "hyena_fwd"),
        ("torch/hyena_fwd", sf, "hyena_fwd"),
        ("torch/hyena_fwdbwd", sb, "hyena_fwdbwd"),
        ("flash2/torchfft", "flash2_fwd", "torch_fftconv_fwd"),
        ("flash2/hyena_gpu_fwd", "flash2_fwd", "hyena_gpu_fwd"),
        ("flash2/hyena_gpu_fwdbwd", "flash2_fwdbwd", "hyena_gpu_fwdbwd"),
        ("cudnn/hyena_gpu_fwd", "cudnn_fwd", "hyena_gpu_fwd"),
        ("cudnn/hyena_gpu_fwdbwd", "cudnn_fwdbwd", "hyena_gpu_fwdbwd"),
        ("torchsdpa/torchhyena_fwd", "torch_sdpa_fwd", "torch_hyena_fwd"),
    ] {
        if has(num) && has(den) {
            ratios.push(Ratio { key: key.into(), num: num.into(), den: den.into() });
        }
    }
    rep.ratios.extend(ratios);
}

/// With both PyTorch Hyena variants in `rep`, the columns `torch_best_fwd` / `torch_best_fwdbwd`:
/// per row the faster of the two ([`faster_variant`]), naming which.
fn add_torch_best(rep: &mut Report) {
    for (q, what) in [("fwd", "fwd"), ("fwdbwd", "fwd+bwd")] {
        let idx: Vec<Option<usize>> =
            TORCH_HYENA_VARIANTS.iter().map(|(_, p)| rep.columns.iter().position(|c| c.key == format!("{p}_{q}"))).collect();
        if idx.iter().any(Option::is_none) {
            continue;
        }
        rep.columns.push(Column {
            key: format!("torch_best_{q}"),
            label: format!("PyTorch Hyena operator {what}: per cell the faster of the port and safari's HyenaOperator (named)"),
            unit: "ms".into(),
            plot: false,
        });
        for row in rep.rows.iter_mut() {
            let missing = Cell::missing("not reported");
            let cands: Vec<(&str, &Cell)> = TORCH_HYENA_VARIANTS
                .iter()
                .zip(&idx)
                .map(|((name, _), i)| (*name, i.and_then(|i| row.cells.get(i)).unwrap_or(&missing)))
                .collect();
            let best = faster_variant(&cands);
            row.cells.push(best);
        }
    }
}

/// The device columns ([`gpu`]) on the device `--device` names; in a build without it, a cell
/// per row and a note saying which build has it.
fn device_columns(a: &BenchArgs, s: &Setup, rep: &mut Report) -> Result<(), Box<dyn std::error::Error>> {
    let keys: Vec<&str> =
        DEVICE_COLUMNS.iter().map(|(k, _, _)| *k).filter(|k| !(a.fwd_only && k.ends_with("fwdbwd"))).collect();
    for (k, label, unit) in DEVICE_COLUMNS.iter().filter(|(k, _, _)| keys.contains(k)) {
        rep.columns.push(Column { key: k.to_string(), label: label.to_string(), unit: unit.to_string(), plot: *unit == "ms" });
    }
    let dev = match a.device.open() {
        Ok(Some(dev)) => dev,
        Ok(None) => return Err("internal: the CPU backend has no device columns".into()),
        Err(HyenaError::NotCompiled { feature }) => {
            for row in rep.rows.iter_mut() {
                row.cells = keys.iter().map(|_| Cell::missing(format!("not built: this binary lacks feature `{feature}`"))).collect();
            }
            rep.notes.push(format!(
                "the project's device columns need a build with feature `{feature}` (cargo run --release -p hyena-cli --features {feature} -- bench --device {feature})"
            ));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    rep.meta.push(("device".into(), dev.name()));
    gpu_rows(a, s, dev, &keys, rep)
}

/// The rows of the device columns `keys` on `dev`, after the copy bandwidth they are compared with.
#[cfg(any(feature = "cuda", feature = "sim"))]
fn gpu_rows(a: &BenchArgs, s: &Setup, dev: Arc<dyn Device>, keys: &[&str], rep: &mut Report) -> Result<(), Box<dyn std::error::Error>> {
    let gb = gpu::GpuBench { dev, batch: s.batch, width: s.width, order: a.order, filter_width: a.filter_width, modulate: a.modulate };
    let copy_bytes: usize = if a.device == Backend::Sim { 1 << 20 } else { 1 << 30 };
    let copy = match gb.copy_gbps(copy_bytes, &s.policy) {
        Ok(g) => {
            rep.meta.push(("device-to-device copy".into(), format!("{g:.0} GB/s (read+write, {} MiB buffer, same run)", copy_bytes >> 20)));
            Some(g)
        }
        Err(e) => {
            rep.notes.push(format!("copy bandwidth not measured: {e}"));
            None
        }
    };
    let pb = progress(a.quiet, (s.lengths.len() * keys.len()) as u64);
    for (ri, &l) in s.lengths.iter().enumerate() {
        let mut core_ms = None;
        let mut cells = Vec::new();
        for k in keys {
            pb.set_message(format!("L={} {k}", report::fmt_len(l)));
            let c = gb.run(k, l, &s.policy, core_ms, copy);
            if *k == "core_gpu_fwd" {
                core_ms = c.value;
            }
            cells.push(c);
            pb.inc(1);
        }
        rep.rows[ri].cells = cells;
        say(&pb, row_line(l, &rep.rows[ri].cells));
    }
    pb.finish_and_clear();
    if !a.fwd_only {
        rep.ratios.push(Ratio { key: "fwdbwd/fwd".into(), num: "hyena_gpu_fwdbwd".into(), den: "hyena_gpu_fwd".into() });
    }
    if a.device == Backend::Sim {
        rep.notes.push("--device sim: the device path checked end to end in the SIMT simulator; these times are NOT GPU times".into());
    }
    Ok(())
}

/// Without device features no device opens ([`Backend::open`]): the stub says what is missing.
#[cfg(not(any(feature = "cuda", feature = "sim")))]
fn gpu_rows(_: &BenchArgs, _: &Setup, dev: Arc<dyn Device>, _: &[&str], _: &mut Report) -> Result<(), Box<dyn std::error::Error>> {
    Err(HyenaError::NotCompiled { feature: dev.kind().feature() }.into())
}

/// The operator every Hyena column times (CPU and device): width D, `l_max = L`, the order and
/// filter width of the flags, a 33-wide positional embedding (as `scripts/bench_torch.py`), the
/// filter windowed only with `--modulate` (the paper's benchmark builds `modulate=False`).
fn operator_config(width: usize, l: usize, order: usize, filter_width: usize, modulate: bool) -> OperatorConfig {
    OperatorConfig { d_model: width, l_max: l, order, filter_order: filter_width, emb_dim: 33, modulate, ..OperatorConfig::default() }
}

struct CpuBench {
    batch: usize,
    width: usize,
    heads: usize,
    head_dim: usize,
    order: usize,
    filter_width: usize,
    /// `--modulate`: the filter's window.
    modulate: bool,
    /// How the forward+backward keeps activations (`--train-cache-mib`).
    cache_policy: CachePolicy,
}

/// Which pass a Hyena cell times.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pass {
    /// [`HyenaOperator::infer`]; `keep_spectra: false` drops the filter spectra it keeps between
    /// calls before every run, so each timed call computes them (as the PyTorch port does).
    Fwd { keep_spectra: bool },
    /// [`HyenaOperator::forward`] then [`HyenaOperator::backward`].
    FwdBwd,
}

impl CpuBench {
    /// One cell at length `l`: skipped when its estimated time (extrapolated from `prev`, the
    /// last measured (L, ms) of the column, else from a probe run) or memory is over the limits,
    /// else timed with its peak memory.
    fn gated_cell(&self, key: &str, l: usize, s: &Setup, max_est_secs: f64, avail: Option<u64>, prev: Option<(usize, f64)>) -> Cell {
        let quadratic = key.starts_with("attn");
        let attn = AttnShape { b: self.batch, h: self.heads, l, dh: self.head_dim };
        // The first length of a column has no measured point to extrapolate from: time one run
        // at a short length (a few ms) and extrapolate from that. The probe gets a warm-up run:
        // a cold first call (FFT plans, first-touch pages, thread start) took 1.75× the warm
        // median at 1K, which made the 1M inference estimate 1.5× the measurement
        // (docs/BENCHMARKS.md, "The bench's time estimate at 1M").
        let anchor = prev.or_else(|| {
            let l0 = l.min(PROBE_LEN);
            let one = Policy::new(1, 1, 0.0, 0.0);
            self.run(key, l0, &one).value.map(|ms| (l0, ms))
        });
        // Buffers the operator keeps between calls (hyena_model::pool, the filter's window cache)
        // belong to the previous cell (or the probe): freed, and the freed heap returned to the
        // OS, so that what the process holds now (binary, thread stacks, FFT plans, the gemm
        // crate's per-thread packing buffers: 8–25 MiB, growing with the lengths run before) is
        // the base of this cell's estimate and of its measured peak. Taken after the probe: the
        // first cell of a column read its base before the process had run a GEMM on each
        // thread, and the gemm crate's per-thread buffers (the L2 size each) then counted in the
        // peak but not in the estimate.
        hyena_model::pool::release();
        trim_heap();
        let base = resident_bytes().unwrap_or(BASE_BYTES);
        let bytes = base
            + match key {
                "attn_fwd" => attn.fwd_bytes(4),
                "attn_fwdbwd" => attn.fwd_bwd_bytes(4),
                _ => {
                    let (order, filter_width, threads) = (self.order, self.filter_width, s.threads);
                    let train_cache_bytes = self.cache_policy.budget().unwrap_or(hyena_model::operator::TRAIN_CACHE_BYTES);
                    cpu_cell_bytes(key, CellShape { b: self.batch, l, d: self.width, order, filter_width, emb_dim: 33, modulate: self.modulate, threads, train_cache_bytes })
                }
            };
        let est = estimate_ms(anchor, l, quadratic);
        let mut cell = match gate(est, bytes, max_est_secs, avail) {
            Some(c) => c,
            None => {
                let tracked = reset_peak_rss();
                let mut c = self.run(key, l, &s.policy);
                c.peak_mib = peak_rss_mib().filter(|_| tracked);
                c
            }
        };
        cell.est_ms = est;
        cell.est_mib = Some(bytes as f64 / (1u64 << 20) as f64);
        cell
    }

    fn run(&self, key: &str, l: usize, p: &Policy) -> Cell {
        let r = match key {
            "hyena_fwd" => self.hyena(l, p, Pass::Fwd { keep_spectra: false }),
            "hyena_fwd_kept" => self.hyena(l, p, Pass::Fwd { keep_spectra: true }),
            "hyena_fwdbwd" => self.hyena(l, p, Pass::FwdBwd),
            "core_fwd" => self.core(l, p),
            "attn_fwd" | "attn_fwdbwd" => self.attention(l, p, key == "attn_fwdbwd"),
            other => Err(format!("unknown column {other}")),
        };
        r.unwrap_or_else(|e| Cell::missing(format!("error: {e}")))
    }

    fn hyena(&self, l: usize, p: &Policy, pass: Pass) -> Result<Cell, String> {
        let bwd = pass == Pass::FwdBwd;
        let cfg = operator_config(self.width, l, self.order, self.filter_width, self.modulate);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let mut op = HyenaOperator::<f32>::init(&cfg, &mut rng).map_err(|e| e.to_string())?;
        op.set_cache_policy(self.cache_policy);
        let n = self.batch * l * self.width;
        let u = rand_vec(&mut rng, n, 1.0);
        let gy = if bwd { rand_vec(&mut rng, n, 1.0) } else { Vec::new() };
        let mut grads = bwd.then(|| op.zeros_like());
        Ok(time_cell(p, || {
            if pass == (Pass::Fwd { keep_spectra: false }) {
                // Like-for-like with the PyTorch port, which computes its filter in every forward:
                // the spectra `infer` keeps for fixed weights are dropped before each run (untimed).
                hyena_model::spectra::release();
            }
            let t0 = Instant::now();
            if bwd {
                let (y, cache) = op.forward(&u, self.batch, l).map_err(|e| e.to_string())?;
                std::hint::black_box(&y);
                let grads = grads.as_mut().ok_or("internal: no gradient holder")?;
                let gu = op.backward(&cache, &gy, grads).map_err(|e| e.to_string())?;
                std::hint::black_box(&gu);
            } else {
                // Inference (as the PyTorch fwd columns, under no_grad): no cache kept.
                let y = op.infer(&u, self.batch, l).map_err(|e| e.to_string())?;
                std::hint::black_box(&y);
            }
            Ok(ms_since(t0))
        }))
    }

    fn core(&self, l: usize, p: &Policy) -> Result<Cell, String> {
        let (b, c) = (self.batch, self.width);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let plan = FftConvPlan::<f32>::new(l).map_err(|e| e.to_string())?;
        // a decaying random filter, like the modulated implicit filter
        let h: Vec<f32> =
            (0..c * l).map(|i| rng.random_range(-1.0f32..1.0) * (-((i % l) as f32) / (l as f32 / 8.0)).exp()).collect();
        let hf = plan.filter_spectra(&h, c).map_err(|e| e.to_string())?;
        let d = rand_vec(&mut rng, c, 1.0);
        let n = b * c * l;
        let (v, pre, post) = (rand_vec(&mut rng, n, 1.0), rand_vec(&mut rng, n, 1.0), rand_vec(&mut rng, n, 1.0));
        let mut y = vec![0.0f32; n];
        Ok(time_cell(p, || {
            let rv = Rows::contiguous(&v, b, c, l).map_err(|e| e.to_string())?;
            let rp = Rows::contiguous(&pre, b, c, l).map_err(|e| e.to_string())?;
            let rq = Rows::contiguous(&post, b, c, l).map_err(|e| e.to_string())?;
            let t0 = Instant::now();
            gated_fftconv_fwd(&plan, &hf, &d, rv, Some(rp), Some(rq), &mut y).map_err(|e| e.to_string())?;
            std::hint::black_box(&y);
            Ok(ms_since(t0))
        }))
    }

    fn attention(&self, l: usize, p: &Policy, bwd: bool) -> Result<Cell, String> {
        let s = AttnShape { b: self.batch, h: self.heads, l, dh: self.head_dim };
        let n = s.numel().map_err(|e| e.to_string())?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let (q, k, v) = (rand_vec(&mut rng, n, 1.0), rand_vec(&mut rng, n, 1.0), rand_vec(&mut rng, n, 1.0));
        let go = if bwd { rand_vec(&mut rng, n, 1.0) } else { Vec::new() };
        let mut o = vec![0.0f32; n];
        let mut lse = vec![0.0f32; n / self.head_dim];
        Ok(time_cell(p, || {
            let t0 = Instant::now();
            attention_fwd(s, &q, &k, &v, &mut o, &mut lse).map_err(|e| e.to_string())?;
            if bwd {
                let g = attention_bwd(s, &q, &k, &v, &o, &lse, &go).map_err(|e| e.to_string())?;
                std::hint::black_box((&g.dq, &g.dk, &g.dv));
            }
            std::hint::black_box(&o);
            Ok(ms_since(t0))
        }))
    }
}

fn progress(quiet: bool, n: u64) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n);
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cells  {msg}") {
        pb.set_style(style);
    }
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

fn row_header(keys: &[&str]) -> String {
    let mut s = format!("{:>7}", "L");
    for k in keys {
        s.push_str(&format!(" {:>14}", k));
    }
    s
}

fn row_line(l: usize, cells: &[Cell]) -> String {
    let mut s = format!("{:>7}", report::fmt_len(l));
    for c in cells {
        let t = match c.value {
            Some(v) => format!("{v:.2}"),
            None => c.status.chars().take(14).collect(),
        };
        s.push_str(&format!(" {:>14}", t));
    }
    s
}

fn cpu_model() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{name}, {cores} logical cores available")
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn unix_time() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(v: f64, reps: usize) -> Cell {
        Cell { min: Some(0.9 * v), p25: Some(0.95 * v), p75: Some(1.1 * v), ..Cell::ok(v, reps) }
    }

    #[test]
    fn the_faster_torch_variant_wins_and_is_named() {
        let (port, safari) = (timed(12.0, 9), timed(8.5, 3));
        let b = faster_variant(&[("port", &port), ("safari", &safari)]);
        assert_eq!((b.value, b.reps, b.min, b.variant.as_deref()), (Some(8.5), 3, safari.min, Some("safari")));
        let b = faster_variant(&[("port", &timed(7.0, 5)), ("safari", &safari)]);
        assert_eq!((b.value, b.variant.as_deref()), (Some(7.0), Some("port")));
        // A tie goes to the first (the port); the order of the candidates decides, not the name.
        let tie = faster_variant(&[("port", &timed(5.0, 5)), ("safari", &timed(5.0, 2))]);
        assert_eq!((tie.reps, tie.variant.as_deref()), (5, Some("port")));
        // A variant without a value (skipped, error) cannot win; none measured: both statuses.
        let skip = Cell::missing("skipped (est. > 30 s)");
        let b = faster_variant(&[("port", &skip), ("safari", &safari)]);
        assert_eq!(b.variant.as_deref(), Some("safari"));
        let none = faster_variant(&[("port", &skip), ("safari", &Cell::missing("OOM"))]);
        assert_eq!((none.value, none.variant.as_deref()), (None, None));
        assert_eq!(none.status, "port: skipped (est. > 30 s); safari: OOM");
        let nan = Cell::ok(f64::NAN, 1);
        assert_eq!(faster_variant(&[("port", &nan), ("safari", &safari)]).variant.as_deref(), Some("safari"));
    }

    #[test]
    fn both_hyena_variants_are_asked_right_after_the_rust_cell() {
        assert_eq!(torch_pair("hyena_fwd"), ["torch_hyena_fwd", "torch_safari_fwd"]);
        assert_eq!(torch_pair("hyena_fwdbwd"), ["torch_hyena_fwdbwd", "torch_safari_fwdbwd"]);
        assert_eq!(torch_pair("attn_fwd"), ["torch_sdpa_fwd"]);
        assert!(torch_pair("core_fwd").is_empty());
    }

    fn report_with(keys: &[&str], rows: &[(usize, Vec<Cell>)]) -> Report {
        Report {
            meta: Vec::new(),
            columns: keys.iter().map(|k| Column { key: k.to_string(), label: k.to_string(), unit: "ms".into(), plot: true }).collect(),
            ratios: Vec::new(),
            rows: rows.iter().map(|(l, c)| Row { l: *l, cells: c.clone() }).collect(),
            notes: Vec::new(),
        }
    }

    /// merge_torch with both variants: the best columns pick per row, the ratios divide the faster
    /// PyTorch time by the Rust one, and the table, CSV and JSON name the winner.
    #[test]
    fn merged_torch_ratios_use_the_faster_variant_per_cell() {
        let mut rep = report_with(&["hyena_fwd", "hyena_fwdbwd"], &[(1024, vec![Cell::ok(2.0, 5), Cell::ok(10.0, 5)]), (2048, vec![Cell::ok(4.0, 5), Cell::ok(20.0, 5)])]);
        let helper = r#"{"meta": {}, "columns": [
              {"key": "torch_hyena_fwd", "label": "p"}, {"key": "torch_safari_fwd", "label": "s"},
              {"key": "torch_hyena_fwdbwd", "label": "p"}, {"key": "torch_safari_fwdbwd", "label": "s"}],
            "results": [
              {"key": "torch_hyena_fwd", "L": 1024, "value": 5.0, "reps": 5, "status": "ok"},
              {"key": "torch_safari_fwd", "L": 1024, "value": 6.0, "reps": 2, "status": "ok"},
              {"key": "torch_hyena_fwdbwd", "L": 1024, "value": 30.0, "reps": 5, "status": "ok"},
              {"key": "torch_safari_fwdbwd", "L": 1024, "value": 25.0, "reps": 5, "status": "ok"},
              {"key": "torch_hyena_fwd", "L": 2048, "value": 12.0, "reps": 5, "status": "ok"},
              {"key": "torch_safari_fwd", "L": 2048, "value": 9.0, "reps": 5, "status": "ok"},
              {"key": "torch_hyena_fwdbwd", "L": 2048, "value": 50.0, "reps": 5, "status": "ok"},
              {"key": "torch_safari_fwdbwd", "L": 2048, "value": null, "reps": 0, "status": "skipped (est. > 30 s)"}
            ]}"#;
        merge_torch(&mut rep, &torch::parse(helper).unwrap(), "2.x".into());
        let r = |key: &str, row: usize| {
            let ratio = rep.ratios.iter().find(|r| r.key == key).unwrap_or_else(|| panic!("no ratio {key}"));
            rep.ratio(&rep.rows[row], ratio)
        };
        assert_eq!((r("torch/hyena_fwd", 0), r("torch/hyena_fwd", 1)), (Some(2.5), Some(2.25)));
        assert_eq!((r("torch/hyena_fwdbwd", 0), r("torch/hyena_fwdbwd", 1)), (Some(2.5), Some(2.5)));
        let best = |key: &str, row: usize| {
            let i = rep.columns.iter().position(|c| c.key == key).unwrap();
            rep.rows[row].cells[i].variant.clone()
        };
        assert_eq!(best("torch_best_fwd", 0).as_deref(), Some("port"));
        assert_eq!(best("torch_best_fwd", 1).as_deref(), Some("safari"));
        assert_eq!(best("torch_best_fwdbwd", 0).as_deref(), Some("safari"));
        assert_eq!(best("torch_best_fwdbwd", 1).as_deref(), Some("port"));
        assert!(!rep.columns.iter().find(|c| c.key == "torch_best_fwd").unwrap().plot);
        let txt = rep.table();
        assert!(txt.contains("25.00 safari") && txt.contains("5.00 port"), "{txt}");
        // The helper's "slower variant not run" status reads as such in the table.
        let mut skipped = rep.clone();
        skipped.rows[0].cells[0] = Cell::missing("skipped (est. 90 ms > 3x the other variant's 20 ms)");
        assert!(skipped.table().lines().any(|l| l.trim_start().starts_with("1K") && l.contains(" skipped ")));
        let csv = rep.csv();
        let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let vcol = head.iter().position(|h| *h == "torch_best_fwd_variant").expect("variant column");
        assert!(!head.contains(&"torch_hyena_fwd_variant"));
        let row1: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
        assert_eq!(row1[vcol], "safari");
        let json = rep.json().to_string();
        assert!(json.contains(r#""variant":"safari""#), "{json}");
    }

    /// With the port alone (`--torch-hyena port`) there is no best column and the ratios use it.
    #[test]
    fn one_torch_variant_is_used_directly() {
        let mut rep = report_with(&["hyena_fwd"], &[(1024, vec![Cell::ok(2.0, 5)])]);
        let helper = r#"{"columns": [{"key": "torch_hyena_fwd", "label": "p"}],
            "results": [{"key": "torch_hyena_fwd", "L": 1024, "value": 5.0, "reps": 5, "status": "ok"}]}"#;
        merge_torch(&mut rep, &torch::parse(helper).unwrap(), "2.x".into());
        assert!(!rep.columns.iter().any(|c| c.key.starts_with("torch_best")));
        let ratio = rep.ratios.iter().find(|r| r.key == "torch/hyena_fwd").unwrap();
        assert_eq!((ratio.num.as_str(), rep.ratio(&rep.rows[0], ratio)), ("torch_hyena_fwd", Some(2.5)));
        let mut rep = report_with(&["hyena_fwd"], &[(1024, vec![Cell::ok(2.0, 5)])]);
        let helper = r#"{"columns": [{"key": "torch_safari_fwd", "label": "s"}],
            "results": [{"key": "torch_safari_fwd", "L": 1024, "value": 7.0, "reps": 5, "status": "ok"}]}"#;
        merge_torch(&mut rep, &torch::parse(helper).unwrap(), "2.x".into());
        let ratio = rep.ratios.iter().find(|r| r.key == "torch/hyena_fwd").unwrap();
        assert_eq!(rep.ratio(&rep.rows[0], ratio), Some(3.5));
    }

    #[test]
    fn parses_lengths_with_k() {
        assert_eq!(parse_len("64K"), Ok(65536));
        assert_eq!(parse_len("1000"), Ok(1000));
        assert!(parse_len("0").is_err());
        assert!(parse_len("x").is_err());
        assert!(parse_len("99999999999999999999K").is_err());
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        // q = 0.25 of 5 values: rank 0.25·4 = 1 exactly; of 4 values: rank 0.75, 1 + 0.75·(2 − 1).
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.25), 2.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        assert_eq!(quantile(&[7.0], 0.75), 7.0);
        assert_eq!(quantile(&[1.0, 9.0], 1.0), 9.0);
    }

    #[test]
    fn estimates_and_gates() {
        assert_eq!(estimate_ms(None, 1024, true), None);
        assert_eq!(estimate_ms(Some((1024, 10.0)), 2048, true), Some(40.0));
        let g = gate(Some(40_000.0), 0, 30.0, None).unwrap();
        assert_eq!(g.status, "skipped (est. > 30 s)");
        assert!(gate(Some(1000.0), 0, 30.0, Some(1 << 30)).is_none());
        assert!(gate(None, 1 << 40, 30.0, Some(1 << 30)).unwrap().status.starts_with("OOM"));
    }

    /// A fake timed closure: returns `times` in turn (then the last one again), counting calls.
    fn fake(times: &[f64]) -> (impl FnMut() -> Result<f64, String> + '_, std::rc::Rc<std::cell::Cell<usize>>) {
        let calls = std::rc::Rc::new(std::cell::Cell::new(0));
        let c = calls.clone();
        let f = move || {
            let i = c.get();
            c.set(i + 1);
            Ok(times[i.min(times.len() - 1)])
        };
        (f, calls)
    }

    #[test]
    fn time_cell_reports_errors_and_reps() {
        let p = Policy::new(1, 3, 0.0, 10.0);
        let c = time_cell(&p, || Ok(1.0));
        assert_eq!(c.value, Some(1.0));
        assert_eq!(c.reps, 3);
        let c = time_cell(&p, || Err("boom".into()));
        assert_eq!(c.status, "error: boom");
        // One run alone is over the budget: exactly one timed run.
        let slow = Policy::new(1, 5, 0.5, 0.001);
        assert_eq!(time_cell(&slow, || Ok(100.0)).reps, 1);
    }

    #[test]
    fn short_cells_sample_until_the_time_is_spent() {
        // 2 ms runs, 0.5 s of samples: 250 timed runs (the sum reaches 500 ms exactly at 250),
        // after 1 warm-up call that is not counted.
        let (f, calls) = fake(&[2.0]);
        let c = time_cell(&Policy::new(1, 5, 0.5, 20.0), f);
        assert_eq!(c.reps, 250);
        assert_eq!(calls.get(), 251);
        // Long runs: the minimum count rules, then the budget: 3 s runs, at least 5, budget 20 s:
        // after 5 runs (15 s) the policy is satisfied; with a minimum of 9, the 7th run would
        // pass 20 s (6·3 + 3 = 21), so 6.
        let (f, _) = fake(&[3000.0]);
        assert_eq!(time_cell(&Policy::new(0, 5, 0.5, 20.0), f).reps, 5);
        let (f, _) = fake(&[3000.0]);
        assert_eq!(time_cell(&Policy::new(0, 9, 0.5, 20.0), f).reps, 6);
        // A run that reports no time at all stops at the cap instead of looping for ever.
        let (f, _) = fake(&[0.0]);
        assert_eq!(time_cell(&Policy::new(0, 1, 0.5, 20.0), f).reps, MAX_REPS);
    }

    #[test]
    fn sampled_cells_report_median_min_and_quartiles() {
        // Warm-up 50 (dropped), then 5, 1, 4, 2, 3 ms with a 15 ms sample target: the sum reaches
        // 15 at the 5th run. Sorted 1..5: min 1, p25 rank 1 → 2, median 3, p75 rank 3 → 4.
        let (f, calls) = fake(&[50.0, 5.0, 1.0, 4.0, 2.0, 3.0, 1000.0]);
        let c = time_cell(&Policy::new(1, 2, 0.015, 20.0), f);
        assert_eq!(calls.get(), 6);
        assert_eq!((c.value, c.min, c.p25, c.p75, c.reps), (Some(3.0), Some(1.0), Some(2.0), Some(4.0), 5));
        assert_eq!(c.iqr_rel(), Some(2.0 / 3.0));
    }
}
