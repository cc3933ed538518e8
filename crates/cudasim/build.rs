//! Build script of cudasim: compile the simulator runtime (`cpp/runtime.cpp`, plain C++17, not
//! instrumented, no CUDA headers needed) into the static library `cudasim_rt` (feature `runtime`).
//! Kernel sources are compiled by the *downstream* crate's build script with `cudasim::build`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cpp/runtime.cpp");
    if std::env::var_os("CARGO_FEATURE_RUNTIME").is_none() {
        return;
    }
    let mut b = cc::Build::new();
    b.cpp(true).std("c++17").opt_level(2).debug(false).warnings(false).file("cpp/runtime.cpp");
    if let Err(e) = b.try_compile("cudasim_rt") {
        eprintln!("cudasim: compiling the simulator runtime (cpp/runtime.cpp) failed: {e}");
        std::process::exit(1);
    }
}
