//! Build script of hyena-kernels.
//!
//! - feature `cuda`: compile every `kernels/*.cu` with nvcc into one fatbin, embed it, and generate
//!   the Rust params structs from `kernels/hyena_params.h` with bindgen (see `build/cuda.rs`).
//! - feature `sim`: compile the same `kernels/*.cu` with the host C++ compiler against the
//!   simulator's CUDA header, for the SIMT simulator (see `build/sim.rs`).
//! - either: the kernel index `$OUT_DIR/kernel_index.rs` from the entry points of `kernels/*.cu`
//!   (see `build/index.rs`).
//! - always: the module declarations of the kernel modules, `src/ops/<m>.rs` and `src/cpu/<m>.rs`
//!   for every `kernels/<m>.cu` (see `build/modules.rs`); without `cuda` or `sim` that is all, and
//!   the crate is CPU-only and needs no nvcc and no libclang.

#[path = "build/modules.rs"]
mod modules;

#[cfg(any(feature = "cuda", feature = "sim"))]
#[path = "build/params.rs"]
mod params;

#[cfg(any(feature = "cuda", feature = "sim"))]
#[path = "build/index.rs"]
mod index;

#[cfg(feature = "cuda")]
#[path = "build/cuda.rs"]
mod cuda;

#[cfg(feature = "sim")]
#[path = "build/sim.rs"]
mod sim;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=kernels");
    modules::write();
    #[cfg(any(feature = "cuda", feature = "sim"))]
    {
        params::generate();
        let kernels = index::parse(&modules::manifest_dir().join("kernels"));
        // nvcc (feature `cuda`) and the simulator's g++ build (feature `sim`) are independent:
        // with both features they run side by side. This build script is on the critical path of
        // every test binary (nothing of the workspace but cudasim and gpu-model compiles before
        // it), so on CI's two cores running them one after the other left a core idle.
        std::thread::scope(|s| {
            #[cfg(feature = "cuda")]
            let nvcc = s.spawn(cuda::build);
            #[cfg(not(feature = "cuda"))]
            let _ = s;
            #[cfg(feature = "sim")]
            index::write(&kernels, Some(&sim::build()));
            #[cfg(not(feature = "sim"))]
            index::write(&kernels, None);
            #[cfg(feature = "cuda")]
            nvcc.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        });
    }
}
