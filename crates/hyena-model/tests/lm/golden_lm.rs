//! Conformance of the HyenaDNA LM with the float64 PyTorch golden file `hyenadna_lm_small`:
//! hidden, logits, loss and the gradient of the loss w.r.t. every parameter, rel. L2 ≤ 1e-10 in
//! f64 and ≤ 1e-5 in f32. Also: checkpoint loading under other prefixes and without the `.3/.5.freq`
//! aliases.

use hyena_kernels::{rel_l2, Scalar};
use hyena_model::lm::next_token_targets;
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

fn check<T: Scalar>(f: &TensorFile, prefix: &str, tol: f64) {
    let cfg = LmConfig::from_json(&f.config_json().unwrap().expect("config metadata")).unwrap();
    let lm = HyenaLm::<T>::from_tensors(f, prefix, &cfg).unwrap();
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
