//! AdamW against a hand computation (groups, warmup factor, bias correction, decoupled weight
//! decay, clipping), the warmup+cosine schedule, and resume-equals-uninterrupted.

use hyena_model::operator::ParamKind;
use hyena_model::recall::RecallTask;
use hyena_model::train::{optim_group, AdamW, OptimConfig, OptimGroup, TrainRng, TrainState};
use hyena_model::{HyenaLm, LmConfig};

fn tiny_cfg() -> LmConfig {
    LmConfig {
        d_model: 4,
        n_layer: 1,
        d_inner: 8,
        vocab_size: 6,
        l_max: 8,
        filter_order: 4,
        emb_dim: 3,
        lr_pos_emb: 1e-5,
        ..Default::default()
    }
}

fn get(m: &HyenaLm<f64>, name: &str) -> Vec<f64> {
    m.params().into_iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name}")).data.to_vec()
}

#[test]
fn groups_follow_safari() {
    use hyena_model::operator::ParamGroup as G;
    assert_eq!(optim_group("backbone.layers.0.mlp.fc1.weight", G::Default), OptimGroup::Decay);
    assert_eq!(optim_group("backbone.embeddings.word_embeddings.weight", G::Default), OptimGroup::Decay);
    assert_eq!(optim_group("backbone.layers.0.mlp.fc1.bias", G::Default), OptimGroup::NoDecay);
    assert_eq!(optim_group("backbone.layers.0.norm1.weight", G::Default), OptimGroup::NoDecay);
    assert_eq!(optim_group("backbone.ln_f.weight", G::Default), OptimGroup::NoDecay);
    assert_eq!(optim_group("backbone.layers.0.mixer.filter_fn.bias", G::Default), OptimGroup::NoDecay);
    assert_eq!(optim_group("backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq", G::FilterMlp), OptimGroup::Filter);
    assert_eq!(optim_group("backbone.layers.0.mixer.filter_fn.pos_emb.z", G::PosEmb), OptimGroup::PosEmb);
    let lm = HyenaLm::<f64>::init(&tiny_cfg(), &mut TrainRng::seed(0)).unwrap();
    let z = lm.params().into_iter().find(|p| p.name.ends_with("pos_emb.z")).unwrap();
    assert_eq!(z.kind, ParamKind::Trainable);
    let mut c = tiny_cfg();
    c.lr_pos_emb = 0.0;
    let lm = HyenaLm::<f64>::init(&c, &mut TrainRng::seed(0)).unwrap();
    let z = lm.params().into_iter().find(|p| p.name.ends_with("pos_emb.z")).unwrap();
    assert_eq!(z.kind, ParamKind::Buffer);
}

#[test]
fn schedule_warmup_then_cosine() {
    let c = OptimConfig { warmup_steps: 4, total_steps: 12, ..Default::default() };
    let f: Vec<f64> = [0u64, 1, 3, 4, 8, 12, 20].iter().map(|&s| c.lr_factor(s)).collect();
    let want = [0.25, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0];
    for (a, b) in f.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{f:?} vs {want:?}");
    }
    let c = OptimConfig { warmup_steps: 0, total_steps: 4, min_lr_ratio: 0.1, ..Default::default() };
    assert!((c.lr_factor(0) - 1.0).abs() < 1e-12);
    assert!((c.lr_factor(2) - (0.1 + 0.9 * 0.5)).abs() < 1e-12);
}

