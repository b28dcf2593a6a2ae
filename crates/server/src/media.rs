//! Pictures of an image for people: a thumbnail, a larger preview and deep-zoom (DZI) tiles.
//!
//! Previews are made at upload, from the pixels already decoded to check the file, and
//! stored beside the original. Deep-zoom tiles are cut on the first request for an image and
//! cached under the data directory. All are served with long-lived caching headers: an image
//! id always shows the same content.

use crate::extract::Path;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use histoscore_app::blobs::LocalCopy;
use histoscore_imaging::resample::{resize_rgb, Filter};
use histoscore_imaging::slide::Slide;
use histoscore_imaging::DecodedImage;
use histoscore_store::ImageRecord;
use std::io::Cursor;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{ApiError, AppState};
use histoscore_app::blobs::preview_key;

pub const THUMB_MAX: u32 = 256;
pub const PREVIEW_MAX: u32 = 1024;
pub const TILE_SIZE: u32 = 254;
pub const TILE_OVERLAP: u32 = 1;
const JPEG_QUALITY: u8 = 85;

/// `(width, height)` that fits in `max × max`, keeping the aspect ratio; never upscales.
pub fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width <= max && height <= max {
        return (width, height);
    }
    let scale = max as f64 / width.max(height) as f64;
    (
        ((width as f64 * scale).round() as u32).clamp(1, max),
        ((height as f64 * scale).round() as u32).clamp(1, max),
    )
}

pub fn encode_jpeg(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

fn resized(rgb: &[u8], w: u32, h: u32, max: u32) -> (Vec<u8>, u32, u32) {
    let (tw, th) = fit(w, h, max);
    if (tw, th) == (w, h) {
        return (rgb.to_vec(), w, h);
    }
    let out = resize_rgb(
        rgb,
        w as usize,
        h as usize,
        tw as usize,
        th as usize,
        Filter::Bilinear,
    );
    (out, tw, th)
}

/// The thumbnail and preview JPEGs of a decoded image (already 8-bit RGB, so 16-bit, gray,
/// RGBA and palette files come out in the right colours).
pub fn make_previews(img: &DecodedImage) -> Result<(Vec<u8>, Vec<u8>), String> {
    previews_of(&img.rgb, img.width, img.height)
}

fn previews_of(rgb: &[u8], width: u32, height: u32) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (p, pw, ph) = resized(rgb, width, height, PREVIEW_MAX);
    let (t, tw, th) = resized(&p, pw, ph, THUMB_MAX);
    Ok((encode_jpeg(&t, tw, th)?, encode_jpeg(&p, pw, ph)?))
}

/// The thumbnail and preview of a slide, from its overview (its smallest level; label and
/// macro images are never read).
pub fn slide_previews(slide: &Slide) -> Result<(Vec<u8>, Vec<u8>), String> {
    let ov = slide
        .overview(u64::from(PREVIEW_MAX))
        .map_err(|e| e.to_string())?;
    previews_of(&ov.rgb, ov.width as u32, ov.height as u32)
}

/// A slide checked before it is stored: it opens and its overview reads.
pub struct CheckedSlide {
    pub width: i64,
    pub height: i64,
    /// `aperio slide`, `hamamatsu slide (zip)`…
    pub format: String,
    /// The metadata kept with the record (with `archive_entry` for a zipped slide).
    pub meta: serde_json::Value,
    /// Thumbnail and preview (JPEG).
    pub previews: (Vec<u8>, Vec<u8>),
}

