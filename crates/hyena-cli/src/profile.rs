//! `hyena kernels --profile`: the Hyena device operator's forward and backward run on the SIMT
//! simulator with counters on (block sampling for kernels whose blocks all do the same work), each
//! kernel launch joined with its sm_90 SASS (instruction estimate), its ptxas resources
//! (occupancy) and fed to the H100/H200 time model of `gpu_model`. GEMMs are not computed in this
//! mode (the simulator would spend minutes on each): they are recorded by shape and modelled from
//! FLOPs and bytes. Outputs of the run are meaningless (skipped GEMMs, skipped blocks): only the
//! counters matter. Every time printed is a model, not a GPU measurement.
//!
//! The Hyena operator does not depend on the number of attention heads of the paper's benchmark
//! (12 heads at D = 768 is the FlashAttention side); it is modelled at width D alone.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StorageDtype {
    Bf16,
    F16,
    F32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GpuChoice {
    H200,
    H100,
}

/// Flags of `hyena kernels --profile`.
#[derive(Args, Debug, Clone)]
pub struct ProfileArgs {
    /// Profile the Hyena operator's kernels on the simulator and print the H100/H200 time model
    /// (needs a build with features `sim` and `cuda`).
    #[arg(long)]
    pub profile: bool,
    /// Batch sizes (the paper's runtime setting is 1; 16 is the throughput setting).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 16])]
    pub batch: Vec<usize>,
    /// Width D (the paper's benchmark: 768, 12 heads on the attention side).
    #[arg(long, default_value_t = 768)]
    pub d_model: usize,
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1024usize, 2048, 4096, 8192, 16384, 32768, 65536])]
    pub lengths: Vec<usize>,
    /// Order N of the recurrence.
    #[arg(long, default_value_t = 2)]
    pub order: usize,
    /// Width of the implicit filter's FFN.
    #[arg(long, default_value_t = 64)]
    pub filter_width: usize,
    /// Window the implicit filter (`exp(−t·|δ|) + shift`, safari's default `modulate=True`); the
    /// paper's benchmark runs without (`modulate=False`), the default here.
    #[arg(long)]
    pub modulate: bool,
    /// Storage dtype of the device buffers.
    #[arg(long, value_enum, default_value_t = StorageDtype::Bf16)]
    pub dtype: StorageDtype,
    /// GPU whose bound and roofline share are reported (both times are always printed).
    #[arg(long, value_enum, default_value_t = GpuChoice::H200)]
    pub gpu: GpuChoice,
    /// Blocks run per kernel whose blocks all do the same work (the rest are scaled).
    #[arg(long, default_value_t = 3)]
    pub sample_blocks: u32,
    /// Simulated device memory a shape may allocate, GiB; larger shapes are skipped with a note.
    /// The simulator maps allocations lazily in profile mode (only the pages the sampled blocks
    /// and the copies touch take host memory), so this bounds address space, not host memory.
    #[arg(long, default_value_t = 64.0)]
    pub max_device_gib: f64,
    /// Also the fused gated convolution alone (batch `--conv-batch`, the widths above), forward
    /// and backward, at these lengths (0: none).
    #[arg(long, value_delimiter = ',', default_values_t = vec![131072usize, 262144, 524288, 1048576])]
    pub conv_lengths: Vec<usize>,
    /// Batch of the fused convolution alone (`--conv-lengths`; issue 11's long-path setting is 4).
    #[arg(long, default_value_t = 1)]
    pub conv_batch: usize,
    /// Also the tensor-core DFT of length 256 (`ops::tcdft`, not in the operator yet) on this many
    /// transforms, 1xTF32, 3xTF32 and f16 operands, and the 8192-point tensor-core FFT
    /// prototype (f16 operands) on as many points (0: none); with `--measure`, the same launches
    /// timed on the GPU.
    #[arg(long, default_value_t = 0)]
    pub tc_dft: usize,
    /// Run the same launches on the CUDA GPU instead, each timed alone with CUDA events, beside
    /// the model's prediction from `--predicted` (needs feature `cuda` and a GPU).
    #[arg(long)]
    pub measure: bool,
    /// With `--measure`: the JSON that `--profile --json` wrote for the same shapes.
    #[arg(long)]
    pub predicted: Option<PathBuf>,
    /// With `--measure`: timed passes per shape after one warm-up pass (the median is kept).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// After the profile, the operator's table against FlashAttention-2 (`versus`): per (B, L),
    /// the predicted forward and forward+backward (kernels + GEMM model + launch overhead) beside
    /// FlashAttention-2's time from its published H100 throughput. A model, not a GPU measurement.
    #[arg(long)]
    pub operator: bool,
    /// With `--operator`: the cost of one launch (kernel or GEMM) added to the summed predictions,
    /// µs (an assumption: submission and the gap between dependent launches; calibrate on a GPU).
    #[arg(long, default_value_t = versus::LAUNCH_OVERHEAD_US)]
    pub launch_overhead_us: f64,
    /// With `--operator`: FlashAttention-2's throughput, TFLOP/s (default: the top of its
    /// published H100-SXM5 causal head-dim-64 forward range, see `versus::FA2_TFLOPS`).
    #[arg(long, default_value_t = versus::FA2_TFLOPS)]
    pub fa2_tflops: f64,
    /// With `--operator`: the attention head dimension (heads = D / head dim; 12 at D = 768).
    #[arg(long, default_value_t = 64)]
    pub head_dim: usize,
    /// Write every row as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every row as CSV.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
