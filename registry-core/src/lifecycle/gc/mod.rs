//! Garbage collection: removes blobs that no manifest reaches and, on request, manifests that
//! no tag reaches; safe while any number of registry instances serve pushes on the same
//! storage. The offline `registry garbage-collect` and the server's online collector both run
//! [`collect`].
//!
//! # What is kept
//!
//! Every blob reachable from every manifest revision of every repository (config, layers,
//! index children, the manifests themselves), plus every blob whose data or repository layer
//! link is younger than `delay` (uploads and mounts waiting for their manifest). With
//! `delete_untagged` (or a retention policy's `untagged_older_than`), only manifests reachable
//! from a tag stay: directly, as a child of a kept index, or as a referrer whose subject is
//! kept (transitively: a signature of an SBOM of an image); revisions younger than the window
//! stay too. Unlike the reference, the children of a tagged index and the referrers of a kept
//! manifest are never removed; referrers whose subject goes, go with it (and their
//! `_referrers/` index entries).
//!
//! # The race, and the protocol that closes it
//!
//! Storage has no compare-and-swap, so the collector cannot delete "if still unreferenced".
//! The hard race is a request that makes old, unreferenced content reachable again (a manifest
//! PUT naming an old layer, a mount, an upload of a blob that already exists, an index PUT
//! naming an untagged manifest) while the sweep deletes that content. Assumptions:
//!
//! 1. Storage is read-after-write and list-after-write consistent (the filesystem, the
//!    in-memory driver, S3 since 2020, Azure Blob; the upload lease relies on the same).
//! 2. Durations are measured on each process's monotonic clock; no two clocks are compared,
//!    except modification times against the collector's wall clock for `delay` (hours by
//!    default, so skew of minutes is harmless; a time in the future counts as young).
//! 3. A request writes its link within the reliance window `W` of its check (it re-checks
//!    when `W/2` went by before the write), and a storage delete completes within `Δ - Δg`
//!    (see [`crate::lifecycle::protocol::Timing`]; defaults 30 s, 8 s, 2 s).
//!
//! A cycle ([`cycle`]):
//!
//! 1. takes the GC lease ([`lease`]; one cycle at a time, renewed while it runs), and removes
//!    the markers a crashed earlier cycle left;
//! 2. marks (M1) and lists candidates: blobs C and, when untagged manifests go, manifests Cm,
//!    that are unreachable and older than `delay`;
//! 3. writes a doom marker `D(x)` (content: the cycle id) for each candidate x;
//! 4. waits `W`;
//! 5. marks again (M2), fully; a candidate M2 reaches stays;
//! 6. for each remaining candidate: re-stats it (younger than `delay` now: stays), checks that
//!    no revival record `V(x)` exists, starts the delete within `Δg` of that check (otherwise
//!    skips it), then removes `D(x)` and `V(x)`. Manifests go first; a manifest that stays
//!    after all (revived) keeps what it names, the blobs included.
//!
//! A request ([`crate::lifecycle::protocol::rely_on`]) looks for a GC lock, then for `D(x)`:
//!
//! - **No lock, or no `D(x)` (fast path), at time t.** If the cycle that deletes x wrote
//!   `D(x)` before t, the request would have seen it (assumption 1; the lock is written before
//!   any marker and removed after them all). So `D(x)` is written after t, M2 starts after
//!   `D(x) + W > t + W`, and the request's write landed before `t + W` (assumption 3): M2 sees
//!   the link and x stays.
//! - **`D(x)` seen (slow path).** The request stores `V(x)` at `tV`, waits `Δ` and stats x.
//!   If the collector checked for `V(x)` after `tV`, it saw it and keeps x. If it checked
//!   before, it started the delete before `tV + Δg` and the delete finished before `tV + Δ`
//!   (assumption 3), so the stat finds x gone and the request does not link it (a manifest
//!   PUT answers `MANIFEST_BLOB_UNKNOWN`, a mount turns into a plain upload, an upload writes
//!   the data itself). Either way nothing links deleted content. The request then checks once
//!   more (a later cycle may have doomed x since) with the fast-path argument, ignoring the
//!   marker of the cycle it already answered.
//!
//! Fresh content is covered by `delay`: a new blob's data and link are young, and M1, M2 and
//! the re-stat before the delete all keep young content. A manifest PUT relies on its own
//! revision and data too, because it rewrites them: a rewrite between the collector's re-stat
//! and its delete would otherwise be lost.
//!
//! Residual risks, stated: a request that stalls more than `W/2` between its last check and
//! its write (a paused process), or a delete slower than `Δ - Δg`, breaks assumption 3; the
//! collector logs a delete that took that long. Tag removal by retention is not covered by
//! markers (see [`crate::lifecycle::retention`]).
//!
//! # Memory
//!
//! Marks go to a [`markset::MarkSet`] (sorted runs of fixed 65-byte records spilled to
//! temporary files), merged against the blob walk, which visits blobs in the same order; only
//! candidates (the garbage) and one repository's manifests at a time are held in memory. M2
//! needs no mark set: it only asks whether each digest it reaches is a candidate.
//!
//! Deletes go through the [`Storage`] the collector was given, so a caching decorator sees
//! them.

#[cfg(feature = "contract-tests")]
pub mod contract;
mod cycle;
pub mod lease;
pub mod mark;
pub mod markset;
mod report;

use std::time::Duration;

pub use cycle::collect;
pub use report::{Progress, Report, Stage};

use crate::lifecycle::protocol::Timing;
use crate::lifecycle::retention::Policies;
use crate::storage::StorageError;

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// List what would go; write and delete nothing (no lease, no markers, no waiting).
    pub dry_run: bool,
    /// Remove manifests that no tag reaches (see the module docs for what stays).
    pub delete_untagged: bool,
    /// The grace window: content younger than this stays.
    pub delay: Duration,
    /// The protocol's `W` and `Δ`.
    pub timing: Timing,
    /// Retention policies to apply in the same cycle.
    pub retention: Option<Policies>,
    /// Records of the mark set held in memory before a sorted run is spilled.
    pub chunk_records: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            delete_untagged: false,
            delay: Duration::from_secs(3600),
            timing: Timing::default(),
            retention: None,
            chunk_records: markset::DEFAULT_CHUNK_RECORDS,
        }
    }
}

/// Why a collection stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("another garbage collection cycle is running (its lease is held)")]
    Busy,
    #[error(transparent)]
    LeaseLost(#[from] lease::LeaseLost),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the mark set's temporary file failed: {0}")]
    TempFile(#[from] std::io::Error),
}
