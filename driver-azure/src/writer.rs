//! Resumable writers, on block blobs.
//!
//! Why block blobs and not append blobs: blocks are staged invisibly and become content only
//! when a block list names them, which is exactly "nothing is readable before commit"; several
//! blocks can be uploaded at once (throughput), up to 4000 MiB each and 50,000 per blob. Append
//! blobs make every append visible at once, cannot be uploaded in parallel, and would leave an
//! append blob (with its own write rules) at the path after commit.
//!
//! Why a staging blob and not blocks staged on the target itself: a successful Put Block List
//! discards every uncommitted block of its blob, so two writers staging on the same target
//! would destroy each other's data. Each writer therefore stages into its own private blob,
//! `<path>~upload-<writer id>` (see [`crate::names`]):
//!
//! - `write` buffers at most one block and uploads full blocks in the background, a few at a
//!   time, so memory stays bounded whatever the size of the upload.
//! - `close` commits the staged blocks into the staging blob: the progress is then durable and
//!   findable by listing `<path>~upload-`; a writer opened with `append` in any process resumes
//!   it, reading its size from the committed block list. The newest closed upload of a path
//!   wins, as a rename would: a private writer's `close` removes older ones.
//! - `commit` commits the staging blob, copies it over the target on the service side (Azure
//!   has no rename) and removes it. An upload that never filled a block is still in memory and
//!   is written with a single Put Blob instead.
//! - `cancel` empties and removes the staging blob, uncommitted blocks included.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use azure_core::StatusCode;
use azure_storage_blobs::prelude::{BlobBlockType, BlobClient, BlockId, BlockList, BlockListType};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use registry_core::storage::{FileWriter, Result, StorageError, StoragePath};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::copy::copy_blob;
use crate::driver::Shared;
use crate::error::{AzureError, SdkResultExt, backend, is_blob_not_found, sdk_error, status_of};
use crate::listing::all_below;
use crate::reader::read_range;

/// Bytes per staged block: the memory a writer holds, times `MAX_IN_FLIGHT + 1` at most.
/// 8 MiB blocks allow uploads of up to 390 GiB (50,000 blocks).
pub(crate) const BLOCK_SIZE: usize = 8 * 1024 * 1024;
/// Blocks uploaded at once by one writer.
const MAX_IN_FLIGHT: usize = 4;

pub(crate) struct AzureWriter {
    shared: Arc<Shared>,
    path: StoragePath,
    /// The staging blob.
    upload: BlobClient,
    /// Ids of this writer's blocks: a fresh UUID and a counter, 24 bytes, so every block id of
    /// a staging blob has the same length, as the service requires.
    id: Uuid,
    /// Blocks committed in the staging blob by earlier writers (resumed progress), in order.
    committed: Vec<BlockId>,
    /// Blocks this writer staged, in order.
    staged: Vec<BlockId>,
    /// Bytes not yet staged: less than one block.
    buffer: BytesMut,
    /// Block uploads in flight.
    uploads: JoinSet<azure_core::Result<()>>,
    size: u64,
    /// The staging blob is this writer's own and holds no closed progress.
    private: bool,
    /// Set once `close`, `commit` or `cancel` has settled the upload; a writer dropped before
    /// (or whose commit failed) cleans up after itself.
    settled: bool,
}

impl AzureWriter {
    /// A writer for `path`; with `append`, resuming a closed upload or else extending the
    /// committed content.
    pub(crate) async fn open(
        shared: Arc<Shared>,
        path: &StoragePath,
        append: bool,
    ) -> Result<Self> {
        if !append {
            return Ok(Self::private(shared, path));
        }
        if let Some(upload) = newest_closed_upload(&shared, path).await? {
            return Self::resume(shared, path, upload).await;
        }
        let target = shared.container.blob(shared.names.blob(path));
        let properties = target
            .get_properties()
            .await
            .for_path("opening writer for", path)?
            .blob
            .properties;
        let mut writer = Self::private(shared, path);
        // Nothing to resume but committed content: the new upload starts as a copy of it. The
        // registry never does this (uploads always resume their own progress), so the bytes
        // simply stream through; the service's Put Block From URL would avoid that but is not
        // implemented by Azurite.
        let mut content = read_range(
            target,
            path.clone(),
            properties.etag.to_string(),
            0,
            properties.content_length,
        );
        while let Some(chunk) = content.next().await {
            writer.write(chunk?).await?;
        }
        Ok(writer)
    }

