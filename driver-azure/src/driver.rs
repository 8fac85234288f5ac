//! The `StorageDriver` on one Azure Blob Storage container.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use azure_core::StatusCode;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use registry_core::storage::{
    ByteStream, FileInfo, FileWriter, PendingWrite, RedirectMethod, Result, StorageDriver,
    StorageError, StoragePath, WalkFn,
};

use crate::client::Container;
use crate::config::AzureConfig;
use crate::copy::{CopyError, copy_blob};
use crate::error::{SdkResultExt, backend, is_blob_not_found, sdk_error, status_of};
use crate::listing::{self, all_below, any_below};
use crate::names::BlobNames;
use crate::reader::{open_range, read_range};
use crate::writer::AzureWriter;

pub(crate) const NAME: &str = "azure";

/// Blob deletions in flight at once while removing a directory.
const DELETE_CONCURRENCY: usize = 32;
/// `get_content` asks for this many bytes in its single GET: objects read whole are small.
const GET_CONTENT_RANGE: u64 = 1 << 40;

/// What all writers and operations of one driver instance share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) container: Container,
    pub(crate) names: BlobNames,
}

/// The Azure Blob Storage driver. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AzureDriver {
    shared: Arc<Shared>,
}

impl AzureDriver {
    /// Connects, checks the credentials and creates the container if it is missing.
    pub async fn new(config: AzureConfig) -> Result<Self> {
        let driver = Self::connect(&config)?;
        driver.shared.container.ensure_exists().await?;
        Ok(driver)
    }

    /// Builds the clients without contacting the service (the container must exist).
    pub fn connect(config: &AzureConfig) -> Result<Self> {
        Ok(AzureDriver {
            shared: Arc::new(Shared {
                container: Container::connect(config)?,
                names: BlobNames::new(&config.root_directory),
            }),
        })
    }

    fn blob(&self, path: &StoragePath) -> azure_storage_blobs::prelude::BlobClient {
        self.shared.container.blob(self.shared.names.blob(path))
    }

    /// The entries of a directory; `PathNotFound` when nothing lies below it (the root always
    /// exists).
    async fn entries(&self, dir: &StoragePath) -> Result<Vec<FileInfo>> {
        let prefix = self.shared.names.dir_prefix(dir);
        let children = listing::children(&self.shared.container, &self.shared.names, &prefix)
            .await
            .map_err(|e| backend("listing", dir, e))?;
        if !children.exists && !dir.is_root() {
            return Err(StorageError::not_found(NAME, dir));
        }
        Ok(children.entries)
    }

    /// Deletes every blob below `prefix`; true if there was any.
    async fn delete_below(&self, path: &StoragePath, prefix: &str) -> Result<bool> {
        let mut found = false;
        let mut pages = all_below(&self.shared.container, prefix);
        while let Some(page) = pages.next().await {
            let page = page.for_path("listing for deletion", path)?;
            let names: Vec<String> = page.blobs.blobs().map(|b| b.name.clone()).collect();
            found |= !names.is_empty();
            futures::stream::iter(names)
                .map(|name| async move {
                    match self.shared.container.blob(name).delete().await {
                        Ok(_) => Ok(()),
                        Err(e) if is_blob_not_found(&e) => Ok(()), // removed meanwhile
                        Err(e) => Err(backend("deleting", path, e)),
                    }
                })
                .buffer_unordered(DELETE_CONCURRENCY)
                .try_collect::<()>()
                .await?;
        }
        Ok(found)
    }
}