/// Opens the slide at `path` and makes its previews. With `unpack_to`, `path` is a zip of a
/// multi-file slide (MIRAX, VMS), unpacked there first (and removed again if refused). `Err`
/// says why the slide is refused.
pub fn check_slide(path: &FsPath, unpack_to: Option<&FsPath>) -> Result<CheckedSlide, String> {
    let checked = (|| {
        let (open_path, entry) = match unpack_to {
            Some(dir) => {
                let entry = histoscore_app::archive::slide_entry(path)?;
                histoscore_app::archive::unpack_once(path, dir)?;
                (dir.join(&entry), Some(entry))
            }
            None => (path.to_path_buf(), None),
        };
        let slide = Slide::open(&open_path).map_err(|e| e.to_string())?;
        let previews = slide_previews(&slide)?;
        let m = &slide.meta;
        let mut meta = serde_json::to_value(m).map_err(|e| e.to_string())?;
        let format = match &entry {
            Some(_) => format!("{} slide (zip)", m.vendor),
            None => format!("{} slide", m.vendor),
        };
        if let (Some(entry), Some(obj)) = (entry, meta.as_object_mut()) {
            obj.insert("archive_entry".into(), entry.into());
        }
        Ok(CheckedSlide {
            width: m.width() as i64,
            height: m.height() as i64,
            format,
            meta,
            previews,
        })
    })();
    if let (Err(_), Some(dir)) = (&checked, unpack_to) {
        let _ = std::fs::remove_dir_all(dir);
    }
    checked
}

/// A slide open in this process, with the local copy it is read from.
pub struct OpenedSlide {
    pub slide: Slide,
    _copy: LocalCopy,
}

/// Slides this process keeps open for tiles (most recently used last), by data folder and
/// content hash.
static OPEN_SLIDES: Mutex<Vec<(String, Arc<OpenedSlide>)>> = Mutex::new(Vec::new());
const OPEN_SLIDES_MAX: usize = 8;

/// The stored slide `sha`, opened once and kept open for the next tiles.
pub async fn open_slide(s: &AppState, r: &ImageRecord) -> Result<Arc<OpenedSlide>, ApiError> {
    let key = format!("{}\n{}", s.data_dir.display(), r.sha256);
    // A file registered in place is checked on every use: it may have changed since.
    if let Some(problem) = r
        .source
        .as_ref()
        .and_then(histoscore_app::originals::source_problem)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "source_changed",
            problem,
        ));
    }
    {
        let mut open = OPEN_SLIDES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = open.iter().position(|(k, _)| *k == key) {
            let hit = open.remove(i);
            let slide = hit.1.clone();
            open.push(hit);
            return Ok(slide);
        }
    }
    let copy = original_file(s, r).await?;
    let path = copy.path.clone();
    let slide = tokio::task::spawn_blocking(move || Slide::open(&path))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unreadable_slide",
                e.to_string(),
            )
        })?;
    let opened = Arc::new(OpenedSlide { slide, _copy: copy });
    let mut open = OPEN_SLIDES.lock().unwrap_or_else(|e| e.into_inner());
    open.push((key, opened.clone()));
    while open.len() > OPEN_SLIDES_MAX {
        open.remove(0);
    }
    Ok(opened)
}

fn jpeg_response(bytes: Vec<u8>, etag: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_string(),
            ),
            (header::ETAG, format!("\"{etag}\"")),
        ],
        bytes,
    )
        .into_response()
}

/// The record's original: stored, or registered in place and unchanged (409 when it changed
/// or is missing: the message says which).
async fn original_file(s: &AppState, r: &ImageRecord) -> Result<LocalCopy, ApiError> {
    histoscore_app::originals::original(&*s.blobs, &s.data_dir, r)
        .await
        .map_err(|e| match &r.source {
            Some(_) => ApiError::new(StatusCode::CONFLICT, "source_changed", e.to_string()),
            None => ApiError::internal(e),
        })
}

/// Decodes the stored original (bounded by the decode slots).
async fn decode_original(s: &AppState, r: &ImageRecord) -> Result<DecodedImage, ApiError> {
    let _permit = s.decode_slots.acquire().await.map_err(ApiError::internal)?;
    let copy = original_file(s, r).await?;
    let opts = s.scorer.decode.clone();
    tokio::task::spawn_blocking(move || histoscore_imaging::decode_file(&copy.path, &opts))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// A record that is not deleted and has its file.
async fn live_record(s: &AppState, id: i64) -> Result<ImageRecord, ApiError> {
    let r = s.store.get_image(id).await?;
    if r.is_deleted() {
        return Err(ApiError::not_found(id));
    }
    if r.sha256.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_file",
            format!(
                "image {id} has no file yet (it was imported with its scores only): upload \
                 {:?} to attach its pixels",
                r.filename
            ),
        ));
    }
    Ok(r)
}