/// The row label of an operator shape (shared by `--profile` and `--measure`, which join on it).
pub fn operator_setting(a: &ProfileArgs, b: usize, l: usize) -> String {
    format!("operator B={b} D={} L={l} {:?}", a.d_model, a.dtype).to_lowercase()
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
/// The row label of the fused convolution alone at length `l`.
pub fn conv_setting(a: &ProfileArgs, l: usize) -> String {
    format!("fused conv B={} C={} L={l} {:?}", a.conv_batch, a.d_model, a.dtype).to_lowercase()
}

/// The operand precisions `--tc-dft` runs the DFT-256 at.
pub const TC_PRECISIONS: [hyena_kernels::ops::tcdft::TcPrecision; 3] = {
    use hyena_kernels::ops::tcdft::TcPrecision;
    [TcPrecision::Tf32, TcPrecision::Split3xTf32, TcPrecision::F16]
};

/// The row label of the tensor-core DFT-256 on `batch` transforms (shared by `--profile` and
/// `--measure`, which join on it).
pub fn tcdft_setting(batch: usize, prec: hyena_kernels::ops::tcdft::TcPrecision) -> String {
    format!("tensor-core DFT-256 (ops::tcdft) B={batch} {prec:?}")
}

/// Rows of the 8192-point tensor-core FFT prototype for `--tc-dft N`: as many points as N
/// DFT-256s (at least one row).
pub fn tcfft_rows_for(batch: usize) -> usize {
    (batch / 32).max(1)
}

/// The row label of the 8192-point tensor-core FFT on `rows` rows.
pub fn tcfft_setting(rows: usize) -> String {
    format!("tensor-core FFT-8192 (ops::tcdft) rows={rows} F16")
}

/// Filters of the tensor-core convolution prototype's launch on `rows` rows: one per channel of
/// the model (`d_model`), at most one per row.
pub fn tcconv_channels(rows: usize, d_model: usize) -> usize {
    rows.min(d_model).max(1)
}

/// The row label of the tensor-core convolution prototype on `rows` real rows of 8192 points.
pub fn tcconv_setting(rows: usize, channels: usize) -> String {
    format!("tensor-core conv-8192 (ops::tcdft) rows={rows} C={channels} F16")
}

#[cfg_attr(not(all(feature = "sim", feature = "cuda")), allow(dead_code))]
/// Bytes that must move in one pass of the fused convolution alone by issue 11's definition (each
/// `[B, C, L]` operand read or written once, nothing else): forward v, pre, post read and y
/// written (4·B·C·L elements); backward v, pre, post, grad_y read and grad_v, grad_pre, grad_post
/// written (7·B·C·L), plus h read and grad_h written (2·C·L). The filter spectrum and the
/// workspaces are the implementation's choice, not counted.
pub fn conv_must_move_bytes(pass: &str, b: usize, c: usize, l: usize, elem_bytes: usize) -> f64 {
    let (bcl, cl) = ((b * c * l) as f64, (c * l) as f64);
    elem_bytes as f64 * if pass == "forward" { 4.0 * bcl } else { 7.0 * bcl + 2.0 * cl }
}

#[cfg(feature = "cuda")]
pub use shared::{profiled_operator, ConvOperands};

/// The operator at the paper's setting against FlashAttention-2 (`--profile --operator`): the
/// model's summed per-launch predictions of a pass, plus a stated cost per launch, beside the
/// time FlashAttention-2 takes for the same (B, L, D) at a stated throughput. Every figure is a
/// model, not a GPU measurement.
///
/// FlashAttention-2's side:
/// - FLOPs: causal forward `2·B·H·L²·dh` (half of the non-causal `4·B·H·L²·dh`); forward +
///   backward 3.5× that (backward 2.5× the forward: the convention of flash-attention's
///   `benchmarks/benchmark_flash_attention.py`, which its published TFLOP/s figures use).
/// - Throughput: [`FA2_TFLOPS`] = 324 TFLOP/s, the top of FlashAttention-2's H100-SXM5 causal
///   head-dim-64 forward range at 8K–16K (≈ 295–324 TFLOP/s) in the FlashAttention-3 paper's
///   forward-pass figures (Shah et al. 2024, arXiv:2407.08608), as recorded in FACTS.md. The
///   same figure is used for forward + backward: FlashAttention-2's backward runs at a lower
///   fraction of peak than its forward (FlashAttention-2 paper, arXiv:2307.08691: up to 73 % of
///   peak forward, 63 % backward, on A100), so this is an upper bound on its throughput and its
///   times here are lower bounds: the ratio favours FlashAttention-2.
/// - H100 → H200: the same GH100 tensor cores and clocks (989 dense bf16 TFLOP/s on both); the
///   H200's extra HBM bandwidth does not speed up a compute-bound kernel, so the H100 figure is
///   taken unchanged for the H200.
/// - Two attention columns: the attention core alone (`FA2`), and the paper's module (`MHA`):
///   safari's `benchmarks/runtime_hyena_flashmha.py` times FlashMHA, i.e. the attention core plus
///   its QKV projection (D → 3D) and output projection (D → D), against the HyenaOperator with its
///   own in_proj (D → 3D at order 2) and out_proj (D → D). The MHA column adds those four GEMMs'
///   forward (2) and backward (4: dX and dW of each) in the same GEMM roofline as the Hyena side
///   (`gpu_model::predict_gemm`, bf16 tensor cores), with the same cost per launch, one launch for
///   the attention core per pass, and bias epilogues free (their bias gradients left out): each
///   choice again in attention's favour. [`mha_projection_gemms`] lists the shapes.
// The table is built only where the profile runs kernels (`sim` and `cuda`); other builds use the
// constants alone, as the flags' defaults.
#[cfg_attr(not(all(feature = "sim", feature = "cuda")), allow(dead_code))]
pub mod versus {
    use serde::Serialize;

    /// Default cost of one launch, µs (an assumption; see the flag's help).
    pub const LAUNCH_OVERHEAD_US: f64 = 3.0;
    /// Default FlashAttention-2 throughput, TFLOP/s (see the module docs for the source).
    pub const FA2_TFLOPS: f64 = 324.0;

    /// The model's sums over one pass of the operator (H200 predictions).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
    pub struct PassSum {
        /// Summed kernel predictions, µs.
        pub kernels_us: f64,
        /// Summed GEMM predictions (FLOPs/bytes roofline), µs.
        pub gemms_us: f64,
        /// Kernel launches plus GEMMs.
        pub launches: usize,
    }

    impl PassSum {
        /// The pass's predicted time with `overhead_us` per launch, ms.
        pub fn ms(&self, overhead_us: f64) -> f64 {
            (self.kernels_us + self.gemms_us + self.launches as f64 * overhead_us) * 1e-3
        }
    }

    /// The projection GEMMs of the paper's FlashMHA module at (B, L, D), as (m, n, k) with
    /// C[m×n] = A[m×k]·B[k×n]: forward QKV (B·L × 3D × D) and output (B·L × D × D); backward the
    /// input gradient and the weight gradient of each (dW with K = B·L).
    pub fn mha_projection_gemms(b: usize, l: usize, d: usize) -> ([(u64, u64, u64); 2], [(u64, u64, u64); 4]) {
        let (bl, d) = ((b * l) as u64, d as u64);
        let fwd = [(bl, 3 * d, d), (bl, d, d)];
        let bwd = [(bl, d, 3 * d), (3 * d, d, bl), (bl, d, d), (d, d, bl)];
        (fwd, bwd)
    }

    /// One row of the table.
    #[derive(Clone, Debug, Serialize)]
    pub struct Versus {
        pub b: usize,
        pub l: usize,
        pub d: usize,
        pub heads: usize,
        pub fwd: PassSum,
        pub bwd: PassSum,
        pub launch_overhead_us: f64,
        pub fa2_tflops: f64,
        pub hyena_fwd_ms: f64,
        pub hyena_fwdbwd_ms: f64,
        pub fa2_fwd_ms: f64,
        pub fa2_fwdbwd_ms: f64,
        /// The projection GEMMs of the paper's MHA module per pass (`mha_projection_gemms`).
        pub mha_proj_fwd: PassSum,
        pub mha_proj_bwd: PassSum,
        /// FlashMHA as the paper timed it: the attention core, one launch for it and the
        /// projections, per pass.
        pub mha_fwd_ms: f64,
        pub mha_fwdbwd_ms: f64,
    }

    /// Causal attention FLOPs at (B, H, L, dh): forward, or forward + backward.
    pub fn attention_flops(b: usize, heads: usize, l: usize, dh: usize, fwdbwd: bool) -> f64 {
        let fwd = 2.0 * b as f64 * heads as f64 * (l as f64) * (l as f64) * dh as f64;
        if fwdbwd {
            3.5 * fwd
        } else {
            fwd
        }
    }

    /// The row for (B, L, D) from the two passes' sums.
    /// `proj` = the MHA module's projection GEMMs per pass (forward, backward), from the same
    /// GEMM model as the Hyena side.
    #[allow(clippy::too_many_arguments)]
    pub fn versus(b: usize, l: usize, d: usize, head_dim: usize, fwd: PassSum, bwd: PassSum, proj: (PassSum, PassSum), overhead_us: f64, fa2_tflops: f64) -> Versus {
        let heads = d / head_dim.max(1);
        let fa2 = |fb: bool| attention_flops(b, heads, l, head_dim, fb) / (fa2_tflops * 1e12) * 1e3;
        // The attention core's own launch, per pass.
        let core = overhead_us * 1e-3;
        let mha_fwd_ms = fa2(false) + core + proj.0.ms(overhead_us);
        let mha_bwd_ms = fa2(true) - fa2(false) + core + proj.1.ms(overhead_us);
        Versus {
            b,
            l,
            d,
            heads,
            fwd,
            bwd,
            launch_overhead_us: overhead_us,
            fa2_tflops,
            hyena_fwd_ms: fwd.ms(overhead_us),
            hyena_fwdbwd_ms: fwd.ms(overhead_us) + bwd.ms(overhead_us),
            fa2_fwd_ms: fa2(false),
            fa2_fwdbwd_ms: fa2(true),
            mha_proj_fwd: proj.0,
            mha_proj_bwd: proj.1,
            mha_fwd_ms,
            mha_fwdbwd_ms: mha_fwd_ms + mha_bwd_ms,
        }
    }

    fn len(l: usize) -> String {
        if l >= 1024 && l % 1024 == 0 {
            format!("{}K", l / 1024)
        } else {
            l.to_string()
        }
    }

    /// The table as Markdown (the form docs/GPU_MODEL.md records).
    pub fn markdown(rows: &[Versus]) -> String {
        let mut s = String::from(
            "| B | L | launches fwd+bwd | kernels µs | GEMMs µs | launch µs | Hyena fwd ms | FA2 fwd ms | fwd speedup | Hyena fwd+bwd ms | FA2 fwd+bwd ms | fwd+bwd speedup | MHA fwd+bwd ms | fwd+bwd speedup vs MHA |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in rows {
            let launches = r.fwd.launches + r.bwd.launches;
            s.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} | {:.2}x | {:.3} | {:.3} | {:.2}x | {:.3} | {:.2}x |\n",
                r.b,
                len(r.l),
                launches,
                r.fwd.kernels_us + r.bwd.kernels_us,
                r.fwd.gemms_us + r.bwd.gemms_us,
                launches as f64 * r.launch_overhead_us,
                r.hyena_fwd_ms,
                r.fa2_fwd_ms,
                r.fa2_fwd_ms / r.hyena_fwd_ms,
                r.hyena_fwdbwd_ms,
                r.fa2_fwdbwd_ms,
                r.fa2_fwdbwd_ms / r.hyena_fwdbwd_ms,
                r.mha_fwdbwd_ms,
                r.mha_fwdbwd_ms / r.hyena_fwdbwd_ms,
            ));
        }
        s
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The FLOP count and the times, by hand: B = 1, H = 12, L = 8192, dh = 64: causal forward
        /// 2·12·8192²·64 = 103 079 215 104 FLOPs; at 324 TFLOP/s, 0.318146 ms; forward + backward
        /// 3.5× that, 1.113511 ms. The Hyena side: 100 + 50 µs and 10 launches at 3 µs = 0.18 ms
        /// forward; backward 200 + 100 µs and 20 launches = 0.36 ms.
        #[test]
        fn versus_by_hand() {
            assert_eq!(attention_flops(1, 12, 8192, 64, false), 103_079_215_104.0);
            let fwd = PassSum { kernels_us: 100.0, gemms_us: 50.0, launches: 10 };
            let bwd = PassSum { kernels_us: 200.0, gemms_us: 100.0, launches: 20 };
            // Projections: forward 40 µs in 2 GEMMs, backward 80 µs in 4. MHA forward = 0.318146 +
            // 0.003 (core launch) + 0.040 + 0.006 = 0.367146 ms; backward = 0.795365 + 0.003 +
            // 0.080 + 0.012 = 0.890365 ms; fwd+bwd 1.257511 ms, 2.33x the Hyena side's 0.54.
            let proj = (PassSum { kernels_us: 0.0, gemms_us: 40.0, launches: 2 }, PassSum { kernels_us: 0.0, gemms_us: 80.0, launches: 4 });
            let v = versus(1, 8192, 768, 64, fwd, bwd, proj, 3.0, 324.0);
            assert_eq!(v.heads, 12);
            assert!((v.fa2_fwd_ms - 0.318_146).abs() < 1e-6, "{}", v.fa2_fwd_ms);
            assert!((v.fa2_fwdbwd_ms - 1.113_511).abs() < 1e-6, "{}", v.fa2_fwdbwd_ms);
            assert!((v.hyena_fwd_ms - 0.18).abs() < 1e-12);
            assert!((v.hyena_fwdbwd_ms - 0.54).abs() < 1e-12);
            assert!((v.mha_fwd_ms - 0.367_146).abs() < 1e-6, "{}", v.mha_fwd_ms);
            assert!((v.mha_fwdbwd_ms - 1.257_511).abs() < 1e-6, "{}", v.mha_fwdbwd_ms);
            let md = markdown(&[v]);
            assert!(md.contains("| 1 | 8K | 30 | 300 | 150 | 90 | 0.180 | 0.318 | 1.77x | 0.540 | 1.114 | 2.06x | 1.258 | 2.33x |"), "{md}");
            let (f, b) = mha_projection_gemms(1, 8192, 768);
            assert_eq!(f, [(8192, 2304, 768), (8192, 768, 768)]);
            assert_eq!(b, [(8192, 768, 2304), (2304, 768, 8192), (8192, 768, 768), (768, 768, 8192)]);
        }
    }
}

