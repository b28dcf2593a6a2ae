//! The horizontal pass with AVX2 integer multiply-adds, byte for byte the same as the scalar one.
//!
//! Pillow's weights have 22 fractional bits, too wide for the 16-bit multiplies of
//! `vpmaddwd`, so each weight is split as `w = hi · 2¹¹ + lo` with `0 ≤ lo < 2¹¹`: both halves
//! fit in 16 bits, and `Σ p·w = (Σ p·hi) · 2¹¹ + Σ p·lo` holds exactly in 32-bit arithmetic
//! (the sums Pillow itself keeps in 32 bits). One `vpmaddwd` then does four taps of all three
//! channels of one output pixel, reading the interleaved RGB row directly: a 16-byte load
//! holds pixels `j … j+4`; a byte shuffle puts `R_j R_j+1 G_j G_j+1 B_j B_j+1` (lower half) and
//! the same for `j+2, j+3` (upper half) into 16-bit lanes, against weights laid out
//! `w_j w_j+1` three times. No de-interleaving, no horizontal sums.

use std::arch::x86_64::*;

use super::{Coeffs, HALF, PRECISION_BITS};

/// Bits of the low half of a split weight.
const SPLIT: i32 = 11;

/// The weights of every output position, in groups of four taps, split and laid out for
/// `vpmaddwd` (16 `i16` per group: taps 0, 1 in the lower 128 bits, taps 2, 3 in the upper).
pub(crate) struct Packed {
    groups: usize,
    hi: Vec<i16>,
    lo: Vec<i16>,
}

impl Packed {
    pub fn new(c: &Coeffs) -> Self {
        let groups = c.ksize.div_ceil(4);
        let out = c.bounds.len();
        let mut hi = vec![0i16; out * groups * 16];
        let mut lo = vec![0i16; out * groups * 16];
        for xx in 0..out {
            let (_, k) = c.row(xx);
            for (j, &w) in k.iter().enumerate() {
                let (h, l) = ((w >> SPLIT) as i16, (w & ((1 << SPLIT) - 1)) as i16);
                let g = j / 4;
                let lane = (j % 4) / 2 * 8; // taps 0, 1 → lower half; 2, 3 → upper half
                let pos = j % 2;
                let base = (xx * groups + g) * 16 + lane;
                for ch in 0..3 {
                    hi[base + ch * 2 + pos] = h;
                    lo[base + ch * 2 + pos] = l;
                }
            }
        }
        Self { groups, hi, lo }
    }
}

/// Resamples each row of `src` (interleaved RGB, `width` pixels) to `out_w` pixels in `out`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn horizontal_rows(
    src: &[u8],
    width: usize,
    out: &mut [u8],
    out_w: usize,
    c: &Coeffs,
    p: &Packed,
) {
    let row_len = width * 3;
    // Byte shuffle per 128-bit half: pixels 0, 1 (lower) and 2, 3 (upper) of the 16 bytes
    // loaded, as zero-extended 16-bit pairs per channel; the last two lanes stay zero.
    let mask = _mm256_setr_epi8(
        0, -128, 3, -128, 1, -128, 4, -128, 2, -128, 5, -128, -128, -128, -128, -128, //
        6, -128, 9, -128, 7, -128, 10, -128, 8, -128, 11, -128, -128, -128, -128, -128,
    );
    let half = _mm_set1_epi32(HALF);
    let span = (p.groups - 1) * 4 * 3 + 16;
    for (row_in, row_out) in src
        .chunks_exact(row_len)
        .zip(out.chunks_exact_mut(out_w * 3))
    {
        for (xx, o) in row_out.chunks_exact_mut(3).enumerate() {
            let (xmin, k) = c.row(xx);
            if xmin * 3 + span > row_len {
                // The last few positions of a row: the wide loads would run past its end.
                for (ch, v) in o.iter_mut().enumerate() {
                    let acc = k.iter().enumerate().fold(HALF, |acc, (j, &w)| {
                        acc.wrapping_add(i32::from(row_in[(xmin + j) * 3 + ch]).wrapping_mul(w))
                    });
                    *v = super::clip8(acc);
                }
                continue;
            }
            let base = xx * p.groups * 16;
            let mut acc_hi = _mm256_setzero_si256();
            let mut acc_lo = _mm256_setzero_si256();
            for g in 0..p.groups {
                // SAFETY: xmin·3 + (groups − 1)·12 + 16 ≤ row_len (checked above), so the
                // 16-byte load stays inside this row; the weight index is inside `Packed`.
                let at = row_in.as_ptr().add(xmin * 3 + g * 12);
                let px = _mm256_broadcastsi128_si256(_mm_loadu_si128(at.cast()));
                let v = _mm256_shuffle_epi8(px, mask);
                let wh = _mm256_loadu_si256(p.hi.as_ptr().add(base + g * 16).cast());
                let wl = _mm256_loadu_si256(p.lo.as_ptr().add(base + g * 16).cast());
                acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(v, wh));
                acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(v, wl));
            }
            let acc = _mm256_add_epi32(_mm256_slli_epi32(acc_hi, SPLIT), acc_lo);
            let sum = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256(acc, 1),
            );
            let shifted = _mm_srai_epi32(_mm_add_epi32(sum, half), PRECISION_BITS as i32);
            // Saturating packs clamp to 0..=255 exactly as clip8 does.
            let words = _mm_packus_epi32(shifted, shifted);
            let bytes = _mm_packus_epi16(words, words);
            let rgb = (_mm_cvtsi128_si32(bytes) as u32).to_le_bytes();
            o.copy_from_slice(&rgb[..3]);
        }
    }
}
