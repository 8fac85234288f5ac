//! A manifest's referrers, grouped by what they are: signatures, SBOMs, attestations, other.

use std::collections::BTreeMap;

use registry_core::domain::{Digest, RepositoryName};
use registry_core::registry::{Registry, RegistryError};
use serde::Deserialize;

/// The kinds of referrer the page tells apart, in the order shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Signatures,
    Sboms,
    Attestations,
    Other,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Signatures => "Signatures",
            Group::Sboms => "SBOMs",
            Group::Attestations => "Attestations",
            Group::Other => "Other artifacts",
        }
    }

    /// By artifact type (or, without one, media type), as the common tools write them:
    /// cosign and Notation signatures and Sigstore bundles; SPDX and CycloneDX documents;
    /// in-toto statements and provenance.
    pub fn of(artifact_type: &str) -> Group {
        let t = artifact_type.to_ascii_lowercase();
        let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
        if any(&[
            "signature",
            "cosign.artifact.sig",
            "sigstore.bundle",
            ".sig.",
        ]) {
            Group::Signatures
        } else if any(&["spdx", "cyclonedx", "sbom", "syft"]) {
            Group::Sboms
        } else if any(&[
            "in-toto",
            "intoto",
            "attestation",
            "provenance",
            "vex",
            "vuln",
        ]) {
            Group::Attestations
        } else {
            Group::Other
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Referrer {
    pub fn kind(&self) -> &str {
        self.artifact_type.as_deref().unwrap_or(&self.media_type)
    }
}

#[derive(Debug, Clone)]
pub struct Referrers {
    /// Non-empty groups, in [`Group`] order; referrers in digest order within each.
    pub groups: Vec<(Group, Vec<Referrer>)>,
    /// More referrers follow this first page (the API's referrers page bound).
    pub more: bool,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

/// The first page of `subject`'s referrers in `repo` (the API's referrers cost: one listing
/// and one read per referrer, at most `REFERRERS_PAGE_ENTRIES`).
pub async fn load(
    registry: &Registry,
    repo: &RepositoryName,
    subject: &Digest,
) -> Result<Referrers, RegistryError> {
    let page = registry.referrers(repo, subject, None, None).await?;
    let index: Index = serde_json::from_slice(&page.index)
        .map_err(|e| RegistryError::ManifestInvalid(format!("referrers index: {e}")))?;
    let mut groups: BTreeMap<Group, Vec<Referrer>> = BTreeMap::new();
    for referrer in index.manifests {
        groups
            .entry(Group::of(referrer.kind()))
            .or_default()
            .push(referrer);
    }
    Ok(Referrers {
        groups: groups.into_iter().collect(),
        more: page.next_last.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_the_common_artifact_types() {
        for (t, group) in [
            (
                "application/vnd.dev.cosign.artifact.sig.v1+json",
                Group::Signatures,
            ),
            ("application/vnd.cncf.notary.signature", Group::Signatures),
            (
                "application/vnd.dev.sigstore.bundle.v0.3+json",
                Group::Signatures,
            ),
            ("application/spdx+json", Group::Sboms),
            ("application/vnd.cyclonedx+json", Group::Sboms),
            ("application/vnd.in-toto+json", Group::Attestations),
            (
                "application/vnd.example.provenance+json",
                Group::Attestations,
            ),
            ("application/vnd.oci.image.config.v1+json", Group::Other),
        ] {
            assert_eq!(Group::of(t), group, "{t}");
        }
    }
}
