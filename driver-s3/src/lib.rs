//! The S3 storage driver, on aws-sdk-s3: AWS S3 and S3-compatible services (MinIO, Ceph,
//! R2, ...), configured with CNCF Distribution's `storage.s3` keys.
//!
//! Layout in the bucket (below `rootdirectory`): each storage path is the object of the same
//! key, and directories are key prefixes. Writers upload multipart to the final key, so their
//! bytes stay invisible until `commit`; the progress of a closed writer is kept in a private
//! `~writers/` tree that listings never show (see the `keys` and `progress` modules).

mod bucket;
mod client;
mod config;
mod copy;
mod delete;
mod driver;
mod error;
mod keys;
mod listing;
mod parts;
mod pending;
mod progress;
mod reader;
mod retry;
mod walk;
mod writer;

pub use client::sdk_config;
pub use config::{
    DEFAULT_CHUNK_SIZE, DEFAULT_MULTIPART_COPY_CHUNK_SIZE, DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY,
    DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE, DEFAULT_STORAGE_CLASS, Encryption, S3Config,
    StaticCredentials,
};
pub use driver::S3Driver;

/// The driver's name in errors and logs, and its key under `storage` in the configuration.
pub const NAME: &str = "s3";
