//! The `StorageDriver` implementation.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use registry_core::storage::{
    ByteStream, FileInfo, FileWriter, PendingWrite, RedirectMethod, Result, StorageDriver,
    StorageError, StoragePath, WalkFn,
};

use crate::NAME;
use crate::bucket::Bucket;
use crate::client::sdk_config;
use crate::config::S3Config;
use crate::copy::{CopySettings, copy_object};
use crate::error::{AtPath, Failure, S3Error};
use crate::keys::KeyLayout;
use crate::parts::abort_upload;
use crate::progress::{Progress, Tail};
use crate::writer::S3Writer;
use crate::{delete, listing, pending, reader, walk};

/// What the driver and its writers share.
#[derive(Debug)]
pub(crate) struct Context {
    pub bucket: Bucket,
    pub layout: KeyLayout,
    pub chunk_size: usize,
    pub copy: CopySettings,
}

impl Context {
    /// Removes the record a writer resumed, unless a newer close replaced it, and its tail.
    pub(crate) async fn remove_record(
        &self,
        path: &StoragePath,
        resumed: &Progress,
    ) -> Result<(), S3Error> {
        let record_key = self.layout.progress(path);
        let current = Progress::load(&self.bucket, &record_key).await?;
        let mut keys = Vec::new();
        if current.is_some_and(|c| c.generation == resumed.generation) {
            keys.push(record_key);
        }
        if let Some(tail) = &resumed.tail {
            keys.push(tail.key.clone());
        }
        self.bucket.delete_batch(keys).await
    }

    /// After a close stored a new record, removes what only the replaced record referenced:
    /// its tail and, when it belonged to another writer, its upload. Best effort: the new
    /// record is already safe, and leftovers go with a later delete of the path.
    pub(crate) async fn discard_superseded(
        &self,
        old: &Progress,
        new_upload: Option<&str>,
        new_tail: Option<&Tail>,
    ) {
        if let Some(tail) = &old.tail
            && new_tail.is_none_or(|t| t.key != tail.key)
            && let Err(e) = self.bucket.delete(&tail.key).await
        {
            tracing::warn!(key = %tail.key, error = %e, "deleting a superseded tail");
        }
        if let Some(upload_id) = &old.upload_id
            && new_upload != Some(upload_id.as_str())
            && let Err(e) = abort_upload(&self.bucket, &old.key, upload_id).await
        {
            tracing::warn!(key = %old.key, %upload_id, error = %e, "aborting a superseded upload");
        }
    }
}

/// The S3 storage driver. Cheap to clone; clones share the client.
#[derive(Debug, Clone)]
pub struct S3Driver {
    context: Arc<Context>,
}

impl S3Driver {
    /// A driver for `config`, with the SDK configured from it (see [`sdk_config`]).
    pub async fn new(config: S3Config) -> S3Driver {
        let sdk = sdk_config(&config).await;
        S3Driver::from_sdk_config(&config, sdk)
    }

    /// A driver using an already built SDK configuration, e.g. one shared by several driver
    /// instances; building it is the only async step of [`S3Driver::new`].
    pub fn from_sdk_config(config: &S3Config, sdk: aws_sdk_s3::Config) -> S3Driver {
        let client = aws_sdk_s3::Client::from_conf(sdk);
        S3Driver {
            context: Arc::new(Context {
                bucket: Bucket::new(client, config),
                layout: KeyLayout::new(config.root_prefix()),
                // The maximum (5 GiB) fits in usize on every 64-bit target.
                chunk_size: usize::try_from(config.chunk_size()).unwrap_or(usize::MAX),
                copy: CopySettings {
                    threshold: config.multipart_copy_threshold_size(),
                    chunk_size: config.multipart_copy_chunk_size(),
                    max_concurrency: config.multipart_copy_max_concurrency(),
                },
            }),
        }
    }

    fn bucket(&self) -> &Bucket {
        &self.context.bucket
    }

    fn layout(&self) -> &KeyLayout {
        &self.context.layout
    }

    /// The object's bytes from `offset` to its end or to `end` (exclusive), and the length
    /// S3 announced for them.
    async fn read(
        &self,
        path: &StoragePath,
        offset: u64,
        end: Option<u64>,
    ) -> Result<(ByteStream, Option<u64>)> {
        let key = self.layout().object(path);
        match reader::open(self.bucket(), &key, offset, end).await {
            Ok(opened) => {
                let path = path.clone();
                let stream = opened.body.map(move |item| item.at(&path)).boxed();
                Ok((stream, opened.length))
            }
            // S3 refuses ranges that start at the end; the trait wants an empty stream there.
            Err(e) if e.failure() == Failure::InvalidRange => {
                let size = self.object_size(path).await?;
                if offset == size {
                    return Ok((futures::stream::empty().boxed(), Some(0)));
                }
                Err(StorageError::invalid_offset(
                    NAME,
                    path,
                    i64::try_from(offset).unwrap_or(i64::MAX),
                ))
            }
            Err(e) => Err(e.at(path)),
        }
    }