async fn preview(s: &AppState, id: i64, name: &str) -> Result<Response, ApiError> {
    let r = live_record(s, id).await?;
    let sha = r.sha256.clone();
    let key = preview_key(&sha, name);
    if let Some(b) = s.blobs.get_bytes(&key).await.map_err(ApiError::internal)? {
        return Ok(jpeg_response(b, &format!("{sha}-{name}")));
    }
    // Made lazily for images stored before previews existed, or if a preview was lost.
    let (thumb, prev) = if r.is_slide() {
        let opened = open_slide(s, &r).await?;
        tokio::task::spawn_blocking(move || slide_previews(&opened.slide))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    } else {
        let img = decode_original(s, &r).await?;
        tokio::task::spawn_blocking(move || make_previews(&img))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    };
    let bytes = if name == "thumb.jpg" {
        thumb.clone()
    } else {
        prev.clone()
    };
    store_previews(s, &sha, thumb, prev).await;
    Ok(jpeg_response(bytes, &format!("{sha}-{name}")))
}

/// Keeps an image's thumbnail and preview (a failure only means they are made again later).
pub async fn store_previews(s: &AppState, sha: &str, thumb: Vec<u8>, preview: Vec<u8>) {
    let _ = s
        .blobs
        .put_bytes(&preview_key(sha, "thumb.jpg"), thumb)
        .await;
    let _ = s
        .blobs
        .put_bytes(&preview_key(sha, "preview.jpg"), preview)
        .await;
}

/// `GET /api/images/{id}/thumbnail.jpg`
#[utoipa::path(get, path = "/api/images/{id}/thumbnail.jpg", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 200, description = "JPEG, at most 256 px on its longer side", content_type = "image/jpeg"),
               (status = 404, description = "No such image")))]
pub async fn thumbnail(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    preview(&s, id, "thumb.jpg").await
}

/// `GET /api/images/{id}/preview.jpg`
#[utoipa::path(get, path = "/api/images/{id}/preview.jpg", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 200, description = "JPEG, at most 1024 px on its longer side", content_type = "image/jpeg"),
               (status = 404, description = "No such image")))]
pub async fn preview_large(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    preview(&s, id, "preview.jpg").await
}

/// The deep-zoom level count minus one: level `max` is full resolution, level 0 one pixel.
pub fn max_level(width: u32, height: u32) -> u32 {
    let m = width.max(height).max(1);
    32 - (m - 1).leading_zeros()
}

/// `GET /api/images/{id}/tiles.dzi`
#[utoipa::path(get, path = "/api/images/{id}/tiles.dzi", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 200, description = "Deep Zoom descriptor; tiles are under tiles_files/{level}/{col}_{row}.jpg", content_type = "application/xml"),
               (status = 404, description = "No such image")))]
pub async fn dzi(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let r = s.store.get_image(id).await?;
    if r.is_deleted() {
        return Err(ApiError::not_found(id));
    }
    let (w, h) = match (r.width, r.height) {
        (Some(w), Some(h)) => (w, h),
        _ => return Err(ApiError::not_found(id)),
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" \
         Format=\"jpg\" Overlap=\"{TILE_OVERLAP}\" TileSize=\"{TILE_SIZE}\"><Size Width=\"{w}\" Height=\"{h}\"/></Image>\n"
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        xml,
    )
        .into_response())
}

/// `GET /api/images/{id}/tiles_files/{level}/{col}_{row}.jpg`
#[utoipa::path(get, path = "/api/images/{id}/tiles_files/{level}/{tile}", tag = "images",
    params(("id" = i64, Path, description = "Image id"), ("level" = u32, Path, description = "Deep-zoom level"),
           ("tile" = String, Path, description = "`{col}_{row}.jpg`")),
    responses((status = 200, description = "JPEG tile", content_type = "image/jpeg"),
               (status = 404, description = "No such image or tile")))]
