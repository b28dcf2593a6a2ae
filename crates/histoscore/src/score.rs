//! `histoscore score`: score files and folders from the command line.

use crate::{demo_banner, engine_in_use, serial_parser, EngineArg, ModelArg, SchemaArg};
use anyhow::{Context, Result};
use clap::Args;
use histoscore_domain::export::csv_text;
use histoscore_domain::serial::collisions;
use histoscore_engine::{ScoredImage, Scorer};
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
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Row {
    Scored {
        path: String,
        filename: String,
        #[serde(flatten)]
        image: Box<ScoredImage>,
    },
    Failed {
        path: String,
        filename: String,
        error: String,
    },
}

/// Files to score, in the order given; folders expanded recursively in name order.
fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
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

    let rows = score_files(
        &scorer,
        &files,
        &queue,
        args.engine.threads(),
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

/// Scores `files` in order with `workers` decode/preprocess threads feeding `queue`.
pub fn score_files(
    scorer: &Scorer,
    files: &[PathBuf],
    queue: &histoscore_engine::InferenceQueue,
    workers: usize,
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
                let result = scorer
                    .prepare_file(f)
                    .map_err(|e| e.to_string())
                    .and_then(|p| {
                        scorer
                            .finish(&filename, p, queue)
                            .map_err(|e| e.to_string())
                    });
                let row = match result {
                    Ok(image) => Row::Scored {
                        path,
                        filename,
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

/// Two different files claiming one serial (e.g. Image001 and Image101 → …-01) are flagged.
fn flag_collisions(rows: &mut [Row]) {
    let pairs: Vec<(String, histoscore_domain::SerialInfo)> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Scored {
                filename, image, ..
            } => Some((
                filename.clone(),
                histoscore_domain::SerialInfo {
                    serial: image.serial.clone(),
                    group: image.group.clone(),
                    image_number: image.image_number.clone(),
                },
            )),
            Row::Failed { .. } => None,
        })
        .collect();
    let clashes = collisions(pairs.iter().map(|(n, i)| (n.as_str(), i)));
    for r in rows.iter_mut() {
        if let Row::Scored {
            filename, image, ..
        } = r
        {
            if let Some(names) = clashes.get(&image.serial) {
                let others: Vec<&str> = names
                    .iter()
                    .filter(|n| *n != filename)
                    .map(String::as_str)
                    .collect();
                image.warnings.push(format!(
                    "serial {} is also claimed by {}",
                    image.serial,
                    others.join(", ")
                ));
            }
        }
    }
}

fn print_human(row: &Row) {
    match row {
        Row::Scored {
            filename, image, ..
        } => {
            let scores: Vec<String> = image
                .scores
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            eprintln!(
                "{filename}  {}  {}  total {}",
                image.serial,
                scores.join(", "),
                image.total
            );
            for w in &image.warnings {
                eprintln!("  warning: {w}");
            }
        }
        Row::Failed {
            filename, error, ..
        } => eprintln!("{filename}  ERROR: {error}"),
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
        ["total", "model_id", "model_demo", "warnings", "error"]
            .iter()
            .map(|s| s.to_string()),
    );
    w.write_record(&header)?;
    let n = schema.metrics.len();
    for r in rows {
        let mut rec: Vec<String> = Vec::with_capacity(header.len());
        match r {
            Row::Scored {
                path,
                filename,
                image,
            } => {
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
            }
            Row::Failed {
                path,
                filename,
                error,
            } => {
                rec.extend([csv_text(path), csv_text(filename)]);
                rec.extend(std::iter::repeat_n(String::new(), 6 + 2 * n + 4));
                rec.push(csv_text(error));
            }
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}
