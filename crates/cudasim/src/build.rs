//! The build helper (feature `build`): compile `.cu` files for the simulator from a `build.rs`.
//!
//! ```no_run
//! // build.rs of a crate with CUDA kernels (cudasim as a build-dependency with feature `build`):
//! let kernels = cudasim::build::Builder::new()
//!     .cu_files(["kernels/saxpy.cu"])
//!     .include("kernels")
//!     .compile("mykernels")
//!     .unwrap_or_else(|e| panic!("{e}"));
//! // kernels: name, params type, source file and uniform-blocks flag of every kernel found.
//! ```
//! and in the crate: `cudasim::include_kernels!("mykernels");` defines `static KERNELS:
//! cudasim::KernelLib` for `SimDevice::new(&KERNELS)`.
//!
//! What `compile(lib)` does:
//! - each `.cu` file is one translation unit (`$OUT_DIR/cudasim_<lib>/tu_<n>_<stem>.cpp`, which
//!   `#include`s the source and appends glue), compiled as C++17 with `-O2`, `-include cuda_sim.h`
//!   (the simulator's CUDA header, written to `$OUT_DIR/cudasim_<lib>/`), GCC's ThreadSanitizer
//!   *instrumentation* (`-fsanitize=thread`; the runtime supplies the `__tsan_*` hooks, libtsan is
//!   never linked: every load and store of kernel code is checked), `-fsanitize-coverage=trace-pc`
//!   (basic-block counts for the per-line counters) and `-g` (line tables with inlining chains);
//! - kernels are found in the *preprocessed* source: `cuda_sim.h` defines `__global__` with a
//!   marker section, so macro-generated kernels are seen as the compiler sees them. Each kernel
//!   takes exactly one parameter, its params struct by value; the glue copies the params bytes
//!   into that struct and calls the kernel. `CUDASIM_UNIFORM_BLOCKS(name)` marks a kernel whose
//!   blocks all do the same work (block sampling). The parse is the crate `cudasim-parse`
//!   ([`parse_kernels`]); [`parse_files`] reads the sources as written, without a compiler, for a
//!   build that needs the kernel list but not the simulator library;
//! - `registry.cpp` defines `cudasim_registry_<lib>()` (every kernel: name, `sizeof(params)`,
//!   entry, source, params type, uniform flag); `$OUT_DIR/cudasim_<lib>.rs` is its Rust side
//!   (`static KERNELS`); everything is archived into the static library `cudasim_<lib>`.
//! - CUDA headers (`cuda_fp16.h`, `cuda_bf16.h`, `vector_types.h`, host-only use) come from
//!   [`Builder::cuda_include_dirs`], else `$CUDASIM_CUDA_INCLUDE` (colon-separated), else
//!   `$CUDA_HOME/include`, `$CUDA_PATH/include`, `/usr/local/cuda/include` (each with its `cccl`
//!   subfolder when present).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

pub use cudasim_parse::KernelInfo;

const CUDA_SIM_H: &str = include_str!("../cpp/cuda_sim.h");

