//! Parity with the original PyTorch stack: the fixtures in shared/fixtures/reference-model hold
//! the exact input tensors the original fed its model and the outputs it got.

use histoscore_domain::Schema;
use histoscore_engine::{EngineKind, Model, INPUT_LEN};
use std::collections::HashMap;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/reference-model")
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_f32_npy(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    npy.into_vec::<f32>().unwrap()
}

fn check_model(model: &Model) {
    check_model_on(model, EngineKind::Tract, 1);
    check_model_on(model, EngineKind::Tract, 3);
}

/// ONNX Runtime is optional at run time. CI provides it and sets HISTOSCORE_REQUIRE_ORT=1, so
/// there these tests fail instead of skipping when the library cannot be loaded.
fn ort_or_skip() -> bool {
    match histoscore_engine::ort_backend::ort_environment() {
        Ok(_) => true,
        Err(e) if std::env::var("HISTOSCORE_REQUIRE_ORT").as_deref() == Ok("1") => {
            panic!("ONNX Runtime required but not loadable: {e}")
        }
        Err(e) => {
            eprintln!("skipping the ONNX Runtime variant: {e}");
            false
        }
    }
}

#[test]
fn ort_matches_pytorch_for_pth_and_safetensors() {
    if !ort_or_skip() {
        return;
    }
    for f in ["model.pth", "model.safetensors"] {
        let model = Model::load(&fixtures().join(f)).unwrap();
        check_model_on(&model, EngineKind::Ort, 1);
        check_model_on(&model, EngineKind::Ort, 3);
    }
}

/// Runs all six reference tensors through `kind`, `batch` at a time.
fn check_model_on(model: &Model, kind: EngineKind, batch: usize) {
    let schema = Schema::default();
    let (queue, thread) = model.start(kind, 2, 8, batch).unwrap();
    assert_eq!(queue.backend(), kind, "the engine asked for runs");
    let exp = expected();
    let images = exp["images"].as_object().unwrap();
    assert_eq!(images.len(), 6);
    // Submit from several threads at once so the inference thread batches them.
    let raws: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = images
            .keys()
            .map(|name| {
                let q = queue.clone();
                let stem = name.trim_end_matches(".tif").to_string();
                s.spawn(move || {
                    let input = read_f32_npy(&fixtures().join(format!("tensors/{stem}.input.npy")));
                    assert_eq!(input.len(), INPUT_LEN);
                    q.submit(input).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    drop(queue);
    thread.join();
    for ((name, e), raw) in images.iter().zip(raws) {
        let want: Vec<f64> = e["raw_output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (got, want) in raw.iter().zip(&want) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-4,
                "{name}: raw {raw:?} vs {want:?}"
            );
        }
        let scores = schema.scores_from_raw(&raw);
        for (metric, v) in e["scores"].as_object().unwrap() {
            assert_eq!(
                scores[metric.as_str()],
                v.as_f64().unwrap(),
                "{name} {metric}"
            );
        }
        assert_eq!(
            schema.total(&scores),
            e["total"].as_f64().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn pth_matches_pytorch_from_input_tensors() {
    let model = Model::load(&fixtures().join("model.pth")).unwrap();
    assert!(!model.is_demo());
    assert_eq!(model.head(), 4);
    check_model(&model);
}

#[test]
fn safetensors_matches_pytorch_and_has_the_same_id() {
    let pth = Model::load(&fixtures().join("model.pth")).unwrap();
    let st = Model::load(&fixtures().join("model.safetensors")).unwrap();
    assert_eq!(pth.id(), st.id());
    check_model(&st);
}

/// Writes the reference weights back out with renamed / dropped tensors.
fn rewrite(edit: impl Fn(&mut HashMap<String, candle_core::Tensor>)) -> tempfile::TempPath {
    let mut map = candle_core::safetensors::load(
        fixtures().join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    edit(&mut map);
    let file = tempfile::Builder::new()
        .suffix(".safetensors")
        .tempfile()
        .unwrap()
        .into_temp_path();
    candle_core::safetensors::save(&map, &file).unwrap();
    file
}

#[test]
fn data_parallel_prefix_and_bookkeeping_tensors_are_accepted() {
    let reference = Model::load(&fixtures().join("model.safetensors")).unwrap();
    let prefixed = rewrite(|m| {
        let old = std::mem::take(m);
        for (k, v) in old {
            m.insert(format!("module.{k}"), v);
        }
    });
    assert_eq!(Model::load(&prefixed).unwrap().id(), reference.id());
    let without = rewrite(|m| m.retain(|k, _| !k.ends_with("num_batches_tracked")));
    assert_eq!(Model::load(&without).unwrap().id(), reference.id());
}

#[test]
fn wrong_tensors_are_refused_by_name() {
    let bad = rewrite(|m| {
        m.remove("layer3.1.bn2.running_var");
        let t = m.remove("fc.weight").unwrap();
        m.insert("fc.weight".into(), t.narrow(1, 0, 256).unwrap());
        m.insert(
            "classifier.weight".into(),
            candle_core::Tensor::zeros(2, candle_core::DType::F32, &candle_core::Device::Cpu)
                .unwrap(),
        );
    });
    let err = Model::load(&bad).unwrap_err().to_string();
    assert!(err.contains("missing layer3.1.bn2.running_var"), "{err}");
    assert!(err.contains("unexpected classifier.weight"), "{err}");
    assert!(
        err.contains("fc.weight is [4, 256], expected [4, 512]"),
        "{err}"
    );
}

#[test]
fn non_model_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.pth");
    std::fs::write(&p, b"hello").unwrap();
    let err = Model::load(&p).unwrap_err().to_string();
    assert!(err.contains("not a model file"), "{err}");
    let missing = Model::load(&dir.path().join("absent.pth"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("could not read"), "{missing}");
}

#[test]
fn demo_model_runs_and_is_labelled() {
    let m = Model::demo(4);
    assert!(m.is_demo());
    let (q, _t) = m.start_tract(2, 1).unwrap();
    let out = q.submit(vec![0.1; INPUT_LEN]).unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|v| v.is_finite()));
    // Deterministic: the same input gives the same output and the same id every time.
    assert_eq!(q.submit(vec![0.1; INPUT_LEN]).unwrap(), out);
    assert_eq!(Model::demo(4).id(), m.id());
}
