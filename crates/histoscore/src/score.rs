//! `histoscore score`: score files and folders from the command line.

use crate::{demo_banner, engine_in_use, serial_parser, EngineArg, ModelArg, SchemaArg};
use anyhow::{Context, Result};
use clap::Args;
use histoscore_domain::export::csv_text;
use histoscore_domain::serial::collisions;
use histoscore_domain::slide::{fields_csv_header, fields_csv_record, fields_geojson, FieldRow};
use histoscore_domain::Scores;
use histoscore_engine::{ScoredImage, Scorer};
use histoscore_imaging::slide::heatmap::{self, HeatField};
use histoscore_imaging::slide::{classify, slide_refusal, FieldOptions, FileKind, Slide};
use histoscore_imaging::DecodeOptions;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File extensions picked up when a folder is given (single files are always read, whatever
/// their name: the format is identified by content).
const IMAGE_EXTENSIONS: [&str; 10] = [
    "tif", "tiff", "png", "jpg", "jpeg", "btf", "tf8", "svs", "ndpi", "scn",
];

#[derive(Args)]
pub struct ScoreArgs {
    /// Image files or folders (folders are searched recursively for image files).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    engine: EngineArg,
    /// Also write the results as CSV to this file.
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_OUT")]
    out: Option<PathBuf>,
    /// Print one JSON array (one object per input, in input order) to stdout.
    #[arg(long, env = "HISTOSCORE_JSON")]
    json: bool,
    /// Regular expression with named groups `group` and `image` that reads sample group and
    /// image number from file names.
    #[arg(long, value_name = "REGEX", env = "HISTOSCORE_SERIAL_PATTERN")]
    serial_pattern: Option<String>,
    /// Largest image decoded, in width × height × samples (protects memory).
    #[arg(long, default_value_t = DecodeOptions::default().max_samples, env = "HISTOSCORE_MAX_PIXELS")]
    max_pixels: u64,
    /// Images with more pixels than this (width × height) are treated as whole-slide images.
    #[arg(long, default_value_t = DecodeOptions::default().max_field_pixels, env = "HISTOSCORE_MAX_FIELD_PIXELS")]
    max_field_pixels: u64,
    #[command(flatten)]
    slides: SlideArgs,
}

/// How whole-slide images are scored and what is written for them.
#[derive(Args, Clone, Default)]
pub struct SlideArgs {
    /// Whole-slide images: write every scored field (position, tissue share, scores) of every
    /// slide to this CSV file.
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_FIELDS")]
    pub fields: Option<PathBuf>,
    /// Whole-slide images: write one heatmap PNG per metric per slide into this folder
    /// (`NAME.METRIC.png`: the fields' scores over the slide, dark blue 0 to yellow maximum).
    #[arg(long, value_name = "DIR", env = "HISTOSCORE_HEATMAP")]
    pub heatmap: Option<PathBuf>,
    /// Whole-slide images: write the fields as GeoJSON (`NAME.geojson`) into this folder, for
    /// QuPath's File → Import objects (level-0 pixels, origin top left).
    #[arg(long, value_name = "DIR", env = "HISTOSCORE_GEOJSON")]
    pub geojson: Option<PathBuf>,
    /// The physical size of one field in µm, width x height (the area one original image
    /// covered; assumed 4080 × 2776 px at 0.5 µm/px).
    #[arg(long, value_name = "WxH", default_value = "2040x1388", value_parser = parse_field_um, env = "HISTOSCORE_FIELD_UM")]
    pub field_um: (f64, f64),
    /// Overlap between neighbouring fields, 0 to 0.9.
    #[arg(long, default_value_t = 0.5, env = "HISTOSCORE_FIELD_OVERLAP")]
    pub overlap: f64,
    /// Fields with a smaller share of tissue than this (0 to 1) are skipped.
    #[arg(long, default_value_t = 0.25, env = "HISTOSCORE_MIN_TISSUE")]
    pub min_tissue: f64,
}

/// "2040x1388" → (2040, 1388) µm.
pub fn parse_field_um(s: &str) -> Result<(f64, f64), String> {
    let (w, h) = s
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("{s:?}: give the field as WIDTHxHEIGHT in µm, e.g. 2040x1388"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0 && *v <= 100_000.0)
            .ok_or_else(|| format!("{s:?}: {v:?} is not a size in µm (e.g. 2040x1388)"))
    };
    Ok((num(w)?, num(h)?))
}

