//! Bounded fuzz runs of the loaders, straight on the library (no process per case): random
//! safetensors headers (names the model knows, any dtype, huge and zero dimensions, coherent or
//! random offsets, repeated keys), random byte mutations of a valid file, and random config
//! JSON. A case passes when the loaders return (an error or a model) without panicking; an
//! allocation abort would kill the test binary. Case counts are small so that CI spends
//! seconds; `PROPTEST_CASES=10000 cargo test -p hyena-model --test lm fuzz` runs more.

use super::bad_input::{op_cfg, op_file};
use hyena_model::config::check_declared_sizes;
use hyena_model::train::{OptimConfig, TrainRng, TrainState};
use hyena_model::{HyenaLm, HyenaOperator, LmConfig, OperatorConfig, TensorFile};
use proptest::prelude::*;

fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig { failure_persistence: None, ..ProptestConfig::default() };
    if std::env::var("PROPTEST_CASES").is_err() {
        c.cases = default_cases;
    }
    c
}

/// Run every loader on `bytes`; with a model loaded, a short forward pass too.
fn exercise(bytes: &[u8]) {
    let Ok(f) = TensorFile::from_bytes(bytes, "fuzz.safetensors") else { return };
    let json = f.config_json().ok().flatten();
    let cfg = json.as_ref().and_then(|v| OperatorConfig::from_json(v).ok()).unwrap_or_default();
    if let Ok(op) = HyenaOperator::<f32>::from_tensors(&f, "", &cfg) {
        if let Some(v) = &json {
            let _ = check_declared_sizes(v, &op.cfg.size_fields(), "fuzz");
        }
        let l = op.cfg.l_max.min(5);
        let u = vec![0.25f32; 2 * l * op.cfg.d_model];
        if let Ok((y, cache)) = op.forward(&u, 2, l) {
            let mut g = op.zeros_like();
            let _ = op.backward(&cache, &y, &mut g);
        }
    }
    let lcfg = json.as_ref().and_then(|v| LmConfig::from_json(v).ok()).unwrap_or_default();
    let _ = HyenaLm::<f32>::find_prefix(&f);
    if let Ok(lm) = HyenaLm::<f32>::from_tensors(&f, "", &lcfg) {
        let l = lm.cfg.l_max.min(4);
        let _ = lm.forward(&vec![1i64; l], 1, l);
    }
    let _ = TrainState::<f32>::from_tensor_file(&f, "fuzz");
    let _ = TrainState::<f64>::from_tensor_file(&f, "fuzz");
}

const NAMES: &[&str] = &[
    "in_proj.weight",
    "in_proj.bias",
    "out_proj.weight",
    "short_filter.weight",
    "filter_fn.bias",
    "filter_fn.pos_emb.z",
    "filter_fn.pos_emb.t",
    "filter_fn.implicit_filter.0.weight",
    "filter_fn.implicit_filter.0.bias",
    "filter_fn.implicit_filter.1.freq",
    "filter_fn.implicit_filter.2.weight",
    "filter_fn.implicit_filter.2.bias",
    "filter_fn.implicit_filter.3.freq",
    "filter_fn.implicit_filter.4.weight",
    "filter_fn.modulation.deltas",
    "backbone.embeddings.word_embeddings.weight",
    "backbone.layers.0.norm1.weight",
    "backbone.layers.0.mlp.fc1.weight",
    "backbone.layers.0.mixer.in_proj.weight",
    "backbone.layers.0.mixer.filter_fn.pos_emb.z",
    "backbone.ln_f.weight",
    "optim.exp_avg.backbone.ln_f.weight",
    "__metadata__",
    "a",
];
const DTYPES: &[&str] = &["F64", "F32", "F16", "BF16", "I64", "I32", "U8", "U16", "BOOL", "F8_E4M3", "Q"];
const DIMS: &[u64] = &[0, 1, 2, 3, 4, 5, 8, 9, 16, 1 << 20, 1 << 40, 1 << 62, u64::MAX];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        prop::sample::select(vec![0u64, 1, 2, 3, 4, 5, 7, 16, 64, 1 << 31, 1 << 40, 1_000_000_000_000, u64::MAX]).prop_map(serde_json::Value::from),
        prop::sample::select(vec![-1.0f64, 0.0, 0.5, 1e-300, 1e38, 1e39, 1e308, -1e308]).prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        Just(serde_json::Value::from("x")),
        Just(serde_json::json!({"d_model": 3, "l_max": 1e12})),
    ]
}

