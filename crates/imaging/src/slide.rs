//! Whole-slide images through OpenSlide: which path a file takes, the slide's metadata
//! (levels, microns per pixel, objective, vendor), and bounded reads of regions composited
//! over white. Label and macro images are never read.
//!
//! Memory stays bounded: nothing decodes a whole level 0; every read is a region of at most
//! [`MAX_READ_PIXELS`] pixels, done in strips.

mod ffi;
pub mod heatmap;
pub mod tissue;

use crate::decode::{DecodeOptions, ImageError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

pub use ffi::INSTALL_HINT;
pub use tissue::{FieldOptions, PlannedField, TissueMask};

/// Largest region one read returns (width × height), about 64 MB of RGB.
pub const MAX_READ_PIXELS: u64 = 1 << 24;
/// Pixels read from OpenSlide per call (its buffer is 4 bytes per pixel).
const STRIP_PIXELS: u64 = 1 << 21;
/// A generic TIFF above the image path's pixel limit is a slide only when it has a level this
/// small (per side) for tissue detection.
pub const MAX_DETECTION_SIDE: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SlideError {
    #[error(
        "whole-slide image ({what}): reading slides needs OpenSlide, which is not available: {why}"
    )]
    NoOpenSlide { what: String, why: String },
    #[error("the slide cannot be opened: {0}; the file is probably truncated or corrupt, copy or export it again")]
    Unopenable(String),
    #[error("{0}")]
    NotPyramid(String),
    #[error("part of the slide could not be read ({0})")]
    Unreadable(String),
    #[error("the region asked for is too large ({0} pixels; at most {MAX_READ_PIXELS} per read): read it from a lower-resolution level")]
    RegionTooLarge(u64),
    #[error("no level {0} in this slide")]
    NoLevel(usize),
}

/// One level of the slide's pyramid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub width: u64,
    pub height: u64,
    /// Level-0 pixels per pixel of this level.
    pub downsample: f64,
}

/// What is known about a slide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlideMeta {
    /// OpenSlide's vendor name: "aperio", "hamamatsu", "mirax", "leica", "philips",
    /// "ventana", "generic-tiff", …
    pub vendor: String,
    pub levels: Vec<Level>,
    /// Microns per pixel at level 0 (x, y), when the file gives a plausible one.
    pub mpp_x: Option<f64>,
    pub mpp_y: Option<f64>,
    /// The scanner objective's magnification (e.g. 20, 40), when the file says it.
    pub objective_power: Option<f64>,
    /// Things a person should know that did not stop reading (no resolution, fluorescence…).
    pub warnings: Vec<String>,
}

impl SlideMeta {
    pub fn width(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.width)
    }
    pub fn height(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.height)
    }
    /// The coarsest level whose downsample is at most `downsample`.
    pub fn level_for_downsample(&self, downsample: f64) -> usize {
        let mut best = 0;
        for (i, l) in self.levels.iter().enumerate() {
            if l.downsample <= downsample * 1.0001 && l.downsample >= self.levels[best].downsample {
                best = i;
            }
        }
        best
    }
}

/// Which path a file takes.
#[derive(Debug, Clone, PartialEq)]
pub enum FileKind {
    /// An ordinary microscope image: today's decoder and numbers.
    Image,
    /// A whole-slide image, read through OpenSlide.
    Slide { vendor: String },
}

/// Decides whether a file is a slide: a file OpenSlide recognises as a vendor format (not
/// `generic-tiff`), or a generic tiled TIFF above the image path's pixel limit that has a
/// pyramid level of at most 4096 × 4096 px. Everything else is an image (and a single-level
/// file above the limit is refused by the decoder, with a message to save it as a pyramid).
///
/// Without OpenSlide every file is an image, and the decoder's whole-slide refusal is turned
/// into [`SlideError::NoOpenSlide`] by [`slide_refusal`].
pub fn classify(path: &Path, opts: &DecodeOptions) -> FileKind {
    let Ok(api) = ffi::api() else {
        return FileKind::Image;
    };
    match api.detect_vendor(path) {
        Some(v) if v != "generic-tiff" => FileKind::Slide { vendor: v },
        Some(v) => {
            let Ok(Some(h)) = ffi::Handle::open(api, path) else {
                return FileKind::Image;
            };
            let (w, hgt) = h.level_dimensions(0);
            let pixels = (w.max(0) as u64).saturating_mul(hgt.max(0) as u64);
            let n = h.level_count();
            let (sw, sh) = h.level_dimensions(n - 1);
            if n > 1
                && pixels > opts.max_field_pixels
                && (sw as u64) <= MAX_DETECTION_SIDE
                && (sh as u64) <= MAX_DETECTION_SIDE
            {
                FileKind::Slide { vendor: v }
            } else {
                FileKind::Image
            }
        }
        None => FileKind::Image,
    }
}

