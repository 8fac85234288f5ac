//! A streaming reader: one ranged GET for the rest of the blob, its body passed on as it
//! arrives. If the connection breaks mid-body, the read resumes where it stopped with a new
//! ranged GET; every GET is pinned to the blob's ETag, so a blob replaced meanwhile fails the
//! read instead of splicing two versions together.

use std::time::Duration;

use azure_core::ResponseBody;
use azure_core::prelude::IfMatchCondition;
use azure_storage_blobs::prelude::BlobClient;
use bytes::Bytes;
use futures::StreamExt;
use registry_core::storage::{ByteStream, StorageError, StoragePath};

use crate::error::{AzureError, backend, sdk_error, status_of};

/// Resumptions of one read after broken connections, in a row without data in between.
const MAX_RESUMES: u32 = 5;
const RESUME_DELAY: Duration = Duration::from_millis(200);

struct RangeRead {
    blob: BlobClient,
    path: StoragePath,
    etag: String,
    position: u64,
    end: u64,
    body: Option<ResponseBody>,
    failures_in_a_row: u32,
}

/// Streams bytes `start..end` of `blob`, which has ETag `etag`.
pub(crate) fn read_range(
    blob: BlobClient,
    path: StoragePath,
    etag: String,
    start: u64,
    end: u64,
) -> ByteStream {
    let state = RangeRead {
        blob,
        path,
        etag,
        position: start,
        end,
        body: None,
        failures_in_a_row: 0,
    };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(state))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    }))
}

impl RangeRead {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, StorageError> {
        loop {
            if self.position >= self.end {
                return Ok(None);
            }
            let body = match self.body.as_mut() {
                Some(body) => body,
                None => self.body.insert(self.open().await?),
            };
            let failure: Box<dyn std::error::Error + Send + Sync> = match body.next().await {
                Some(Ok(chunk)) => {
                    let len = chunk.len() as u64;
                    if len == 0 {
                        continue;
                    }
                    if self.position + len > self.end {
                        return Err(backend(
                            "reading",
                            &self.path,
                            AzureError::ChangedWhileReading,
                        ));
                    }
                    self.position += len;
                    self.failures_in_a_row = 0;
                    return Ok(Some(chunk));
                }
                Some(Err(e)) => Box::new(e),
                None => Box::new(AzureError::ShortRead {
                    received: self.position,
                    expected: self.end,
                }),
            };
            self.body = None;
            self.failures_in_a_row += 1;
            if self.failures_in_a_row > MAX_RESUMES {
                return Err(backend("reading", &self.path, failure));
            }
            tracing::debug!(path = %self.path, position = self.position, error = %failure, "resuming a broken read");
            tokio::time::sleep(RESUME_DELAY * self.failures_in_a_row).await;
        }
    }

    /// A GET of the remaining range. (The SDK's request retries cover failures to get a
    /// response; this covers failures while the body streams.)
    async fn open(&self) -> Result<ResponseBody, StorageError> {
        let remaining = self.end - self.position;
        let response = self
            .blob
            .get()
            .range(self.position..self.end)
            .chunk_size(remaining)
            .if_match(IfMatchCondition::Match(self.etag.clone()))
            .into_stream()
            .next()
            .await;
        match response {
            Some(Ok(response)) => Ok(response.data),
            Some(Err(e)) if status_of(&e) == Some(azure_core::StatusCode::PreconditionFailed) => {
                Err(backend(
                    "reading",
                    &self.path,
                    AzureError::ChangedWhileReading,
                ))
            }
            Some(Err(e)) => Err(sdk_error(e, "reading", &self.path)),
            None => Err(backend(
                "reading",
                &self.path,
                AzureError::ShortRead {
                    received: self.position,
                    expected: self.end,
                },
            )),
        }
    }
}
