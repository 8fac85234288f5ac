//! The request side of the collector's doom/revive protocol: [`rely_on`].
//!
//! A request that makes existing content reachable (a manifest PUT linking the blobs and child
//! manifests it names, a mount linking a blob, an upload whose blob already exists) calls
//! [`rely_on`] with that content before its write, and [`Reliance::confirm`] right before the
//! write. Why that is enough is argued in [`crate::lifecycle::gc`]; in short:
//!
//! - **Fast path.** No collector lock under `_gc/lease/` (one `list`), or no doom marker for
//!   the content: the request may write, as long as the write lands within the reliance
//!   window `W` of that check ([`Reliance::confirm`] checks again when more than `W/2` went
//!   by). A collector that dooms the content later waits `W` before its second mark, which
//!   then sees the write.
//! - **Slow path.** A doom marker `D` exists: the request stores a revival record `V`, waits
//!   `Δ` ([`Timing::revive_wait`]) and looks again. Content still there is safe: the collector
//!   either saw `V` (and keeps the content) or had already deleted it, which `Δ` is long
//!   enough to let finish. Content gone is reported to the caller as gone (a manifest PUT
//!   answers `MANIFEST_BLOB_UNKNOWN`, a mount becomes a plain upload, an upload writes the
//!   data itself).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};

use crate::domain::{Digest, RepositoryName};
use crate::layout;
use crate::storage::{Storage, StorageError};

/// How many targets are checked at once.
const CONCURRENCY: usize = 16;

/// The protocol's two time bounds. Every instance over one storage, and the collector, must
/// use the same values (they come from the same `gc` config section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `W`: the longest a request may take from its check to the write that relies on it. The
    /// collector waits this long between dooming content and its second mark.
    pub reliance_window: Duration,
    /// `Δ`: how long a request that revived doomed content waits before it looks again. The
    /// collector starts a delete at most [`Timing::delete_bound`] after its last look for a
    /// revival record, so a delete has `Δ - Δg` to complete.
    pub revive_wait: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            // Manifest PUTs and mounts write their link milliseconds after the check; 30 s
            // leaves room for a storage backend that stalls, and requests re-check at 15 s.
            reliance_window: Duration::from_secs(30),
            // A delete of one object takes well under a second on every backend; 8 s leaves
            // 6 s for it after the collector's 2 s bound.
            revive_wait: Duration::from_secs(8),
        }
    }
}

impl Timing {
    /// `Δg`: the collector gives up on a delete it could not start this soon after it looked
    /// for a revival record.
    pub fn delete_bound(&self) -> Duration {
        self.revive_wait / 4
    }
}

/// Content a request relies on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A blob's data (`blobs/<alg>/../data`), whatever repository links it.
    Blob(Digest),
    /// A manifest revision of one repository (its `_manifests/revisions/...` link).
    Manifest(RepositoryName, Digest),
}

impl Target {
    /// The marker's file name: the digest for a blob; for a manifest, a hash of repository and
    /// digest (a repository name may be 255 characters, too long for one file name).
    fn marker_name(&self) -> String {
        match self {
            Target::Blob(digest) => format!("{}-{}", digest.algorithm().name(), digest.hex()),
            Target::Manifest(repo, digest) => {
                let key = Sha256::digest(format!("{repo}@{digest}").as_bytes());
                format!("m-{}", hex::encode(key))
            }
        }
    }

    /// Where the collector's doom marker for this content lives.
    pub fn doomed_marker(&self) -> String {
        format!("{}/{}", layout::gc_doomed_dir(), self.marker_name())
    }

    /// Where a request's revival record for this content lives.
    pub fn revived_marker(&self) -> String {
        format!("{}/{}", layout::gc_revived_dir(), self.marker_name())
    }

    /// The object whose presence says the content exists.
    fn presence_path(&self) -> String {
        match self {
            Target::Blob(digest) => layout::blob_data(digest),
            Target::Manifest(repo, digest) => layout::revision_link(repo, digest),
        }
    }
}

/// What a request may rely on, and since when.
#[derive(Debug)]
pub struct Reliance {
    checked: Instant,
    alive: Vec<Target>,
    /// Targets found deleted by a collector: the caller must not link them.
    pub gone: Vec<Target>,
    /// Cycles (by the id in their doom markers) whose doom the request answered with a
    /// revival that held.
    revived: HashSet<String>,
}