/// Why a simulator build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No CUDA headers (`cuda_fp16.h`) were found.
    #[error(
        "cudasim needs the CUDA headers cuda_fp16.h / cuda_bf16.h / vector_types.h (host-only use, no nvcc):\n\
         set CUDASIM_CUDA_INCLUDE to a colon-separated list of folders holding cuda_fp16.h and nv/target,\n\
         or CUDA_HOME to a CUDA toolkit (looked in: {0})"
    )]
    NoCudaHeaders(String),
    /// The C++ compiler is not GCC (the checks rely on GCC's instrumentation options).
    #[error("cudasim needs the GNU C++ compiler (g++); the configured compiler is {0}. Set CXX=g++.")]
    NotGcc(String),
    /// A kernel does not follow the rules (one params struct by value, unique names).
    #[error("cudasim: {0}")]
    Kernel(String),
    /// The library name is not an identifier.
    #[error("cudasim: library name `{0}` must be a non-empty identifier ([A-Za-z0-9_])")]
    LibName(String),
    /// Preprocessing or compiling failed (the compiler's messages are above).
    #[error("cudasim: {0}")]
    Compile(String),
    /// Writing a generated file failed.
    #[error("cudasim: cannot write {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Compiles `.cu` files for the simulator. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    includes: Vec<PathBuf>,
    cuda_includes: Option<Vec<PathBuf>>,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }
    /// Add one `.cu` file (relative paths are relative to the build script's working directory,
    /// the package root).
    pub fn cu_file(mut self, p: impl AsRef<Path>) -> Self {
        self.files.push(p.as_ref().to_path_buf());
        self
    }
    /// Add several `.cu` files.
    pub fn cu_files<P: AsRef<Path>>(mut self, ps: impl IntoIterator<Item = P>) -> Self {
        self.files.extend(ps.into_iter().map(|p| p.as_ref().to_path_buf()));
        self
    }
    /// Every `*.cu` file directly in `dir`, sorted by name.
    pub fn cu_dir(mut self, dir: impl AsRef<Path>) -> Self {
        let mut v: Vec<PathBuf> = match fs::read_dir(dir.as_ref()) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "cu"))
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        println!("cargo:rerun-if-changed={}", dir.as_ref().display());
        self.files.extend(v);
        self
    }
    /// Add an include directory for the kernel sources.
    pub fn include(mut self, dir: impl AsRef<Path>) -> Self {
        self.includes.push(dir.as_ref().to_path_buf());
        self
    }
    /// The folders holding the CUDA headers (instead of the environment lookup).
    pub fn cuda_include_dirs<P: AsRef<Path>>(mut self, dirs: impl IntoIterator<Item = P>) -> Self {
        self.cuda_includes = Some(dirs.into_iter().map(|p| p.as_ref().to_path_buf()).collect());
        self
    }

    fn find_cuda_includes(&self) -> Result<Vec<PathBuf>, BuildError> {
        if let Some(d) = &self.cuda_includes {
            return Ok(d.clone());
        }
        for v in ["CUDASIM_CUDA_INCLUDE", "CUDA_HOME", "CUDA_PATH"] {
            println!("cargo:rerun-if-env-changed={v}");
        }
        let has = |dirs: &[PathBuf]| dirs.iter().any(|d| d.join("cuda_fp16.h").is_file());
        if let Ok(v) = env::var("CUDASIM_CUDA_INCLUDE") {
            let dirs: Vec<PathBuf> = v.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
            if has(&dirs) {
                return Ok(dirs);
            }
            println!("cargo:warning=CUDASIM_CUDA_INCLUDE={v} holds no cuda_fp16.h; trying CUDA_HOME");
        }
        let mut cands = Vec::new();
        for v in ["CUDA_HOME", "CUDA_PATH"] {
            if let Some(h) = env::var_os(v) {
                cands.push(PathBuf::from(h).join("include"));
            }
        }
        cands.push(PathBuf::from("/usr/local/cuda/include"));
        for inc in &cands {
            if inc.join("cuda_fp16.h").is_file() {
                let mut v = vec![inc.clone()];
                if inc.join("cccl").is_dir() {
                    v.push(inc.join("cccl"));
                }
                return Ok(v);
            }
        }
        Err(BuildError::NoCudaHeaders(cands.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")))
    }

    fn base(&self, cuda: &[PathBuf]) -> cc::Build {
        let mut b = cc::Build::new();
        b.cpp(true).std("c++17").opt_level(2).debug(false).warnings(false);
        for i in self.includes.iter().chain(cuda) {
            b.include(i);
        }
        b
    }

    fn kernel_flags(b: &mut cc::Build, header: &Path) {
        b.flag("-include")
            .flag(header.to_string_lossy().as_ref())
            .flag("-fsanitize=thread")
            .flag("--param=tsan-instrument-func-entry-exit=0")
            // Basic-block hook for the per-line counters (returns at once when they are off).
            .flag("-fsanitize-coverage=trace-pc")
            // Line tables with inlining chains for the per-line counters (-g1 has no inline info).
            .flag("-g")
            // Keep each access at its source width, as nvcc does: g++ would otherwise merge
            // neighbouring scalar accesses into vector ones (tree vectorizers) and split copies
            // of float2/float4 into member accesses (scalar replacement of aggregates).
            .flag("-fno-tree-vectorize")
            .flag("-fno-tree-slp-vectorize")
            .flag("-fno-tree-sra")
            .flag("-fno-threadsafe-statics")
            // Every kernel is `flatten`ed (cuda_sim.h) so that per-line counts keep their whole
            // inlining chain, as in nvcc's SASS; partial inlining (`.part` clones of a helper's
            // cold half) and IPA-SRA (`.isra` clones with scalarised parameters) would still leave
            // helpers out of line (the FFT passes' `pass_twiddle`, `for_each_pair`).
            .flag("-fno-partial-inlining")
            .flag("-fno-ipa-sra")
            // Fibers have 64 KiB stacks with one guard page: refuse kernels whose frames could jump
            // over it, and probe large frames page by page (a crash, never a silent overwrite).
            .flag("-Werror=frame-larger-than=32768")
            .flag("-fstack-clash-protection");
        if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
            // Red zones of static __shared__ variables follow each variable with no alignment gap.
            b.flag("-malign-data=abi");
        }
    }

    /// Compile every file into the static library `cudasim_<lib>` (linked into the crate) and
    /// write `$OUT_DIR/cudasim_<lib>.rs`. Returns the kernels found.
    pub fn compile(&self, lib: &str) -> Result<Vec<KernelInfo>, BuildError> {
        if lib.is_empty() || !lib.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(BuildError::LibName(lib.to_string()));
        }
        let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|_| BuildError::Compile("OUT_DIR is not set".into()))?);
        let root = env::var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
        let out = out_dir.join(format!("cudasim_{lib}"));
        fs::create_dir_all(&out).map_err(|e| BuildError::Io(out.clone(), e))?;
        let header = out.join("cuda_sim.h");
        write_if_changed(&header, CUDA_SIM_H)?;
        let cuda = self.find_cuda_includes()?;
        {
            // The memory checks rely on GCC: -fsanitize=thread instrumentation with our own hooks,
            // --param tsan-instrument-func-entry-exit, -malign-data, and GCC's layout of statics.
            let probe = self.base(&cuda);
            match probe.try_get_compiler() {
                Ok(t) if t.is_like_gnu() && !t.is_like_clang() => {}
                Ok(t) => return Err(BuildError::NotGcc(t.path().display().to_string())),
                Err(e) => return Err(BuildError::Compile(format!("no C++ compiler found: {e}"))),
            }
        }
        for i in &self.includes {
            println!("cargo:rerun-if-changed={}", i.display());
        }

        let mut all: Vec<KernelInfo> = Vec::new();
        let mut tus: Vec<PathBuf> = Vec::new();
        for (n, src) in self.files.iter().enumerate() {
            println!("cargo:rerun-if-changed={}", src.display());
            let abs = if src.is_absolute() { src.clone() } else { root.join(src) };
            let rel = abs.strip_prefix(&root).unwrap_or(&abs).to_string_lossy().into_owned();
            let stem = src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let tu = out.join(format!("tu_{n}_{stem}.cpp"));
            let head = format!(
                "// Generated by cudasim::build: simulator translation unit of {rel}.\n#include \"{}\"\n",
                abs.display()
            );
            fs::write(&tu, &head).map_err(|e| BuildError::Io(tu.clone(), e))?;
            let mut b = self.base(&cuda);
            Self::kernel_flags(&mut b, &header);
            b.file(&tu);
            let pre = b
                .try_expand()
                .map_err(|e| BuildError::Compile(format!("cannot preprocess {rel}: {e}")))?;
            let pre = String::from_utf8_lossy(&pre).into_owned();
            let ks = parse_kernels(&pre, &rel)?;
            let mut glue = head;
            glue.push_str(
                "\n// ---- registry glue ----\n#include <cstring>\nextern \"C\" {\nstruct CudasimKernel {\n    const char *name;\n    \
                 size_t params_size;\n    void (*entry)(const void *params);\n    const char *source;\n    const char *params_type;\n    \
                 int uniform_blocks;\n};\n}\n",
            );
            for k in &ks {
                if let Some(prev) = all.iter().find(|p| p.name == k.name) {
                    return Err(BuildError::Kernel(format!(
                        "kernel `{}` is defined in both {} and {}",
                        k.name, prev.source, k.source
                    )));
                }
                let _ = write!(
                    glue,
                    "static void cudasim_entry_{n}(const void *bytes) {{\n    {ty} p;\n    std::memcpy((void *)&p, bytes, sizeof p);\n    \
                     {n}(p);\n}}\nextern \"C\" const CudasimKernel cudasim_kinfo_{n} = {{\"{n}\", sizeof({ty}), &cudasim_entry_{n}, {src:?}, \"{ty}\", {u}}};\n",
                    n = k.name,
                    ty = k.params_type,
                    src = k.source,
                    u = k.uniform_blocks as i32,
                );
            }
            fs::write(&tu, glue).map_err(|e| BuildError::Io(tu.clone(), e))?;
            tus.push(tu);
            all.extend(ks);
        }

        // Registry (C++) and its Rust side.
        let mut reg = String::from(
            "// Generated by cudasim::build: the kernel registry of one library.\n#include <cstddef>\nextern \"C\" {\nstruct CudasimKernel;\n",
        );
        for k in &all {
            let _ = writeln!(reg, "extern const CudasimKernel cudasim_kinfo_{};", k.name);
        }
        let _ = writeln!(reg, "}}\nstatic const CudasimKernel *const cudasim_table_{lib}[] = {{");
        for k in &all {
            let _ = writeln!(reg, "    &cudasim_kinfo_{},", k.name);
        }
        let _ = write!(
            reg,
            "    nullptr,\n}};\nextern \"C\" size_t cudasim_registry_{lib}(const CudasimKernel *const **out) {{\n    *out = cudasim_table_{lib};\n    return {};\n}}\n",
            all.len()
        );
        let reg_path = out.join("registry.cpp");
        fs::write(&reg_path, reg).map_err(|e| BuildError::Io(reg_path.clone(), e))?;
        let mut rs = format!(
            "// Generated by cudasim::build for the kernel library `{lib}`.\n\
             extern \"C\" {{\n    fn cudasim_registry_{lib}(out: *mut *const *const ::cudasim::RawKernel) -> usize;\n}}\n\
             /// Every kernel of the library `{lib}` (for `cudasim::SimDevice::new(&KERNELS)`).\n\
             pub static KERNELS: ::cudasim::KernelLib = ::cudasim::KernelLib::new(cudasim_registry_{lib}, &[\n"
        );
        for k in &all {
            let _ = writeln!(
                rs,
                "    ::cudasim::KernelSource {{ name: {:?}, params: {:?}, source: {:?}, uniform_blocks: {} }},",
                k.name, k.params_type, k.source, k.uniform_blocks
            );
        }
        rs.push_str("]);\n");
        let rs_path = out_dir.join(format!("cudasim_{lib}.rs"));
        fs::write(&rs_path, rs).map_err(|e| BuildError::Io(rs_path.clone(), e))?;

        // Instrumented kernel objects, one g++ per translation unit, side by side (cc compiles the
        // files of one Build one after the other), then one library with the registry.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(tus.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let compiled: Vec<Result<Vec<(usize, Vec<PathBuf>)>, cc::Error>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(tu) = tus.get(i) else { return Ok(done) };
                            let mut kb = self.base(&cuda);
                            Self::kernel_flags(&mut kb, &header);
                            kb.file(tu);
                            done.push((i, kb.try_compile_intermediates()?));
                        }
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        });
        let mut objects: Vec<(usize, Vec<PathBuf>)> = Vec::new();
        for r in compiled {
            objects.extend(
                r.map_err(|e| BuildError::Compile(format!("compiling the kernels for the simulator failed: {e}")))?,
            );
        }
        // In the order of the files, as before.
        objects.sort_by_key(|(i, _)| *i);
        let objects: Vec<PathBuf> = objects.into_iter().flat_map(|(_, o)| o).collect();
        check_inlined(&objects)?;
        let mut l = self.base(&cuda);
        l.file(&reg_path);
        for o in &objects {
            l.object(o);
        }
        l.try_compile(&format!("cudasim_{lib}"))
            .map_err(|e| BuildError::Compile(format!("archiving the kernel library failed: {e}")))?;
        Ok(all)
    }
}

