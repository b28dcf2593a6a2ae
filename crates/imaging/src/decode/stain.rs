//! "Does this look like H&E?" — a cheap colour heuristic, used only to warn.
//!
//! H&E on a brightfield scan is pink (eosin) and purple (hematoxylin) on a light background: in
//! both colours green is the weakest channel. The check looks at a regular grid of at most about
//! 200 000 pixels and warns, in this order, when:
//!
//! 1. at least half of the pixels are dark (max channel < 50): a dark background means
//!    fluorescence or darkfield, not brightfield H&E;
//! 2. the image is gray (a gray source mode such as "L8", or ≥ 99.5 % of pixels have max − min ≤ 3 and the non-background pixels
//!    carry no colour);
//! 3. among the coloured tissue pixels (max − min ≥ 10, max channel < 235; at least 50 of
//!    them), fewer than 60 % have green as the weakest channel. Brown DAB (blue weakest) means
//!    immunohistochemistry; blue/green (red weakest) means another counterstain or stain;
//! 4. there is almost no tissue (< 1 % of pixels darker than the background, max < 235).
//!
//! Real H&E tiles score ≥ 94 % "green weakest"; DAB IHC scores under 15 %, so the threshold has
//! a wide margin on both sides.

use super::DecodedImage;

const TARGET_SAMPLES: usize = 200_000;

pub fn stain_check(img: &DecodedImage) -> Option<String> {
    let (w, h) = (img.width as usize, img.height as usize);
    if w == 0 || h == 0 || img.rgb.len() < w * h * 3 {
        return None;
    }
    let step = ((w * h) as f64 / TARGET_SAMPLES as f64)
        .sqrt()
        .ceil()
        .max(1.0) as usize;
    let (mut total, mut dark, mut grayish, mut tissue) = (0usize, 0usize, 0usize, 0usize);
    let (mut coloured, mut green_min, mut blue_min, mut red_min) = (0usize, 0usize, 0usize, 0usize);
    for y in (0..h).step_by(step) {
        let row = &img.rgb[y * w * 3..(y + 1) * w * 3];
        for x in (0..w).step_by(step) {
            let (r, g, b) = (row[x * 3], row[x * 3 + 1], row[x * 3 + 2]);
            let mx = r.max(g).max(b);
            let mn = r.min(g).min(b);
            total += 1;
            if mx < 50 {
                dark += 1;
            }
            if mx - mn <= 3 {
                grayish += 1;
            }
            if mx < 235 {
                tissue += 1;
                if mx - mn >= 10 {
                    coloured += 1;
                    if g <= r && g <= b {
                        green_min += 1;
                    } else if b < r && b < g {
                        blue_min += 1;
                    } else {
                        red_min += 1;
                    }
                }
            }
        }
    }
    let frac = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let advice = "the model was trained on brightfield H&E, so its score may be meaningless";
    if frac(dark, total) >= 0.5 {
        return Some(format!(
            "this does not look like H&E: {:.0} % of the image is dark background, as in \
             fluorescence or darkfield images; {advice}",
            100.0 * frac(dark, total)
        ));
    }
    let gray_source = img.source_mode.starts_with('L');
    if gray_source
        || (frac(grayish, total) >= 0.995
            && frac(tissue, total) >= 0.01
            && frac(coloured, tissue) < 0.2)
    {
        return Some(format!(
            "this does not look like H&E: the image is grayscale; {advice}"
        ));
    }
    if coloured >= 50 && frac(green_min, coloured) < 0.6 {
        let what = if blue_min >= red_min {
            "much of the stained tissue is brown, as with DAB immunohistochemistry (IHC)"
        } else {
            "much of the stained tissue is blue or green rather than pink/purple"
        };
        return Some(format!(
            "this does not look like H&E: {what} ({:.0} % of the coloured pixels are \
             pink/purple); {advice}",
            100.0 * frac(green_min, coloured)
        ));
    }
    if frac(tissue, total) < 0.01 {
        return Some(format!(
            "the image is almost empty: only {:.1} % of it is darker than the background \
             (tissue); check that this is the intended field",
            100.0 * frac(tissue, total)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> DecodedImage {
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(&f(x, y));
            }
        }
        DecodedImage {
            width: w,
            height: h,
            rgb,
            format: "PNG".into(),
            source_mode: "RGB8".into(),
            page: 0,
            pixel_size_um: None,
            warnings: vec![],
        }
    }

    #[test]
    fn he_like_colours_pass() {
        let img = image(100, 100, |x, _| match x % 3 {
            0 => [230, 140, 190], // eosin pink
            1 => [120, 70, 160],  // hematoxylin purple
            _ => [245, 245, 245], // background
        });
        assert_eq!(stain_check(&img), None);
    }

    #[test]
    fn dab_brown_warns() {
        let img = image(100, 100, |x, _| match x % 3 {
            0 => [150, 100, 60],  // DAB brown
            1 => [140, 150, 190], // hematoxylin blue
            _ => [245, 245, 245],
        });
        let w = stain_check(&img).unwrap();
        assert!(w.contains("IHC"), "{w}");
    }

    #[test]
    fn dark_background_warns() {
        let img = image(100, 100, |x, y| {
            if (x + y) % 10 == 0 {
                [20, 40, 220]
            } else {
                [5, 5, 8]
            }
        });
        assert!(stain_check(&img).unwrap().contains("fluorescence"));
    }

    #[test]
    fn gray_warns() {
        let img = image(100, 100, |x, _| [x as u8 * 2; 3]);
        assert!(stain_check(&img).unwrap().contains("grayscale"));
    }

    #[test]
    fn empty_slide_warns() {
        let img = image(200, 200, |_, _| [250, 250, 250]);
        assert!(stain_check(&img).unwrap().contains("almost empty"));
    }
}
