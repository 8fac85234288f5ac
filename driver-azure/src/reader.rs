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

use crate::driver::NAME;
use crate::error::{AzureError, backend, sdk_error, status_of};

/// Resumptions of one read after broken connections, in a row without data in between.
const MAX_RESUMES: u32 = 5;
const RESUME_DELAY: Duration = Duration::from_millis(200);

struct RangeRead {
    blob: BlobClient,
    path: StoragePath,
    /// The ETag every GET is pinned to; for a read opened without one, the first response's.
    etag: Option<String>,
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
        etag: Some(etag),
        position: start,
        end,
        body: None,
        failures_in_a_row: 0,
    };
    into_stream(state)
}

/// Streams bytes `start..end` of `blob` (with `start < end`) without asking for its properties
/// first: the first GET is sent now, so that a missing blob or a range past its end fails here,
/// and the read is pinned to the ETag that GET answered with.
pub(crate) async fn open_range(
    blob: BlobClient,
    path: StoragePath,
    start: u64,
    end: u64,
) -> Result<ByteStream, StorageError> {
    let mut state = RangeRead {
        blob,
        path,
        etag: None,
        position: start,
        end,
        body: None,
        failures_in_a_row: 0,
    };
    let (body, length) = match state.request().await {
        Ok(opened) => opened,
        Err(e) if status_of(&e) == Some(azure_core::StatusCode::RequestedRangeNotSatisfiable) => {
            return Err(past_the_end(&state.path, end));
        }
        Err(e) => return Err(sdk_error(e, "reading", &state.path)),
    };
    // Azure answers a range running past the blob with the bytes it has.
    if length < end - start {
        return Err(past_the_end(&state.path, end));
    }
    state.body = Some(body);
    Ok(into_stream(state))
}

fn past_the_end(path: &StoragePath, end: u64) -> StorageError {
    StorageError::invalid_offset(NAME, path, i64::try_from(end).unwrap_or(i64::MAX))
}

fn into_stream(state: RangeRead) -> ByteStream {
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
            if self.body.is_none() {
                let opened = self.open().await?;
                self.body = Some(opened);
            }
            let Some(body) = self.body.as_mut() else {
                continue;
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
    async fn open(&mut self) -> Result<ResponseBody, StorageError> {
        match self.request().await {
            Ok((body, _)) => Ok(body),
            Err(e) if status_of(&e) == Some(azure_core::StatusCode::PreconditionFailed) => Err(
                backend("reading", &self.path, AzureError::ChangedWhileReading),
            ),
            Err(e) => Err(sdk_error(e, "reading", &self.path)),
        }
    }

    /// One GET of `position..end`: its body and the length the response announced.
    async fn request(&mut self) -> azure_core::Result<(ResponseBody, u64)> {
        let remaining = self.end - self.position;
        let mut get = self
            .blob
            .get()
            .range(self.position..self.end)
            .chunk_size(remaining);
        if let Some(etag) = &self.etag {
            get = get.if_match(IfMatchCondition::Match(etag.clone()));
        }
        match get.into_stream().next().await {
            Some(Ok(response)) => {
                let properties = &response.blob.properties;
                if self.etag.is_none() {
                    self.etag = Some(properties.etag.to_string());
                }
                let length = properties.content_length;
                Ok((response.data, length))
            }
            Some(Err(e)) => Err(e),
            None => Err(azure_core::Error::message(
                azure_core::error::ErrorKind::Io,
                "the blob service sent no response",
            )),
        }
    }
}
