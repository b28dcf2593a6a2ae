//! Training learns from real H&E pixels: crops of the shared corpus's real images and the
//! fixture images, with targets from their own content (colour deconvolution), one sample
//! group per source image. On held-out groups, head-only training and the full fine-tune
//! (layer3, layer4, head) both beat predicting the training mean, and the full fine-tune is
//! no worse than head-only. The reference model's weights are random, so these are the
//! training's own gains. Deterministic for the seed. A longer run: `histoscore bench-train
//! --learning`.

use std::path::PathBuf;

use histoscore_engine::learning::{demonstrate, LearningConfig};
use histoscore_engine::{EngineKind, Model};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub fn sources() -> Vec<PathBuf> {
    let real = shared().join("corpus/real");
    let images = shared().join("fixtures/reference-model/images");
    vec![
        real.join("histolab__high-nuclei-score-level0.png"),
        real.join("histolab__tcga-lung-rgb.png"),
        real.join("histolab__tissue-level0-4302-10273-4814-10785.png"),
        real.join("histolab__kidney-48-5.tif"),
        images.join("S-3602-10X_Image001_ch00.tif"),
        images.join("S-3602-10X_Image002_ch00.tif"),
        images.join("S-4500-10x_Image123_RAW_ch00.tif"),
        images.join("cmu_portrait_deflate_tiled.tif"),
    ]
}

#[test]
fn training_on_real_pixels_beats_the_training_mean() {
    let model = Model::load(&shared().join("fixtures/reference-model/model.pth")).unwrap();
    let cfg = LearningConfig {
        sources: sources(),
        crops_per_image: 6,
        val_fraction: 0.25,
        seed: 7,
        head_epochs: 300,
        full_epochs: 6,
        engine: (EngineKind::Tract, 2),
    };
    let max = [4.0, 3.0, 3.0, 4.0];
    let r = demonstrate(&model, &cfg, &max).unwrap();
    eprintln!("{r:?}");
    assert!(r.val_images >= 6 && r.train_images >= 24, "{r:?}");
    assert!(
        r.head_mae < r.baseline_mae,
        "head-only does not beat the mean: {r:?}"
    );
    assert!(
        r.full_mae < r.baseline_mae,
        "the fine-tune does not beat the mean: {r:?}"
    );
    assert!(
        r.full_mae <= r.head_mae,
        "the fine-tune is worse than head-only: {r:?}"
    );
}
