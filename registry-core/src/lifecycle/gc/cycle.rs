//! One collection cycle, in the steps of the module docs above.

use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::lease::GcLease;
use super::mark::{self, MarkRules, RepoMarks};
use super::markset::{MarkSet, key_of};
use super::{GcError, Options, Progress, Report, Stage};
use crate::domain::{Digest, RepositoryName, Tag};
use crate::layout;
use crate::lifecycle::protocol::Target;
use crate::storage::{Storage, WalkControl};

const CONCURRENCY: usize = 16;

/// A manifest revision to remove, with its subject (for its referrers index entry).
#[derive(Debug, Clone)]
struct ManifestCandidate {
    repo: RepositoryName,
    digest: Digest,
    subject: Option<Digest>,
}

/// Runs one collection over `storage`.
pub async fn collect(
    storage: &Storage,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, GcError> {
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    if options.dry_run {
        let outcome = Cycle::new(storage, options, progress, None)
            .run(&mut report)
            .await;
        progress.finish();
        return outcome.map(|()| report);
    }
    let lease = GcLease::take(storage).await?.ok_or(GcError::Busy)?;
    let mut cycle = Cycle::new(storage, options, progress, Some(lease));
    let outcome = cycle.run(&mut report).await;
    progress.finish();
    match outcome {
        // Another cycle may own the markers now: leave them (they only slow requests down
        // until the next cycle clears them).
        Err(GcError::LeaseLost(e)) => Err(GcError::LeaseLost(e)),
        other => {
            cycle.clear_markers().await;
            if let Some(lease) = cycle.lease.take() {
                lease.release().await;
            }
            other.map(|()| report)
        }
    }
}

struct Cycle<'a> {
    storage: &'a Storage,
    options: &'a Options,
    progress: &'a dyn Progress,
    lease: Option<GcLease>,
    now: SystemTime,
}

impl<'a> Cycle<'a> {
    fn new(
        storage: &'a Storage,
        options: &'a Options,
        progress: &'a dyn Progress,
        lease: Option<GcLease>,
    ) -> Self {
        Cycle {
            storage,
            options,
            progress,
            lease,
            now: SystemTime::now(),
        }
    }

    fn writes(&self) -> bool {
        !self.options.dry_run
    }

    async fn keep_lease(&mut self) -> Result<(), GcError> {
        if let Some(lease) = self.lease.as_mut() {
            lease.keep().await?;
        }
        Ok(())
    }

    async fn run(&mut self, report: &mut Report) -> Result<(), GcError> {
        if self.writes() {
            self.clear_markers().await;
        }
        // M1.
        let repos = mark::repositories(self.storage).await?;
        report.repositories = repos.len() as u64;
        self.progress.stage(Stage::Mark, Some(repos.len() as u64));
        let mut marks = MarkSet::new(self.options.chunk_records);
        let mut doomed_manifests: Vec<ManifestCandidate> = Vec::new();
        for repo in &repos {
            self.keep_lease().await?;
            let outcome = self.mark_repository(repo, true, report).await?;
            report.manifests_marked += outcome.manifests_kept;
            for digest in &outcome.blobs {
                marks.insert(digest)?;
            }
            doomed_manifests.extend(outcome.unreachable.into_iter().map(|(digest, subject)| {
                ManifestCandidate {
                    repo: repo.clone(),
                    digest,
                    subject,
                }
            }));
            self.progress.advance(1);
        }
        report.mark_runs_spilled = marks.spilled_runs() as u64;
        let candidates = self.blob_candidates(marks, report).await?;

        if !self.writes() {
            report.manifests_removed = doomed_manifests.len() as u64;
            report.removed_manifests = doomed_manifests
                .iter()
                .map(|m| format!("{}@{}", m.repo, m.digest))
                .collect();
            report.blobs_removed = candidates.len() as u64;
            report.bytes_freed = candidates.values().sum();
            report.removed_blobs = candidates.keys().map(|d| d.to_string()).collect();
            return Ok(());
        }
        if doomed_manifests.is_empty() && candidates.is_empty() {
            return Ok(());
        }

        // Doom, wait, mark again.
        let cycle_id = self
            .lease
            .as_ref()
            .map(|l| l.cycle_id().to_owned())
            .unwrap_or_default();
        let targets: Vec<Target> = doomed_manifests
            .iter()
            .map(|m| Target::Manifest(m.repo.clone(), m.digest.clone()))
            .chain(candidates.keys().map(|d| Target::Blob(d.clone())))
            .collect();
        let writes: Vec<_> = targets
            .iter()
            .map(|target| {
                let (storage, path, id) = (
                    self.storage.clone(),
                    target.doomed_marker(),
                    Bytes::from(cycle_id.clone()),
                );
                async move { storage.put_content(&path, id).await }
            })
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<()>()
            .await?;
        self.progress.stage(Stage::Wait, None);
        if let Some(lease) = self.lease.as_mut() {
            lease.wait(self.options.timing.reliance_window).await?;
        }
        let (reached, still_unreachable) = self.remark(&candidates, report).await?;

        // Manifests first: one that stays keeps what it names.
        self.progress.stage(
            Stage::Sweep,
            Some((doomed_manifests.len() + candidates.len()) as u64),
        );
        let mut keep_blobs: HashSet<Digest> = reached;
        self.sweep_manifests(
            &doomed_manifests,
            &still_unreachable,
            &mut keep_blobs,
            report,
        )
        .await?;
        self.sweep_blobs(&candidates, &keep_blobs, report).await?;
        Ok(())
    }