/// Two AdamW steps on constant gradients, checked element by element against the formulas.
#[test]
fn adamw_two_steps_by_hand() {
    let lm0 = HyenaLm::<f64>::init(&tiny_cfg(), &mut TrainRng::seed(7)).unwrap();
    let cfg = OptimConfig { grad_clip: 0.0, warmup_steps: 2, total_steps: 10, ..Default::default() };
    let mut lm = lm0.clone();
    let mut opt = AdamW::new(cfg.clone(), &lm);
    let (g1, g2) = (0.5f64, -0.25f64);
    let mut grads = lm.zeros_like();
    let fill = |grads: &mut HyenaLm<f64>, g: f64| {
        for p in grads.params_mut() {
            p.data.iter_mut().for_each(|x| *x = g);
        }
    };
    fill(&mut grads, g1);
    let info = opt.step(&mut lm, &grads).unwrap();
    assert!((info.lr - 5e-4 * 0.5).abs() < 1e-18);
    fill(&mut grads, g2);
    opt.step(&mut lm, &grads).unwrap();
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let cases = [
        ("backbone.layers.0.mlp.fc1.weight", 5e-4, 0.1),
        ("backbone.embeddings.word_embeddings.weight", 5e-4, 0.1),
        ("backbone.layers.0.mlp.fc1.bias", 5e-4, 0.0),
        ("backbone.layers.0.norm1.weight", 5e-4, 0.0),
        ("backbone.layers.0.mixer.filter_fn.implicit_filter.0.weight", 1e-3, 0.0),
        ("backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq", 1e-3, 0.0),
        ("backbone.layers.0.mixer.filter_fn.pos_emb.z", 1e-5, 0.0),
        ("backbone.layers.0.mixer.in_proj.weight", 5e-4, 0.1),
    ];
    for (name, base, wd) in cases {
        let x0 = get(&lm0, name);
        let x2 = get(&lm, name);
        for (k, (&a, &got)) in x0.iter().zip(&x2).enumerate() {
            // step 1: factor 1/2
            let lr1 = base * 0.5;
            let mut x = a * (1.0 - lr1 * wd);
            let m1 = (1.0 - b1) * g1;
            let v1 = (1.0 - b2) * g1 * g1;
            x -= lr1 * (m1 / (1.0 - b1)) / ((v1 / (1.0 - b2)).sqrt() + eps);
            // step 2: factor 1 (end of warmup)
            let lr2 = base;
            x *= 1.0 - lr2 * wd;
            let m2 = b1 * m1 + (1.0 - b1) * g2;
            let v2 = b2 * v1 + (1.0 - b2) * g2 * g2;
            x -= lr2 * (m2 / (1.0 - b1 * b1)) / ((v2 / (1.0 - b2 * b2)).sqrt() + eps);
            assert!((got - x).abs() <= 1e-15 * (1.0 + x.abs()), "{name}[{k}]: {got} vs hand {x}");
        }
    }
    // Buffers do not move.
    assert_eq!(get(&lm0, "backbone.layers.0.mixer.filter_fn.pos_emb.t"), get(&lm, "backbone.layers.0.mixer.filter_fn.pos_emb.t"));
    assert_eq!(get(&lm0, "backbone.layers.0.mixer.filter_fn.modulation.deltas"), get(&lm, "backbone.layers.0.mixer.filter_fn.modulation.deltas"));
}

#[test]
fn clipping_scales_gradients_to_max_norm() {
    let mut lm = HyenaLm::<f64>::init(&tiny_cfg(), &mut TrainRng::seed(8)).unwrap();
    let cfg = OptimConfig { grad_clip: 1.0, warmup_steps: 1, total_steps: 10, ..Default::default() };
    let mut opt = AdamW::new(cfg, &lm);
    let mut grads = lm.zeros_like();
    let mut n = 0usize;
    for p in grads.params_mut() {
        if p.kind == ParamKind::Trainable {
            n += p.data.len();
            p.data.iter_mut().for_each(|x| *x = 2.0);
        }
    }
    let info = opt.step(&mut lm, &grads).unwrap();
    let norm = 2.0 * (n as f64).sqrt();
    assert!((info.grad_norm - norm).abs() < 1e-9);
    let m = &opt.exp_avg["backbone.layers.0.mlp.fc2.weight"];
    let want = 0.1 * 2.0 * (1.0 / (norm + 1e-6));
    assert!(m.iter().all(|&x| (x - want).abs() < 1e-15), "{} vs {want}", m[0]);
}

