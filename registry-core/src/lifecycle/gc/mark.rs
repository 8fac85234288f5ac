//! The mark phase, one repository at a time: which manifests stay, which blobs they reach.
//!
//! A repository's roots are its tags' manifests and every revision younger than the grace
//! window (`delay`); with untagged removal off, every revision is a root. From the roots the
//! kept set grows through index children and through referrers (a manifest whose subject is
//! kept is kept). Kept manifests mark themselves, their config, layers and children; layer
//! links younger than `delay` mark their blob (an upload or mount waiting for its manifest).
//!
//! Manifests are read leniently (only the digests of `config`, `layers`, `manifests`,
//! `subject` and schema 1 `fsLayers`): content written by other registries, even in a form
//! this registry refuses on push, must not lose its layers. Memory is one repository's
//! revisions and what they name; blobs go to the caller as they are found.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::domain::{Digest, RepositoryName, Tag};
use crate::layout;
use crate::storage::{Storage, StorageError, StoragePath, WalkControl};

const READ_CONCURRENCY: usize = 16;

/// The digests a manifest names.
#[derive(Debug, Default, Clone)]
pub struct Refs {
    /// Config and layers (and schema 1 `fsLayers`).
    pub blobs: Vec<Digest>,
    /// Index children.
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
}

/// Reads the digests of a stored manifest; unreadable JSON names nothing.
pub fn refs_of(body: &[u8]) -> Refs {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return Refs::default();
    };
    let digest_at = |v: &Value, key: &str| v.get(key)?.as_str()?.parse::<Digest>().ok();
    let list = |key: &str, field: &str| -> Vec<Digest> {
        doc.get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(|i| digest_at(i, field)).collect())
            .unwrap_or_default()
    };
    let mut blobs: Vec<Digest> = doc
        .get("config")
        .and_then(|c| digest_at(c, "digest"))
        .into_iter()
        .collect();
    blobs.extend(list("layers", "digest"));
    blobs.extend(list("fsLayers", "blobSum"));
    Refs {
        blobs,
        children: list("manifests", "digest"),
        subject: doc.get("subject").and_then(|s| digest_at(s, "digest")),
    }
}