    fn private(shared: Arc<Shared>, path: &StoragePath) -> Self {
        let id = Uuid::new_v4();
        let upload = shared.container.blob(shared.names.upload(path, id));
        AzureWriter {
            shared,
            path: path.clone(),
            upload,
            id,
            committed: Vec::new(),
            staged: Vec::new(),
            buffer: BytesMut::new(),
            uploads: JoinSet::new(),
            size: 0,
            private: true,
            settled: false,
        }
    }

    async fn resume(shared: Arc<Shared>, path: &StoragePath, closed: ClosedUpload) -> Result<Self> {
        let upload = shared.container.blob(closed.name.clone());
        let blocks = upload
            .get_block_list()
            .block_list_type(BlockListType::Committed)
            .await
            .map_err(|e| match is_blob_not_found(&e) {
                // Removed since it was listed (committed or cancelled elsewhere).
                true => StorageError::not_found(crate::driver::NAME, path),
                false => sdk_error(e, "resuming upload to", path),
            })?
            .block_with_size_list
            .blocks;
        let mut committed = Vec::with_capacity(blocks.len());
        let mut size = 0;
        for block in blocks {
            if let BlobBlockType::Committed(id) = block.block_list_type {
                committed.push(id);
                size += block.size_in_bytes;
            }
        }
        if closed.size != size {
            // Not written by this driver, or changed since it was listed.
            return Err(backend(
                "resuming upload to",
                path,
                AzureError::UploadNotBlocks {
                    blob: closed.name,
                    size: closed.size,
                    blocks: size,
                },
            ));
        }
        Ok(AzureWriter {
            shared,
            path: path.clone(),
            upload,
            id: Uuid::new_v4(),
            committed,
            staged: Vec::new(),
            buffer: BytesMut::new(),
            uploads: JoinSet::new(),
            size,
            private: false,
            settled: false,
        })
    }

    /// Uploads `block` in the background, after waiting for a slot.
    async fn stage(&mut self, block: Bytes) -> Result<()> {
        while self.uploads.len() >= MAX_IN_FLIGHT {
            self.join_one().await?;
        }
        let mut id = Vec::with_capacity(24);
        id.extend_from_slice(self.id.as_bytes());
        id.extend_from_slice(&(self.staged.len() as u64).to_be_bytes());
        let id = BlockId::new(id);
        self.staged.push(id.clone());
        let request = self.upload.put_block(id, block).into_future();
        self.uploads.spawn(async move { request.await.map(|_| ()) });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        match self.uploads.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(sdk_error(e, "staging a block of", &self.path)),
            Some(Err(e)) => Err(backend(
                "staging a block of",
                &self.path,
                AzureError::UploadTask(e.to_string()),
            )),
        }
    }

    /// Stages what is buffered and waits for every upload.
    async fn stage_everything(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            let rest = self.buffer.split().freeze();
            self.stage(rest).await?;
        }
        while !self.uploads.is_empty() {
            self.join_one().await?;
        }
        Ok(())
    }

    /// Commits resumed and staged blocks, in order, as the staging blob's content.
    async fn commit_blocks(&self) -> Result<()> {
        let blocks = self
            .committed
            .iter()
            .cloned()
            .map(BlobBlockType::Committed)
            .chain(self.staged.iter().cloned().map(BlobBlockType::Uncommitted))
            .collect();
        self.upload
            .put_block_list(BlockList { blocks })
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(e, "committing blocks of", &self.path))
    }

    /// Empties the staging blob (which discards its uncommitted blocks) and removes it.
    pub(crate) async fn discard_upload(upload: &BlobClient) -> azure_core::Result<()> {
        upload.put_block_list(BlockList::default()).await?;
        match upload.delete().await {
            Ok(_) => Ok(()),
            Err(e) if is_blob_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the other closed uploads of this path: the one just closed supersedes them.
    /// Best effort: the progress is safe already, and a resume picks the newest upload anyway.
    async fn remove_superseded_uploads(&self) {
        let own = self.upload.blob_name();
        let prefix = self.shared.names.upload_prefix(&self.path);
        let mut pages = all_below(&self.shared.container, &prefix);
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(path = %self.path, error = %e, "could not list superseded uploads");
                    return;
                }
            };
            for blob in page.blobs.blobs().filter(|b| b.name != own) {
                match self.shared.container.blob(blob.name.clone()).delete().await {
                    Ok(_) => {}
                    Err(e) if is_blob_not_found(&e) => {}
                    Err(e) => {
                        tracing::warn!(blob = %blob.name, error = %e, "could not remove a superseded upload");
                    }
                }
            }
        }
    }
}

