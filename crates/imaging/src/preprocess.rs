//! The original system's preprocessing, step for step:
//! `resize((512, 512))` (Pillow bicubic) → torchvision `Resize(256)` (Pillow bilinear,
//! antialiased) → `CenterCrop(224)` → `ToTensor` (/255) → `Normalize` (ImageNet mean/std).

use crate::resample::{resize_rgb, Filter};

/// Side of the first, fixed-size resize.
pub const FIRST_SIZE: usize = 512;
/// Side after torchvision's `Resize(256)` on the square intermediate.
pub const SECOND_SIZE: usize = 256;
/// Side of the network input after `CenterCrop(224)`.
pub const INPUT_SIZE: usize = 224;

pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The input tensor and the 512×512 intermediate it was made from.
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// 512×512 interleaved RGB, as Pillow's `resize((512, 512))` gives it.
    pub resized: Vec<u8>,
    /// 3×224×224 f32, channel-major, normalised.
    pub tensor: Vec<f32>,
}

/// Runs the whole chain on an interleaved 8-bit RGB image.
pub fn preprocess(rgb: &[u8], width: usize, height: usize) -> Preprocessed {
    let resized = resize_rgb(rgb, width, height, FIRST_SIZE, FIRST_SIZE, Filter::Bicubic);
    let tensor = tensor_from_512(&resized);
    Preprocessed { resized, tensor }
}

/// From the 512×512 intermediate to the normalised 3×224×224 tensor.
pub fn tensor_from_512(resized: &[u8]) -> Vec<f32> {
    let small = resize_rgb(
        resized,
        FIRST_SIZE,
        FIRST_SIZE,
        SECOND_SIZE,
        SECOND_SIZE,
        Filter::Bilinear,
    );
    // torchvision: top = int(round((256 - 224) / 2.0)).
    let off = (SECOND_SIZE - INPUT_SIZE) / 2;
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut t = vec![0f32; 3 * plane];
    for y in 0..INPUT_SIZE {
        let row = &small[((y + off) * SECOND_SIZE + off) * 3..];
        for x in 0..INPUT_SIZE {
            for c in 0..3 {
                let v = f32::from(row[x * 3 + c]) / 255.0;
                t[c * plane + y * INPUT_SIZE + x] = (v - MEAN[c]) / STD[c];
            }
        }
    }
    t
}
