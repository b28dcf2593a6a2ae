//! Decoding microscope files to 8-bit RGB.
//!
//! The output is what Pillow's `Image.open(f).convert('RGB')` gives for the same file (the model
//! was trained on that), with a few deliberate, documented differences:
//!
//! - gray is replicated to R = G = B; alpha is **dropped**, not composited;
//! - palette images are looked up in the colour map (TIFF colour maps are 16-bit: `v >> 8`);
//! - 16-bit RGB(A) keeps the high byte `v >> 8` (as Pillow does);
//! - 16-bit gray also keeps the high byte `v >> 8`. Pillow opens it as `I;16` and *saturates*
//!   every value above 255 to 255 when converting, which turns almost any real 16-bit gray image
//!   white; we deliberately differ there.
//! - JPEG data (JPEG files and JPEG-in-TIFF) is decoded by a pure-Rust decoder; YCbCr is
//!   converted with libjpeg's full-range (JFIF) fixed-point formulas, so pixels are within a
//!   level or two of libjpeg/Pillow, not byte-identical.
//! - EXIF orientation is not applied (Pillow does not apply it either).
//!
//! The format is identified from the content (magic bytes), never from the file name. Only the
//! first page of a TIFF (the full-resolution image) is read; reduced-resolution pages, labels and
//! macro images are never decoded. Whole-slide images (Aperio SVS, Hamamatsu NDPI, Philips,
//! Leica SCN, or anything whose level 0 is larger than [`DecodeOptions::max_field_pixels`]) are
//! refused, as is anything whose pixel buffer would exceed [`DecodeOptions::max_samples`]; both
//! checks happen before any pixel buffer is allocated, so decompression bombs are refused in
//! milliseconds.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

mod buffer;
mod convert;
mod raster;
mod stain;
mod tiffmeta;
mod tiffpix;

pub use stain::stain_check;

/// Limits that keep decoding bounded in memory and time.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Largest width × height × samples-per-pixel that will be decoded; checked before any
    /// pixel buffer is allocated. (Samples are counted as at least 3, the RGB output.)
    pub max_samples: u64,
    /// Level-0 images with more pixels (width × height) than this are whole-slide images.
    pub max_field_pixels: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_samples: 400_000_000,
            max_field_pixels: 60_000_000,
        }
    }
}

/// A decoded image, converted to 8-bit RGB as Pillow's `convert('RGB')` would.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, row-major, interleaved RGB.
    pub rgb: Vec<u8>,
    /// Container format identified from content: "TIFF", "BigTIFF", "PNG", "JPEG".
    pub format: String,
    /// Pixel layout of the source, e.g. "RGB8", "RGB16", "RGBA8", "L8", "L16", "LA8", "P8",
    /// "YCbCr8", "CMYK8".
    pub source_mode: String,
    /// Which page of a multi-page file this is (always 0: the full-resolution page).
    pub page: u32,
    /// Physical pixel size (x, y) in micrometres, from the file's resolution tags if present.
    pub pixel_size_um: Option<(f64, f64)>,
    /// Things the user should know that did not stop decoding.
    pub warnings: Vec<String>,
}

/// Why a file could not be decoded. Every message says what was wrong and, where useful, what
/// to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("could not read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file is empty (0 bytes): it was probably not copied or exported completely")]
    Empty,
    #[error("not a supported image: {0}")]
    UnknownFormat(String),
    #[error("the file is truncated or corrupt: {0}; copy or export it again")]
    Truncated(String),
    #[error("the file is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported image: {0}")]
    Unsupported(String),
    #[error("whole-slide image ({0}): it is read as a slide (through OpenSlide), not as a microscope image")]
    WholeSlide(String),
    #[error("image too large: {width}×{height}×{samples} samples exceeds the pixel budget of {budget}; raise --max-pixels if this is a real field image")]
    TooLarge {
        width: u64,
        height: u64,
        samples: u64,
        budget: u64,
    },
    #[error("internal decoder error while reading the file ({0}); the file is probably corrupt — please report it if it opens elsewhere")]
    Internal(String),
}