#[async_trait]
impl FileWriter for AzureWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.size += data.len() as u64;
        let mut data = data;
        if !self.buffer.is_empty() {
            let take = (BLOCK_SIZE - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data.split_to(take));
            if self.buffer.len() == BLOCK_SIZE {
                let block = self.buffer.split().freeze();
                self.stage(block).await?;
            }
        }
        // Whole blocks of the caller's buffer go out without a copy.
        while data.len() >= BLOCK_SIZE {
            let block = data.split_to(BLOCK_SIZE);
            self.stage(block).await?;
        }
        if !data.is_empty() {
            self.buffer.extend_from_slice(&data);
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn flush(&mut self) -> Result<()> {
        // A block may be of any size, so what is buffered can always be staged.
        self.stage_everything().await?;
        // The staged bytes were split off the buffer's allocation, which the buffer still
        // shares: a new buffer lets it go.
        self.buffer = BytesMut::new();
        Ok(())
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        self.stage_everything().await?;
        self.commit_blocks().await?;
        self.settled = true;
        if self.private {
            self.remove_superseded_uploads().await;
        }
        Ok(())
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        self.settled = true;
        // Let uploads in flight land first, so that none arrives after the cleanup.
        while self.uploads.join_next().await.is_some() {}
        if self.private && self.staged.is_empty() {
            return Ok(()); // nothing ever reached the service
        }
        Self::discard_upload(&self.upload)
            .await
            .map_err(|e| backend("cancelling upload to", &self.path, e))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let target = self
            .shared
            .container
            .blob(self.shared.names.blob(&self.path));
        if self.private && self.staged.is_empty() && self.uploads.is_empty() {
            // Less than one block, all in memory: one request replaces the target atomically.
            let content = self.buffer.split().freeze();
            target
                .put_block_blob(content)
                .await
                .map_err(|e| backend("committing", &self.path, e))?;
            self.settled = true;
            return Ok(());
        }
        self.stage_everything().await?;
        if self.private || !self.staged.is_empty() {
            self.commit_blocks().await?;
        }
        copy_blob(&self.shared.container, &self.upload, &target)
            .await
            .map_err(|e| backend("committing", &self.path, e))?;
        match self.upload.delete().await {
            Ok(_) => {}
            Err(e) if status_of(&e) == Some(StatusCode::NotFound) => {}
            Err(e) => return Err(backend("removing the upload of", &self.path, e)),
        }
        self.settled = true;
        Ok(())
    }
}

impl Drop for AzureWriter {
    fn drop(&mut self) {
        // Dropped mid-way (a client hung up) or after a failed commit: dropping `uploads` aborts
        // the block uploads. A private writer's staged blocks would never be found again:
        // remove them (best effort; the service also discards uncommitted blocks after a
        // week). A resumed upload keeps the progress of its last close, for a later resume.
        if self.settled || !self.private || self.staged.is_empty() {
            return;
        }
        let upload = self.upload.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = Self::discard_upload(&upload).await {
                    tracing::warn!(blob = upload.blob_name(), error = %e, "could not remove an abandoned upload");
                }
            });
        }
    }
}

/// A closed upload found by listing.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ClosedUpload {
    modified: SystemTime,
    name: String,
    size: u64,
}

/// The newest closed upload to `path`, if any. Uploads still being written by a private writer
/// have only uncommitted blocks and are not listed.
async fn newest_closed_upload(shared: &Shared, path: &StoragePath) -> Result<Option<ClosedUpload>> {
    let mut pages = all_below(&shared.container, &shared.names.upload_prefix(path));
    let mut newest: Option<ClosedUpload> = None;
    while let Some(page) = pages.next().await {
        let page = page.for_path("looking for uploads to", path)?;
        for blob in page.blobs.blobs() {
            let candidate = ClosedUpload {
                modified: SystemTime::from(blob.properties.last_modified),
                name: blob.name.clone(),
                size: blob.properties.content_length,
            };
            if newest.as_ref().is_none_or(|best| candidate > *best) {
                newest = Some(candidate);
            }
        }
    }
    Ok(newest)
}
