//! PNG and JPEG decoding through the `image` crate (no EXIF orientation is applied, as in
//! Pillow). The size budget is checked from the header before any pixel buffer exists.

use std::io::{BufRead, Read, Seek, SeekFrom};

use image::{ColorType, ExtendedColorType, ImageDecoder};

use super::convert::{hi, pixels_in_place};
use super::{Container, DecodeOptions, DecodedImage, ImageError};

pub(crate) fn decode_raster<R: BufRead + Seek>(
    mut r: R,
    container: Container,
    opts: &DecodeOptions,
) -> Result<DecodedImage, ImageError> {
    let (png_mode, pixel_size_um) = if container == Container::Png {
        png_header_info(&mut r)?
    } else {
        (None, None)
    };
    r.seek(SeekFrom::Start(0))?;
    match container {
        Container::Png => {
            let dec = image::codecs::png::PngDecoder::new(r).map_err(image_err)?;
            finish(dec, png_mode, pixel_size_um, opts)
        }
        _ => {
            let dec = image::codecs::jpeg::JpegDecoder::new(r).map_err(image_err)?;
            finish(dec, None, None, opts)
        }
    }
}

fn finish<D: ImageDecoder>(
    mut dec: D,
    png_mode: Option<String>,
    pixel_size_um: Option<(f64, f64)>,
    opts: &DecodeOptions,
) -> Result<DecodedImage, ImageError> {
    let (width, height) = dec.dimensions();
    let (w64, h64) = (u64::from(width), u64::from(height));
    let color = dec.color_type();
    let pixels = w64 * h64;
    if pixels > opts.max_field_pixels {
        return Err(ImageError::WholeSlide(format!(
            "the image is {width}×{height} = {pixels} pixels, more than the {} pixels of a \
             microscope field image",
            opts.max_field_pixels
        )));
    }
    let samples = u64::from(color.channel_count()).max(3);
    if pixels * samples > opts.max_samples {
        return Err(ImageError::TooLarge {
            width: w64,
            height: h64,
            samples,
            budget: opts.max_samples,
        });
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(opts.max_samples.saturating_mul(4));
    dec.set_limits(limits).map_err(image_err)?;

    let original = dec.original_color_type();
    let total = usize::try_from(dec.total_bytes()).map_err(|_| ImageError::TooLarge {
        width: w64,
        height: h64,
        samples,
        budget: opts.max_samples,
    })?;
    let n = width as usize * height as usize;
    let mut buf = super::buffer::zeroed(total.max(n * 3))?;
    dec.read_image(&mut buf[..total]).map_err(image_err)?;
    let bpp = total / n.max(1);
    let mode = match color {
        ColorType::L8 => {
            pixels_in_place(&mut buf, n, 1, |p| [p[0]; 3]);
            "L8"
        }
        ColorType::La8 => {
            pixels_in_place(&mut buf, n, 2, |p| [p[0]; 3]);
            "LA8"
        }
        ColorType::Rgb8 => "RGB8",
        ColorType::Rgba8 => {
            pixels_in_place(&mut buf, n, 4, |p| [p[0], p[1], p[2]]);
            "RGBA8"
        }
        ColorType::L16 => {
            pixels_in_place(&mut buf, n, 2, |p| [hi(p); 3]);
            "L16"
        }
        ColorType::La16 => {
            pixels_in_place(&mut buf, n, 4, |p| [hi(p); 3]);
            "LA16"
        }
        ColorType::Rgb16 | ColorType::Rgba16 => {
            pixels_in_place(&mut buf, n, bpp, |p| [hi(p), hi(&p[2..]), hi(&p[4..])]);
            if color == ColorType::Rgb16 {
                "RGB16"
            } else {
                "RGBA16"
            }
        }
        other => {
            return Err(ImageError::Unsupported(format!(
                "{other:?} pixels are not supported; export the image as 8-bit RGB"
            )))
        }
    };
    let source_mode = png_mode.unwrap_or_else(|| match original {
        ExtendedColorType::Cmyk8 => "CMYK8".to_string(),
        _ => mode.to_string(),
    });
    buf.truncate(n * 3);
    buf.shrink_to_fit();
    Ok(DecodedImage {
        width,
        height,
        rgb: buf,
        format: String::new(),
        source_mode,
        page: 0,
        pixel_size_um,
        warnings: Vec::new(),
    })
}

/// Source mode from IHDR (e.g. "P8") and pixel size in µm from pHYs.
type PngInfo = (Option<String>, Option<(f64, f64)>);

/// Reads the PNG IHDR (for the source mode, e.g. "P8") and a pHYs chunk (pixel size) if it
/// comes before the image data.
fn png_header_info<R: Read + Seek>(r: &mut R) -> Result<PngInfo, ImageError> {
    let mut head = [0u8; 33];
    r.seek(SeekFrom::Start(0))?;
    if r.read_exact(&mut head).is_err() {
        return Err(ImageError::Truncated("the PNG header is incomplete".into()));
    }
    let depth = head[24];
    let mode = match head[25] {
        0 => Some(format!("L{depth}")),
        2 => Some(format!("RGB{depth}")),
        3 => Some(format!("P{depth}")),
        4 => Some(format!("LA{depth}")),
        6 => Some(format!("RGBA{depth}")),
        _ => None,
    };
    // Walk the chunks after IHDR up to the first IDAT, looking for pHYs.
    let mut pos = 33u64;
    let mut size = None;
    for _ in 0..64 {
        let mut ch = [0u8; 8];
        if r.seek(SeekFrom::Start(pos)).is_err() || r.read_exact(&mut ch).is_err() {
            break;
        }
        let len = u64::from(u32::from_be_bytes([ch[0], ch[1], ch[2], ch[3]]));
        match &ch[4..8] {
            b"IDAT" | b"IEND" => break,
            b"pHYs" if len == 9 => {
                let mut p = [0u8; 9];
                if r.read_exact(&mut p).is_ok() && p[8] == 1 {
                    let x = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                    let y = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                    if x > 0 && y > 0 {
                        size = Some((1e6 / f64::from(x), 1e6 / f64::from(y)));
                    }
                }
                break;
            }
            _ => {}
        }
        pos += 12 + len;
    }
    Ok((mode, size))
}

fn image_err(e: image::ImageError) -> ImageError {
    use image::ImageError as E;
    match e {
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated(format!("the image data ends early ({io})"))
        }
        E::IoError(io) => ImageError::Corrupt(format!("the image data could not be read: {io}")),
        E::Unsupported(u) => {
            ImageError::Unsupported(format!("{u}; export the image as 8-bit RGB PNG or TIFF"))
        }
        E::Limits(l) => ImageError::Corrupt(format!(
            "the image needs more memory than its size allows ({l})"
        )),
        other => {
            let msg = other.to_string();
            let lower = msg.to_ascii_lowercase();
            if lower.contains("eof") || lower.contains("end of") || lower.contains("truncat") {
                ImageError::Truncated(format!("the image data ends early ({msg})"))
            } else {
                ImageError::Corrupt(format!("the image data is invalid ({msg})"))
            }
        }
    }
}
