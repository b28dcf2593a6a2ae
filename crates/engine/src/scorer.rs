//! The whole scoring pipeline for one file: decode → preprocess → infer → scores, with the
//! warnings a pathologist should see. Shared by `histoscore score` and the server.

use crate::{InferenceQueue, ModelRef, SubmitError};
use histoscore_domain::{Schema, Scores, SerialInfo, SerialParser};
use histoscore_imaging::decode::stain_check;
use histoscore_imaging::{decode_file, preprocess, DecodeOptions, DecodedImage, ImageError};
use serde::Serialize;
use std::path::Path;

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
}

/// A decoded, preprocessed image waiting for the network.
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
        Ok(self.prepare_decoded(img))
    }

    pub fn prepare_decoded(&self, img: DecodedImage) -> Prepared {
        let mut warnings = img.warnings.clone();
        if let Some(w) = stain_check(&img) {
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
                format: img.format,
                source_mode: img.source_mode,
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
