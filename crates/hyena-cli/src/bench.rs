//! `hyena bench`: operator timings at several sequence lengths (CPU backend).

use clap::Args;
use hyena_model::{HyenaOperator, OperatorConfig};
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Sequence lengths (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1024usize, 2048, 4096, 8192])]
    lengths: Vec<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Model width D.
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// Order N of the recurrence.
    #[arg(long, default_value_t = 2)]
    order: usize,
    /// Width of the filter FFN.
    #[arg(long, default_value_t = 64)]
    filter_width: usize,
    /// Timed repetitions per cell (median reported), after one warm-up run.
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn bench(a: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let threads = rayon::current_num_threads();
    println!(
        "# hyena bench — CPU backend, f32, {threads} threads; B={} D={} order={} filter width {}; median of {} runs (ms)",
        a.batch, a.width, a.order, a.filter_width, a.reps
    );
    println!("{:>8} {:>12} {:>12} {:>14}", "L", "fwd", "bwd", "fwd+bwd");
    let reps = a.reps.max(1);
    for &l in &a.lengths {
        let cfg = OperatorConfig {
            d_model: a.width,
            l_max: l,
            order: a.order,
            filter_order: a.filter_width,
            emb_dim: 33,
            ..OperatorConfig::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let op = HyenaOperator::<f32>::init(&cfg, &mut rng)?;
        let n = a.batch * l * a.width;
        let u: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let gy: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (mut tf, mut tb) = (Vec::new(), Vec::new());
        for it in 0..=reps {
            let t0 = Instant::now();
            let (_y, cache) = op.forward(&u, a.batch, l)?;
            let t1 = Instant::now();
            let mut g = op.zeros_like();
            let _gu = op.backward(&cache, &gy, &mut g)?;
            let t2 = Instant::now();
            if it > 0 {
                tf.push((t1 - t0).as_secs_f64() * 1e3);
                tb.push((t2 - t1).as_secs_f64() * 1e3);
            }
        }
        let (f, b) = (median(tf), median(tb));
        println!("{l:>8} {f:>12.2} {b:>12.2} {:>14.2}", f + b);
    }
    Ok(())
}
