use crate::domain::Digest;
use crate::storage::StorageError;

/// Everything a registry operation can refuse or fail with. The server maps each variant to
/// one HTTP status and OCI error code, in one place.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("digest invalid: {0}")]
    DigestInvalid(String),
    #[error("manifest references unknown {0}")]
    ManifestBlobUnknown(Digest),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    #[error("manifest larger than the limit of {limit} bytes")]
    ManifestTooLarge { limit: usize },
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    #[error("size invalid: {0}")]
    SizeInvalid(String),
    #[error("requested range not satisfiable (size {size})")]
    RangeNotSatisfiable { size: u64 },
    #[error("chunk out of order: the upload is at offset {expected}")]
    ChunkOutOfOrder { expected: u64 },
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    #[error("the registry is in read-only mode")]
    ReadOnly,
    #[error("reading the request body failed: {0}")]
    ClientBody(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Maps `PathNotFound` to a domain error, keeping other storage failures.
pub(crate) trait OrMissing<T> {
    fn or_missing(self, missing: impl FnOnce() -> RegistryError) -> Result<T>;
}

impl<T> OrMissing<T> for std::result::Result<T, StorageError> {
    fn or_missing(self, missing: impl FnOnce() -> RegistryError) -> Result<T> {
        self.map_err(|e| {
            if e.is_not_found() {
                missing()
            } else {
                e.into()
            }
        })
    }
}
