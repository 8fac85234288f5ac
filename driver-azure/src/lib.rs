//! The Azure Blob Storage driver, on `azure_storage_blobs`.
//!
//! A storage path `/a/b` is the block blob `<rootdirectory>/a/b` in the configured container;
//! directories are implicit name prefixes, listed with `/` as delimiter.
//!
//! - Writers stage blocks into a private blob per upload (`<blob>~upload-<id>`), so nothing is
//!   readable at a path before `commit`, and concurrent writers never see each other's data;
//!   `close` commits the blocks into that private blob, where a writer in any process resumes
//!   them (the `writer` module gives the reasons for this layout).
//! - `~` never appears in a storage path: listings and walks hide every blob carrying it.
//! - Moves (and commits) are server-side copies, waited for, then deletes.
//! - `redirect_url` hands out read-only SAS URLs: signed with the account key, or with a
//!   user-delegation key under token credentials.
//! - The SDK retries throttling (429), 5xx, timeouts and I/O errors with exponential backoff;
//!   readers also resume a body that breaks mid-stream.

mod client;
mod config;
mod copy;
mod driver;
mod error;
mod listing;
mod names;
mod pending;
mod reader;
mod sas;
mod walk;
mod writer;

pub use config::{AzureConfig, AzureCredentials};
pub use driver::AzureDriver;
