//! `histoscore import PATH... [--in-place]`: registers slides and images from disk or a
//! mounted share, with the same rules as uploads. Each file is checked (decoded, or opened as a
//! slide) and queued for scoring; a running server or worker on the same database scores it.
//! `--in-place` leaves the file where it is and records its path, size and modification time:
//! a changed or missing file is reported (here, and by the job that would read it), never
//! silently re-scored.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use histoscore_app::archive;
use histoscore_app::blobs::{original_key, preview_key, BlobStore};
use histoscore_app::intake::{place, record, Placement};
use histoscore_app::originals::{check_source, stat, SourceState};
use histoscore_domain::serial::SerialParser;
use histoscore_imaging::slide::{classify, slide_refusal, FileKind};
use histoscore_imaging::DecodeOptions;
use histoscore_store::{NewImage, SourceFile, Store};
use serde::Serialize;

use crate::common::{runtime, DataArgs};

#[derive(Args)]
pub struct ImportArgs {
    /// Slide or image files, or folders (searched recursively for images and slides).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Leave each file where it is and record its path, size and modification time instead of
    /// copying it into the data folder (for slide libraries on network storage). Every server
    /// and worker must see the file at the same path.
    #[arg(long, env = "HISTOSCORE_IN_PLACE")]
    in_place: bool,
    /// Register a different file under a name that is already known as a new record (also the
    /// way to register a changed in-place file again; the old record keeps its scores).
    #[arg(long, env = "HISTOSCORE_KEEP_BOTH")]
    keep_both: bool,
    /// Who the new records are attributed to.
    #[arg(long, default_value = "import", env = "HISTOSCORE_IMPORT_ACTOR")]
    actor: String,
    /// Print the report as JSON.
    #[arg(long, env = "HISTOSCORE_JSON")]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// What happened to one file.
#[derive(Debug, Serialize)]
pub struct Line {
    path: String,
    /// new, known, duplicate, conflict, deleted, changed, missing or refused.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    /// "image" or "slide" (new records).
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl Line {
    fn new(path: &Path, status: &'static str) -> Self {
        Self {
            path: path.display().to_string(),
            status,
            id: None,
            kind: None,
            detail: None,
        }
    }

    fn id(mut self, id: i64) -> Self {
        self.id = Some(id);
        self
    }

    fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    /// Reported as a problem (the exit status says so).
    fn is_problem(&self) -> bool {
        matches!(
            self.status,
            "refused" | "changed" | "missing" | "conflict" | "deleted"
        )
    }
}

pub fn run(args: ImportArgs) -> Result<bool> {
    let files = expand(&args.paths)?;
    runtime()?.block_on(async move {
        let store = args.data.open().await?;
        let blobs = args.data.blobs()?;
        let tmp = args.data.data_dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let importer = Importer {
            store: &store,
            blobs: &*blobs,
            tmp,
            serials: crate::serial_parser(None)?,
            decode: DecodeOptions::default(),
            args: &args,
        };
        let mut lines = Vec::new();
        for path in &files {
            let line = importer.one(path).await;
            if !args.json {
                print_line(&line);
            }
            lines.push(line);
        }
        // In-place records under the folders given whose file is gone or changed, and that
        // this run did not see.
        if args.in_place {
            for dir in args.paths.iter().filter(|p| p.is_dir()) {
                let prefix = format!("{}/", absolute(dir)?.display());
                for r in store.in_place_under(&prefix).await? {
                    let Some(src) = &r.source else { continue };
                    if lines.iter().any(|l| l.path == src.path) {
                        continue;
                    }
                    let line = match check_source(src) {
                        SourceState::Unchanged => continue,
                        SourceState::Changed { .. } => Line::new(Path::new(&src.path), "changed")
                            .id(r.id)
                            .detail(changed_detail(r.id)),
                        SourceState::Missing(why) => Line::new(Path::new(&src.path), "missing")
                            .id(r.id)
                            .detail(format!(
                                "registered in place as image {} but cannot be read ({why}); \
                                 its record and scores are kept",
                                r.id
                            )),
                    };
                    if !args.json {
                        print_line(&line);
                    }
                    lines.push(line);
                }
            }
        }
        let new = lines.iter().filter(|l| l.status == "new").count();
        let problems = lines.iter().filter(|l| l.is_problem()).count();
        if args.json {
            println!("{}", serde_json::to_string_pretty(&lines)?);
        } else {
            eprintln!(
                "{} files: {new} new, {} already known or duplicates, {problems} to look at. \
                 New ones are queued: a running `histoscore serve` or `histoscore worker` on \
                 this database scores them.",
                lines.len(),
                lines
                    .iter()
                    .filter(|l| matches!(l.status, "known" | "duplicate"))
                    .count()
            );
        }
        store.close().await;
        Ok(problems == 0)
    })
}

fn print_line(l: &Line) {
    let id = l.id.map(|i| format!("image {i}")).unwrap_or_default();
    let kind = l.kind.unwrap_or("");
    match &l.detail {
        Some(d) => println!("{:<9} {:<11} {:<5} {}: {d}", l.status, id, kind, l.path),
        None => println!("{:<9} {:<11} {:<5} {}", l.status, id, kind, l.path),
    }
}

fn changed_detail(id: i64) -> String {
    format!(
        "the file changed since it was registered as image {id} (size or modification time): \
         it is not re-scored; import it with --keep-both to register the new version as a new \
         record (image {id} keeps its scores)"
    )
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{} cannot be read", p.display()))
}

/// The files to import: files as given, folders searched recursively (name order). The
/// files beside a multi-file slide's index (MIRAX's folder, VMS's JPEGs) are its parts, not
/// images of their own.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    for p in crate::score::expand(paths) {
        let parent = p.parent().unwrap_or(Path::new("."));
        let stem = p.file_stem().map(|s| s.to_string_lossy().to_lowercase());
        let part_of_vms = p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jpg"))
            && std::fs::read_dir(parent).is_ok_and(|rd| {
                rd.flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().to_lowercase();
                    n.strip_suffix(".vms")
                        .is_some_and(|v| stem.as_deref().is_some_and(|s| s.starts_with(v)))
                })
            });
        if !part_of_vms {
            out.push(p);
        }
    }
    Ok(out)
}

