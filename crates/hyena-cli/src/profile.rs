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
    /// Also the fused gated convolution alone (B = 1, the widths above) at these lengths (0: none).
    #[arg(long, value_delimiter = ',', default_values_t = vec![131072usize, 262144, 524288, 1048576])]
    pub conv_lengths: Vec<usize>,
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
    format!("fused conv B=1 C={} L={l} {:?}", a.d_model, a.dtype).to_lowercase()
}

#[cfg(feature = "cuda")]
pub use shared::{profiled_operator, ConvOperands};

/// What `--profile` (simulator) and `--measure` (GPU) both run, so that their rows join.
#[cfg(feature = "cuda")]
mod shared {
    use super::ProfileArgs;
    use hyena_kernels::device::{Device, DeviceBuffer, DeviceScalar};
    use hyena_model::{HyenaOperator, OperatorConfig};
    use rand::SeedableRng;
    use std::sync::Arc;

    /// The operator `--profile` and `--measure` run at length `l` (f32 parameters, seed 0).
    pub fn profiled_operator(a: &ProfileArgs, l: usize) -> hyena_model::Result<HyenaOperator<f32>> {
        let cfg = OperatorConfig {
            d_model: a.d_model,
            l_max: l,
            order: a.order,
            filter_order: a.filter_width,
            emb_dim: 33,
            ..OperatorConfig::default()
        };
        HyenaOperator::init(&cfg, &mut rand::rngs::StdRng::seed_from_u64(0))
    }

    /// The operands of the fused gated convolution alone (`--profile` and `--measure`): B = 1,
    /// C channels, length L, with both gates.
    pub struct ConvOperands<S: DeviceScalar> {
        h: DeviceBuffer<S>,
        d: DeviceBuffer<S>,
        v: DeviceBuffer<S>,
        pre: DeviceBuffer<S>,
        post: DeviceBuffer<S>,
        y: DeviceBuffer<S>,
        c: usize,
        l: usize,
    }

    impl<S: DeviceScalar> ConvOperands<S> {
        /// Allocated on `dev`, contents as allocated (the simulator in profile mode maps them lazily:
        /// no kernel's counts depend on the values, and writing them would make all of them resident).
        pub fn alloc(dev: &Arc<dyn Device>, c: usize, l: usize) -> hyena_kernels::Result<Self> {
            let buf = |n: usize| DeviceBuffer::<S>::alloc(dev, n);
            Ok(Self { h: buf(c * l)?, d: buf(c)?, v: buf(c * l)?, pre: buf(c * l)?, post: buf(c * l)?, y: buf(c * l)?, c, l })
        }

        /// Zeros in every input (a GPU run times defined values).
        pub fn zero_inputs(&mut self) -> hyena_kernels::Result<()> {
            let zeros = vec![S::from_f64(0.0); self.c * self.l];
            for x in [&mut self.h, &mut self.v, &mut self.pre, &mut self.post] {
                x.write(&zeros)?;
            }
            self.d.write(&zeros[..self.c])
        }

