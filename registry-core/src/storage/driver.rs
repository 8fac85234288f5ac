use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use super::{Result, StoragePath, walk};

/// A stream of a stored object's bytes, in order.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// What a storage driver knows about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub path: StoragePath,
    /// Size in bytes; 0 for directories.
    pub size: u64,
    /// Last modification; drivers without directory times report `UNIX_EPOCH` for directories.
    pub mod_time: SystemTime,
    pub is_dir: bool,
}

/// A small object's whole content and its last modification, as one read gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedContent {
    pub content: Bytes,
    /// When the object was last written; `UNIX_EPOCH` when the backend keeps no time.
    pub mod_time: SystemTime,
}

/// The HTTP method a presigned URL is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectMethod {
    Get,
    Head,
}

/// What an unfinished writer keeps in the backend outside every path that `list`, `stat` and
/// `walk` show: an S3 multipart upload, an Azure staging blob with its uncommitted blocks.
/// See [`StorageDriver::pending_writes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWrite {
    /// The path the writer writes to.
    pub path: StoragePath,
    /// When the backend started keeping it (the multipart upload's initiation, the staging
    /// blob's last change), for the caller to tell abandoned writes from running ones.
    pub started: SystemTime,
    /// The backend's name for it (an upload id, a blob name), for logs and for removal.
    pub id: String,
}

/// What a walk callback asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkControl {
    Continue,
    /// Do not descend into the directory just visited (ignored for files).
    SkipDir,
    /// End the walk successfully.
    Stop,
}

/// A walk callback; an error ends the walk with that error.
pub type WalkFn<'a> = dyn FnMut(&FileInfo) -> Result<WalkControl> + Send + 'a;

