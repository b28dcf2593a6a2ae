//! TIFF / BigTIFF decoding: checks on the raw directory first (whole-slide, size budget,
//! unsupported compression, truncation), then pixel data through the `tiff` crate, with our own
//! handling of what it does not do (palette, planar-separate, YCbCr, CMYK, sub-byte gray).

use std::io::{Read, Seek};

use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
use tiff::tags::Tag;
use tiff::ColorType;

use super::convert::{cmyk_to_rgb, gray_scale, hi, packed_in_place, pixels_in_place, ycbcr_to_rgb};
use super::tiffmeta::{walk_chain, Header, Ifd, PatchReader};
use super::{Container, DecodeOptions, DecodedImage, ImageError};

const TAG_WIDTH: u16 = 256;
const TAG_HEIGHT: u16 = 257;
const TAG_COMPRESSION: u16 = 259;
const TAG_PHOTOMETRIC: u16 = 262;
const TAG_DESCRIPTION: u16 = 270;
const TAG_SAMPLES: u16 = 277;
const TAG_XRES: u16 = 282;
const TAG_YRES: u16 = 283;
const TAG_PLANAR: u16 = 284;
const TAG_RES_UNIT: u16 = 296;
const TAG_SOFTWARE: u16 = 305;
const TAG_SAMPLE_FORMAT: u16 = 339;
/// Hamamatsu NDPI private tags (format flag, source lens, property map).
const NDPI_TAGS: [u16; 3] = [65420, 65421, 65449];
/// Largest single tag value the `tiff` crate may load (a 2 MiB ImageDescription is valid).
const IFD_VALUE_LIMIT: usize = 8 << 20;

const PHOTO_WHITE_IS_ZERO: u64 = 0;
const PHOTO_BLACK_IS_ZERO: u64 = 1;
const PHOTO_RGB: u64 = 2;
const PHOTO_PALETTE: u64 = 3;
const PHOTO_YCBCR: u64 = 6;

