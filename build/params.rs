//! Build step shared by the `cuda` and `sim` features: generate the Rust twins of the launch-params
//! structs in `kernels/hyena_params.h` with bindgen, into `$OUT_DIR/hyena_params.rs` (included by
//! `src/kernels.rs`), with bindgen's layout tests (size, alignment and every field's offset, checked
//! at compile time against clang's layout of the header) and `bytemuck::Pod` derived.
//!
//! Also home of the toolchain lookup used by `build/cuda.rs` (and usable by `build/sim.rs`):
//! [`toolchain_dirs`] lists, in order, the repository's `.toolchain/` links and the per-user cache
//! written by `scripts/provision`.

use super::modules::{fail, manifest_dir, out_dir};
use std::env;
use std::path::{Path, PathBuf};

/// The per-user toolchain cache of `scripts/provision` (whether or not it exists):
/// `${HYENA_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hyena-toolchain}/cuda-13.0.88-nvdisasm-13.5.37`
/// (the tag of `scripts/provision`).
pub fn user_cache() -> Option<PathBuf> {
    let base = if let Some(p) = env::var_os("HYENA_TOOLCHAIN_CACHE") {
        PathBuf::from(p)
    } else if let Some(p) = env::var_os("XDG_CACHE_HOME") {
        PathBuf::from(p).join("hyena-toolchain")
    } else {
        PathBuf::from(env::var_os("HOME")?).join(".cache").join("hyena-toolchain")
    };
    Some(base.join("cuda-13.0.88-nvdisasm-13.5.37"))
}

/// Roots of the provisioned toolchain, best first: `$HYENA_TOOLCHAIN` (set by `.toolchain/env.sh`),
/// `<repo>/.toolchain/cache`, the per-user cache. Only existing folders are returned.
pub fn toolchain_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = env::var_os("HYENA_TOOLCHAIN") {
        v.push(PathBuf::from(p));
    }
    v.push(manifest_dir().join(".toolchain").join("cache"));
    if let Some(p) = user_cache() {
        v.push(p);
    }
    v.into_iter().filter(|p| p.is_dir()).collect()
}

fn has_libclang(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libclang"))
        })
        .unwrap_or(false)
}

/// Make sure bindgen (clang-sys) can find libclang: keep a valid `LIBCLANG_PATH`, else point it at
/// the provisioned `clang/native` folder. Returns a description for error messages.
fn locate_libclang() -> String {
    if let Some(p) = env::var_os("LIBCLANG_PATH") {
        let p = PathBuf::from(p);
        if has_libclang(&p) {
            return format!("LIBCLANG_PATH={}", p.display());
        }
        println!(
            "cargo:warning=LIBCLANG_PATH={} holds no libclang; trying the provisioned toolchain",
            p.display()
        );
    }
    for root in toolchain_dirs() {
        let native = root.join("clang").join("native");
        if has_libclang(&native) {
            // Build scripts are single-threaded at this point; clang-sys reads this variable.
            env::set_var("LIBCLANG_PATH", &native);
            return format!("LIBCLANG_PATH={} (provisioned)", native.display());
        }
    }
    "no LIBCLANG_PATH and no provisioned libclang; trying the system's".to_string()
}

/// Adds `bytemuck::Pod` and `Zeroable` to every generated struct: `as_bytes` passes params
/// structs to `launch_raw` as bytes, and the derive refuses a struct with padding (uninitialised
/// bytes), so a struct that gains a hole fails the build instead of leaking memory into a launch.
#[derive(Debug)]
struct PodDerives;

impl bindgen::callbacks::ParseCallbacks for PodDerives {
    fn add_derives(&self, _info: &bindgen::callbacks::DeriveInfo<'_>) -> Vec<String> {
        vec!["bytemuck::Pod".into(), "bytemuck::Zeroable".into()]
    }
}

/// Generate `$OUT_DIR/hyena_params.rs` from `kernels/hyena_params.h`.
pub fn generate() {
    for v in ["LIBCLANG_PATH", "HYENA_TOOLCHAIN", "HYENA_TOOLCHAIN_CACHE", "XDG_CACHE_HOME"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let header = manifest_dir().join("kernels").join("hyena_params.h");
    println!("cargo:rerun-if-changed={}", header.display());
    if !header.is_file() {
        fail(&format!("missing {}", header.display()));
    }
    let where_ = locate_libclang();
    let header_s = header.to_string_lossy().into_owned();
    // bindgen panics when libclang cannot be loaded; turn that into a message that says what to do
    // (with the default panic hook silenced meanwhile: no backtrace in front of the message).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let res = std::panic::catch_unwind(move || {
        bindgen::Builder::default()
            .header(header_s)
            .clang_args(["-x", "c", "-std=c11"])
            // Only our structs; without this bindgen emits all of stdint.h.
            .allowlist_type("Hyena.*")
            .parse_callbacks(Box::new(PodDerives))
            .derive_default(true)
            .derive_debug(true)
            .derive_copy(true)
            .derive_eq(true)
            .layout_tests(true)
            .generate_comments(true)
            .generate()
    });
    std::panic::set_hook(hook);
    let bindings = match res {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => fail(&format!(
            "bindgen could not parse kernels/hyena_params.h: {e}\n({where_})"
        )),
        Err(p) => fail(&format!(
            "bindgen could not load libclang ({where_}): {}\n\
             Run `scripts/provision` (installs libclang 18.1.1 from PyPI into a per-user cache and \
             links it into .toolchain/), then `source .toolchain/env.sh`, or set LIBCLANG_PATH to \
             a folder holding libclang.so.",
            p.downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("bindgen panicked")
        )),
    };
    let out = out_dir().join("hyena_params.rs");
    if let Err(e) = bindings.write_to_file(&out) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
}
