//! The whole scoring pipeline for one file: decode → preprocess → infer → scores, with the
//! warnings a pathologist should see. Shared by `histoscore score` and the server.

use crate::{InferenceQueue, ModelRef, SubmitError};
use histoscore_domain::{Schema, Scores, SerialInfo, SerialParser};
use histoscore_imaging::decode::stain_check;
use histoscore_imaging::{
    decode_file, preprocess, DecodeOptions, DecodedImage, ImageError, INPUT_SIZE,
};
use serde::Serialize;
use std::path::Path;

/// The 3×`side`×`side` channel-major tensor flipped horizontally, flipped vertically and
/// rotated by 180°.
pub fn orientations(t: &[f32], side: usize) -> [Vec<f32>; 3] {
    let plane = side * side;
    let mut h = vec![0.0; t.len()];
    let mut v = vec![0.0; t.len()];
    let mut r = vec![0.0; t.len()];
    for c in 0..t.len() / plane {
        let base = c * plane;
        for y in 0..side {
            for x in 0..side {
                let src = t[base + y * side + x];
                h[base + y * side + (side - 1 - x)] = src;
                v[base + (side - 1 - y) * side + x] = src;
                r[base + (side - 1 - y) * side + (side - 1 - x)] = src;
            }
        }
    }
    [h, v, r]
}

/// Everything known about a scored image.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredImage {
    pub serial: String,
    pub group: String,
    pub image_number: Option<String>,
    pub page: u32,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub source_mode: String,
    pub raw_output: Vec<f32>,
    pub scores: Scores,
    pub total: f64,
    pub model: ModelRef,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Engine(#[from] SubmitError),
    #[error(transparent)]
    Slide(#[from] histoscore_imaging::slide::SlideError),
}

/// A decoded, preprocessed image waiting for the network.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub image_meta: DecodedMeta,
    pub tensor: Vec<f32>,
}

/// What is kept of the decoded image once its pixels are no longer needed.
#[derive(Debug, Clone)]
pub struct DecodedMeta {
    pub width: u32,
    pub height: u32,
    pub page: u32,
    pub format: String,
    pub source_mode: String,
    pub warnings: Vec<String>,
}

/// The scoring configuration: schema, filename rules, limits and the model's expectations.
#[derive(Debug, Clone)]
pub struct Scorer {
    pub schema: Schema,
    pub serials: SerialParser,
    pub decode: DecodeOptions,
    pub model: ModelRef,
}

impl Scorer {
    /// Decodes and preprocesses; the CPU-heavy half that can run ahead of the network.
    pub fn prepare_file(&self, path: &Path) -> Result<Prepared, ImageError> {
        let img = decode_file(path, &self.decode)?;
        Ok(self.prepare_decoded(&img))
    }

    /// Preprocesses decoded pixels (the warnings a pathologist should see included).
    pub fn prepare_decoded(&self, img: &DecodedImage) -> Prepared {
        let mut warnings = img.warnings.clone();
        if let Some(w) = stain_check(img) {
            warnings.push(w);
        }
        if let (Some(expected), Some((x, _))) = (self.schema.pixel_size_um, img.pixel_size_um) {
            let ratio = x / expected;
            if !(0.8..=1.25).contains(&ratio) {
                warnings.push(format!(
                    "pixel size {x:.3} µm differs from the {expected:.3} µm the model expects \
                     (another magnification?); scores may not be comparable"
                ));
            }
        }
        let p = preprocess(&img.rgb, img.width as usize, img.height as usize);
        Prepared {
            image_meta: DecodedMeta {
                width: img.width,
                height: img.height,
                page: img.page,
                format: img.format.clone(),
                source_mode: img.source_mode.clone(),
                warnings,
            },
            tensor: p.tensor,
        }
    }

    /// Runs the network on a prepared image and turns its output into scores.
    pub fn finish(
        &self,
        filename: &str,
        prepared: Prepared,
        queue: &InferenceQueue,
    ) -> Result<ScoredImage, SubmitError> {
        let raw = queue.submit(prepared.tensor)?;
        Ok(self.from_raw(filename, prepared.image_meta, raw))
    }

    /// Like [`Scorer::finish`], plus the uncertainty of each metric: the standard deviation
    /// (in score units) of the scores of the image as it is, flipped horizontally, flipped
    /// vertically and rotated by 180° — orientations that do not change the tissue's grade.
    /// The scores themselves are those of the unaugmented image.
    pub fn finish_with_uncertainty(
        &self,
        filename: &str,
        prepared: Prepared,
        queue: &InferenceQueue,
    ) -> Result<(ScoredImage, Vec<f64>), SubmitError> {
        let [h, v, r] = orientations(&prepared.tensor, INPUT_SIZE);
        // One batch of four: one forward pass instead of four.
        let outputs = queue.submit_batch(&[prepared.tensor, h, v, r])?;
        let spread = self.uncertainty(&outputs);
        let raw = outputs.into_iter().next().unwrap_or_default();
        Ok((self.from_raw(filename, prepared.image_meta, raw), spread))
    }

    /// Per metric: the sample standard deviation of the scores (raw output × max) over the
    /// given outputs.
    pub fn uncertainty(&self, outputs: &[Vec<f32>]) -> Vec<f64> {
        let n = outputs.len() as f64;
        self.schema
            .metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let xs: Vec<f64> = outputs
                    .iter()
                    .map(|o| f64::from(o.get(i).copied().unwrap_or(f32::NAN)) * m.max)
                    .collect();
                if n < 2.0 || xs.iter().any(|x| !x.is_finite()) {
                    return 0.0;
                }
                let mean = xs.iter().sum::<f64>() / n;
                (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            })
            .collect()
    }

    pub fn from_raw(&self, filename: &str, meta: DecodedMeta, raw: Vec<f32>) -> ScoredImage {
        let SerialInfo {
            serial,
            group,
            image_number,
        } = self.serials.parse(filename);
        let scores = self.schema.scores_from_raw(&raw);
        let total = self.schema.total(&scores);
        ScoredImage {
            serial,
            group,
            image_number,
            page: meta.page,
            width: meta.width,
            height: meta.height,
            format: meta.format,
            source_mode: meta.source_mode,
            raw_output: raw,
            scores,
            total,
            model: self.model.clone(),
            warnings: meta.warnings,
        }
    }

    /// The whole pipeline for one file.
    pub fn score_file(
        &self,
        path: &Path,
        queue: &InferenceQueue,
    ) -> Result<ScoredImage, ScoreError> {
        let prepared = self.prepare_file(path)?;
        let filename = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(self.finish(&filename, prepared, queue)?)
    }
}

#[cfg(test)]
mod tests {
    use super::orientations;

    #[test]
    fn orientations_move_pixels_where_expected() {
        // One channel, 2×2: [a b; c d].
        let t = [1.0, 2.0, 3.0, 4.0];
        let [h, v, r] = orientations(&t, 2);
        assert_eq!(h, [2.0, 1.0, 4.0, 3.0]);
        assert_eq!(v, [3.0, 4.0, 1.0, 2.0]);
        assert_eq!(r, [4.0, 3.0, 2.0, 1.0]);
    }
}
