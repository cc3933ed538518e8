//! Issue 12's reproductions against the library: each once aborted, panicked, or was accepted
//! silently; each must now be a typed error naming the problem (and never a panic or abort).

use hyena_model::config::check_declared_sizes;
use hyena_model::tensors::{TensorData, CHECKSUMS_KEY};
use hyena_model::train::{AdamW, OptimConfig, TrainRng, TrainState};
use hyena_model::{HyenaLm, HyenaOperator, LmConfig, ModelError, OperatorConfig, TensorFile};
use std::path::PathBuf;

pub fn op_cfg(order: usize) -> OperatorConfig {
    OperatorConfig { d_model: 3, l_max: 16, order, filter_order: 4, emb_dim: 3, w: 1.0, num_inner_mlps: 1, modulate: true, shift: 0.05, normalized: false }
}

pub fn op(order: usize) -> HyenaOperator<f64> {
    HyenaOperator::<f64>::init(&op_cfg(order), &mut TrainRng::seed(order as u64)).unwrap()
}

/// The operator's tensors under their original names, with its config as metadata.
pub fn op_file(order: usize) -> TensorFile {
    let mut f = TensorFile::default();
    op(order).export(&mut f, "", false);
    f.metadata.insert("config".into(), serde_json::to_string(&op_cfg(order)).unwrap());
    f
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hyena-badinput-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn set(f: &mut TensorFile, name: &str, shape: Vec<usize>, data: Vec<f64>) {
    let t = f.tensors.get_mut(name).unwrap_or_else(|| panic!("{name}"));
    t.shape = shape;
    t.data = TensorData::Float(data);
}

#[test]
fn forward_with_overflowing_sizes_is_an_error() {
    // B·L·D = 2^63 · 1 · 3 wraps to 2^63 (and B·L·D·(N+1) to 0): must not pass the length check.
    let o = op(2);
    assert!(matches!(o.forward(&[], 1 << 63, 1), Err(ModelError::TooLarge { .. }) | Err(ModelError::Kernel(_))));
    assert!(o.forward(&[], usize::MAX, usize::MAX).is_err());
    assert!(o.forward(&[], 1 << 62, 4).is_err());
}

#[test]
fn backward_with_a_cache_of_another_operator_is_an_error() {
    let (o2, o3) = (op(2), op(3));
    let (b, l) = (1, 5);
    let u = vec![0.1; b * l * 3];
    let (_, c3) = o3.forward(&u, b, l).unwrap();
    let (_, c2) = o2.forward(&u, b, l).unwrap();
    let mut g2 = o2.zeros_like();
    match o2.backward(&c3, &u, &mut g2) {
        Err(e @ ModelError::Config(_)) => assert!(e.to_string().contains("cache"), "{e}"),
        other => panic!("expected a cache mismatch error, got {:?}", other.err()),
    }
    // A gradient holder of another operator, and tensors shortened through the public fields.
    let mut g3 = o3.zeros_like();
    assert!(o2.backward(&c2, &u, &mut g3).is_err());
    let mut bad = o2.clone();
    bad.filter_bias.pop();
    assert!(matches!(bad.forward(&u, b, l), Err(ModelError::TensorShape { .. })));
    assert!(bad.backward(&c2, &u, &mut g2).is_err());
    // The right pairing still works.
    assert!(o2.backward(&c2, &u, &mut g2).is_ok());
}

#[test]
fn zero_element_tensor_with_a_huge_dimension_is_a_shape_error() {
    // 26 TB of f64 was allocated from `[2^40, 0]` before the other shapes were checked.
    let dir = tmpdir("huge-dim");
    let mut f = op_file(2);
    set(&mut f, "filter_fn.implicit_filter.0.weight", vec![1 << 40, 0], vec![]);
    let p = dir.join("w.safetensors");
    f.save(&p, safetensors::Dtype::F32).unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() < 8192);
    let f = TensorFile::load(&p).unwrap();
    match HyenaOperator::<f32>::from_tensors(&f, "", &op_cfg(2)) {
        Err(e @ ModelError::TensorShape { .. }) => assert!(e.to_string().contains("implicit_filter.0.weight"), "{e}"),
        other => panic!("expected TensorShape, got {:?}", other.err()),
    }
    // The same with every FFN width tensor agreeing on 2^40 (all zero-element): the out layer
    // [C, 2^40] then has no data to back it.
    let mut f = op_file(2);
    set(&mut f, "filter_fn.implicit_filter.0.bias", vec![1 << 40, 0], vec![]);
    set(&mut f, "filter_fn.implicit_filter.1.freq", vec![1, 1 << 40, 0], vec![]);
    assert!(HyenaOperator::<f32>::from_tensors(&f, "", &op_cfg(2)).is_err());
}

