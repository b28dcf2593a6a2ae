//! Originals, previews and exports in S3-compatible object storage (AWS S3, MinIO, Ceph),
//! through the `object_store` crate. Files go up as multipart uploads streamed from disk
//! (never whole in memory); an object appears only when complete. What this process must read
//! as a file (decoders, OpenSlide) is downloaded into a bounded local cache, least recently
//! used first out.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::blobs::{check_key, BlobStore, LocalCopy};

/// Files up to this size go up in one request; larger ones in parts of this size.
const PART: usize = 8 << 20;

/// A storage failure that is not "no such object": the store did not answer or refused.
#[derive(Debug)]
pub struct StorageUnavailable(pub String);

impl std::fmt::Display for StorageUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the object store did not answer: {}", self.0)
    }
}

impl std::error::Error for StorageUnavailable {}

/// Whether an error from a blob store means the store is unavailable (worth a retry later).
pub fn is_unavailable(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<StorageUnavailable>())
}

fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        other => io::Error::other(StorageUnavailable(other.to_string())),
    }
}

pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    /// The same store as its concrete type: credentials and multipart uploads.
    s3: Arc<AmazonS3>,
    /// `ENDPOINT/BUCKET` (path style), for requests object_store has no call for.
    bucket_url: String,
    region: String,
    /// `""` or `PREFIX/`.
    prefix: String,
    url: String,
    cache: PathBuf,
    cache_bytes: u64,
    /// One eviction at a time.
    evicting: Mutex<()>,
}

/// How to reach the S3 service; by default from the standard AWS variables.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `AWS_ENDPOINT_URL` (MinIO, Ceph, a test server); `http://` is allowed for it.
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`).
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (else the environment's other sources).
    pub credentials: Option<(String, String)>,
    /// Retries of a failed request (default: the library's, about 10 over up to 3 minutes).
    pub retries: Option<usize>,
}

impl S3Options {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            endpoint: var("AWS_ENDPOINT_URL"),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            credentials: var("AWS_ACCESS_KEY_ID").zip(var("AWS_SECRET_ACCESS_KEY")),
            retries: None,
        }
    }
}

impl S3Blobs {
    /// `url`: `s3://BUCKET` or `s3://BUCKET/PREFIX`; the connection from the AWS variables.
    pub fn new(url: &str, cache: PathBuf, cache_bytes: u64) -> io::Result<Self> {
        Self::with_options(url, &S3Options::from_env(), cache, cache_bytes)
    }

    pub fn with_options(
        url: &str,
        opts: &S3Options,
        cache: PathBuf,
        cache_bytes: u64,
    ) -> io::Result<Self> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--blob-store {url:?}: name the bucket, e.g. s3://histoscore/lab-1"),
            ));
        }
        let prefix = prefix.trim_matches('/');
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &opts.endpoint {
            if endpoint.starts_with("http://") {
                b = b.with_allow_http(true);
            }
            b = b.with_endpoint(endpoint);
        }
        if let Some(region) = &opts.region {
            b = b.with_region(region);
        }
        if let Some((id, secret)) = &opts.credentials {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(n) = opts.retries {
            b = b.with_retry(object_store::RetryConfig {
                max_retries: n,
                retry_timeout: std::time::Duration::from_secs(5),
                ..Default::default()
            });
        }
        let region = b
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = b
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let store = Arc::new(
            b.build()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {e}")))?,
        );
        std::fs::create_dir_all(&cache)?;
        Ok(Self {
            store: store.clone(),
            s3: store,
            bucket_url: format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            region,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            url: url.trim_end_matches('/').to_string(),
            cache,
            cache_bytes,
            evicting: Mutex::new(()),
        })
    }

    fn location(&self, key: &str) -> io::Result<ObjectPath> {
        check_key(key)?;
        Ok(ObjectPath::from(format!("{}{key}", self.prefix)))
    }

    fn cached(&self, key: &str) -> PathBuf {
        self.cache.join(key)
    }

    /// Removes the least recently used cached files until the cache is within its size.
    fn evict(&self, keep: &Path) {
        let Ok(_one) = self.evicting.try_lock() else {
            return;
        };
        let mut files = Vec::new();
        let mut stack = vec![self.cache.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let Ok(meta) = e.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(e.path());
                } else {
                    let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    files.push((used, meta.len(), e.path()));
                }
            }
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.cache_bytes {
                break;
            }
            // Files still open (a slide being read) stay readable until closed.
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

