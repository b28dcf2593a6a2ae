//! `histoscore export`: every record as CSV or JSON, as the web UI's download writes it.

use crate::common::{runtime, DataArgs};
use crate::SchemaArg;
use anyhow::{Context, Result};
use clap::Args;
use histoscore_app::export::{CsvOptions, Download, Format, Records};
use histoscore_store::ListQuery;
use std::collections::HashSet;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    schema: SchemaArg,
    /// File to write; `.json` writes JSON, anything else CSV. `-` writes CSV to stdout.
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_EXPORT_OUT")]
    out: PathBuf,
    /// CSV for: `comma` (`,` and 1.5), `semicolon` (`;` and 1,5, e.g. German or French
    /// Excel) or `raw` (R / Python: cells exactly as stored, no formula guard).
    #[arg(long, default_value = "comma", value_parser = ["comma", "semicolon", "raw"], env = "HISTOSCORE_EXPORT_STYLE")]
    style: String,
    /// Add a `created_at_local` column in this time zone (e.g. `Europe/Berlin`).
    #[arg(long, value_name = "ZONE", env = "HISTOSCORE_EXPORT_TZ")]
    tz: Option<String>,
}

pub fn export(args: ExportArgs) -> Result<bool> {
    let schema = args.schema.load()?;
    runtime()?.block_on(async move {
        let store = args.data.open().await?;
        let json = args
            .out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut out: Box<dyn std::io::Write> = if args.out.as_os_str() == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(&args.out)
                    .with_context(|| format!("could not create {}", args.out.display()))?,
            ))
        };
        // The same writer as the web UI's downloads.
        let opts = CsvOptions::parse(Some(&args.style), args.tz.as_deref())?;
        let records =
            Records::matching(&store, schema, HashSet::new(), &ListQuery::default(), opts);
        let mut download = if json {
            let head = records.json_head();
            Download::new(records, head)
        } else {
            Download::new(records, Format::Csv(opts.style.delimiter()))
        };
        while let Some(chunk) = download.next_chunk().await? {
            out.write_all(&chunk)?;
        }
        out.flush()?;
        let n = download.written();
        if args.out.as_os_str() != "-" {
            eprintln!("histoscore: wrote {n} records to {}", args.out.display());
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(true)
}
