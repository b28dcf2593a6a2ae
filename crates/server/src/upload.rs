//! `POST /api/images`: uploads, streamed to this process's scratch folder, hashed, decoded
//! once, stored by SHA-256 and queued for scoring; each user gets a fair share of the upload
//! slots.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use histoscore_app::archive;
use histoscore_app::blobs::original_key;
use histoscore_app::intake::{place, record, Placement};
use histoscore_imaging::slide::{classify, slide_refusal, FileKind};
use histoscore_store::{ImageRecord, NewImage};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::{Json, Query};
use crate::images::record_response;
use crate::visibility::View;
use crate::{ApiError, AppState};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// `keep_both`: store a different image under a filename that is already known.
    on_conflict: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UploadResult {
    filename: String,
    /// new, known, duplicate, conflict, deleted (the same file was deleted: `id` names the
    /// record to restore) or refused
    status: &'static str,
    id: Option<i64>,
    error: Option<String>,
}

/// What happened to one uploaded file.
pub(crate) enum Outcome {
    New(ImageRecord),
    Known(ImageRecord),
    Duplicate(ImageRecord),
    Refused(ApiError),
}

/// Counts an upload in flight; refuses when too many are, in all or from one user.
struct InFlight(AppState, Option<String>);

/// The most upload slots one user may hold when accounts exist: a quarter (at least one) is
/// always left to the others.
fn per_user_uploads(max: usize) -> usize {
    max.saturating_sub((max / 4).max(1)).max(1)
}

impl InFlight {
    fn enter(s: &AppState, caller: &Caller) -> Result<Self, ApiError> {
        let n = s.uploads_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.metrics.uploads_in_flight.inc();
        let mut guard = InFlight(s.clone(), None);
        if n > s.limits.max_pending_uploads {
            return Err(ApiError::busy(
                2,
                format!(
                    "the server is already receiving {} uploads; try again shortly",
                    s.limits.max_pending_uploads
                ),
            ));
        }
        if !caller.single_user {
            let share = per_user_uploads(s.limits.max_pending_uploads);
            let mut by_user = s.uploads_by_user.lock().unwrap_or_else(|e| e.into_inner());
            let mine = by_user.entry(caller.name.clone()).or_insert(0);
            if *mine >= share {
                return Err(ApiError::busy(
                    2,
                    format!(
                        "you are already sending {share} uploads at once (your share of the \
                         server's upload slots); wait for one to finish"
                    ),
                ));
            }
            *mine += 1;
            guard.1 = Some(caller.name.clone());
        }
        Ok(guard)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.uploads_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.uploads_in_flight.dec();
        if let Some(name) = &self.1 {
            let mut by_user = self
                .0
                .uploads_by_user
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = by_user.get_mut(name) {
                *n -= 1;
                if *n == 0 {
                    by_user.remove(name);
                }
            }
        }
    }
}

/// Upload images (multipart field `file`, repeatable). One file: 201 with the record when
/// new, 200 when known (with its saved, possibly corrected scores) or a duplicate of known
/// content, 4xx when refused. Several files: 200 with one result per file.
#[utoipa::path(post, path = "/api/images", tag = "images", params(UploadParams),
    request_body(content_type = "multipart/form-data", description = "One or more `file` fields"),
    responses((status = 201, body = ImageRecord, description = "New image, queued for scoring"),
              (status = 200, body = ImageRecord, description = "Already known (or several files: `{results: [UploadResult]}`)"),
              (status = 409, body = crate::ErrorBody, description = "A different image under a known filename"),
              (status = 413, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 503, body = crate::ErrorBody, description = "Busy; see Retry-After")))]
