//! `histoscore import-original`: the original system's scores become Histoscore records.

use anyhow::{Context, Result};
use clap::Args;
use histoscore_app::import::{import_rows, ImportReport};
use histoscore_store::read_original;

use crate::common::{runtime, DataArgs};
use crate::SchemaArg;

/// Who the imported scores are attributed to: the original kept no user names.
pub const IMPORT_ACTOR: &str = "original-system";

#[derive(Args)]
pub struct ImportOriginalArgs {
    /// The original system's database: its DATABASE_URL (`postgresql://user:password@host/db`;
    /// `postgresql+psycopg2://…` is accepted too). Every row of its `image_scores` table is
    /// read; nothing is written there.
    #[arg(
        long = "from",
        value_name = "URL",
        env = "HISTOSCORE_ORIGINAL_DATABASE_URL",
        hide_env_values = true
    )]
    from: String,
    /// Print the report as JSON.
    #[arg(long, env = "HISTOSCORE_JSON")]
    json: bool,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(args: ImportOriginalArgs) -> Result<bool> {
    let schema = args.schema.load()?;
    runtime()?.block_on(async move {
        let rows = read_original(&args.from)
            .await
            .context("could not read the original system's scores")?;
        let store = args.data.open().await?;
        let report = import_rows(&store, &schema, &rows, IMPORT_ACTOR).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", text(&report));
        }
        Ok(true)
    })
}

/// The report a person reads: counts, then every row that needs a look.
fn text(r: &ImportReport) -> String {
    let flagged: Vec<_> = r.flagged().collect();
    let mut out = format!(
        "{} rows in the original's image_scores: {} imported ({} need review), {} imported \
         before, {} skipped (the file name is taken here)\n",
        r.rows,
        r.imported.len(),
        flagged.len(),
        r.already_imported.len(),
        r.name_taken.len()
    );
    if !flagged.is_empty() {
        out.push_str("\nNeed review (imported as stored; shown in History as \"needs review\"):\n");
        for row in flagged {
            for (metric, why) in &row.flags {
                out.push_str(&format!(
                    "  original row {} → image {} {}: {metric}: {why}\n",
                    row.original_id, row.image_id, row.filename
                ));
            }
        }
    }
    if !r.name_taken.is_empty() {
        out.push_str("\nNot imported: a record with this file name exists here already:\n");
        for row in &r.name_taken {
            out.push_str(&format!(
                "  original row {} {} (image {} here)\n",
                row.original_id, row.filename, row.image_id
            ));
        }
    }
    if !r.imported.is_empty() {
        out.push_str(
            "\nThe imported records have no pixels yet: uploading a file with the same name \
             attaches it and adds an AI draft beside the imported scores.\n",
        );
    }
    out
}
