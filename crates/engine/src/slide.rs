//! Scoring a whole-slide image field by field: tissue on the overview, a grid of fields of the
//! model's physical size, each field read from the level nearest the model's input size and
//! put through exactly the preprocessing of an image, the fields batched through the
//! inference queue, and the slide's draft from the fields (see `domain::slide`).

use crate::{InferenceQueue, Scorer, SubmitError};
use histoscore_domain::slide::{summarise, SlideSummary};
use histoscore_domain::Scores;
use histoscore_imaging::preprocess;
use histoscore_imaging::slide::tissue::{detect_tissue, plan_fields, read_level, FieldOptions};
use histoscore_imaging::slide::{PlannedField, Slide, SlideError, SlideMeta, TissueMask};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Longest side of the overview tissue is detected on.
pub const OVERVIEW_SIDE: u64 = 1024;

/// One field's result.
#[derive(Debug, Clone, Serialize)]
pub struct FieldScore {
    #[serde(flatten)]
    pub field: PlannedField,
    /// The level it was read from.
    pub level: usize,
    /// Network outputs, one per metric; `None` when the field could not be read.
    pub raw: Option<Vec<f32>>,
    pub scores: Option<Scores>,
    /// Why the field could not be scored ("unreadable: …").
    pub error: Option<String>,
}

/// The fields a slide will be scored on.
#[derive(Debug, Clone)]
pub struct SlidePlan {
    pub mask: TissueMask,
    pub fields: Vec<PlannedField>,
    pub warnings: Vec<String>,
}

/// Finds the tissue and lays the fields.
pub fn plan(slide: &Slide, opts: &FieldOptions) -> Result<SlidePlan, SlideError> {
    let overview = slide.overview(OVERVIEW_SIDE)?;
    let mask = detect_tissue(&overview);
    let fields = plan_fields(&slide.meta, &mask, opts);
    let mut warnings = slide.meta.warnings.clone();
    if mask.fluorescence {
        warnings.push(
            "a dark (fluorescence) slide: the model was made for brightfield H&E, so its \
             scores here are not meaningful"
                .to_string(),
        );
    }
    if let [only] = fields.as_slice() {
        if only.tissue_share < opts.min_tissue {
            warnings.push(format!(
                "the slide is smaller than one field and only {:.0} % of it is tissue: its \
                 scores rest on little tissue",
                only.tissue_share * 100.0
            ));
        }
    }
    if fields.is_empty() {
        warnings.push(format!(
            "no field has {:.0} % tissue or more: nothing to score",
            opts.min_tissue * 100.0
        ));
    }
    Ok(SlidePlan {
        mask,
        fields,
        warnings,
    })
}

/// Reads a field at its level, as RGB (width, height, pixels); outside the slide is white.
pub fn read_field(
    slide: &Slide,
    f: &PlannedField,
) -> Result<(usize, u64, u64, Vec<u8>), SlideError> {
    let (level, w, h) = read_level(&slide.meta, f.width, f.height);
    let rgb = slide.read_rgb(level, f.x, f.y, w, h)?;
    Ok((level, w, h, rgb))
}

/// The slide's draft from scored fields (weights: tissue share).
pub fn summary(scorer: &Scorer, fields: &[FieldScore]) -> Option<SlideSummary> {
    let pairs: Vec<(f64, &[f32])> = fields
        .iter()
        .filter_map(|f| f.raw.as_deref().map(|r| (f.field.tissue_share, r)))
        .collect();
    summarise(&scorer.schema, &pairs)
}

/// What the caller of [`score_fields`] decides and hears while a slide is scored.
pub struct FieldHooks<'a> {
    /// Fields not to score (a resumed job's recorded fields), by index.
    pub skip: &'a (dyn Fn(usize) -> bool + Sync),
    /// Raised: stop at the next field.
    pub cancel: &'a AtomicBool,
    /// Called as each field finishes, with its index.
    pub done: &'a (dyn Fn(usize, &FieldScore) + Sync),
}

/// Scores `fields` of `slide` with `readers` threads reading and preprocessing while the
/// network runs (the queue batches what is waiting). A field that cannot be read is marked
/// unreadable; an engine failure stops everything.
pub fn score_fields(
    scorer: &Scorer,
    slide: &Slide,
    fields: &[PlannedField],
    queue: &InferenceQueue,
    readers: usize,
    hooks: &FieldHooks<'_>,
) -> Result<(), SubmitError> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<SubmitError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..readers.clamp(1, fields.len().max(1)) {
            s.spawn(|| loop {
                if hooks.cancel.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = fields.get(i) else { break };
                if (hooks.skip)(i) {
                    continue;
                }
                let result = match read_field(slide, f) {
                    Ok((level, w, h, rgb)) => {
                        let p = preprocess(&rgb, w as usize, h as usize);
                        drop(rgb);
                        match queue.submit(p.tensor) {
                            Ok(raw) => FieldScore {
                                field: f.clone(),
                                level,
                                scores: Some(scorer.schema.scores_from_raw(&raw)),
                                raw: Some(raw),
                                error: None,
                            },
                            Err(e) => {
                                hooks.cancel.store(true, Ordering::Relaxed);
                                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                                break;
                            }
                        }
                    }
                    Err(e) => FieldScore {
                        field: f.clone(),
                        level: 0,
                        raw: None,
                        scores: None,
                        error: Some(format!("unreadable: {e}")),
                    },
                };
                (hooks.done)(i, &result);
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What the command line and the bench report for a slide.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredSlide {
    pub meta: SlideMeta,
    pub fields: Vec<FieldScore>,
    pub summary: Option<SlideSummary>,
    pub warnings: Vec<String>,
}

/// The whole pipeline for one slide, in this thread's caller (the command line).
pub fn score_slide(
    scorer: &Scorer,
    slide: &Slide,
    opts: &FieldOptions,
    queue: &InferenceQueue,
    readers: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ScoredSlide, crate::ScoreError> {
    let plan = plan(slide, opts)?;
    let n = plan.fields.len();
    let slots: Vec<Mutex<Option<FieldScore>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let count = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    score_fields(
        scorer,
        slide,
        &plan.fields,
        queue,
        readers,
        &FieldHooks {
            skip: &|_| false,
            cancel: &cancel,
            done: &|i, r| {
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r.clone());
                progress(count.fetch_add(1, Ordering::Relaxed) + 1, n);
            },
        },
    )?;
    let fields: Vec<FieldScore> = slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect();
    let mut warnings = plan.warnings;
    let unreadable = fields.iter().filter(|f| f.raw.is_none()).count();
    if unreadable > 0 {
        warnings.push(format!(
            "{unreadable} of {n} fields could not be read (a corrupt part of the file) and \
             were left out"
        ));
    }
    Ok(ScoredSlide {
        meta: slide.meta.clone(),
        summary: summary(scorer, &fields),
        fields,
        warnings,
    })
}
