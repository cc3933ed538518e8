//! Build step of feature `cuda`: compile every `kernels/*.cu` with nvcc into ONE fatbin
//! (`$OUT_DIR/hyena.fatbin`: SASS for sm_80 and sm_90, PTX for compute_90), embedded by
//! `src/kernels.rs` with `include_bytes!`, and keep ptxas's resource report
//! (`$OUT_DIR/ptxas_report.txt`, raw, and `$OUT_DIR/ptxas_summary.txt`, one line per kernel and
//! architecture) for `include_str!`.
//!
//! The fatbin is compiled with `-lineinfo` (line tables only: ptxas's resource report and the SASS
//! are the same with and without it, checked on every kernel). nvcc keeps its intermediate sm_90
//! cubin, `nvdisasm -gi -c` lists it with source lines and inline chains, and the parsed table is
//! written in `gpu_model`'s compact form to `$OUT_DIR/sass_sm90.txt` (`kernels::SASS_SM90`), the
//! input of the executed-instruction estimate. nvdisasm comes from `scripts/provision` like nvcc
//! (`NVDISASM`, next to nvcc, or `PATH`); without it the build fails naming the script.
//!
//! nvcc is found via `NVCC`, then `CUDA_HOME/bin/nvcc` (or `CUDA_PATH`), then `PATH`, then the
//! toolchain installed by `scripts/provision`. A kernel that fails to compile fails the build.

use super::modules::{fail, manifest_dir, out_dir};
use super::params::toolchain_dirs;
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The architectures of the fatbin.
const GENCODE: &[&str] = &[
    "arch=compute_80,code=sm_80",
    "arch=compute_90,code=sm_90",
    "arch=compute_90,code=compute_90",
];

fn find_in_path(exe: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|d| d.join(exe))
        .find(|p| p.is_file())
}

/// Locate nvcc; returns the path and how it was found.
fn find_nvcc() -> (PathBuf, String) {
    let mut tried = Vec::new();
    if let Some(p) = env::var_os("NVCC") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return (p, "NVCC".into());
        }
        tried.push(format!("NVCC={} (not a file)", p.display()));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(h) = env::var_os(var) {
            let p = PathBuf::from(h).join("bin").join("nvcc");
            if p.is_file() {
                return (p, var.into());
            }
            tried.push(format!("{var}/bin/nvcc = {} (missing)", p.display()));
        }
    }
    if let Some(p) = find_in_path("nvcc") {
        return (p, "PATH".into());
    }
    tried.push("nvcc on PATH (none)".into());
    let mut roots = vec![manifest_dir().join(".toolchain")];
    roots.extend(toolchain_dirs().into_iter().map(|r| r.join("nvidia").join("cu13")));
    for r in roots {
        let p = if r.ends_with(".toolchain") {
            r.join("cuda").join("bin").join("nvcc")
        } else {
            r.join("bin").join("nvcc")
        };
        if p.is_file() {
            return (p, "provisioned toolchain".into());
        }
        tried.push(format!("{} (missing)", p.display()));
    }
    fail(&format!(
        "feature `cuda` needs nvcc (CUDA 13.0) to compile kernels/*.cu, and none was found.\n\
         Run `scripts/provision` (installs the pinned CUDA 13.0 compiler from PyPI wheels into a \
         per-user cache; no GPU needed), or set NVCC / CUDA_HOME.\nTried:\n  {}",
        tried.join("\n  ")
    ));
}

/// `-I` folders that make the PyPI wheel layout work even without its nvcc.profile:
/// `<nvcc>/../include` and `<nvcc>/../include/cccl` when they exist.
fn cuda_includes(nvcc: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(top) = nvcc.parent().and_then(|b| b.parent()) {
        for d in [top.join("include"), top.join("include").join("cccl")] {
            if d.is_dir() {
                v.push(d);
            }
        }
    }
    v
}

