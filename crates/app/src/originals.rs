//! A record's original file: from the blob store, or, for a file registered in place
//! (`histoscore import --in-place`), from its own path once it is checked to be the file that
//! was registered. A changed or missing file is an error that says so: it is never silently
//! read (and so never re-scored) in its new state.

use std::path::Path;
use std::time::UNIX_EPOCH;

use histoscore_store::{ImageRecord, SourceFile};

use crate::blobs::{original_key, BlobStore, LocalCopy};
use crate::{AppError, Result};

/// How a file registered in place compares with what was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    Unchanged,
    /// Its size or modification time differ: (size, mtime_ms) now.
    Changed {
        size: i64,
        mtime_ms: i64,
    },
    /// It cannot be read (moved, deleted, share not mounted): why.
    Missing(String),
}

/// The size and modification time (ms since 1970) of the file at `path`, as recorded.
pub fn stat(path: &Path) -> std::io::Result<(i64, i64)> {
    let m = std::fs::metadata(path)?;
    if !m.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mtime_ms = m
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok((m.len() as i64, mtime_ms))
}

/// The SHA-256 of the file at `path` (lower-case hex), read in 1 MB pieces.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Compares the file at `src.path` with what was recorded.
pub fn check_source(src: &SourceFile) -> SourceState {
    match stat(Path::new(&src.path)) {
        Err(e) => SourceState::Missing(e.to_string()),
        Ok((size, mtime_ms)) if size == src.size && mtime_ms == src.mtime_ms => {
            SourceState::Unchanged
        }
        Ok((size, mtime_ms)) => SourceState::Changed { size, mtime_ms },
    }
}

/// Why the in-place file `src` cannot be used, or `None` when it is unchanged.
pub fn source_problem(src: &SourceFile) -> Option<String> {
    match check_source(src) {
        SourceState::Unchanged => None,
        SourceState::Changed { size, .. } => Some(format!(
            "the file {} has changed since it was registered (now {size} bytes, was {}; or a \
             new modification time): it is not scored as it is now; run `histoscore import` on \
             it again to register the new version",
            src.path, src.size
        )),
        SourceState::Missing(why) => Some(format!(
            "the file {} registered in place cannot be read ({why}): put it back (or mount \
             its share at the same path on every worker) or register it again",
            src.path
        )),
    }
}

/// The slide index inside the zip a multi-file slide was sent as (MIRAX, VMS), if it was.
pub fn archive_entry(record: &ImageRecord) -> Option<&str> {
    record.slide.as_ref()?.get("archive_entry")?.as_str()
}

/// A path to read `record`'s original from. A slide sent as a zip is unpacked (once) under
/// `data_dir`'s cache and the path is its index file's.
pub async fn original(
    blobs: &dyn BlobStore,
    data_dir: &Path,
    record: &ImageRecord,
) -> Result<LocalCopy> {
    if let Some(src) = &record.source {
        if let Some(problem) = source_problem(src) {
            return Err(AppError::Failed(problem));
        }
        return Ok(LocalCopy {
            path: src.path.clone().into(),
            temporary: false,
        });
    }
    let key = record
        .storage_key
        .clone()
        .unwrap_or_else(|| original_key(&record.sha256));
    let copy = blobs.local_copy(&key).await.map_err(|e| {
        AppError::Failed(format!(
            "the stored file of image {} is missing ({e}); upload it again",
            record.id
        ))
    })?;
    let Some(entry) = archive_entry(record) else {
        return Ok(copy);
    };
    let dir = crate::archive::unpacked_dir(data_dir, &record.sha256);
    let index = dir.join(entry);
    tokio::task::spawn_blocking(move || crate::archive::unpack_once(&copy.path, &dir))
        .await
        .map_err(AppError::failed)?
        .map_err(AppError::Failed)?;
    Ok(LocalCopy {
        path: index,
        temporary: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_or_missing_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.svs");
        std::fs::write(&path, b"slide bytes").unwrap();
        let (size, mtime_ms) = stat(&path).unwrap();
        let src = SourceFile {
            path: path.to_string_lossy().into_owned(),
            size,
            mtime_ms,
        };
        assert_eq!(check_source(&src), SourceState::Unchanged);
        assert!(source_problem(&src).is_none());
        std::fs::write(&path, b"other, longer bytes").unwrap();
        assert!(matches!(
            check_source(&src),
            SourceState::Changed { size: 19, .. }
        ));
        assert!(source_problem(&src).unwrap().contains("has changed"));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(check_source(&src), SourceState::Missing(_)));
        assert!(source_problem(&src).unwrap().contains("cannot be read"));
    }
}
