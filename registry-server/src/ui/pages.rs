//! The read-only pages. Each asks the access layer for exactly what the API route it mirrors
//! needs (the catalog, or pull on the repository), then loads its model and renders it.

use actix_web::HttpRequest;
use actix_web::http::Method;
use registry_core::domain::{Reference, RepositoryName};
use registry_core::registry::RegistryError;

use super::format::{DigestText, Size, time};
use super::model::{self, manifest::ManifestView, referrers::Referrer};
use super::site::Site;
use super::views::{
    DescriptorView, GroupView, ManifestPage, ReferrerView, RepositoriesPage, TagView, TagsPage,
};
use super::{can_delete, render, render_sized};
use crate::http::AppState;
use crate::http::access::authorize;
use crate::http::errors::{ApiError, ApiResult};
use crate::http::headers::{pagination, query_param};
use crate::http::routes::Route;

/// `/ui/`: the repositories the caller may pull, as the catalog lists them.
pub async fn repositories(req: &HttpRequest, state: &AppState, site: &Site) -> ApiResult {
    let grant = authorize(req, state, &Route::Catalog, &Method::GET).await?;
    let (n, last) = pagination(req)?;
    let n = model::page_size(n);
    let filter = query_param(req, "filter").unwrap_or_default();
    let visible = |name: &str| grant.lists(name);
    let loaded =
        model::repositories::load(&state.registry, &visible, &filter, n, last.as_deref()).await?;
    let page = RepositoriesPage {
        chrome: site.chrome("Repositories", Vec::new()),
        next_href: loaded
            .next_last
            .as_deref()
            .map(|next| site.repositories_page(&filter, Some(next), n)),
        first_href: last.map(|_| site.repositories_page(&filter, None, n)),
        filter,
        names: loaded.names,
        scanned: loaded.scanned,
    };
    render(&page)
}

/// `/ui/r/<name>`: one page of the repository's tags.
pub async fn tags(
    req: &HttpRequest,
    state: &AppState,
    site: &Site,
    repo: &RepositoryName,
) -> ApiResult {
    let grant = authorize(req, state, &Route::Tags(repo.clone()), &Method::GET).await?;
    let (n, last) = pagination(req)?;
    let n = model::page_size(n);
    let loaded = model::tags::load(&state.registry, repo, n, last.as_deref()).await?;
    let name = repo.as_str();
    let loaded_rows = loaded.rows.len();
    let rows = loaded
        .rows
        .into_iter()
        .map(|row| {
            let summary = row.summary.as_ref();
            TagView {
                href: site.manifest(name, &row.tag),
                delete_href: site.delete(name, &row.tag),
                pulls: site.pulls(name, &format!(":{}", row.tag)),
                digest: row.digest.as_ref().map(|d| DigestText::of(d.as_str())),
                kind: summary.map_or("", |s| {
                    kind(s.media_type.as_str(), s.artifact_type.is_some())
                }),
                is_index: summary.is_some_and(|s| s.is_index),
                media_type: summary.map(|s| s.media_type.clone()).unwrap_or_default(),
                artifact_type: summary.and_then(|s| s.artifact_type.clone()),
                size: summary.map(|s| s.total_size.clone()),
                partial: summary.is_some_and(|s| s.size_partial),
                pushed: row.pushed.map(time).unwrap_or_else(|| "—".into()),
                platforms: summary.map(|s| s.platforms.clone()).unwrap_or_default(),
                problem: row.problem,
                tag: row.tag,
            }
        })
        .collect();
    let capacity = TAG_ROW_BYTES * loaded_rows + 8 * 1024;
    let page = TagsPage {
        chrome: site.chrome(name, site.repo_crumbs(name)),
        repo: name.to_owned(),
        rows,
        can_delete: can_delete(state, &grant, repo),
        first_href: last.map(|_| site.tags(name)),
        next_href: loaded
            .next_last
            .as_deref()
            .map(|next| site.tags_page(name, next, n)),
    };
    render_sized(&page, capacity)
}

/// About what a row of the tags page takes in HTML (1.5 to 1.7 KB with its pull commands and
/// delete button), to size the page's buffer once.
const TAG_ROW_BYTES: usize = 1700;

/// `image` or `artifact` (an image manifest with an artifact type).
fn kind(media_type: &str, has_artifact_type: bool) -> &'static str {
    if has_artifact_type {
        "artifact"
    } else if media_type.contains("index") || media_type.contains("list") {
        "index"
    } else {
        "image"
    }
}

