//! Where a new file goes: the upsert rules shared by uploads (`POST /api/images`, resumable
//! uploads) and `histoscore import`. The same file under the same name is known; the same
//! content under another name is a duplicate (found under both names); a different file under
//! a known name is a conflict unless both are to be kept; a deleted record's file is offered
//! for restoring; a record imported with its scores only takes its file when it arrives.

use histoscore_store::{ImageRecord, NewImage, Store};

use crate::Result;

/// What to do with a file, by its name and content hash.
#[derive(Debug, Clone)]
pub enum Placement {
    /// The same file under the same name: nothing to do.
    Known(ImageRecord),
    /// The same content under another name: now findable under this name too.
    Duplicate(ImageRecord),
    /// A different image is stored under this name.
    NameTaken(ImageRecord),
    /// This content belongs to a deleted record: restore it, or keep both.
    Deleted(ImageRecord),
    /// Store the file: a new record, or the file of `waiting` (a record without pixels).
    Store { waiting: Option<ImageRecord> },
}

/// Applies the upsert rules to a file `filename` with content `sha`; notes the name of a
/// duplicate (attributed to `actor`).
pub async fn place(
    store: &Store,
    filename: &str,
    sha: &str,
    keep_both: bool,
    actor: &str,
) -> Result<Placement> {
    let same_content = store.find_by_sha256(sha).await?;
    if let Some(existing) = same_content.as_ref().filter(|r| r.filename == filename) {
        return Ok(Placement::Known(existing.clone()));
    }
    // A record imported with its scores only (no pixels) takes its file when it arrives.
    let waiting = store.find_without_file(filename).await?;
    if waiting.is_none() && !keep_both {
        if let Some(existing) = store.find_by_filename(filename).await? {
            return Ok(Placement::NameTaken(existing));
        }
    }
    if let Some(existing) = same_content.filter(|_| waiting.is_none()) {
        store.note_other_name(existing.id, filename, actor).await?;
        return Ok(Placement::Duplicate(existing));
    }
    if !keep_both && waiting.is_none() {
        if let Some(gone) = store.find_deleted_by_sha256(sha).await? {
            return Ok(Placement::Deleted(gone));
        }
    }
    Ok(Placement::Store { waiting })
}

/// Records a stored file: a new record (queued for scoring), or the file of `waiting`.
pub async fn record(
    store: &Store,
    new: &NewImage,
    waiting: Option<ImageRecord>,
    actor: &str,
) -> Result<ImageRecord> {
    Ok(match waiting {
        Some(r) => store.attach_file(r.id, new, actor).await?,
        None => store.insert_image(new, actor).await?,
    })
}