/// The repositories below `repositories/`, in walk order: a directory is a repository when it
/// holds a `_`-named entry (`_layers`, `_manifests`, ...).
pub async fn repositories(storage: &Storage) -> Result<Vec<RepositoryName>, StorageError> {
    let root = layout::repositories_root();
    let mut names: Vec<RepositoryName> = Vec::new();
    let walked = storage
        .walk(&root, None, &mut |info| {
            if !info.is_dir {
                return Ok(WalkControl::Continue);
            }
            if !info.path.file_name().starts_with('_') {
                return Ok(WalkControl::Continue);
            }
            let parent = info.path.parent();
            if let Some(name) = parent
                .as_str()
                .strip_prefix(&root)
                .and_then(|n| n.strip_prefix('/'))
                .and_then(|n| n.parse::<RepositoryName>().ok())
                && names.last() != Some(&name)
            {
                names.push(name);
            }
            Ok(WalkControl::SkipDir)
        })
        .await;
    match walked {
        Ok(()) => Ok(names),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `(digest named by the path, modification time)` of every `<alg>/<hex>/link` below `dir`.
pub async fn links_below(
    storage: &Storage,
    dir: &str,
) -> Result<Vec<(Digest, SystemTime)>, StorageError> {
    let mut links = Vec::new();
    let walked = storage
        .walk(dir, None, &mut |info| {
            if info.is_dir || info.path.file_name() != "link" {
                return Ok(WalkControl::Continue);
            }
            if let Some(digest) = digest_of_link(&info.path) {
                links.push((digest, info.mod_time));
            }
            Ok(WalkControl::Continue)
        })
        .await;
    match walked {
        Ok(()) => Ok(links),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The digest `.../<alg>/<hex>/link` names.
fn digest_of_link(path: &StoragePath) -> Option<Digest> {
    let components: Vec<&str> = path.components().collect();
    match components.as_slice() {
        [.., alg, hex, "link"] => format!("{alg}:{hex}").parse().ok(),
        _ => None,
    }
}

/// A link file's digest; `None` when missing or not a digest.
pub async fn read_link(storage: &Storage, path: &str) -> Result<Option<Digest>, StorageError> {
    match storage.get_content(path).await {
        Ok(content) => Ok(layout::link_target(&content)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every tag of `repo` with the digest its `current` link names and that link's time.
pub async fn tags_of(
    storage: &Storage,
    repo: &RepositoryName,
) -> Result<Vec<(Tag, Digest, SystemTime)>, StorageError> {
    let entries = match storage.list(&layout::tags_dir(repo)).await {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let tags: Vec<Tag> = entries
        .iter()
        .filter_map(|p| p.file_name().parse().ok())
        .collect();
    let reads: Vec<_> = tags
        .into_iter()
        .map(|tag| {
            let (storage, repo) = (storage.clone(), repo.clone());
            async move {
                let path = layout::tag_current_link(&repo, &tag);
                let info = match storage.stat(&path).await {
                    Ok(info) => info,
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(e),
                };
                Ok(read_link(&storage, &path)
                    .await?
                    .map(|digest| (tag, digest, info.mod_time)))
            }
        })
        .collect();
    futures::stream::iter(reads)
        .buffered(READ_CONCURRENCY)
        .try_filter_map(|t| async move { Ok(t) })
        .try_collect()
        .await
}

/// The digests a stored manifest names; nothing when its content is gone.
pub async fn manifest_refs(storage: &Storage, digest: &Digest) -> Result<Refs, StorageError> {
    match storage.get_content(&layout::blob_data(digest)).await {
        Ok(body) => Ok(refs_of(&body)),
        Err(e) if e.is_not_found() => Ok(Refs::default()),
        Err(e) => Err(e),
    }
}

/// How one repository is marked.
pub struct MarkRules<'a> {
    /// The grace window: links younger than this are roots.
    pub delay: Duration,
    /// Remove manifests that no tag reaches once their revision is older than this (and than
    /// `delay`); `None` keeps every revision.
    pub untagged_older_than: Option<Duration>,
    /// Tags to treat as absent (removed, or to be removed, by retention).
    pub ignored_tags: &'a HashSet<Tag>,
    pub now: SystemTime,
}

/// One repository's outcome.
#[derive(Debug, Default)]
pub struct RepoMarks {
    /// Blobs to keep (repeats possible).
    pub blobs: Vec<Digest>,
    /// Manifests kept.
    pub manifests_kept: u64,
    /// Manifest revisions to remove (unreachable from tags, old enough), with their subject.
    pub unreachable: Vec<(Digest, Option<Digest>)>,
}

/// True when `time` is less than `window` before `now`. A time in the future (clock skew, or
/// a backend that rounds times up) counts as young, except with no window at all.
pub fn younger(now: SystemTime, time: SystemTime, window: Duration) -> bool {
    !window.is_zero() && now.duration_since(time).map_or(true, |age| age < window)
}

pub async fn mark_repository(
    storage: &Storage,
    repo: &RepositoryName,
    rules: &MarkRules<'_>,
) -> Result<RepoMarks, StorageError> {
    let mut marks = RepoMarks::default();
    // With no grace window (the offline command's default) no layer link is young, so the
    // walk, a directory per link (one listing each on S3), would find nothing to mark.
    if !rules.delay.is_zero() {
        let layers = links_below(storage, &format!("{}/_layers", layout::repository(repo))).await?;
        marks.blobs.extend(
            layers
                .into_iter()
                .filter(|(_, time)| younger(rules.now, *time, rules.delay))
                .map(|(digest, _)| digest),
        );
    }
    let revisions_dir = format!("{}/revisions", layout::manifests_dir(repo));
    let revisions = links_below(storage, &revisions_dir).await?;
    let reads: Vec<_> = revisions
        .iter()
        .map(|(digest, _)| {
            let (storage, digest) = (storage.clone(), digest.clone());
            async move {
                let refs = manifest_refs(&storage, &digest).await?;
                Ok::<_, StorageError>((digest, refs))
            }
        })
        .collect();
    let refs: HashMap<Digest, Refs> = futures::stream::iter(reads)
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;

    let kept: HashSet<Digest> = match rules.untagged_older_than {
        None => revisions.iter().map(|(d, _)| d.clone()).collect(),
        Some(age) => {
            let window = age.max(rules.delay);
            let mut roots: Vec<Digest> = tags_of(storage, repo)
                .await?
                .into_iter()
                .filter(|(tag, _, _)| !rules.ignored_tags.contains(tag))
                .map(|(_, digest, _)| digest)
                .collect();
            roots.extend(
                revisions
                    .iter()
                    .filter(|(_, time)| younger(rules.now, *time, window))
                    .map(|(d, _)| d.clone()),
            );
            closure(roots, &refs)
        }
    };
    for (digest, _) in &revisions {
        if !kept.contains(digest) {
            let subject = refs.get(digest).and_then(|r| r.subject.clone());
            marks.unreachable.push((digest.clone(), subject));
        }
    }
    // Tags may name manifests whose revision link is gone; their content stays all the same.
    for digest in &kept {
        marks.manifests_kept += 1;
        marks.blobs.push(digest.clone());
        if let Some(r) = refs.get(digest) {
            marks.blobs.extend(r.blobs.iter().cloned());
            marks.blobs.extend(r.children.iter().cloned());
        }
    }
    Ok(marks)
}

/// Everything the roots reach through index children and referrers (a manifest is kept when
/// its subject is).
fn closure(roots: Vec<Digest>, refs: &HashMap<Digest, Refs>) -> HashSet<Digest> {
    let mut referrers: HashMap<&Digest, Vec<&Digest>> = HashMap::new();
    for (digest, r) in refs {
        if let Some(subject) = &r.subject {
            referrers.entry(subject).or_default().push(digest);
        }
    }
    let mut kept: HashSet<Digest> = HashSet::new();
    let mut pending = roots;
    while let Some(digest) = pending.pop() {
        if !kept.insert(digest.clone()) {
            continue;
        }
        if let Some(r) = refs.get(&digest) {
            pending.extend(r.children.iter().cloned());
        }
        if let Some(list) = referrers.get(&digest) {
            pending.extend(list.iter().map(|d| (*d).clone()));
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_reading_finds_every_kind_of_reference() {
        let d = |s: &str| Digest::sha256_of(s.as_bytes());
        let body = format!(
            r#"{{"config":{{"digest":"{}"}},"layers":[{{"digest":"{}"}}],"fsLayers":[{{"blobSum":"{}"}}],"manifests":[{{"digest":"{}"}}],"subject":{{"digest":"{}"}}}}"#,
            d("c"),
            d("l"),
            d("f"),
            d("m"),
            d("s")
        );
        let r = refs_of(body.as_bytes());
        assert_eq!(r.blobs, vec![d("c"), d("l"), d("f")]);
        assert_eq!(r.children, vec![d("m")]);
        assert_eq!(r.subject, Some(d("s")));
        assert!(refs_of(b"not json").blobs.is_empty());
    }

    #[test]
    fn closure_follows_children_and_referrers() {
        let d = |s: &str| Digest::sha256_of(s.as_bytes());
        let mut refs = HashMap::new();
        refs.insert(
            d("index"),
            Refs {
                children: vec![d("child")],
                ..Refs::default()
            },
        );
        refs.insert(d("child"), Refs::default());
        refs.insert(
            d("sig"),
            Refs {
                subject: Some(d("index")),
                ..Refs::default()
            },
        );
        refs.insert(
            d("sig-of-sig"),
            Refs {
                subject: Some(d("sig")),
                ..Refs::default()
            },
        );
        refs.insert(
            d("orphan"),
            Refs {
                subject: Some(d("gone")),
                ..Refs::default()
            },
        );
        let kept = closure(vec![d("index")], &refs);
        for name in ["index", "child", "sig", "sig-of-sig"] {
            assert!(kept.contains(&d(name)), "{name}");
        }
        assert!(!kept.contains(&d("orphan")));
    }
}
