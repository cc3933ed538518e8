//! Build step of feature `sim`: compile every `kernels/*.cu` for the SIMT simulator with the
//! `cudasim` build helper (`crates/cudasim`, see its README): one instrumented translation unit per
//! file, the kernel registry, and `$OUT_DIR/cudasim_hyena.rs` (included by `src/device/sim.rs`).
//!
//! CUDA headers (`cuda_fp16.h`, `cuda_bf16.h`, `vector_types.h`; host-only use) come from
//! `$HYENA_CUDA_INCLUDE` (colon-separated, written to `.toolchain/env.sh` by `scripts/provision`),
//! else from the provisioned toolchain found by `params::toolchain_dirs()`, else `$CUDA_HOME`.

use crate::modules::{fail, manifest_dir};
use crate::params::toolchain_dirs;
use std::env;
use std::path::PathBuf;

fn cuda_include_dirs() -> Vec<PathBuf> {
    println!("cargo:rerun-if-env-changed=HYENA_CUDA_INCLUDE");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    let ok = |dirs: &[PathBuf]| dirs.iter().any(|d| d.join("cuda_fp16.h").is_file());
    if let Ok(v) = env::var("HYENA_CUDA_INCLUDE") {
        let dirs: Vec<PathBuf> = v.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
        if ok(&dirs) {
            return dirs;
        }
        println!("cargo:warning=HYENA_CUDA_INCLUDE={v} holds no cuda_fp16.h; trying the provisioned toolchain");
    }
    let mut cands: Vec<PathBuf> = toolchain_dirs()
        .into_iter()
        .map(|r| r.join("nvidia").join("cu13").join("include"))
        .collect();
    cands.push(manifest_dir().join(".toolchain").join("cuda").join("include"));
    if let Some(h) = env::var_os("CUDA_HOME") {
        cands.push(PathBuf::from(h).join("include"));
    }
    for inc in cands {
        if inc.join("cuda_fp16.h").is_file() {
            return vec![inc.clone(), inc.join("cccl")];
        }
    }
    fail(
        "feature `sim` needs the CUDA headers cuda_fp16.h / cuda_bf16.h (host-only use, no nvcc).\n\
         Run `scripts/provision` and `source .toolchain/env.sh` (sets HYENA_CUDA_INCLUDE), or set\n\
         HYENA_CUDA_INCLUDE to a colon-separated list of folders holding cuda_fp16.h and nv/target.",
    )
}

/// Compile the kernels for the simulator; returns the kernels the simulator build found.
pub fn build() -> Vec<cudasim::build::KernelInfo> {
    let kernels_dir = manifest_dir().join("kernels");
    let res = cudasim::build::Builder::new()
        .cu_dir(&kernels_dir)
        .include(&kernels_dir)
        .cuda_include_dirs(cuda_include_dirs())
        .compile("hyena");
    res.unwrap_or_else(|e| fail(&format!("feature `sim`: {e}")))
}
