//! The file writer: bytes go to a multipart upload to the final key in `chunksize` parts, so
//! nothing is visible at the path before `commit` completes the upload (or, for content smaller
//! than one part, puts it whole). `close` records the upload and the bytes too few for a part in
//! the path's pending directory (see [`crate::progress`]), from where a writer opened with
//! `append` in any process resumes.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use registry_core::storage::{FileWriter, Result, StorageError, StoragePath};

use crate::NAME;
use crate::bucket::PartRecord;
use crate::config::MIN_PART_SIZE;
use crate::copy::{copy_parts, part_ranges};
use crate::driver::Context;
use crate::error::{AtPath, S3Error};
use crate::parts::{PartUploads, abort_upload};
use crate::progress::{Progress, Tail};

pub(crate) struct S3Writer {
    context: Arc<Context>,
    path: StoragePath,
    key: String,
    parts: PartUploads,
    /// Bytes not yet handed to a part upload: fewer than one chunk.
    pending: BytesMut,
    /// The resumed record's tail, or bytes this writer spilled while its caller waited,
    /// until read into `pending` (it comes first there).
    unread_tail: Option<Tail>,
    /// `unread_tail` is this writer's own spill, to remove once read back or abandoned.
    spilled: bool,
    size: u64,
    /// The record of the closed writer this one continues; its objects are this writer's to
    /// replace or remove.
    resumed: Option<Progress>,
    /// Something was written since opening.
    dirty: bool,
    /// A part upload failed: the bytes are incomplete, so only `cancel` is allowed.
    failed: bool,
    /// `close`, `commit` or `cancel` ran (whatever the outcome): nothing left for `drop`.
    finished: bool,
}

impl S3Writer {
    /// A writer that starts empty.
    pub(crate) fn fresh(context: Arc<Context>, path: StoragePath) -> Self {
        Self::with_progress(context, path, None, Vec::new(), BytesMut::new(), None)
    }

    /// A writer with `append`: it resumes the progress a writer at `path` closed with, or
    /// extends the object committed there.
    pub(crate) async fn append(context: Arc<Context>, path: StoragePath) -> Result<Self> {
        let bucket = &context.bucket;
        let record_key = context.layout.progress(&path);
        if let Some(progress) = Progress::load(bucket, &record_key).await.at(&path)? {
            return Self::resume(context, path, progress).await;
        }
        let key = context.layout.object(&path);
        match bucket.find(&key).await.at(&path)? {
            Some(object) => Self::extend(context, path, object.size).await,
            None => Err(StorageError::not_found(NAME, &path)),
        }
    }

    /// Continues a closed writer. Its tail is read back only once this writer needs the
    /// bytes, so that opening a writer just to learn its size costs one small GET.
    async fn resume(context: Arc<Context>, path: StoragePath, progress: Progress) -> Result<Self> {
        tracing::debug!(%path, size = progress.size(), "resuming a closed writer");
        let upload_id = progress.upload_id.clone();
        let parts = progress.parts.clone();
        let tail = progress.tail.clone();
        let mut writer = Self::with_progress(
            context,
            path,
            upload_id,
            parts,
            BytesMut::new(),
            Some(progress),
        );
        if let Some(tail) = tail {
            writer.size += tail.size;
            writer.unread_tail = Some(tail);
        }
        Ok(writer)
    }

    /// Reads the resumed tail into the buffer, if not done yet.
    async fn read_tail(&mut self) -> Result<(), S3Error> {
        let Some(tail) = self.unread_tail.take() else {
            return Ok(());
        };
        let bytes = match self.context.bucket.get_bytes(&tail.key).await {
            Ok(bytes) if bytes.len() as u64 == tail.size => bytes,
            Ok(bytes) => {
                return Err(corrupt(
                    &tail.key,
                    format!(
                        "the tail holds {} bytes, the record says {}",
                        bytes.len(),
                        tail.size
                    ),
                ));
            }
            Err(e) if e.is_no_such_key() => {
                return Err(corrupt(&tail.key, "the tail object is missing"));
            }
            Err(e) => return Err(e),
        };
        debug_assert!(self.pending.is_empty());
        self.pending = BytesMut::from(bytes.as_ref());
        if std::mem::take(&mut self.spilled) {
            self.context.bucket.delete(&tail.key).await?;
        }
        Ok(())
    }

    /// Removes a spill that was never read back.
    async fn drop_spill(&mut self) {
        if !std::mem::take(&mut self.spilled) {
            return;
        }
        if let Some(tail) = self.unread_tail.take()
            && let Err(e) = self.context.bucket.delete(&tail.key).await
        {
            tracing::warn!(key = %tail.key, error = %e, "removing a writer's spilled bytes");
        }
    }

