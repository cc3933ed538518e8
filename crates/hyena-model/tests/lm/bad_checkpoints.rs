//! Bad LM checkpoints give typed errors naming the tensor (or the file), never a panic.

use hyena_model::tensors::TensorData;
use hyena_model::{HyenaLm, LmConfig, ModelError, TensorFile};
use std::path::PathBuf;

fn golden_path() -> PathBuf {
    let dir = std::env::var("HYENA_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"));
    dir.join("hyenadna_lm_small.safetensors")
}

fn load(f: &TensorFile) -> Result<HyenaLm<f64>, ModelError> {
    let cfg = LmConfig::from_json(&f.config_json().unwrap().unwrap()).unwrap();
    HyenaLm::<f64>::from_tensors(f, "weights.", &cfg)
}

#[test]
fn missing_tensor_is_named() {
    let g = TensorFile::load(golden_path()).unwrap();
    for name in [
        "weights.backbone.layers.1.mlp.fc2.bias",
        "weights.backbone.layers.0.mixer.filter_fn.implicit_filter.4.weight",
        "weights.backbone.ln_f.weight",
        "weights.backbone.layers.1.norm2.bias",
    ] {
        let mut f = g.clone();
        f.tensors.remove(name).unwrap();
        match load(&f) {
            Err(e @ ModelError::MissingTensor(_)) => assert!(e.to_string().contains(name), "{e}"),
            other => panic!("{name}: expected MissingTensor, got {:?}", other.err()),
        }
    }
}

#[test]
fn wrong_shape_is_named() {
    let g = TensorFile::load(golden_path()).unwrap();
    for (name, shape) in [
        ("weights.backbone.layers.0.norm2.weight", vec![15usize]),
        ("weights.backbone.layers.1.mlp.fc2.weight", vec![64, 16]),
        ("weights.backbone.layers.1.mixer.out_proj.weight", vec![16, 15]),
    ] {
        let mut f = g.clone();
        let t = f.tensors.get_mut(name).unwrap();
        let n: usize = shape.iter().product();
        t.shape = shape;
        t.data = TensorData::Float(vec![0.1; n]);
        match load(&f) {
            Err(e @ ModelError::TensorShape { .. }) => assert!(e.to_string().contains(name), "{e}"),
            other => panic!("{name}: expected TensorShape, got {:?}", other.err()),
        }
    }
    // Non-finite weights are rejected too.
    let mut f = g.clone();
    let name = "weights.backbone.layers.0.mlp.fc1.bias";
    if let TensorData::Float(v) = &mut f.tensors.get_mut(name).unwrap().data {
        v[3] = f64::NAN;
    }
    let e = load(&f).err().unwrap().to_string();
    assert!(e.contains(name), "{e}");
    // Integer data where floats are expected.
    let mut f = g.clone();
    let t = f.tensors.get_mut(name).unwrap();
    t.data = TensorData::Int(vec![1; 64]);
    t.dtype = "I64".into();
    let e = load(&f).err().unwrap().to_string();
    assert!(e.contains(name), "{e}");
}

#[test]
fn truncated_file_is_a_format_error() {
    let bytes = std::fs::read(golden_path()).unwrap();
    for cut in [bytes.len() - 1, bytes.len() / 2, 12, 3] {
        match TensorFile::from_bytes(&bytes[..cut], "truncated.safetensors") {
            Err(e @ ModelError::Format { .. }) => assert!(e.to_string().contains("truncated.safetensors"), "{e}"),
            other => panic!("cut {cut}: expected Format, got {:?}", other.err()),
        }
    }
}

#[test]
fn unknown_dtype_is_named() {
    let data = vec![0u8; 2 * 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::U16, vec![16], &data).unwrap();
    let bytes = safetensors::serialize(vec![("weights.backbone.ln_f.bias".to_string(), view)], None).unwrap();
    match TensorFile::from_bytes(&bytes, "u16.safetensors") {
        Err(e @ ModelError::TensorDtype { .. }) => assert!(e.to_string().contains("weights.backbone.ln_f.bias"), "{e}"),
        other => panic!("expected TensorDtype, got {:?}", other.err()),
    }
}

#[test]
fn token_ids_out_of_range_are_errors() {
    let g = TensorFile::load(golden_path()).unwrap();
    let lm = load(&g).unwrap();
    assert!(lm.forward(&[0, 1, 12, 3], 1, 4).is_err());
    assert!(lm.forward(&[0, -1], 1, 2).is_err());
    assert!(lm.forward(&[0; 67], 1, 67).is_err(), "longer than l_max");
    assert!(lm.forward(&[0; 6], 2, 4).is_err(), "wrong element count");
}
