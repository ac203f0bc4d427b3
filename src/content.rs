//! File content of the built-in drive: streamed in and out of an object store (a directory under
//! the data directory here; `object_store` lets S3 or another store replace it), size-limited,
//! with a SHA-256 of every stored version.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

/// Where drive content lives.
#[derive(Clone, Debug)]
pub struct ContentStore {
    store: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory: small reads take one blocking task there
    /// (`open_small`) instead of the four `object_store` dispatches (open, seek, read, end).
    local: Option<Arc<LocalFileSystem>>,
}

/// Reads up to this size are done whole in one blocking task; larger ones are streamed.
const SMALL_READ: u64 = 1 << 20;

/// What a stored version is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

/// Why content could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload was interrupted: {0}")]
    Client(String),
    #[error("content store failure")]
    Store(#[from] object_store::Error),
}

/// An open stored version: its size, the served range, and the bytes.
pub struct Opened {
    pub size: u64,
    pub range: Range<u64>,
    pub body: futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
}

impl ContentStore {
    /// A store in a local directory (created when missing).
    pub fn local(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let local = Arc::new(LocalFileSystem::new_with_prefix(dir)?);
        Ok(Self {
            store: local.clone(),
            local: Some(local),
        })
    }

    /// Streams `body` into a new version under `key`, refusing (and discarding) it once it
    /// exceeds `limit` bytes.
    pub async fn put_stream<S, E>(&self, key: &str, mut body: S, limit: u64) -> Result<Stored, ContentError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = Path::from(key);
        let mut upload = WriteMultipart::new(self.store.put_multipart(&path).await?);
        let mut digest = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(ContentError::Client(e.to_string()));
                }
            };
            size += chunk.len() as u64;
            if size > limit {
                let _ = upload.abort().await;
                return Err(ContentError::TooLarge { limit });
            }
            digest.update(&chunk);
            upload.put(chunk);
        }
        upload.finish().await?;
        Ok(Stored {
            key: key.to_owned(),
            size,
            sha256: hex::encode(digest.finalize()),
        })
    }

    /// Stores bytes already in memory.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<Stored, ContentError> {
        let size = bytes.len() as u64;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        self.store.put(&Path::from(key), bytes.into()).await?;
        Ok(Stored {
            key: key.to_owned(),
            size,
            sha256,
        })
    }

    /// Opens a stored version, whole or a byte range of it.
    pub async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<Opened, ContentError> {
        if let Some(opened) = self.open_small(key, range.clone()).await? {
            return Ok(opened);
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&Path::from(key), options).await?;
        Ok(Opened {
            size: result.meta.size,
            range: result.range.clone(),
            body: result.into_stream().map_err(std::io::Error::other).boxed(),
        })
    }

    /// A local version (or range) of at most `SMALL_READ` bytes, read whole in one blocking
    /// task. `None`: not local, larger, missing or a range past its end; `open` then answers
    /// through `object_store` as for any other store, with its errors.
    async fn open_small(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<Opened>, ContentError> {
        let Some(local) = &self.local else {
            return Ok(None);
        };
        let path = local.path_to_filesystem(&Path::from(key))?;
        let read = tokio::task::spawn_blocking(move || read_small(&path, range))
            .await
            .map_err(std::io::Error::other);
        match read {
            Ok(Ok(Some(SmallRead { size, range, bytes }))) => Ok(Some(Opened {
                size,
                range,
                body: futures_util::stream::once(std::future::ready(Ok(Bytes::from(bytes)))).boxed(),
            })),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) | Err(e) => Err(ContentError::Store(object_store::Error::Generic {
                store: "local",
                source: Box::new(e),
            })),
        }
    }

    /// Copies a stored version under a new key (a recipient's saved copy).
    pub async fn copy(&self, from: &str, to: &str) -> Result<Stored, ContentError> {
        let bytes = self.read_all(from).await?;
        self.put_bytes(to, bytes).await
    }

    /// Deletes a stored version (content of a refused upload or edit).
    pub async fn delete(&self, key: &str) -> Result<(), ContentError> {
        Ok(self.store.delete(&Path::from(key)).await?)
    }

    /// The whole of a stored version (small files: copies into another drive).
    pub async fn read_all(&self, key: &str) -> Result<Bytes, ContentError> {
        Ok(self.store.get(&Path::from(key)).await?.bytes().await?)
    }
}

/// What `read_small` read: the version's size, the range and its bytes.
struct SmallRead {
    size: u64,
    range: Range<u64>,
    bytes: Vec<u8>,
}

/// Reads a local file's range (all of it when `None`) if it is at most `SMALL_READ` bytes and
/// within the file; `None` otherwise, and when the file is missing.
fn read_small(path: &std::path::Path, range: Option<Range<u64>>) -> std::io::Result<Option<SmallRead>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    let range = range.unwrap_or(0..size);
    if range.start > range.end || range.end > size || range.end - range.start > SMALL_READ {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(range.start))?;
    let mut bytes = Vec::with_capacity((range.end - range.start) as usize);
    file.take(range.end - range.start).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != range.end - range.start {
        return Ok(None);
    }
    Ok(Some(SmallRead { size, range, bytes }))
}

/// A fresh key for a new version of an item's content.
pub fn new_key(item_id: uuid::Uuid) -> String {
    format!("items/{item_id}/{}", uuid::Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(store: &ContentStore, key: &str, range: Option<Range<u64>>) -> (u64, Range<u64>, Vec<u8>) {
        let opened = store.open(key, range).await.expect("opens");
        let chunks: Vec<Bytes> = opened.body.try_collect().await.expect("reads");
        (opened.size, opened.range, chunks.concat())
    }

    #[tokio::test]
    async fn small_and_large_versions_read_the_same_whole_and_in_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::local(dir.path()).unwrap();
        for len in [0usize, 1, 4096, SMALL_READ as usize, SMALL_READ as usize + 4097] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let key = format!("items/{len}/v1");
            store.put_bytes(&key, Bytes::from(bytes.clone())).await.unwrap();
            let size = len as u64;
            let small = store.open_small(&key, None).await.unwrap().is_some();
            assert_eq!(
                small,
                size <= SMALL_READ,
                "{len}: read whole in one task only when small"
            );
            assert_eq!(
                read(&store, &key, None).await,
                (size, 0..size, bytes.clone()),
                "{len} whole"
            );
            if len > 10 {
                let mid = size / 2;
                for r in [0..1, 3..mid, mid..size, size - 1..size] {
                    let want = bytes[r.start as usize..r.end as usize].to_vec();
                    assert_eq!(
                        read(&store, &key, Some(r.clone())).await,
                        (size, r.clone(), want),
                        "{len} {r:?}"
                    );
                }
                // Past the end: what object_store answers (the end clamped to the size).
                let past = read(&store, &key, Some(mid..size + 10)).await;
                assert_eq!(past.1, mid..size, "{len}");
                assert_eq!(past.2, bytes[mid as usize..].to_vec(), "{len}");
            }
        }
    }

    #[tokio::test]
    async fn a_missing_version_is_an_error_not_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::local(dir.path()).unwrap();
        assert!(matches!(
            store.open("items/none/v1", None).await,
            Err(ContentError::Store(object_store::Error::NotFound { .. }))
        ));
        assert!(store.open("items/none/v1", Some(0..1)).await.is_err());
    }
}