    /// Continues the committed `size`-byte object at `path`: small content is read back into
    /// the buffer, larger content is copied server-side into the parts of a new upload.
    async fn extend(context: Arc<Context>, path: StoragePath, size: u64) -> Result<Self> {
        let key = context.layout.object(&path);
        if size == 0 {
            return Ok(Self::fresh(context, path));
        }
        if size < MIN_PART_SIZE {
            let bytes = context.bucket.get_bytes(&key).await.at(&path)?;
            let pending = BytesMut::from(bytes.as_ref());
            return Ok(Self::with_progress(
                context,
                path,
                None,
                Vec::new(),
                pending,
                None,
            ));
        }
        let bucket = &context.bucket;
        let upload_id = bucket.create_upload(&key).await.at(&path)?;
        let ranges = part_ranges(size, context.copy.chunk_size, false);
        let copied = copy_parts(bucket, &key, &upload_id, &key, &ranges, 1, context.copy).await;
        let parts = match copied {
            Ok(parts) => parts,
            Err(e) => {
                if let Err(abort) = bucket.abort_upload(&key, &upload_id).await {
                    tracing::warn!(%key, error = %abort, "aborting a failed extension copy");
                }
                return Err(e.at(&path));
            }
        };
        Ok(Self::with_progress(
            context,
            path,
            Some(upload_id),
            parts,
            BytesMut::new(),
            None,
        ))
    }

    fn with_progress(
        context: Arc<Context>,
        path: StoragePath,
        upload_id: Option<String>,
        parts: Vec<PartRecord>,
        pending: BytesMut,
        resumed: Option<Progress>,
    ) -> Self {
        let key = context.layout.object(&path);
        let size = parts.iter().map(|p| p.size).sum::<u64>() + pending.len() as u64;
        let parts = PartUploads::new(
            context.bucket.clone(),
            key.clone(),
            context.chunk_size as u64,
            upload_id,
            parts,
        );
        S3Writer {
            context,
            path,
            key,
            parts,
            pending,
            unread_tail: None,
            spilled: false,
            size,
            resumed,
            dirty: false,
            failed: false,
            finished: false,
        }
    }

    fn chunk_size(&self) -> usize {
        self.context.chunk_size
    }

    /// Moves `data` into the buffer, handing every full chunk to the part uploads.
    async fn buffer(&mut self, mut data: Bytes) -> Result<(), S3Error> {
        self.read_tail().await?;
        while !data.is_empty() {
            let chunk = self.chunk_size();
            if self.pending.is_empty() && data.len() >= chunk {
                // A whole chunk straight from the caller's buffer, without copying.
                self.parts.push(data.split_to(chunk)).await?;
                continue;
            }
            let take = (chunk - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data.split_to(take));
            if self.pending.len() == chunk {
                // Later chunks get their whole capacity at once: this writer is a large one.
                let full = std::mem::replace(&mut self.pending, BytesMut::with_capacity(chunk));
                self.parts.push(full.freeze()).await?;
            }
        }
        Ok(())
    }

    fn ensure_usable(&self) -> Result<()> {
        if self.failed {
            return Err(StorageError::backend(
                NAME,
                self.path.to_string(),
                "an earlier write of this writer failed; it can only be cancelled",
            ));
        }
        Ok(())
    }

    /// Aborts this writer's upload unless a stored record references it (the record of the
    /// writer it resumed), so that a writer ending without a record leaves no invisible upload.
    async fn abandon(&mut self) {
        self.drop_spill().await;
        if self.resumed.is_none()
            && let Err(e) = self.parts.abort().await
        {
            tracing::warn!(key = %self.key, error = %e, "aborting an abandoned writer's upload");
        }
    }

    async fn persist(&mut self) -> Result<(), S3Error> {
        let context = Arc::clone(&self.context);
        let (bucket, layout) = (&context.bucket, &context.layout);
        if self.resumed.is_some() && !self.dirty {
            return Ok(()); // The stored record still describes this writer exactly.
        }
        self.read_tail().await?;
        if self.pending.len() as u64 >= MIN_PART_SIZE {
            let full = std::mem::take(&mut self.pending).freeze();
            self.parts.push(full).await?;
        }
        let parts = self.parts.settle().await?.to_vec();
        let tail = if self.pending.is_empty() {
            None
        } else {
            let key = layout.new_tail(&self.path);
            let size = self.pending.len() as u64;
            bucket
                .put(&key, std::mem::take(&mut self.pending).freeze())
                .await?;
            Some(Tail { key, size })
        };
        let record_key = layout.progress(&self.path);
        // The record this one replaces: the one resumed, or one an earlier writer at this path
        // closed with (the last close wins; its upload is then abandoned).
        let replaced = match &self.resumed {
            Some(progress) => Some(progress.clone()),
            None => match Progress::load(bucket, &record_key).await {
                Ok(progress) => progress,
                Err(e) => {
                    tracing::warn!(key = %record_key, error = %e, "replacing an unreadable record");
                    None
                }
            },
        };
        let upload_id = self.parts.upload_id().map(str::to_owned);
        Progress::new(self.key.clone(), upload_id.clone(), parts, tail.clone())
            .store(bucket, &record_key)
            .await?;
        if let Some(old) = replaced {
            context
                .discard_superseded(&old, upload_id.as_deref(), tail.as_ref())
                .await;
        }
        Ok(())
    }

