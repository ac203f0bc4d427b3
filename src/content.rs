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
}

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
        Ok(Self {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
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

/// A fresh key for a new version of an item's content.
pub fn new_key(item_id: uuid::Uuid) -> String {
    format!("items/{item_id}/{}", uuid::Uuid::now_v7())
}