/// What `--profile` (simulator) and `--measure` (GPU) both run, so that their rows join.
#[cfg(feature = "cuda")]
mod shared {
    use super::ProfileArgs;
    use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar};
    use hyena_model::{HyenaOperator, OperatorConfig};
    use rand::SeedableRng;
    use std::sync::Arc;

    /// The operator `--profile` and `--measure` run at length `l` (f32 parameters, seed 0): by
    /// default the filter of the paper's benchmark (safari `benchmarks/runtime_hyena_flashmha.py`
    /// builds `HyenaOperator(..., modulate=False, emb_dim=33, ...)`): a 33-wide positional
    /// embedding and no exponential window; `--modulate` for safari's default window (until
    /// 2026-12-06 the only setting: the window's `expf` in the filter forward and a
    /// `grad_h ⊙ window` pass in its backward that the paper's run does not have).
    pub fn profiled_operator(a: &ProfileArgs, l: usize) -> hyena_model::Result<HyenaOperator<f32>> {
        let cfg = OperatorConfig {
            d_model: a.d_model,
            l_max: l,
            order: a.order,
            filter_order: a.filter_width,
            emb_dim: 33,
            modulate: a.modulate,
            ..OperatorConfig::default()
        };
        HyenaOperator::init(&cfg, &mut rand::rngs::StdRng::seed_from_u64(0))
    }

    /// The operands of the fused gated convolution alone (`--profile` and `--measure`): batch B,
    /// C channels, length L, with both gates, and the backward's incoming gradient and outputs.
    pub struct ConvOperands<S: DeviceScalar> {
        h: DeviceBuffer<S>,
        d: DeviceBuffer<S>,
        v: DeviceBuffer<S>,
        pre: DeviceBuffer<S>,
        post: DeviceBuffer<S>,
        y: DeviceBuffer<S>,
        grad_y: DeviceBuffer<S>,
        grad_v: DeviceBuffer<S>,
        grad_pre: DeviceBuffer<S>,
        grad_post: DeviceBuffer<S>,
        grad_h: DeviceBuffer<S>,
        grad_d: DeviceBuffer<S>,
        b: usize,
        c: usize,
        l: usize,
    }

    impl<S: DeviceScalar> ConvOperands<S> {
        /// Allocated on `dev`, contents as allocated (the simulator in profile mode maps them lazily:
        /// no kernel's counts depend on the values, and writing them would make all of them resident).
        pub fn alloc(dev: &Arc<dyn Device>, b: usize, c: usize, l: usize) -> hyena_kernels::Result<Self> {
            let buf = |n: usize| DeviceBuffer::<S>::alloc(dev, n);
            let bcl = b * c * l;
            Ok(Self {
                h: buf(c * l)?,
                d: buf(c)?,
                v: buf(bcl)?,
                pre: buf(bcl)?,
                post: buf(bcl)?,
                y: buf(bcl)?,
                grad_y: buf(bcl)?,
                grad_v: buf(bcl)?,
                grad_pre: buf(bcl)?,
                grad_post: buf(bcl)?,
                grad_h: buf(c * l)?,
                grad_d: buf(c)?,
                b,
                c,
                l,
            })
        }

        /// Zeros in every input (a GPU run times defined values).
        pub fn zero_inputs(&mut self) -> hyena_kernels::Result<()> {
            let zeros = vec![S::from_f64(0.0); self.b * self.c * self.l];
            for x in [&mut self.v, &mut self.pre, &mut self.post, &mut self.grad_y] {
                x.write(&zeros)?;
            }
            self.h.write(&zeros[..self.c * self.l])?;
            self.d.write(&zeros[..self.c])
        }

        /// The fused forward: the filter spectrum of `h`, then `y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ (pre ⊙ v))`.
        pub fn forward(&mut self, dev: &Arc<dyn Device>) -> hyena_kernels::Result<()> {
            let Self { h, d, v, pre, post, y, b, c, l, .. } = self;
            hyena_kernels::ops::fftconv::gated_fftconv_fwd(dev, &*h, &*d, &*v, Some(pre.as_view()), Some(post.as_view()), *b, *c, *l, y)
        }

        /// The fused backward: every gradient (v, pre, post, h, D) from `grad_y`.
        pub fn backward(&mut self, dev: &Arc<dyn Device>) -> hyena_kernels::Result<()> {
            let Self { h, d, v, pre, post, grad_y, grad_v, grad_pre, grad_post, grad_h, grad_d, b, c, l, .. } = self;
            let grads = hyena_kernels::ops::fftconv::GatedConvGradViews {
                grad_v: grad_v.as_view_mut(),
                grad_pre: Some(grad_pre.as_view_mut()),
                grad_post: Some(grad_post.as_view_mut()),
                grad_h: grad_h.as_view_mut(),
                grad_d: grad_d.as_view_mut(),
            };
            hyena_kernels::ops::fftconv::gated_fftconv_bwd(dev, &*h, &*d, &*v, Some(pre.as_view()), Some(post.as_view()), &*grad_y, *b, *c, *l, grads)
        }
    }
}

