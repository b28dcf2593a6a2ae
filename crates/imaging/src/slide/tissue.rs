//! Where the tissue is, and the fields the model scores.
//!
//! Tissue: on the slide's overview, Otsu's threshold on saturation (HSV; kept between 20 and
//! 48 of 255, so that a slide that is all tissue is not split in two) separates stained tissue
//! from the white glass; very dark pixels (black ink, dust) and strongly blue or green
//! ones (marker pens) are not tissue. A dark slide (fluorescence) is thresholded on brightness
//! instead (brighter than twice the background's median), with a warning that the model was
//! made for brightfield H&E.
//!
//! Small gaps (between nuclei, say) are then closed (dilation and erosion by 2 overview pixels).
//!
//! Fields: a grid of the model's field size over the tissue's bounding box, centred on it, with
//! the given overlap; a field with less tissue than the minimum share is skipped; a field
//! running past the slide's edge is padded with white, and its tissue share is counted on the
//! part inside the slide.

use super::{Overview, SlideMeta};
use serde::{Deserialize, Serialize};

/// The original's images: 4080 × 2776 px at (assumed) 0.5 µm/px.
pub const DEFAULT_FIELD_PX: (f64, f64) = (4080.0, 2776.0);
pub const DEFAULT_FIELD_UM: (f64, f64) = (2040.0, 1388.0);
pub const DEFAULT_OVERLAP: f64 = 0.5;
pub const DEFAULT_MIN_TISSUE: f64 = 0.25;
/// A field is read from the coarsest level at which it is still at least this many pixels on
/// each side: the preprocessing's first step resizes to 512 × 512.
pub const FIELD_MIN_READ_SIDE: f64 = 512.0;

/// Which overview pixels are tissue.
#[derive(Debug, Clone)]
pub struct TissueMask {
    pub width: usize,
    pub height: usize,
    pub tissue: Vec<bool>,
    /// Level-0 pixels per mask pixel.
    pub scale: f64,
    /// A dark slide, thresholded on brightness (fluorescence).
    pub fluorescence: bool,
}

impl TissueMask {
    /// Share of tissue in the level-0 rectangle, counted on the part inside the slide; `None`
    /// when the rectangle misses the slide.
    pub fn share(&self, x: f64, y: f64, w: f64, h: f64) -> Option<f64> {
        let s = self.scale;
        let x0 = (x / s).floor().max(0.0) as usize;
        let y0 = (y / s).floor().max(0.0) as usize;
        let x1 = (((x + w) / s).ceil().max(0.0) as usize).min(self.width);
        let y1 = (((y + h) / s).ceil().max(0.0) as usize).min(self.height);
        if x0 >= x1 || y0 >= y1 {
            return None;
        }
        let mut n = 0usize;
        for yy in y0..y1 {
            n += self.tissue[yy * self.width + x0..yy * self.width + x1]
                .iter()
                .filter(|t| **t)
                .count();
        }
        Some(n as f64 / ((x1 - x0) * (y1 - y0)) as f64)
    }

    /// Share of tissue over the whole slide.
    pub fn total_share(&self) -> f64 {
        self.tissue.iter().filter(|t| **t).count() as f64 / self.tissue.len().max(1) as f64
    }

    /// The tissue's bounding box in level-0 pixels (x, y, w, h).
    pub fn bounding_box(&self) -> Option<(f64, f64, f64, f64)> {
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.tissue[y * self.width + x] {
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x + 1);
                    y1 = y1.max(y + 1);
                }
            }
        }
        (x1 > 0).then(|| {
            let s = self.scale;
            (
                x0 as f64 * s,
                y0 as f64 * s,
                (x1 - x0) as f64 * s,
                (y1 - y0) as f64 * s,
            )
        })
    }
}

