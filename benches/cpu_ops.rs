//! Criterion benches of the CPU ops at a few sizes: causal FFT conv forward/backward, implicit
//! filter generation forward/backward, the fused gated conv forward/backward (precomputed
//! spectra). `cargo bench --bench cpu_ops` (add `-- --quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hyena_kernels::cpu::fftconv::{fftconv_bwd, fftconv_fwd, gated_fftconv_bwd, gated_fftconv_fwd, FftConvPlan, Rows};
use hyena_kernels::cpu::filter::{filter_bwd, filter_fwd, modulation_deltas, positional_embedding, ImplicitFilter};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const C: usize = 256;
const LENGTHS: [usize; 3] = [1024, 8192, 65536];

fn rand_vec(rng: &mut impl Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn decaying_filter(rng: &mut impl Rng, c: usize, l: usize) -> Vec<f32> {
    (0..c * l).map(|i| rng.random_range(-1.0f32..1.0) * (-((i % l) as f32) / (l as f32 / 8.0)).exp()).collect()
}

fn fftconv(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("fftconv");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for &l in &LENGTHS {
        let (b, n) = (1, C * l);
        let u = rand_vec(&mut rng, n);
        let gy = rand_vec(&mut rng, n);
        let h = decaying_filter(&mut rng, C, l);
        let d = rand_vec(&mut rng, C);
        let mut y = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("fwd B1 C256", l), &l, |bch, &l| {
            bch.iter(|| fftconv_fwd(&u, &h, &d, b, C, l, black_box(&mut y)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("bwd B1 C256", l), &l, |bch, &l| {
            bch.iter(|| black_box(fftconv_bwd(&u, &h, &d, &gy, b, C, l).unwrap()))
        });
    }
    g.finish();
}

fn gated(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("gated_fftconv");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for &l in &LENGTHS {
        let (b, n) = (1, C * l);
        let plan = FftConvPlan::<f32>::new(l).unwrap();
        let h = decaying_filter(&mut rng, C, l);
        let hf = plan.filter_spectra(&h, C).unwrap();
        let d = rand_vec(&mut rng, C);
        let (v, pre, post, gy) = (rand_vec(&mut rng, n), rand_vec(&mut rng, n), rand_vec(&mut rng, n), rand_vec(&mut rng, n));
        let mut y = vec![0.0f32; n];
        let rows = |x| Rows::contiguous(x, b, C, l).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("fwd B1 C256", l), &l, |bch, _| {
            bch.iter(|| gated_fftconv_fwd(&plan, &hf, &d, rows(&v), Some(rows(&pre)), Some(rows(&post)), black_box(&mut y)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("bwd B1 C256", l), &l, |bch, _| {
            bch.iter(|| black_box(gated_fftconv_bwd(&plan, &hf, &d, rows(&v), Some(rows(&pre)), Some(rows(&post)), &gy).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("filter_spectra C256", l), &l, |bch, _| {
            bch.iter(|| black_box(plan.filter_spectra(&h, C).unwrap()))
        });
    }
    g.finish();
}

fn implicit_filter(l_max: usize, channels: usize, width: usize, emb_dim: usize, rng: &mut impl Rng) -> ImplicitFilter<f32> {
    let (z, t) = positional_embedding::<f32>(emb_dim, l_max).unwrap();
    let mut layers = Vec::new();
    for i in 0..3 {
        let d_in = if i == 0 { emb_dim } else { width };
        layers.push((rand_vec(rng, width * d_in), rand_vec(rng, width)));
    }
    ImplicitFilter {
        emb_dim,
        width,
        channels,
        l_max,
        z,
        t,
        layers,
        freq: vec![1.0; width],
        out_weight: rand_vec(rng, channels * width),
        deltas: modulation_deltas(channels).unwrap(),
        modulate: true,
        shift: 0.0,
        normalized: false,
    }
}

fn filter(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("implicit_filter");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for &l in &LENGTHS {
        // order 2, D = 256: 256 filter channels, FFN width 64, 33-wide positional embedding
        let w = implicit_filter(l, C, 64, 33, &mut rng);
        let gh = rand_vec(&mut rng, C * l);
        g.throughput(Throughput::Elements((C * l) as u64));
        g.bench_with_input(BenchmarkId::new("fwd C256 F64", l), &l, |bch, &l| {
            bch.iter(|| black_box(filter_fwd(&w, l).unwrap()))
        });
        let (_, cache) = filter_fwd(&w, l).unwrap();
        g.bench_with_input(BenchmarkId::new("bwd C256 F64", l), &l, |bch, _| {
            bch.iter(|| {
                let mut grads = w.zero_grads();
                filter_bwd(&w, &cache, &gh, &mut grads).unwrap();
                black_box(grads)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fftconv, gated, filter);
criterion_main!(benches);
