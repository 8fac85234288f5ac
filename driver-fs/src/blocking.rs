use std::sync::Arc;

use registry_core::storage::{Result, StorageError};
use tokio::sync::Semaphore;

use crate::driver::NAME;

/// Runs blocking file operations off the async executor, at most `limit` at a time, so that a
/// burst of requests cannot exhaust threads or file descriptors.
#[derive(Clone)]
pub(crate) struct BlockingPool {
    permits: Arc<Semaphore>,
}

impl BlockingPool {
    pub(crate) fn new(limit: usize) -> Self {
        BlockingPool {
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| StorageError::backend(NAME, "blocking pool closed", e))?;
        tokio::task::spawn_blocking(op)
            .await
            .map_err(|e| StorageError::backend(NAME, "blocking file operation failed", e))?
    }
}