#[cfg(all(feature = "sim", feature = "cuda"))]
pub use imp::profile;

#[cfg(all(feature = "sim", feature = "cuda"))]
mod imp {
    use super::{GpuChoice, ProfileArgs, StorageDtype};
    use gpu_model::model::{
        predict, predict_gemm, Gemm, Gpu, LaunchWork, Prediction, H100_SXM, H200,
    };
    use gpu_model::occupancy::{occupancy, SM90};
    use gpu_model::sass::{estimate, LineExec, Listing, Pipe, SASS_INSTR_BYTES};
    use gpu_model::MODEL_LABEL;
    use hyena_kernels::device::sim::{LaunchCounters, LineCount, SimDevice};
    use hyena_kernels::device::wrap::Wrapper;
    use hyena_kernels::device::{DType, Device, DeviceBuffer, DeviceScalar, GemmSpec, LaunchConfig};
    use hyena_model::device_operator::DeviceOperator;
    use serde::Serialize;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    type AnyErr = Box<dyn std::error::Error>;

    /// One modelled launch (a kernel or a GEMM).
    #[derive(Clone, Debug, Serialize)]
    pub struct Row {
        pub setting: String,
        pub pass: String,
        pub kernel: String,
        pub grid: [u32; 3],
        pub block: [u32; 3],
        pub dyn_smem: u32,
        pub blocks_run: u64,
        pub blocks_total: u64,
        pub sectors_per_request: f64,
        pub wavefronts_per_request: f64,
        pub barriers_per_block: f64,
        pub math_calls: f64,
        pub registers: u32,
        pub static_smem: u32,
        pub blocks_per_sm: u32,
        pub warps_per_sm: u32,
        pub warp_instrs: f64,
        pub warp_instrs_per_pipe: Vec<(String, f64)>,
        pub unmatched_sass: usize,
        /// SASS instructions of the kernel's function (every path; 0 for a GEMM).
        pub sass_instrs: usize,
        /// Bytes of the instructions this launch executes at least once (its instruction-cache
        /// footprint, not priced by the time model; 0 for a GEMM).
        pub executed_sass_bytes: u64,
        pub dram_bytes: f64,
        /// Global loads a warp has in flight, the time model's memory-level parallelism (global
        /// loads per execution of a basic block that holds any, from the SASS estimate; 0 for a
        /// GEMM): with the resident warps and the bytes per request it sets the achievable DRAM
        /// bandwidth by Little's law (gpu_model::model).
        pub global_load_ilp: f64,
        /// Every bound of the H200 prediction, µs (the largest is `bound`, `h200_us`).
        pub h200_bounds_us: Vec<(String, f64)>,
        /// The H200's achievable DRAM bandwidth for this launch after the latency term, GB/s.
        pub h200_dram_gbps: f64,
        pub gemm_flops: f64,
        pub h200_us: f64,
        pub h100_us: f64,
        pub bound: String,
        pub roofline_pct: f64,
        pub model: &'static str,
    }

    /// A [`Device`] over the simulator that records GEMMs by shape instead of computing them and
    /// keeps the simulated memory under a budget.
    struct ProfileDevice {
        sim: Arc<SimDevice>,
        gemms: Mutex<Vec<(usize, GemmSpec)>>,
        launches: Mutex<usize>,
        live: Mutex<(usize, usize)>,
        budget: usize,
    }

    impl Wrapper for ProfileDevice {
        fn inner(&self) -> &dyn Device {
            &*self.sim
        }
        fn name(&self) -> String {
            format!("{} (profile: GEMMs recorded, not computed)", self.sim.name())
        }
        fn alloc_raw(&self, bytes: usize) -> hyena_kernels::Result<u64> {
            let mut live = self
                .live
                .lock()
                .map_err(|_| hyena_kernels::HyenaError::Invalid("profile device lock".into()))?;
            if live.0 + bytes > self.budget {
                return Err(hyena_kernels::HyenaError::Invalid(format!(
                "profile: this shape needs more than {:.1} GiB of simulated device memory (--max-device-gib)",
                self.budget as f64 / (1u64 << 30) as f64
            )));
            }
            let a = self.sim.alloc_raw(bytes)?;
            live.0 += bytes;
            live.1 = live.1.max(live.0);
            Ok(a)
        }
        unsafe fn free_raw(&self, addr: u64, bytes: usize) {
            if let Ok(mut live) = self.live.lock() {
                live.0 = live.0.saturating_sub(bytes);
            }
            // SAFETY: forwarded under the caller's contract of `free_raw`.
            unsafe { self.sim.free_raw(addr, bytes) }
        }
        unsafe fn launch_raw(
            &self,
            name: &str,
            cfg: LaunchConfig,
            params: &[u8],
        ) -> hyena_kernels::Result<()> {
            if let Ok(mut n) = self.launches.lock() {
                *n += 1;
            }
            // SAFETY: forwarded under the caller's contract of `launch_raw`.
            unsafe { self.sim.launch_raw(name, cfg, params) }
        }
        unsafe fn gemm(&self, spec: &GemmSpec) -> hyena_kernels::Result<()> {
            // Position among the launches, so that GEMM rows sit in launch order.
            let at = self.launches.lock().map(|n| *n).unwrap_or(0);
            if let Ok(mut g) = self.gemms.lock() {
                g.push((at, *spec));
            }
            Ok(())
        }
    }

