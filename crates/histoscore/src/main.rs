//! `histoscore`: AI-assisted histopathology scoring.

mod backup;
mod bench;
mod bench_server;
mod bench_slide;
mod bench_train;
mod bench_workers;
mod common;
mod export;
mod import;
mod import_original;
mod registry;
mod score;
mod serve;
mod soak;
mod tokens;
mod train;
mod users;
mod worker;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use histoscore_domain::{Schema, SerialParser};
use histoscore_engine::Model;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "histoscore",
    version,
    about = "AI-assisted histopathology scoring: a CNN drafts severity scores, a pathologist reviews them.",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format: `text` (coloured only on a terminal) or `json` (one object per line, for
    /// log collectors).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"], env = "HISTOSCORE_LOG_FORMAT")]
    log_format: String,
}

#[derive(Subcommand)]
enum Command {
    /// Score microscope images (files or folders) and print or save the scores.
    Score(score::ScoreArgs),
    /// Measure decode, preprocessing and inference speed on this machine and print a table.
    Bench(bench::BenchArgs),
    /// Inspect or export a model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Measure the review server: upload→scored latency, throughput, memory under concurrent
    /// uploads, score-edit latency, history search over many records. Prints a table.
    BenchServer(bench_server::BenchServerArgs),
    /// Measure scoring throughput with 1, 2, 3… worker processes on one PostgreSQL database
    /// and file store, and each worker's share of the jobs. Prints a table.
    BenchWorkers(bench_workers::BenchWorkersArgs),
    /// Measure a whole-slide image: tissue and fields, scoring every field (fields per
    /// second, peak memory), and deep-zoom tile latency cold and cached. Prints a table.
    BenchSlide(bench_slide::BenchSlideArgs),
    /// Measure training speed: features per image and seconds per epoch for 500 images.
    BenchTrain(bench_train::BenchTrainArgs),
    /// Run the review server under mixed load for minutes (uploads, edits, searches, event
    /// streams, logins) and print memory, open files and p99 latency per minute; fails if they
    /// grow.
    Soak(soak::SoakArgs),
    /// Run the review server: web UI and API on http://127.0.0.1:8000, SQLite in ./histoscore-data.
    Serve(serve::ServeArgs),
    /// Score queued images from the database without serving HTTP (to add scoring capacity
    /// beside a server; share the database and the data folder).
    Worker(worker::WorkerArgs),
    /// Write every record (AI draft, final scores, who and when) to a CSV or JSON file.
    Export(export::ExportArgs),
    /// Copy the database and stored files to a folder while the server runs (SQLite).
    Backup(backup::BackupArgs),
    /// Put a backup made by `histoscore backup` back into a data folder (server stopped).
    Restore(backup::RestoreArgs),
    /// Train a new model from reviewed scores (or a folder and a CSV); it is registered, not
    /// activated.
    Train(train::TrainArgs),
    /// Manage accounts: `histoscore user add NAME --role admin|pathologist|viewer`.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Register slides and images from disk or a mounted share (folders searched
    /// recursively), with the same rules as uploads; they are queued for scoring.
    /// `--in-place` leaves each file where it is and records its path, size and modification
    /// time: a changed or missing file is reported, never silently re-scored.
    Import(import::ImportArgs),
    /// Import the original system's scores from its PostgreSQL database (its image_scores
    /// table): one record per row, values kept as stored, out-of-range ones flagged; running
    /// it again imports nothing twice.
    ImportOriginal(import_original::ImportOriginalArgs),
    /// API tokens for scripts: `histoscore token create --name NAME [--user ACCOUNT]`.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Print a model's architecture, tensor count, head size, id and scoring schema.
    Inspect {
        /// Weights file (.pth state_dict or .safetensors). Without it: the demo model.
        #[arg(env = "HISTOSCORE_MODEL")]
        file: Option<PathBuf>,
        #[command(flatten)]
        schema: SchemaArg,
        #[command(flatten)]
        engine: EngineArg,
        /// Print JSON instead of text.
        #[arg(long, env = "HISTOSCORE_JSON")]
        json: bool,
    },
    /// Write the model as an ONNX graph and/or .safetensors (loadable in PyTorch with the
    /// safetensors library).
    Export {
        #[command(flatten)]
        model: ModelArg,
        /// Where to write the ONNX graph.
        #[arg(long, value_name = "FILE", env = "HISTOSCORE_ONNX_OUT")]
        onnx: Option<PathBuf>,
        /// Where to write the weights as .safetensors.
        #[arg(long, value_name = "FILE", env = "HISTOSCORE_SAFETENSORS_OUT")]
        safetensors: Option<PathBuf>,
    },
    /// Add a model file to the registry of a data folder (it is not activated).
    Import {
        /// Weights file (.pth state_dict or .safetensors).
        file: PathBuf,
        /// A name to show in lists (default: the file name).
        #[arg(long, env = "HISTOSCORE_MODEL_NAME")]
        name: Option<String>,
        /// The area one field covers when this model scores a whole-slide image, in µm
        /// (WIDTHxHEIGHT; default: 2040x1388, the original's 4080 × 2776 px at 0.5 µm/px).
        #[arg(long, value_name = "WxH", value_parser = score::parse_field_um, env = "HISTOSCORE_FIELD_UM")]
        field_um: Option<(f64, f64)>,
        #[command(flatten)]
        schema: SchemaArg,
        #[command(flatten)]
        data: common::DataArgs,
    },
    /// List the registered models; `*` marks the active one.
    List {
        #[command(flatten)]
        data: common::DataArgs,
    },
    /// Print a registered model's entry as JSON: checksum, schema, parent, training-set
    /// snapshot and metrics.
    Show {
        /// Model id (from `histoscore model list`).
        id: String,
        #[command(flatten)]
        data: common::DataArgs,
    },
    /// Make a registered model score new uploads (running servers pick it up before their next
    /// job).
    Activate {
        /// Model id (from `histoscore model list`).
        id: String,
        /// Why, kept with the activation.
        #[arg(long, env = "HISTOSCORE_REASON")]
        reason: Option<String>,
        #[command(flatten)]
        data: common::DataArgs,
    },
    /// Activate the model that was active before the current one.
    Rollback {
        #[command(flatten)]
        data: common::DataArgs,
    },
    /// Show or set the retraining policy: when the server trains a new model on its own from
    /// the reviewed images, and whether a model that proves better on the evaluation set is
    /// promoted at once or waits for approval. With no options, prints the policy.
    Policy {
        /// Retrain once this many images were reviewed since the last run (`off`: not on
        /// this ground).
        #[arg(long, value_name = "N|off", value_parser = parse_count_or_off, env = "HISTOSCORE_RETRAIN_AFTER")]
        after_reviewed: Option<Off>,
        /// Retrain every this many hours (`off`: no schedule).
        #[arg(long, value_name = "HOURS|off", value_parser = parse_count_or_off, env = "HISTOSCORE_RETRAIN_EVERY_HOURS")]
        every_hours: Option<Off>,
        /// `fine-tune` the last layers of the network (default) or train the `head` only
        /// (the last layer; seconds instead of minutes).
        #[arg(long, value_parser = ["fine-tune", "head"], env = "HISTOSCORE_RETRAIN_MODE")]
        mode: Option<String>,
        /// Layers a fine-tune trains, comma-separated (default layer3,layer4,fc).
        #[arg(long, value_delimiter = ',', env = "HISTOSCORE_RETRAIN_LAYERS")]
        layers: Option<Vec<String>>,
        /// What happens to a better model: `approval` (it waits for an administrator; the
        /// default) or `auto` (it becomes the active model at once).
        #[arg(long, value_parser = ["approval", "auto"], env = "HISTOSCORE_RETRAIN_PROMOTE")]
        promote: Option<String>,
        /// Metrics whose error must improve, comma-separated (`all`: every metric).
        #[arg(long, value_delimiter = ',', env = "HISTOSCORE_RETRAIN_METRICS")]
        metrics: Option<Vec<String>>,
        #[command(flatten)]
        schema: SchemaArg,
        #[command(flatten)]
        data: common::DataArgs,
    },
}

