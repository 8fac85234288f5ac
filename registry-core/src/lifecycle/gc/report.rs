//! What a collection did, and how it tells a progress display.

use serde::Serialize;

/// The summary of one collection (`--json` prints it as is).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub repositories: u64,
    /// Manifests kept (reachable), counted per repository.
    pub manifests_marked: u64,
    /// Blobs kept: reachable, or younger than the grace window.
    pub blobs_marked: u64,
    /// Removed (or, in a dry run, to be removed).
    pub manifests_removed: u64,
    pub blobs_removed: u64,
    pub bytes_freed: u64,
    pub tags_removed: u64,
    /// Candidates that stayed after all: reached again, revived by a request, or rewritten.
    pub candidates_kept: u64,
    /// Sorted runs of the mark set spilled to temporary files.
    pub mark_runs_spilled: u64,
    /// `repository:tag` of every tag removed by retention.
    pub removed_tags: Vec<String>,
    /// `repository@digest` of every manifest removed.
    pub removed_manifests: Vec<String>,
    /// Digests of the blobs removed.
    pub removed_blobs: Vec<String>,
    /// Retention policies in dry-run mode: manifests they would remove (kept this time).
    pub retention_would_remove: Vec<String>,
}

/// The stages of a cycle, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// First mark, per repository.
    Mark,
    /// The blob walk.
    Blobs,
    /// Waiting the reliance window after dooming candidates.
    Wait,
    /// Second mark, per repository.
    Remark,
    /// Removing candidates.
    Sweep,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Mark => "marking repositories",
            Stage::Blobs => "walking blobs",
            Stage::Wait => "waiting for in-flight requests",
            Stage::Remark => "marking again",
            Stage::Sweep => "removing",
        }
    }
}

/// Receives progress; every method defaults to doing nothing.
pub trait Progress: Send + Sync {
    fn stage(&self, _stage: Stage, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// No display.
impl Progress for () {}