/// Whether OpenSlide can be used here, and if not, why (for logs and the health page).
pub fn openslide_status() -> Result<String, String> {
    ffi::api().map(|a| a.path.clone())
}

/// What to answer when the image decoder refused a file as a whole-slide image: with OpenSlide
/// missing, the message names the package; with OpenSlide present the file was not a slide it
/// can read (e.g. a single-level image above the limit), so the decoder's refusal stands with
/// what to do.
pub fn slide_refusal(e: ImageError) -> ImageError {
    match (e, ffi::api()) {
        (ImageError::WholeSlide(what), Err(why)) => {
            ImageError::Unsupported(SlideError::NoOpenSlide { what, why }.to_string())
        }
        // Too many pixels for an image, and no pyramid OpenSlide could use.
        (ImageError::WholeSlide(what), Ok(_)) if what.starts_with("level 0 is") => {
            ImageError::Unsupported(format!(
                "whole-slide image ({what}) without a pyramid: save it as a tiled pyramid \
                 (e.g. `vips tiffsave in.tif out.tif --tile --pyramid --compression jpeg`) \
                 and upload that"
            ))
        }
        // A scanner's slide that OpenSlide could not recognise.
        (ImageError::WholeSlide(what), Ok(_)) => ImageError::Truncated(format!(
            "a whole-slide image ({what}) that OpenSlide cannot read"
        )),
        (e, _) => e,
    }
}

/// An open slide. Reads may run from several threads at once; after an error (OpenSlide's
/// errors are sticky per handle) the handle is reopened.
pub struct Slide {
    path: PathBuf,
    handle: RwLock<ffi::Handle>,
    pub meta: SlideMeta,
}

impl std::fmt::Debug for Slide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slide")
            .field("path", &self.path)
            .field("meta", &self.meta)
            .finish()
    }
}

/// Microns per pixel from a resolution and its unit, or `None` when implausible (the 72 dpi
/// default and friends, or no unit).
fn mpp_from_resolution(res: f64, unit: &str) -> Option<f64> {
    let per_um = match unit {
        "centimeter" | "3" => res / 10_000.0,
        "inch" | "2" => res / 25_400.0,
        _ => return None,
    };
    plausible_mpp(1.0 / per_um)
}

/// Microscopes image between about 0.05 µm/px (100× oil) and 50 µm/px (a 0.2× macro scan).
fn plausible_mpp(v: f64) -> Option<f64> {
    (v.is_finite() && (0.05..=50.0).contains(&v)).then_some(v)
}