fn run_steps(state: &mut TrainState<f64>, task: &RecallTask, steps: usize) {
    for _ in 0..steps {
        let data = task.generate(3, &mut state.rng, true);
        state.train_step(&data.inputs, &data.targets, data.n, data.len).unwrap();
    }
}

/// Training 6 steps straight and 3 + save + load + 3 end with bit-identical weights, moments,
/// step and RNG.
#[test]
fn resume_equals_uninterrupted() {
    let task = RecallTask::new(6, 6).unwrap();
    let mut cfg = tiny_cfg();
    cfg.l_max = task.model_len();
    let ocfg = OptimConfig { warmup_steps: 2, total_steps: 6, lr: 1e-2, ..Default::default() };
    let make = || {
        let mut rng = TrainRng::seed(11);
        let lm = HyenaLm::<f64>::init(&cfg, &mut rng).unwrap();
        TrainState::new(lm, ocfg.clone(), 12)
    };
    let mut a = make();
    run_steps(&mut a, &task, 6);
    let mut b = make();
    run_steps(&mut b, &task, 3);
    let dir = std::env::temp_dir().join(format!("hyena-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ckpt.safetensors");
    b.save(&path).unwrap();
    drop(b);
    let mut c = TrainState::<f64>::load(&path).unwrap();
    assert_eq!(c.opt.step, 3);
    run_steps(&mut c, &task, 3);
    for (pa, pc) in a.model.params().into_iter().zip(c.model.params()) {
        assert_eq!(pa.name, pc.name);
        assert!(pa.data.iter().zip(pc.data).all(|(x, y)| x.to_bits() == y.to_bits()), "{} differs after resume", pa.name);
    }
    assert_eq!(a.opt, c.opt);
    assert_eq!(a.rng, c.rng);
    // And it really trained: weights moved from the init.
    let init = make();
    assert_ne!(get(&init.model, "backbone.layers.0.mlp.fc1.weight"), get(&a.model, "backbone.layers.0.mlp.fc1.weight"));
    // A checkpoint missing a moment tensor is an error naming it.
    let mut f = hyena_model::TensorFile::load(&path).unwrap();
    f.tensors.remove("optim.exp_avg_sq.backbone.layers.0.mlp.fc1.bias");
    let p2 = dir.join("bad.safetensors");
    f.save(&p2, safetensors::Dtype::F64).unwrap();
    let e = TrainState::<f64>::load(&p2).err().unwrap().to_string();
    assert!(e.contains("optim.exp_avg_sq.backbone.layers.0.mlp.fc1.bias"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn resume_equals_uninterrupted_f32() {
    let task = RecallTask::new(6, 6).unwrap();
    let mut cfg = tiny_cfg();
    cfg.l_max = task.model_len();
    let ocfg = OptimConfig { warmup_steps: 2, total_steps: 4, lr: 1e-2, ..Default::default() };
    let make = || TrainState::new(HyenaLm::<f32>::init(&cfg, &mut TrainRng::seed(3)).unwrap(), ocfg.clone(), 4);
    let step = |s: &mut TrainState<f32>, n: usize| {
        for _ in 0..n {
            let d = task.generate(2, &mut s.rng, true);
            s.train_step(&d.inputs, &d.targets, d.n, d.len).unwrap();
        }
    };
    let mut a = make();
    step(&mut a, 4);
    let mut b = make();
    step(&mut b, 2);
    let path = std::env::temp_dir().join(format!("hyena-resume32-{}.safetensors", std::process::id()));
    b.save(&path).unwrap();
    let mut c = TrainState::<f32>::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    step(&mut c, 2);
    for (pa, pc) in a.model.params().into_iter().zip(c.model.params()) {
        assert!(pa.data.iter().zip(pc.data).all(|(x, y)| x.to_bits() == y.to_bits()), "{} differs after resume", pa.name);
    }
    assert_eq!(a.opt, c.opt);
}
