//! Conformance of the HyenaDNA LM with the float64 PyTorch golden file `hyenadna_lm_small`:
//! hidden, logits, loss and the gradient of the loss w.r.t. every parameter, rel. L2 ≤ 1e-10 in
//! f64 and ≤ 1e-5 in f32. Also: checkpoint loading under other prefixes and without the `.3/.5.freq`
//! aliases.

use hyena_kernels::{rel_l2, Scalar};
use hyena_model::lm::{next_token_targets, Mixer};
use hyena_model::operator::ParamKind;
use hyena_model::{HyenaLm, LmConfig, TensorFile};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    if let Ok(d) = std::env::var("HYENA_GOLDEN_DIR") {
        return PathBuf::from(d);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden")
}

fn golden() -> TensorFile {
    let p = golden_dir().join("hyenadna_lm_small.safetensors");
    TensorFile::load(&p).unwrap_or_else(|e| panic!("golden LM file {}: {e}", p.display()))
}

fn load<T: Scalar>(f: &TensorFile, prefix: &str) -> HyenaLm<T> {
    let cfg = LmConfig::from_json(&f.config_json().unwrap().expect("config metadata")).unwrap();
    HyenaLm::<T>::from_tensors(f, prefix, &cfg).unwrap()
}

fn check<T: Scalar>(f: &TensorFile, prefix: &str, tol: f64) {
    check_lm(f, load::<T>(f, prefix), tol)
}