#[test]
fn bad_first_layer_weight_is_blamed_on_itself() {
    let mut f = op_file(2);
    // F = 4, E = 3: `.0.weight` [5, 3] once set F = 5 and blamed `.0.bias`.
    set(&mut f, "filter_fn.implicit_filter.0.weight", vec![5, 3], vec![0.1; 15]);
    match HyenaOperator::<f64>::from_tensors(&f, "", &op_cfg(2)) {
        Err(ModelError::TensorShape { name, expected, .. }) => {
            assert_eq!(name, "filter_fn.implicit_filter.0.weight");
            assert_eq!(expected, vec![4, 3]);
        }
        other => panic!("expected TensorShape, got {:?}", other.err()),
    }
}

#[test]
fn wrongly_shaped_or_different_freq_alias_is_an_error() {
    // num_inner_mlps 1: `.3.freq` aliases `.1.freq` (shape [1, 4]).
    let mut f = op_file(2);
    assert!(f.tensors.contains_key("filter_fn.implicit_filter.3.freq"));
    set(&mut f, "filter_fn.implicit_filter.3.freq", vec![1, 3], vec![1.0; 3]);
    match HyenaOperator::<f64>::from_tensors(&f, "", &op_cfg(2)) {
        Err(e @ ModelError::TensorShape { .. }) => assert!(e.to_string().contains("implicit_filter.3.freq"), "{e}"),
        other => panic!("expected TensorShape, got {:?}", other.err()),
    }
    let mut f = op_file(2);
    set(&mut f, "filter_fn.implicit_filter.3.freq", vec![1, 4], vec![2.5; 4]);
    let e = HyenaOperator::<f64>::from_tensors(&f, "", &op_cfg(2)).err().unwrap().to_string();
    assert!(e.contains("implicit_filter.3.freq"), "{e}");
}

#[test]
fn config_sizes_contradicting_the_tensors_are_errors() {
    let f = op_file(2);
    let o = HyenaOperator::<f64>::from_tensors(&f, "", &op_cfg(2)).unwrap();
    let ok = serde_json::to_value(op_cfg(2)).unwrap();
    check_declared_sizes(&ok, &o.cfg.size_fields(), "cfg").unwrap();
    for (key, val) in [("order", 3u64), ("d_model", 4), ("filter_order", 8), ("l_max", 1024)] {
        let mut v = ok.clone();
        v[key] = val.into();
        match check_declared_sizes(&v, &o.cfg.size_fields(), "cfg") {
            Err(e @ ModelError::Config(_)) => assert!(e.to_string().contains(key), "{e}"),
            other => panic!("{key}: expected Config, got {other:?}"),
        }
    }
}

#[test]
fn values_finite_in_f64_but_not_in_f32_are_refused() {
    let mut f = op_file(2);
    if let TensorData::Float(v) = &mut f.tensors.get_mut("out_proj.bias").unwrap().data {
        v[1] = 1e308;
    }
    assert!(HyenaOperator::<f64>::from_tensors(&f, "", &op_cfg(2)).is_ok());
    match HyenaOperator::<f32>::from_tensors(&f, "", &op_cfg(2)) {
        Err(ModelError::NonFinite { name, index }) => assert_eq!((name.as_str(), index), ("out_proj.bias", 1)),
        other => panic!("expected NonFinite, got {:?}", other.err()),
    }
    let f = op_file(2);
    let cfg = OperatorConfig { shift: 1e308, ..op_cfg(2) };
    let e = HyenaOperator::<f32>::from_tensors(&f, "", &cfg).err().unwrap().to_string();
    assert!(e.contains("shift"), "{e}");
}

