//! The multipart upload behind a writer: started on the first full part, with a few parts
//! uploading concurrently so that a writer streams at network speed while holding at most
//! `MAX_PARTS_IN_FLIGHT + 1` parts in memory.

use bytes::Bytes;
use tokio::task::JoinSet;

use crate::bucket::{Bucket, PartRecord};
use crate::error::{Failure, S3Error};

/// Parts uploading at once per writer. With the default 10 MiB chunk size a writer holds at
/// most 50 MiB: these parts plus the one being filled.
pub(crate) const MAX_PARTS_IN_FLIGHT: usize = 4;
/// S3's limit on the number of parts of one upload.
const MAX_PARTS: i32 = 10_000;

pub(crate) struct PartUploads {
    bucket: Bucket,
    key: String,
    /// For the error when an object outgrows `MAX_PARTS`.
    chunk_size: u64,
    upload_id: Option<String>,
    /// Uploaded parts, in completion order until `settle` sorts them.
    done: Vec<PartRecord>,
    in_flight: JoinSet<Result<PartRecord, S3Error>>,
    next_number: i32,
}

impl PartUploads {
    /// Continues `upload_id` (if any) after its `parts`, which are in part order.
    pub(crate) fn new(
        bucket: Bucket,
        key: String,
        chunk_size: u64,
        upload_id: Option<String>,
        parts: Vec<PartRecord>,
    ) -> Self {
        let next_number = parts.last().map_or(1, |p| p.number + 1);
        PartUploads {
            bucket,
            key,
            chunk_size,
            upload_id,
            done: parts,
            in_flight: JoinSet::new(),
            next_number,
        }
    }

    pub(crate) fn upload_id(&self) -> Option<&str> {
        self.upload_id.as_deref()
    }

    /// Uploads `data` as the next part, once a slot is free. Failures of earlier parts surface
    /// here or in `settle`.
    pub(crate) async fn push(&mut self, data: Bytes) -> Result<(), S3Error> {
        if self.next_number > MAX_PARTS {
            return Err(S3Error::TooManyParts {
                key: self.key.clone(),
                max: MAX_PARTS,
                chunk_size: self.chunk_size,
            });
        }
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.bucket.create_upload(&self.key).await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= MAX_PARTS_IN_FLIGHT {
            self.join_one().await?;
        }
        let number = self.next_number;
        self.next_number += 1;
        let bucket = self.bucket.clone();
        let key = self.key.clone();
        self.in_flight
            .spawn(async move { bucket.upload_part(&key, &upload_id, number, data).await });
        Ok(())
    }

    /// Waits for every part in flight; the uploaded parts, in part order.
    pub(crate) async fn settle(&mut self) -> Result<&[PartRecord], S3Error> {
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        self.done.sort_by_key(|p| p.number);
        Ok(&self.done)
    }

    /// Completes the upload from the parts uploaded so far (at least one).
    pub(crate) async fn complete(&mut self) -> Result<(), S3Error> {
        self.settle().await?;
        let Some(upload_id) = &self.upload_id else {
            return Err(S3Error::incomplete(
                "CompleteMultipartUpload",
                &self.key,
                "upload",
            ));
        };
        self.bucket
            .complete_upload(&self.key, upload_id, &self.done)
            .await
    }

    /// Stops the parts in flight and aborts the upload, removing every part stored so far.
    pub(crate) async fn abort(&mut self) -> Result<(), S3Error> {
        self.in_flight.shutdown().await;
        match &self.upload_id {
            Some(upload_id) => abort_upload(&self.bucket, &self.key, upload_id).await,
            None => Ok(()),
        }
    }

    async fn join_one(&mut self) -> Result<(), S3Error> {
        match self.in_flight.join_next().await {
            Some(Ok(Ok(part))) => {
                self.done.push(part);
                Ok(())
            }
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(S3Error::Task {
                key: self.key.clone(),
                source: e,
            }),
            None => Ok(()),
        }
    }
}

/// Aborts an upload; one that is already gone (completed or aborted) is not an error.
pub(crate) async fn abort_upload(
    bucket: &Bucket,
    key: &str,
    upload_id: &str,
) -> Result<(), S3Error> {
    match bucket.abort_upload(key, upload_id).await {
        Err(e) if matches!(e.failure(), Failure::NoSuchUpload | Failure::NoSuchKey) => Ok(()),
        other => other,
    }
}
