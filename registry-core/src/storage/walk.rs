//! The walk every driver gets for free: `list` and `stat`, depth-first, children in lexical
//! order of their names (so `/a/b` comes before `/a-c`, as a person reading a tree expects).

use std::cmp::Ordering;

use super::driver::{StorageDriver, WalkControl, WalkFn};
use super::{Result, StoragePath};

/// Compares paths in walk order: component by component.
pub fn walk_order(a: &StoragePath, b: &StoragePath) -> Ordering {
    a.components().cmp(b.components())
}

/// Where an entry stands relative to a walk's `start_after` path. Shared by every walk
/// implementation, so that all drivers skip alike.
pub enum Position {
    /// Strictly after: visit it and, for a directory, what lies below.
    After,
    /// An ancestor of `start_after`, or `start_after` itself: not visited, but entries below
    /// it may come after.
    Enclosing,
    /// Before, with everything below it.
    Before,
}

pub fn position(entry: &StoragePath, start_after: Option<&StoragePath>) -> Position {
    let Some(start_after) = start_after else {
        return Position::After;
    };
    if start_after.is_under(entry) {
        return Position::Enclosing;
    }
    match walk_order(entry, start_after) {
        Ordering::Greater => Position::After,
        _ => Position::Before,
    }
}

/// Walks `root` with `list` and `stat`. Entries removed while the walk runs are skipped (this
/// walk stats each entry as it visits it; driver walks that take files from a parent's listing
/// may still report a file removed after that listing).
pub async fn walk_by_listing<D: StorageDriver + ?Sized>(
    driver: &D,
    root: &StoragePath,
    start_after: Option<&StoragePath>,
    visit: &mut WalkFn<'_>,
) -> Result<()> {
    let mut pending = sorted_for_popping(driver.list(root).await?);
    while let Some(path) = pending.pop() {
        // Where an entry stands needs only its path: what lies before `start_after` costs
        // nothing beyond its parent's listing.
        let position = position(&path, start_after);
        if matches!(position, Position::Before) {
            continue;
        }
        let info = match driver.stat(&path).await {
            Ok(info) => info,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let descend = match position {
            Position::Before => false,
            Position::Enclosing => info.is_dir,
            Position::After => match visit(&info)? {
                WalkControl::Stop => return Ok(()),
                WalkControl::SkipDir => false,
                WalkControl::Continue => info.is_dir,
            },
        };
        if descend {
            match driver.list(&path).await {
                Ok(children) => pending.extend(sorted_for_popping(children)),
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Sorts siblings so that popping yields them in lexical order.
fn sorted_for_popping(mut siblings: Vec<StoragePath>) -> Vec<StoragePath> {
    siblings.sort_unstable_by(|a, b| walk_order(b, a));
    siblings
}