impl BlobStore for S3Blobs {
    fn put_file<'a>(&'a self, key: &'a str, src: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let location = self.location(key)?;
            let mut file = tokio::fs::File::open(src).await?;
            let size = file.metadata().await?.len();
            if size <= PART as u64 {
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes).await?;
                self.store
                    .put(&location, PutPayload::from(bytes))
                    .await
                    .map_err(io_error)?;
                return Ok(());
            }
            let upload = self
                .store
                .put_multipart(&location)
                .await
                .map_err(io_error)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0u8; 1 << 20];
            let sent: io::Result<()> = async {
                loop {
                    let n = file.read(&mut buf).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    // At most two parts in flight: memory stays bounded.
                    writer.wait_for_capacity(2).await.map_err(io_error)?;
                    writer.write(&buf[..n]);
                }
            }
            .await;
            match sent {
                Ok(()) => writer.finish().await.map(|_| ()).map_err(io_error),
                Err(e) => {
                    // The parts sent so far are dropped; nothing appears under the key.
                    let _ = writer.abort().await;
                    Err(e)
                }
            }
        })
    }

    fn put_bytes<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let location = self.location(key)?;
            self.store
                .put(&location, PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(io_error)
        })
    }

    fn get_bytes<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let location = self.location(key)?;
            match self.store.get(&location).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(io_error)?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(io_error(e)),
            }
        })
    }

    fn local_copy<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<LocalCopy>> {
        Box::pin(async move {
            let location = self.location(key)?;
            let path = self.cached(key);
            if let Ok(f) = std::fs::File::options().append(true).open(&path) {
                // Used now: the last to be evicted.
                let _ = f.set_modified(SystemTime::now());
                return Ok(LocalCopy {
                    path,
                    temporary: false,
                });
            }
            let dir = path.parent().expect("keys have a parent");
            tokio::fs::create_dir_all(dir).await?;
            let tmp = dir.join(format!(
                ".{}.{}.{}.partial",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("blob"),
                std::process::id(),
                crate::unique()
            ));
            let fetched: io::Result<()> = async {
                let got = self.store.get(&location).await.map_err(io_error)?;
                let mut out = tokio::fs::File::create(&tmp).await?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    out.write_all(&chunk.map_err(io_error)?).await?;
                }
                out.flush().await?;
                Ok(())
            }
            .await;
            if let Err(e) = fetched {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
            tokio::fs::rename(&tmp, &path).await?;
            self.evict(&path);
            Ok(LocalCopy {
                path,
                temporary: false,
            })
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move {
            let location = self.location(key)?;
            match self.store.head(&location).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(io_error(e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let location = self.location(key)?;
            let _ = tokio::fs::remove_file(self.cached(key)).await;
            match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io_error(e)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, io::Result<Vec<(String, u64)>>> {
        Box::pin(async move {
            let full = format!("{}{prefix}", self.prefix);
            let under = ObjectPath::from(full.trim_end_matches('/'));
            let mut listing = self.store.list(Some(&under));
            let now = chrono::Utc::now();
            let mut out = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(io_error)?;
                let key = meta.location.as_ref();
                let Some(rel) = key.strip_prefix(self.prefix.as_str()) else {
                    continue;
                };
                let age = (now - meta.last_modified).num_seconds().max(0) as u64;
                out.push((rel.to_string(), age));
            }
            out.sort();
            Ok(out)
        })
    }

    fn describe(&self) -> String {
        self.url.clone()
    }

    fn abort_stale_uploads(&self, older_than: Duration) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(async move {
            let mut aborted = 0;
            let mut marker: Option<(String, String)> = None;
            loop {
                let page = self.list_uploads(marker.as_ref()).await?;
                let now = chrono::Utc::now();
                for u in &page.uploads {
                    let old = u
                        .initiated
                        .is_none_or(|t| (now - t).to_std().unwrap_or_default() >= older_than);
                    if old && u.key.starts_with(self.prefix.as_str()) {
                        self.s3
                            .abort_multipart(&ObjectPath::from(u.key.as_str()), &u.id)
                            .await
                            .map_err(io_error)?;
                        aborted += 1;
                    }
                }
                match page.next {
                    Some(next) => marker = Some(next),
                    None => return Ok(aborted),
                }
            }
        })
    }
}

/// An unfinished multipart upload, as `ListMultipartUploads` names it.
#[derive(Debug, PartialEq)]
struct Upload {
    key: String,
    id: String,
    initiated: Option<chrono::DateTime<chrono::Utc>>,
}

/// One page of `ListMultipartUploads`; `next`: the key and upload-id markers of the next.
#[derive(Debug, PartialEq)]
struct Uploads {
    uploads: Vec<Upload>,
    next: Option<(String, String)>,
}

impl S3Blobs {
    /// `GET /BUCKET?uploads&prefix=…`, signed with the store's credentials (object_store has
    /// no call for it).
    async fn list_uploads(&self, marker: Option<&(String, String)>) -> io::Result<Uploads> {
        let credential = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(io_error)?;
        let mut url = format!(
            "{}?uploads&prefix={}",
            self.bucket_url,
            query_encode(&self.prefix)
        );
        if let Some((key, id)) = marker {
            url.push_str(&format!(
                "&key-marker={}&upload-id-marker={}",
                query_encode(key),
                query_encode(id)
            ));
        }
        let mut request = http::Request::builder()
            .method("GET")
            .uri(&url)
            .body(object_store::client::HttpRequestBody::empty())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        AwsAuthorizer::new(&credential, "s3", &self.region).authorize(&mut request, None);
        let response = reqwest::Client::new()
            .get(&url)
            .headers(request.headers().clone())
            .send()
            .await
            .map_err(|e| io::Error::other(StorageUnavailable(e.to_string())))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| io::Error::other(StorageUnavailable(e.to_string())))?;
        if !status.is_success() {
            return Err(io::Error::other(StorageUnavailable(format!(
                "listing unfinished uploads answered {status}: {}",
                body.chars().take(300).collect::<String>()
            ))));
        }
        Ok(parse_uploads(&body))
    }
}

/// Percent-encodes a query value (everything but S3's unreserved characters).
fn query_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of each `<tag>…</tag>` in `xml`, unescaped.
fn elements<'a>(xml: &'a str, tag: &'a str) -> impl Iterator<Item = String> + 'a {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut rest = xml;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let end = start + rest[start..].find(&close)?;
        let text = &rest[start..end];
        rest = &rest[end + close.len()..];
        Some(
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        )
    })
}

