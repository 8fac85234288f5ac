//! Deleting a tag or a manifest from the web view: a confirmation page (GET), then a form
//! POST that does what the API's `DELETE /v2/<name>/manifests/<reference>` does, under the
//! same access check (`delete` on the repository) and the same `storage.delete.enabled`.
//!
//! A browser sends stored Basic credentials with any request to the registry, including
//! one a foreign page makes it send; so the POST is refused unless the browser says it
//! comes from the web view's own origin (`Origin`, or `Sec-Fetch-Site: same-origin`).

use actix_web::HttpRequest;
use actix_web::http::{Method, StatusCode, header};
use registry_core::domain::{Reference, RepositoryName};

use super::pages::parse_reference;
use super::site::Site;
use super::views::{ConfirmPage, MessagePage};
use super::{message, render};
use crate::http::AppState;
use crate::http::access::authorize;
use crate::http::errors::ApiResult;
use crate::http::routes::Route;

/// What deleting `reference` does, in words.
fn describe(reference: &Reference) -> (String, String) {
    match reference {
        Reference::Tag(tag) => (
            format!("tag {tag}"),
            format!(
                "The tag {tag} will no longer name a manifest. The manifest and any other tags \
                 pointing to it stay."
            ),
        ),
        Reference::Digest(digest) => (
            "this manifest".to_owned(),
            format!(
                "The manifest {digest} and every tag pointing to it will be deleted. Its layers \
                 stay until garbage collection."
            ),
        ),
    }
}

/// GET (confirmation) or POST (delete) on `/ui/r/<name>/-/delete/<reference>`.
pub async fn handle(
    req: &HttpRequest,
    state: &AppState,
    site: &Site,
    repo: &RepositoryName,
    reference_text: &str,
) -> ApiResult {
    let route = Route::Manifest(repo.clone(), reference_text.to_owned());
    if *req.method() == Method::POST && !same_origin(req) {
        return message(
            StatusCode::FORBIDDEN,
            site,
            "Refused",
            "This delete did not come from the registry's own pages (its Origin is missing or \
             foreign), so it was not carried out.",
            None,
        );
    }
    authorize(req, state, &route, &Method::DELETE).await?;
    let reference = parse_reference(reference_text)?;
    let settings = state.registry.settings();
    if !settings.delete_enabled || settings.read_only {
        return message(
            StatusCode::METHOD_NOT_ALLOWED,
            site,
            "Deletes are disabled",
            "This registry does not allow deletes (storage.delete.enabled, or read-only mode).",
            Some((site.tags(repo.as_str()), "back to the repository")),
        );
    }
    let name = repo.as_str();
    let (what, consequence) = describe(&reference);
    if *req.method() != Method::POST {
        // Only a manifest that exists is offered for deletion.
        state.registry.resolve(repo, &reference).await?;
        let back_href = match &reference {
            Reference::Tag(_) => site.tags(name),
            Reference::Digest(d) => site.manifest(name, d.as_str()),
        };
        let page = ConfirmPage {
            chrome: site.chrome(format!("Delete {what}"), site.repo_crumbs(name)),
            what,
            consequence,
            action_href: site.delete(name, reference_text),
            back_href,
        };
        return render(&page);
    }
    state.registry.delete_manifest(repo, &reference).await?;
    tracing::info!(repository = name, reference = %reference, "deleted from the web view");
    let page = MessagePage {
        chrome: site.chrome("Deleted", site.repo_crumbs(name)),
        heading: "Deleted".into(),
        message: format!("Deleted {what} from {name}."),
        is_error: false,
        next_href: Some(site.tags(name)),
        next_label: "back to the repository".into(),
    };
    render(&page)
}

/// Whether the browser says the request comes from this origin.
fn same_origin(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let info = req.connection_info();
        return origin == format!("{}://{}", info.scheme(), info.host());
    }
    headers
        .get("Sec-Fetch-Site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "same-origin")
}