#[test]
fn duplicate_tensor_names_and_metadata_keys_are_errors() {
    // Hand-written headers: serde's maps would keep only the last of two equal keys.
    let file = |header: &str, data: usize| {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend(std::iter::repeat_n(0u8, data));
        b
    };
    let two = file(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 4);
    let e = TensorFile::from_bytes(&two, "dup.safetensors").err().unwrap().to_string();
    assert!(e.contains("duplicate tensor name `a`"), "{e}");
    let meta = file(r#"{"__metadata__":{"config":"{}","config":"{\"order\":3}"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 4);
    let e = TensorFile::from_bytes(&meta, "dupmeta.safetensors").err().unwrap().to_string();
    assert!(e.contains("duplicate metadata key `config`"), "{e}");
    let once = file(r#"{"__metadata__":{"config":"{}"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 4);
    assert!(TensorFile::from_bytes(&once, "ok.safetensors").is_ok());
}

fn tiny_lm_cfg() -> LmConfig {
    LmConfig { d_model: 4, n_layer: 1, d_inner: 8, vocab_size: 6, l_max: 8, filter_order: 4, emb_dim: 3, num_inner_mlps: 1, ..LmConfig::default() }
}

#[test]
fn huge_n_layer_is_an_error_not_an_abort() {
    let lm = HyenaLm::<f64>::init(&tiny_lm_cfg(), &mut TrainRng::seed(1)).unwrap();
    let mut f = TensorFile::default();
    lm.export(&mut f, "", false);
    let cfg = LmConfig { n_layer: 1_000_000_000_000, ..tiny_lm_cfg() };
    // Loading: the file holds one block; the config's count is not trusted for allocation.
    assert!(HyenaLm::<f64>::from_tensors(&f, "", &cfg).is_err());
    // Initialising: refused by size before allocating.
    assert!(matches!(HyenaLm::<f64>::init(&cfg, &mut TrainRng::seed(1)), Err(ModelError::TooLarge { .. })));
    for big in [LmConfig { d_model: 1 << 40, ..tiny_lm_cfg() }, LmConfig { vocab_size: usize::MAX, ..tiny_lm_cfg() }, LmConfig { l_max: 1 << 62, ..tiny_lm_cfg() }] {
        assert!(HyenaLm::<f64>::init(&big, &mut TrainRng::seed(1)).is_err());
    }
    // The same through a checkpoint's metadata (what `--resume` reads).
    let state = TrainState::new(lm, OptimConfig::default(), 3);
    let dir = tmpdir("nlayer");
    let p = dir.join("ck.safetensors");
    state.save(&p).unwrap();
    let mut f = TensorFile::load(&p).unwrap();
    let mut c: serde_json::Value = serde_json::from_str(&f.metadata["config"]).unwrap();
    c["n_layer"] = 1_000_000_000_000u64.into();
    f.metadata.insert("config".into(), c.to_string());
    f.save(&p, safetensors::Dtype::F64).unwrap();
    let e = TrainState::<f64>::load(&p).err().unwrap().to_string();
    assert!(e.contains("n_layer") || e.contains("layers.1."), "{e}");
}

fn saved_state(tag: &str) -> (TrainState<f32>, PathBuf) {
    let lm = HyenaLm::<f32>::init(&tiny_lm_cfg(), &mut TrainRng::seed(2)).unwrap();
    let state = TrainState::new(lm, OptimConfig::default(), 5);
    let p = tmpdir(tag).join("ck.safetensors");
    state.save(&p).unwrap();
    (state, p)
}

#[test]
fn one_flipped_bit_in_a_checkpoint_is_detected() {
    let (_, p) = saved_state("bitflip");
    let good = std::fs::read(&p).unwrap();
    assert!(TrainState::<f32>::load(&p).is_ok());
    let f = TensorFile::from_bytes(&good, "x").unwrap();
    assert!(f.has_checksums());
    // Flip one bit of the last byte of the data: it belongs to the tensor with the last offset.
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&good[8..8 + header_len]).unwrap();
    let last = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .max_by_key(|(_, v)| v["data_offsets"][1].as_u64().unwrap())
        .map(|(k, _)| k.clone())
        .unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x10;
    std::fs::write(&p, &bad).unwrap();
    match TrainState::<f32>::load(&p) {
        Err(ModelError::Checksum { name, .. }) => assert_eq!(name, last),
        other => panic!("expected Checksum, got {:?}", other.err()),
    }
    // A bit flipped in the metadata (the step) is caught too.
    let text = String::from_utf8_lossy(&good[8..8 + header_len]).to_string();
    let at = text.find("\"step\":\"0\"").unwrap() + 8;
    let mut bad = good.clone();
    bad[8 + at] = b'1';
    std::fs::write(&p, &bad).unwrap();
    assert!(matches!(TrainState::<f32>::load(&p), Err(ModelError::Checksum { .. })));
    // A checkpoint stripped of its checksums is refused.
    let mut f = TensorFile::from_bytes(&good, "x").unwrap();
    f.metadata.remove(CHECKSUMS_KEY);
    let stripped = TrainState::<f32>::from_tensor_file(&f, "stripped");
    assert!(stripped.err().unwrap().to_string().contains(CHECKSUMS_KEY));
}

#[test]
fn non_finite_state_never_replaces_the_last_good_checkpoint() {
    let (mut state, p) = saved_state("nonfinite");
    let good = std::fs::read(&p).unwrap();
    state.opt.step = 7;
    state.model.ln_f_bias[2] = f32::NAN;
    match state.save(&p) {
        Err(ModelError::CheckpointNotWritten { step, name, index, .. }) => {
            assert_eq!((step, name.as_str(), index), (7, "backbone.ln_f.bias", 2));
        }
        other => panic!("expected CheckpointNotWritten, got {other:?}"),
    }
    assert_eq!(std::fs::read(&p).unwrap(), good, "the previous checkpoint must stay");
    state.model.ln_f_bias[2] = 0.0;
    let moment = state.opt.exp_avg_sq.values_mut().next().unwrap();
    moment[0] = f32::INFINITY;
    let e = state.save(&p).err().unwrap().to_string();
    assert!(e.contains("optim.exp_avg_sq."), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), good);
}

