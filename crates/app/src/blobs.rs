//! Where uploaded originals and their previews are kept, behind a trait so the local
//! directory can later be swapped for S3-compatible object storage.
//!
//! Keys are relative, `/`-separated and made by the server only (hashes and fixed names);
//! a client's file name never becomes a key.

use futures_util::future::BoxFuture;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A local copy of a stored object, for code that needs a file path (the decoders).
pub struct LocalCopy {
    pub path: PathBuf,
    /// Remove `path` when done (a download); false when it is the stored file itself.
    pub temporary: bool,
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub trait BlobStore: Send + Sync + 'static {
    /// Moves or copies the finished local file `src` in under `key`, atomically: readers see
    /// either no object or the whole one.
    fn put_file<'a>(&'a self, key: &'a str, src: &'a Path) -> BoxFuture<'a, io::Result<()>>;
    /// Stores small bytes (previews) under `key`, atomically.
    fn put_bytes<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BoxFuture<'a, io::Result<()>>;
    /// The object's bytes, or `None` if there is none.
    fn get_bytes<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>>;
    /// A path to read the object from.
    fn local_copy<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<LocalCopy>>;
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>>;
    /// Keys under `prefix` (`""` for all) with their age in seconds.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, io::Result<Vec<(String, u64)>>>;
    /// Where the objects are, for messages.
    /// Aborts multipart uploads started more than `older_than` ago and never finished (a
    /// process died mid-upload), so their parts stop taking space; how many. Stores without
    /// multipart uploads have none.
    fn abort_stale_uploads(&self, _older_than: Duration) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(async { Ok(0) })
    }
    fn describe(&self) -> String;
}

/// The key of an original upload.
pub fn original_key(sha256: &str) -> String {
    format!("originals/{}/{}", &sha256[..2], sha256)
}

/// The key of a preview (`thumb.jpg` or `preview.jpg`).
pub fn preview_key(sha256: &str, name: &str) -> String {
    format!("previews/{}/{}/{}", &sha256[..2], sha256, name)
}

/// Refuses keys that are not relative, `/`-separated names of `[A-Za-z0-9._-]` (no `..`, no
/// empty parts): a key can never leave its store or cache.
pub fn check_key(key: &str) -> io::Result<()> {
    let ok = !key.is_empty()
        && key.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid storage key {key:?}"),
        ))
    }
}

/// The blob store a URL names: `file://DIR` (or a plain path), or `s3://BUCKET/PREFIX` (with
/// the standard AWS variables: `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`); `None`: `DATA_DIR/blobs`. An S3 store keeps a local copy of what
/// this process reads in `DATA_DIR/cache/blobs/`, at most `cache_bytes`.
pub fn open(
    url: Option<&str>,
    data_dir: &Path,
    cache_bytes: u64,
) -> io::Result<std::sync::Arc<dyn BlobStore>> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(std::sync::Arc::new(LocalBlobs::new(
            data_dir.join("blobs"),
        )?)),
        Some(u) if u.starts_with("s3://") => Ok(std::sync::Arc::new(crate::s3::S3Blobs::new(
            u,
            data_dir.join("cache").join("blobs"),
            cache_bytes,
        )?)),
        Some(u) => {
            let dir = u.strip_prefix("file://").unwrap_or(u);
            if u.contains("://") && !u.starts_with("file://") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--blob-store {u:?}: use file://DIR or s3://BUCKET/PREFIX"),
                ));
            }
            Ok(std::sync::Arc::new(LocalBlobs::new(dir)?))
        }
    }
}

/// Objects as files under one directory.
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn temp_beside(path: &Path) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
        path.with_file_name(format!(".{name}.{}.{n}.partial", std::process::id()))
    }
}

async fn sync_dir(dir: &Path) {
    if let Ok(d) = tokio::fs::File::open(dir).await {
        let _ = d.sync_all().await;
    }
}

impl BlobStore for LocalBlobs {
    fn put_file<'a>(&'a self, key: &'a str, src: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let dest = self.path(key)?;
            let dir = dest.parent().expect("keys have a parent");
            tokio::fs::create_dir_all(dir).await?;
            let tmp = Self::temp_beside(&dest);
            // A rename when src is on the same file system, else copy + fsync.
            if tokio::fs::hard_link(src, &tmp).await.is_err() {
                tokio::fs::copy(src, &tmp).await?;
                tokio::fs::File::open(&tmp).await?.sync_all().await?;
            }
            tokio::fs::rename(&tmp, &dest).await?;
            sync_dir(dir).await;
            Ok(())
        })
    }

    fn put_bytes<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let dest = self.path(key)?;
            let dir = dest.parent().expect("keys have a parent");
            tokio::fs::create_dir_all(dir).await?;
            let tmp = Self::temp_beside(&dest);
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &dest).await?;
            Ok(())
        })
    }

    fn get_bytes<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            match tokio::fs::read(self.path(key)?).await {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn local_copy<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<LocalCopy>> {
        Box::pin(async move {
            let path = self.path(key)?;
            tokio::fs::metadata(&path).await?;
            Ok(LocalCopy {
                path,
                temporary: false,
            })
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move { tokio::fs::try_exists(self.path(key)?).await })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, io::Result<Vec<(String, u64)>>> {
        Box::pin(async move {
            let root = self.root.clone();
            let prefix = prefix.to_string();
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let start = if prefix.is_empty() {
                    root.clone()
                } else {
                    root.join(&prefix)
                };
                let mut stack = vec![start];
                let now = std::time::SystemTime::now();
                while let Some(dir) = stack.pop() {
                    let entries = match std::fs::read_dir(&dir) {
                        Ok(e) => e,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    };
                    for entry in entries {
                        let entry = entry?;
                        let meta = entry.metadata()?;
                        if meta.is_dir() {
                            stack.push(entry.path());
                        } else if let Ok(rel) = entry.path().strip_prefix(&root) {
                            let age = meta
                                .modified()
                                .ok()
                                .and_then(|m| now.duration_since(m).ok())
                                .map(|d| d.as_secs())
                                .unwrap_or(0);
                            out.push((rel.to_string_lossy().replace('\\', "/"), age));
                        }
                    }
                }
                out.sort();
                Ok(out)
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_never_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBlobs::new(dir.path().join("blobs")).unwrap();
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "",
            "a/b c",
            "..\\x",
        ] {
            assert!(b.put_bytes(bad, vec![1]).await.is_err(), "{bad:?} accepted");
        }
        b.put_bytes("previews/ab/x.jpg", vec![1, 2]).await.unwrap();
        assert_eq!(
            b.get_bytes("previews/ab/x.jpg").await.unwrap(),
            Some(vec![1, 2])
        );
        let listed: Vec<String> = b.list("").await.unwrap().into_iter().map(|x| x.0).collect();
        assert_eq!(listed, vec!["previews/ab/x.jpg".to_string()]);
        b.delete("previews/ab/x.jpg").await.unwrap();
        assert!(!b.exists("previews/ab/x.jpg").await.unwrap());
    }
}
