//! `histoscore bench`: how fast each stage runs on this machine, printed as a table.
//!
//! It builds a 4080×2776 uncompressed RGB TIFF (the size of the original system's microscope
//! exports, 34 MB) from a real H&E image, then times decode, preprocessing and the forward
//! pass on each available engine, and the throughput of `histoscore score` on a folder.

use crate::score::{score_files, Row};
use crate::{ModelArg, SchemaArg};
use anyhow::{Context, Result};
use clap::Args;
use histoscore_engine::{ort_backend, EngineKind, Scorer, INPUT_LEN};
use histoscore_imaging::resample::{resize_rgb, Filter};
use histoscore_imaging::{decode_file, preprocess, DecodeOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Real H&E image the 4080×2776 test TIFF is made from.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "../shared/fixtures/reference-model/images/S-3602-10X_Image001_ch00.tif",
        env = "HISTOSCORE_BENCH_SOURCE"
    )]
    source: PathBuf,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 15, env = "HISTOSCORE_BENCH_ITERATIONS")]
    iterations: usize,
    /// Images in the folder used for the throughput measurement.
    #[arg(long, default_value_t = 50, env = "HISTOSCORE_BENCH_FOLDER")]
    folder: usize,
    /// Also score this whole-slide image field by field and report fields per second (e.g.
    /// the slide `scripts/make-test-slide` makes; `histoscore bench-slide` measures more).
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_BENCH_SLIDE")]
    slide: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    schema: SchemaArg,
}