pub async fn tile(
    State(s): State<AppState>,
    Path((id, level, tile)): Path<(i64, u32, String)>,
) -> Result<Response, ApiError> {
    let no_tile = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("image {id} has no tile {level}/{tile}"),
        )
    };
    let (col, row) = tile
        .strip_suffix(".jpg")
        .and_then(|t| t.split_once('_'))
        .and_then(|(c, r)| Some((c.parse::<u32>().ok()?, r.parse::<u32>().ok()?)))
        .ok_or_else(no_tile)?;
    let r = live_record(&s, id).await?;
    let sha = r.sha256.clone();
    if r.is_slide() {
        return slide_tile(&s, &r, level, col, row)
            .await?
            .ok_or_else(no_tile);
    }
    let dir = ensure_pyramid(&s, &r).await?;
    let path = dir.join(level.to_string()).join(format!("{col}_{row}.jpg"));
    match tokio::fs::read(&path).await {
        Ok(b) => Ok(jpeg_response(b, &format!("{sha}-{level}-{col}-{row}"))),
        Err(_) => Err(no_tile()),
    }
}

/// One deep-zoom tile of a slide, read from the nearest level of the slide's own pyramid
/// (never a full decode) and cached under the data folder.
async fn slide_tile(
    s: &AppState,
    r: &ImageRecord,
    level: u32,
    col: u32,
    row: u32,
) -> Result<Option<Response>, ApiError> {
    let sha = r.sha256.as_str();
    let etag = format!("{sha}-{level}-{col}-{row}");
    let path = s
        .data_dir
        .join("cache")
        .join("tiles")
        .join(sha)
        .join(level.to_string())
        .join(format!("{col}_{row}.jpg"));
    if let Ok(b) = tokio::fs::read(&path).await {
        return Ok(Some(jpeg_response(b, &etag)));
    }
    let opened = open_slide(s, r).await?;
    let tmp = s.scratch.path(&format!("tile-{}", crate::unique()));
    let target = path.clone();
    let jpg = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, String> {
        let Some((tw, th, rgb)) = opened
            .slide
            .dzi_tile(
                level,
                u64::from(col),
                u64::from(row),
                u64::from(TILE_SIZE),
                u64::from(TILE_OVERLAP),
            )
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let jpg = encode_jpeg(&rgb, tw, th)?;
        // Written beside, then renamed into place: a reader never sees half a tile.
        if let Some(dir) = target.parent() {
            let kept = std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&tmp, &jpg))
                .and_then(|_| std::fs::rename(&tmp, &target));
            if kept.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(Some(jpg))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unreadable_tile", e))?;
    Ok(jpg.map(|j| jpeg_response(j, &etag)))
}

