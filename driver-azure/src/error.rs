//! Failures of the Azure driver, and their mapping onto the trait's typed errors.

use std::time::Duration;

use azure_core::StatusCode;
use azure_core::error::ErrorKind;
use registry_core::storage::{StorageError, StoragePath};

use crate::driver::NAME;

/// Failures the driver detects itself (the SDK's own errors travel as `azure_core::Error`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AzureError {
    #[error("server-side copy {copy_id} ended as {status}: {description}")]
    CopyFailed {
        copy_id: String,
        status: String,
        description: String,
    },
    #[error("server-side copy {copy_id} made no progress for {stalled:?}")]
    CopyStalled { copy_id: String, stalled: Duration },
    #[error("another copy ({found}) replaced copy {expected} to the same blob")]
    CopyReplaced { expected: String, found: String },
    #[error("upload {blob} holds {size} bytes but its committed blocks cover {blocks}")]
    UploadNotBlocks {
        blob: String,
        size: u64,
        blocks: u64,
    },
    #[error("the blob changed while it was being read")]
    ChangedWhileReading,
    #[error("the response ended after {received} of {expected} bytes")]
    ShortRead { received: u64, expected: u64 },
    #[error("upload task failed: {0}")]
    UploadTask(String),
}

/// The HTTP status of a failed request, if the service answered.
pub(crate) fn status_of(error: &azure_core::Error) -> Option<StatusCode> {
    match error.kind() {
        ErrorKind::HttpResponse { status, .. } => Some(*status),
        _ => None,
    }
}

/// The service's error code (`BlobNotFound`, `ContainerNotFound`, ...), if any.
pub(crate) fn code_of(error: &azure_core::Error) -> Option<&str> {
    match error.kind() {
        ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

/// True when the blob (not the container: a missing container is a configuration problem that
/// must not look like an empty store) does not exist.
pub(crate) fn is_blob_not_found(error: &azure_core::Error) -> bool {
    status_of(error) == Some(StatusCode::NotFound) && code_of(error) != Some("ContainerNotFound")
}

/// Maps an SDK error met while working on `path`: a missing blob becomes `PathNotFound`,
/// everything else a `Backend` error that says what was being done.
pub(crate) fn sdk_error(
    error: azure_core::Error,
    operation: &str,
    path: &StoragePath,
) -> StorageError {
    if is_blob_not_found(&error) {
        StorageError::not_found(NAME, path)
    } else {
        backend(operation, path, error)
    }
}

/// A `Backend` error for `operation` on `path`.
pub(crate) fn backend(
    operation: &str,
    path: &StoragePath,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> StorageError {
    StorageError::backend(NAME, format!("{operation} {path}"), source)
}

/// `sdk_error` for results.
pub(crate) trait SdkResultExt<T> {
    fn for_path(self, operation: &str, path: &StoragePath) -> Result<T, StorageError>;
}

impl<T> SdkResultExt<T> for azure_core::Result<T> {
    fn for_path(self, operation: &str, path: &StoragePath) -> Result<T, StorageError> {
        self.map_err(|e| sdk_error(e, operation, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: StatusCode, code: &str) -> azure_core::Error {
        ErrorKind::http_response(status, Some(code.to_owned())).into_error()
    }

    #[test]
    fn missing_blobs_are_not_found_but_a_missing_container_is_not() {
        let path = StoragePath::parse("/a").expect("path");
        let e = sdk_error(http(StatusCode::NotFound, "BlobNotFound"), "reading", &path);
        assert!(e.is_not_found(), "{e}");
        let e = sdk_error(
            http(StatusCode::NotFound, "ContainerNotFound"),
            "reading",
            &path,
        );
        assert!(!e.is_not_found(), "{e}");
        let e = sdk_error(
            http(StatusCode::Forbidden, "AuthenticationFailed"),
            "reading",
            &path,
        );
        assert!(matches!(e, StorageError::Backend { .. }), "{e}");
        assert!(e.to_string().contains("reading /a"), "{e}");
    }
}