    /// The object at `path`, or `PathNotFound`.
    async fn object_size(&self, path: &StoragePath) -> Result<u64> {
        match self
            .bucket()
            .find(&self.layout().object(path))
            .await
            .at(path)?
        {
            Some(object) => Ok(object.size),
            None => Err(StorageError::not_found(NAME, path)),
        }
    }
}

#[async_trait]
impl StorageDriver for S3Driver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        self.bucket()
            .get_bytes(&self.layout().object(path))
            .await
            .at(path)
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        self.bucket()
            .put(&self.layout().object(path), content)
            .await
            .at(path)
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        Ok(self.read(path, offset, None).await?.0)
    }

    async fn range_reader(
        &self,
        path: &StoragePath,
        offset: u64,
        length: u64,
    ) -> Result<ByteStream> {
        // No HTTP range names zero bytes: the plain reader checks the offset.
        let end = (length > 0).then(|| offset.saturating_add(length));
        let (stream, announced) = self.read(path, offset, end).await?;
        if length == 0 {
            return Ok(futures::stream::empty().boxed());
        }
        // S3 answers a range running past the object with the bytes it has.
        if announced.is_some_and(|announced| announced < length) {
            return Err(StorageError::invalid_offset(
                NAME,
                path,
                i64::try_from(offset.saturating_add(length)).unwrap_or(i64::MAX),
            ));
        }
        Ok(stream)
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        let context = Arc::clone(&self.context);
        let writer = if append {
            S3Writer::append(context, path.clone()).await?
        } else {
            S3Writer::fresh(context, path.clone())
        };
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        let directory = |path: &StoragePath| FileInfo {
            path: path.clone(),
            size: 0,
            mod_time: SystemTime::UNIX_EPOCH,
            is_dir: true,
        };
        if path.is_root() {
            return Ok(directory(path));
        }
        if let Some(object) = self
            .bucket()
            .find(&self.layout().object(path))
            .await
            .at(path)?
        {
            return Ok(FileInfo {
                path: path.clone(),
                size: object.size,
                mod_time: object.modified,
                is_dir: false,
            });
        }
        let below = self
            .bucket()
            .has_objects_below(&self.layout().directory(path))
            .await
            .at(path)?;
        if below {
            Ok(directory(path))
        } else {
            Err(StorageError::not_found(NAME, path))
        }
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        let entries = listing::children(self.bucket(), self.layout(), path)
            .await
            .at(path)?;
        if entries.is_empty() && !path.is_root() {
            return Err(StorageError::not_found(NAME, path));
        }
        let mut paths: Vec<StoragePath> = entries.into_iter().map(|e| e.path).collect();
        // A key can be both an object and a prefix; list the name once.
        paths.sort_unstable();
        paths.dedup();
        Ok(paths)
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        let size = self.object_size(source).await?;
        if source == dest {
            // Copying onto itself and then deleting the source would lose the object.
            return Ok(());
        }
        let (source_key, dest_key) = (self.layout().object(source), self.layout().object(dest));
        copy_object(
            self.bucket(),
            &source_key,
            &dest_key,
            size,
            self.context.copy,
        )
        .await
        .at(source)?;
        self.bucket().delete(&source_key).await.at(source)
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        if delete::delete_path(&self.context, path).await.at(path)? {
            Ok(())
        } else {
            Err(StorageError::not_found(NAME, path))
        }
    }

    async fn redirect_url(
        &self,
        path: &StoragePath,
        method: RedirectMethod,
        expiry: Duration,
    ) -> Result<Option<String>> {
        let key = self.layout().object(path);
        let url = match method {
            RedirectMethod::Get => self.bucket().presign_get(&key, expiry).await,
            RedirectMethod::Head => self.bucket().presign_head(&key, expiry).await,
        };
        url.map(Some).at(path)
    }

    async fn pending_writes(&self, path: &StoragePath) -> Result<Vec<PendingWrite>> {
        pending::pending_writes(&self.context, path).await.at(path)
    }

    async fn remove_pending_write(&self, write: &PendingWrite) -> Result<()> {
        pending::remove(&self.context, write).await.at(&write.path)
    }

    async fn walk(
        &self,
        path: &StoragePath,
        start_after: Option<&StoragePath>,
        visit: &mut WalkFn<'_>,
    ) -> Result<()> {
        walk::walk(&self.context, path, start_after, visit).await
    }
}
