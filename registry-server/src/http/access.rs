//! The access each endpoint needs, and the one place requests are checked against the
//! access controller, before any handler runs.
//!
//! As in the reference: reads (GET, HEAD) need `pull`; writes (POST, PUT, PATCH) need `pull`
//! and `push`; DELETE needs `delete`; the catalog needs `registry:catalog:*`; `/v2/` needs
//! valid credentials only. Unlike the reference, a cross-repository mount's `pull` on its
//! source is optional: without it the mount becomes a plain upload, and nothing says whether
//! the blob exists there.

use actix_web::HttpRequest;
use actix_web::http::{Method, header};
use registry_core::domain::RepositoryName;

use super::AppState;
use super::errors::ApiError;
use super::headers::query_param;
use super::routes::Route;
use crate::auth::access::{Access, Action, Needs};
use crate::auth::{Caller, Credentials, Grant};

/// What `method` on `route` needs.
pub fn needs(route: &Route, method: &Method, req: &HttpRequest) -> Needs {
    let repository = match route {
        Route::Base => return Needs::default(),
        Route::Catalog => {
            return Needs {
                required: vec![Access::catalog()],
                optional: Vec::new(),
            };
        }
        Route::Tags(repo)
        | Route::Manifest(repo, _)
        | Route::Blob(repo, _)
        | Route::UploadStart(repo)
        | Route::Upload(repo, _)
        | Route::Referrers(repo, _) => repo.as_str(),
    };
    let actions: &[Action] = match *method {
        Method::GET | Method::HEAD => &[Action::Pull],
        Method::POST | Method::PUT | Method::PATCH => &[Action::Pull, Action::Push],
        Method::DELETE => &[Action::Delete],
        // Not an operation of any endpoint (answered 405); needs what the most needs.
        _ => &[Action::Pull, Action::Push, Action::Delete],
    };
    let required = actions
        .iter()
        .map(|&action| Access::repository(repository, action))
        .collect();
    let optional = match mount_source(route, method, req) {
        Some(from) => vec![Access::repository(from.as_str(), Action::Pull)],
        None => Vec::new(),
    };
    Needs { required, optional }
}

/// The source repository of a cross-repository mount request, when it names a valid one.
pub fn mount_source(route: &Route, method: &Method, req: &HttpRequest) -> Option<RepositoryName> {
    if !matches!(route, Route::UploadStart(_)) || *method != Method::POST {
        return None;
    }
    query_param(req, "mount")?;
    query_param(req, "from")?.parse().ok()
}

/// The caller's grant for `method` on `route`, or the refusal to send.
pub async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    route: &Route,
    method: &Method,
) -> Result<Grant, ApiError> {
    // Without access control there is nothing to compute per request.
    if state.access.is_open() {
        return Ok(Grant::Everything);
    }
    let needs = needs(route, method, req);
    let headers = req.headers();
    let host = req.connection_info().host().to_owned();
    let caller = Caller {
        credentials: Credentials::parse(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes())),
        host: &host,
        forwarded_proto: headers
            .get("X-Forwarded-Proto")
            .and_then(|v| v.to_str().ok()),
        peer: req.peer_addr(),
    };
    state
        .access
        .authorize(caller, &needs)
        .await
        .map_err(ApiError::Auth)
}