/// The container formats we recognise from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Tiff,
    BigTiff,
    Png,
    Jpeg,
}

impl Container {
    fn name(self) -> &'static str {
        match self {
            Container::Tiff => "TIFF",
            Container::BigTiff => "BigTIFF",
            Container::Png => "PNG",
            Container::Jpeg => "JPEG",
        }
    }
}

/// Decodes a file, streaming it from disk (it is never read into memory as a whole).
pub fn decode_file(path: &Path, opts: &DecodeOptions) -> Result<DecodedImage, ImageError> {
    let file = std::fs::File::open(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    decode_reader(BufReader::new(file), name.as_deref(), opts)
}

/// Decodes an image held in memory.
pub fn decode_bytes(bytes: &[u8], opts: &DecodeOptions) -> Result<DecodedImage, ImageError> {
    decode_reader(std::io::Cursor::new(bytes), None, opts)
}

/// Like [`decode_bytes`], with the file name it came under (e.g. an upload's file name), used
/// only to warn when the extension does not match the content.
pub fn decode_bytes_named(
    bytes: &[u8],
    name: Option<&str>,
    opts: &DecodeOptions,
) -> Result<DecodedImage, ImageError> {
    decode_reader(std::io::Cursor::new(bytes), name, opts)
}

/// Decodes from any seekable reader. `name` (optional) is the file name, used only to warn when
/// its extension does not match the content. A panic inside a dependency is caught and reported
/// as [`ImageError::Internal`].
pub fn decode_reader<R: Read + Seek>(
    mut reader: R,
    name: Option<&str>,
    opts: &DecodeOptions,
) -> Result<DecodedImage, ImageError> {
    match catch_unwind(AssertUnwindSafe(|| decode_inner(&mut reader, name, opts))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(ImageError::Internal(what))
        }
    }
}

fn decode_inner<R: Read + Seek>(
    reader: &mut R,
    name: Option<&str>,
    opts: &DecodeOptions,
) -> Result<DecodedImage, ImageError> {
    let file_len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    if file_len == 0 {
        return Err(ImageError::Empty);
    }
    let mut head = [0u8; 16];
    let n = read_up_to(reader, &mut head)?;
    let head = &head[..n];
    reader.seek(SeekFrom::Start(0))?;

    let container = identify(head, file_len)?;
    let mut image = match container {
        Container::Tiff | Container::BigTiff => {
            tiffpix::decode_tiff(reader, file_len, container, opts)?
        }
        Container::Png | Container::Jpeg => {
            raster::decode_raster(BufReader::new(reader), container, opts)?
        }
    };
    image.format = container.name().to_string();
    if let Some(w) = name.and_then(|n| extension_warning(n, container)) {
        image.warnings.insert(0, w);
    }
    debug_assert_eq!(
        image.rgb.len(),
        image.width as usize * image.height as usize * 3
    );
    Ok(image)
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Identifies the container from its first bytes.
fn identify(head: &[u8], file_len: u64) -> Result<Container, ImageError> {
    match head {
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => return Ok(Container::Tiff),
        [b'I', b'I', 43, 0, ..] | [b'M', b'M', 0, 43, ..] => return Ok(Container::BigTiff),
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => return Ok(Container::Png),
        [0xff, 0xd8, 0xff, ..] => return Ok(Container::Jpeg),
        _ => {}
    }
    let what = sniff_other(head);
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(ImageError::UnknownFormat(format!(
        "the content is not TIFF, BigTIFF, PNG or JPEG{what} ({file_len} bytes, starting with {}); \
         export the image as TIFF, PNG or JPEG",
        hex.join(" ")
    )))
}

fn sniff_other(head: &[u8]) -> &'static str {
    if head.starts_with(b"GIF8") {
        " — it looks like a GIF"
    } else if head.starts_with(b"BM") {
        " — it looks like a BMP"
    } else if head.starts_with(&[0, 0, 0, 0x0c, b'j', b'P', b' ', b' '])
        || head.starts_with(&[0xff, 0x4f, 0xff, 0x51])
    {
        " — it looks like a JPEG 2000 file, which is not supported yet"
    } else if head.starts_with(b"PK\x03\x04") {
        " — it looks like a ZIP archive"
    } else if head.starts_with(b"%PDF") {
        " — it looks like a PDF"
    } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        " — it looks like a WebP file"
    } else if head.starts_with(b"<?xml") || head.starts_with(b"<") {
        " — it looks like XML/HTML text"
    } else if !head.is_empty()
        && head
            .iter()
            .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b))
    {
        " — it looks like plain text"
    } else {
        ""
    }
}

