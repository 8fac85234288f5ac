//! A walk that needs one listing per directory and no `stat` per entry: a delimiter listing
//! already carries each blob's size and modification time. The order is registry-core's
//! `walk_order` (children sorted by name, depth first), which the service's byte order is not:
//! `a-c` sorts before `a/` there.

use std::future::Future;

use registry_core::storage::walk::{Position, position, walk_order};
use registry_core::storage::{FileInfo, Result, StoragePath, WalkControl, WalkFn};

/// Walks below `root`; `children` lists a directory (`PathNotFound` when it does not exist).
pub(crate) async fn walk<F, Fut>(
    children: F,
    root: &StoragePath,
    start_after: Option<&StoragePath>,
    visit: &mut WalkFn<'_>,
) -> Result<()>
where
    F: Fn(StoragePath) -> Fut,
    Fut: Future<Output = Result<Vec<FileInfo>>>,
{
    let mut pending = sorted_for_popping(children(root.clone()).await?);
    while let Some(entry) = pending.pop() {
        let position = position(&entry.path, start_after);
        if matches!(position, Position::Before) {
            continue;
        }
        if !entry.is_dir {
            if matches!(position, Position::After) && visit(&entry)? == WalkControl::Stop {
                return Ok(());
            }
            continue;
        }
        // List a directory before visiting it: the listing also tells whether it still exists
        // (something may have removed it since its parent was listed).
        let below = match children(entry.path.clone()).await {
            Ok(below) => below,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let descend = match position {
            Position::After => match visit(&entry)? {
                WalkControl::Stop => return Ok(()),
                WalkControl::SkipDir => false,
                WalkControl::Continue => true,
            },
            Position::Enclosing | Position::Before => true,
        };
        if descend {
            pending.extend(sorted_for_popping(below));
        }
    }
    Ok(())
}

/// Sorts siblings so that popping yields them in walk order.
fn sorted_for_popping(mut siblings: Vec<FileInfo>) -> Vec<FileInfo> {
    siblings.sort_unstable_by(|a, b| walk_order(&b.path, &a.path));
    siblings
}