    struct Ctx {
        listing: Listing,
        gpus: [Gpu; 2],
        sel: usize,
    }

    /// The prediction columns of a row, from the H200 and H100 predictions (`ctx.gpus` order).
    struct PredCols {
        h200_us: f64,
        h100_us: f64,
        bound: String,
        roofline_pct: f64,
        h200_bounds_us: Vec<(String, f64)>,
        h200_dram_gbps: f64,
    }

    fn pred_row(ctx: &Ctx, preds: [Prediction; 2], must_move: f64) -> PredCols {
        let sel = &preds[ctx.sel];
        PredCols {
            h200_us: preds[0].seconds * 1e6,
            h100_us: preds[1].seconds * 1e6,
            bound: sel.bound.clone(),
            roofline_pct: sel.roofline_pct(&ctx.gpus[ctx.sel], must_move),
            h200_bounds_us: preds[0].bounds.iter().map(|b| (b.name.clone(), b.seconds * 1e6)).collect(),
            h200_dram_gbps: preds[0].dram_bw * 1e-9,
        }
    }

    fn kernel_row(ctx: &Ctx, setting: &str, pass: &str, c: &LaunchCounters) -> Result<Row, AnyErr> {
        let scale = c.scale();
        let threads = c.block[0] * c.block[1] * c.block[2];
        let warps_per_block = threads.div_ceil(32);
        let res = hyena_kernels::kernels::resources_of(&c.kernel, "sm_90")
            .ok_or_else(|| format!("no ptxas resources for `{}` (sm_90)", c.kernel))?;
        let occ = occupancy(
            &SM90,
            threads,
            res.registers,
            res.static_smem,
            c.dyn_shared_bytes,
        )?;
        let func = ctx
            .listing
            .function(&c.kernel)
            .ok_or_else(|| format!("no sm_90 SASS for `{}`", c.kernel))?;
        let lines: Vec<LineExec> = c
            .lines
            .iter()
            .map(|l| LineExec {
                frames: l.frames.clone(),
                warp_execs: l.warp_execs,
                mem_requests: l.mem_requests,
            })
            .collect();
        let est = estimate(func, &lines, c.blocks_run * warps_per_block as u64);
    if let Some(dir) = std::env::var_os("HYENA_PROFILE_DUMP") {
        // Debugging aid: the joined inputs and the per-instruction estimate of every launch.
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        // `COUNT [chain]` per location with a non-zero count: executions in KERNEL.lines.txt, the
        // host's warp memory requests (for a line's requests per execution) in KERNEL.requests.txt.
        for (file, count) in [("lines", (|l: &LineCount| l.warp_execs) as fn(&LineCount) -> u64), ("requests", |l| l.mem_requests)] {
            let mut t = String::new();
            for l in c.lines.iter().filter(|l| count(l) > 0) {
                t.push_str(&format!("{} {:?}\n", count(l), l.frames.iter().map(|(f, n)| format!("{}:{n}", f.rsplit('/').next().unwrap_or(f))).collect::<Vec<_>>()));
            }
            std::fs::write(dir.join(format!("{}.{file}.txt", c.kernel)), t)?;
        }
        let mut t = String::new();
        for (k, i) in func.instrs.iter().enumerate() {
            let ch = i.chain.map(|c| func.chains[c].iter().map(|f| format!("{}:{}", f.file, f.line)).collect::<Vec<_>>().join("<")).unwrap_or_default();
            t.push_str(&format!("{k:5} {:>12.0} {}{} {ch}\n", est.per_instr[k], if i.predicated { "@P " } else { "" }, i.opcode));
        }
        std::fs::write(dir.join(format!("{}.est.txt", c.kernel)), t)?;
    }
        let g = &c.global;
        let s = &c.shared;
        let mut instrs = [0.0; 10];
        for (k, v) in est.per_pipe.iter().enumerate() {
            instrs[k] = v * scale;
        }
        let work = LaunchWork {
            blocks: c.blocks_total,
            blocks_per_sm: occ.blocks_per_sm,
            warps_per_block,
            dram_bytes: g.dram_sectors as f64 * 32.0 * scale,
            l2_sectors: (g.load_sectors + g.store_sectors) as f64 * scale,
            global_requests: (g.load_requests + g.store_requests) as f64 * scale,
            shared_wavefronts: (s.load_wavefronts + s.store_wavefronts) as f64 * scale,
            warp_instrs: instrs,
            ilp: est.global_load_ilp,
        };
        let preds = [predict(&ctx.gpus[0], &work), predict(&ctx.gpus[1], &work)];
        let PredCols { h200_us, h100_us, bound, roofline_pct, h200_bounds_us, h200_dram_gbps } = pred_row(ctx, preds, work.dram_bytes);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Ok(Row {
            setting: setting.into(),
            pass: pass.into(),
            kernel: c.kernel.clone(),
            grid: c.grid,
            block: c.block,
            dyn_smem: c.dyn_shared_bytes,
            blocks_run: c.blocks_run,
            blocks_total: c.blocks_total,
            sectors_per_request: ratio(
                g.load_sectors + g.store_sectors,
                g.load_requests + g.store_requests,
            ),
            wavefronts_per_request: ratio(
                s.load_wavefronts + s.store_wavefronts,
                s.load_requests + s.store_requests,
            ),
            barriers_per_block: ratio(c.barriers, c.blocks_run),
            math_calls: (c.math.sincos + c.math.exp_log + c.math.div_rcp + c.math.sqrt) as f64
                * scale,
            registers: res.registers,
            static_smem: res.static_smem,
            blocks_per_sm: occ.blocks_per_sm,
            warps_per_sm: occ.warps_per_sm,
            warp_instrs: instrs.iter().sum(),
            warp_instrs_per_pipe: Pipe::ALL
                .iter()
                .zip(instrs)
                .map(|(p, v)| (p.name().to_string(), v))
                .collect(),
            unmatched_sass: est.unmatched_instrs,
            sass_instrs: func.instrs.len(),
            executed_sass_bytes: est.executed_instrs() as u64 * SASS_INSTR_BYTES,
            dram_bytes: work.dram_bytes,
            global_load_ilp: est.global_load_ilp,
            h200_bounds_us,
            h200_dram_gbps,
            gemm_flops: 0.0,
            h200_us,
            h100_us,
            bound,
            roofline_pct,
            model: MODEL_LABEL,
        })
    }

    /// A GEMM in the model's terms: the storage type's width, tensor cores unless f32 (the
    /// operator's launches and the MHA module's projections both go through this).
    /// C in `c_dtype` (f32 under 16-bit operands, or `dtype`).
    fn model_gemm(m: usize, n: usize, k: usize, batch: usize, dtype: DType, c_dtype: DType, tf32: bool) -> Gemm {
        let (elem_bytes, tensor, tf32) = (dtype.size() as u64, dtype != DType::F32, tf32 && dtype == DType::F32);
        let c_elem_bytes = c_dtype.size() as u64;
        Gemm { m: m as u64, n: n as u64, k: k as u64, batch: batch as u64, elem_bytes, c_elem_bytes, tensor, tf32 }
    }