/// A positive count, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct Off(pub Option<i64>);

fn parse_count_or_off(s: &str) -> Result<Off, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Off(None));
    }
    match s.parse::<i64>() {
        Ok(n) if n >= 1 => Ok(Off(Some(n))),
        _ => Err(format!(
            "{s:?} is not a whole number of at least 1 (or `off`)"
        )),
    }
}

/// `--model`: shared by every command that scores.
#[derive(Args, Clone)]
pub struct ModelArg {
    /// Trained weights: the original's `pancreas_model.pth` (PyTorch state_dict) or a
    /// `.safetensors` file. Without it, a clearly labelled demo model runs whose scores mean
    /// nothing.
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_MODEL")]
    pub model: Option<PathBuf>,
}

/// `--engine` and `--threads`: shared by every command that runs the network.
#[derive(Args, Clone)]
pub struct EngineArg {
    /// Inference engine: `ort` (ONNX Runtime, fastest; its library is looked for in
    /// ORT_DYLIB_PATH, next to the binary, then on the system library path), `tract` (pure
    /// Rust, always available) or `auto` (ort when found, tract otherwise).
    #[arg(long, default_value = "auto", value_parser = ["auto", "ort", "tract"], env = "HISTOSCORE_ENGINE")]
    pub engine: String,
    /// Threads per inference (default: every core).
    #[arg(long, env = "HISTOSCORE_THREADS")]
    pub threads: Option<usize>,
}