struct Importer<'a> {
    store: &'a Store,
    blobs: &'a dyn BlobStore,
    tmp: PathBuf,
    serials: SerialParser,
    decode: DecodeOptions,
    args: &'a ImportArgs,
}

/// What a file turned out to be, checked.
struct Checked {
    width: i64,
    height: i64,
    format: String,
    slide: Option<serde_json::Value>,
    previews: (Vec<u8>, Vec<u8>),
    pixel_size_um: Option<f64>,
}

impl Importer<'_> {
    async fn one(&self, given: &Path) -> Line {
        match self.try_one(given).await {
            Ok(line) => line,
            Err(e) => Line::new(given, "refused").detail(format!("{e:#}")),
        }
    }

    async fn try_one(&self, given: &Path) -> Result<Line> {
        let path = absolute(given)?;
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "import".into());
        let (size, mtime_ms) = stat(&path).with_context(|| "not a readable file".to_string())?;
        let multi_file = path.extension().is_some_and(|x| {
            archive::SLIDE_INDEX_EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str())
        });
        let zipped = archive::is_zip(&path);
        if zipped && self.args.in_place {
            return Ok(Line::new(&path, "refused").detail(
                "a zip is unpacked into the data folder, so it cannot stay in place: import it \
                 without --in-place, or unzip it on the share and import its .mrxs or .vms with \
                 --in-place",
            ));
        }
        if multi_file && !self.args.in_place {
            return Ok(Line::new(&path, "refused").detail(
                "a MIRAX or VMS slide is several files: import it with --in-place, or zip it \
                 with its files and import or upload the zip",
            ));
        }
        let path_text = path.to_string_lossy().into_owned();
        if self.args.in_place {
            if let Some(r) = self.store.find_by_source_path(&path_text).await? {
                let src = r.source.clone().expect("found by its source path");
                if src.size == size && src.mtime_ms == mtime_ms {
                    return Ok(Line::new(&path, "known").id(r.id));
                }
                if !self.args.keep_both {
                    return Ok(Line::new(&path, "changed")
                        .id(r.id)
                        .detail(changed_detail(r.id)));
                }
            }
        }
        let hashed = path.clone();
        let sha =
            tokio::task::spawn_blocking(move || histoscore_app::originals::sha256_file(&hashed))
                .await??;
        let waiting = match place(
            self.store,
            &filename,
            &sha,
            self.args.keep_both,
            &self.args.actor,
        )
        .await?
        {
            Placement::Known(r) => return Ok(Line::new(&path, "known").id(r.id)),
            Placement::Duplicate(r) => {
                return Ok(Line::new(&path, "duplicate").id(r.id).detail(format!(
                    "the same file as image {} ({:?})",
                    r.id, r.filename
                )))
            }
            Placement::NameTaken(r) => {
                return Ok(Line::new(&path, "conflict").id(r.id).detail(format!(
                    "a different file named {filename:?} is image {}; import with --keep-both \
                     to keep both",
                    r.id
                )))
            }
            Placement::Deleted(r) => {
                return Ok(Line::new(&path, "deleted").id(r.id).detail(format!(
                    "this file was image {}, which was deleted: restore it in History (its \
                     scores come back), or import with --keep-both for a new record",
                    r.id
                )))
            }
            Placement::Store { waiting } => waiting,
        };
        let unpack_to = zipped.then(|| archive::unpacked_dir(&self.args.data.data_dir, &sha));
        let (checked_path, decode) = (path.clone(), self.decode.clone());
        let checked = match tokio::task::spawn_blocking(move || {
            check(&checked_path, &decode, unpack_to.as_deref())
        })
        .await?
        {
            Ok(c) => c,
            Err(why) => return Ok(Line::new(&path, "refused").detail(why)),
        };
        let kind = if checked.slide.is_some() {
            "slide"
        } else {
            "image"
        };
        let source = if self.args.in_place {
            Some(SourceFile {
                path: path_text,
                size,
                mtime_ms,
            })
        } else {
            // A copy: the blob store may link the file it is given, and the lab's file must
            // stay the lab's.
            let copy = self
                .tmp
                .join(format!("import-{}-{}", std::process::id(), &sha[..16]));
            tokio::fs::copy(&path, &copy)
                .await
                .with_context(|| format!("copying into {}", self.tmp.display()))?;
            let stored = self.blobs.put_file(&original_key(&sha), &copy).await;
            let _ = tokio::fs::remove_file(&copy).await;
            stored.context("storing the file")?;
            None
        };
        let (thumb, preview) = checked.previews;
        self.blobs
            .put_bytes(&preview_key(&sha, "thumb.jpg"), thumb)
            .await?;
        self.blobs
            .put_bytes(&preview_key(&sha, "preview.jpg"), preview)
            .await?;
        let info = self.serials.parse(&filename);
        let new = NewImage {
            filename,
            serial: Some(info.serial),
            group_name: Some(info.group),
            image_number: info.image_number.and_then(|n| n.parse().ok()),
            sha256: sha.clone(),
            size_bytes: size,
            width: Some(checked.width),
            height: Some(checked.height),
            format: Some(checked.format),
            storage_key: source.is_none().then(|| original_key(&sha)),
            slide: checked.slide,
            source,
            pixel_size_um: checked.pixel_size_um,
        };
        let rec = record(self.store, &new, waiting, &self.args.actor).await?;
        let mut line = Line::new(&path, "new").id(rec.id);
        line.kind = Some(kind);
        Ok(line)
    }
}

/// Opens the file as the server would (a slide through OpenSlide, a zipped MIRAX or VMS slide
/// unpacked into `unpack_to` first, an image fully decoded) and makes its previews; `Err` says
/// why it is refused.
fn check(path: &Path, decode: &DecodeOptions, unpack_to: Option<&Path>) -> Result<Checked, String> {
    if unpack_to.is_some() || matches!(classify(path, decode), FileKind::Slide { .. }) {
        let c = histoscore_server::media::check_slide(path, unpack_to)?;
        return Ok(Checked {
            width: c.width,
            height: c.height,
            format: c.format,
            slide: Some(c.meta),
            previews: c.previews,
            pixel_size_um: None,
        });
    }
    let img =
        histoscore_imaging::decode_file(path, decode).map_err(|e| slide_refusal(e).to_string())?;
    let previews = histoscore_server::media::make_previews(&img)?;
    Ok(Checked {
        width: img.width.into(),
        height: img.height.into(),
        format: img.format.clone(),
        slide: None,
        previews,
        // As uploads: only a plausible microscope pixel size.
        pixel_size_um: img
            .pixel_size_um
            .map(|(x, _)| x)
            .filter(|x| *x > 0.0 && *x <= 50.0),
    })
}