    fn gemm_row(ctx: &Ctx, setting: &str, pass: &str, g: &GemmSpec) -> Row {
        let gm = model_gemm(g.m, g.n, g.k, g.batch, g.dtype, g.c_dtype, g.tf32);
        let preds = [
            predict_gemm(&ctx.gpus[0], &gm),
            predict_gemm(&ctx.gpus[1], &gm),
        ];
        let PredCols { h200_us, h100_us, bound, roofline_pct, h200_bounds_us, h200_dram_gbps } = pred_row(ctx, preds, gm.bytes());
        Row {
            setting: setting.into(),
            pass: pass.into(),
            kernel: format!(
                "gemm {}x{}x{} x{} (beta {})",
                g.m, g.n, g.k, g.batch, g.beta
            ),
            grid: [0; 3],
            block: [0; 3],
            dyn_smem: 0,
            blocks_run: 0,
            blocks_total: 0,
            sectors_per_request: 0.0,
            wavefronts_per_request: 0.0,
            barriers_per_block: 0.0,
            math_calls: 0.0,
            registers: 0,
            static_smem: 0,
            blocks_per_sm: 0,
            warps_per_sm: 0,
            warp_instrs: 0.0,
            warp_instrs_per_pipe: Vec::new(),
            unmatched_sass: 0,
            sass_instrs: 0,
            executed_sass_bytes: 0,
            dram_bytes: gm.bytes(),
            global_load_ilp: 0.0,
            h200_bounds_us,
            h200_dram_gbps,
            gemm_flops: gm.flops(),
            h200_us,
            h100_us,
            bound,
            roofline_pct,
            model: MODEL_LABEL,
        }
    }

    /// Rows of one pass: kernel launches and GEMMs interleaved in issue order.
    fn pass_rows(
        ctx: &Ctx,
        setting: &str,
        pass: &str,
        counters: &[LaunchCounters],
        gemms: &[(usize, GemmSpec)],
        first_launch: usize,
    ) -> Result<Vec<Row>, AnyErr> {
        let mut rows = Vec::new();
        let mut gi = gemms.iter().peekable();
        for (k, c) in counters.iter().enumerate() {
            while let Some((at, g)) = gi.peek() {
                if *at > first_launch + k {
                    break;
                }
                rows.push(gemm_row(ctx, setting, pass, g));
                gi.next();
            }
            rows.push(kernel_row(ctx, setting, pass, c)?);
        }
        for (_, g) in gi {
            rows.push(gemm_row(ctx, setting, pass, g));
        }
        Ok(rows)
    }

    fn new_device(a: &ProfileArgs) -> (Arc<SimDevice>, Arc<ProfileDevice>) {
        let sim = Arc::new(SimDevice::new());
        // Lazily mapped buffers: the sampled blocks touch a small part of each, so shapes whose
        // buffers exceed the host's memory (B = 16 at 64K, the conv at 1M) run. Untouched bytes
        // read as zero instead of the checked mode's NaN poison: the outputs are meaningless in
        // profile mode anyway, only the counters matter.
        sim.sim().set_lazy_alloc(true);
        sim.set_counters(true);
        sim.set_block_sample(Some(a.sample_blocks.max(1)));
        let dev = Arc::new(ProfileDevice {
            sim: sim.clone(),
            gemms: Mutex::new(Vec::new()),
            launches: Mutex::new(0),
            live: Mutex::new((0, 0)),
            budget: (a.max_device_gib * (1u64 << 30) as f64) as usize,
        });
        (sim, dev)
    }

    fn take_gemms(dev: &ProfileDevice) -> Vec<(usize, GemmSpec)> {
        dev.gemms
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default()
    }

    fn launches(dev: &ProfileDevice) -> usize {
        dev.launches.lock().map(|n| *n).unwrap_or(0)
    }

    /// Forward and backward of the operator at (B, D, L) with storage `S`.
    fn operator_rows<S: DeviceScalar>(
        ctx: &Ctx,
        a: &ProfileArgs,
        b: usize,
        l: usize,
    ) -> Result<Vec<Row>, AnyErr> {
        let setting = super::operator_setting(a, b, l);
        let op = super::profiled_operator(a, l)?;
        let (sim, dev) = new_device(a);
        let ddev: Arc<dyn Device> = dev.clone();
        let dop = DeviceOperator::<f32, S>::new(op.clone(), ddev.clone())?;
        // The input stays as mapped (zeros): no kernel's counts depend on the values, and writing
        // it would make all of it resident.
        let u = DeviceBuffer::<S>::alloc(&ddev, b * l * a.d_model)?;
        let _ = sim.take_counters();
        let l0 = launches(&dev);
        let (y, cache) = dop.forward_device(u, b, l)?;
        let fwd = sim.take_counters();
        let fwd_gemms = take_gemms(&dev);
        let mut rows = pass_rows(ctx, &setting, "forward", &fwd, &fwd_gemms, l0)?;
        let l1 = launches(&dev);
        let mut grads = op.zeros_like();
        let gy = y;
        let gu = dop.backward_device(&cache, &gy, &mut grads)?;
        drop(gu);
        let bwd = sim.take_counters();
        let bwd_gemms = take_gemms(&dev);
        rows.extend(pass_rows(ctx, &setting, "backward", &bwd, &bwd_gemms, l1)?);
        Ok(rows)
    }

    /// The fused gated convolution alone (filter spectrum + forward) at B = 1.
    fn conv_rows<S: DeviceScalar>(
        ctx: &Ctx,
        a: &ProfileArgs,
        l: usize,
    ) -> Result<Vec<Row>, AnyErr> {
        let setting = super::conv_setting(a, l);
        let (sim, dev) = new_device(a);
        let ddev: Arc<dyn Device> = dev.clone();
        let mut x = super::ConvOperands::<S>::alloc(&ddev, a.conv_batch, a.d_model, l)?;
        let _ = sim.take_counters();
        x.forward(&ddev)?;
        let fwd = sim.take_counters();
        x.backward(&ddev)?;
        let bwd = sim.take_counters();
        let mut rows = pass_rows(ctx, &setting, "forward", &fwd, &[], 0)?;
        rows.extend(pass_rows(ctx, &setting, "backward", &bwd, &[], 0)?);
        Ok(rows)
    }

    /// The fused convolution's passes against issue 11's roofline metric
    /// ([`super::conv_must_move_bytes`] over the copy bandwidth, divided by the pass's predicted
    /// time on `gpu`): one line per (setting, pass), in row order.
    fn conv_issue_shares(a: &ProfileArgs, rows: &[Row], gpu: &Gpu) -> Vec<serde_json::Value> {
        let elem = match a.dtype {
            StorageDtype::F32 => 4,
            _ => 2,
        };
        let mut out: Vec<serde_json::Value> = Vec::new();
        for &l in a.conv_lengths.iter().filter(|&&l| l > 0) {
            let setting = super::conv_setting(a, l);
            for pass in ["forward", "backward"] {
                let us: f64 = rows
                    .iter()
                    .filter(|r| r.setting == setting && r.pass == pass)
                    .map(|r| if gpu.name == H100_SXM.name { r.h100_us } else { r.h200_us })
                    .sum();
                if us <= 0.0 {
                    continue;
                }
                let bytes = super::conv_must_move_bytes(pass, a.conv_batch, a.d_model, l, elem);
                let share = 100.0 * bytes / gpu.copy_bw / (us * 1e-6);
                out.push(serde_json::json!({ "setting": setting, "pass": pass, "must_move_bytes": bytes, "us": us, "share_pct": share }));
            }
        }
        out
    }

