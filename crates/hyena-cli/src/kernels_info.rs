//! `hyena kernels`: the kernels built into this binary and nvcc's resource report.

use clap::Args;

#[derive(Args, Debug)]
pub struct KernelsArgs {
    /// Also print the full `ptxas -v` report (registers, shared memory, spills per kernel and arch).
    #[arg(long)]
    info: bool,
}

pub fn kernels(a: KernelsArgs) -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(any(feature = "cuda", feature = "sim"))]
    {
        use hyena_kernels::kernels::KERNELS;
        println!("{:<32} {:<12} {:<24} {:>6}", "kernel", "module", "params", "bytes");
        for k in KERNELS {
            println!("{:<32} {:<12} {:<24} {:>6}", k.name, k.module, k.params, k.params_size);
        }
    }
    #[cfg(not(any(feature = "cuda", feature = "sim")))]
    println!("this binary was built without the `cuda` and `sim` features: no kernels inside (rebuild with `--features cuda` or `--features sim`)");
    #[cfg(feature = "cuda")]
    {
        println!("\n# ptxas resource summary (nvcc 13.0, -O3)\n{}", hyena_kernels::kernels::PTXAS_SUMMARY);
        if a.info {
            println!("\n# full ptxas -v report\n{}", hyena_kernels::kernels::PTXAS_REPORT);
        }
    }
    #[cfg(not(feature = "cuda"))]
    if a.info {
        println!("no ptxas report: this binary was built without the `cuda` feature (rebuild with `--features cuda`)");
    }
    Ok(())
}
