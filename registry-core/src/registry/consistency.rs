//! A storage consistency check: walks a storage root in CNCF Distribution's layout (see
//! [`crate::layout`]) and reports every link and blob that does not hold together.
//!
//! It reads storage only, through [`Storage`], so it runs on any driver, against a live
//! registry or an offline root, and garbage collection can build on the same walk. Problems are
//! collected, never raised: one broken file must not hide the next. Only a storage failure
//! (other than a file vanishing while the check runs) ends the check early.
//!
//! What is checked:
//! - every `blobs/<alg>/<2 hex>/<hex>/data` lies at its digest's place and hashes to that
//!   digest (streamed: a blob is never held in memory whole);
//! - every layer, revision, tag `current` and tag `index` link holds a digest, the one its
//!   path names where the path names one, and that blob exists;
//! - every tag's `current` link names a manifest that has a revision link in its repository.
//!
//! Upload directories and the referrers index are not checked: they are this registry's
//! working state, not content a client can pull.

use std::collections::HashSet;
use std::fmt;

use futures::StreamExt;

use crate::domain::{Digest, DigestHasher};
use crate::layout;
use crate::storage::{Storage, StorageError, StoragePath, WalkControl};

/// Which kind of link file a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// `_layers/<alg>/<hex>/link`
    Layer,
    /// `_manifests/revisions/<alg>/<hex>/link`
    Revision,
    /// `_manifests/tags/<tag>/current/link`
    TagCurrent,
    /// `_manifests/tags/<tag>/index/<alg>/<hex>/link`
    TagIndex,
}

/// One inconsistency. `path` fields are storage paths (`/docker/registry/v2/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A link whose content is not a digest.
    InvalidLink {
        path: String,
        kind: LinkKind,
        /// The content, lossily decoded and cut to 200 characters.
        content: String,
    },
    /// A link under `<alg>/<hex>/` holding another digest than its path names. The registry
    /// treats such a link as absent.
    MismatchedLink {
        path: String,
        kind: LinkKind,
        expected: Digest,
        found: Digest,
    },
    /// A link to a blob whose `data` does not exist.
    DanglingLink {
        path: String,
        kind: LinkKind,
        digest: Digest,
    },
    /// A blob whose content hashes to another digest than its path names.
    CorruptBlob {
        path: String,
        expected: Digest,
        actual: Digest,
    },
    /// A file under `blobs/` that is not `<alg>/<2 hex>/<hex>/data` of a valid digest.
    MisplacedBlob { path: String },
    /// A tag whose `current` link names a manifest without a revision link in the repository.
    TagWithoutRevision {
        repository: String,
        tag: String,
        digest: Digest,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InvalidLink {
                path,
                kind,
                content,
            } => write!(f, "{kind:?} link {path} holds no digest: {content:?}"),
            Problem::MismatchedLink {
                path,
                kind,
                expected,
                found,
            } => write!(f, "{kind:?} link {path} holds {found}, not {expected}"),
            Problem::DanglingLink { path, kind, digest } => {
                write!(f, "{kind:?} link {path} points to missing blob {digest}")
            }
            Problem::CorruptBlob {
                path,
                expected,
                actual,
            } => write!(f, "blob {path} should be {expected} but hashes to {actual}"),
            Problem::MisplacedBlob { path } => write!(f, "{path} is no blob of the layout"),
            Problem::TagWithoutRevision {
                repository,
                tag,
                digest,
            } => write!(
                f,
                "tag {repository}:{tag} names {digest}, which has no revision link"
            ),
        }
    }
}

/// What a check found, and how much it looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Blob `data` files hashed.
    pub blobs_checked: usize,
    /// Link files read.
    pub links_checked: usize,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the storage behind `storage`; see the module documentation.
pub async fn check(storage: &Storage) -> Result<Report, StorageError> {
    let mut report = Report::default();
    let blobs = check_blobs(storage, &mut report).await?;
    check_repositories(storage, &blobs, &mut report).await?;
    Ok(report)
}

/// Every file below `root` (none when `root` does not exist), skipping directories for which
/// `skip_dir` says so.
async fn files_below(
    storage: &Storage,
    root: &str,
    skip_dir: impl Fn(&StoragePath) -> bool + Send + Sync,
) -> Result<Vec<StoragePath>, StorageError> {
    let mut files = Vec::new();
    let walked = storage
        .walk(root, None, &mut |info| {
            if info.is_dir {
                return Ok(if skip_dir(&info.path) {
                    WalkControl::SkipDir
                } else {
                    WalkControl::Continue
                });
            }
            files.push(info.path.clone());
            Ok(WalkControl::Continue)
        })
        .await;
    match walked {
        Ok(()) => Ok(files),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `path`'s components below `root` (a prefix of it).
fn relative<'a>(path: &'a StoragePath, root: &str) -> Vec<&'a str> {
    path.as_str()
        .strip_prefix(root)
        .unwrap_or_default()
        .split('/')
        .filter(|c| !c.is_empty())
        .collect()
}