impl SlideArgs {
    pub fn options(&self) -> FieldOptions {
        FieldOptions {
            field_um: self.field_um,
            overlap: self.overlap.clamp(0.0, 0.9),
            min_tissue: self.min_tissue.clamp(0.0, 1.0),
            ..FieldOptions::default()
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Row {
    Scored {
        path: String,
        filename: String,
        /// "image"
        kind: &'static str,
        #[serde(flatten)]
        image: Box<ScoredImage>,
    },
    Slide(Box<SlideRow>),
    Failed {
        path: String,
        filename: String,
        error: String,
    },
}

/// A scored whole-slide image.
#[derive(Serialize)]
pub struct SlideRow {
    path: String,
    filename: String,
    /// "slide"
    kind: &'static str,
    #[serde(flatten)]
    image: ScoredImage,
    vendor: String,
    mpp_x: Option<f64>,
    objective_power: Option<f64>,
    levels: usize,
    /// Fields scored, and of those, how many could not be read.
    fields: usize,
    fields_unreadable: usize,
    /// Per metric: the field scores' 10th, 50th and 90th percentiles; the slide's
    /// uncertainty is p90 − p10.
    p10: Scores,
    p50: Scores,
    p90: Scores,
    uncertainty: Scores,
    #[serde(skip)]
    field_rows: Vec<FieldRow>,
}

/// Files to score, in the order given; folders expanded recursively in name order.
pub(crate) fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            // Hidden folders (.git, .thumbnails…) are not image collections.
            if !name.starts_with('.') {
                walk(&p, found);
            }
            continue;
        }
        // macOS AppleDouble companions ("._name.tif") carry metadata, not images.
        if name.starts_with("._") {
            continue;
        }
        if p.extension()
            .map(|x| IMAGE_EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str()))
            .unwrap_or(false)
        {
            found.push(p);
        }
    }
}

fn filename_of(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Scores every input; returns whether all of them were scored.
pub fn run(args: ScoreArgs) -> Result<bool> {
    let schema = args.schema.load()?;
    let model = args.model.load(&schema)?;
    demo_banner(&model);
    let scorer = Scorer {
        schema: schema.clone(),
        serials: serial_parser(args.serial_pattern.as_deref())?,
        decode: DecodeOptions {
            max_samples: args.max_pixels,
            max_field_pixels: args.max_field_pixels,
        },
        model: model.reference(),
    };
    let files = expand(&args.paths);
    let engine = engine_in_use(args.engine.kind())?;
    eprintln!("histoscore: engine {engine}, model {}", model.id());
    let (queue, thread) = model.start(args.engine.kind(), args.engine.threads(), 8, 8)?;
    drop(model);
    let progress = progress_bar(files.len() as u64);

    let outputs = SlideOutputs {
        options: args.slides.options(),
        heatmap: args.slides.heatmap.clone(),
        geojson: args.slides.geojson.clone(),
    };
    for dir in [&outputs.heatmap, &outputs.geojson].into_iter().flatten() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create the folder {}", dir.display()))?;
    }
    let rows = score_files(
        &scorer,
        &files,
        &queue,
        args.engine.threads(),
        &outputs,
        progress.as_ref(),
    );
    let mut rows = rows;
    drop(queue);
    thread.join();
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    if !args.json {
        rows.iter().for_each(print_human);
    }

    flag_collisions(&mut rows);
    if args.json {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        serde_json::to_writer_pretty(&mut lock, &rows)?;
        writeln!(lock)?;
    }
    if let Some(out) = &args.out {
        write_csv(out, &rows, &schema)
            .with_context(|| format!("could not write {}", out.display()))?;
    }
    if let Some(out) = &args.slides.fields {
        write_fields_csv(out, &rows, &schema)
            .with_context(|| format!("could not write {}", out.display()))?;
    }
    let failed = rows
        .iter()
        .filter(|r| matches!(r, Row::Failed { .. }))
        .count();
    if failed > 0 {
        eprintln!(
            "histoscore: {failed} of {} inputs could not be scored",
            rows.len()
        );
    }
    Ok(failed == 0)
}

