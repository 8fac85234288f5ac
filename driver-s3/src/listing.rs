//! Directories over a flat key space: ListObjectsV2 with the `/` delimiter, following
//! continuation tokens, so a directory's direct children are its objects and common prefixes.

use std::time::SystemTime;

use registry_core::storage::{FileInfo, StoragePath};

use crate::bucket::{Bucket, Depth};
use crate::error::S3Error;
use crate::keys::{KeyLayout, child_name};

/// The direct children of the directory `dir`, in no particular order; empty when nothing lies
/// below it. Keys that are not valid storage paths (the driver's own `~` names, or objects other
/// tools put in the bucket) are left out.
pub(crate) async fn children(
    bucket: &Bucket,
    layout: &KeyLayout,
    dir: &StoragePath,
) -> Result<Vec<FileInfo>, S3Error> {
    let prefix = layout.directory(dir);
    let mut entries = Vec::new();
    let mut continuation = None;
    loop {
        let page = bucket
            .list_page(&prefix, Depth::Children, continuation, None, None)
            .await?;
        for object in page.objects {
            if let Some(path) = child(&prefix, &object.key, dir) {
                entries.push(FileInfo {
                    path,
                    size: object.size,
                    mod_time: object.modified,
                    is_dir: false,
                });
            }
        }
        for common in page.prefixes {
            if let Some(path) = child(&prefix, &common, dir) {
                entries.push(FileInfo {
                    path,
                    size: 0,
                    mod_time: SystemTime::UNIX_EPOCH,
                    is_dir: true,
                });
            }
        }
        match page.next_token {
            Some(token) => continuation = Some(token),
            None => return Ok(entries),
        }
    }
}

fn child(prefix: &str, key: &str, dir: &StoragePath) -> Option<StoragePath> {
    let name = child_name(prefix, key)?;
    match dir.join(name) {
        Ok(path) => Some(path),
        Err(_) => {
            if !name.starts_with('~') {
                tracing::debug!(%key, "skipping a key that is not a valid storage path");
            }
            None
        }
    }
}