/// Otsu's threshold of values in 0..=255.
fn otsu(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w_b, mut sum_b, mut best, mut best_t) = (0f64, 0f64, -1f64, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w_b += c as f64;
        if w_b == 0.0 {
            continue;
        }
        let w_f = total as f64 - w_b;
        if w_f == 0.0 {
            break;
        }
        sum_b += t as f64 * c as f64;
        let m_b = sum_b / w_b;
        let m_f = (sum_all - sum_b) / w_f;
        let between = w_b * w_f * (m_b - m_f) * (m_b - m_f);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Hue in degrees, saturation and value in 0..=255.
fn hsv(r: u8, g: u8, b: u8) -> (f32, u8, u8) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let v = max;
    if max == 0 || max == min {
        return (0.0, 0, v);
    }
    let d = f32::from(max - min);
    let s = ((d / f32::from(max)) * 255.0).round() as u8;
    let (rf, gf, bf) = (f32::from(r), f32::from(g), f32::from(b));
    let mut h = if max == r {
        60.0 * ((gf - bf) / d)
    } else if max == g {
        60.0 * ((bf - rf) / d) + 120.0
    } else {
        60.0 * ((rf - gf) / d) + 240.0
    };
    if h < 0.0 {
        h += 360.0;
    }
    (h, s, v)
}

/// Saturation below this is glass whatever Otsu says (an empty slide has no bimodality).
const MIN_SATURATION: u8 = 20;
/// Glass (and the slide's white background) is never more saturated than this.
const MAX_GLASS_SATURATION: u8 = 48;
/// Darker than this is ink, dust or a slide edge, not stained tissue.
const MIN_VALUE: u8 = 40;

/// Finds the tissue on a slide's overview.
pub fn detect_tissue(ov: &Overview) -> TissueMask {
    let n = ov.width * ov.height;
    let mut values: Vec<u8> = ov
        .rgb
        .chunks_exact(3)
        .map(|p| p[0].max(p[1]).max(p[2]))
        .collect();
    values.truncate(n);
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(255);
    let fluorescence = median < 64;
    let tissue: Vec<bool> = if fluorescence {
        // Stained tissue glows faintly everywhere, brightly where the stain binds: anything
        // clearly above the dark background (twice its median, plus a margin) is tissue.
        let t = (u16::from(median) * 2 + 8).max(u16::from(MIN_SATURATION));
        values.iter().map(|&v| u16::from(v) > t).collect()
    } else {
        let hsvs: Vec<(f32, u8, u8)> = ov
            .rgb
            .chunks_exact(3)
            .map(|p| hsv(p[0], p[1], p[2]))
            .collect();
        let mut hist = [0u64; 256];
        hsvs.iter().for_each(|&(_, s, _)| hist[s as usize] += 1);
        // Otsu separates glass from stain; on a slide that is all tissue (no glass in view)
        // it would split the tissue itself, so it is capped at a saturation no glass reaches.
        let t = otsu(&hist).clamp(MIN_SATURATION, MAX_GLASS_SATURATION);
        hsvs.iter()
            .map(|&(h, s, v)| {
                // Marker pens: blue and green, strongly saturated; H&E is pink to purple.
                let pen = s > 64 && (75.0..=250.0).contains(&h);
                s > t && v > MIN_VALUE && !pen
            })
            .collect()
    };
    TissueMask {
        width: ov.width,
        height: ov.height,
        tissue: close(&tissue, ov.width, ov.height, CLOSING_RADIUS),
        scale: ov.scale,
        fluorescence,
    }
}

/// Gaps between cells and nuclei up to this many overview pixels are closed.
const CLOSING_RADIUS: usize = 2;

/// One pass of a square (2r + 1) maximum (`grow`) or minimum filter, separably.
fn filter(mask: &[bool], w: usize, h: usize, r: usize, grow: bool) -> Vec<bool> {
    fn pick(grow: bool, mut it: impl Iterator<Item = bool>) -> bool {
        if grow {
            it.any(|v| v)
        } else {
            it.all(|v| v)
        }
    }
    let mut rows = vec![false; mask.len()];
    for y in 0..h {
        let row = &mask[y * w..(y + 1) * w];
        for x in 0..w {
            let (a, b) = (x.saturating_sub(r), (x + r + 1).min(w));
            rows[y * w + x] = pick(grow, row[a..b].iter().copied());
        }
    }
    let mut out = vec![false; mask.len()];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            out[y * w + x] = pick(grow, (a..b).map(|yy| rows[yy * w + x]));
        }
    }
    out
}

