//! Compile cudasim's test kernels (`../tests/kernels/*.cu`) for the simulator.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(e) = cudasim::build::Builder::new().cu_dir("../tests/kernels").include("../tests/kernels").compile("testkernels") {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
