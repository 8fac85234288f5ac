//! Failures of S3 requests and of the driver's own records, and their mapping to the trait's
//! typed errors.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use registry_core::storage::{StorageError, StoragePath};

use crate::NAME;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What kind of answer a failed request got, as far as the driver acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// NoSuchKey, or a 404 without a body (HEAD).
    NoSuchKey,
    /// The multipart upload was completed or aborted meanwhile.
    NoSuchUpload,
    /// A range starting at or beyond the object's size.
    InvalidRange,
    /// The service does not implement the operation (s3s-fs and ListMultipartUploads).
    NotImplemented,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum S3Error {
    /// An S3 request failed (after the SDK's retries).
    #[error("{operation} {key}: {details}")]
    Request {
        operation: &'static str,
        key: String,
        failure: Failure,
        /// The SDK error with its whole chain of causes; its own `Display` says only
        /// "service error".
        details: String,
        #[source]
        source: BoxError,
    },

    #[error("{operation} {key}: the response has no {field}")]
    IncompleteResponse {
        operation: &'static str,
        key: String,
        field: &'static str,
    },

    /// A response body broke off or could not be read.
    #[error("{operation} {key}: reading the body: {source}")]
    Body {
        operation: &'static str,
        key: String,
        #[source]
        source: aws_sdk_s3::primitives::ByteStreamError,
    },

    #[error("{operation} {key}: building the request: {source}")]
    Build {
        operation: &'static str,
        key: String,
        #[source]
        source: aws_sdk_s3::error::BuildError,
    },

    #[error("DeleteObjects failed for {failed} keys, the first {key}: {code}: {message}")]
    PartialDelete {
        key: String,
        code: String,
        message: String,
        failed: usize,
    },

    #[error("the stored progress of a closed writer at {key} is unusable: {reason}")]
    CorruptProgress { key: String, reason: String },

    #[error(
        "{key} would need more than {max} parts of {chunk_size} bytes; raise storage.s3.chunksize"
    )]
    TooManyParts {
        key: String,
        max: i32,
        chunk_size: u64,
    },

    #[error("presigning {key}: {source}")]
    Presign {
        key: String,
        #[source]
        source: BoxError,
    },

    #[error("a part upload task for {key} ended abnormally: {source}")]
    Task {
        key: String,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl S3Error {
    pub(crate) fn request<E>(
        operation: &'static str,
        key: &str,
        error: SdkError<E, HttpResponse>,
    ) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = error.raw_response().map(|r| r.status().as_u16());
        let failure = match (error.code(), status) {
            (Some("NoSuchBucket"), _) => Failure::Other,
            (Some("NoSuchKey" | "NotFound"), _) => Failure::NoSuchKey,
            (Some("NoSuchUpload"), _) => Failure::NoSuchUpload,
            (Some("InvalidRange"), _) | (_, Some(416)) => Failure::InvalidRange,
            (None, Some(404)) => Failure::NoSuchKey,
            (Some("NotImplemented"), _) | (_, Some(501)) => Failure::NotImplemented,
            _ => Failure::Other,
        };
        S3Error::Request {
            operation,
            key: key.to_owned(),
            failure,
            details: DisplayErrorContext(&error).to_string(),
            source: Box::new(error),
        }
    }

    pub(crate) fn body(
        operation: &'static str,
        key: &str,
        source: aws_sdk_s3::primitives::ByteStreamError,
    ) -> S3Error {
        S3Error::Body {
            operation,
            key: key.to_owned(),
            source,
        }
    }

    pub(crate) fn build(
        operation: &'static str,
        key: &str,
        source: aws_sdk_s3::error::BuildError,
    ) -> S3Error {
        S3Error::Build {
            operation,
            key: key.to_owned(),
            source,
        }
    }

    pub(crate) fn incomplete(operation: &'static str, key: &str, field: &'static str) -> S3Error {
        S3Error::IncompleteResponse {
            operation,
            key: key.to_owned(),
            field,
        }
    }

    pub(crate) fn failure(&self) -> Failure {
        match self {
            S3Error::Request { failure, .. } => *failure,
            _ => Failure::Other,
        }
    }

    pub(crate) fn is_no_such_key(&self) -> bool {
        self.failure() == Failure::NoSuchKey
    }

    /// The trait's error for a failure while working on `path`.
    pub(crate) fn at(self, path: &StoragePath) -> StorageError {
        if self.is_no_such_key() {
            StorageError::not_found(NAME, path)
        } else {
            StorageError::backend(NAME, path.to_string(), self)
        }
    }
}

/// Maps a result's error to the trait's error for `path`.
pub(crate) trait AtPath<T> {
    fn at(self, path: &StoragePath) -> Result<T, StorageError>;
}

impl<T> AtPath<T> for Result<T, S3Error> {
    fn at(self, path: &StoragePath) -> Result<T, StorageError> {
        self.map_err(|e| e.at(path))
    }
}