/// Hashes every blob; returns the digests whose content is present and correct.
async fn check_blobs(
    storage: &Storage,
    report: &mut Report,
) -> Result<HashSet<Digest>, StorageError> {
    let root = layout::blobs_root();
    let mut present = HashSet::new();
    for path in files_below(storage, &root, |_| false).await? {
        let digest = match relative(&path, &root).as_slice() {
            [alg, prefix, hex, "data"] => format!("{alg}:{hex}")
                .parse::<Digest>()
                .ok()
                .filter(|d| d.hex().get(..2) == Some(*prefix)),
            _ => None,
        };
        let Some(expected) = digest else {
            report.problems.push(Problem::MisplacedBlob {
                path: path.to_string(),
            });
            continue;
        };
        let Some(actual) = hash_stored(storage, &path, &expected).await? else {
            continue; // Removed while the check ran: nothing to judge.
        };
        report.blobs_checked += 1;
        if actual == expected {
            present.insert(expected);
        } else {
            report.problems.push(Problem::CorruptBlob {
                path: path.to_string(),
                expected,
                actual,
            });
        }
    }
    Ok(present)
}

/// The digest (in `expected`'s algorithm) of the object at `path`, read as a stream; `None`
/// when it no longer exists.
async fn hash_stored(
    storage: &Storage,
    path: &StoragePath,
    expected: &Digest,
) -> Result<Option<Digest>, StorageError> {
    let mut stream = match storage.reader(path.as_str(), 0).await {
        Ok(stream) => stream,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut hasher = DigestHasher::new(expected.algorithm());
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(Some(hasher.finish()))
}

/// A link file recognised in a repository: its repository, kind, tag (for tag links) and
/// the digest its path names (for all but `current`).
struct LinkSite<'a> {
    repository: String,
    kind: LinkKind,
    tag: Option<&'a str>,
    named: Option<Digest>,
}

/// Recognises a link from its path components below `repositories/`. Repository name
/// components never start with `_`, so the first one that does ends the name.
fn link_site<'a>(components: &[&'a str]) -> Option<LinkSite<'a>> {
    let split = components
        .iter()
        .position(|c| c.starts_with('_'))
        .filter(|&i| i > 0)?;
    let (repo, rest) = components.split_at(split);
    let repository = repo.join("/");
    let digest = |alg: &str, hex: &str| format!("{alg}:{hex}").parse::<Digest>().ok();
    let (kind, tag, named) = match rest {
        ["_layers", alg, hex, "link"] => (LinkKind::Layer, None, digest(alg, hex)),
        ["_manifests", "revisions", alg, hex, "link"] => {
            (LinkKind::Revision, None, digest(alg, hex))
        }
        ["_manifests", "tags", tag, "current", "link"] => (LinkKind::TagCurrent, Some(*tag), None),
        ["_manifests", "tags", tag, "index", alg, hex, "link"] => {
            (LinkKind::TagIndex, Some(*tag), digest(alg, hex))
        }
        _ => return None,
    };
    Some(LinkSite {
        repository,
        kind,
        tag,
        named,
    })
}

/// Checks every link of every repository against the blobs found.
async fn check_repositories(
    storage: &Storage,
    blobs: &HashSet<Digest>,
    report: &mut Report,
) -> Result<(), StorageError> {
    let root = layout::repositories_root();
    // Uploads and the referrers index are working state, not links (see the module docs).
    let skip = |p: &StoragePath| matches!(p.file_name(), "_uploads" | "_referrers");
    let mut revisions: HashSet<(String, Digest)> = HashSet::new();
    let mut current_tags: Vec<(String, String, Digest)> = Vec::new();
    for path in files_below(storage, &root, skip).await? {
        let components = relative(&path, &root);
        let Some(site) = link_site(&components) else {
            continue;
        };
        let content = match storage.get_content(path.as_str()).await {
            Ok(content) => content,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        report.links_checked += 1;
        let path = path.to_string();
        // Readers trim whitespace (`Registry::read_link`), so a trailing newline is fine.
        let text = String::from_utf8_lossy(&content);
        let Ok(digest) = text.trim().parse::<Digest>() else {
            report.problems.push(Problem::InvalidLink {
                path,
                kind: site.kind,
                content: text.chars().take(200).collect(),
            });
            continue;
        };
        if let Some(expected) = site.named
            && expected != digest
        {
            report.problems.push(Problem::MismatchedLink {
                path,
                kind: site.kind,
                expected,
                found: digest,
            });
            continue;
        }
        if !blobs.contains(&digest) {
            report.problems.push(Problem::DanglingLink {
                path,
                kind: site.kind,
                digest: digest.clone(),
            });
        }
        match (site.kind, site.tag) {
            (LinkKind::Revision, _) => {
                revisions.insert((site.repository, digest));
            }
            (LinkKind::TagCurrent, Some(tag)) => {
                current_tags.push((site.repository, tag.to_owned(), digest));
            }
            _ => {}
        }
    }
    for (repository, tag, digest) in current_tags {
        if !revisions.contains(&(repository.clone(), digest.clone())) {
            report.problems.push(Problem::TagWithoutRevision {
                repository,
                tag,
                digest,
            });
        }
    }
    Ok(())
}
