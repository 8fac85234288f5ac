//! The manifest page: one manifest by tag or digest, its config summary, layers, children,
//! annotations and referrers.
//!
//! Storage operations: resolving a tag (one read), the manifest (a link read, and a content
//! read unless cached), an image's config (a link read, a `stat` and, when at most
//! [`MAX_CONFIG_BYTES`], a content read), an index's children as in
//! [`super::summary::summarise`], and the first referrers page (one listing and one read per
//! referrer, at most `REFERRERS_PAGE_ENTRIES`).

use std::collections::BTreeMap;

use registry_core::domain::media_types::OCI_EMPTY;
use registry_core::domain::{Descriptor, Digest, Reference, RepositoryName};
use registry_core::registry::{Registry, RegistryError};
use serde_json::Value;

use super::referrers::{self, Referrers};
use super::summary::{IMAGE_CONFIGS, Summary, parse, summarise};

/// Image configs larger than this are not read for the summary.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct ConfigSummary {
    pub platform: Option<String>,
    pub created: Option<String>,
    pub author: Option<String>,
    pub entrypoint: Option<String>,
    pub cmd: Option<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub labels: Vec<(String, String)>,
    pub history: usize,
}

#[derive(Debug, Clone)]
pub struct ManifestView {
    pub digest: Digest,
    pub body_size: u64,
    pub summary: Summary,
    pub config: Option<Descriptor>,
    pub config_summary: Option<ConfigSummary>,
    /// Why there is no config summary (an artifact's config, too large, missing).
    pub config_note: Option<String>,
    pub layers: Vec<Descriptor>,
    pub children: Vec<Descriptor>,
    pub annotations: BTreeMap<String, String>,
    pub subject: Option<Descriptor>,
    pub referrers: Referrers,
}

pub async fn load(
    registry: &Registry,
    repo: &RepositoryName,
    reference: &Reference,
) -> Result<ManifestView, RegistryError> {
    let stored = registry.get_manifest(repo, reference).await?;
    let parsed = parse(&stored)?;
    let (summary, referrers) = futures::join!(
        summarise(registry, repo, &stored),
        referrers::load(registry, repo, &stored.digest)
    );
    let (config_summary, config_note) = match &parsed.config {
        Some(config) => config_summary(registry, repo, config).await?,
        None => (None, None),
    };
    Ok(ManifestView {
        digest: stored.digest.clone(),
        body_size: stored.body.len() as u64,
        summary: summary?,
        config: parsed.config,
        config_summary,
        config_note,
        layers: parsed.layers,
        children: parsed.manifests,
        annotations: parsed.annotations.unwrap_or_default(),
        subject: parsed.subject,
        referrers: referrers?,
    })
}

async fn config_summary(
    registry: &Registry,
    repo: &RepositoryName,
    config: &Descriptor,
) -> Result<(Option<ConfigSummary>, Option<String>), RegistryError> {
    if config.media_type == OCI_EMPTY || !IMAGE_CONFIGS.contains(&config.media_type.as_str()) {
        let note = format!("an artifact config ({})", config.media_type);
        return Ok((None, Some(note)));
    }
    let bytes = match registry
        .small_blob(repo, &config.digest, MAX_CONFIG_BYTES)
        .await
    {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok((None, Some("too large to summarise".into()))),
        Err(RegistryError::BlobUnknown(_)) => {
            return Ok((None, Some("missing from the repository".into())));
        }
        Err(e) => return Err(e),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) => Ok((Some(summarise_config(&value)), None)),
        Err(_) => Ok((None, Some("not a JSON document".into()))),
    }
}

/// What an image config says about running the image.
pub fn summarise_config(value: &Value) -> ConfigSummary {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let words = |v: Option<&Value>| {
        let items: Vec<String> = v?
            .as_array()?
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        Some(serde_json::to_string(&items).unwrap_or_default())
    };
    let run = value.get("config");
    let field = |key: &str| run.and_then(|c| c.get(key));
    let platform = match (text(value.get("os")), text(value.get("architecture"))) {
        (Some(os), Some(arch)) => Some(match text(value.get("variant")) {
            Some(variant) => format!("{os}/{arch}/{variant}"),
            None => format!("{os}/{arch}"),
        }),
        _ => None,
    };
    ConfigSummary {
        platform,
        created: text(value.get("created")),
        author: text(value.get("author")),
        entrypoint: words(field("Entrypoint")),
        cmd: words(field("Cmd")),
        working_dir: text(field("WorkingDir")).filter(|s| !s.is_empty()),
        user: text(field("User")).filter(|s| !s.is_empty()),
        labels: field("Labels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        history: value
            .get("history")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
    }
}