impl EngineArg {
    pub fn kind(&self) -> histoscore_engine::EngineKind {
        self.engine.parse().expect("clap restricts the values")
    }

    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(histoscore_engine::default_threads)
            .max(1)
    }
}

/// `--schema`: shared by every command that scores.
#[derive(Args, Clone)]
pub struct SchemaArg {
    /// Scoring schema (TOML or JSON: step, metrics with name and max). Default: the original's
    /// four pancreas metrics in quarter steps.
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_SCHEMA")]
    pub schema: Option<PathBuf>,
}

impl SchemaArg {
    pub fn load(&self) -> Result<Schema> {
        match &self.schema {
            None => Ok(Schema::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("could not read the schema file {}", p.display()))?;
                Schema::parse(&text)
                    .with_context(|| format!("the schema file {} is not valid", p.display()))
            }
        }
    }
}

impl ModelArg {
    /// Loads the model (or the demo model sized for `schema`) and checks that they fit.
    pub fn load(&self, schema: &Schema) -> Result<Model> {
        let model = match &self.model {
            Some(p) => Model::load(p)?,
            None => Model::demo(schema.metrics.len()),
        };
        check_fit(&model, schema)?;
        Ok(model)
    }
}

pub fn check_fit(model: &Model, schema: &Schema) -> Result<()> {
    if model.head() != schema.metrics.len() {
        bail!(
            "the model has {} outputs but the schema lists {} metrics ({}); pass the --schema \
             the model was trained with",
            model.head(),
            schema.metrics.len(),
            schema.metric_names().join(", ")
        );
    }
    Ok(())
}

/// The banner every demo-model run prints to stderr.
pub fn demo_banner(model: &Model) {
    if model.is_demo() {
        common::announce(format!(
            "DEMO MODEL ({}) — no trained model was given (--model FILE); these scores are NOT \
             meaningful.",
            model.id()
        ));
    }
}

fn serial_parser(pattern: Option<&str>) -> Result<SerialParser> {
    Ok(match pattern {
        Some(p) => SerialParser::new(p)?,
        None => SerialParser::default(),
    })
}

/// The engine `kind` resolves to on this machine, or why it cannot run.
pub fn engine_in_use(kind: histoscore_engine::EngineKind) -> Result<histoscore_engine::EngineKind> {
    use histoscore_engine::{ort_backend::ort_environment, EngineKind};
    Ok(match kind {
        EngineKind::Tract => EngineKind::Tract,
        EngineKind::Ort => {
            ort_environment().map_err(|e| anyhow::anyhow!(e))?;
            EngineKind::Ort
        }
        EngineKind::Auto => {
            if ort_environment().is_ok() {
                EngineKind::Ort
            } else {
                EngineKind::Tract
            }
        }
    })
}

