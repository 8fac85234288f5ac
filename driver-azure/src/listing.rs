//! Blob listings: one directory level (with `/` as delimiter), or everything below a prefix.
//! Both follow the service's continuation markers through every page.

use std::num::NonZeroU32;
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::Pageable;
use azure_core::error::Error;
use azure_storage_blobs::container::operations::{ListBlobsBuilder, ListBlobsResponse};
use azure_storage_blobs::prelude::Blob;
use futures::StreamExt;
use registry_core::storage::{FileInfo, StoragePath};

use crate::client::Container;
use crate::names::BlobNames;

/// The service's maximum page size.
const PAGE_SIZE: NonZeroU32 = NonZeroU32::new(5000).expect("non-zero");

/// The children of one directory.
#[derive(Debug, Default)]
pub(crate) struct Children {
    /// Visible files and subdirectories (directories report size 0 and `UNIX_EPOCH`).
    pub(crate) entries: Vec<FileInfo>,
    /// True when anything at all lies below the prefix, private blobs included: the directory
    /// exists even if it shows nothing.
    pub(crate) exists: bool,
}

/// Lists the direct children of the directory whose blobs start with `prefix`.
pub(crate) async fn children(
    container: &Container,
    names: &BlobNames,
    prefix: &str,
) -> Result<Children, Error> {
    let mut pages = blobs_starting_with(container, prefix)
        .delimiter("/")
        .max_results(PAGE_SIZE)
        .into_stream();
    let mut children = Children::default();
    while let Some(page) = pages.next().await {
        let page = page?;
        children.exists |= !page.blobs.items.is_empty();
        for blob in page.blobs.blobs() {
            if let Some(path) = names.path_of(&blob.name) {
                children.entries.push(file_info(path, blob));
            }
        }
        for dir in page.blobs.prefixes() {
            if let Some(path) = names.path_of(&dir.name) {
                children.entries.push(FileInfo {
                    path,
                    size: 0,
                    mod_time: UNIX_EPOCH,
                    is_dir: true,
                });
            }
        }
    }
    // A blob `a` next to blobs below `a/` would list `a` twice: keep the file.
    children
        .entries
        .sort_by(|a, b| a.path.cmp(&b.path).then(a.is_dir.cmp(&b.is_dir)));
    children
        .entries
        .dedup_by(|later, earlier| later.path == earlier.path);
    Ok(children)
}

/// True when any blob (private ones included) has a name starting with `prefix`.
pub(crate) async fn any_below(container: &Container, prefix: &str) -> Result<bool, Error> {
    let first_page = blobs_starting_with(container, prefix)
        .max_results(NonZeroU32::MIN)
        .into_stream()
        .next()
        .await;
    match first_page {
        Some(page) => Ok(!page?.blobs.items.is_empty()),
        None => Ok(false),
    }
}

/// Every committed blob whose name starts with `prefix`, page by page, without delimiter.
pub(crate) fn all_below(container: &Container, prefix: &str) -> Pageable<ListBlobsResponse, Error> {
    blobs_starting_with(container, prefix)
        .max_results(PAGE_SIZE)
        .into_stream()
}

/// A listing of the blobs whose names start with `prefix` (all of them for an empty prefix:
/// the root of a container without root directory).
fn blobs_starting_with(container: &Container, prefix: &str) -> ListBlobsBuilder {
    let listing = container.client().list_blobs();
    if prefix.is_empty() {
        listing
    } else {
        listing.prefix(prefix.to_owned())
    }
}

pub(crate) fn file_info(path: StoragePath, blob: &Blob) -> FileInfo {
    FileInfo {
        path,
        size: blob.properties.content_length,
        mod_time: SystemTime::from(blob.properties.last_modified),
        is_dir: false,
    }
}