/// Locate nvdisasm: `NVDISASM`, then next to nvcc (the provisioned layout), then `PATH`.
fn find_nvdisasm(nvcc: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=NVDISASM");
    let mut tried = Vec::new();
    if let Some(p) = env::var_os("NVDISASM") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return p;
        }
        tried.push(format!("NVDISASM={} (not a file)", p.display()));
    }
    if let Some(p) = nvcc.parent().map(|d| d.join("nvdisasm")) {
        if p.is_file() {
            return p;
        }
        tried.push(format!("{} (missing)", p.display()));
    }
    if let Some(p) = find_in_path("nvdisasm") {
        return p;
    }
    tried.push("nvdisasm on PATH (none)".into());
    fail(&format!(
        "feature `cuda` needs nvdisasm (PyPI nvidia-cuda-nvdisasm 13.5.37) to list the SASS of the \
         sm_90 cubin for the GPU model, and none was found.\nRun `scripts/provision` (installs it \
         next to the pinned nvcc), or set NVDISASM.\nTried:\n  {}",
        tried.join("\n  ")
    ));
}

/// List the sm_90 cubin nvcc kept in `keep` with `nvdisasm -gi -c` and write the parsed table
/// (compact form) to `$OUT_DIR/sass_sm90.txt`.
fn write_sass(nvdisasm: &Path, keep: &Path, out: &Path) {
    let cubin = std::fs::read_dir(keep)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", keep.display())))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".sm_90.cubin"))
        .unwrap_or_else(|| fail(&format!("nvcc -keep left no *.sm_90.cubin in {}", keep.display())));
    let res = Command::new(nvdisasm)
        .args(["-gi", "-c"])
        .arg(&cubin)
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", nvdisasm.display())));
    if !res.status.success() {
        fail(&format!(
            "{} -gi -c {} failed:\n{}",
            nvdisasm.display(),
            cubin.display(),
            String::from_utf8_lossy(&res.stderr)
        ));
    }
    let listing = gpu_model::sass::Listing::parse(&String::from_utf8_lossy(&res.stdout))
        .unwrap_or_else(|e| fail(&format!("cannot parse the nvdisasm listing of {}: {e}", cubin.display())));
    let p = out.join("sass_sm90.txt");
    std::fs::write(&p, listing.to_compact()).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", p.display())));
    // The intermediates are large and no longer needed.
    let _ = std::fs::remove_dir_all(keep);
}

/// One summary line per (kernel, arch) parsed from ptxas -v output.
fn summarise(report: &str) -> String {
    let mut lines = vec![format!(
        "{:<32} {:>6} {:>5} {:>7} {:>7} {:>7} {:>8} {:>8}",
        "kernel", "arch", "regs", "smem_B", "cmem0_B", "stack_B", "spill_st", "spill_ld"
    )];
    let mut cur: Option<(String, String)> = None;
    let (mut stack, mut sst, mut sld) = (0u64, 0u64, 0u64);
    let num_before = |s: &str, key: &str| -> u64 {
        // "... 12 bytes spill stores ..." -> 12
        s.find(key)
            .and_then(|i| s[..i].split_whitespace().last())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    };
    for l in report.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("ptxas info    : Compiling entry function '") {
            if let Some((name, tail)) = rest.split_once('\'') {
                let arch = tail.split('\'').nth(1).unwrap_or("?").to_string();
                cur = Some((name.to_string(), arch));
                (stack, sst, sld) = (0, 0, 0);
            }
        } else if l.contains("bytes stack frame") {
            stack = num_before(l, "bytes stack frame");
            sst = num_before(l, "bytes spill stores");
            sld = num_before(l, "bytes spill loads");
        } else if let Some(rest) = l.strip_prefix("ptxas info    : Used ") {
            if let Some((name, arch)) = cur.take() {
                let regs: u64 = rest.split_whitespace().next().and_then(|t| t.parse().ok()).unwrap_or(0);
                let smem = num_before(rest, "bytes smem");
                let cmem = rest
                    .split(',')
                    .find(|p| p.contains("cmem[0]"))
                    .map(|p| num_before(p, "bytes cmem[0]"))
                    .unwrap_or(0);
                lines.push(format!(
                    "{name:<32} {arch:>6} {regs:>5} {smem:>7} {cmem:>7} {stack:>7} {sst:>8} {sld:>8}"
                ));
            }
        }
    }
    // By architecture (sm_80 first), in ptxas's order within one: with `--threads` the two
    // architectures' reports may come in either order.
    lines[1..].sort_by(|a, b| a.split_whitespace().nth(1).cmp(&b.split_whitespace().nth(1)));
    lines.join("\n") + "\n"
}