/// How slides are scored and where their heatmaps and GeoJSON go.
#[derive(Default)]
pub struct SlideOutputs {
    pub options: FieldOptions,
    pub heatmap: Option<PathBuf>,
    pub geojson: Option<PathBuf>,
}

/// Scores `files` in order with `workers` decode/preprocess threads feeding `queue`.
pub fn score_files(
    scorer: &Scorer,
    files: &[PathBuf],
    queue: &histoscore_engine::InferenceQueue,
    workers: usize,
    slides: &SlideOutputs,
    progress: Option<&indicatif::ProgressBar>,
) -> Vec<Row> {
    // Several workers decode and preprocess images while the network runs; each hands its
    // tensor to the inference thread, which batches whatever is waiting. At most one decoded
    // image per worker is in memory at a time.
    let workers = workers.min(files.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Row>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let path = f.display().to_string();
                let filename = filename_of(f);
                if let FileKind::Slide { .. } = classify(f, &scorer.decode) {
                    let row = score_slide(scorer, f, slides, queue, workers);
                    if let Some(p) = progress {
                        p.inc(1);
                    }
                    *slots[i].lock().expect("slot") = Some(row);
                    continue;
                }
                let result = scorer
                    .prepare_file(f)
                    .map_err(|e| slide_refusal(e).to_string())
                    .and_then(|p| {
                        scorer
                            .finish(&filename, p, queue)
                            .map_err(|e| e.to_string())
                    });
                let row = match result {
                    Ok(image) => Row::Scored {
                        path,
                        filename,
                        kind: "image",
                        image: Box::new(image),
                    },
                    Err(error) => Row::Failed {
                        path,
                        filename,
                        error,
                    },
                };
                if let Some(p) = progress {
                    p.inc(1);
                }
                *slots[i].lock().expect("slot") = Some(row);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().expect("slot").expect("every file has a row"))
        .collect()
}

/// File-name stem for a slide's outputs (`NAME.METRIC.png`, `NAME.geojson`).
fn stem_of(p: &Path) -> String {
    p.file_stem()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "slide".into())
}