/// The reference in a page's URL; one that cannot name a manifest names none (404).
pub fn parse_reference(text: &str) -> Result<Reference, ApiError> {
    text.parse()
        .map_err(|_| ApiError::Registry(RegistryError::ManifestUnknown(text.to_owned())))
}

/// `/ui/r/<name>/-/m/<reference>`: one manifest.
pub async fn manifest(
    req: &HttpRequest,
    state: &AppState,
    site: &Site,
    repo: &RepositoryName,
    reference_text: &str,
) -> ApiResult {
    let route = Route::Manifest(repo.clone(), reference_text.to_owned());
    let grant = authorize(req, state, &route, &Method::GET).await?;
    let reference = parse_reference(reference_text)?;
    let view = model::manifest::load(&state.registry, repo, &reference).await?;
    let page = manifest_page(state, site, repo, &reference, view, &grant);
    render(&page)
}

fn manifest_page(
    state: &AppState,
    site: &Site,
    repo: &RepositoryName,
    reference: &Reference,
    view: ManifestView,
    grant: &crate::auth::Grant,
) -> ManifestPage {
    let name = repo.as_str();
    let manifest_link = |digest: &str| site.manifest(name, digest);
    let descriptor = |d: &registry_core::domain::Descriptor| DescriptorView {
        digest: DigestText::of(d.digest.as_str()),
        media_type: d.media_type.clone(),
        size: Size::of(d.size),
        href: manifest_link(d.digest.as_str()),
        platform: model::summary::platform(d),
    };
    let referrer = |r: Referrer| ReferrerView {
        digest: DigestText::of(r.digest.as_str()),
        href: manifest_link(r.digest.as_str()),
        artifact_type: r.kind().to_owned(),
        size: Size::of(r.size),
        annotations: r.annotations.into_iter().collect(),
    };
    let (separator, shown) = match reference {
        Reference::Tag(tag) => (":", tag.as_str().to_owned()),
        Reference::Digest(digest) => ("@", DigestText::of(digest.as_str()).short),
    };
    let digest = view.digest.as_str().to_owned();
    let mut crumbs = site.repo_crumbs(name);
    crumbs.push((
        format!("{separator}{shown}"),
        site.manifest(name, &reference.to_string()),
    ));
    ManifestPage {
        chrome: site.chrome(format!("{name}{separator}{shown}"), crumbs),
        repo: name.to_owned(),
        separator,
        reference: shown,
        pulls: site
            .pulls(name, &format!("@{digest}"))
            .into_iter()
            .chain(match reference {
                Reference::Tag(tag) => site.pulls(name, &format!(":{tag}")),
                Reference::Digest(_) => Vec::new(),
            })
            .collect(),
        digest: DigestText::of(&digest),
        media_type: view.summary.media_type.clone(),
        artifact_type: view.summary.artifact_type.clone(),
        body_size: Size::of(view.body_size),
        total_size: view.summary.total_size.clone(),
        partial: view.summary.size_partial,
        is_index: view.summary.is_index,
        platforms: view.summary.platforms.clone(),
        subject: view.subject.as_ref().map(descriptor),
        config: view.config.as_ref().map(descriptor),
        config_summary: view.config_summary,
        config_note: view.config_note,
        layers: view.layers.iter().map(descriptor).collect(),
        children: view.children.iter().map(descriptor).collect(),
        annotations: view.annotations.into_iter().collect(),
        groups: view
            .referrers
            .groups
            .into_iter()
            .map(|(group, items)| GroupView {
                title: group.title(),
                items: items.into_iter().map(referrer).collect(),
            })
            .collect(),
        referrers_more: view.referrers.more,
        can_delete: can_delete(state, grant, repo),
        delete_href: site.delete(name, &digest),
    }
}

/// Not a page: used by the tests of this module only.
#[cfg(test)]
mod tests {
    use super::kind;

    #[test]
    fn kinds() {
        assert_eq!(
            kind("application/vnd.oci.image.index.v1+json", false),
            "index"
        );
        assert_eq!(
            kind(
                "application/vnd.docker.distribution.manifest.list.v2+json",
                false
            ),
            "index"
        );
        assert_eq!(
            kind("application/vnd.oci.image.manifest.v1+json", false),
            "image"
        );
        assert_eq!(
            kind("application/vnd.oci.image.manifest.v1+json", true),
            "artifact"
        );
    }
}
