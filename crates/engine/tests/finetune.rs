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

/// One epoch: frozen layers keep their weights and their BatchNorm statistics; trained ones
/// change, their BatchNorm statistics included.
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
        same("bn1.running_mean") && same("layer2.1.bn2.running_var"),
        "frozen layers keep their statistics"
    );
    assert!(
        !same("layer3.0.bn1.running_mean") && !same("layer4.1.bn2.running_var"),
        "running statistics of trained layers update in train mode"
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

/// PyTorch is the reference for the fine-tune's numbers: five Adam steps of the recipe
/// (layer3, layer4 and the head trainable, BatchNorm in training mode there and in evaluation
/// mode in the frozen layers, MSE on targets ÷ max, lr 1e-4) on one fixed batch of eight, from the shared reference weights,
/// give the losses and final outputs PyTorch gave (`data/finetune_losses.json`, made by
/// `scripts/make-finetune-fixture.py`).
#[test]
fn fine_tune_steps_match_pytorch() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/finetune_losses.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let model = Model::load(&fixtures().join("model.safetensors")).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let side = 224;
    let mut inputs: Vec<Vec<f32>> = strings(&fixture["images"])
        .iter()
        .map(|n| read_f32_npy(&fixtures().join(format!("tensors/{n}.input.npy"))))
        .collect();
    // Then the first ones flipped left to right.
    for i in 0..strings(&fixture["flipped"]).len() {
        let t = &inputs[i];
        let mut f = t.clone();
        for c in 0..3 {
            for y in 0..side {
                for x in 0..side {
                    f[(c * side + y) * side + x] = t[(c * side + y) * side + side - 1 - x];
                }
            }
        }
        inputs.push(f);
    }
    let batch: Vec<TensorSample> = inputs
        .into_iter()
        .zip(fixture["targets"].as_array().unwrap())
        .map(|(input, t)| TensorSample {
            group: String::new(),
            input,
            targets: floats(t),
        })
        .collect();
    let trainable: Vec<String> = strings(&fixture["trainable"]);
    let trainable: Vec<&str> = trainable.iter().map(String::as_str).collect();
    let want = floats(&fixture["losses"]);
    let (losses, after) = finetune::steps_on_batch(
        model.weights(),
        &trainable,
        &batch,
        &floats(&fixture["max"]),
        fixture["lr"].as_f64().unwrap(),
        want.len(),
    )
    .unwrap();
    for (step, (g, w)) in losses.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * w.abs().max(1e-3),
            "step {step}: loss {g} where PyTorch has {w} (all: {losses:?} vs {want:?})"
        );
    }
    // The outputs afterwards agree less closely than the losses: Adam divides each gradient
    // by its own running size, so a weight whose gradient is next to nothing still moves by
    // up to the learning rate, in a direction float rounding decides.
    let mut worst = 0f64;
    for (got, w) in after
        .iter()
        .zip(fixture["eval_outputs_after"].as_array().unwrap())
    {
        for (g, w) in got.iter().zip(floats(w)) {
            worst = worst.max((f64::from(*g) - w).abs());
        }
    }
    assert!(
        worst < 5e-3,
        "outputs after the steps differ by up to {worst}: {after:?}"
    );
}