fn check_lm<T: Scalar, M: Mixer<T>>(f: &TensorFile, lm: HyenaLm<T, M>, tol: f64) {
    assert_eq!(lm.cfg.n_layer, 2);
    let (is, ids) = f.int("input.input_ids").unwrap();
    let (b, l) = (is[0], is[1]);
    let targets = next_token_targets(ids, b, l);
    let mut grads = lm.zeros_like();
    let (loss, out) = lm.loss_and_grad(ids, &targets, b, l, &mut grads).unwrap();
    let mut failures = Vec::new();
    let mut check = |what: &str, ours: &[T], golden: &[f64]| {
        let e = rel_l2(ours, golden);
        println!("{} {what}: {e:.3e}", T::NAME);
        if !(e <= tol) {
            failures.push(format!("({}) {what}: rel L2 {e:.3e} > {tol:.0e}", T::NAME));
        }
    };
    check("output.hidden", &out.hidden, f.float("output.hidden", Some(&[b, l, 16])).unwrap().1);
    check("output.logits", &out.logits, f.float("output.logits", Some(&[b, l, 12])).unwrap().1);
    check("output.loss", &[T::lit(loss)], f.float("output.loss", Some(&[1])).unwrap().1);
    let mut n = 0;
    for p in grads.params() {
        let key = format!("grad.{}", p.name);
        match p.kind {
            ParamKind::Trainable => {
                check(&key, p.data, f.float(&key, Some(&p.shape)).unwrap().1);
                n += 1;
            }
            ParamKind::Buffer => assert!(!f.tensors.contains_key(&key), "{key}: golden has a gradient for a buffer"),
        }
    }
    let in_file = f.tensors.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(n, in_file, "some golden gradients were not compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_lm_f64() {
    check::<f64>(&golden(), "weights.", 1e-10);
}

#[test]
fn golden_lm_f32() {
    check::<f32>(&golden(), "weights.", 1e-5);
}

/// The same weights under `model.`, `hyena.` and no prefix, with the shared-frequency aliases
/// removed, load to the same model; the prefix is found by `find_prefix`.
#[test]
fn other_prefixes_and_missing_aliases() {
    let f = golden();
    for new_prefix in ["", "model.", "hyena."] {
        let mut g = TensorFile { metadata: f.metadata.clone(), ..Default::default() };
        for (k, t) in &f.tensors {
            if let Some(rest) = k.strip_prefix("weights.") {
                if new_prefix == "model." && (rest.ends_with(".3.freq") || rest.ends_with(".5.freq")) {
                    continue;
                }
                g.tensors.insert(format!("{new_prefix}{rest}"), t.clone());
            } else {
                g.tensors.insert(k.clone(), t.clone());
            }
        }
        // `grad.backbone.…` keys are not taken for a model without prefix.
        let p = HyenaLm::<f64>::find_prefix(&g).unwrap().unwrap();
        assert_eq!(p, new_prefix);
        check::<f64>(&g, &p, 1e-10);
    }
}

/// The inference path (`HyenaLm::infer`: no caches, each mixer's `infer`) gives the golden hidden
/// states and logits (same bound as `golden_lm_f64`'s forward check) and the training forward's
/// outputs to rounding (1e-13: the two differ only in the order of out_proj's sums).
#[test]
fn infer_matches_golden_and_forward() {
    let f = golden();
    let lm = load::<f64>(&f, "weights.");
    let (is, ids) = f.int("input.input_ids").unwrap();
    let out = lm.infer(ids, is[0], is[1]).unwrap();
    let (fwd, _) = lm.forward(ids, is[0], is[1]).unwrap();
    assert!(rel_l2(&out.hidden, &fwd.hidden) < 1e-13 && rel_l2(&out.logits, &fwd.logits) < 1e-13);
    assert!(rel_l2(&out.hidden, f.float("output.hidden", None).unwrap().1) < 1e-10);
    assert!(rel_l2(&out.logits, f.float("output.logits", None).unwrap().1) < 1e-10);
    assert!(lm.infer(&ids[..ids.len() - 1], is[0], is[1]).is_err(), "wrong element count");
}

/// An embedding padded beyond the vocabulary (HyenaDNA's pad_vocab_size_multiple) is accepted and
/// the logits cover every row.
#[test]
fn padded_vocab_logits_cover_every_row() {
    let f = golden();
    let mut cfg = LmConfig::from_json(&f.config_json().unwrap().unwrap()).unwrap();
    let mut g = f.clone();
    let key = "weights.backbone.embeddings.word_embeddings.weight";
    let t = g.tensors.get_mut(key).unwrap();
    if let hyena_model::tensors::TensorData::Float(v) = &mut t.data {
        v.extend(std::iter::repeat_n(0.01, 4 * 16));
    }
    t.shape = vec![16, 16];
    cfg.pad_vocab_size_multiple = 8;
    let lm = HyenaLm::<f64>::from_tensors(&g, "weights.", &cfg).unwrap();
    assert_eq!(lm.vocab_rows, 16);
    let (is, ids) = f.int("input.input_ids").unwrap();
    let (out, _) = lm.forward(ids, is[0], is[1]).unwrap();
    assert_eq!(out.logits.len(), is[0] * is[1] * 16);
    // The first 12 logits of each row are the unpadded model's.
    let golden_logits = f.float("output.logits", None).unwrap().1;
    let ours: Vec<f64> = out.logits.chunks(16).flat_map(|r| r[..12].to_vec()).collect();
    assert!(rel_l2(&ours, golden_logits) < 1e-10);
    // Too few rows for the vocabulary is an error naming the embedding.
    cfg.vocab_size = 20;
    let e = HyenaLm::<f64>::from_tensors(&g, "weights.", &cfg).unwrap_err().to_string();
    assert!(e.contains("word_embeddings.weight"), "{e}");
}

/// The LM with every Hyena operator on the CUDA device abstraction (the GPU when present and the
/// SIMT simulator, f32 storage): the same golden file, the same f32 bound.
#[cfg(any(feature = "cuda", feature = "sim"))]
#[test]
fn golden_lm_device_f32() {
    let f = golden();
    for dev in crate::common::devices() {
        check_lm(&f, on_device(load::<f32>(&f, "weights."), &dev), 1e-5);
    }
}

#[cfg(any(feature = "cuda", feature = "sim"))]
fn on_device(
    lm: HyenaLm<f32>,
    dev: &std::sync::Arc<dyn hyena_kernels::device::Device>,
) -> HyenaLm<f32, hyena_model::device_operator::DeviceOperator<f32>> {
    lm.map_mixers(|op| hyena_model::device_operator::DeviceOperator::new(op, dev.clone())).unwrap()
}

/// One AdamW step (safari groups, clipping) from the golden weights and inputs on the CPU and
/// through the device abstraction (each available device) ends with the same weights: every
/// tensor within relative L2 1e-5 (f32), and the step really moved them.
#[cfg(any(feature = "cuda", feature = "sim"))]
#[test]
fn optimizer_step_cpu_equals_device() {
    use hyena_model::train::{AdamW, OptimConfig};
    let f = golden();
    let (is, ids) = f.int("input.input_ids").unwrap();
    let (b, l) = (is[0], is[1]);
    let targets = next_token_targets(ids, b, l);
    let ocfg = OptimConfig { warmup_steps: 0, total_steps: 10, lr: 1e-3, ..Default::default() };
    for device in crate::common::devices() {
        let mut cpu = load::<f32>(&f, "weights.");
        let start = cpu.clone();
        let mut dev = on_device(cpu.clone(), &device);
        let mut g_cpu = cpu.zeros_like();
        let (loss_cpu, _) = cpu.loss_and_grad(ids, &targets, b, l, &mut g_cpu).unwrap();
        let mut g_dev = dev.zeros_like();
        let (loss_dev, _) = dev.loss_and_grad(ids, &targets, b, l, &mut g_dev).unwrap();
        assert!((loss_cpu - loss_dev).abs() <= 1e-5 * loss_cpu.abs(), "loss {loss_cpu} vs {loss_dev}");
        AdamW::new(ocfg.clone(), &cpu).step(&mut cpu, &g_cpu).unwrap();
        AdamW::new(ocfg.clone(), &dev).step(&mut dev, &g_dev).unwrap();
        let mut moved = 0;
        for ((pc, pd), p0) in cpu.params().into_iter().zip(dev.params()).zip(start.params()) {
            assert_eq!(pc.name, pd.name);
            let e = rel_l2(pd.data, &pc.data.iter().map(|&x| x as f64).collect::<Vec<_>>());
            assert!(e <= 1e-5, "{}: CPU and device weights differ after one step, rel L2 {e:.3e}", pc.name);
            if pc.data != p0.data {
                moved += 1;
            }
        }
        assert!(moved > 10, "the step moved only {moved} tensors");
    }
}