/// A warning when the file name's extension names a different format than the content.
fn extension_warning(name: &str, container: Container) -> Option<String> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    let family = match ext.as_str() {
        "tif" | "tiff" | "btf" | "tf8" | "svs" | "ndpi" | "scn" | "qptiff" => "TIFF",
        "png" => "PNG",
        "jpg" | "jpeg" | "jpe" | "jfif" => "JPEG",
        _ => return None,
    };
    let content = match container {
        Container::Tiff | Container::BigTiff => "TIFF",
        Container::Png => "PNG",
        Container::Jpeg => "JPEG",
    };
    if family == content {
        return None;
    }
    Some(format!(
        "the file name ends in .{ext} but the content is {}; it was decoded as {}",
        container.name(),
        container.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_by_magic() {
        assert_eq!(identify(b"II*\0\x08\0\0\0", 10).unwrap(), Container::Tiff);
        assert_eq!(identify(b"MM\0*\0\0\0\x08", 10).unwrap(), Container::Tiff);
        assert_eq!(
            identify(b"II+\0\x08\0\0\0", 10).unwrap(),
            Container::BigTiff
        );
        assert_eq!(identify(b"\x89PNG\r\n\x1a\n", 10).unwrap(), Container::Png);
        assert_eq!(identify(b"\xff\xd8\xff\xe0", 10).unwrap(), Container::Jpeg);
        let e = identify(b"hello world", 11).unwrap_err().to_string();
        assert!(e.contains("not TIFF, BigTIFF, PNG or JPEG"), "{e}");
        assert!(e.contains("plain text"), "{e}");
        let e = identify(b"GIF89a", 6).unwrap_err().to_string();
        assert!(e.contains("GIF"), "{e}");
    }

    #[test]
    fn empty_is_a_clear_error() {
        let e = decode_bytes(&[], &DecodeOptions::default()).unwrap_err();
        assert!(matches!(e, ImageError::Empty));
        assert!(e.to_string().contains("empty"));
    }

    #[test]
    fn extension_mismatch() {
        assert!(extension_warning("a.tif", Container::Tiff).is_none());
        assert!(extension_warning("a.TIFF", Container::BigTiff).is_none());
        assert!(extension_warning("a.bin", Container::Png).is_none());
        assert!(extension_warning("noext", Container::Png).is_none());
        let w = extension_warning("x.tif", Container::Png).unwrap();
        assert!(w.contains(".tif") && w.contains("PNG"), "{w}");
    }

    #[test]
    fn garbage_never_panics() {
        // Headers followed by junk: every prefix must give an error or an image, never a panic.
        let mut seed = 0x1234_5678u32;
        for magic in [
            &b"II*\0"[..],
            b"MM\0*",
            b"II+\0",
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff",
        ] {
            for len in [4usize, 8, 16, 40, 200, 1000] {
                let mut v = magic.to_vec();
                while v.len() < len {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    v.push((seed >> 16) as u8);
                }
                let _ = decode_bytes(&v, &DecodeOptions::default());
            }
        }
    }
}