    /// Marks one repository, applying retention first when a policy matches it. `first`
    /// says whether this is M1 (retention removes tags only then).
    async fn mark_repository(
        &mut self,
        repo: &RepositoryName,
        first: bool,
        report: &mut Report,
    ) -> Result<RepoMarks, GcError> {
        let policies = self.options.retention.as_ref();
        let policy = policies.and_then(|p| p.for_repository(repo));
        let retention_dry = policies.is_some_and(|p| p.dry_run);
        let mut ignored: HashSet<Tag> = HashSet::new();
        if let Some(policy) = policy
            && first
        {
            let tags = mark::tags_of(self.storage, repo).await?;
            for tag in policy.tags_to_remove(&tags) {
                let removed = if !self.writes() {
                    true
                } else if retention_dry {
                    false
                } else {
                    let pushed = tags.iter().find(|(t, _, _)| t == &tag);
                    self.remove_tag(repo, &tag, pushed.map(|(_, d, time)| (d, *time)))
                        .await?
                };
                if removed || retention_dry {
                    report.tags_removed += u64::from(removed);
                    let line = format!("{repo}:{tag}");
                    if retention_dry && self.writes() {
                        report.retention_would_remove.push(line);
                    } else {
                        report.removed_tags.push(line);
                    }
                }
                if removed {
                    ignored.insert(tag);
                }
            }
        }
        let from_policy = policy.and_then(|p| p.untagged_older_than);
        let untagged_older_than = if self.options.delete_untagged {
            Some(from_policy.map_or(self.options.delay, |age| age.min(self.options.delay)))
        } else {
            from_policy
        };
        let rules = MarkRules {
            delay: self.options.delay,
            untagged_older_than,
            ignored_tags: &ignored,
            now: self.now,
        };
        let mut marks = mark::mark_repository(self.storage, repo, &rules).await?;
        // A retention policy in dry-run mode lists its untagged removals and keeps them.
        if retention_dry && !self.options.delete_untagged && policy.is_some() && self.writes() {
            for (digest, _) in std::mem::take(&mut marks.unreachable) {
                if first {
                    report
                        .retention_would_remove
                        .push(format!("{repo}@{digest}"));
                }
                let refs = mark::manifest_refs(self.storage, &digest).await?;
                marks.blobs.push(digest);
                marks.blobs.extend(refs.blobs);
                marks.blobs.extend(refs.children);
            }
        }
        Ok(marks)
    }

