//! `histoscore bench-slide`: how fast a whole-slide image is opened, mapped, scored and viewed
//! on this machine, printed as a table. Use a large slide (`scripts/make-test-slide` makes a
//! 100 000 × 80 000 H&E pyramid at 0.25 µm/px from real pixels).
//!
//! - scoring: tissue detection, the field grid, and every field read, preprocessed and run
//!   through the engine in batches, as the server's job does; fields per second and the peak
//!   memory of this process during the phase (largest VmRSS sampled every 20 ms);
//! - deep-zoom tiles as the server makes them (read from the nearest level, resized, JPEG):
//!   cold (read from the slide) and cached (read back from the tile cache on disk), p50/p95 over
//!   random tiles of the full-resolution and the two next levels.

use crate::bench_server::RssSampler;
use crate::{EngineArg, ModelArg, SchemaArg};
use anyhow::{Context, Result};
use clap::Args;
use histoscore_engine::Scorer;
use histoscore_imaging::slide::{dzi_max_level, FieldOptions, Slide};
use histoscore_server::media::{encode_jpeg, TILE_OVERLAP, TILE_SIZE};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct BenchSlideArgs {
    /// The slide to measure (e.g. the output of scripts/make-test-slide).
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_BENCH_SLIDE")]
    slide: PathBuf,
    /// Random tiles timed per deep-zoom level.
    #[arg(long, default_value_t = 200, env = "HISTOSCORE_BENCH_TILES")]
    tiles: usize,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    engine: EngineArg,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A small deterministic generator (no randomness needed beyond spreading the tiles).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

pub fn run(args: BenchSlideArgs) -> Result<()> {
    let schema = args.schema.load()?;
    let model = args.model.load(&schema)?;
    let scorer = Scorer {
        schema: schema.clone(),
        serials: Default::default(),
        decode: Default::default(),
        model: model.reference(),
    };
    let engine = crate::engine_in_use(args.engine.kind())?;
    let (queue, thread) = model.start(args.engine.kind(), args.engine.threads(), 16, 8)?;
    drop(model);
    let rss = RssSampler::start(std::process::id());
    let mut rows: Vec<(String, String)> = Vec::new();

    let t = Instant::now();
    let slide = Slide::open(&args.slide)
        .with_context(|| format!("could not open {}", args.slide.display()))?;
    rows.push((
        "open the slide (ms)".into(),
        format!("{:.1}", t.elapsed().as_secs_f64() * 1e3),
    ));
    let meta = slide.meta.clone();
    eprintln!(
        "bench-slide: {} × {} px, {} levels, {:?} µm/px, engine {engine}",
        meta.width(),
        meta.height(),
        meta.levels.len(),
        meta.mpp_x
    );

    let opts = FieldOptions::default();
    let t = Instant::now();
    let plan = histoscore_engine::slide::plan(&slide, &opts)?;
    rows.push((
        "tissue detection and field grid (ms)".into(),
        format!("{:.0}", t.elapsed().as_secs_f64() * 1e3),
    ));
    rows.push((
        "tissue share of the slide".into(),
        format!("{:.0} %", plan.mask.total_share() * 100.0),
    ));
    rows.push(("fields to score".into(), plan.fields.len().to_string()));

    rss.reset();
    let t = Instant::now();
    let scored = histoscore_engine::slide::score_slide(
        &scorer,
        &slide,
        &opts,
        &queue,
        std::thread::available_parallelism().map_or(2, |n| n.get()),
        &|_, _| {},
    )?;
    let secs = t.elapsed().as_secs_f64();
    let n = scored.fields.len();
    rows.push((
        "score every field, whole slide (s)".into(),
        format!("{secs:.1}"),
    ));
    rows.push((
        "fields per second".into(),
        format!("{:.1}", n as f64 / secs),
    ));
    rows.push((
        "peak memory while scoring (max VmRSS, 20 ms samples)".into(),
        format!("{:.0} MB", rss.peak_mb()),
    ));
    drop(queue);
    thread.join();

    // Tiles: cold (from the slide) and cached (from disk, as the server's tile cache).
    let cache = tempfile::tempdir()?;
    let top = dzi_max_level(meta.width(), meta.height());
    let mut rng = Lcg(42);
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    let mut files = Vec::new();
    rss.reset();
    for level in [top, top.saturating_sub(1), top.saturating_sub(2)] {
        let scale = 1u64 << (top - level);
        let cols = meta.width().div_ceil(scale).div_ceil(u64::from(TILE_SIZE));
        let rows_n = meta.height().div_ceil(scale).div_ceil(u64::from(TILE_SIZE));
        for i in 0..args.tiles {
            let (c, r) = (rng.below(cols), rng.below(rows_n));
            let t = Instant::now();
            let Some((w, h, rgb)) =
                slide.dzi_tile(level, c, r, u64::from(TILE_SIZE), u64::from(TILE_OVERLAP))?
            else {
                continue;
            };
            let jpg = encode_jpeg(&rgb, w, h).map_err(anyhow::Error::msg)?;
            let path = cache.path().join(format!("{level}-{i}.jpg"));
            std::fs::write(&path, &jpg)?;
            cold.push(t.elapsed().as_secs_f64() * 1e3);
            files.push(path);
        }
    }
    for p in &files {
        let t = Instant::now();
        let b = std::fs::read(p)?;
        std::hint::black_box(b);
        cached.push(t.elapsed().as_secs_f64() * 1e3);
    }
    cold.sort_by(f64::total_cmp);
    cached.sort_by(f64::total_cmp);
    rows.push((
        format!(
            "deep-zoom tile, cold, levels {}–{top} (p50 / p95 ms, {} tiles)",
            top.saturating_sub(2),
            cold.len()
        ),
        format!(
            "{:.1} / {:.1}",
            percentile(&cold, 0.5),
            percentile(&cold, 0.95)
        ),
    ));
    rows.push((
        "deep-zoom tile, cached (p50 / p95 ms)".into(),
        format!(
            "{:.2} / {:.2}",
            percentile(&cached, 0.5),
            percentile(&cached, 0.95)
        ),
    ));
    rows.push((
        "peak memory while cutting tiles (max VmRSS)".into(),
        format!("{:.0} MB", rss.peak_mb()),
    ));

    println!("| slide {} × {} px | value |", meta.width(), meta.height());
    println!("|---|---:|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    Ok(())
}