fn inspect(file: Option<&Path>, schema: &Schema, engine: &EngineArg, json: bool) -> Result<()> {
    let engine_name = engine_in_use(engine.kind())?;
    let model = match file {
        Some(f) => Model::load(f)?,
        None => Model::demo(schema.metrics.len()),
    };
    let fits = check_fit(&model, schema);
    let w = model.weights();
    let info = serde_json::json!({
        "architecture": "ResNet18 (torchvision layout), linear head 512→N",
        "source": model.source().map(|p| p.display().to_string()),
        "id": model.id(),
        "demo": model.is_demo(),
        "tensors": w.len(),
        "parameters": w.parameter_count(),
        "head": model.head(),
        "engine": engine_name,
        "schema": schema,
        "schema_fits": fits.as_ref().map(|_| true).unwrap_or(false),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        println!("architecture  ResNet18 (torchvision layout)");
        match model.source() {
            Some(p) => println!("source        {}", p.display()),
            None => {
                println!("source        built-in DEMO model (untrained; scores are not meaningful)")
            }
        }
        println!("id            {}", model.id());
        println!("tensors       {} ({} values)", w.len(), w.parameter_count());
        println!("head          fc 512 → {}", model.head());
        println!("engine        {engine_name}");
        println!("schema        {} (step {})", schema.name, schema.step);
        for m in &schema.metrics {
            println!("  {:<28} 0 – {}", m.name, m.max);
        }
    }
    fits
}

/// glibc raises its mmap threshold after big buffers are freed, so the next 34 MB images are
/// taken from (and kept in) per-thread heaps: a server decoding images on several threads then
/// holds far more memory than it uses. A fixed threshold returns big buffers to the system as
/// soon as they are freed (peak memory under 20 concurrent 34 MB uploads: 435 → 259 MB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_big_buffers_to_the_system() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_big_buffers_to_the_system() {}

fn main() -> std::process::ExitCode {
    return_big_buffers_to_the_system();
    let cli = Cli::parse();
    // The server logs requests and jobs by default; the batch commands only warnings.
    let default_filter = match cli.command {
        Command::Serve(_) | Command::Worker(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    if cli.log_format == "json" {
        common::LOG_JSON.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    } else {
        // Colour codes only for a person at a terminal, never into a file or a collector.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::env::var_os("NO_COLOR").is_none();
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_env_filter(filter)
            .init();
    }
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::BenchServer(args) => bench_server::run(args).map(|_| true),
        Command::BenchWorkers(args) => bench_workers::run(args).map(|_| true),
        Command::BenchTrain(args) => bench_train::run(args).map(|_| true),
        Command::BenchSlide(args) => bench_slide::run(args).map(|_| true),
        Command::Soak(args) => soak::run(args),
        Command::Worker(args) => worker::worker(args),
        Command::Export(args) => export::export(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::User(cmd) => users::run(cmd),
        Command::Import(args) => import::run(args),
        Command::ImportOriginal(args) => import_original::run(args),
        Command::Token(cmd) => tokens::run(cmd),
        Command::Train(args) => train::run(args),
        Command::Score(args) => score::run(args),
        Command::Bench(args) => bench::run(args).map(|_| true),
        Command::Model(ModelCommand::Inspect {
            file,
            schema,
            engine,
            json,
        }) => schema
            .load()
            .and_then(|s| inspect(file.as_deref(), &s, &engine, json))
            .map(|_| true),
        Command::Model(ModelCommand::Export {
            model,
            onnx,
            safetensors,
        }) => (|| {
            if onnx.is_none() && safetensors.is_none() {
                bail!("say what to write: --onnx FILE and/or --safetensors FILE");
            }
            let schema = Schema::default();
            let m = match &model.model {
                Some(p) => Model::load(p)?,
                None => Model::demo(schema.metrics.len()),
            };
            demo_banner(&m);
            if let Some(onnx) = onnx {
                std::fs::write(&onnx, m.onnx())
                    .with_context(|| format!("could not write {}", onnx.display()))?;
                eprintln!("wrote {} (model {})", onnx.display(), m.id());
            }
            if let Some(st) = safetensors {
                m.save_safetensors(&st)
                    .map_err(|e| anyhow::anyhow!("could not write {}: {e}", st.display()))?;
                eprintln!("wrote {} (model {})", st.display(), m.id());
            }
            Ok(true)
        })(),
        Command::Model(cmd) => registry::registry(cmd),
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            if common::LOG_JSON.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::error!("{e:#}");
            } else {
                eprintln!("histoscore: error: {e:#}");
            }
            std::process::ExitCode::from(2)
        }
    }
}