pub async fn upload(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<UploadParams>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let keep_both = p.on_conflict.as_deref() == Some("keep_both");
    let mut results = receive_upload(&s, &caller, req, keep_both, |_| Ok(())).await?;
    if results.len() == 1 {
        let (_, o) = results.pop().expect("one result");
        return Ok(match o {
            Outcome::New(r) => record_response(StatusCode::CREATED, &r),
            Outcome::Known(r) | Outcome::Duplicate(r) => record_response(StatusCode::OK, &r),
            Outcome::Refused(e) => e.into_response(),
        });
    }
    let items: Vec<UploadResult> = results
        .into_iter()
        .map(|(filename, o)| {
            let (status, id, error) = match o {
                Outcome::New(r) => ("new", Some(r.id), None),
                Outcome::Known(r) => ("known", Some(r.id), None),
                Outcome::Duplicate(r) => ("duplicate", Some(r.id), None),
                Outcome::Refused(e) if e.error == "deleted_duplicate" => (
                    "deleted",
                    e.extra.as_ref().and_then(|x| x["existing_id"].as_i64()),
                    Some(e.detail),
                ),
                Outcome::Refused(e) if e.status == StatusCode::CONFLICT => {
                    ("conflict", None, Some(e.detail))
                }
                Outcome::Refused(e) => ("refused", None, Some(e.detail)),
            };
            UploadResult {
                filename,
                status,
                id,
                error,
            }
        })
        .collect();
    Ok((StatusCode::OK, Json(json!({"results": items}))).into_response())
}

/// Receives every `file` field of a multipart upload under the upload limits (in flight,
/// per user, queue depth) and applies the upsert rules to each; `accept` may refuse a file by
/// its name before its bytes are read. The records come back as `caller` may see them.
pub(crate) async fn receive_upload(
    s: &AppState,
    caller: &Caller,
    req: axum::extract::Request,
    keep_both: bool,
    accept: fn(&str) -> Result<(), ApiError>,
) -> Result<Vec<(String, Outcome)>, ApiError> {
    crate::refuse_declared_oversize(req.headers(), s.limits.max_upload_bytes)?;
    let busy = match InFlight::enter(s, caller) {
        Err(e) => Err(e),
        Ok(guard) => match s.store.queue_depth().await {
            Ok(d) if d.queued >= s.limits.max_queued_jobs => Err(ApiError::busy(
                10,
                format!(
                    "{} images are waiting to be scored; try again when the queue is shorter",
                    d.queued
                ),
            )),
            Ok(_) => Ok(guard),
            Err(e) => Err(e.into()),
        },
    };
    let _in_flight = match busy {
        Ok(g) => g,
        Err(e) => {
            // Read (and drop) what the client is sending, so that it gets the answer instead
            // of a connection reset; nothing is stored.
            discard_body(req.into_body(), s.limits.max_upload_bytes).await;
            return Err(e);
        }
    };
    let mut multipart = crate::extract::multipart(req, s).await?;
    let mut results: Vec<(String, Outcome)> = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field
            .file_name()
            .map(clean_filename)
            .unwrap_or_else(|| "upload".to_string());
        let outcome = match accept(&filename) {
            Ok(()) => receive(s, field, &filename, keep_both, &caller.name).await,
            Err(e) => Outcome::Refused(e),
        };
        if let Outcome::Refused(e) = &outcome {
            s.metrics.refused.with_label_values(&[e.error]).inc();
        }
        results.push((filename, outcome));
    }
    let view = View::of(s, caller).await?;
    for (_, o) in &mut results {
        if let Outcome::New(r) | Outcome::Known(r) | Outcome::Duplicate(r) = o {
            view.record(r);
        }
    }
    if results.iter().any(|(_, o)| matches!(o, Outcome::New(_))) {
        s.events.poke();
        s.work.notify_waiters();
    }
    if results.is_empty() {
        return Err(ApiError::bad_request(
            "no_file",
            "send the image in a multipart field named \"file\"",
        ));
    }
    Ok(results)
}

async fn discard_body(body: axum::body::Body, limit: u64) {
    let mut stream = body.into_data_stream();
    let mut seen: u64 = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len() as u64;
        if seen > limit {
            break;
        }
    }
}