const CONFIG_KEYS: &[&str] = &[
    "d_model", "n_layer", "d_inner", "vocab_size", "pad_vocab_size_multiple", "layer_norm_eps", "l_max", "order", "filter_order", "emb_dim", "w",
    "num_inner_mlps", "modulate", "shift", "normalized", "lr_pos_emb", "layer",
];

fn config_json() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::vec((prop::sample::select(CONFIG_KEYS), json_value()), 0..8)
        .prop_map(|kv| serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// One header entry: name, dtype, shape and whether its offsets follow the previous ones.
fn entry() -> impl Strategy<Value = (&'static str, &'static str, Vec<u64>, bool, (u64, u64))> {
    (
        prop::sample::select(NAMES),
        prop::sample::select(DTYPES),
        prop::collection::vec(prop::sample::select(DIMS), 0..4),
        prop::bool::weighted(0.8),
        (prop::sample::select(DIMS), prop::sample::select(DIMS)),
    )
}

fn header_file(entries: &[(&str, &str, Vec<u64>, bool, (u64, u64))], meta: Option<&serde_json::Value>, extra_data: usize) -> Vec<u8> {
    let mut parts = Vec::new();
    if let Some(m) = meta {
        parts.push(format!("\"__metadata__\":{{\"config\":{}}}", serde_json::Value::from(m.to_string())));
    }
    let mut at = 0u64;
    for (name, dtype, shape, coherent, random) in entries {
        let bytes = match *dtype {
            "F64" | "I64" => 8u64,
            "F32" | "I32" => 4,
            "F16" | "BF16" | "U16" => 2,
            _ => 1,
        };
        let n = shape.iter().try_fold(bytes, |a, &d| a.checked_mul(d)).unwrap_or(u64::MAX);
        let (s, e) = if *coherent { (at, at.saturating_add(n)) } else { *random };
        at = e;
        parts.push(format!("\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{s},{e}]}}"));
    }
    let header = format!("{{{}}}", parts.join(","));
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    // Data: as much as the offsets ask for when that is small, plus some slack either way.
    let data = (at.min(1 << 16) as usize).saturating_add(extra_data).saturating_sub(4);
    b.extend((0..data).map(|i| (i * 37 % 251) as u8));
    b
}

/// Bytes of the small operator's file, without checksums (as the golden files and safari
/// exports are), so that mutations reach the loaders rather than the checksum check.
fn valid_op_bytes() -> Vec<u8> {
    static SEED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SEED.get_or_init(|| {
        let f = op_file(2);
        let bufs: Vec<(String, Vec<usize>, Vec<u8>)> = f
            .tensors
            .iter()
            .map(|(k, t)| {
                let hyena_model::tensors::TensorData::Float(v) = &t.data else { unreachable!("the operator's tensors are floats") };
                (k.clone(), t.shape.clone(), v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect())
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = bufs
            .iter()
            .map(|(k, s, b)| (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, Some(f.metadata.clone())).unwrap()
    })
    .clone()
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn random_headers_never_panic(entries in prop::collection::vec(entry(), 0..10), meta in prop::option::of(config_json()), extra in 0usize..64) {
        exercise(&header_file(&entries, meta.as_ref(), extra));
    }

    #[test]
    fn mutated_files_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in prop::option::of(any::<prop::sample::Index>())) {
        let mut b = valid_op_bytes();
        // Most edits land in the 8-byte length and the JSON header, where they matter most.
        let header_end = 8 + u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        for (i, byte) in edits {
            let at = if byte % 4 == 0 { i.index(b.len()) } else { i.index(header_end) };
            b[at] = byte;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        exercise(&b);
    }

    #[test]
    fn reshaped_tensors_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(prop::sample::select(DIMS), 0..4)), 1..4)) {
        // Valid files with some tensors given other shapes: small ones with data to match,
        // huge ones with a zero dimension (no data), as the 2 KB file that asked for 26 TB.
        let mut f = op_file(3);
        let names: Vec<String> = f.tensors.keys().cloned().collect();
        for (i, shape) in edits {
            let mut shape: Vec<usize> = shape.into_iter().map(|d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
            let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let n = match n {
                Some(n) if n <= 4096 => n,
                _ => {
                    shape.push(0);
                    0
                }
            };
            f.insert_float(names[i.index(names.len())].clone(), shape, vec![0.5; n]);
        }
        let v = serde_json::to_value(op_cfg(3)).unwrap();
        for_both(&f, &op_cfg(3), &v);
    }

    #[test]
    fn random_operator_configs_never_panic(v in config_json()) {
        // Sizes come from the tensors; the other fields from the JSON.
        let f = op_file(2);
        if let Ok(cfg) = OperatorConfig::from_json(&v) {
            let _ = cfg.validate();
            let _ = cfg.param_count();
            for_both(&f, &cfg, &v);
        }
        let _ = LmConfig::from_json(&v).map(|c| c.param_count());
    }

    #[test]
    fn random_checkpoint_metadata_never_panics(cfg in config_json(), optim in config_json(), step in prop::sample::select(vec!["0", "7", "-1", "2147483647", "2147483648", "4294967295", "18446744073709551615", "1e3", ""])) {
        let mut f = checkpoint();
        let mut c: serde_json::Value = serde_json::from_str(&f.metadata["config"]).unwrap();
        if let (Some(o), Some(n)) = (c.as_object_mut(), cfg.as_object()) {
            o.extend(n.clone());
        }
        f.metadata.insert("config".into(), c.to_string());
        let mut o: serde_json::Value = serde_json::from_str(&f.metadata["optim"]).unwrap();
        if let (Some(o), Some(n)) = (o.as_object_mut(), optim.as_object()) {
            o.extend(n.iter().map(|(k, v)| (k.replace("d_model", "lr").replace("order", "beta1"), v.clone())));
        }
        f.metadata.insert("optim".into(), o.to_string());
        f.metadata.insert("step".into(), step.into());
        if let Ok(mut s) = TrainState::<f32>::from_tensor_file(&f, "fuzz") {
            let data = hyena_model::recall::RecallTask::new(6, 6).unwrap().generate(1, &mut TrainRng::seed(1), true);
            if data.len <= s.model.cfg.l_max {
                let _ = s.train_step(&data.inputs, &data.targets, 1, data.len);
            }
        }
    }
}

fn for_both(f: &TensorFile, cfg: &OperatorConfig, v: &serde_json::Value) {
    if let Ok(op) = HyenaOperator::<f32>::from_tensors(f, "", cfg) {
        let _ = check_declared_sizes(v, &op.cfg.size_fields(), "fuzz");
        let u = vec![0.5f32; 2 * 4 * op.cfg.d_model];
        if let Ok((y, cache)) = op.forward(&u, 2, 4) {
            let mut g = op.zeros_like();
            let _ = op.backward(&cache, &y, &mut g);
        }
    }
    if let Ok(op) = HyenaOperator::<f64>::from_tensors(f, "", cfg) {
        let _ = op.forward(&vec![0.5; 4 * op.cfg.d_model], 1, 4);
    }
}

/// A small training checkpoint, read back (with its checksums).
fn checkpoint() -> TensorFile {
    thread_local! {
        static CK: TensorFile = {
            let cfg = LmConfig { d_model: 4, n_layer: 1, d_inner: 8, vocab_size: 6, l_max: 8, filter_order: 4, emb_dim: 3, num_inner_mlps: 1, ..LmConfig::default() };
            let lm = HyenaLm::<f32>::init(&cfg, &mut TrainRng::seed(4)).unwrap();
            let p = super::bad_input::tmpdir(&format!("fuzz-ck-{:?}", std::thread::current().id())).join("ck.safetensors");
            TrainState::new(lm, OptimConfig::default(), 1).save(&p).unwrap();
            TensorFile::load(&p).unwrap()
        };
    }
    CK.with(|c| c.clone())
}

#[test]
fn the_fuzz_seeds_are_valid() {
    // The mutation seed and the checkpoint load cleanly, so the fuzz cases start from real files.
    let b = valid_op_bytes();
    let f = TensorFile::from_bytes(&b, "seed").unwrap();
    assert!(!f.has_checksums());
    HyenaOperator::<f32>::from_tensors(&f, "", &op_cfg(2)).unwrap();
    TrainState::<f32>::from_tensor_file(&checkpoint(), "ck").unwrap();
}
