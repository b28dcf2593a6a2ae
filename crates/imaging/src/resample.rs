//! Pillow's resampling, reproduced byte for byte.
//!
//! Pillow (`Image.resize`) resamples separably: a horizontal pass over the rows that the
//! vertical pass will need, then a vertical pass. Each output sample is a weighted sum of
//! input samples; the weights come from the filter evaluated in double precision, normalised
//! to sum to one, then converted to fixed point with 22 fractional bits. Sums start at one
//! half (for rounding) and are clamped to 0..=255. Downscaling widens the filter by the scale
//! factor (antialiasing). Doing exactly the same arithmetic gives exactly the same bytes.

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Fractional bits of the fixed-point weights (Pillow: 32 − 8 − 2).
const PRECISION_BITS: u32 = 32 - 8 - 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Pillow's `BILINEAR` (triangle, support 1).
    Bilinear,
    /// Pillow's `BICUBIC` (Keys cubic with a = −0.5, support 2). `Image.resize`'s default.
    Bicubic,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Fixed-point weights for one axis: for each output position, the first input index, the
/// number of inputs used and `ksize` weights (zero-padded).
#[derive(Debug, Clone)]
pub(crate) struct Coeffs {
    pub ksize: usize,
    pub bounds: Vec<(usize, usize)>,
    pub weights: Vec<i32>,
}

impl Coeffs {
    /// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the full input range.
    pub fn new(in_size: usize, out_size: usize, filter: Filter) -> Self {
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = filter.support() * filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; out_size * ksize];
        let mut k = vec![0f64; ksize];
        let ss = 1.0 / filterscale;
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            // C casts truncate toward zero; Rust's `as` does the same (and saturates).
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
            let mut ww = 0.0;
            for (x, kx) in k.iter_mut().enumerate().take(xmax) {
                let w = filter.eval((x as f64 + xmin as f64 - center + 0.5) * ss);
                *kx = w;
                ww += w;
            }
            let row = &mut weights[xx * ksize..(xx + 1) * ksize];
            for x in 0..xmax {
                let w = if ww != 0.0 { k[x] / ww } else { k[x] };
                let fixed = w * f64::from(1u32 << PRECISION_BITS);
                row[x] = if w < 0.0 {
                    (-0.5 + fixed) as i32
                } else {
                    (0.5 + fixed) as i32
                };
            }
            bounds.push((xmin, xmax));
        }
        Self {
            ksize,
            bounds,
            weights,
        }
    }

    #[inline]
    pub fn row(&self, i: usize) -> (usize, &[i32]) {
        let (min, n) = self.bounds[i];
        (min, &self.weights[i * self.ksize..i * self.ksize + n])
    }
}

#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// Resizes an interleaved 8-bit RGB image exactly as Pillow's `Image.resize` does.
pub fn resize_rgb(
    src: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
    filter: Filter,
) -> Vec<u8> {
    assert_eq!(src.len(), width * height * 3, "RGB buffer size");
    assert!(width > 0 && height > 0 && out_w > 0 && out_h > 0);
    let need_h = out_w != width;
    let need_v = out_h != height;
    // Pillow runs the vertical pass first when the height shrinks by more than twice as many
    // pixels as the width (it makes the horizontal pass cheaper). The order changes the
    // rounding of the intermediate, so it must be the same here.
    let dy = height as i64 - out_h as i64;
    let dx = width as i64 - out_w as i64;
    let vertical_first = dy > 0 && dy > dx * 2;
    if !need_h && !need_v {
        return src.to_vec();
    }
    if vertical_first {
        let mid = if need_v {
            vertical_pass(src, width, 0, out_h, &Coeffs::new(height, out_h, filter))
        } else {
            src.to_vec()
        };
        if !need_h {
            return mid;
        }
        let horiz = Coeffs::new(width, out_w, filter);
        return horizontal_pass(&mid, width, 0..out_h, out_w, &horiz);
    }
    let vert = Coeffs::new(height, out_h, filter);
    if !need_h {
        return vertical_pass(src, width, 0, out_h, &vert);
    }
    // Horizontal first, over only the rows the vertical pass reads.
    let (y0, y1) = if need_v {
        let (last_min, last_n) = vert.bounds[out_h - 1];
        (vert.bounds[0].0, last_min + last_n)
    } else {
        (0, height)
    };
    let horiz = Coeffs::new(width, out_w, filter);
    let mid = horizontal_pass(src, width, y0..y1, out_w, &horiz);
    if !need_v {
        return mid;
    }
    vertical_pass(&mid, out_w, y0, out_h, &vert)
}

