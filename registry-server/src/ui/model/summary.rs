//! A manifest in one line: its kind, total compressed size and platforms. Shared by the tags
//! page (one per tag) and the manifest page.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};

use futures::{StreamExt, TryStreamExt};
use registry_core::domain::manifest::ManifestKind;
use registry_core::domain::{Descriptor, Digest, ParsedManifest, Reference, RepositoryName};
use registry_core::registry::{Registry, RegistryError, StoredManifest};

use crate::ui::format::Size;

/// How many children of an index are read to add up its size; beyond, the size is shown as
/// a lower bound. Bounds the cost of a page whatever an index lists.
pub const MAX_CHILDREN_READ: usize = 32;
const READ_CONCURRENCY: usize = 8;

#[derive(Debug, Clone)]
pub struct Summary {
    pub media_type: String,
    pub is_index: bool,
    /// `artifactType`, or for an image manifest without one, its config's media type when that
    /// is not an image config (OCI 1.1's rule for artifacts).
    pub artifact_type: Option<String>,
    /// Config and layers, each distinct blob once (over every child, for an index).
    pub total_size: Size,
    /// True when some children were not read (too many, or missing): `total_size` is a
    /// lower bound.
    pub size_partial: bool,
    /// `os/architecture[/variant]` of an index's children.
    pub platforms: Vec<String>,
}

/// The platform a descriptor names, as `os/architecture[/variant]`.
pub fn platform(descriptor: &Descriptor) -> Option<String> {
    let platform = descriptor.platform.as_ref()?;
    let field = |key: &str| platform.get(key).and_then(|v| v.as_str());
    let mut text = format!("{}/{}", field("os")?, field("architecture")?);
    if let Some(variant) = field("variant") {
        text.push('/');
        text.push_str(variant);
    }
    Some(text)
}

/// The blobs an image manifest stores: config and layers, by digest.
fn blobs_of(manifest: &ParsedManifest, into: &mut BTreeMap<Digest, u64>) {
    for descriptor in manifest.config.iter().chain(&manifest.layers) {
        into.insert(descriptor.digest.clone(), descriptor.size);
    }
}

/// Parses a stored manifest (it was checked when pushed; a damaged one is reported, not
/// served as something else).
pub fn parse(stored: &StoredManifest) -> Result<ParsedManifest, RegistryError> {
    ParsedManifest::parse(&stored.body, Some(&stored.media_type)).map_err(|e| {
        RegistryError::ManifestInvalid(format!("stored manifest {}: {e}", stored.digest))
    })
}

/// Most image summaries kept; past it the cache starts over (simple and bounded: a summary is
/// a few hundred bytes, and one is rebuilt from a manifest the content cache usually holds).
const MAX_CACHED_SUMMARIES: usize = 4096;

/// Summaries of image manifests by digest, shared by every request of this process. An image
/// manifest's summary depends on its bytes only, which its digest fixes, so it is right with
/// any number of instances over the same storage; whether a repository holds the manifest
/// is still read from storage by the caller every time. An index's summary depends on which
/// of its children the repository holds, which can change, so it is never kept.
static IMAGE_SUMMARIES: LazyLock<Mutex<HashMap<Digest, Summary>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn cached_image_summary(digest: &Digest) -> Option<Summary> {
    let cache = IMAGE_SUMMARIES.lock().unwrap_or_else(|p| p.into_inner());
    cache.get(digest).cloned()
}

fn keep_image_summary(digest: &Digest, summary: &Summary) {
    let mut cache = IMAGE_SUMMARIES.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= MAX_CACHED_SUMMARIES {
        cache.clear();
    }
    cache.insert(digest.clone(), summary.clone());
}

/// Summarises `stored`. Storage operations: none for an image (whose summary, once built, is
/// kept by digest: later pages do not parse it again); for an index, reading up to
/// [`MAX_CHILDREN_READ`] child manifests (a link read and, unless cached, a content read each).
pub async fn summarise(
    registry: &Registry,
    repo: &RepositoryName,
    stored: &StoredManifest,
) -> Result<Summary, RegistryError> {
    if let Some(summary) = cached_image_summary(&stored.digest) {
        return Ok(summary);
    }
    let parsed = parse(stored)?;
    let mut blobs = BTreeMap::new();
    let mut partial = false;
    let mut platforms = Vec::new();
    let is_index = parsed.kind == ManifestKind::Index;
    if is_index {
        platforms = parsed.manifests.iter().filter_map(platform).collect();
        let mut children: Vec<&Digest> = parsed.manifests.iter().map(|d| &d.digest).collect();
        children.sort();
        children.dedup();
        partial = children.len() > MAX_CHILDREN_READ;
        children.truncate(MAX_CHILDREN_READ);
        let read: Vec<Option<ParsedManifest>> = futures::stream::iter(children)
            .map(|digest| async move {
                let reference = Reference::Digest(digest.clone());
                match registry.get_manifest(repo, &reference).await {
                    Ok(child) => Ok(parse(&child).ok()),
                    Err(RegistryError::ManifestUnknown(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        for child in read {
            match child {
                Some(child) => blobs_of(&child, &mut blobs),
                None => partial = true,
            }
        }
    } else {
        blobs_of(&parsed, &mut blobs);
    }
    let summary = Summary {
        media_type: stored.media_type.clone(),
        is_index,
        artifact_type: artifact_type(&parsed),
        total_size: Size::of(blobs.values().sum()),
        size_partial: partial,
        platforms,
    };
    if !is_index {
        keep_image_summary(&stored.digest, &summary);
    }
    Ok(summary)
}

/// Config media types of runnable images; any other config makes an image manifest an
/// artifact.
pub const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

fn artifact_type(manifest: &ParsedManifest) -> Option<String> {
    manifest.artifact_type.clone().or_else(|| {
        let config = manifest.config.as_ref()?;
        let is_image = IMAGE_CONFIGS.contains(&config.media_type.as_str());
        (!is_image).then(|| config.media_type.clone())
    })
}
