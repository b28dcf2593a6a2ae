//! `histoscore backup` and `histoscore restore`: a consistent copy of an SQLite data folder
//! while the server runs, and putting one back.

use crate::common::{runtime, DataArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use histoscore_store::Store;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BackupArgs {
    /// Folder to write the copy to (created; must be empty or missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A folder written by `histoscore backup`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Replace an existing database in the data folder.
    #[arg(long, env = "HISTOSCORE_RESTORE_FORCE")]
    force: bool,
}

fn copy_tree(from: &Path, to: &Path) -> Result<u64> {
    let mut n = 0;
    if !from.exists() {
        return Ok(0);
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // partial writes
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            n += copy_tree(&src, &dst)?;
        } else if !dst.exists() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("could not copy {}", src.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Every object of a (remote) file store, listed and copied into `to` under its key, one at
/// a time through the store's local cache.
async fn copy_objects(from: &dyn histoscore_app::blobs::BlobStore, to: &Path) -> Result<u64> {
    let mut n = 0;
    for (key, _) in from.list("").await.context("listing the file store")? {
        let copy = from
            .local_copy(&key)
            .await
            .with_context(|| format!("reading {key} from {}", from.describe()))?;
        let dest = to.join(&key);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(&copy.path, &dest)?;
        n += 1;
    }
    Ok(n)
}

pub fn backup(args: BackupArgs) -> Result<bool> {
    if args.dir.exists() && std::fs::read_dir(&args.dir)?.next().is_some() {
        bail!(
            "{} is not empty; back up into a new folder",
            args.dir.display()
        );
    }
    std::fs::create_dir_all(&args.dir)?;
    runtime()?.block_on(async {
        let store = args.data.open().await?;
        if store.backend() != histoscore_store::Backend::Sqlite {
            bail!(
                "this database is PostgreSQL: back it up with `pg_dump --format=custom DATABASE_URL > histoscore.dump`, \
                 then copy {} (see the README)",
                args.data.data_dir.join("blobs").display()
            );
        }
        // The database first: every file it refers to was stored before its record, and
        // stored files never change, so copying the files afterwards gives a consistent set.
        store
            .backup_sqlite(&args.dir.join("histoscore.db"))
            .await
            .context("could not copy the database")?;
        let copy = Store::open(&format!(
            "sqlite://{}?mode=rw",
            args.dir.join("histoscore.db").display()
        ))
        .await?;
        let problems = copy.integrity_check().await?;
        copy.close().await;
        if !problems.is_empty() {
            bail!("the copied database fails its integrity check: {}", problems.join("; "));
        }
        let files = match args.data.blob_store.as_deref() {
            Some(url) if url.starts_with("s3://") => {
                copy_objects(&*args.data.blobs()?, &args.dir.join("blobs")).await?
            }
            _ => copy_tree(&args.data.data_dir.join("blobs"), &args.dir.join("blobs"))?,
        };
        eprintln!(
            "histoscore: backed up the database and {files} stored files to {}",
            args.dir.display()
        );
        Ok(())
    })?;
    Ok(true)
}

pub fn restore(args: RestoreArgs) -> Result<bool> {
    let src_db = args.dir.join("histoscore.db");
    if !src_db.exists() {
        bail!(
            "{} is not a Histoscore backup (no histoscore.db)",
            args.dir.display()
        );
    }
    if args.data.database.is_some() {
        bail!("restore writes the SQLite database of --data-dir; for PostgreSQL use pg_restore (see the README)");
    }
    let dst_db = args.data.data_dir.join("histoscore.db");
    if dst_db.exists() && !args.force {
        bail!(
            "{} already has a database; stop the server and pass --force to replace it",
            args.data.data_dir.display()
        );
    }
    std::fs::create_dir_all(&args.data.data_dir)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(args.data.data_dir.join(format!("histoscore.db{suffix}")));
    }
    let tmp = args.data.data_dir.join(".histoscore.db.restoring");
    std::fs::copy(&src_db, &tmp)?;
    std::fs::rename(&tmp, &dst_db)?;
    let files = copy_tree(&args.dir.join("blobs"), &args.data.data_dir.join("blobs"))?;
    runtime()?.block_on(async {
        let store = args.data.open().await?;
        let problems = store.integrity_check().await?;
        if !problems.is_empty() {
            bail!(
                "the restored database fails its integrity check: {}",
                problems.join("; ")
            );
        }
        Ok(())
    })?;
    eprintln!(
        "histoscore: restored the database and {files} stored files into {}",
        args.data.data_dir.display()
    );
    Ok(true)
}
