//! Colour deconvolution of H&E (Ruifrok & Johnston, 2001): how much hematoxylin and eosin each
//! pixel holds, from its optical density. Used to give training checks targets that come from
//! the image's own content (nuclear and eosin density), so that "the network learned" can be
//! tested on real pixels without anyone's scores.

/// Stain vectors (optical density of pure hematoxylin, eosin and a residual), as in
/// scikit-image's `rgb_from_hed`, rows normalised.
const RGB_FROM_HED: [[f64; 3]; 3] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

/// Hematoxylin concentration above which a pixel counts as nuclear.
const NUCLEAR: f64 = 0.25;
/// Total optical density above which a pixel counts as tissue (not background).
const TISSUE: f64 = 0.3;

/// What the deconvolution finds in a region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StainDensities {
    /// Mean hematoxylin concentration (nuclei).
    pub hematoxylin: f64,
    /// Mean eosin concentration (cytoplasm, stroma).
    pub eosin: f64,
    /// Share of pixels dense in hematoxylin: a nuclear density.
    pub nuclear_share: f64,
    /// Share of pixels that are tissue, not background.
    pub tissue_share: f64,
}

fn inverse(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut inv = [[0.0; 3]; 3];
    for (r, row) in inv.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            let (r1, r2) = ((c + 1) % 3, (c + 2) % 3);
            let (c1, c2) = ((r + 1) % 3, (r + 2) % 3);
            *v = (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / det;
        }
    }
    inv
}

/// Deconvolves interleaved 8-bit RGB pixels.
pub fn stain_densities(rgb: &[u8]) -> StainDensities {
    let mut stains = RGB_FROM_HED;
    for row in &mut stains {
        let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v /= n);
    }
    let hed_from_rgb = inverse(stains);
    let od: Vec<f64> = (0..256)
        .map(|v| -((f64::from(v as u8) + 1.0) / 256.0).log10())
        .collect();
    let (mut h, mut e, mut nuclear, mut tissue) = (0.0, 0.0, 0usize, 0usize);
    let n = rgb.len() / 3;
    for px in rgb.chunks_exact(3) {
        let d = [
            od[usize::from(px[0])],
            od[usize::from(px[1])],
            od[usize::from(px[2])],
        ];
        // Concentrations: the optical density (a row vector) times the inverse stain matrix.
        let conc = |k: usize| {
            (0..3)
                .map(|c| d[c] * hed_from_rgb[c][k])
                .sum::<f64>()
                .max(0.0)
        };
        let (ch, ce) = (conc(0), conc(1));
        h += ch;
        e += ce;
        if ch > NUCLEAR {
            nuclear += 1;
        }
        if d.iter().sum::<f64>() > TISSUE {
            tissue += 1;
        }
    }
    let n = n.max(1) as f64;
    StainDensities {
        hematoxylin: h / n,
        eosin: e / n,
        nuclear_share: nuclear as f64 / n,
        tissue_share: tissue as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_is_empty_and_stains_separate() {
        let white = stain_densities(&[255u8; 300]);
        assert!(white.hematoxylin < 1e-9 && white.eosin < 1e-9);
        assert_eq!((white.nuclear_share, white.tissue_share), (0.0, 0.0));
        // A hematoxylin purple and an eosin pink.
        let purple = stain_densities(&[80, 60, 140].repeat(10));
        let pink = stain_densities(&[230, 120, 190].repeat(10));
        assert!(purple.hematoxylin > pink.hematoxylin, "{purple:?} {pink:?}");
        assert!(pink.eosin > pink.hematoxylin, "{pink:?}");
        assert_eq!(purple.nuclear_share, 1.0);
        assert_eq!(purple.tissue_share, 1.0);
    }

    #[test]
    fn the_inverse_is_an_inverse() {
        let inv = inverse(RGB_FROM_HED);
        for (r, row) in RGB_FROM_HED.iter().enumerate() {
            for c in 0..3 {
                let v: f64 = row.iter().zip(&inv).map(|(a, b)| a * b[c]).sum();
                assert!((v - f64::from(u8::from(r == c))).abs() < 1e-12);
            }
        }
    }
}