    async fn publish(&mut self) -> Result<(), S3Error> {
        self.read_tail().await?;
        let bucket = &self.context.bucket;
        self.parts.settle().await?;
        if self.parts.upload_id().is_none() {
            // Less than a chunk in all: one PUT, no multipart upload.
            let content = std::mem::take(&mut self.pending).freeze();
            bucket.put(&self.key, content).await?;
        } else {
            if !self.pending.is_empty() {
                // The last part may be smaller than the minimum.
                let last = std::mem::take(&mut self.pending).freeze();
                self.parts.push(last).await?;
            }
            self.parts.complete().await?;
        }
        if let Some(progress) = self.resumed.take() {
            self.context.remove_record(&self.path, &progress).await?;
        }
        Ok(())
    }

    async fn discard(&mut self) -> Result<(), S3Error> {
        self.drop_spill().await;
        self.parts.abort().await?;
        if let Some(progress) = self.resumed.take() {
            self.context.remove_record(&self.path, &progress).await?;
        }
        Ok(())
    }
}

fn corrupt(key: &str, reason: impl Into<String>) -> S3Error {
    S3Error::CorruptProgress {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

#[async_trait]
impl FileWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.ensure_usable()?;
        if data.is_empty() {
            return Ok(());
        }
        self.dirty = true;
        self.size += data.len() as u64;
        let buffered = self.buffer(data).await;
        if buffered.is_err() {
            self.failed = true;
        }
        buffered.at(&self.path)
    }

    fn size(&self) -> u64 {
        self.size
    }

    /// Uploads what is buffered when it can be a part. Less than S3's minimum part size stays
    /// in memory: a part that small could only ever be the last one.
    async fn flush(&mut self) -> Result<()> {
        if self.finished || self.failed || self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending).freeze();
        let size = pending.len() as u64;
        let flushed = if size >= MIN_PART_SIZE {
            self.parts.push(pending).await
        } else {
            // Too small for a part: kept as a private object meanwhile, and read back before
            // the next bytes (as a resumed writer reads its tail).
            let key = self.context.layout.new_tail(&self.path);
            match self.context.bucket.put(&key, pending.clone()).await {
                Ok(()) => {
                    self.unread_tail = Some(Tail { key, size });
                    self.spilled = true;
                }
                Err(e) => {
                    // Only memory was to be saved: the bytes stay buffered, the write goes on.
                    tracing::warn!(%key, error = %e, "could not spill a stalled writer's bytes");
                    self.pending = BytesMut::from(pending.as_ref());
                }
            }
            Ok(())
        };
        if flushed.is_err() {
            self.failed = true;
        }
        flushed.at(&self.path)
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        self.finished = true;
        let result = match self.ensure_usable() {
            Ok(()) => self.persist().await.at(&self.path),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.abandon().await;
        }
        result
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        self.finished = true;
        self.discard().await.at(&self.path)
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.finished = true;
        let result = match self.ensure_usable() {
            Ok(()) => self.publish().await.at(&self.path),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.abandon().await;
        }
        result
    }
}

impl Drop for S3Writer {
    /// A writer dropped without `close`, `commit` or `cancel` (say, when a client went away
    /// mid-upload) aborts an upload that no record references, in the background. The progress
    /// of a resumed writer stays as its record describes it.
    fn drop(&mut self) {
        if self.spilled
            && let Some(tail) = self.unread_tail.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let bucket = self.context.bucket.clone();
            runtime.spawn(async move {
                if let Err(e) = bucket.delete(&tail.key).await {
                    tracing::warn!(key = %tail.key, error = %e, "removing a dropped writer's spill");
                }
            });
        }
        if self.finished || self.resumed.is_some() {
            return;
        }
        let Some(upload_id) = self.parts.upload_id().map(str::to_owned) else {
            return;
        };
        let (bucket, key) = (self.context.bucket.clone(), self.key.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = abort_upload(&bucket, &key, &upload_id).await {
                        tracing::warn!(%key, error = %e, "aborting a dropped writer's upload");
                    }
                });
            }
            Err(_) => tracing::warn!(%key, %upload_id, "writer dropped outside a runtime"),
        }
    }
}