/// A metric's name as a file-name part: lower case, anything but letters and digits → '-'.
fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Scores one whole-slide image field by field and writes its heatmaps and GeoJSON.
fn score_slide(
    scorer: &Scorer,
    f: &Path,
    out: &SlideOutputs,
    queue: &histoscore_engine::InferenceQueue,
    readers: usize,
) -> Row {
    let path = f.display().to_string();
    let filename = filename_of(f);
    let failed = |error: String| Row::Failed {
        path: path.clone(),
        filename: filename.clone(),
        error,
    };
    let slide = match Slide::open(f) {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let scored = match histoscore_engine::slide::score_slide(
        scorer,
        &slide,
        &out.options,
        queue,
        readers,
        &|_, _| {},
    ) {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let Some(summary) = scored.summary.clone() else {
        return failed(format!("nothing to score: {}", scored.warnings.join("; ")));
    };
    let field_rows: Vec<FieldRow> = scored
        .fields
        .iter()
        .enumerate()
        .map(|(i, fs)| FieldRow {
            index: i as i64,
            x: fs.field.x,
            y: fs.field.y,
            width: fs.field.width as i64,
            height: fs.field.height as i64,
            tissue_share: fs.field.tissue_share,
            scores: fs.scores.clone(),
            raw: fs.raw.clone(),
            error: fs.error.clone(),
            roi: false,
            created_by: None,
        })
        .collect();
    let mut warnings = scored.warnings.clone();
    let stem = stem_of(f);
    if let Some(dir) = &out.heatmap {
        if let Err(e) = write_heatmaps(dir, &stem, &slide, &field_rows, &scorer.schema) {
            warnings.push(format!("the heatmaps could not be written: {e}"));
        }
    }
    if let Some(dir) = &out.geojson {
        let g = fields_geojson(&scorer.schema, &field_rows);
        let target = dir.join(format!("{stem}.geojson"));
        if let Err(e) = std::fs::write(&target, g.to_string()) {
            warnings.push(format!("{} could not be written: {e}", target.display()));
        }
    }
    let info = scorer.serials.parse(&filename);
    let per_metric = |v: &[f64]| -> Scores {
        scorer
            .schema
            .metrics
            .iter()
            .zip(v)
            .map(|(m, x)| (m.name.clone(), (x * 1000.0).round() / 1000.0))
            .collect()
    };
    let meta = &scored.meta;
    Row::Slide(Box::new(SlideRow {
        kind: "slide",
        vendor: meta.vendor.clone(),
        mpp_x: meta.mpp_x,
        objective_power: meta.objective_power,
        levels: meta.levels.len(),
        fields: field_rows.len(),
        fields_unreadable: field_rows.iter().filter(|r| r.scores.is_none()).count(),
        p10: per_metric(&summary.p10),
        p50: per_metric(&summary.p50),
        p90: per_metric(&summary.p90),
        uncertainty: per_metric(&summary.uncertainty),
        image: ScoredImage {
            serial: info.serial,
            group: info.group,
            image_number: info.image_number,
            page: 0,
            width: u32::try_from(meta.width()).unwrap_or(u32::MAX),
            height: u32::try_from(meta.height()).unwrap_or(u32::MAX),
            format: format!("{} slide", meta.vendor),
            source_mode: "RGB8".into(),
            raw_output: summary.raw,
            scores: summary.scores,
            total: summary.total,
            model: scorer.model.clone(),
            warnings,
        },
        field_rows,
        path,
        filename,
    }))
}

fn write_heatmaps(
    dir: &Path,
    stem: &str,
    slide: &Slide,
    fields: &[FieldRow],
    schema: &histoscore_domain::Schema,
) -> Result<()> {
    let ov = slide.overview(histoscore_engine::slide::OVERVIEW_SIDE)?;
    for m in &schema.metrics {
        let heat: Vec<HeatField> = fields
            .iter()
            .map(|f| HeatField {
                x: f.x as f64,
                y: f.y as f64,
                width: f.width as f64,
                height: f.height as f64,
                value: f.scores.as_ref().and_then(|s| s.get(&m.name)).copied(),
            })
            .collect();
        let rgb = heatmap::render(&ov, &heat, m.max);
        let target = dir.join(format!("{stem}.{}.png", file_part(&m.name)));
        std::fs::write(&target, heatmap::png(ov.width, ov.height, &rgb))
            .with_context(|| format!("could not write {}", target.display()))?;
    }
    Ok(())
}

/// Every field of every scored slide, one row each, with the slide's path and name first.
fn write_fields_csv(out: &Path, rows: &[Row], schema: &histoscore_domain::Schema) -> Result<()> {
    let mut w = csv::Writer::from_path(out)?;
    let mut header = vec!["path".to_string(), "filename".to_string()];
    header.extend(fields_csv_header(schema));
    w.write_record(&header)?;
    for r in rows {
        if let Row::Slide(s) = r {
            for f in &s.field_rows {
                let mut rec = vec![csv_text(&s.path), csv_text(&s.filename)];
                rec.extend(fields_csv_record(schema, f));
                w.write_record(&rec)?;
            }
        }
    }
    w.flush()?;
    Ok(())
}

/// A progress bar with images/s, only when stderr is a terminal and there is more than one file.
fn progress_bar(n: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if n < 2 || !std::io::stderr().is_terminal() {
        return None;
    }
    let p = indicatif::ProgressBar::new(n);
    p.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} images  {per_sec}  eta {eta}",
        )
        .expect("valid template"),
    );
    Some(p)
}

impl Row {
    /// Path, file name and result of a scored image or slide.
    fn scored(&self) -> Option<(&str, &str, &ScoredImage)> {
        match self {
            Row::Scored {
                path,
                filename,
                image,
                ..
            } => Some((path, filename, image)),
            Row::Slide(s) => Some((&s.path, &s.filename, &s.image)),
            Row::Failed { .. } => None,
        }
    }

