//! In-place conversions of decoded samples to interleaved 8-bit RGB.
//!
//! The decoders write the source samples at the start of a buffer that is at least
//! `max(source size, width × height × 3)` long; these functions then rewrite it as RGB without a
//! second full-size buffer (forward when a source pixel is at least 3 bytes, backward when it is
//! smaller, so no source byte is overwritten before it is read), and the caller truncates it.

/// Rewrites `n` pixels of `bpp` bytes each (packed, at the start of `buf`) as RGB.
pub(crate) fn pixels_in_place<F: Fn(&[u8]) -> [u8; 3]>(buf: &mut [u8], n: usize, bpp: usize, f: F) {
    assert!(buf.len() >= n * bpp.max(3));
    if bpp >= 3 {
        for i in 0..n {
            let px = f(&buf[i * bpp..i * bpp + bpp]);
            buf[i * 3..i * 3 + 3].copy_from_slice(&px);
        }
    } else {
        for i in (0..n).rev() {
            let px = f(&buf[i * bpp..i * bpp + bpp]);
            buf[i * 3..i * 3 + 3].copy_from_slice(&px);
        }
    }
}

/// Rewrites bit-packed single-sample rows (`bits` of 1, 2 or 4; rows padded to whole bytes) as
/// RGB, mapping each sample value through `f`.
pub(crate) fn packed_in_place<F: Fn(u8) -> [u8; 3]>(
    buf: &mut [u8],
    width: usize,
    height: usize,
    bits: usize,
    f: F,
) {
    let stride = (width * bits).div_ceil(8);
    assert!(buf.len() >= width * height * 3 && buf.len() >= stride * height);
    let mask = ((1u16 << bits) - 1) as u8;
    for y in (0..height).rev() {
        for x in (0..width).rev() {
            let bit = x * bits;
            let byte = buf[y * stride + bit / 8];
            let shift = 8 - bits - (bit % 8);
            let v = (byte >> shift) & mask;
            let o = (y * width + x) * 3;
            buf[o..o + 3].copy_from_slice(&f(v));
        }
    }
}

/// Scale factor from an n-bit gray value to 8 bits (as Pillow's `L;n` unpackers do).
pub(crate) fn gray_scale(bits: usize) -> u8 {
    match bits {
        1 => 255,
        2 => 85,
        4 => 17,
        _ => 1,
    }
}

#[inline]
pub(crate) fn hi(b: &[u8]) -> u8 {
    // Samples are native-endian u16 after decoding.
    (u16::from_ne_bytes([b[0], b[1]]) >> 8) as u8
}

const SCALEBITS: i32 = 16;
const ONE_HALF: i32 = 1 << (SCALEBITS - 1);
const fn fix(x: f64) -> i32 {
    (x * (1i64 << SCALEBITS) as f64 + 0.5) as i32
}
const CR_R: i32 = fix(1.40200);
const CB_B: i32 = fix(1.77200);
const CB_G: i32 = fix(0.34414);
const CR_G: i32 = fix(0.71414);

/// JPEG/JFIF full-range YCbCr → RGB with libjpeg's fixed-point arithmetic (`jdcolor.c`).
#[inline]
pub(crate) fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let y = i32::from(y);
    let cb = i32::from(cb) - 128;
    let cr = i32::from(cr) - 128;
    let r = y + ((CR_R * cr + ONE_HALF) >> SCALEBITS);
    let g = y + ((-CB_G * cb - CR_G * cr + ONE_HALF) >> SCALEBITS);
    let b = y + ((CB_B * cb + ONE_HALF) >> SCALEBITS);
    [
        r.clamp(0, 255) as u8,
        g.clamp(0, 255) as u8,
        b.clamp(0, 255) as u8,
    ]
}

/// CMYK → RGB as Pillow's `convert('RGB')` does (`cmyk2rgb` in Convert.c).
#[inline]
pub(crate) fn cmyk_to_rgb(c: u8, m: u8, y: u8, k: u8) -> [u8; 3] {
    fn muldiv255(a: i32, b: i32) -> i32 {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    }
    let nk = 255 - i32::from(k);
    let ch = |v: u8| (nk - muldiv255(i32::from(v), nk)).clamp(0, 255) as u8;
    [ch(c), ch(m), ch(y)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ycbcr_matches_libjpeg_reference_values() {
        assert_eq!(ycbcr_to_rgb(128, 128, 128), [128, 128, 128]);
        assert_eq!(ycbcr_to_rgb(0, 128, 128), [0, 0, 0]);
        assert_eq!(ycbcr_to_rgb(255, 128, 128), [255, 255, 255]);
        // Pure red encoded by libjpeg: Y=76, Cb=85, Cr=255 → ~ (254, 0, 0).
        let [r, g, b] = ycbcr_to_rgb(76, 85, 255);
        assert!(r >= 253 && g <= 1 && b <= 1, "{r} {g} {b}");
    }

    #[test]
    fn in_place_expansion_and_compaction() {
        // Gray (1 byte per pixel) expands backwards.
        let mut buf = vec![0u8; 9];
        buf[..3].copy_from_slice(&[1, 2, 3]);
        pixels_in_place(&mut buf, 3, 1, |p| [p[0], p[0], p[0]]);
        assert_eq!(buf, [1, 1, 1, 2, 2, 2, 3, 3, 3]);
        // RGBA compacts forwards.
        let mut buf = vec![1, 2, 3, 9, 4, 5, 6, 9];
        pixels_in_place(&mut buf, 2, 4, |p| [p[0], p[1], p[2]]);
        assert_eq!(&buf[..6], [1, 2, 3, 4, 5, 6]);
        // 1-bit rows padded to bytes.
        let mut buf = vec![0u8; 3 * 3 * 2];
        buf[0] = 0b1010_0000;
        buf[1] = 0b0100_0000;
        packed_in_place(&mut buf, 3, 2, 1, |v| [v * 255; 3]);
        assert_eq!(
            buf,
            [255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255, 0, 0, 0]
        );
    }

    #[test]
    fn cmyk_like_pillow() {
        assert_eq!(cmyk_to_rgb(0, 0, 0, 0), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb(255, 255, 255, 0), [0, 0, 0]);
        assert_eq!(cmyk_to_rgb(0, 0, 0, 255), [0, 0, 0]);
    }
}