/// Fails when g++ left kernel code out of line in an object despite `flatten`: a lambda, or an
/// `.isra` / `.part` / `.constprop` clone (nm's local text symbols). The per-line counters then
/// lose the call sites of that code's lines, and aggregate arguments it takes by value, loaded in
/// the caller as call arguments, are not counted (a `uint2` coefficient read in the tensor-core
/// convolution went uncounted so). The `.cold` halves of split functions are allowed. Skipped, with
/// a warning, when `nm` cannot run.
fn check_inlined(objects: &[PathBuf]) -> Result<(), BuildError> {
    let nm = env::var("NM").unwrap_or_else(|_| "nm".into());
    let mut found = Vec::new();
    for o in objects {
        let out = match std::process::Command::new(&nm).args(["-C", "--defined-only"]).arg(o).output() {
            Ok(out) if out.status.success() => out,
            _ => {
                println!("cargo:warning=cudasim: `{nm}` did not run on {}; the out-of-line check is skipped", o.display());
                return Ok(());
            }
        };
        for sym in out_of_line(&String::from_utf8_lossy(&out.stdout)) {
            found.push(format!("{}: {sym}", o.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(BuildError::Kernel(format!(
        "kernel code left out of line by g++ (per-line counts lose its call sites, by-value aggregate arguments go \
         uncounted): make it a __forceinline__ function:\n  {}",
        found.join("\n  ")
    )))
}

/// The out-of-line kernel code among `nm -C --defined-only`'s lines: local text symbols (`t`) of
/// a lambda or of an `.isra`, `.part` or `.constprop` clone.
pub fn out_of_line(nm_output: &str) -> Vec<String> {
    nm_output
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ' ');
            let (_addr, kind, name) = (it.next()?, it.next()?, it.next()?);
            let bad = kind == "t"
                && (name.contains("{lambda(") || [".isra", ".part", ".constprop"].iter().any(|c| name.contains(&format!("[clone {c}"))));
            bad.then(|| name.to_string())
        })
        .collect()
}

fn write_if_changed(p: &Path, text: &str) -> Result<(), BuildError> {
    if fs::read_to_string(p).is_ok_and(|t| t == text) {
        return Ok(());
    }
    fs::write(p, text).map_err(|e| BuildError::Io(p.to_path_buf(), e))
}

/// Find `extern "C" __global__ void NAME(TYPE p) {` in preprocessed text (marker = `__global__`),
/// and `CUDASIM_UNIFORM_BLOCKS(NAME)` markers (see [`cudasim_parse`]).
pub fn parse_kernels(pre: &str, source: &str) -> Result<Vec<KernelInfo>, BuildError> {
    cudasim_parse::parse_preprocessed(pre, source).map_err(|e| BuildError::Kernel(e.0))
}

/// The kernels of `.cu` files read as written, without a compiler (see
/// [`cudasim_parse::parse_files`]): the list [`Builder::compile`] returns when every kernel is
/// spelled out, for build scripts that need it without building the simulator library.
pub fn parse_files<P: AsRef<Path>>(files: impl IntoIterator<Item = P>) -> Result<Vec<KernelInfo>, BuildError> {
    cudasim_parse::parse_files(files).map_err(|e| match e.1 {
        Some((path, io)) => BuildError::Io(path, io),
        None => BuildError::Kernel(e.0),
    })
}

#[cfg(test)]
mod tests {
    use super::out_of_line;

    /// nm's lines from the tensor-core convolution's object when g++ had left its pair lambda out
    /// of line (2026-12-06), with the allowed neighbours.
    #[test]
    fn out_of_line_finds_lambdas_and_clones_not_cold_halves() {
        let nm = "0000000000000000 t __half22float2(__half2)\n\
                  0000000000000000 T hyena::tcdft::conv8192_f16(HyenaTcConvParams)\n\
                  0000000000000000 t hyena::tcdft::conv8192_f16(HyenaTcConvParams) [clone .cold]\n\
                  0000000000000000 t hyena::tcdft::conv8192_f16(HyenaTcConvParams)::{lambda(unsigned int, unsigned int, unsigned long, unsigned long)#3}::operator()(unsigned int, unsigned int, unsigned long, unsigned long) const\n\
                  0000000000000000 t pass_twiddle(float*, int) [clone .isra.0]\n\
                  0000000000000000 t for_each_pair(int) [clone .part.0]\n\
                  0000000000003320 T hyena_tc_conv8192_f16mma_f32\n";
        let got = out_of_line(nm);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("{lambda(unsigned int"), "{got:?}");
        assert!(got[1].contains(".isra") && got[2].contains(".part"), "{got:?}");
        assert!(out_of_line("0000000000000000 t f() [clone .cold]\n0000000000000000 T g()\n").is_empty());
    }
}
