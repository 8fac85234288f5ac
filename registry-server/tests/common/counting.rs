//! A storage driver that records every operation the registry makes, over the in-memory
//! driver: the cost tests count what one request costs in storage operations.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use driver_inmemory::InMemoryDriver;
use registry_core::storage::{
    ByteStream, FileInfo, FileWriter, Result, Storage, StorageDriver, StoragePath, TimedContent,
};

/// One recorded operation: its name and the path it addressed.
pub type Op = (&'static str, String);

#[derive(Clone, Default)]
pub struct Counting {
    inner: InMemoryDriver,
    ops: Arc<Mutex<Vec<Op>>>,
}

impl Counting {
    /// A `Storage` over a fresh in-memory store, and the handle that reads its log.
    pub fn storage() -> (Storage, Counting) {
        let counting = Counting::default();
        (Storage::new(Arc::new(counting.clone())), counting)
    }

    fn record(&self, op: &'static str, path: &StoragePath) {
        self.ops
            .lock()
            .unwrap()
            .push((op, path.as_str().to_owned()));
    }

    /// The operations since the last call, and forgets them.
    pub fn take(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.lock().unwrap())
    }
}

#[async_trait]
impl StorageDriver for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        self.record("get_content", path);
        self.inner.get_content(path).await
    }

    async fn get_content_timed(&self, path: &StoragePath) -> Result<TimedContent> {
        self.record("get_content_timed", path);
        self.inner.get_content_timed(path).await
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        self.record("put_content", path);
        self.inner.put_content(path, content).await
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        self.record("reader", path);
        self.inner.reader(path, offset).await
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        self.record("writer", path);
        self.inner.writer(path, append).await
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        self.record("stat", path);
        self.inner.stat(path).await
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        self.record("list", path);
        self.inner.list(path).await
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        self.record("move_to", source);
        self.inner.move_to(source, dest).await
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        self.record("delete", path);
        self.inner.delete(path).await
    }
    // `walk` is left to the default, which goes through `list` and `stat` and so is counted.
}