/// Checks `targets` against the collector's doom markers (see the module docs). The caller
/// writes its links for the targets not in [`Reliance::gone`], after [`Reliance::confirm`].
pub async fn rely_on(
    storage: &Storage,
    timing: &Timing,
    targets: Vec<Target>,
) -> Result<Reliance, StorageError> {
    let mut reliance = Reliance {
        checked: Instant::now(),
        alive: targets,
        gone: Vec::new(),
        revived: HashSet::new(),
    };
    reliance.check(storage, timing).await?;
    Ok(reliance)
}

impl Reliance {
    /// Call right before the write: when more than half the reliance window passed since the
    /// last check, checks again (new targets may then be gone).
    pub async fn confirm(
        &mut self,
        storage: &Storage,
        timing: &Timing,
    ) -> Result<(), StorageError> {
        if self.checked.elapsed() > timing.reliance_window / 2 {
            self.check(storage, timing).await?;
        }
        Ok(())
    }

    pub fn is_gone(&self, target: &Target) -> bool {
        self.gone.contains(target)
    }

    async fn check(&mut self, storage: &Storage, timing: &Timing) -> Result<(), StorageError> {
        loop {
            // The time of the observation the write relies on: taken before it.
            let checked = Instant::now();
            if !collector_active(storage).await? {
                self.checked = checked;
                return Ok(());
            }
            let checks: Vec<_> = self
                .alive
                .iter()
                .map(|target| {
                    let (storage, timing) = (storage.clone(), *timing);
                    let (target, revived) = (target.clone(), self.revived.clone());
                    async move {
                        let seen = observe(&storage, &timing, &target, &revived).await?;
                        Ok::<_, StorageError>((target, seen))
                    }
                })
                .collect();
            let outcomes: Vec<(Target, Observation)> = futures::stream::iter(checks)
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
            let mut slow = false;
            let mut alive = Vec::with_capacity(outcomes.len());
            for (target, seen) in outcomes {
                match seen {
                    Observation::Clear => alive.push(target),
                    Observation::Revived(cycle) => {
                        slow = true;
                        self.revived.insert(cycle);
                        alive.push(target);
                    }
                    Observation::Gone => self.gone.push(target),
                }
            }
            self.alive = alive;
            if !slow {
                self.checked = checked;
                return Ok(());
            }
            // A revival waited `Δ`: what the write relies on is the state seen after it, so
            // look once more (a later cycle may have doomed the content meanwhile).
        }
    }
}

enum Observation {
    /// No doom marker of a cycle not yet answered.
    Clear,
    /// Doomed by that cycle, revived, and still there after `Δ`.
    Revived(String),
    /// Deleted by a collector.
    Gone,
}

/// True when some collector holds (or held, and crashed) the lease: only then can doom markers
/// exist.
async fn collector_active(storage: &Storage) -> Result<bool, StorageError> {
    match storage.list(&layout::gc_lease_dir()).await {
        Ok(entries) => Ok(!entries.is_empty()),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

async fn observe(
    storage: &Storage,
    timing: &Timing,
    target: &Target,
    revived: &HashSet<String>,
) -> Result<Observation, StorageError> {
    let cycle = match storage.get_content(&target.doomed_marker()).await {
        Ok(content) => String::from_utf8_lossy(&content).into_owned(),
        Err(e) if e.is_not_found() => return Ok(Observation::Clear),
        Err(e) => return Err(e),
    };
    if revived.contains(&cycle) {
        return Ok(Observation::Clear);
    }
    storage
        .put_content(&target.revived_marker(), Bytes::from(cycle.clone()))
        .await?;
    tracing::debug!(
        ?target,
        cycle,
        "revived content doomed by the garbage collector"
    );
    tokio::time::sleep(timing.revive_wait).await;
    match storage.stat(&target.presence_path()).await {
        Ok(_) => Ok(Observation::Revived(cycle)),
        Err(e) if e.is_not_found() => Ok(Observation::Gone),
        Err(e) => Err(e),
    }
}