/// Morphological closing (dilate, then erode): joins tissue broken by small gaps.
fn close(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    filter(&filter(mask, w, h, r, true), w, h, r, false)
}

/// How fields are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FieldOptions {
    /// The field's size in µm (the model's), used when the slide gives its resolution.
    pub field_um: (f64, f64),
    /// The field's size in level-0 pixels when it does not.
    pub field_px: (f64, f64),
    /// Overlap between neighbouring fields, 0 ≤ overlap < 1.
    pub overlap: f64,
    /// Fields with less tissue than this share are skipped.
    pub min_tissue: f64,
}

impl Default for FieldOptions {
    fn default() -> Self {
        Self {
            field_um: DEFAULT_FIELD_UM,
            field_px: DEFAULT_FIELD_PX,
            overlap: DEFAULT_OVERLAP,
            min_tissue: DEFAULT_MIN_TISSUE,
        }
    }
}

impl FieldOptions {
    /// The field's size in level-0 pixels on this slide.
    pub fn size_px(&self, meta: &SlideMeta) -> (f64, f64) {
        match (meta.mpp_x, meta.mpp_y) {
            (Some(mx), Some(my)) => (self.field_um.0 / mx, self.field_um.1 / my),
            _ => self.field_px,
        }
    }
}

/// One field to score: a level-0 rectangle (it may reach past the slide's edge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedField {
    pub x: i64,
    pub y: i64,
    pub width: u64,
    pub height: u64,
    pub tissue_share: f64,
}

/// Positions along one axis: fields of `len` covering `start..start+extent`, stepping by
/// `len × (1 − overlap)`, centred on the extent.
fn axis(start: f64, extent: f64, len: f64, overlap: f64) -> Vec<f64> {
    let stride = (len * (1.0 - overlap)).max(1.0);
    let n = if extent <= len {
        1
    } else {
        ((extent - len) / stride).ceil() as usize + 1
    };
    let covered = len + stride * (n - 1) as f64;
    let first = start + (extent - covered) / 2.0;
    (0..n).map(|i| first + stride * i as f64).collect()
}

/// The fields to score on a slide, in reading order (rows top to bottom).
///
/// A slide that fits inside one field is scored as that one field, padded and centred on the
/// slide, whatever its share of tissue (as long as it has some): there is nothing else to
/// score.
pub fn plan_fields(meta: &SlideMeta, mask: &TissueMask, opts: &FieldOptions) -> Vec<PlannedField> {
    let Some((bx, by, bw, bh)) = mask.bounding_box() else {
        return Vec::new();
    };
    let (fw, fh) = opts.size_px(meta);
    let (sw, sh) = (meta.width() as f64, meta.height() as f64);
    if sw <= fw && sh <= fh {
        return vec![PlannedField {
            x: ((sw - fw) / 2.0).round() as i64,
            y: ((sh - fh) / 2.0).round() as i64,
            width: fw.round() as u64,
            height: fh.round() as u64,
            tissue_share: mask.total_share(),
        }];
    }
    let overlap = opts.overlap.clamp(0.0, 0.95);
    let mut out = Vec::new();
    for y in axis(by, bh, fh, overlap) {
        for x in axis(bx, bw, fw, overlap) {
            let Some(share) = mask.share(x, y, fw, fh) else {
                continue;
            };
            if share >= opts.min_tissue {
                out.push(PlannedField {
                    x: x.round() as i64,
                    y: y.round() as i64,
                    width: fw.round() as u64,
                    height: fh.round() as u64,
                    tissue_share: share,
                });
            }
        }
    }
    out
}

