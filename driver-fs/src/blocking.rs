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

    /// Runs `op` and waits for it.
    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.start(op).await?.wait().await
    }

    /// Starts `op` once a permit is free, without waiting for it to finish: the caller can
    /// overlap its own work (hashing the next chunk, sending the previous one) with the I/O.
    pub(crate) async fn start<T, F>(&self, op: F) -> Result<Pending<T>>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| StorageError::backend(NAME, "blocking pool closed", e))?;
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            op()
        });
        Ok(Pending(handle))
    }
}

/// A blocking operation in flight.
pub(crate) struct Pending<T>(tokio::task::JoinHandle<Result<T>>);

impl<T> Pending<T> {
    pub(crate) async fn wait(self) -> Result<T> {
        self.0
            .await
            .map_err(|e| StorageError::backend(NAME, "blocking file operation failed", e))?
    }
}