/// The client's file name as data: the last path component, without control characters,
/// at most 255 characters. It is stored and shown, never used as a path.
pub fn clean_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "upload".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Streams one file to a temporary file (hashing as it goes), then applies the upsert rules.
async fn receive(
    s: &AppState,
    mut field: axum::extract::multipart::Field<'_>,
    filename: &str,
    keep_both: bool,
    actor: &str,
) -> Outcome {
    let tmp = s.scratch.temp_file(&format!("upload-{}", crate::unique()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(ApiError::internal)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad_request("upload_interrupted", e.body_text()))?
        {
            size += chunk.len() as u64;
            if size > s.limits.max_upload_bytes {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "the file is larger than the server's limit of {} MB (--max-upload-mb)",
                        s.limits.max_upload_bytes >> 20
                    ),
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        if size == 0 {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_image",
                "the file is empty",
            ));
        }
        file.flush().await.map_err(ApiError::internal)?;
        Ok((hex::encode(hasher.finalize()), size))
    }
    .await;
    let outcome = match result {
        Err(e) => Outcome::Refused(e),
        Ok((sha, size)) => match decide(s, &tmp, filename, &sha, size, keep_both, actor).await {
            Ok(o) => o,
            Err(e) => Outcome::Refused(e),
        },
    };
    drop(tmp);
    outcome
}

pub(crate) async fn decide(
    s: &AppState,
    tmp: &std::path::Path,
    filename: &str,
    sha: &str,
    size: u64,
    keep_both: bool,
    actor: &str,
) -> Result<Outcome, ApiError> {
    let waiting = match place(&s.store, filename, sha, keep_both, actor).await? {
        Placement::Known(existing) => return Ok(Outcome::Known(existing)),
        Placement::Duplicate(existing) => return Ok(Outcome::Duplicate(existing)),
        Placement::NameTaken(existing) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "filename_conflict",
                format!(
                    "a different image named {filename:?} is already stored; upload with \
                     ?on_conflict=keep_both to keep both"
                ),
            )
            .with(json!({"existing_sha256": existing.sha256, "uploaded_sha256": sha, "existing_id": existing.id})))
        }
        Placement::Deleted(gone) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "deleted_duplicate",
                format!(
                    "this image was deleted (record {}, {:?}); restore it to get its scores and \
                     corrections back (POST /api/images/{}/restore), or upload with \
                     ?on_conflict=keep_both to start a new record with a fresh AI draft",
                    gone.id, gone.filename, gone.id
                ),
            )
            .with(json!({"existing_id": gone.id, "deleted_at": gone.deleted_at})))
        }
        Placement::Store { waiting } => waiting,
    };
    // A whole-slide image takes the slide path: opened with OpenSlide, its previews cut from
    // its smallest level, scored field by field by its job.
    // A MIRAX or VMS slide (several files) comes as one zip.
    let (path, opts) = (tmp.to_path_buf(), s.scorer.decode.clone());
    let (kind, zipped) = tokio::task::spawn_blocking(move || {
        let zipped = archive::is_zip(&path);
        let kind = if zipped {
            FileKind::Image
        } else {
            classify(&path, &opts)
        };
        (kind, zipped)
    })
    .await
    .map_err(ApiError::internal)?;
    if zipped || matches!(kind, FileKind::Slide { .. }) {
        let new = accept_slide(s, tmp, filename, sha, size, zipped).await?;
        return Ok(Outcome::New(record(&s.store, &new, waiting, actor).await?));
    }
    // Decode once, fully, before accepting: anything the engine refuses leaves nothing
    // behind. The decoded pixels then give the network's input and the previews, after the
    // answer (see `prepare_in_background`).
    let permit = s
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let opts = s.scorer.decode.clone();
    let path = tmp.to_path_buf();
    let img = tokio::task::spawn_blocking(move || histoscore_imaging::decode_file(&path, &opts))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_image",
                format!("{}", slide_refusal(e)),
            )
        })?;
    let (width, height, format) = (img.width, img.height, img.format.clone());
    // Only a plausible microscope pixel size: a screen or print default (72 dpi is 353 µm)
    // would draw a wrong scale bar.
    let pixel_size_um = img
        .pixel_size_um
        .map(|(x, _)| x)
        .filter(|x| *x > 0.0 && *x <= 50.0);
    s.blobs
        .put_file(&original_key(sha), tmp)
        .await
        .map_err(ApiError::storage)?;
    // Announced before the record exists, so that the worker that takes its job waits for
    // the input rather than decoding the file a second time.
    let filler = s.handoff.announce(sha);
    prepare_in_background(s, sha, img, permit, filler);
    let info = s.scorer.serials.parse(filename);
    let new = NewImage {
        filename: filename.to_string(),
        serial: Some(info.serial),
        group_name: Some(info.group),
        image_number: info.image_number.and_then(|n| n.parse().ok()),
        sha256: sha.to_string(),
        size_bytes: size as i64,
        width: Some(width.into()),
        height: Some(height.into()),
        format: Some(format),
        storage_key: Some(original_key(sha)),
        slide: None,
        source: None,
        pixel_size_um,
    };
    Ok(Outcome::New(record(&s.store, &new, waiting, actor).await?))
}