    /// The tensor-core DFT-256 on `batch` transforms, once per operand precision, then the
    /// 8192-point FFT and convolution prototypes on as many points.
    fn tcdft_rows(ctx: &Ctx, a: &ProfileArgs, batch: usize) -> Result<Vec<Row>, AnyErr> {
        use hyena_kernels::ops::tcdft::{tc_conv8192, tc_dft256, tc_fft8192};
        // One launch on a fresh simulator device (`run` allocates its buffers and launches;
        // allocations launch nothing), priced as `setting`'s forward rows.
        let price = |setting: String, run: &dyn Fn(&Arc<dyn Device>) -> Result<(), AnyErr>| -> Result<Vec<Row>, AnyErr> {
            let (sim, dev) = new_device(a);
            let ddev: Arc<dyn Device> = dev.clone();
            let _ = sim.take_counters();
            run(&ddev)?;
            pass_rows(ctx, &setting, "forward", &sim.take_counters(), &[], 0)
        };
        let mut rows = Vec::new();
        for prec in super::TC_PRECISIONS {
            rows.extend(price(super::tcdft_setting(batch, prec), &|d| {
                let x = DeviceBuffer::<f32>::alloc(d, batch * 512)?;
                let mut y = DeviceBuffer::<f32>::alloc(d, batch * 512)?;
                Ok(tc_dft256(d, &x, &mut y, batch, prec)?)
            })?);
        }
        // The 8192-point FFT prototype on the same number of points (batch / 32 rows).
        let fft_rows = super::tcfft_rows_for(batch);
        rows.extend(price(super::tcfft_setting(fft_rows), &|d| {
            let x = DeviceBuffer::<f32>::alloc(d, fft_rows * 16384)?;
            let mut y = DeviceBuffer::<f32>::alloc(d, fft_rows * 16384)?;
            Ok(tc_fft8192(d, &x, &mut y, fft_rows)?)
        })?);
        // The convolution prototype on as many real rows of 8192 points, one filter per channel.
        let channels = super::tcconv_channels(fft_rows, a.d_model);
        rows.extend(price(super::tcconv_setting(fft_rows, channels), &|d| {
            let x = DeviceBuffer::<f32>::alloc(d, fft_rows * 8192)?;
            let coef = DeviceBuffer::<half::f16>::alloc(d, channels * 8192 * 4)?;
            let scale = DeviceBuffer::<f32>::alloc(d, channels)?;
            let mut y = DeviceBuffer::<f32>::alloc(d, fft_rows * 8192)?;
            Ok(tc_conv8192(d, &x, &coef, &scale, &mut y, fft_rows, channels)?)
        })?);
        Ok(rows)
    }

    fn run_shape(
        f: impl FnOnce() -> Result<Vec<Row>, AnyErr>,
        what: &str,
        notes: &mut Vec<String>,
    ) -> Vec<Row> {
        eprintln!("profile: {what} ...");
        let t0 = std::time::Instant::now();
        match f() {
            Ok(r) => {
                eprintln!(
                    "profile: {what}: {} rows in {:.1} s",
                    r.len(),
                    t0.elapsed().as_secs_f64()
                );
                r
            }
            Err(e) => {
                notes.push(format!("{what}: skipped ({e})"));
                Vec::new()
            }
        }
    }

    fn print_table(rows: &[Row], gpu: &str) {
        let (mut setting, mut pass) = ("", "");
        let (mut tot, mut bytes) = ((0.0, 0.0), 0.0);
        for r in rows {
            if r.setting != setting || r.pass != pass {
                flush_pass(&mut tot, pass, &mut bytes, gpu);
                if r.setting != setting {
                    println!("\n## {}  ({MODEL_LABEL})", r.setting);
                    setting = &r.setting;
                }
                pass = &r.pass;
                println!(
                "  {:<9} {:<34} {:>16} {:>5} {:>5} {:>6} {:>8} {:>6} {:>9} {:>10} {:>10} {:<12} {:>6}",
                r.pass, "kernel", "grid x block", "sec/r", "wf/r", "bar/b", "math", "w/SM", "Minstr", "H200 us", "H100 us", "bound", "%roof"
            );
            }
            let shape = if r.block[0] == 0 {
                String::new()
            } else {
                format!(
                    "{}x{}",
                    r.grid[0] * r.grid[1] * r.grid[2],
                    r.block[0] * r.block[1] * r.block[2]
                )
            };
            println!(
            "  {:<9} {:<34} {:>16} {:>5.1} {:>5.2} {:>6.1} {:>8.2e} {:>6} {:>9.2} {:>10.1} {:>10.1} {:<12} {:>6.1}",
            "",
            truncate(&r.kernel, 34),
            shape,
            r.sectors_per_request,
            r.wavefronts_per_request,
            r.barriers_per_block,
            r.math_calls,
            r.warps_per_sm,
            r.warp_instrs / 1e6,
            r.h200_us,
            r.h100_us,
            r.bound,
            r.roofline_pct
        );
            tot.0 += r.h200_us;
            tot.1 += r.h100_us;
            bytes += r.dram_bytes;
        }
        flush_pass(&mut tot, pass, &mut bytes, gpu);
    }

    /// The pass total: summed predicted times (launches back to back) and the pass's share of the
    /// HBM roofline (all DRAM-floor bytes of the pass at copy bandwidth over the summed time).
    fn flush_pass(tot: &mut (f64, f64), pass: &str, bytes: &mut f64, gpu: &str) {
        if !pass.is_empty() {
            let (t, bw) = if gpu == "H200" {
                (tot.0, H200.copy_bw)
            } else {
                (tot.1, H100_SXM.copy_bw)
            };
            let pct = if t > 0.0 {
                100.0 * (*bytes / bw) / (t * 1e-6)
            } else {
                0.0
            };
            println!(
            "  {:<9} {:<34} {:>16} {:>5} {:>5} {:>6} {:>8} {:>6} {:>9} {:>10.1} {:>10.1} {:<12} {:>6.1}",
            "", format!("total {pass}"), "", "", "", "", "", "", "", tot.0, tot.1, "", pct
        );
        }
        *tot = (0.0, 0.0);
        *bytes = 0.0;
    }

    fn truncate(s: &str, n: usize) -> String {
        if s.chars().count() <= n {
            s.to_string()
        } else {
            s.chars().take(n - 1).collect::<String>() + "…"
        }
    }

    fn write_csv(rows: &[Row], path: &PathBuf) -> Result<(), AnyErr> {
        let mut s = String::from(
        "setting,pass,kernel,grid,block,dyn_smem,blocks_run,blocks_total,sectors_per_request,wavefronts_per_request,barriers_per_block,math_calls,registers,static_smem,blocks_per_sm,warps_per_sm,warp_instrs,unmatched_sass,dram_bytes,gemm_flops,h200_us,h100_us,bound,roofline_pct,model\n",
    );
        for r in rows {
            s.push_str(&format!(
            "\"{}\",{},\"{}\",{}x{}x{},{}x{}x{},{},{},{},{:.3},{:.3},{:.2},{:.0},{},{},{},{},{:.0},{},{:.0},{:.0},{:.3},{:.3},{},{:.2},\"{}\"\n",
            r.setting, r.pass, r.kernel, r.grid[0], r.grid[1], r.grid[2], r.block[0], r.block[1], r.block[2], r.dyn_smem, r.blocks_run,
            r.blocks_total, r.sectors_per_request, r.wavefronts_per_request, r.barriers_per_block, r.math_calls, r.registers, r.static_smem,
            r.blocks_per_sm, r.warps_per_sm, r.warp_instrs, r.unmatched_sass, r.dram_bytes, r.gemm_flops, r.h200_us, r.h100_us, r.bound,
            r.roofline_pct, r.model
        ));
        }
        std::fs::write(path, s)?;
        Ok(())
    }