/// Resamples the rows `rows` of `src` (width `width`) to `out_w` columns, splitting the rows
/// between the machine's cores.
fn horizontal_pass(
    src: &[u8],
    width: usize,
    rows: std::ops::Range<usize>,
    out_w: usize,
    horiz: &Coeffs,
) -> Vec<u8> {
    let out_stride = out_w * 3;
    let mut out = vec![0u8; rows.len() * out_stride];
    let threads = worker_count(rows.len() * out_w * horiz.ksize);
    let per = rows.len().div_ceil(threads).max(1);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        let packed = &avx2::Packed::new(horiz);
        std::thread::scope(|s| {
            for (i, chunk) in out.chunks_mut(per * out_stride).enumerate() {
                let first = rows.start + i * per;
                let n = chunk.len() / out_stride;
                let src_rows = &src[first * width * 3..(first + n) * width * 3];
                // SAFETY: the CPU supports AVX2 (checked just above).
                s.spawn(move || unsafe {
                    avx2::horizontal_rows(src_rows, width, chunk, out_w, horiz, packed)
                });
            }
        });
        return out;
    }
    std::thread::scope(|s| {
        for (i, chunk) in out.chunks_mut(per * out_stride).enumerate() {
            let first = rows.start + i * per;
            let n = chunk.len() / out_stride;
            let src_rows = &src[first * width * 3..(first + n) * width * 3];
            s.spawn(move || kernels::horizontal_rows(src_rows, width, chunk, out_w, horiz));
        }
    });
    out
}

/// Resamples columns of `src` (width `width`, whose first row is source row `first_row`)
/// to `out_h` rows, splitting the output rows between the machine's cores.
fn vertical_pass(
    src: &[u8],
    width: usize,
    first_row: usize,
    out_h: usize,
    vert: &Coeffs,
) -> Vec<u8> {
    let stride = width * 3;
    let mut out = vec![0u8; out_h * stride];
    let threads = worker_count(out_h * width * vert.ksize);
    let per = out_h.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (i, chunk) in out.chunks_mut(per * stride).enumerate() {
            s.spawn(move || kernels::vertical_rows(src, stride, first_row, chunk, i * per, vert));
        }
    });
    out
}

/// Threads worth starting for about `work` multiply-adds (small images stay on one thread).
fn worker_count(work: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if work < 2_000_000 {
        1
    } else {
        cores.min(8)
    }
}

/// The portable inner loops. They are written so the compiler vectorises them (32-bit lanes:
/// Pillow's accumulators never exceed 32 bits); the vertical one is compiled twice on x86-64,
/// a baseline version and an AVX2 one chosen at run time. Integer arithmetic in the same order gives the same bytes
/// either way.
mod kernels {
    use super::{clip8, Coeffs, HALF};

    #[inline(always)]
    fn dot(px: &[u8], k: &[i32]) -> i32 {
        px.iter().zip(k).fold(HALF, |acc, (&p, &w)| {
            acc.wrapping_add(i32::from(p).wrapping_mul(w))
        })
    }

    #[inline(always)]
    fn horizontal_generic(src: &[u8], width: usize, out: &mut [u8], out_w: usize, c: &Coeffs) {
        let mut planes = [vec![0u8; width], vec![0u8; width], vec![0u8; width]];
        for (row_in, row_out) in src
            .chunks_exact(width * 3)
            .zip(out.chunks_exact_mut(out_w * 3))
        {
            for (x, px) in row_in.chunks_exact(3).enumerate() {
                planes[0][x] = px[0];
                planes[1][x] = px[1];
                planes[2][x] = px[2];
            }
            for (xx, o) in row_out.chunks_exact_mut(3).enumerate() {
                let (xmin, k) = c.row(xx);
                for ch in 0..3 {
                    o[ch] = clip8(dot(&planes[ch][xmin..xmin + k.len()], k));
                }
            }
        }
    }