pub(crate) fn decode_tiff<R: Read + Seek>(
    r: &mut R,
    file_len: u64,
    container: Container,
    opts: &DecodeOptions,
) -> Result<DecodedImage, ImageError> {
    let hdr = Header::read(r).map_err(|_| {
        ImageError::Truncated(format!("the TIFF header is incomplete ({file_len} bytes)"))
    })?;
    let ifd0 = hdr.read_ifd(r, hdr.first_ifd, file_len).map_err(|why| {
        let msg = format!("the first image directory is missing or unreadable: {why}");
        if hdr.first_ifd >= file_len {
            ImageError::Truncated(msg)
        } else {
            ImageError::Corrupt(msg)
        }
    })?;
    let uint = |tag: u16| ifd0.get(tag).and_then(|e| hdr.first_uint(e));

    check_whole_slide(r, &hdr, &ifd0, file_len)?;

    let (Some(width), Some(height)) = (uint(TAG_WIDTH), uint(TAG_HEIGHT)) else {
        return Err(ImageError::Corrupt(
            "page 0 has no readable ImageWidth/ImageLength".into(),
        ));
    };
    if width == 0 || height == 0 || width > u64::from(u32::MAX) || height > u64::from(u32::MAX) {
        return Err(ImageError::Corrupt(format!(
            "page 0 declares an impossible size of {width}×{height} pixels"
        )));
    }
    let spp = uint(TAG_SAMPLES).unwrap_or(1).max(1);
    check_budget(width, height, spp, opts)?;

    let compression = uint(TAG_COMPRESSION).unwrap_or(1);
    match compression {
        33003 | 33004 | 33005 | 34712 => {
            return Err(ImageError::Unsupported(format!(
                "JPEG2000-compressed TIFF is not supported yet (compression {compression}); \
                 re-export the image uncompressed or with LZW, Deflate or JPEG compression"
            )))
        }
        6 => {
            return Err(ImageError::Unsupported(
                "old-style JPEG-in-TIFF (compression 6) is not supported; re-export the image \
                 uncompressed or with LZW, Deflate or JPEG (7) compression"
                    .into(),
            ))
        }
        _ => {}
    }
    if let Some(fmt) = uint(TAG_SAMPLE_FORMAT) {
        if fmt != 1 {
            return Err(ImageError::Unsupported(format!(
                "{} samples are not supported; export the image as 8-bit RGB",
                match fmt {
                    2 => "signed-integer",
                    3 => "floating-point",
                    _ => "non-integer",
                }
            )));
        }
    }
    let photometric = uint(TAG_PHOTOMETRIC);
    let planar = uint(TAG_PLANAR) == Some(2) && spp > 1;

    let mut warnings = Vec::new();
    let (pages, broken) = walk_chain(r, &hdr, hdr.first_ifd, ifd0.next, file_len);
    if let Some(why) = broken {
        warnings.push(format!(
            "the chain of pages after page 0 is broken ({why}); page 0 was decoded and the \
             rest ignored"
        ));
    }
    let same_size = pages
        .iter()
        .filter(|p| !p.reduced && p.width == Some(width) && p.height == Some(height))
        .count();
    if same_size > 0 {
        warnings.push(format!(
            "the file has {} full-size pages; only page 0 was decoded (if the others are \
             further fields or channels, export them as separate files)",
            same_size + 1
        ));
    }
    let pixel_size_um = pixel_size(r, &hdr, &ifd0, file_len, &mut warnings);

    // The `tiff` crate sees page 0 only (the chain is cut), and palette indices as gray.
    let mut patches = vec![(ifd0.next_pos, hdr.zero_pointer())];
    if photometric == Some(PHOTO_PALETTE) {
        let e = ifd0.get(TAG_PHOTOMETRIC).expect("photometric present");
        patches.push((
            e.field_pos,
            hdr.encode_field(e.typ, PHOTO_BLACK_IS_ZERO as u32),
        ));
    }
    let reader = PatchReader::new(&mut *r, patches)?;
    let mut limits = Limits::default();
    limits.ifd_value_size = IFD_VALUE_LIMIT;
    limits.intermediate_buffer_size = usize::try_from(file_len).unwrap_or(usize::MAX);
    limits.decoding_buffer_size =
        usize::try_from(opts.max_samples.saturating_mul(2)).unwrap_or(usize::MAX);
    let mut dec = Decoder::new(reader).map_err(tiff_err)?.with_limits(limits);

    check_chunks_in_file(&mut dec, file_len)?;

    let (w, h) = (width as usize, height as usize);
    let color = dec.colortype().map_err(tiff_err)?;
    let (rgb, source_mode) = if planar {
        read_planar(&mut dec, w, h, spp as usize, photometric, color)?
    } else {
        read_chunky(&mut dec, w, h, photometric, color)?
    };

    let _ = container;
    Ok(DecodedImage {
        width: width as u32,
        height: height as u32,
        rgb,
        format: String::new(),
        source_mode,
        page: 0,
        pixel_size_um,
        warnings,
    })
}

fn check_whole_slide<R: Read + Seek>(
    r: &mut R,
    hdr: &Header,
    ifd0: &Ifd,
    file_len: u64,
) -> Result<(), ImageError> {
    if ifd0.entries.iter().any(|e| NDPI_TAGS.contains(&e.tag)) {
        return Err(ImageError::WholeSlide("Hamamatsu NDPI file".into()));
    }
    let prefix = |r: &mut R, tag| {
        ifd0.get(tag)
            .and_then(|e| hdr.value_prefix(r, e, 1024, file_len))
            .unwrap_or_default()
    };
    let desc = prefix(r, TAG_DESCRIPTION);
    if desc.starts_with(b"Aperio") {
        return Err(ImageError::WholeSlide("Aperio SVS file".into()));
    }
    let lower = String::from_utf8_lossy(&desc).to_ascii_lowercase();
    let software = prefix(r, TAG_SOFTWARE);
    if lower.contains("dpufsimport")
        || software.starts_with(b"Philips")
        || software.starts_with(b"PHILIPS")
    {
        return Err(ImageError::WholeSlide("Philips TIFF file".into()));
    }
    if lower.starts_with("<?xml") && lower.contains("leica-microsystems.com/scn") {
        return Err(ImageError::WholeSlide("Leica SCN file".into()));
    }
    Ok(())
}