/// The level a field is read from, and its size there: the coarsest level at which the field
/// is still at least [`FIELD_MIN_READ_SIDE`] pixels on each side (level 0 if none).
pub fn read_level(meta: &SlideMeta, width: u64, height: u64) -> (usize, u64, u64) {
    let most = (width.min(height) as f64 / FIELD_MIN_READ_SIDE).max(1.0);
    let level = meta.level_for_downsample(most);
    let ds = meta.levels[level].downsample;
    (
        level,
        ((width as f64 / ds).round() as u64).max(1),
        ((height as f64 / ds).round() as u64).max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slide::Level;

    fn meta(w: u64, h: u64, mpp: Option<f64>) -> SlideMeta {
        SlideMeta {
            vendor: "test".into(),
            levels: vec![
                Level {
                    width: w,
                    height: h,
                    downsample: 1.0,
                },
                Level {
                    width: w / 4,
                    height: h / 4,
                    downsample: 4.0,
                },
                Level {
                    width: w / 16,
                    height: h / 16,
                    downsample: 16.0,
                },
            ],
            mpp_x: mpp,
            mpp_y: mpp,
            objective_power: None,
            warnings: vec![],
        }
    }

    /// An overview of white glass with a pink H&E-like block and a blue pen stroke.
    fn overview() -> Overview {
        let (w, h) = (100, 80);
        let mut rgb = vec![245u8; w * h * 3];
        for y in 20..60 {
            for x in 10..50 {
                let i = (y * w + x) * 3;
                rgb[i..i + 3].copy_from_slice(&[200, 120, 170]);
            }
        }
        for y in 5..75 {
            for x in 80..83 {
                let i = (y * w + x) * 3;
                rgb[i..i + 3].copy_from_slice(&[30, 60, 200]);
            }
        }
        Overview {
            width: w,
            height: h,
            rgb,
            scale: 100.0,
        }
    }

    #[test]
    fn closing_fills_small_gaps_and_keeps_the_outline() {
        // A 9 × 5 block with a one-pixel hole and a one-pixel gap column.
        let (w, h) = (17, 13);
        let mut m = vec![false; w * h];
        for y in 4..9 {
            for x in 4..13 {
                m[y * w + x] = x != 8;
            }
        }
        m[6 * w + 5] = false;
        let c = close(&m, w, h, 2);
        assert!(c[6 * w + 5] && c[6 * w + 8], "holes closed");
        assert!(!c[0] && !c[3 * w + 8], "outside stays outside");
        assert_eq!(c.iter().filter(|v| **v).count(), 9 * 5);
    }

    #[test]
    fn otsu_splits_two_populations() {
        let mut hist = [0u64; 256];
        hist[10] = 100;
        hist[200] = 100;
        let t = otsu(&hist);
        assert!((10..200).contains(&t), "{t}");
    }

    #[test]
    fn tissue_is_the_stained_block_not_the_glass_or_the_pen() {
        let mask = detect_tissue(&overview());
        assert!(!mask.fluorescence);
        assert!(mask.tissue[30 * 100 + 20]);
        assert!(!mask.tissue[5 * 100 + 5], "glass");
        assert!(!mask.tissue[30 * 100 + 81], "blue pen");
        let (x, y, w, h) = mask.bounding_box().unwrap();
        assert_eq!((x, y, w, h), (1000.0, 2000.0, 4000.0, 4000.0));
        assert!((mask.share(1000.0, 2000.0, 4000.0, 4000.0).unwrap() - 1.0).abs() < 1e-9);
        assert!((mask.share(0.0, 0.0, 10_000.0, 8000.0).unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(mask.share(20_000.0, 0.0, 100.0, 100.0), None);
    }

    #[test]
    fn a_dark_slide_is_thresholded_on_brightness() {
        let mut ov = overview();
        for p in ov.rgb.chunks_exact_mut(3) {
            if p[0] == 245 {
                p.copy_from_slice(&[2, 2, 2]);
            }
        }
        let mask = detect_tissue(&ov);
        assert!(mask.fluorescence);
        assert!(mask.tissue[30 * 100 + 20]);
        assert!(!mask.tissue[5 * 100 + 5]);
    }

    #[test]
    fn a_grid_covers_the_tissue_centred_with_overlap() {
        assert_eq!(axis(0.0, 100.0, 200.0, 0.5), vec![-50.0]);
        assert_eq!(axis(0.0, 300.0, 200.0, 0.5), vec![0.0, 100.0]);
        // 350 needs three fields of 200 at stride 100: 400 covered, 25 each side.
        assert_eq!(axis(0.0, 350.0, 200.0, 0.5), vec![-25.0, 75.0, 175.0]);
        assert_eq!(axis(0.0, 350.0, 200.0, 0.0), vec![-25.0, 175.0]);
    }

    #[test]
    fn fields_follow_the_resolution_and_skip_glass() {
        let mask = detect_tissue(&overview());
        // 0.5 µm/px: the default field is 4080 × 2776 px; the tissue is 4000 × 4000.
        let m = meta(10_000, 8000, Some(0.5));
        let opts = FieldOptions::default();
        let fields = plan_fields(&m, &mask, &opts);
        assert!(!fields.is_empty());
        for f in &fields {
            assert_eq!((f.width, f.height), (4080, 2776));
            assert!(f.tissue_share >= 0.25);
        }
        // One column (4000 ≤ 4080), rows at stride 1388 over 4000: 2 rows.
        assert_eq!(fields.len(), 2);
        // Without a resolution the field is given in pixels.
        let fields = plan_fields(&meta(10_000, 8000, None), &mask, &opts);
        assert_eq!((fields[0].width, fields[0].height), (4080, 2776));
        // A stricter tissue minimum skips more.
        let strict = FieldOptions {
            min_tissue: 0.99,
            overlap: 0.0,
            ..opts
        };
        assert!(plan_fields(&m, &mask, &strict).len() < fields.len() + 1);
    }

    #[test]
    fn a_slide_smaller_than_a_field_is_one_padded_field_whatever_its_tissue() {
        let mut ov = overview();
        // Little tissue: a 4 × 4 block of the 100 × 80 overview.
        for p in ov.rgb.chunks_exact_mut(3) {
            p.copy_from_slice(&[245, 245, 245]);
        }
        for y in 10..14 {
            for x in 10..14 {
                let i = (y * 100 + x) * 3;
                ov.rgb[i..i + 3].copy_from_slice(&[200, 120, 170]);
            }
        }
        ov.scale = 10.0; // a 1000 × 800 px slide
        let mask = detect_tissue(&ov);
        let m = meta(1000, 800, Some(0.5));
        let fields = plan_fields(&m, &mask, &FieldOptions::default());
        assert_eq!(fields.len(), 1);
        let f = &fields[0];
        assert_eq!((f.width, f.height), (4080, 2776));
        assert_eq!((f.x, f.y), (-1540, -988), "centred on the slide");
        assert!(f.tissue_share > 0.0 && f.tissue_share < 0.25);
        // No tissue at all: nothing.
        let blank = TissueMask {
            tissue: vec![false; mask.tissue.len()],
            ..mask
        };
        assert!(plan_fields(&m, &blank, &FieldOptions::default()).is_empty());
    }

    #[test]
    fn a_field_is_read_from_the_coarsest_level_that_keeps_512_px() {
        let m = meta(100_000, 80_000, Some(0.25));
        // 8160 × 5552 at level 0 → level 1 (4×): 2040 × 1388; level 2 would be 510 × 347.
        assert_eq!(read_level(&m, 8160, 5552), (1, 2040, 1388));
        assert_eq!(read_level(&m, 600, 600), (0, 600, 600));
        assert_eq!(read_level(&m, 100_000, 100_000), (2, 6250, 6250));
    }
}