    #[inline(always)]
    fn vertical_generic(
        src: &[u8],
        stride: usize,
        first_row: usize,
        out: &mut [u8],
        first_out: usize,
        c: &Coeffs,
    ) {
        let mut acc = vec![0i32; stride];
        for (r, row_out) in out.chunks_exact_mut(stride).enumerate() {
            let (ymin, k) = c.row(first_out + r);
            let ymin = ymin - first_row;
            acc.fill(HALF);
            for (j, &w) in k.iter().enumerate() {
                let row = &src[(ymin + j) * stride..(ymin + j + 1) * stride];
                for (a, &p) in acc.iter_mut().zip(row) {
                    *a = a.wrapping_add(i32::from(p).wrapping_mul(w));
                }
            }
            for (o, &a) in row_out.iter_mut().zip(&acc) {
                *o = clip8(a);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn vertical_avx2(
        src: &[u8],
        stride: usize,
        first_row: usize,
        out: &mut [u8],
        first_out: usize,
        c: &Coeffs,
    ) {
        vertical_generic(src, stride, first_row, out, first_out, c)
    }

    /// The portable horizontal pass (the AVX2 one is in `avx2`).
    pub fn horizontal_rows(src: &[u8], width: usize, out: &mut [u8], out_w: usize, c: &Coeffs) {
        horizontal_generic(src, width, out, out_w, c)
    }

    pub fn vertical_rows(
        src: &[u8],
        stride: usize,
        first_row: usize,
        out: &mut [u8],
        first_out: usize,
        c: &Coeffs,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { vertical_avx2(src, stride, first_row, out, first_out, c) };
        }
        vertical_generic(src, stride, first_row, out, first_out, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(4080, 512), (512, 256), (100, 512), (3, 7)] {
            for f in [Filter::Bilinear, Filter::Bicubic] {
                let c = Coeffs::new(i, o, f);
                for xx in 0..o {
                    let s: i64 = c.row(xx).1.iter().map(|&w| i64::from(w)).sum();
                    assert!(
                        (s - (1 << PRECISION_BITS)).abs() <= c.ksize as i64,
                        "{i}->{o}"
                    );
                }
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let src = vec![137u8; 37 * 23 * 3];
        for f in [Filter::Bilinear, Filter::Bicubic] {
            let out = resize_rgb(&src, 37, 23, 11, 50, f);
            assert!(out.iter().all(|&v| v == 137));
        }
    }

    #[test]
    fn same_size_is_identity() {
        let src: Vec<u8> = (0..16 * 9 * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(resize_rgb(&src, 16, 9, 16, 9, Filter::Bicubic), src);
    }

    /// The AVX2 horizontal pass gives the same bytes as the portable one, for both filters,
    /// down- and upscaling, odd sizes and high-contrast noise (which exercises the clamping).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_horizontal_pass_matches_the_portable_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (w, h, ow) in [
            (4080, 3, 512),
            (512, 4, 256),
            (1000, 5, 333),
            (7, 2, 3),
            (5, 2, 17),
            (37, 3, 11),
            (300, 2, 299),
            (64, 2, 1),
        ] {
            let src: Vec<u8> = (0..w * h * 3)
                .map(|_| {
                    let r = next();
                    if r % 3 == 0 {
                        if r % 2 == 0 {
                            0
                        } else {
                            255
                        }
                    } else {
                        (r >> 8) as u8
                    }
                })
                .collect();
            for f in [Filter::Bilinear, Filter::Bicubic] {
                let c = Coeffs::new(w, ow, f);
                let mut want = vec![0u8; h * ow * 3];
                kernels::horizontal_rows(&src, w, &mut want, ow, &c);
                let mut got = vec![0u8; h * ow * 3];
                let packed = avx2::Packed::new(&c);
                // SAFETY: AVX2 is present (checked above).
                unsafe { avx2::horizontal_rows(&src, w, &mut got, ow, &c, &packed) };
                assert_eq!(got, want, "{w}×{h} → {ow}, {f:?}");
            }
        }
    }

    #[test]
    fn bicubic_overshoot_is_clamped() {
        // A hard edge upscaled with bicubic rings above 255 / below 0; Pillow clamps.
        let mut src = vec![0u8; 4 * 3];
        src[6..].fill(255);
        let out = resize_rgb(&src, 4, 1, 16, 1, Filter::Bicubic);
        assert_eq!(out[0], 0);
        assert_eq!(out[out.len() - 1], 255);
    }
}
