//! The original's preprocessing, checked against what Pillow + torchvision produced for the
//! reference images: the 512×512 intermediate byte for byte, the input tensor within 1e-6.

use histoscore_imaging::{decode_file, preprocess, DecodeOptions};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/reference-model")
}

fn npy<T: npyz::Deserialize>(path: PathBuf) -> (Vec<u64>, Vec<T>) {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = f.shape().to_vec();
    (shape, f.into_vec::<T>().unwrap())
}

const IMAGES: [&str; 6] = [
    "S-3602-10X_Image001_ch00",
    "S-3602-10X_Image002_ch00",
    "S-4500-10x_Image123_RAW_ch00",
    "cmu_portrait_deflate_tiled",
    "gray_800x600",
    "rgba_800x600",
];

#[test]
fn intermediate_and_tensor_match_pillow_and_torchvision() {
    for stem in IMAGES {
        let img = decode_file(
            &fixtures().join(format!("images/{stem}.tif")),
            &DecodeOptions::default(),
        )
        .unwrap();
        let p = preprocess(&img.rgb, img.width as usize, img.height as usize);

        let (shape, want512) = npy::<u8>(fixtures().join(format!("tensors/{stem}.pil512.npy")));
        assert_eq!(shape, [512, 512, 3]);
        let differing = p
            .resized
            .iter()
            .zip(&want512)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{stem}: {differing} bytes of the 512×512 image differ"
        );

        let (shape, want) = npy::<f32>(fixtures().join(format!("tensors/{stem}.input.npy")));
        assert_eq!(shape, [1, 3, 224, 224]);
        let worst = p
            .tensor
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{stem}: input tensor differs by {worst}");
    }
}
