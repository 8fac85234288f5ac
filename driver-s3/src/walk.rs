//! The walk: depth-first in the order of `registry_core::storage::walk`, one listing per
//! directory. The default walk stats every entry; the listing already carries size and time,
//! so this saves a request per file.

use registry_core::storage::walk::{Position, position, walk_order};
use registry_core::storage::{FileInfo, Result, StorageError, StoragePath, WalkControl, WalkFn};

use crate::NAME;
use crate::driver::Context;
use crate::error::AtPath;
use crate::listing::children;

/// Walks below `root`. A directory is listed just before it is visited, so one removed
/// meanwhile is skipped; files are visited as their directory's listing found them.
pub(crate) async fn walk(
    context: &Context,
    root: &StoragePath,
    start_after: Option<&StoragePath>,
    visit: &mut WalkFn<'_>,
) -> Result<()> {
    let top = children(&context.bucket, &context.layout, root)
        .await
        .at(root)?;
    if top.is_empty() && !root.is_root() {
        return Err(StorageError::not_found(NAME, root));
    }
    let mut pending = sorted_for_popping(top);
    while let Some(entry) = pending.pop() {
        let position = position(&entry.path, start_after);
        if matches!(position, Position::Before) {
            continue;
        }
        let below = if entry.is_dir {
            let listed = children(&context.bucket, &context.layout, &entry.path)
                .await
                .at(&entry.path)?;
            if listed.is_empty() {
                continue; // Removed since its parent was listed.
            }
            listed
        } else {
            Vec::new()
        };
        let descend = match position {
            Position::Before => false,
            Position::Enclosing => entry.is_dir,
            Position::After => match visit(&entry)? {
                WalkControl::Stop => return Ok(()),
                WalkControl::SkipDir => false,
                WalkControl::Continue => entry.is_dir,
            },
        };
        if descend {
            pending.extend(sorted_for_popping(below));
        }
    }
    Ok(())
}

/// Sorts siblings so that popping yields them in walk order.
fn sorted_for_popping(mut siblings: Vec<FileInfo>) -> Vec<FileInfo> {
    siblings.sort_by(|a, b| walk_order(&b.path, &a.path).then(b.is_dir.cmp(&a.is_dir)));
    siblings
}
