//! What each page shows, read through `registry_core::registry::Registry` only, with a bound
//! on storage operations per page (stated on each loader and in the README). Nothing here
//! knows HTTP or HTML.

pub mod manifest;
pub mod referrers;
pub mod repositories;
pub mod summary;
pub mod tags;

/// The most entries a repositories or tags page shows (the catalog's own cap applies too).
pub const MAX_PAGE: usize = 1000;
/// Entries per page when the URL does not say.
pub const DEFAULT_PAGE: usize = 100;

/// The page size asked for, within `1..=MAX_PAGE`.
pub fn page_size(n: Option<usize>) -> usize {
    n.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}