/// Compile `kernels/*.cu` into `$OUT_DIR/hyena.fatbin` and write the ptxas reports.
pub fn build() {
    for v in ["NVCC", "CUDA_HOME", "CUDA_PATH", "PATH", "NVCC_CCBIN", "HYENA_NVCC_FLAGS"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let kdir = manifest_dir().join("kernels");
    let sources = super::modules::sources(&kdir);
    for s in &sources {
        println!("cargo:rerun-if-changed={}", s.display());
    }
    println!("cargo:rerun-if-changed={}", kdir.join("hyena_params.h").display());

    // One translation unit including every kernel file: one fatbin, one module to load.
    let out = out_dir();
    let tu = out.join("hyena_all.cu");
    let mut text = String::from("// Generated by build/cuda.rs: every kernels/*.cu in one translation unit.\n");
    for s in &sources {
        text.push_str(&format!("#include \"{}\"\n", s.display()));
    }
    std::fs::write(&tu, text).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", tu.display())));

    let (nvcc, how) = find_nvcc();
    let version = Command::new(&nvcc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| fail(&format!("cannot run {} ({how}): {e}", nvcc.display())));
    let release = version
        .lines()
        .find_map(|l| l.split("release ").nth(1))
        .map(|r| r.split(',').next().unwrap_or(r).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    if !release.starts_with("13.") {
        println!(
            "cargo:warning=nvcc {} ({how}) reports CUDA release {release}; the project pins CUDA 13.0 \
             (scripts/provision)",
            nvcc.display()
        );
    }

    let nvdisasm = find_nvdisasm(&nvcc);
    let fatbin = out.join("hyena.fatbin");
    let keep = out.join("nvcc-keep");
    let _ = std::fs::remove_dir_all(&keep);
    std::fs::create_dir_all(&keep).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", keep.display())));
    let mut cmd = Command::new(&nvcc);
    cmd.arg("-fatbin")
        .args(["-O3", "-std=c++17", "-lineinfo", "-Xptxas", "-v", "-keep"])
        // The sm_80 and the sm_90 chain (cicc, ptxas) side by side. nvcc prints each step's
        // output when the step ends, so ptxas's report stays one block per architecture (checked
        // with nvcc 13.0); `summarise` orders its lines by architecture either way.
        .args(["--threads", "2"])
        .arg("-keep-dir")
        .arg(&keep)
        .arg("-I")
        .arg(&kdir);
    for g in GENCODE {
        cmd.arg("-gencode").arg(g);
    }
    for inc in cuda_includes(&nvcc) {
        cmd.arg("-I").arg(inc);
    }
    if let Some(cc) = env::var_os("NVCC_CCBIN") {
        cmd.arg("-ccbin").arg(cc);
    }
    if let Ok(extra) = env::var("HYENA_NVCC_FLAGS") {
        cmd.args(extra.split_whitespace());
    }
    cmd.arg("-o").arg(&fatbin).arg(&tu);
    let res = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {} ({how}): {e}", nvcc.display())));
    let stderr = String::from_utf8_lossy(&res.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&res.stdout).into_owned();
    if !res.status.success() {
        fail(&format!(
            "nvcc failed to compile kernels/*.cu ({}, {how}, CUDA {release}):\n{cmd:?}\n{stdout}{stderr}",
            nvcc.display()
        ));
    }
    let raw = format!(
        "nvcc: {} (CUDA {release}, found via {how})\ngencode: {}\n\n{stdout}{stderr}",
        nvcc.display(),
        GENCODE.join(" ")
    );
    let summary = summarise(&stderr);
    write_sass(&nvdisasm, &keep, &out);
    for (name, body) in [("ptxas_report.txt", &raw), ("ptxas_summary.txt", &summary)] {
        let p = out.join(name);
        std::fs::write(&p, body).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", p.display())));
    }
    // Show the resource table in the build output (cargo shows build-script warnings).
    println!(
        "cargo:warning=compiled {} kernel file(s) with nvcc CUDA {release} into {} ({} bytes); ptxas report:",
        sources.len(),
        fatbin.display(),
        std::fs::metadata(&fatbin).map(|m| m.len()).unwrap_or(0)
    );
    for l in summary.lines() {
        println!("cargo:warning={l}");
    }
    for l in summary.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 8 && (f[6] != "0" || f[7] != "0") {
            println!("cargo:warning=REGISTER SPILLS in {} ({}): {} B stored, {} B loaded", f[0], f[1], f[6], f[7]);
        }
    }
}