/// A storage backend, with the semantics of CNCF Distribution's `StorageDriver`.
///
/// Paths arrive validated (see [`StoragePath`]); only `stat`, `list` and `walk` ever receive the
/// root. Implementations must stream: no method may need a whole blob in memory, except
/// `get_content`/`put_content`, which are meant for small objects.
#[async_trait]
pub trait StorageDriver: Send + Sync + 'static {
    /// A short, stable name used in errors and logs ("filesystem", "s3", ...).
    fn name(&self) -> &'static str;

    /// The whole content of a small object.
    async fn get_content(&self, path: &StoragePath) -> Result<Bytes>;

    /// The whole content of a small object and its modification time (what `stat` reports),
    /// for callers that need both, such as a page showing when each tag was pushed. The
    /// default is `get_content` then `stat` (two backend operations; an object replaced in
    /// between pairs the earlier content with the later time); drivers whose
    /// backend answers both in one call (a file's `fstat` on the open file, S3 `GetObject`'s
    /// `Last-Modified`) override it to cost one.
    async fn get_content_timed(&self, path: &StoragePath) -> Result<TimedContent> {
        let content = self.get_content(path).await?;
        let mod_time = self.stat(path).await?.mod_time;
        Ok(TimedContent { content, mod_time })
    }

    /// Stores `content` at `path`, replacing (and truncating) what was there.
    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()>;

    /// The object's bytes from `offset`. `offset == size` gives an empty stream; beyond the size
    /// is `InvalidOffset`; a missing object is `PathNotFound`.
    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream>;

    /// Exactly `length` bytes of the object from `offset`: one range of a multi-range blob
    /// read. `offset + length` beyond the size is `InvalidOffset`; a missing object is
    /// `PathNotFound`. The default reads from `offset` and stops after `length` bytes, which is
    /// right for local storage; drivers over a network override it to ask the backend for only
    /// those bytes, so that a short range does not start a transfer of the rest of the object.
    async fn range_reader(
        &self,
        path: &StoragePath,
        offset: u64,
        length: u64,
    ) -> Result<ByteStream> {
        let size = self.stat(path).await?.size;
        let end = offset.saturating_add(length);
        if end > size {
            let end = i64::try_from(end).unwrap_or(i64::MAX);
            return Err(super::StorageError::invalid_offset(self.name(), path, end));
        }
        let stream = self.reader(path, offset).await?;
        Ok(super::ranged::take(stream, length))
    }

    /// A writer to `path`. With `append`, it resumes the progress that an earlier writer
    /// persisted with `close` (in any process), or extends committed content; with nothing to
    /// resume it is `PathNotFound`. Without `append`, it starts empty. Nothing becomes readable at
    /// `path` before `commit`.
    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>>;

    /// Size, modification time and kind. Directories are implicit: a path is a directory when
    /// some object lies below it.
    async fn stat(&self, path: &StoragePath) -> Result<FileInfo>;

    /// Absolute paths of the direct children of a directory, in any order.
    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>>;

    /// Moves an object, replacing the destination; the source is gone afterwards.
    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()>;

    /// Removes an object or, recursively, a directory. `/a` never touches `/ab`.
    async fn delete(&self, path: &StoragePath) -> Result<()>;

    /// A presigned URL serving `path` directly from the backend, or `None` when the backend
    /// cannot hand one out.
    async fn redirect_url(
        &self,
        path: &StoragePath,
        method: RedirectMethod,
        expiry: Duration,
    ) -> Result<Option<String>> {
        let _ = (path, method, expiry);
        Ok(None)
    }

    /// The writers' state at or below `path` that the backend keeps outside the visible
    /// objects: at least what `delete` of that path would not remove, the state of writers
    /// that were neither committed, closed nor cancelled because their process died (it may
    /// also list closed writers' progress, which `delete` removes). It includes writers still
    /// running; the caller decides by `started`, and by what it knows of the paths, which are
    /// abandoned.
    /// A backend that cannot enumerate such state (an S3-compatible service without
    /// ListMultipartUploads) reports what it can. The default, for drivers whose writers leave
    /// nothing outside the paths that `delete` removes, is none.
    async fn pending_writes(&self, path: &StoragePath) -> Result<Vec<PendingWrite>> {
        let _ = path;
        Ok(Vec::new())
    }

    /// Removes a write reported by [`pending_writes`](Self::pending_writes), with every byte
    /// it holds; its writer, if still running, fails. One that is already gone is no error,
    /// so several processes may remove the same write.
    async fn remove_pending_write(&self, write: &PendingWrite) -> Result<()> {
        let _ = write;
        Ok(())
    }

    /// Visits everything below `path` depth-first in lexical order, skipping entries up to and
    /// including `start_after`. A directory removed during the walk is skipped; a file removed
    /// after its directory was listed may still be reported. Drivers with a cheaper listing
    /// override this.
    async fn walk(
        &self,
        path: &StoragePath,
        start_after: Option<&StoragePath>,
        visit: &mut WalkFn<'_>,
    ) -> Result<()> {
        walk::walk_by_listing(self, path, start_after, visit).await
    }
}

/// An open writer. Bytes written become readable at the writer's path only after `commit`.
#[async_trait]
pub trait FileWriter: Send {
    /// Appends `data`.
    async fn write(&mut self, data: Bytes) -> Result<()>;

    /// Bytes written so far, including resumed progress.
    fn size(&self) -> u64;

    /// Hands buffered bytes to the backend, so that a writer whose caller waits for more input
    /// (a client that stalls) holds as little memory as the backend allows. Nothing becomes
    /// readable; a no-op for writers that buffer nothing worth releasing.
    async fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// Persists the progress so that a later `writer(path, true)`, possibly in another process,
    /// resumes at `size`.
    async fn close(self: Box<Self>) -> Result<()>;

    /// Removes everything this writer (and the progress it resumed) created.
    async fn cancel(self: Box<Self>) -> Result<()>;

    /// Makes the written bytes readable at the path, replacing what was there.
    async fn commit(self: Box<Self>) -> Result<()>;
}
