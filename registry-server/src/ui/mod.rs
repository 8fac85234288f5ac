//! The built-in web view: server-rendered pages under `<http.prefix>/ui/` (see [`routes`])
//! showing repositories, tags, manifests and referrers, switched on by the `ui` config
//! section. Templates and assets are compiled into the binary.
//!
//! - Data comes only through `registry_core::registry::Registry`, in pages of bounded cost
//!   (each loader in [`model`] states its storage operations).
//! - Access is the API's: each page asks the access layer (`http::access::authorize`) for
//!   what the API route it mirrors needs, so a page shows only what the caller may pull and
//!   a refusal is the API's 401 (with its challenge, which makes browsers ask for htpasswd
//!   credentials) or 403. Delete buttons appear only with deletes enabled and `delete`
//!   access; the one write is [`delete`], behind a confirmation page.
//! - Every value printed is escaped by the templates; every response carries the security
//!   headers of [`headers`].

mod assets;
mod delete;
pub mod format;
mod headers;
pub mod model;
mod pages;
pub mod routes;
mod site;
mod views;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use registry_core::domain::RepositoryName;

use crate::auth::Grant;
use crate::auth::access::{Access, Action};
use crate::http::AppState;
use crate::http::errors::{ApiError, ApiResult};
use routes::UiRoute;
use site::Site;
use views::MessagePage;

/// Whether `path` (below the prefix) belongs to the web view when it is on: `/` (redirected
/// to it) and everything under `/ui`.
pub fn claims(path: &str) -> bool {
    path.is_empty() || path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// Answers a request for a path [`claims`] accepted. Never an API error envelope: refusals
/// and failures are HTML pages with the API's status and challenge.
pub async fn serve(req: &HttpRequest, state: &AppState, path: &str) -> HttpResponse {
    let site = Site::of(req, state);
    if path.is_empty() || path == "/" {
        return redirect(&site.repositories());
    }
    let Some(route) = routes::recognise(path) else {
        return not_found(&site);
    };
    let method = req.method();
    let allow = match route {
        UiRoute::Delete(..) => "GET, HEAD, POST",
        _ => "GET, HEAD",
    };
    if !allow.split(", ").any(|m| m == method.as_str()) {
        let mut response = error_page(
            &site,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            &format!("This page answers {allow}."),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        return response;
    }
    let outcome = match &route {
        UiRoute::Root => Ok(redirect(&site.repositories())),
        UiRoute::Asset(name) => Ok(asset(name).unwrap_or_else(|| not_found(&site))),
        UiRoute::Repositories => pages::repositories(req, state, &site).await,
        UiRoute::Tags(repo) => pages::tags(req, state, &site, repo).await,
        UiRoute::Manifest(repo, reference) => {
            pages::manifest(req, state, &site, repo, reference).await
        }
        UiRoute::Delete(repo, reference) => {
            delete::handle(req, state, &site, repo, reference).await
        }
    };
    outcome.unwrap_or_else(|e| api_error_page(&site, &e))
}

/// Whether the caller may delete in `repo`, and the registry allows deletes at all.
pub fn can_delete(state: &AppState, grant: &Grant, repo: &RepositoryName) -> bool {
    let settings = state.registry.settings();
    settings.delete_enabled
        && !settings.read_only
        && grant.allows(&Access::repository(repo.as_str(), Action::Delete))
}

fn redirect(to: &str) -> HttpResponse {
    let mut response = HttpResponse::Found();
    headers::secure(&mut response)
        .insert_header((header::LOCATION, to))
        .finish()
}

fn asset(name: &str) -> Option<HttpResponse> {
    let asset = assets::find(name)?;
    let mut response = HttpResponse::Ok();
    Some(
        headers::secure(&mut response)
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(asset.body),
    )
}

/// A rendered page (200).
fn render(page: &impl Template) -> ApiResult {
    render_with(StatusCode::OK, page)
}

/// [`render`] into a buffer of `capacity` bytes: a page of many rows (1.5 MB for 1,000 tags)
/// would otherwise be copied each time the buffer doubles.
fn render_sized(page: &impl Template, capacity: usize) -> ApiResult {
    let mut html = String::with_capacity(capacity);
    page.render_into(&mut html).map_err(|e| {
        tracing::error!(error = %e, "rendering a web-view page");
        ApiError::Registry(registry_core::registry::RegistryError::Unsupported(
            "the page could not be rendered".into(),
        ))
    })?;
    let mut response = HttpResponse::build(StatusCode::OK);
    Ok(headers::page(&mut response).body(html))
}

fn render_with(status: StatusCode, page: &impl Template) -> ApiResult {
    let html = page.render().map_err(|e| {
        tracing::error!(error = %e, "rendering a web-view page");
        ApiError::Registry(registry_core::registry::RegistryError::Unsupported(
            "the page could not be rendered".into(),
        ))
    })?;
    let mut response = HttpResponse::build(status);
    Ok(headers::page(&mut response).body(html))
}

/// A page with a heading and one sentence, and an optional link (href, label).
fn message(
    status: StatusCode,
    site: &Site,
    heading: &str,
    text: &str,
    next: Option<(String, &str)>,
) -> ApiResult {
    let (next_href, next_label) = match next {
        Some((href, label)) => (Some(href), label.to_owned()),
        None => (None, String::new()),
    };
    let page = MessagePage {
        chrome: site.chrome(heading, Vec::new()),
        heading: heading.to_owned(),
        message: text.to_owned(),
        is_error: !status.is_success(),
        next_href,
        next_label,
    };
    render_with(status, &page)
}

/// An error page; if even that cannot be rendered, plain text.
fn error_page(site: &Site, status: StatusCode, heading: &str, text: &str) -> HttpResponse {
    message(
        status,
        site,
        heading,
        text,
        Some((site.repositories(), "all repositories")),
    )
    .unwrap_or_else(|_| {
        let mut response = HttpResponse::build(status);
        headers::secure(&mut response)
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body(text.to_owned())
    })
}

fn not_found(site: &Site) -> HttpResponse {
    error_page(
        site,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page.",
    )
}

/// The API's answer to `error` (status, challenge), as a page.
fn api_error_page(site: &Site, error: &ApiError) -> HttpResponse {
    let status = error.status_code();
    let (heading, text) = match error {
        ApiError::Auth(refusal) if refusal.denied => (
            "Access denied",
            "You may not see this page with the credentials you gave.".to_owned(),
        ),
        ApiError::Auth(_) => (
            "Sign in required",
            "This registry needs credentials to show this page.".to_owned(),
        ),
        _ if status.is_server_error() => {
            tracing::error!(%error, "web-view page failed");
            (
                "Something went wrong",
                "The registry could not read this page's content; see its log.".to_owned(),
            )
        }
        ApiError::Registry(registry_core::registry::RegistryError::NameUnknown(_)) => (
            "Not found",
            "This repository has no tags (it does not exist, or holds only untagged content)."
                .to_owned(),
        ),
        _ if status == StatusCode::NOT_FOUND => ("Not found", error.to_string()),
        _ => ("Cannot show this page", error.to_string()),
    };
    let mut response = error_page(site, status, heading, &text);
    // The API's challenge, so that a browser asks for credentials.
    let api = error.error_response();
    if let Some(challenge) = api.headers().get(header::WWW_AUTHENTICATE) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge.clone());
    }
    response
}