#[test]
fn step_counts_that_would_wrap_are_errors() {
    let (state, p) = saved_state("step");
    // 4294967295 as i32 is −1: the next step's bias correction 1 − β⁰ divided by zero.
    let mut f = TensorFile::load(&p).unwrap();
    f.metadata.insert("step".into(), "4294967295".into());
    f.save(&p, safetensors::Dtype::F32).unwrap();
    let e = TrainState::<f32>::load(&p).err().unwrap().to_string();
    assert!(e.contains("step"), "{e}");
    // In memory, at the last representable step, the update is refused and nothing changes.
    let mut lm = state.model.clone();
    let mut opt = AdamW::new(OptimConfig::default(), &lm);
    opt.step = i32::MAX as u64;
    let grads = lm.zeros_like();
    let before = lm.ln_f_weight.clone();
    assert!(opt.step(&mut lm, &grads).is_err());
    assert_eq!(lm.ln_f_weight, before);
    assert_eq!(opt.step, i32::MAX as u64);
}

#[test]
fn bad_optimizer_settings_in_a_checkpoint_are_errors() {
    let (_, p) = saved_state("optim");
    let mut f = TensorFile::load(&p).unwrap();
    let mut o: serde_json::Value = serde_json::from_str(&f.metadata["optim"]).unwrap();
    o["beta1"] = 1.0.into();
    f.metadata.insert("optim".into(), o.to_string());
    f.save(&p, safetensors::Dtype::F32).unwrap();
    let e = TrainState::<f32>::load(&p).err().unwrap().to_string();
    assert!(e.contains("beta1"), "{e}");
}

#[test]
fn temporary_files_are_exclusive_and_stale_ones_are_cleaned() {
    let dir = tmpdir("temps");
    let p = dir.join("ck.safetensors");
    let victim = dir.join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    // Links planted at this process's first temporary names (`.ck.safetensors.tmp-{pid}-{n}`,
    // n counting from 0 at every write) must not redirect the write.
    let pid = std::process::id();
    for n in 0..3 {
        std::os::unix::fs::symlink(&victim, dir.join(format!(".ck.safetensors.tmp-{pid}-{n}"))).unwrap();
    }
    // A killed run's leftover (no process has a pid this large: Linux's pid_max ≤ 2^22), and
    // files that only look similar.
    let stale = dir.join(".ck.safetensors.tmp-4999999-0");
    std::fs::write(&stale, b"partial").unwrap();
    let unrelated = [dir.join(".ck.safetensors.tmp-4999999-x"), dir.join(".other.tmp-4999999-0"), dir.join("ck.safetensors.tmp-4999999-0")];
    for u in &unrelated {
        std::fs::write(u, b"not ours").unwrap();
    }
    let (state, _) = saved_state("temps-src");
    state.save(&p).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(!stale.exists(), "the stale temporary file must be removed");
    for u in &unrelated {
        assert!(u.exists(), "{} is not ours", u.display());
    }
    for n in 0..3 {
        let l = dir.join(format!(".ck.safetensors.tmp-{pid}-{n}"));
        assert!(l.symlink_metadata().unwrap().file_type().is_symlink(), "planted links are left alone");
    }
    assert!(TrainState::<f32>::load(&p).is_ok());
    // Loading cleans too.
    std::fs::write(&stale, b"partial").unwrap();
    TrainState::<f32>::load(&p).unwrap();
    assert!(!stale.exists());
    // The only other entries are the planted ones: our temporary file was renamed.
    let left: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert_eq!(left.len(), 1 + 1 + unrelated.len() + 3, "{left:?}");
}

