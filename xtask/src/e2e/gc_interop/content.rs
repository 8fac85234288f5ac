//! What the scenarios push, and which blobs each collection must therefore keep or remove.

use std::collections::BTreeSet;

use super::http::Http;
use super::layouts::{Layout, Manifest, OCI_MANIFEST, random_bytes};
use crate::e2e::clients::{skopeo, skopeo_copy_digest};
use crate::e2e::scenarios::{Context, ensure};
use crate::process::Result;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What a fill pushed, and so what each collection must keep or remove.
pub(super) struct Content {
    /// `repo:tag` and the manifest it names: kept by every collection.
    pub(super) tagged: Vec<(String, Manifest)>,
    /// `repo:tag` of a multi-platform index, the index, its (untagged) children.
    pub(super) index: Option<(String, Manifest, Vec<Manifest>)>,
    /// Repository and manifest of an untagged referrer of the first tagged image.
    pub(super) referrer: Option<(String, Manifest)>,
    /// Repository and manifest a tag named before it was overwritten: untagged now.
    pub(super) overwritten: (String, Manifest),
    /// Repository and manifest deleted by digest.
    pub(super) deleted: Option<(String, Manifest)>,
    /// Repository and digest of blobs uploaded and never referenced.
    pub(super) orphans: Vec<(String, String)>,
}

impl Content {
    /// Every manifest a tag reaches (directly, through an index, as a referrer).
    pub(super) fn kept_manifests(&self) -> Vec<&Manifest> {
        let mut out: Vec<&Manifest> = self.tagged.iter().map(|(_, m)| m).collect();
        if let Some((_, index, children)) = &self.index {
            out.push(index);
            out.extend(children);
        }
        if let Some((_, referrer)) = &self.referrer {
            out.push(referrer);
        }
        out
    }

    /// The blobs (manifests included) of every kept manifest.
    pub(super) fn kept_blobs(&self) -> Result<BTreeSet<String>> {
        blobs_of(self.kept_manifests())
    }

    /// The blobs only the overwritten (now untagged) manifest names.
    pub(super) fn overwritten_blobs(&self) -> Result<BTreeSet<String>> {
        blobs_of([&self.overwritten.1])
    }

    /// The blobs no manifest revision names: the deleted manifest's and the orphans.
    pub(super) fn unreferenced_blobs(&self) -> Result<BTreeSet<String>> {
        let mut out = match &self.deleted {
            Some((_, deleted)) => blobs_of([deleted])?,
            None => BTreeSet::new(),
        };
        out.extend(self.orphans.iter().map(|(_, d)| d.clone()));
        Ok(out)
    }
}

pub(super) fn blobs_of<'a>(
    manifests: impl IntoIterator<Item = &'a Manifest>,
) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for manifest in manifests {
        out.insert(manifest.digest.clone());
        out.extend(manifest.references()?);
    }
    Ok(out)
}

/// Pushes the scenario's content: the OCI image, the index, the referrer, the overwritten tag
/// and the deleted manifest through `ours`; the Docker image and one orphan through `other`
/// (the reference, or ours again). With `full` false, only single-platform tagged images and
/// the overwritten tag (what the reference's `--delete-untagged` handles sanely).
pub(super) fn fill(
    cx: &Context<'_>,
    layout: &mut Layout,
    ours: &str,
    other: &str,
    full: bool,
) -> Result<Content> {
    let scratch = cx.dir.join("scratch");
    let push = |source: &str, host: &str, target: &str, extra: &[&str]| {
        skopeo_copy_digest(
            source,
            &format!("docker://{host}/{target}"),
            extra,
            &scratch,
        )
        .map_err(|e| format!("pushing {target} to {host}: {e}"))
    };
    let (oci_digest, oci_bytes) = cx.image.manifest()?;
    let oci = Manifest::from_bytes(oci_bytes, OCI_MANIFEST);
    let pushed = push(&cx.image.reference(), ours, "gci/oci:v1", &[])?;
    ensure(pushed == oci_digest, || {
        format!("skopeo pushed gci/oci:v1 as {pushed}, the layout's manifest is {oci_digest}")
    })?;
    let docker_digest = push(
        &cx.image.reference(),
        other,
        "gci/docker:v1",
        &["--format", "v2s2"],
    )?;
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{other}/gci/docker:v1"),
    ])?;
    let docker = Manifest::from_bytes(raw.into_bytes(), DOCKER_MANIFEST);
    ensure(docker.digest == docker_digest, || {
        format!(
            "{other} serves gci/docker:v1 as {}, skopeo pushed {docker_digest}",
            docker.digest
        )
    })?;

    let overwritten = layout.image(Some("over-old"), 30, 2, "amd64", None)?;
    let current = layout.image(Some("over-new"), 31, 2, "amd64", None)?;
    for (tag, manifest) in [("over-old", &overwritten), ("over-new", &current)] {
        let pushed = push(&layout.reference(tag), ours, "gci/over:v1", &[])?;
        ensure(pushed == manifest.digest, || {
            format!(
                "skopeo pushed gci/over:v1 as {pushed}, expected {}",
                manifest.digest
            )
        })?;
    }
    let mut content = Content {
        tagged: vec![
            ("gci/oci:v1".into(), oci),
            ("gci/docker:v1".into(), docker),
            ("gci/over:v1".into(), current),
        ],
        index: None,
        referrer: None,
        overwritten: ("gci/over".into(), overwritten),
        deleted: None,
        orphans: Vec::new(),
    };
    if !full {
        return Ok(content);
    }

    let (index, children) = layout.index("multi", 10)?;
    let pushed = push(&layout.reference("multi"), ours, "gci/multi:v1", &["--all"])?;
    ensure(pushed == index.digest, || {
        format!(
            "skopeo pushed gci/multi:v1 as {pushed}, expected {}",
            index.digest
        )
    })?;
    content.index = Some(("gci/multi:v1".into(), index, children));

    // Pushed by digest, untagged, as signing and SBOM tools do.
    let subject = content.tagged[0].1.clone();
    let referrer = layout.referrer(20, &subject)?;
    let http = Http::new()?;
    for blob in referrer.references()? {
        let bytes = std::fs::read(layout.dir.join("blobs/sha256").join(&blob[7..]))
            .map_err(|e| e.to_string())?;
        http.upload_blob(ours, "gci/oci", &bytes)?;
    }
    http.put_manifest(ours, "gci/oci", &referrer)?;
    content.referrer = Some(("gci/oci".into(), referrer));

    let deleted = layout.image(Some("gone"), 40, 1, "amd64", None)?;
    push(&layout.reference("gone"), ours, "gci/gone:v1", &[])?;
    skopeo(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{ours}/gci/gone:v1"),
    ])
    .map_err(|e| format!("deleting gci/gone:v1 on {ours}: {e}"))?;
    content.deleted = Some(("gci/gone".into(), deleted));

    for (n, host) in [ours, other].into_iter().enumerate() {
        let digest = http.upload_blob(host, "gci/orphan", &random_bytes(50 + n as u64, 70_000))?;
        content.orphans.push(("gci/orphan".into(), digest));
    }
    Ok(content)
}