    fn scored_mut(&mut self) -> Option<(&str, &mut ScoredImage)> {
        match self {
            Row::Scored {
                filename, image, ..
            } => Some((filename, image)),
            Row::Slide(s) => Some((&s.filename, &mut s.image)),
            Row::Failed { .. } => None,
        }
    }
}

/// Two different files claiming one serial (e.g. Image001 and Image101 → …-01) are flagged.
fn flag_collisions(rows: &mut [Row]) {
    let pairs: Vec<(String, histoscore_domain::SerialInfo)> = rows
        .iter()
        .filter_map(|r| {
            r.scored().map(|(_, filename, image)| {
                (
                    filename.to_string(),
                    histoscore_domain::SerialInfo {
                        serial: image.serial.clone(),
                        group: image.group.clone(),
                        image_number: image.image_number.clone(),
                    },
                )
            })
        })
        .collect();
    let clashes = collisions(pairs.iter().map(|(n, i)| (n.as_str(), i)));
    for r in rows.iter_mut() {
        if let Some((filename, image)) = r.scored_mut() {
            if let Some(names) = clashes.get(&image.serial) {
                let others: Vec<&str> = names
                    .iter()
                    .filter(|n| n.as_str() != filename)
                    .map(String::as_str)
                    .collect();
                let w = format!(
                    "serial {} is also claimed by {}",
                    image.serial,
                    others.join(", ")
                );
                image.warnings.push(w);
            }
        }
    }
}

fn print_human(row: &Row) {
    if let Row::Failed {
        filename, error, ..
    } = row
    {
        eprintln!("{filename}  ERROR: {error}");
        return;
    }
    let Some((_, filename, image)) = row.scored() else {
        return;
    };
    let scores: Vec<String> = image
        .scores
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let what = match row {
        Row::Slide(s) => format!("  ({} fields)", s.fields),
        _ => String::new(),
    };
    eprintln!(
        "{filename}  {}  {}  total {}{what}",
        image.serial,
        scores.join(", "),
        image.total
    );
    for w in &image.warnings {
        eprintln!("  warning: {w}");
    }
}

fn write_csv(out: &Path, rows: &[Row], schema: &histoscore_domain::Schema) -> Result<()> {
    let mut w = csv::Writer::from_path(out)?;
    let mut header: Vec<String> = [
        "path",
        "filename",
        "serial",
        "group",
        "image_number",
        "page",
        "width",
        "height",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for m in &schema.metrics {
        header.push(format!("raw {}", m.name));
    }
    for m in &schema.metrics {
        header.push(m.name.clone());
    }
    header.extend(
        [
            "total",
            "model_id",
            "model_demo",
            "warnings",
            "error",
            "kind",
            "fields",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    w.write_record(&header)?;
    let n = schema.metrics.len();
    for r in rows {
        let mut rec: Vec<String> = Vec::with_capacity(header.len());
        if let Some((path, filename, image)) = r.scored() {
            rec.extend([
                csv_text(path),
                csv_text(filename),
                csv_text(&image.serial),
                csv_text(&image.group),
                csv_text(image.image_number.as_deref().unwrap_or("")),
                image.page.to_string(),
                image.width.to_string(),
                image.height.to_string(),
            ]);
            rec.extend(image.raw_output.iter().map(|v| v.to_string()));
            rec.extend(image.scores.values().map(|v| v.to_string()));
            rec.extend([
                image.total.to_string(),
                image.model.id.clone(),
                image.model.demo.to_string(),
                csv_text(&image.warnings.join("; ")),
                String::new(),
            ]);
            match r {
                Row::Slide(s) => rec.extend(["slide".to_string(), s.fields.to_string()]),
                _ => rec.extend(["image".to_string(), String::new()]),
            }
        } else if let Row::Failed {
            path,
            filename,
            error,
        } = r
        {
            rec.extend([csv_text(path), csv_text(filename)]);
            rec.extend(std::iter::repeat_n(String::new(), 6 + 2 * n + 4));
            rec.push(csv_text(error));
            rec.extend([String::new(), String::new()]);
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}
