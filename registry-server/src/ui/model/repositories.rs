//! The repositories page: one catalog page, optionally narrowed by a name filter.
//!
//! The filter never turns into a walk of the whole catalog: a page reads catalog pages (each
//! the API's catalog cost, about one listing per repository plus one per directory enclosing
//! `last`) until it has `n` matching names or has looked at [`SCAN_BUDGET`] repositories,
//! then links to the next page from where it stopped. Without a filter it is exactly one
//! catalog page.

use registry_core::registry::{Registry, RegistryError};

/// The most repositories one filtered page looks at.
pub const SCAN_BUDGET: usize = 5000;

#[derive(Debug, Clone)]
pub struct Repositories {
    pub names: Vec<String>,
    /// Where the next page starts (`last`), when more repositories follow.
    pub next_last: Option<String>,
    /// Repositories looked at for this page (more than `names` under a filter).
    pub scanned: usize,
}

/// Up to `n` names after `last` that contain `filter` (case-insensitively) and that
/// `visible` accepts.
pub async fn load(
    registry: &Registry,
    visible: &(dyn Fn(&str) -> bool + Sync),
    filter: &str,
    n: usize,
    last: Option<&str>,
) -> Result<Repositories, RegistryError> {
    let filter = filter.trim().to_ascii_lowercase();
    let mut names = Vec::new();
    let mut scanned = 0;
    let mut cursor = last.map(str::to_owned);
    loop {
        // Under a filter, catalog pages of at least 100, so that a rare match does not cost a
        // catalog call per repository looked at.
        let want = if filter.is_empty() { n } else { n.max(100) };
        let page = registry
            .catalog_filtered(Some(want), cursor.as_deref(), visible)
            .await?;
        let exhausted = page.next_last.is_none();
        let count = page.items.len();
        for (i, name) in page.items.into_iter().enumerate() {
            scanned += 1;
            let matches = name.contains(&filter);
            cursor = Some(name);
            if matches {
                names.extend(cursor.clone());
                if names.len() == n {
                    // More may follow the last name shown, unless it ended the catalog.
                    let more = !exhausted || i + 1 < count;
                    return Ok(Repositories {
                        next_last: if more { cursor } else { None },
                        names,
                        scanned,
                    });
                }
            }
        }
        if exhausted {
            return Ok(Repositories {
                names,
                next_last: None,
                scanned,
            });
        }
        if scanned >= SCAN_BUDGET {
            return Ok(Repositories {
                names,
                next_last: cursor,
                scanned,
            });
        }
    }
}