fn check_budget(width: u64, height: u64, spp: u64, opts: &DecodeOptions) -> Result<(), ImageError> {
    let pixels = width.saturating_mul(height);
    if pixels > opts.max_field_pixels {
        return Err(ImageError::WholeSlide(format!(
            "level 0 is {width}×{height} = {pixels} pixels, more than the {} pixels of a \
             microscope field image",
            opts.max_field_pixels
        )));
    }
    let samples = spp.max(3);
    if pixels.saturating_mul(samples) > opts.max_samples {
        return Err(ImageError::TooLarge {
            width,
            height,
            samples,
            budget: opts.max_samples,
        });
    }
    Ok(())
}

fn pixel_size<R: Read + Seek>(
    r: &mut R,
    hdr: &Header,
    ifd0: &Ifd,
    file_len: u64,
    warnings: &mut Vec<String>,
) -> Option<(f64, f64)> {
    let unit = ifd0
        .get(TAG_RES_UNIT)
        .and_then(|e| hdr.first_uint(e))
        .unwrap_or(2);
    let per = match unit {
        2 => 25_400.0,
        3 => 10_000.0,
        _ => return None,
    };
    let x = hdr.rational(r, ifd0.get(TAG_XRES)?, file_len)?;
    let y = hdr.rational(r, ifd0.get(TAG_YRES)?, file_len)?;
    let size = (per / x, per / y);
    if !(size.0.is_finite() && size.1.is_finite()) {
        return None;
    }
    if size.0 > 50.0 || size.1 > 50.0 {
        warnings.push(format!(
            "the resolution tags say {:.1} µm per pixel, which is not a plausible microscope \
             pixel size (probably a screen or print default); it is reported as found",
            size.0
        ));
    }
    Some(size)
}

fn check_chunks_in_file<R: Read + Seek>(
    dec: &mut Decoder<R>,
    file_len: u64,
) -> Result<(), ImageError> {
    let (off_tag, len_tag, what) = match dec.get_chunk_type() {
        ChunkType::Strip => (Tag::StripOffsets, Tag::StripByteCounts, "strip"),
        ChunkType::Tile => (Tag::TileOffsets, Tag::TileByteCounts, "tile"),
    };
    let offsets = dec.get_tag_u64_vec(off_tag).map_err(tiff_err)?;
    let counts = dec.get_tag_u64_vec(len_tag).map_err(tiff_err)?;
    for (i, (o, c)) in offsets.iter().zip(&counts).enumerate() {
        let end = o.saturating_add(*c);
        if end > file_len {
            return Err(ImageError::Truncated(format!(
                "the data of {what} {i} of page 0 ends at byte {end}, but the file is only \
                 {file_len} bytes long"
            )));
        }
    }
    Ok(())
}

fn alloc(len: usize) -> Result<Vec<u8>, ImageError> {
    super::buffer::zeroed(len)
}

fn unsupported_layout(what: &str) -> ImageError {
    ImageError::Unsupported(format!(
        "{what} is not supported; export the image as 8- or 16-bit RGB, gray or palette TIFF"
    ))
}

fn colormap<R: Read + Seek>(dec: &mut Decoder<R>, bits: u8) -> Result<Vec<u16>, ImageError> {
    let cmap = dec.get_tag_u16_vec(Tag::ColorMap).map_err(|e| {
        ImageError::Corrupt(format!("palette image without a readable ColorMap ({e})"))
    })?;
    if cmap.is_empty() || cmap.len() % 3 != 0 || cmap.len() / 3 < (1usize << bits) {
        return Err(ImageError::Corrupt(format!(
            "the ColorMap has {} entries; a {bits}-bit palette needs {}",
            cmap.len(),
            3usize << bits
        )));
    }
    Ok(cmap)
}

