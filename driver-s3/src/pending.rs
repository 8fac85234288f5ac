//! Multipart uploads of writers that never finished, for upload purging.
//!
//! A writer closed before commit is recorded in the pending tree (see [`crate::progress`]),
//! and `delete` of its path aborts its upload. A writer whose process died mid-write has no
//! record: its multipart upload is found only by ListMultipartUploads, which some
//! S3-compatible services (s3s-fs) do not implement; there such uploads stay until a bucket
//! lifecycle rule (`AbortIncompleteMultipartUpload`) removes them.

use std::sync::atomic::{AtomicBool, Ordering};

use registry_core::storage::{PendingWrite, StoragePath};

use crate::driver::Context;
use crate::error::{Failure, S3Error};
use crate::parts::abort_upload;

/// Set once the service said it cannot list multipart uploads, so that this is logged once.
static LISTING_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// The multipart uploads in progress to `path` or below it.
pub(crate) async fn pending_writes(
    context: &Context,
    path: &StoragePath,
) -> Result<Vec<PendingWrite>, S3Error> {
    let layout = &context.layout;
    let (object, directory) = if path.is_root() {
        (None, layout.directory(path))
    } else {
        (Some(layout.object(path)), layout.directory(path))
    };
    // The object's key is a prefix of its directory's, and of its siblings' (`/a`, `/ab`).
    let prefix = object.clone().unwrap_or_else(|| directory.clone());
    let uploads = match context.bucket.list_uploads(&prefix).await {
        Ok(uploads) => uploads,
        Err(e) if e.failure() == Failure::NotImplemented => {
            if !LISTING_UNSUPPORTED.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "the S3 service cannot list multipart uploads: only uploads of closed \
                     writers are found and aborted; an AbortIncompleteMultipartUpload lifecycle \
                     rule on the bucket removes those of crashed ones"
                );
            }
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    Ok(uploads
        .into_iter()
        .filter(|u| object.as_ref() == Some(&u.key) || u.key.starts_with(&directory))
        .filter_map(|u| {
            Some(PendingWrite {
                path: layout.path_of(&u.key)?,
                started: u.initiated,
                id: u.upload_id,
            })
        })
        .collect())
}

/// Aborts the multipart upload of a pending write; one already gone is fine.
pub(crate) async fn remove(context: &Context, write: &PendingWrite) -> Result<(), S3Error> {
    abort_upload(
        &context.bucket,
        &context.layout.object(&write.path),
        &write.id,
    )
    .await
}
