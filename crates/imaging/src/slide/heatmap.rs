//! A metric's field scores painted over the slide's overview: each pixel gets the mean score
//! of the fields that cover it on a colour ramp from 0 (dark blue) to the metric's maximum
//! (yellow), blended half over the greyed slide; pixels no field covers show the slide.

use super::Overview;

/// A field's rectangle in level-0 pixels and its score (`None`: unreadable, not painted).
#[derive(Debug, Clone, Copy)]
pub struct HeatField {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub value: Option<f64>,
}

/// Viridis at five stops, interpolated.
const RAMP: [[f32; 3]; 5] = [
    [68.0, 1.0, 84.0],
    [59.0, 82.0, 139.0],
    [33.0, 145.0, 140.0],
    [94.0, 201.0, 98.0],
    [253.0, 231.0, 37.0],
];

/// The ramp's colour for `t` in 0..=1.
pub fn ramp(t: f64) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } as f32
        * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f32;
    let (a, b) = (RAMP[i], RAMP[i + 1]);
    [0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * f).round() as u8)
}

/// The overview with the fields' scores (0..=`max`) painted on it, as RGB.
pub fn render(ov: &Overview, fields: &[HeatField], max: f64) -> Vec<u8> {
    let n = ov.width * ov.height;
    let mut sum = vec![0f64; n];
    let mut count = vec![0u32; n];
    for f in fields {
        let Some(v) = f.value else { continue };
        let x0 = (f.x / ov.scale).floor().max(0.0) as usize;
        let y0 = (f.y / ov.scale).floor().max(0.0) as usize;
        let x1 = (((f.x + f.width) / ov.scale).ceil().max(0.0) as usize).min(ov.width);
        let y1 = (((f.y + f.height) / ov.scale).ceil().max(0.0) as usize).min(ov.height);
        for y in y0..y1 {
            for x in x0..x1 {
                sum[y * ov.width + x] += v;
                count[y * ov.width + x] += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(n * 3);
    for (i, p) in ov.rgb.chunks_exact(3).enumerate() {
        let grey = (u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3;
        if count[i] == 0 {
            out.extend_from_slice(p);
            continue;
        }
        let c = ramp(sum[i] / f64::from(count[i]) / max.max(f64::MIN_POSITIVE));
        for ch in c {
            out.push(((u16::from(ch) + grey) / 2) as u8);
        }
    }
    out
}

/// PNG bytes of an RGB picture.
pub fn png(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    image::ImageEncoder::write_image(
        encoder,
        rgb,
        width as u32,
        height as u32,
        image::ExtendedColorType::Rgb8,
    )
    .expect("encoding RGB8 PNG into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_runs_from_dark_blue_to_yellow() {
        assert_eq!(ramp(0.0), [68, 1, 84]);
        assert_eq!(ramp(1.0), [253, 231, 37]);
        assert_eq!(ramp(2.0), ramp(1.0));
        assert_eq!(ramp(f64::NAN), ramp(0.0));
    }

    #[test]
    fn fields_are_painted_where_they_lie() {
        let ov = Overview {
            width: 4,
            height: 2,
            rgb: vec![200; 24],
            scale: 10.0,
        };
        let fields = [HeatField {
            x: 0.0,
            y: 0.0,
            width: 20.0,
            height: 20.0,
            value: Some(3.0),
        }];
        let out = render(&ov, &fields, 3.0);
        let yellow = ramp(1.0);
        assert_eq!(
            &out[0..3],
            &[0, 1, 2].map(|c| ((u16::from(yellow[c]) + 200) / 2) as u8)
        );
        // Right half: no field, the slide shows.
        assert_eq!(&out[9..12], &[200, 200, 200]);
        let bytes = png(4, 2, &out);
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