fn read_chunky<R: Read + Seek>(
    dec: &mut Decoder<R>,
    w: usize,
    h: usize,
    photometric: Option<u64>,
    color: ColorType,
) -> Result<(Vec<u8>, String), ImageError> {
    let n = w * h;
    let layout = dec.image_buffer_layout().map_err(tiff_err)?;
    let src_len = layout.complete_len;
    let mut buf = alloc(src_len.max(n * 3))?;
    dec.read_image_bytes(&mut buf[..src_len])
        .map_err(tiff_err)?;
    let bpp = src_len / n.max(1);

    let mode = match (photometric, color) {
        (Some(PHOTO_PALETTE), ColorType::Gray(bits @ (1 | 2 | 4 | 8))) => {
            let cmap = colormap(dec, bits)?;
            let k = cmap.len() / 3;
            let lut: Vec<[u8; 3]> = (0..k)
                .map(|i| {
                    [
                        (cmap[i] >> 8) as u8,
                        (cmap[k + i] >> 8) as u8,
                        (cmap[2 * k + i] >> 8) as u8,
                    ]
                })
                .collect();
            if bits == 8 {
                pixels_in_place(&mut buf, n, 1, |p| lut[usize::from(p[0])]);
            } else {
                packed_in_place(&mut buf, w, h, usize::from(bits), |v| lut[usize::from(v)]);
            }
            format!("P{bits}")
        }
        (Some(PHOTO_PALETTE), _) => return Err(unsupported_layout("this palette layout")),
        (_, ColorType::Gray(8)) => {
            pixels_in_place(&mut buf, n, 1, |p| [p[0]; 3]);
            "L8".into()
        }
        (_, ColorType::Gray(16)) => {
            pixels_in_place(&mut buf, n, 2, |p| [hi(p); 3]);
            "L16".into()
        }
        (_, ColorType::Gray(bits @ (1 | 2 | 4))) => {
            let s = gray_scale(usize::from(bits));
            packed_in_place(&mut buf, w, h, usize::from(bits), |v| [v * s; 3]);
            format!("L{bits}")
        }
        (
            Some(PHOTO_BLACK_IS_ZERO | PHOTO_WHITE_IS_ZERO) | None,
            ColorType::Multiband {
                bit_depth: bits @ (8 | 16),
                num_samples,
            },
        ) => {
            if bits == 8 {
                pixels_in_place(&mut buf, n, bpp, |p| [p[0]; 3]);
            } else {
                pixels_in_place(&mut buf, n, bpp, |p| [hi(p); 3]);
            }
            if num_samples == 2 {
                format!("LA{bits}")
            } else {
                format!("L{bits}+{}", num_samples - 1)
            }
        }
        (_, ColorType::RGB(8)) => "RGB8".into(),
        (_, ColorType::RGB(16)) => {
            pixels_in_place(&mut buf, n, bpp, |p| [hi(p), hi(&p[2..]), hi(&p[4..])]);
            "RGB16".into()
        }
        (_, ColorType::RGBA(8)) => {
            pixels_in_place(&mut buf, n, bpp, |p| [p[0], p[1], p[2]]);
            "RGBA8".into()
        }
        (_, ColorType::RGBA(16)) => {
            pixels_in_place(&mut buf, n, bpp, |p| [hi(p), hi(&p[2..]), hi(&p[4..])]);
            "RGBA16".into()
        }
        (_, ColorType::YCbCr(8)) => {
            pixels_in_place(&mut buf, n, bpp, |p| ycbcr_to_rgb(p[0], p[1], p[2]));
            "YCbCr8".into()
        }
        (_, ColorType::CMYK(8) | ColorType::CMYKA(8)) => {
            pixels_in_place(&mut buf, n, bpp, |p| cmyk_to_rgb(p[0], p[1], p[2], p[3]));
            "CMYK8".into()
        }
        (_, other) => return Err(unsupported_layout(&format!("colour type {other:?}"))),
    };
    buf.truncate(n * 3);
    buf.shrink_to_fit();
    Ok((buf, mode))
}

