//! Compile kernels/*.cu for the simulator (a crate with a GPU path would also run nvcc here).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(e) = cudasim::build::Builder::new().cu_dir("kernels").compile("saxpy") {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
