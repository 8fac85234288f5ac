use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::driver::{
    ByteStream, FileInfo, FileWriter, PendingWrite, RedirectMethod, StorageDriver, WalkFn,
};
use super::{Result, StorageError, StoragePath};

/// The one door to a storage driver: it validates every path once, for all drivers, and
/// reports invalid ones in the driver's name. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    driver: Arc<dyn StorageDriver>,
}

/// Whether an operation may address the root directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    FileOnly,
    RootAllowed,
}

impl Storage {
    pub fn new(driver: Arc<dyn StorageDriver>) -> Self {
        Storage { driver }
    }

    pub fn driver_name(&self) -> &'static str {
        self.driver.name()
    }

    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    fn check(&self, path: &str, target: Target) -> Result<StoragePath> {
        let invalid = |reason| StorageError::InvalidPath {
            driver: self.driver.name(),
            path: path.to_owned(),
            reason,
        };
        let parsed = StoragePath::parse(path).map_err(|e| invalid(e.reason))?;
        if parsed.is_root() && target == Target::FileOnly {
            return Err(invalid("the root is a directory, not an object"));
        }
        Ok(parsed)
    }

    pub async fn get_content(&self, path: &str) -> Result<Bytes> {
        let path = self.check(path, Target::FileOnly)?;
        self.driver.get_content(&path).await
    }

    /// The content and modification time of a small object (see
    /// [`StorageDriver::get_content_timed`]).
    pub async fn get_content_timed(&self, path: &str) -> Result<super::TimedContent> {
        let path = self.check(path, Target::FileOnly)?;
        self.driver.get_content_timed(&path).await
    }

    pub async fn put_content(&self, path: &str, content: impl Into<Bytes>) -> Result<()> {
        let path = self.check(path, Target::FileOnly)?;
        self.driver.put_content(&path, content.into()).await
    }

    pub async fn reader(&self, path: &str, offset: i64) -> Result<ByteStream> {
        let path = self.check(path, Target::FileOnly)?;
        let Ok(start) = u64::try_from(offset) else {
            return Err(StorageError::invalid_offset(
                self.driver.name(),
                path,
                offset,
            ));
        };
        self.driver.reader(&path, start).await
    }

    /// Exactly `length` bytes from `offset` (see [`StorageDriver::range_reader`]). A driver
    /// stream that ends early or runs long fails here rather than corrupting a response whose
    /// length was announced.
    pub async fn range_reader(&self, path: &str, offset: u64, length: u64) -> Result<ByteStream> {
        let path = self.check(path, Target::FileOnly)?;
        // Offsets are i64 in this API (as in the reference's), so no object reaches past that;
        // some backends refuse such ranges outright instead of saying where the object ends.
        let end = offset.checked_add(length);
        if end.is_none_or(|end| i64::try_from(end).is_err()) {
            return Err(StorageError::invalid_offset(
                self.driver.name(),
                path,
                i64::try_from(offset).unwrap_or(i64::MAX),
            ));
        }
        let stream = self.driver.range_reader(&path, offset, length).await?;
        Ok(super::ranged::exactly(
            stream,
            length,
            self.driver.name(),
            path,
        ))
    }

    pub async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let path = self.check(path, Target::FileOnly)?;
        self.driver.writer(&path, append).await
    }

    pub async fn stat(&self, path: &str) -> Result<FileInfo> {
        let path = self.check(path, Target::RootAllowed)?;
        self.driver.stat(&path).await
    }

    pub async fn list(&self, path: &str) -> Result<Vec<StoragePath>> {
        let path = self.check(path, Target::RootAllowed)?;
        self.driver.list(&path).await
    }

    pub async fn move_to(&self, source: &str, dest: &str) -> Result<()> {
        let source = self.check(source, Target::FileOnly)?;
        let dest = self.check(dest, Target::FileOnly)?;
        self.driver.move_to(&source, &dest).await
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        let path = self.check(path, Target::FileOnly)?;
        self.driver.delete(&path).await
    }

    pub async fn redirect_url(
        &self,
        path: &str,
        method: RedirectMethod,
        expiry: Duration,
    ) -> Result<Option<String>> {
        let path = self.check(path, Target::FileOnly)?;
        self.driver.redirect_url(&path, method, expiry).await
    }

    /// Unfinished writers' backend state at or below `path` (see
    /// [`StorageDriver::pending_writes`]).
    pub async fn pending_writes(&self, path: &str) -> Result<Vec<PendingWrite>> {
        let path = self.check(path, Target::RootAllowed)?;
        self.driver.pending_writes(&path).await
    }

    pub async fn remove_pending_write(&self, write: &PendingWrite) -> Result<()> {
        self.driver.remove_pending_write(write).await
    }

    pub async fn walk(
        &self,
        path: &str,
        start_after: Option<&str>,
        visit: &mut WalkFn<'_>,
    ) -> Result<()> {
        let path = self.check(path, Target::RootAllowed)?;
        let start_after = start_after
            .map(|p| self.check(p, Target::RootAllowed))
            .transpose()?;
        self.driver.walk(&path, start_after.as_ref(), visit).await
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("driver", &self.driver.name())
            .finish()
    }
}
