//! Criterion bench of the Hyena operator at the reference shape: B=1, D=256, order 2,
//! filter width 64, f32, at L = 1K (where fixed per-call costs dominate) and L = 8K (PyTorch CPU
//! with 2 threads: ~80 ms forward, ~200 ms backward at 8K). `infer` is the inference path (no
//! cache), `forward` the training forward (keeps the cache). `cargo bench -p hyena-model --bench
//! operator`.

use criterion::{criterion_group, criterion_main, Criterion};
use hyena_model::{HyenaOperator, OperatorConfig};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

fn at_length(cr: &mut Criterion, l: usize) {
    let (b, d) = (1usize, 256usize);
    let cfg = OperatorConfig { d_model: d, l_max: l, order: 2, filter_order: 64, emb_dim: 33, ..OperatorConfig::default() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let op = HyenaOperator::<f32>::init(&cfg, &mut rng).unwrap();
    let u: Vec<f32> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let gy: Vec<f32> = (0..b * l * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut g = cr.benchmark_group(format!("hyena_operator B1 L{l} D256 order2 fw64"));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    g.bench_function("infer", |bch| bch.iter(|| black_box(op.infer(&u, b, l).unwrap())));
    g.bench_function("forward", |bch| bch.iter(|| black_box(op.forward(&u, b, l).unwrap())));
    let (_, cache) = op.forward(&u, b, l).unwrap();
    let mut grads = op.zeros_like();
    g.bench_function("backward", |bch| bch.iter(|| black_box(op.backward(&cache, &gy, &mut grads).unwrap())));
    g.bench_function("forward+backward", |bch| {
        bch.iter(|| {
            let (y, cache) = op.forward(&u, b, l).unwrap();
            black_box(y);
            black_box(op.backward(&cache, &gy, &mut grads).unwrap())
        })
    });
    g.finish();
}

fn operator(cr: &mut Criterion) {
    for l in [1024, 8192] {
        at_length(cr, l);
    }
}

criterion_group!(benches, operator);
criterion_main!(benches);