    /// Removes a tag if its `current` link is still what retention decided on.
    async fn remove_tag(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        decided: Option<(&Digest, SystemTime)>,
    ) -> Result<bool, GcError> {
        let Some((digest, time)) = decided else {
            return Ok(false);
        };
        let current = layout::tag_current_link(repo, tag);
        let info = match self.storage.stat(&current).await {
            Ok(info) => info,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if info.mod_time != time
            || mark::read_link(self.storage, &current).await?.as_ref() != Some(digest)
        {
            return Ok(false);
        }
        match self.storage.delete(&layout::tag_dir(repo, tag)).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Walks the blobs in order, merged with the marks: unmarked blobs older than `delay` are
    /// candidates (with their size).
    async fn blob_candidates(
        &mut self,
        marks: MarkSet,
        report: &mut Report,
    ) -> Result<HashMap<Digest, u64>, GcError> {
        self.progress.stage(Stage::Blobs, None);
        let mut sorted = marks.finish()?;
        let mut candidates = HashMap::new();
        let mut kept = 0u64;
        let root = layout::blobs_root();
        let (now, delay, progress) = (self.now, self.options.delay, self.progress);
        let mut io_error: Option<std::io::Error> = None;
        let walked = self
            .storage
            .walk(&root, None, &mut |info| {
                if info.is_dir || info.path.file_name() != "data" {
                    return Ok(WalkControl::Continue);
                }
                // `<alg>/<2 hex>/<hex>/data`; anything else is left alone.
                let components: Vec<&str> = info.path.components().collect();
                let digest = match components.as_slice() {
                    [.., alg, prefix, hex, "data"] if hex.starts_with(prefix) => {
                        format!("{alg}:{hex}").parse::<Digest>().ok()
                    }
                    _ => None,
                };
                let Some(digest) = digest else {
                    return Ok(WalkControl::Continue);
                };
                progress.advance(1);
                let marked = match sorted.contains_ascending(&key_of(&digest)) {
                    Ok(marked) => marked,
                    Err(e) => {
                        io_error = Some(e);
                        return Ok(WalkControl::Stop);
                    }
                };
                let young = mark::younger(now, info.mod_time, delay);
                if marked || young {
                    kept += 1;
                } else {
                    candidates.insert(digest, info.size);
                }
                Ok(WalkControl::Continue)
            })
            .await;
        if let Some(e) = io_error {
            return Err(e.into());
        }
        match walked {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        report.blobs_marked = kept;
        Ok(candidates)
    }

    /// M2: which candidate blobs are reached now, and which doomed manifests are still
    /// unreachable.
    async fn remark(
        &mut self,
        candidates: &HashMap<Digest, u64>,
        report: &mut Report,
    ) -> Result<(HashSet<Digest>, HashSet<(RepositoryName, Digest)>), GcError> {
        let repos = mark::repositories(self.storage).await?;
        self.progress.stage(Stage::Remark, Some(repos.len() as u64));
        let mut reached = HashSet::new();
        let mut unreachable = HashSet::new();
        for repo in &repos {
            self.keep_lease().await?;
            let marks = self.mark_repository(repo, false, report).await?;
            reached.extend(
                marks
                    .blobs
                    .into_iter()
                    .filter(|d| candidates.contains_key(d)),
            );
            unreachable.extend(
                marks
                    .unreachable
                    .into_iter()
                    .map(|(digest, _)| (repo.clone(), digest)),
            );
            self.progress.advance(1);
        }
        Ok((reached, unreachable))
    }

    /// Removes the doomed manifests that are still unreachable and were not revived. The ones
    /// that stay, and what they reach among the candidates (children, referrers), keep their
    /// blobs.
    async fn sweep_manifests(
        &mut self,
        doomed: &[ManifestCandidate],
        still_unreachable: &HashSet<(RepositoryName, Digest)>,
        keep_blobs: &mut HashSet<Digest>,
        report: &mut Report,
    ) -> Result<(), GcError> {
        // Decide first, so that a manifest that stays keeps its doomed children and
        // referrers; each removal checks once more right before its delete.
        let mut staying: HashSet<(RepositoryName, Digest)> = HashSet::new();
        for m in doomed {
            let key = (m.repo.clone(), m.digest.clone());
            let target = Target::Manifest(m.repo.clone(), m.digest.clone());
            if !still_unreachable.contains(&key) || self.revived_or_young(&target).await? {
                staying.insert(key);
            }
        }
        let mut refs = HashMap::new();
        for m in doomed {
            refs.insert(
                (m.repo.clone(), m.digest.clone()),
                mark::manifest_refs(self.storage, &m.digest).await?,
            );
        }
        // Close `staying` over children and referrers among the doomed.
        loop {
            let mut grew = false;
            for m in doomed {
                let key = (m.repo.clone(), m.digest.clone());
                if staying.contains(&key) {
                    continue;
                }
                let child_of_staying = staying.iter().any(|(repo, parent)| {
                    repo == &m.repo
                        && refs
                            .get(&(repo.clone(), parent.clone()))
                            .is_some_and(|r| r.children.contains(&m.digest))
                });
                let referrer_of_staying = m
                    .subject
                    .as_ref()
                    .is_some_and(|s| staying.contains(&(m.repo.clone(), s.clone())));
                if child_of_staying || referrer_of_staying {
                    staying.insert(key);
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        for m in doomed {
            let key = (m.repo.clone(), m.digest.clone());
            let target = Target::Manifest(m.repo.clone(), m.digest.clone());
            let removed = !staying.contains(&key) && self.remove_manifest(m, &target).await?;
            if removed {
                report.manifests_removed += 1;
                report
                    .removed_manifests
                    .push(format!("{}@{}", m.repo, m.digest));
            } else {
                report.candidates_kept += 1;
                keep_blobs.insert(m.digest.clone());
                if let Some(r) = refs.get(&key) {
                    keep_blobs.extend(r.blobs.iter().cloned());
                    keep_blobs.extend(r.children.iter().cloned());
                }
            }
            self.forget_markers(&target).await;
            self.progress.advance(1);
        }
        Ok(())
    }

    /// True when a request revived `target` or rewrote it since the mark.
    async fn revived_or_young(&self, target: &Target) -> Result<bool, GcError> {
        let presence = match target {
            Target::Blob(d) => layout::blob_data(d),
            Target::Manifest(repo, d) => layout::revision_link(repo, d),
        };
        match self.storage.stat(&presence).await {
            Ok(info) => {
                let young = mark::younger(SystemTime::now(), info.mod_time, self.options.delay);
                if young {
                    return Ok(true);
                }
            }
            // Gone already: nothing to keep, nothing to delete.
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        match self.storage.stat(&target.revived_marker()).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The last check and the delete, within `Δg`. False when the manifest stays.
    async fn remove_manifest(
        &mut self,
        m: &ManifestCandidate,
        target: &Target,
    ) -> Result<bool, GcError> {
        self.keep_lease().await?;
        let revision = layout::revision_link(&m.repo, &m.digest);
        if self.storage.stat(&revision).await.is_err() {
            return Ok(false);
        }
        let checked = Instant::now();
        if self.revived_or_young(target).await? {
            return Ok(false);
        }
        if checked.elapsed() > self.options.timing.delete_bound() {
            tracing::warn!(manifest = %m.digest, repo = %m.repo, "garbage collection skipped a manifest: its last check took too long");
            return Ok(false);
        }
        self.timed_delete(&revision).await?;
        // What else named it: its referrers index entry and the tags' history.
        if let Some(subject) = &m.subject {
            self.delete_quietly(&layout::referrer_entry(&m.repo, subject, &m.digest))
                .await?;
        }
        for (tag, _, _) in mark::tags_of(self.storage, &m.repo).await? {
            let index_link = layout::tag_index_link(&m.repo, &tag, &m.digest);
            let dir = index_link.trim_end_matches("/link");
            self.delete_quietly(dir).await?;
        }
        Ok(true)
    }

    async fn sweep_blobs(
        &mut self,
        candidates: &HashMap<Digest, u64>,
        keep: &HashSet<Digest>,
        report: &mut Report,
    ) -> Result<(), GcError> {
        let mut ordered: Vec<(&Digest, &u64)> = candidates.iter().collect();
        ordered.sort();
        for (digest, _) in ordered {
            let target = Target::Blob(digest.clone());
            if keep.contains(digest) {
                report.candidates_kept += 1;
            } else {
                match self.remove_blob(digest, &target).await? {
                    Some(size) => {
                        report.blobs_removed += 1;
                        report.bytes_freed += size;
                        report.removed_blobs.push(digest.to_string());
                    }
                    None => report.candidates_kept += 1,
                }
            }
            self.forget_markers(&target).await;
            self.progress.advance(1);
        }
        Ok(())
    }

    /// The last check and the delete, within `Δg`: the size removed, or `None` when the blob
    /// stays (or was gone already).
    async fn remove_blob(
        &mut self,
        digest: &Digest,
        target: &Target,
    ) -> Result<Option<u64>, GcError> {
        self.keep_lease().await?;
        let data = layout::blob_data(digest);
        let size = match self.storage.stat(&data).await {
            Ok(info) => info.size,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let checked = Instant::now();
        if self.revived_or_young(target).await? {
            return Ok(None);
        }
        if checked.elapsed() > self.options.timing.delete_bound() {
            tracing::warn!(blob = %digest, "garbage collection skipped a blob: its last check took too long");
            return Ok(None);
        }
        // The blob's directory, as the reference removes it.
        let dir = data.trim_end_matches("/data");
        self.timed_delete(dir).await?;
        Ok(Some(size))
    }

    /// A delete that logs when it took longer than the protocol allows a delete to take.
    async fn timed_delete(&self, path: &str) -> Result<(), GcError> {
        let started = Instant::now();
        let outcome = self.delete_quietly(path).await;
        let timing = &self.options.timing;
        if started.elapsed() > timing.revive_wait.saturating_sub(timing.delete_bound()) {
            tracing::error!(
                path,
                took = ?started.elapsed(),
                "a garbage-collection delete took longer than gc.revivewait allows; a request \
                 reviving this content at the same moment may have linked deleted content"
            );
        }
        outcome
    }

    async fn delete_quietly(&self, path: &str) -> Result<(), GcError> {
        match self.storage.delete(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn forget_markers(&self, target: &Target) {
        for path in [target.doomed_marker(), target.revived_marker()] {
            if let Err(e) = self.delete_quietly(&path).await {
                tracing::warn!(path, error = %e, "could not remove a garbage-collection marker");
            }
        }
    }

    /// Removes every doom marker and revival record (a crashed cycle's, or this cycle's
    /// leftovers). Only the lease holder calls it.
    async fn clear_markers(&self) {
        for dir in [layout::gc_doomed_dir(), layout::gc_revived_dir()] {
            if let Err(e) = self.delete_quietly(&dir).await {
                tracing::warn!(dir, error = %e, "could not clear garbage-collection markers");
            }
        }
    }
}
