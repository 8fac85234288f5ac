//! The Azure Blob storage driver (azure_storage_blobs). Not implemented yet: this crate only
//! reserves its place in the workspace.
