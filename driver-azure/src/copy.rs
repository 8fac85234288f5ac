//! Server-side copy of one blob onto another, waited for until the destination holds the data.
//!
//! Azure has no rename: moving an object (and committing an upload) copies it on the service
//! side. Copy Blob returns `success` when it finished at once (usual within an account) or
//! `pending`, in which case the destination's copy status is polled until it settles.

use std::time::{Duration, Instant};

use azure_storage_blobs::blob::CopyStatus;
use azure_storage_blobs::prelude::BlobClient;

use crate::client::Container;
use crate::error::AzureError;

/// A copy that reports no progress for this long is given up.
const STALL_LIMIT: Duration = Duration::from_secs(5 * 60);
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_secs(2);

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyError {
    #[error(transparent)]
    Service(#[from] azure_core::Error),
    #[error(transparent)]
    Driver(#[from] AzureError),
}

/// Copies `source` over `dest` and waits for the copy to finish.
pub(crate) async fn copy_blob(
    container: &Container,
    source: &BlobClient,
    dest: &BlobClient,
) -> Result<(), CopyError> {
    let source_url = container.signer.copy_source_url(source).await?;
    let started = dest.copy(source_url).await?;
    let copy_id = started.copy_id.to_string();
    match started.copy_status {
        CopyStatus::Success => Ok(()),
        CopyStatus::Pending => wait_for_copy(dest, &copy_id).await,
        other => Err(AzureError::CopyFailed {
            copy_id,
            status: other.to_string(),
            description: String::new(),
        }
        .into()),
    }
}

async fn wait_for_copy(dest: &BlobClient, copy_id: &str) -> Result<(), CopyError> {
    let mut delay = FIRST_POLL;
    let mut last_progress = None;
    let mut progressed_at = Instant::now();
    loop {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_POLL);
        let properties = dest.get_properties().await?.blob.properties;
        let found = properties
            .copy_id
            .map(|id| id.to_string())
            .unwrap_or_default();
        if found != copy_id {
            return Err(AzureError::CopyReplaced {
                expected: copy_id.to_owned(),
                found,
            }
            .into());
        }
        match properties.copy_status {
            Some(CopyStatus::Success) => return Ok(()),
            Some(CopyStatus::Pending) | None => {}
            Some(other) => {
                return Err(AzureError::CopyFailed {
                    copy_id: copy_id.to_owned(),
                    status: other.to_string(),
                    description: properties.copy_status_description.unwrap_or_default(),
                }
                .into());
            }
        }
        let progress = properties.copy_progress.map(|p| p.bytes_copied);
        if progress != last_progress {
            last_progress = progress;
            progressed_at = Instant::now();
        } else if progressed_at.elapsed() > STALL_LIMIT {
            return Err(AzureError::CopyStalled {
                copy_id: copy_id.to_owned(),
                stalled: STALL_LIMIT,
            }
            .into());
        }
    }
}