        /// The fused forward: the filter spectrum of `h`, then `y = post ⊙ (h ∗ (pre ⊙ v) + D ⊙ (pre ⊙ v))`.
        pub fn forward(&mut self, dev: &Arc<dyn Device>) -> hyena_kernels::Result<()> {
            let Self { h, d, v, pre, post, y, c, l } = self;
            hyena_kernels::ops::fftconv::gated_fftconv_fwd(dev, &*h, &*d, &*v, Some(pre.as_view()), Some(post.as_view()), 1, *c, *l, y)
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
    use gpu_model::sass::{estimate, LineExec, Listing, Pipe};
    use gpu_model::MODEL_LABEL;
    use hyena_kernels::device::sim::{LaunchCounters, SimDevice};
    use hyena_kernels::device::{
        DType, Device, DeviceBuffer, DeviceKind, DeviceScalar, GemmSpec, LaunchConfig,
    };
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
        pub dram_bytes: f64,
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

    impl Device for ProfileDevice {
        fn kind(&self) -> DeviceKind {
            self.sim.kind()
        }
        fn name(&self) -> String {
            format!(
                "{} (profile: GEMMs recorded, not computed)",
                self.sim.name()
            )
        }
        fn max_shared_bytes(&self) -> usize {
            self.sim.max_shared_bytes()
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
        forward_raw_copies!(sim);
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
        fn synchronize(&self) -> hyena_kernels::Result<()> {
            self.sim.synchronize()
        }
    }

    struct Ctx {
        listing: Listing,
        gpus: [Gpu; 2],
        sel: usize,
    }

    fn pred_row(ctx: &Ctx, preds: [Prediction; 2], must_move: f64) -> (f64, f64, String, f64) {
        let sel = &preds[ctx.sel];
        (
            preds[0].seconds * 1e6,
            preds[1].seconds * 1e6,
            sel.bound.clone(),
            sel.roofline_pct(&ctx.gpus[ctx.sel], must_move),
        )
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
            })
            .collect();
        let est = estimate(func, &lines, c.blocks_run * warps_per_block as u64);
    if let Some(dir) = std::env::var_os("HYENA_PROFILE_DUMP") {
        // Debugging aid: the joined inputs and the per-instruction estimate of every launch.
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        let mut t = String::new();
        for l in &c.lines {
            t.push_str(&format!("{} {:?}\n", l.warp_execs, l.frames.iter().map(|(f, n)| format!("{}:{n}", f.rsplit('/').next().unwrap_or(f))).collect::<Vec<_>>()));
        }
        std::fs::write(dir.join(format!("{}.lines.txt", c.kernel)), t)?;
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
            dram_bytes: g.unique_sectors as f64 * 32.0 * scale,
            l2_sectors: (g.load_sectors + g.store_sectors) as f64 * scale,
            global_requests: (g.load_requests + g.store_requests) as f64 * scale,
            shared_wavefronts: (s.load_wavefronts + s.store_wavefronts) as f64 * scale,
            warp_instrs: instrs,
            ilp: est.global_load_ilp,
        };
        let preds = [predict(&ctx.gpus[0], &work), predict(&ctx.gpus[1], &work)];
        let (h200_us, h100_us, bound, roofline_pct) = pred_row(ctx, preds, work.dram_bytes);
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
            dram_bytes: work.dram_bytes,
            gemm_flops: 0.0,
            h200_us,
            h100_us,
            bound,
            roofline_pct,
            model: MODEL_LABEL,
        })
    }

    fn gemm_row(ctx: &Ctx, setting: &str, pass: &str, g: &GemmSpec) -> Row {
        let elem = g.dtype.size() as u64;
        let gm = Gemm {
            m: g.m as u64,
            n: g.n as u64,
            k: g.k as u64,
            batch: g.batch as u64,
            elem_bytes: elem,
            tensor: g.dtype != DType::F32,
        };
        let preds = [
            predict_gemm(&ctx.gpus[0], &gm),
            predict_gemm(&ctx.gpus[1], &gm),
        ];
        let (h200_us, h100_us, bound, roofline_pct) = pred_row(ctx, preds, gm.bytes());
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
            dram_bytes: gm.bytes(),
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
        let mut x = super::ConvOperands::<S>::alloc(&ddev, a.d_model, l)?;
        let _ = sim.take_counters();
        x.forward(&ddev)?;
        let fwd = sim.take_counters();
        pass_rows(ctx, &setting, "forward", &fwd, &[], 0)
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

    /// `hyena kernels --profile`.
    pub fn profile(a: &ProfileArgs) -> Result<(), AnyErr> {
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
            let what = format!("fused conv B=1 C={} L={l}", a.d_model);
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
        let gpu = ctx.gpus[sel].name;
        println!("# hyena kernels --profile: {MODEL_LABEL}");
        println!("# counters: SIMT simulator, {} sampled blocks per uniform kernel; SASS: nvcc 13.0 sm_90 (nvdisasm 13.5.37); bound and %roof: {gpu}", a.sample_blocks);
        println!("# sec/r = 32-B sectors per global request, wf/r = shared wavefronts per request, bar/b = barriers per block, math = lane-level sin/cos/exp/log/div/sqrt calls, w/SM = resident warps per SM (sm_90), Minstr = executed warp-instructions (SASS estimate), %roof = DRAM floor bytes / copy bandwidth / predicted time");
        println!("# the Hyena operator does not depend on the attention heads of the paper's setting (12 at D = 768)");
        print_table(&rows, gpu);
        for n in &notes {
            println!("note: {n}");
        }
        if let Some(p) = &a.json {
            let doc = serde_json::json!({ "label": MODEL_LABEL, "gpu": gpu, "notes": notes, "rows": rows });
            std::fs::write(p, serde_json::to_string_pretty(&doc)?)?;
        }
        if let Some(p) = &a.csv {
            write_csv(&rows, p)?;
        }
        Ok(())
    }
}
