//! Compile cudasim's test kernels (`../tests/kernels/*.cu`) for the simulator, and gpu-model's
//! microkernels (`../../gpu-model/tests/kernels/micro_sim.cu`, library `micro`) for its
//! instruction-estimate tests.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../gpu-model/tests/kernels");
    let libs = [
        cudasim::build::Builder::new().cu_dir("../tests/kernels").include("../tests/kernels").compile("testkernels"),
        cudasim::build::Builder::new()
            .cu_files(["../../gpu-model/tests/kernels/micro_sim.cu"])
            .include("../../gpu-model/tests/kernels")
            .compile("micro"),
    ];
    for r in libs {
        if let Err(e) = r {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
