//! `hyena kernels`: the kernels built into this binary, nvcc's resource report, the static sm_90
//! SASS per kernel (`--sass`) and the GPU time model of the operator's launches (`--profile`,
//! `crate::profile`).

use crate::profile::ProfileArgs;
use clap::Args;

#[derive(Args, Debug)]
pub struct KernelsArgs {
    /// Also print the full `ptxas -v` report (registers, shared memory, spills per kernel and arch).
    #[arg(long)]
    info: bool,
    /// Print the static sm_90 SASS instruction count of every kernel, per pipe (feature `cuda`).
    #[arg(long)]
    sass: bool,
    #[command(flatten)]
    profile: ProfileArgs,
}

pub fn kernels(a: KernelsArgs) -> Result<(), Box<dyn std::error::Error>> {
    if a.profile.measure {
        #[cfg(feature = "cuda")]
        return crate::measure::measure(&a.profile);
        #[cfg(not(feature = "cuda"))]
        return Err("`--measure` needs a build with feature `cuda` (and a GPU): \
                    cargo run --release -p hyena-cli --features cuda -- kernels --measure"
            .into());
    }
    if a.profile.profile {
        #[cfg(all(feature = "sim", feature = "cuda"))]
        return crate::profile::profile(&a.profile);
        #[cfg(not(all(feature = "sim", feature = "cuda")))]
        return Err("`--profile` needs a build with features `sim` (the simulator counts) and `cuda` (the SASS): \
                    cargo run --release -p hyena-cli --features sim,cuda -- kernels --profile"
            .into());
    }
    if a.sass {
        #[cfg(feature = "cuda")]
        {
            use gpu_model::sass::Pipe;
            let l = hyena_kernels::kernels::sass_sm90()?;
            print!("# static sm_90 SASS instructions per kernel (nvcc 13.0, nvdisasm 13.5.37)\n{:<34} {:>7}", "kernel", "total");
            for p in Pipe::ALL {
                print!(" {:>7}", p.name());
            }
            println!();
            for f in l.functions.iter().filter(|f| f.entry) {
                let st = f.static_per_pipe();
                print!("{:<34} {:>7}", f.name, f.instrs.len());
                for v in st {
                    print!(" {v:>7}");
                }
                println!();
            }
            return Ok(());
        }
        #[cfg(not(feature = "cuda"))]
        return Err(
            "`--sass` needs a build with feature `cuda` (the SASS comes from nvcc + nvdisasm)"
                .into(),
        );
    }
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