fn parse_uploads(xml: &str) -> Uploads {
    let uploads = elements(xml, "Upload")
        .filter_map(|u| {
            Some(Upload {
                key: elements(&u, "Key").next()?,
                id: elements(&u, "UploadId").next()?,
                initiated: elements(&u, "Initiated")
                    .next()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc)),
            })
        })
        .collect();
    let truncated = elements(xml, "IsTruncated").next().as_deref() == Some("true");
    let next = truncated
        .then(|| {
            Some((
                elements(xml, "NextKeyMarker").next()?,
                elements(xml, "NextUploadIdMarker").next()?,
            ))
        })
        .flatten();
    Uploads { uploads, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_uploads_are_read_from_the_listing() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>lab</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>p/originals/ab/c&amp;d</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
  <IsTruncated>true</IsTruncated>
  <Upload><Key>p/originals/ab/abc</Key><UploadId>u1</UploadId>
    <Initiated>2026-11-30T10:00:00.000Z</Initiated></Upload>
  <Upload><Key>p/originals/ab/c&amp;d</Key><UploadId>u2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        let page = parse_uploads(xml);
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].key, "p/originals/ab/abc");
        assert_eq!(page.uploads[0].id, "u1");
        assert_eq!(
            page.uploads[0].initiated.unwrap().to_rfc3339(),
            "2026-11-30T10:00:00+00:00"
        );
        assert_eq!(page.uploads[1].key, "p/originals/ab/c&d");
        assert_eq!(page.uploads[1].initiated, None);
        assert_eq!(page.next, Some(("p/originals/ab/c&d".into(), "u2".into())));
        let last = parse_uploads("<IsTruncated>false</IsTruncated>");
        assert_eq!(
            last,
            Uploads {
                uploads: vec![],
                next: None
            }
        );
        assert_eq!(query_encode("lab 1/x+y"), "lab%201%2Fx%2By");
    }
}
