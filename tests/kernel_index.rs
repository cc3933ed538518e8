//! The kernel index (`src/kernels.rs`) matches the sources: every `extern "C" __global__` entry
//! point of `kernels/*.cu` is listed (with its module and params struct) and nothing else is.
#![cfg(any(feature = "cuda", feature = "sim"))]

use hyena_kernels::kernels::{check_launch, find, KERNELS, MODULES};
use hyena_kernels::HyenaError;
use std::collections::BTreeSet;
use std::path::Path;

/// (kernel, module, params struct) of every `extern "C" __global__ void NAME(const? Params p)`.
fn entry_points() -> Vec<(String, String, String)> {
    // `kernels/` of the working directory first (cargo runs tests from the package root;
    // scripts/gpu-check runs the carried binaries from the repository root), else the build's.
    let dir = if Path::new("kernels/hyena_params.h").is_file() {
        Path::new("kernels").to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels")
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "cu") {
            continue;
        }
        let module = p.file_stem().unwrap().to_string_lossy().into_owned();
        let src = std::fs::read_to_string(&p).unwrap();
        for piece in src.split("extern \"C\" __global__ void").skip(1) {
            let (name, rest) = piece.split_once('(').expect("entry point without parameter list");
            let params = rest
                .split(')')
                .next()
                .unwrap()
                .split_whitespace()
                .find(|t| *t != "const")
                .unwrap_or("")
                .to_string();
            out.push((name.trim().to_string(), module.clone(), params));
        }
    }
    out.sort();
    out
}

#[test]
fn index_lists_exactly_the_entry_points_of_the_sources() {
    let found = entry_points();
    assert!(!found.is_empty(), "no entry points found under kernels/");
    for (name, module, params) in &found {
        let k = find(name).unwrap_or_else(|| panic!("kernel `{name}` ({module}.cu) is missing from KERNELS"));
        assert_eq!(&k.module, module, "module of `{name}`");
        assert_eq!(&k.params, params, "params struct of `{name}`");
        assert!(MODULES.contains(&k.module), "module `{module}` missing from MODULES");
    }
    let names: BTreeSet<&str> = found.iter().map(|(n, _, _)| n.as_str()).collect();
    for k in KERNELS {
        assert!(names.contains(k.name), "KERNELS lists `{}`, which no kernels/*.cu defines", k.name);
    }
    assert_eq!(names.len(), KERNELS.len(), "duplicate names in KERNELS");
}

#[test]
fn check_launch_rejects_unknown_names_and_wrong_sizes() {
    let k = check_launch("hyena_gate_bwd_bf16", 48).unwrap();
    assert_eq!(k.params, "HyenaGateBwdParams");
    assert!(matches!(check_launch("hyena_gate_bwd_bf16", 47), Err(HyenaError::Invalid(_))));
    assert!(matches!(check_launch("hyena_gate_bwd_bf32", 48), Err(HyenaError::KernelNotBuilt(_))));
}

#[cfg(feature = "cuda")]
#[test]
fn fatbin_and_ptxas_report_are_embedded() {
    use hyena_kernels::kernels::{FATBIN, PTXAS_REPORT, PTXAS_SUMMARY};
    // A fatbin starts with the fatbin magic 0xBA55ED50 (little endian).
    assert!(FATBIN.len() > 1024, "fatbin of {} bytes", FATBIN.len());
    assert_eq!(&FATBIN[..4], &0xBA55_ED50u32.to_le_bytes(), "fatbin magic");
    for k in KERNELS {
        for arch in ["sm_80", "sm_90"] {
            assert!(
                PTXAS_SUMMARY.lines().any(|l| l.starts_with(k.name) && l.contains(arch)),
                "no ptxas line for {} {arch}:\n{PTXAS_SUMMARY}",
                k.name
            );
        }
    }
    assert!(PTXAS_REPORT.contains("ptxas info"), "raw ptxas report:\n{PTXAS_REPORT}");
}