/// PlanarConfiguration = 2: each sample is stored in its own set of strips/tiles. Reads the
/// chunks of the planes we need one by one and interleaves them into the RGB output.
fn read_planar<R: Read + Seek>(
    dec: &mut Decoder<R>,
    w: usize,
    h: usize,
    spp: usize,
    photometric: Option<u64>,
    color: ColorType,
) -> Result<(Vec<u8>, String), ImageError> {
    let (planes, bits, mode) = match (photometric, color) {
        (Some(PHOTO_RGB) | None, ColorType::RGB(b) | ColorType::RGBA(b)) if b == 8 || b == 16 => {
            (3, b, format!("{}{b}", if spp > 3 { "RGBA" } else { "RGB" }))
        }
        (Some(PHOTO_YCBCR), ColorType::YCbCr(8)) => (3, 8, "YCbCr8".into()),
        (
            Some(PHOTO_BLACK_IS_ZERO | PHOTO_WHITE_IS_ZERO),
            ColorType::Multiband { bit_depth: b, .. },
        ) if b == 8 || b == 16 => (1, b, format!("L{b}+{}", spp - 1)),
        (_, other) => {
            return Err(unsupported_layout(&format!(
                "planar-separate colour type {other:?}"
            )))
        }
    };
    let mut out = alloc(w * h * 3)?;
    let total = match dec.get_chunk_type() {
        ChunkType::Strip => dec.strip_count().map_err(tiff_err)? as usize,
        ChunkType::Tile => dec.tile_count().map_err(tiff_err)? as usize,
    };
    let per_plane = total / spp;
    let (cw, ch) = dec.chunk_dimensions();
    let (cw, ch) = (cw as usize, ch as usize);
    let across = w.div_ceil(cw.max(1));
    for p in 0..planes {
        for c in 0..per_plane {
            let (x0, y0) = match dec.get_chunk_type() {
                ChunkType::Strip => (0, c * ch),
                ChunkType::Tile => ((c % across) * cw, (c / across) * ch),
            };
            if x0 >= w || y0 >= h {
                continue;
            }
            let dw = cw.min(w - x0);
            let dh = ch.min(h - y0);
            let chunk = dec
                .read_chunk((p * per_plane + c) as u32)
                .map_err(tiff_err)?;
            let mut put = |row: usize, col: usize, v: u8| {
                let o = ((y0 + row) * w + x0 + col) * 3;
                if planes == 1 {
                    out[o..o + 3].copy_from_slice(&[v; 3]);
                } else {
                    out[o + p] = v;
                }
            };
            match (&chunk, bits) {
                (DecodingResult::U8(v), 8) => {
                    for (row, line) in v.chunks_exact(dw).take(dh).enumerate() {
                        for (col, &s) in line.iter().enumerate() {
                            put(row, col, s);
                        }
                    }
                }
                (DecodingResult::U16(v), 16) => {
                    for (row, line) in v.chunks_exact(dw).take(dh).enumerate() {
                        for (col, &s) in line.iter().enumerate() {
                            put(row, col, (s >> 8) as u8);
                        }
                    }
                }
                _ => return Err(unsupported_layout("this planar-separate sample layout")),
            }
        }
    }
    if mode == "YCbCr8" {
        let n = w * h;
        pixels_in_place(&mut out, n, 3, |p| ycbcr_to_rgb(p[0], p[1], p[2]));
    }
    Ok((out, mode))
}

/// Maps a `tiff` crate error to ours, with a message a user can act on.
pub(crate) fn tiff_err(e: tiff::TiffError) -> ImageError {
    use tiff::TiffError as T;
    match e {
        T::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated(format!("the image data ends early ({io})"))
        }
        T::IoError(io) => ImageError::Corrupt(format!("the image data could not be read: {io}")),
        T::FormatError(f) => ImageError::Corrupt(format!("invalid TIFF structure: {f}")),
        T::UnsupportedError(u) => ImageError::Unsupported(format!(
            "{u}; re-export the image as 8-bit RGB TIFF (uncompressed, LZW or Deflate) or PNG"
        )),
        T::LimitsExceeded => ImageError::Corrupt(
            "a tag or data block declares far more data than a valid image of this size \
             needs (decoder limit exceeded)"
                .into(),
        ),
        T::IntSizeError => ImageError::Corrupt("a size in the file overflows".into()),
        other => ImageError::Corrupt(format!("the TIFF could not be decoded: {other}")),
    }
}