fn median_ms(mut f: impl FnMut(), n: usize) -> f64 {
    f(); // warm-up
    let mut t: Vec<f64> = (0..n.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The source image resized to the microscope exports' 4080×2776 (RGB).
pub fn big_rgb(source: &Path) -> Result<(Vec<u8>, u32, u32)> {
    let src = decode_file(source, &DecodeOptions::default())
        .with_context(|| format!("could not read the source image {}", source.display()))?;
    let (w, h) = (4080, 2776);
    let big = resize_rgb(
        &src.rgb,
        src.width as usize,
        src.height as usize,
        w,
        h,
        Filter::Bicubic,
    );
    Ok((big, w as u32, h as u32))
}

/// An uncompressed RGB TIFF in memory.
pub fn tiff_bytes(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    use tiff::encoder::{colortype::RGB8, TiffEncoder};
    let mut out = std::io::Cursor::new(Vec::with_capacity(rgb.len() + 4096));
    TiffEncoder::new(&mut out)?.write_image::<RGB8>(w, h, rgb)?;
    Ok(out.into_inner())
}

pub fn run(args: BenchArgs) -> Result<()> {
    let schema = args.schema.load()?;
    let model = args.model.load(&schema)?;
    let threads = histoscore_engine::default_threads();
    let dir = tempfile::tempdir()?;
    let tiff_path = dir.path().join("S-0001-10X_Image001_ch00.tif");
    {
        let (big, w, h) = big_rgb(&args.source)?;
        std::fs::write(&tiff_path, tiff_bytes(&big, w, h)?)?;
    }
    let size_mb = std::fs::metadata(&tiff_path)?.len() as f64 / 1e6;
    eprintln!(
        "bench: 4080×2776 RGB TIFF ({size_mb:.0} MB) from {}, {threads} cores, model {}{}",
        args.source.display(),
        model.id(),
        if model.is_demo() { " (demo)" } else { "" }
    );
    let n = args.iterations;
    let mut rows: Vec<(String, f64)> = Vec::new();

    let decode_ms = median_ms(
        || {
            decode_file(&tiff_path, &DecodeOptions::default()).unwrap();
        },
        n,
    );
    rows.push(("decode (TIFF → RGB)".into(), decode_ms));
    let img = decode_file(&tiff_path, &DecodeOptions::default())?;
    let pre_ms = median_ms(
        || {
            preprocess(&img.rgb, img.width as usize, img.height as usize);
        },
        n,
    );
    rows.push(("preprocess (exact, to 224×224 tensor)".into(), pre_ms));
    let tensor = preprocess(&img.rgb, img.width as usize, img.height as usize).tensor;
    drop(img);

    let mut engines = vec![EngineKind::Tract];
    match ort_backend::ort_environment() {
        Ok((_, lib)) => {
            eprintln!("bench: ONNX Runtime from {lib}");
            engines.insert(0, EngineKind::Ort);
        }
        Err(e) => eprintln!("bench: ONNX Runtime not measured: {e}"),
    }
    let mut best_forward = f64::INFINITY;
    let graph = model.onnx();
    for &kind in &engines {
        let name = kind.as_str();
        let (queue, thread) = model.start(kind, threads, 16, 8)?;
        let f1 = median_ms(
            || {
                queue.submit(tensor.clone()).unwrap();
            },
            n,
        );
        rows.push((format!("forward {name}, batch 1 (per image)"), f1));
        best_forward = best_forward.min(f1);
        // Eight submitted at once are run as one batch.
        let f8 = median_ms(
            || {
                std::thread::scope(|s| {
                    for _ in 0..8 {
                        let q = queue.clone();
                        let t = tensor.clone();
                        s.spawn(move || q.submit(t).unwrap());
                    }
                });
            },
            n.div_ceil(2),
        ) / 8.0;
        rows.push((format!("forward {name}, batch 8 (per image)"), f8));
        drop(queue);
        thread.join();
        if kind == EngineKind::Ort {
            // The same graph on a bare session, without Histoscore's queue, for comparison.
            let mut bare = ort_backend::OrtBackend::new(&graph, model.head(), threads)?;
            use histoscore_engine::Backend;
            let t = tensor.clone();
            let b = median_ms(
                || {
                    bare.run(&t, 1).unwrap();
                },
                n,
            );
            rows.push(("forward ort, bare session, batch 1".into(), b));
        }
    }
    assert_eq!(tensor.len(), INPUT_LEN);
    rows.push((
        "total per image (decode + preprocess + fastest forward)".into(),
        decode_ms + pre_ms + best_forward,
    ));

    // Throughput: a folder of copies, scored as `histoscore score DIR` does.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder)?;
    let mut files = Vec::new();
    for i in 0..args.folder {
        let p = folder.join(format!("S-0001-10X_Image{:03}_ch00.tif", i + 1));
        std::fs::copy(&tiff_path, &p)?;
        files.push(p);
    }
    let scorer = Scorer {
        schema: schema.clone(),
        serials: Default::default(),
        decode: DecodeOptions::default(),
        model: model.reference(),
    };
    let (queue, thread) = model.start(EngineKind::Auto, threads, 16, 8)?;
    let started = Instant::now();
    let out = score_files(
        &scorer,
        &files,
        &queue,
        threads,
        &crate::score::SlideOutputs::default(),
        None,
    );
    let secs = started.elapsed().as_secs_f64();
    let slide = match &args.slide {
        Some(path) => {
            let s = histoscore_imaging::slide::Slide::open(path)
                .with_context(|| format!("could not open the slide {}", path.display()))?;
            let started = Instant::now();
            let scored = histoscore_engine::slide::score_slide(
                &scorer,
                &s,
                &Default::default(),
                &queue,
                threads,
                &|_, _| {},
            )?;
            let n = scored.fields.len();
            Some((
                s.meta.width(),
                s.meta.height(),
                n,
                started.elapsed().as_secs_f64(),
            ))
        }
        None => None,
    };
    drop(queue);
    thread.join();
    let failed = out
        .iter()
        .filter(|r| matches!(r, Row::Failed { .. }))
        .count();
    anyhow::ensure!(failed == 0, "{failed} bench images failed to score");

    println!("| stage | median ms |");
    println!("|---|---:|");
    for (name, ms) in &rows {
        println!("| {name} | {ms:.1} |");
    }
    println!(
        "| folder of {}: images/s (all cores, engine auto) | {:.1} |",
        files.len(),
        files.len() as f64 / secs
    );
    if let Some((w, h, n, secs)) = slide {
        println!(
            "| slide {w} × {h}: {n} fields in {secs:.1} s, fields/s (all cores, engine auto) | {:.1} |",
            n as f64 / secs
        );
    }
    Ok(())
}