impl Slide {
    /// Opens a slide; errors name the file's problem (not a slide, corrupt, no OpenSlide).
    pub fn open(path: &Path) -> Result<Slide, SlideError> {
        let api = ffi::api().map_err(|why| SlideError::NoOpenSlide {
            what: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            why,
        })?;
        let h = ffi::Handle::open(api, path)
            .map_err(SlideError::Unopenable)?
            .ok_or_else(|| {
                SlideError::Unopenable("OpenSlide does not recognise it as a slide".into())
            })?;
        let n = h.level_count();
        if n < 1 {
            return Err(SlideError::Unopenable(
                h.error()
                    .unwrap_or_else(|| "the slide has no levels".into()),
            ));
        }
        let mut levels = Vec::with_capacity(n as usize);
        for i in 0..n {
            let (w, hh) = h.level_dimensions(i);
            if w <= 0 || hh <= 0 {
                return Err(SlideError::Unopenable(format!("level {i} has no size")));
            }
            levels.push(Level {
                width: w as u64,
                height: hh as u64,
                downsample: h.level_downsample(i),
            });
        }
        let vendor = h
            .property("openslide.vendor")
            .or_else(|| api.detect_vendor(path))
            .unwrap_or_else(|| "unknown".into());
        let num = |k: &str| h.property(k).and_then(|v| v.trim().parse::<f64>().ok());
        let mut mpp_x = num("openslide.mpp-x").and_then(plausible_mpp);
        let mut mpp_y = num("openslide.mpp-y").and_then(plausible_mpp);
        if mpp_x.is_none() {
            // Generic TIFF: OpenSlide gives the resolution tags but no mpp.
            let unit = h.property("tiff.ResolutionUnit").unwrap_or_default();
            mpp_x = num("tiff.XResolution").and_then(|r| mpp_from_resolution(r, &unit));
            mpp_y = num("tiff.YResolution").and_then(|r| mpp_from_resolution(r, &unit));
        }
        if mpp_y.is_none() {
            mpp_y = mpp_x;
        }
        let objective_power = num("openslide.objective-power").filter(|v| *v > 0.0);
        let mut warnings = Vec::new();
        if mpp_x.is_none() {
            warnings.push(
                "the slide gives no usable resolution (microns per pixel): fields are sized \
                 in level-0 pixels (the original's 4080 × 2776 px) and no scale bar is shown"
                    .to_string(),
            );
        }
        Ok(Slide {
            path: path.to_path_buf(),
            handle: RwLock::new(h),
            meta: SlideMeta {
                vendor,
                levels,
                mpp_x,
                mpp_y,
                objective_power,
                warnings,
            },
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// RGB pixels (composited over white) of a `w` × `h` region of `level`, whose top left is
    /// (`x`, `y`) in level-0 coordinates. Parts outside the slide come back white.
    pub fn read_rgb(
        &self,
        level: usize,
        x: i64,
        y: i64,
        w: u64,
        h: u64,
    ) -> Result<Vec<u8>, SlideError> {
        let lv = self
            .meta
            .levels
            .get(level)
            .ok_or(SlideError::NoLevel(level))?;
        let total = w.saturating_mul(h);
        if total > MAX_READ_PIXELS {
            return Err(SlideError::RegionTooLarge(total));
        }
        let mut out = Vec::with_capacity(total as usize * 3);
        if w == 0 || h == 0 {
            return Ok(out);
        }
        let rows_per_strip = (STRIP_PIXELS / w).clamp(1, h);
        let mut buf = vec![0u32; (rows_per_strip * w) as usize];
        let mut row = 0;
        while row < h {
            let n = rows_per_strip.min(h - row);
            let y0 = y + ((row as f64) * lv.downsample).round() as i64;
            let px = &mut buf[..(n * w) as usize];
            let read = {
                let handle = self.handle.read().unwrap_or_else(|e| e.into_inner());
                handle.read_region(px, x, y0, level as i32, w as i64, n as i64)
            };
            if let Err(e) = read {
                self.reopen();
                return Err(SlideError::Unreadable(format!(
                    "level {level}, {w}×{h} px at ({x}, {y}): {e}"
                )));
            }
            for &p in px.iter() {
                // Premultiplied ARGB over white: c + (255 − a).
                let a = (p >> 24) as u8;
                let add = 255 - a;
                out.push(((p >> 16) as u8).saturating_add(add));
                out.push(((p >> 8) as u8).saturating_add(add));
                out.push((p as u8).saturating_add(add));
            }
            row += n;
        }
        Ok(out)
    }

    /// A deep-zoom (DZI) tile as RGB (width, height, pixels): tile (`col`, `row`) of level
    /// `level` (level `max` is full resolution, each level below halves it), `tile` pixels
    /// square plus `overlap` on each inner side, read from the nearest level of the slide's own
    /// pyramid and resized. `None` for a tile the level does not have.
    pub fn dzi_tile(
        &self,
        level: u32,
        col: u64,
        row: u64,
        tile: u64,
        overlap: u64,
    ) -> Result<Option<(u32, u32, Vec<u8>)>, SlideError> {
        let (w, h) = (self.meta.width(), self.meta.height());
        let top = dzi_max_level(w, h);
        if level > top {
            return Ok(None);
        }
        let scale = 1u64 << (top - level);
        let (lw, lh) = (w.div_ceil(scale), h.div_ceil(scale));
        if col >= lw.div_ceil(tile) || row >= lh.div_ceil(tile) {
            return Ok(None);
        }
        let x0 = (col * tile).saturating_sub(if col > 0 { overlap } else { 0 });
        let y0 = (row * tile).saturating_sub(if row > 0 { overlap } else { 0 });
        let x1 = ((col + 1) * tile + overlap).min(lw);
        let y1 = ((row + 1) * tile + overlap).min(lh);
        let (tw, th) = (x1 - x0, y1 - y0);
        let lvl = self.meta.level_for_downsample(scale as f64);
        let ds = self.meta.levels[lvl].downsample;
        let rw = ((tw as f64 * scale as f64 / ds).round() as u64).max(1);
        let rh = ((th as f64 * scale as f64 / ds).round() as u64).max(1);
        let rgb = self.read_rgb(lvl, (x0 * scale) as i64, (y0 * scale) as i64, rw, rh)?;
        let rgb = if (rw, rh) == (tw, th) {
            rgb
        } else {
            crate::resample::resize_rgb(
                &rgb,
                rw as usize,
                rh as usize,
                tw as usize,
                th as usize,
                crate::resample::Filter::Bilinear,
            )
        };
        Ok(Some((tw as u32, th as u32, rgb)))
    }

    /// After an error every call on the handle fails: open the file again.
    fn reopen(&self) {
        let Ok(api) = ffi::api() else { return };
        if let Ok(Some(fresh)) = ffi::Handle::open(api, &self.path) {
            *self.handle.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        }
    }

    /// A small overview of the whole slide: its longer side between `max_side` and twice that
    /// (or the whole smallest level when it is smaller), read from the coarsest level that
    /// has `max_side` pixels on its longer side, in bounded blocks, box-averaged.
    pub fn overview(&self, max_side: u64) -> Result<Overview, SlideError> {
        let level = (0..self.meta.levels.len())
            .rev()
            .find(|&i| {
                let l = &self.meta.levels[i];
                l.width.max(l.height) >= max_side
            })
            .unwrap_or(self.meta.levels.len() - 1);
        let lv = self.meta.levels[level].clone();
        let k = (lv.width.max(lv.height) / max_side.max(1)).max(1);
        let (ow, oh) = (lv.width.div_ceil(k), lv.height.div_ceil(k));
        let mut sums = vec![0u32; (ow * oh * 4) as usize];
        // Blocks of k rows × a multiple of k columns, about STRIP_PIXELS each.
        let block_w = ((STRIP_PIXELS / k / k).max(1) * k).min(ow * k);
        let mut by = 0;
        while by < lv.height {
            let bh = k.min(lv.height - by);
            let mut bx = 0;
            while bx < lv.width {
                let bw = block_w.min(lv.width - bx);
                let x0 = (bx as f64 * lv.downsample).round() as i64;
                let y0 = (by as f64 * lv.downsample).round() as i64;
                let rgb = self.read_rgb(level, x0, y0, bw, bh)?;
                for yy in 0..bh {
                    let oy = (by + yy) / k;
                    for xx in 0..bw {
                        let ox = (bx + xx) / k;
                        let s = ((yy * bw + xx) * 3) as usize;
                        let d = ((oy * ow + ox) * 4) as usize;
                        sums[d] += u32::from(rgb[s]);
                        sums[d + 1] += u32::from(rgb[s + 1]);
                        sums[d + 2] += u32::from(rgb[s + 2]);
                        sums[d + 3] += 1;
                    }
                }
                bx += bw;
            }
            by += bh;
        }
        let rgb = sums
            .chunks_exact(4)
            .flat_map(|c| {
                let n = c[3].max(1);
                [c[0] / n, c[1] / n, c[2] / n].map(|v| v as u8)
            })
            .collect();
        Ok(Overview {
            width: ow as usize,
            height: oh as usize,
            rgb,
            scale: lv.downsample * k as f64,
        })
    }
}

/// The deep-zoom level count minus one for a `width` × `height` image: level `max` is full
/// resolution, level 0 one pixel.
pub fn dzi_max_level(width: u64, height: u64) -> u32 {
    let m = width.max(height).max(1);
    64 - (m - 1).leading_zeros()
}

/// A small picture of the whole slide.
#[derive(Debug, Clone)]
pub struct Overview {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    /// Level-0 pixels per overview pixel.
    pub scale: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dzi_levels() {
        assert_eq!(dzi_max_level(1, 1), 0);
        assert_eq!(dzi_max_level(2220, 2967), 12);
        assert_eq!(dzi_max_level(100_000, 80_000), 17);
    }

    #[test]
    fn resolution_units_and_implausible_values() {
        // 40 000 px/cm = 0.25 µm/px (what `vips tiffsave --xres 4000` writes, in px/mm × 10).
        assert!((mpp_from_resolution(40_000.0, "centimeter").unwrap() - 0.25).abs() < 1e-12);
        assert!((mpp_from_resolution(101_600.0, "inch").unwrap() - 0.25).abs() < 1e-12);
        // The 72 dpi default is not a microscope's resolution.
        assert_eq!(mpp_from_resolution(72.0, "inch"), None);
        assert_eq!(mpp_from_resolution(1.0, "none"), None);
        assert_eq!(plausible_mpp(0.0), None);
        assert_eq!(plausible_mpp(f64::NAN), None);
    }

    #[test]
    fn level_for_downsample_picks_the_coarsest_that_is_fine_enough() {
        let meta = SlideMeta {
            vendor: "x".into(),
            levels: [1.0, 4.0, 16.0]
                .iter()
                .map(|&d| Level {
                    width: (1000.0 / d) as u64,
                    height: (1000.0 / d) as u64,
                    downsample: d,
                })
                .collect(),
            mpp_x: None,
            mpp_y: None,
            objective_power: None,
            warnings: vec![],
        };
        assert_eq!(meta.level_for_downsample(0.5), 0);
        assert_eq!(meta.level_for_downsample(3.9), 0);
        assert_eq!(meta.level_for_downsample(4.0), 1);
        assert_eq!(meta.level_for_downsample(15.0), 1);
        assert_eq!(meta.level_for_downsample(100.0), 2);
    }
}