/// Checks a whole-slide image (it opens and its overview can be read), stores it and its
/// previews, and gives the record to insert. A `zipped` slide (MIRAX, VMS) is unpacked into
/// the data folder's cache and opened from there; the zip is what is stored. Nothing is stored
/// when the slide is refused.
async fn accept_slide(
    s: &AppState,
    tmp: &std::path::Path,
    filename: &str,
    sha: &str,
    size: u64,
    zipped: bool,
) -> Result<NewImage, ApiError> {
    let _permit = s
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let path = tmp.to_path_buf();
    let unpack_to = zipped.then(|| archive::unpacked_dir(&s.data_dir, sha));
    let checked =
        tokio::task::spawn_blocking(move || crate::media::check_slide(&path, unpack_to.as_deref()))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupported_image", e))?;
    s.blobs
        .put_file(&original_key(sha), tmp)
        .await
        .map_err(ApiError::storage)?;
    let (thumb, preview) = checked.previews;
    crate::media::store_previews(s, sha, thumb, preview).await;
    let info = s.scorer.serials.parse(filename);
    Ok(NewImage {
        filename: filename.to_string(),
        serial: Some(info.serial),
        group_name: Some(info.group),
        image_number: info.image_number.and_then(|n| n.parse().ok()),
        sha256: sha.to_string(),
        size_bytes: size as i64,
        width: Some(checked.width),
        height: Some(checked.height),
        format: Some(checked.format),
        storage_key: Some(original_key(sha)),
        slide: Some(checked.meta),
        source: None,
        pixel_size_um: None,
    })
}

/// After the upload is answered: the network's input for the scoring worker, then the
/// thumbnail and preview, from the pixels the upload decoded. The decode slot is held until
/// the pixels are dropped, so memory stays bounded however many uploads arrive.
fn prepare_in_background(
    s: &AppState,
    sha: &str,
    img: histoscore_imaging::DecodedImage,
    permit: tokio::sync::OwnedSemaphorePermit,
    filler: histoscore_app::handoff::Filler,
) {
    let (s, sha) = (s.clone(), sha.to_string());
    tokio::spawn(async move {
        let scorer = s.scorer.clone();
        let made = tokio::task::spawn_blocking(move || {
            filler.fill(scorer.prepare_decoded(&img));
            let previews = crate::media::make_previews(&img);
            drop(img);
            drop(permit);
            previews
        })
        .await;
        match made {
            Ok(Ok((thumb, preview))) => {
                crate::media::store_previews(&s, &sha, thumb, preview).await
            }
            Ok(Err(e)) => tracing::warn!("previews of {sha}: {e}"),
            Err(e) => tracing::warn!("preparing {sha} failed: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{clean_filename, per_user_uploads};

    #[test]
    fn one_user_leaves_a_quarter_of_the_upload_slots() {
        assert_eq!(per_user_uploads(64), 48);
        assert_eq!(per_user_uploads(4), 3);
        assert_eq!(per_user_uploads(2), 1);
        assert_eq!(per_user_uploads(1), 1);
    }

    #[test]
    fn filenames_are_data_not_paths() {
        assert_eq!(clean_filename("../x.tif"), "x.tif");
        assert_eq!(clean_filename("a/b/../../c.tif"), "c.tif");
        assert_eq!(clean_filename("C:\\Users\\x\\s.tif"), "s.tif");
        assert_eq!(clean_filename(".."), "upload");
        assert_eq!(clean_filename("a\u{0}b\nc.tif"), "abc.tif");
        assert_eq!(clean_filename("S-1 image.tif"), "S-1 image.tif");
    }
}