#[async_trait]
impl StorageDriver for AzureDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        let blob = self.blob(path);
        let response = blob
            .get()
            .range(0..GET_CONTENT_RANGE)
            .chunk_size(GET_CONTENT_RANGE)
            .into_stream()
            .next()
            .await;
        match response {
            Some(Ok(response)) => response
                .data
                .collect()
                .await
                .map_err(|e| backend("reading", path, e)),
            // The service refuses any range of an empty blob.
            Some(Err(e)) if status_of(&e) == Some(StatusCode::RequestedRangeNotSatisfiable) => {
                let properties = blob.get_properties().await.for_path("reading", path)?;
                match properties.blob.properties.content_length {
                    0 => Ok(Bytes::new()),
                    _ => Err(backend("reading", path, e)),
                }
            }
            Some(Err(e)) => Err(sdk_error(e, "reading", path)),
            None => Err(StorageError::not_found(NAME, path)),
        }
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        // Put Blob replaces the blob atomically; the SDK retries it whole when it fails.
        self.blob(path)
            .put_block_blob(content)
            .await
            .map(|_| ())
            .map_err(|e| backend("writing", path, e))
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        let blob = self.blob(path);
        let properties = blob
            .get_properties()
            .await
            .for_path("opening", path)?
            .blob
            .properties;
        let size = properties.content_length;
        if offset > size {
            return Err(StorageError::invalid_offset(NAME, path, offset as i64));
        }
        if offset == size {
            return Ok(Box::pin(futures::stream::empty()));
        }
        Ok(read_range(
            blob,
            path.clone(),
            properties.etag.to_string(),
            offset,
            size,
        ))
    }

    async fn range_reader(
        &self,
        path: &StoragePath,
        offset: u64,
        length: u64,
    ) -> Result<ByteStream> {
        if length == 0 {
            // No HTTP range names zero bytes: the plain reader checks the offset.
            drop(self.reader(path, offset).await?);
            return Ok(Box::pin(futures::stream::empty()));
        }
        // One GET per range, with no properties request first: a multi-range response reads
        // many ranges of one blob, and each round trip shows as a gap in it.
        open_range(
            self.blob(path),
            path.clone(),
            offset,
            offset.saturating_add(length),
        )
        .await
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        let writer = AzureWriter::open(Arc::clone(&self.shared), path, append).await?;
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        let directory = FileInfo {
            path: path.clone(),
            size: 0,
            mod_time: UNIX_EPOCH,
            is_dir: true,
        };
        if path.is_root() {
            return Ok(directory);
        }
        match self.blob(path).get_properties().await {
            Ok(response) => {
                let properties = response.blob.properties;
                return Ok(FileInfo {
                    path: path.clone(),
                    size: properties.content_length,
                    mod_time: SystemTime::from(properties.last_modified),
                    is_dir: false,
                });
            }
            Err(e) if is_blob_not_found(&e) => {}
            Err(e) => return Err(backend("stat", path, e)),
        }
        let prefix = self.shared.names.dir_prefix(path);
        match any_below(&self.shared.container, &prefix).await {
            Ok(true) => Ok(directory),
            Ok(false) => Err(StorageError::not_found(NAME, path)),
            Err(e) => Err(backend("stat", path, e)),
        }
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        let entries = self.entries(path).await?;
        Ok(entries.into_iter().map(|entry| entry.path).collect())
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        let source_blob = self.blob(source);
        if source == dest {
            // A copy onto itself would be refused, and the delete would lose the object.
            return source_blob
                .get_properties()
                .await
                .map(|_| ())
                .for_path("moving", source);
        }
        match copy_blob(&self.shared.container, &source_blob, &self.blob(dest)).await {
            Ok(()) => {}
            Err(CopyError::Service(e)) if is_blob_not_found(&e) => {
                return Err(StorageError::not_found(NAME, source));
            }
            Err(e) => return Err(backend("moving", source, e)),
        }
        match source_blob.delete().await {
            Ok(_) => Ok(()),
            Err(e) if is_blob_not_found(&e) => Ok(()),
            Err(e) => Err(backend("removing the moved", source, e)),
        }
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        let file_deleted = match self.blob(path).delete().await {
            Ok(_) => true,
            Err(e) if is_blob_not_found(&e) => false,
            Err(e) => return Err(backend("deleting", path, e)),
        };
        // `/a/` and not `/a`: `/ab` is never touched.
        let prefix = self.shared.names.dir_prefix(path);
        let below_deleted = self.delete_below(path, &prefix).await?;
        if file_deleted || below_deleted {
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
        // One read-only SAS serves both methods: `sp=r` allows GET and HEAD.
        let _ = method;
        let url = self
            .shared
            .container
            .signer
            .read_url(&self.blob(path), expiry)
            .await
            .map_err(|e| backend("signing a URL for", path, e))?;
        Ok(Some(url.to_string()))
    }

    async fn pending_writes(&self, path: &StoragePath) -> Result<Vec<PendingWrite>> {
        crate::pending::pending_writes(&self.shared, path).await
    }

    async fn remove_pending_write(&self, write: &PendingWrite) -> Result<()> {
        crate::pending::remove(&self.shared, write).await
    }

    async fn walk(
        &self,
        path: &StoragePath,
        start_after: Option<&StoragePath>,
        visit: &mut WalkFn<'_>,
    ) -> Result<()> {
        crate::walk::walk(
            |dir| async move { self.entries(&dir).await },
            path,
            start_after,
            visit,
        )
        .await
    }
}