/// The directory holding every tile of this image, cutting them first if needed. One image's
/// pyramid is cut once even when many tile requests arrive together.
async fn ensure_pyramid(s: &AppState, r: &ImageRecord) -> Result<PathBuf, ApiError> {
    let sha = r.sha256.as_str();
    let dir = s.data_dir.join("cache").join("tiles").join(sha);
    if dir.join("complete").exists() {
        return Ok(dir);
    }
    let lock = {
        let mut locks = s.tile_locks.lock().expect("tile lock table");
        locks
            .entry(sha.to_string())
            .or_insert_with(|| std::sync::Arc::new(tokio::sync::Mutex::new(())))
            .clone()
    };
    let _guard = lock.lock().await;
    if dir.join("complete").exists() {
        return Ok(dir);
    }
    let img = decode_original(s, r).await?;
    // Cut in this process's scratch folder, then moved into place whole: a crash leaves no
    // partial pyramid in the cache (the scratch folder is swept at the next start).
    let tmp = s.scratch.path(&format!("tiles-{sha}-{}", crate::unique()));
    let (tmp2, dir2) = (tmp.clone(), dir.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let _ = std::fs::remove_dir_all(&tmp2);
        cut_pyramid(img.rgb, img.width, img.height, &tmp2)?;
        std::fs::write(tmp2.join("complete"), b"")?;
        if let Some(parent) = dir2.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_dir_all(&dir2);
        let moved = std::fs::rename(&tmp2, &dir2);
        if moved.is_err() {
            let _ = std::fs::remove_dir_all(&tmp2);
        }
        moved
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    s.tile_locks.lock().expect("tile lock table").remove(sha);
    Ok(dir)
}

/// Writes every level's tiles under `out/{level}/{col}_{row}.jpg`.
pub fn cut_pyramid(
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    out: &std::path::Path,
) -> std::io::Result<()> {
    let mut level = max_level(width, height);
    let (mut cur, mut w, mut h) = (rgb, width, height);
    loop {
        let ldir = out.join(level.to_string());
        std::fs::create_dir_all(&ldir)?;
        let cols = w.div_ceil(TILE_SIZE);
        let rows = h.div_ceil(TILE_SIZE);
        for r in 0..rows {
            for c in 0..cols {
                let x0 = (c * TILE_SIZE).saturating_sub(if c > 0 { TILE_OVERLAP } else { 0 });
                let y0 = (r * TILE_SIZE).saturating_sub(if r > 0 { TILE_OVERLAP } else { 0 });
                let x1 = ((c + 1) * TILE_SIZE + TILE_OVERLAP).min(w);
                let y1 = ((r + 1) * TILE_SIZE + TILE_OVERLAP).min(h);
                let (tw, th) = (x1 - x0, y1 - y0);
                let mut buf = Vec::with_capacity((tw * th * 3) as usize);
                for y in y0..y1 {
                    let start = ((y * w + x0) * 3) as usize;
                    buf.extend_from_slice(&cur[start..start + (tw * 3) as usize]);
                }
                let jpg = encode_jpeg(&buf, tw, th).map_err(std::io::Error::other)?;
                std::fs::write(ldir.join(format!("{c}_{r}.jpg")), jpg)?;
            }
        }
        if level == 0 {
            return Ok(());
        }
        (cur, w, h) = halve(&cur, w, h);
        level -= 1;
    }
}

/// Halves an RGB image (rounding sizes up), averaging 2×2 blocks.
fn halve(src: &[u8], w: u32, h: u32) -> (Vec<u8>, u32, u32) {
    let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0u8; (nw * nh * 3) as usize];
    for y in 0..nh {
        let (ya, yb) = (2 * y, (2 * y + 1).min(h - 1));
        for x in 0..nw {
            let (xa, xb) = (2 * x, (2 * x + 1).min(w - 1));
            for ch in 0..3 {
                let px = |xx: u32, yy: u32| src[((yy * w + xx) * 3 + ch) as usize] as u32;
                let sum = px(xa, ya) + px(xb, ya) + px(xa, yb) + px(xb, yb);
                out[((y * nw + x) * 3 + ch) as usize] = ((sum + 2) / 4) as u8;
            }
        }
    }
    (out, nw, nh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_fit() {
        assert_eq!(max_level(1, 1), 0);
        assert_eq!(max_level(2, 1), 1);
        assert_eq!(max_level(4080, 2776), 12);
        assert_eq!(max_level(4096, 10), 12);
        assert_eq!(max_level(4097, 10), 13);
        assert_eq!(fit(4080, 2776, 1024), (1024, 697));
        assert_eq!(fit(100, 50, 256), (100, 50));
        assert_eq!(fit(50, 3000, 256), (4, 256));
    }

    #[test]
    fn pyramid_has_every_tile_of_every_level() {
        let (w, h) = (600u32, 300u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        cut_pyramid(rgb, w, h, dir.path()).unwrap();
        let top = max_level(w, h);
        assert_eq!(top, 10);
        // Level 10: 600×300 → 3×2 tiles; the last column is 600 − 508 + 1 = 93 px wide.
        let t = image::open(dir.path().join("10/2_1.jpg")).unwrap();
        assert_eq!((t.width(), t.height()), (93, 300 - 254 + 1));
        let t = image::open(dir.path().join("10/0_0.jpg")).unwrap();
        assert_eq!((t.width(), t.height()), (255, 255));
        for level in 0..=top {
            let scale = 1u32 << (top - level);
            let (lw, lh) = (w.div_ceil(scale), h.div_ceil(scale));
            let n = lw.div_ceil(TILE_SIZE) * lh.div_ceil(TILE_SIZE);
            let files = std::fs::read_dir(dir.path().join(level.to_string()))
                .unwrap()
                .count() as u32;
            assert_eq!(files, n, "level {level}");
        }
        let t = image::open(dir.path().join("0/0_0.jpg")).unwrap();
        assert_eq!((t.width(), t.height()), (1, 1));
    }
}