    /// The `--operator` rows: per operator shape profiled, its passes summed (H200).
    fn operator_versus(a: &ProfileArgs, rows: &[Row]) -> Vec<super::versus::Versus> {
        use super::versus::{mha_projection_gemms, versus, PassSum};
        // The MHA module's projections in the GEMM model of the Hyena side's GEMMs (`model_gemm`);
        // H200, as the pass sums.
        let dtype = match a.dtype {
            StorageDtype::Bf16 => DType::BF16,
            StorageDtype::F16 => DType::F16,
            StorageDtype::F32 => DType::F32,
        };
        let proj_sum = |shapes: &[(u64, u64, u64)]| {
            let mut s = PassSum::default();
            for &(m, n, k) in shapes {
                let gm = model_gemm(m as usize, n as usize, k as usize, 1, dtype, dtype, false);
                s.gemms_us += predict_gemm(&H200, &gm).seconds * 1e6;
                s.launches += 1;
            }
            s
        };
        let mut out = Vec::new();
        for &b in &a.batch {
            for &l in &a.lengths {
                let setting = super::operator_setting(a, b, l);
                let sum = |pass: &str| {
                    let mut s = PassSum::default();
                    for r in rows.iter().filter(|r| r.setting == setting && r.pass == pass) {
                        if r.gemm_flops > 0.0 {
                            s.gemms_us += r.h200_us;
                        } else {
                            s.kernels_us += r.h200_us;
                        }
                        s.launches += 1;
                    }
                    s
                };
                let (fwd, bwd) = (sum("forward"), sum("backward"));
                // A shape that was skipped (memory budget) has no rows.
                if fwd.launches > 0 && bwd.launches > 0 {
                    let (pf, pb) = mha_projection_gemms(b, l, a.d_model);
                    let proj = (proj_sum(&pf), proj_sum(&pb));
                    out.push(versus(b, l, a.d_model, a.head_dim, fwd, bwd, proj, a.launch_overhead_us, a.fa2_tflops));
                }
            }
        }
        out
    }

    /// `hyena kernels --profile`.
    pub fn profile(a: &ProfileArgs) -> Result<(), AnyErr> {
        if a.operator && (a.head_dim == 0 || a.d_model % a.head_dim != 0) {
            return Err(format!("--operator: --head-dim ({}) must divide --d-model ({}) (heads = D / head dim)", a.head_dim, a.d_model).into());
        }
        let listing = hyena_kernels::kernels::sass_sm90()?;
        let sel = match a.gpu {
            GpuChoice::H200 => 0,
            GpuChoice::H100 => 1,
        };
        let ctx = Ctx {
            listing,
            gpus: [H200, H100_SXM],
            sel,
        };
        let mut rows = Vec::new();
        let mut notes = Vec::new();
        for &b in &a.batch {
            for &l in &a.lengths {
                let what = format!("operator B={b} D={} L={l}", a.d_model);
                rows.extend(run_shape(
                    || match a.dtype {
                        StorageDtype::Bf16 => operator_rows::<half::bf16>(&ctx, a, b, l),
                        StorageDtype::F16 => operator_rows::<half::f16>(&ctx, a, b, l),
                        StorageDtype::F32 => operator_rows::<f32>(&ctx, a, b, l),
                    },
                    &what,
                    &mut notes,
                ));
            }
        }
        for &l in a.conv_lengths.iter().filter(|&&l| l > 0) {
            let what = format!("fused conv B={} C={} L={l}", a.conv_batch, a.d_model);
            rows.extend(run_shape(
                || match a.dtype {
                    StorageDtype::Bf16 => conv_rows::<half::bf16>(&ctx, a, l),
                    StorageDtype::F16 => conv_rows::<half::f16>(&ctx, a, l),
                    StorageDtype::F32 => conv_rows::<f32>(&ctx, a, l),
                },
                &what,
                &mut notes,
            ));
        }
        if a.tc_dft > 0 {
            let what = format!("tensor-core DFT-256 B={}", a.tc_dft);
            rows.extend(run_shape(|| tcdft_rows(&ctx, a, a.tc_dft), &what, &mut notes));
        }
        let gpu = ctx.gpus[sel].name;
        println!("# hyena kernels --profile: {MODEL_LABEL}");
        println!("# counters: SIMT simulator, {} sampled blocks per uniform kernel; SASS: nvcc 13.0 sm_90 (nvdisasm 13.5.37); bound and %roof: {gpu}", a.sample_blocks);
        println!("# sec/r = 32-B sectors per global request, wf/r = shared wavefronts per request, bar/b = barriers per block, math = lane-level sin/cos/exp/log/div/sqrt calls, w/SM = resident warps per SM (sm_90), Minstr = executed warp-instructions (SASS estimate), %roof = DRAM floor bytes / copy bandwidth / predicted time");
        println!("# the Hyena operator does not depend on the attention heads of the paper's setting (12 at D = 768)");
        let window = if a.modulate { "windowed (--modulate, safari's default)" } else { "no window (modulate=False, the paper's benchmark)" };
        println!("# implicit filter: emb_dim 33, width {}, {window}", a.filter_width);
        print_table(&rows, gpu);
        for n in &notes {
            println!("note: {n}");
        }
        let shares = conv_issue_shares(a, &rows, &ctx.gpus[sel]);
        if !shares.is_empty() {
            println!("\n## Fused convolution against issue 11's roofline metric ({MODEL_LABEL}; {gpu}: must-move bytes = each [B, C, L] operand once (fwd: v, pre, post, y; bwd: v, pre, post, grad_y, grad_v, grad_pre, grad_post, + h, grad_h), over the copy bandwidth, over the pass's predicted time)\n");
            println!("| setting | pass | must-move MB | predicted µs | share of roofline |");
            println!("|---|---|---:|---:|---:|");
            for s in &shares {
                println!(
                    "| {} | {} | {:.1} | {:.1} | {:.1} % |",
                    s["setting"].as_str().unwrap_or(""),
                    s["pass"].as_str().unwrap_or(""),
                    s["must_move_bytes"].as_f64().unwrap_or(0.0) / 1e6,
                    s["us"].as_f64().unwrap_or(0.0),
                    s["share_pct"].as_f64().unwrap_or(0.0)
                );
            }
        }
        let table = if a.operator { operator_versus(a, &rows) } else { Vec::new() };
        if a.operator {
            println!("\n## Operator vs FlashAttention-2 ({MODEL_LABEL}; H200 predictions, {} µs per launch; FlashAttention-2 at {} TFLOP/s, causal, head dim {}; FA2 = attention core only, MHA = the core plus its QKV and output projection GEMMs, the paper's module)\n", a.launch_overhead_us, a.fa2_tflops, a.head_dim);
            print!("{}", super::versus::markdown(&table));
        }
        if let Some(p) = &a.json {
            let doc = serde_json::json!({ "label": MODEL_LABEL, "gpu": gpu, "notes": notes, "rows": rows, "operator_vs_fa2": table, "conv_issue_shares": shares });
            std::fs::write(p, serde_json::to_string_pretty(&doc)?)?;
        }
        if let Some(p) = &a.csv {
            write_csv(&rows, p)?;
        }
        Ok(())
    }
}