/// The streaming reader (`TensorIndex`, used by `hyena run` for large inputs) makes the checks of
/// `TensorFile::from_bytes`: repeated keys, metadata and per-tensor CRC-32s.
#[test]
fn streaming_index_refuses_duplicates_and_detects_a_flipped_bit() {
    use hyena_model::tensors::{save_floats, TensorIndex};
    let dir = tmpdir("index");
    let raw = |name: &str, header: &str| {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend([0u8; 4]);
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let p = raw("dup.safetensors", r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#);
    let e = TensorIndex::open(&p).err().unwrap().to_string();
    assert!(e.contains("duplicate tensor name `a`"), "{e}");
    let p = raw("dupmeta.safetensors", r#"{"__metadata__":{"config":"{}","config":"{\"order\":3}"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#);
    let e = TensorIndex::open(&p).err().unwrap().to_string();
    assert!(e.contains("duplicate metadata key `config`"), "{e}");
    let p = raw("once.safetensors", r#"{"__metadata__":{"config":"{}"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#);
    assert_eq!(TensorIndex::open(&p).unwrap().read_float::<f32>("a", Some(&[1])).unwrap().1, vec![0.0]);

    // Written by the streaming writer (now with checksums) and by TensorFile::save: both read back
    // through the index; one flipped bit in a tensor's data is a Checksum error naming it.
    let a: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = vec![1.0, -2.0];
    let meta = std::collections::HashMap::from([("config".to_string(), "{}".to_string())]);
    let p = dir.join("stream.safetensors");
    save_floats(&p, &[("a", &[2, 3], &a), ("b", &[2], &b)], &meta, safetensors::Dtype::F32).unwrap();
    let idx = TensorIndex::open(&p).unwrap();
    assert!(idx.metadata.contains_key(CHECKSUMS_KEY));
    assert_eq!(idx.read_float::<f32>("a", Some(&[2, 3])).unwrap().1, a);
    assert!(TensorFile::load(&p).unwrap().has_checksums());
    let good = std::fs::read(&p).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 5] ^= 0x01; // inside `b` (the last 8 bytes), not `a`
    std::fs::write(&p, &bad).unwrap();
    let idx = TensorIndex::open(&p).unwrap();
    assert_eq!(idx.read_float::<f32>("a", None).unwrap().1, a);
    match idx.read_float::<f32>("b", None) {
        Err(ModelError::Checksum { name, .. }) => assert_eq!(name, "b"),
        other => panic!("expected Checksum for `b`, got {other:?}"),
    }
    // The metadata's CRC is checked at open: change one character of the config.
    let needle = br#""config":"{}""#;
    let at = good.windows(needle.len()).position(|w| w == needle).unwrap() + 10;
    let mut bad = good.clone();
    bad[at] = b'[';
    bad[at + 1] = b']';
    std::fs::write(&p, &bad).unwrap();
    assert!(matches!(TensorIndex::open(&p), Err(ModelError::Checksum { .. })));
    // A file from TensorFile::save, read through the index, with a bit flipped in its last tensor.
    let f = op_file(2);
    let p = dir.join("saved.safetensors");
    f.save(&p, safetensors::Dtype::F32).unwrap();
    let idx = TensorIndex::open(&p).unwrap();
    for name in idx.tensors.keys() {
        assert!(idx.read_float::<f64>(name, None).is_ok(), "{name}");
    }
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x80;
    std::fs::write(&p, &bytes).unwrap();
    let idx = TensorIndex::open(&p).unwrap();
    let failed: Vec<_> = idx.tensors.keys().filter(|k| matches!(idx.read_float::<f64>(k, None), Err(ModelError::Checksum { .. }))).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
}

#[test]
fn lm_and_layer_sizes_that_wrap_are_errors() {
    use hyena_model::layers::{cross_entropy, embedding_fwd, layernorm_fwd};
    // rows·d = 2⁶³·2 wraps to 0 = x.len(): must not pass the length check (nor overflow in debug).
    assert!(layernorm_fwd::<f64>(&[], &[1.0; 2], &[0.0; 2], 1 << 63, 2, 1e-5).is_err());
    assert!(embedding_fwd::<f64>(&[], &[], 1 << 63, 2).is_err());
    assert!(cross_entropy::<f64>(&[], &[], 1 << 63, 2).is_err());
    let lm = HyenaLm::<f64>::init(&tiny_lm_cfg(), &mut TrainRng::seed(3)).unwrap();
    assert!(lm.infer(&[], 1 << 63, 2).is_err());
    assert!(lm.forward(&[], 1 << 63, 2).is_err());
}
