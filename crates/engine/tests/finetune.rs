//! The training forward pass (candle) against PyTorch's own outputs, and what one fine-tuning
//! epoch changes and keeps.

use histoscore_engine::finetune::{self, TensorSample, DEFAULT_TRAINABLE};
use histoscore_engine::train::{split_by_group, HeadConfig};
use histoscore_engine::Model;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/reference-model")
}

fn read_f32_npy(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    npyz::NpyFile::new(&bytes[..])
        .unwrap()
        .into_vec::<f32>()
        .unwrap()
}

/// The candle network in evaluation mode gives PyTorch's raw outputs on the original's own
/// input tensors: training starts from exactly the model that scores.
#[test]
fn candle_forward_equals_pytorch() {
    let model = Model::load(&fixtures().join("model.pth")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let names = [
        "S-3602-10X_Image001_ch00",
        "S-3602-10X_Image002_ch00",
        "S-4500-10x_Image123_RAW_ch00",
    ];
    let inputs: Vec<Vec<f32>> = names
        .iter()
        .map(|n| read_f32_npy(&fixtures().join(format!("tensors/{n}.input.npy"))))
        .collect();
    let out = finetune::eval_outputs(model.weights(), &inputs).unwrap();
    for (n, got) in names.iter().zip(&out) {
        let want = &expected["images"][format!("{n}.tif")]["raw_output"];
        for (g, w) in got.iter().zip(want.as_array().unwrap()) {
            let w = w.as_f64().unwrap();
            assert!((f64::from(*g) - w).abs() < 1e-4, "{n}: {got:?} vs {want}");
        }
    }
}

/// The six fixture images' preprocessed tensors in three groups, with made-up targets, and a
/// split of them by group.
fn six_samples() -> (Vec<TensorSample>, histoscore_engine::train::Split) {
    let names = [
        "S-3602-10X_Image001_ch00",
        "S-3602-10X_Image002_ch00",
        "S-4500-10x_Image123_RAW_ch00",
        "gray_800x600",
        "rgba_800x600",
        "cmu_portrait_deflate_tiled",
    ];
    let samples: Vec<TensorSample> = names
        .iter()
        .enumerate()
        .map(|(i, n)| TensorSample {
            group: format!("g{}", i % 3),
            input: read_f32_npy(&fixtures().join(format!("tensors/{n}.input.npy"))),
            targets: vec![1.0, 1.0, 1.0, (i % 4) as f64],
        })
        .collect();
    let groups: Vec<String> = samples.iter().map(|s| s.group.clone()).collect();
    let split = split_by_group(&groups, 0.3, 5).unwrap();
    (samples, split)
}

/// One epoch: frozen layers keep their weights, trained ones change, and every BatchNorm's
/// running statistics move (PyTorch's `model.train()` updates them in frozen layers too).
#[test]
fn fine_tuning_trains_only_the_chosen_layers() {
    let model = Model::load(&fixtures().join("model.pth")).unwrap();
    let (samples, split) = six_samples();
    let cfg = HeadConfig {
        max_epochs: 1,
        batch_size: 4,
        ..HeadConfig::fine_tune()
    };
    let mut epochs = Vec::new();
    let (trained, best, history) = finetune::fine_tune(
        model.weights(),
        DEFAULT_TRAINABLE,
        &samples,
        &split,
        &[4.0, 3.0, 3.0, 4.0],
        &cfg,
        &AtomicBool::new(false),
        |r| epochs.push(r.clone()),
    )
    .unwrap();
    assert_eq!((best, history.len(), epochs.len()), (1, 1, 1));
    assert!(history[0].train_loss.is_finite() && history[0].val_loss.is_finite());
    let before = model.weights();
    let same = |n: &str| before.get(n).data == trained.get(n).data;
    for frozen in [
        "conv1.weight",
        "bn1.weight",
        "layer1.0.conv1.weight",
        "layer2.1.bn2.bias",
    ] {
        assert!(same(frozen), "{frozen} must stay frozen");
    }
    for trained_name in [
        "layer3.0.conv1.weight",
        "layer4.1.conv2.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(!same(trained_name), "{trained_name} must train");
    }
    assert!(
        !same("bn1.running_mean"),
        "running statistics update in train mode"
    );
    assert_eq!(trained.id().len(), 16);
}

/// The divergence a new user saw (a validation MAE of 239 on a 0–4 scale): fine-tuning
/// layer3, layer4 and the head at a learning rate of 1e-3 wrecks the evaluation-mode network
/// in one step (the validation loss jumps from about 0.09 to over 20). The MAE shown is of
/// clipped predictions (never above a metric's range), and at the fine-tuning rate the
/// validation loss stays near where it started.
#[test]
fn fine_tuning_rate_keeps_the_network_from_diverging() {
    let model = Model::load(&fixtures().join("model.pth")).unwrap();
    let (samples, split) = six_samples();
    let max = [4.0, 3.0, 3.0, 4.0];
    let run = |cfg: HeadConfig| {
        finetune::fine_tune(
            model.weights(),
            DEFAULT_TRAINABLE,
            &samples,
            &split,
            &max,
            &cfg,
            &AtomicBool::new(false),
            |_| {},
        )
        .map(|(_, _, history)| history)
    };
    let fast = run(HeadConfig {
        max_epochs: 1,
        batch_size: 4,
        learning_rate: 1e-3,
        ..HeadConfig::default()
    })
    .unwrap();
    assert!(fast[0].val_loss > 5.0, "1e-3 explodes: {fast:?}");
    assert!(
        fast[0].val_mae.iter().zip(max).all(|(m, top)| *m <= top),
        "MAE of clipped predictions: {fast:?}"
    );
    let slow = run(HeadConfig {
        max_epochs: 2,
        batch_size: 4,
        ..HeadConfig::fine_tune()
    })
    .unwrap();
    assert!(
        slow.iter().all(|e| e.val_loss < 1.0),
        "the fine-tuning rate does not diverge: {slow:?}"
    );
}
