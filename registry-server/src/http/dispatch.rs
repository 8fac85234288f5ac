//! Request → endpoint → handler.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::access::authorize;
use super::errors::{ApiError, ApiResult};
use super::handlers::{base, blobs, catalog, manifests, referrers, tags, uploads};
use super::routes::{Route, RouteError, recognise};
use crate::metrics::http::set_route;

pub async fn dispatch(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let Some(path) = req.path().strip_prefix(state.urls.prefix.as_str()) else {
        return Err(ApiError::NoEndpoint);
    };
    if state.ui_enabled && crate::ui::claims(path) {
        return Ok(crate::ui::serve(&req, &state, path).await);
    }
    if state.metrics_on_main && path == "/metrics" && req.method() == Method::GET {
        set_route(&req, "/metrics");
        return Ok(base::metrics(&state));
    }
    let recognised = recognise(path);
    if let Ok(route) = &recognised {
        set_route(&req, route.template());
    }
    // As in the reference, an unhealthy instance refuses everything, so that load balancers
    // (which probe `/v2/`) drain it.
    if !state.health.is_healthy() {
        return Err(ApiError::Unavailable);
    }
    let route = recognised.map_err(|e| match e {
        RouteError::NoEndpoint => ApiError::NoEndpoint,
        RouteError::Name(e) => ApiError::Registry(e),
    })?;
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let allow = allowed_methods(&route);
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return Err(ApiError::MethodNotAllowed { allow });
    }
    let grant = authorize(&req, &state, &route, &method).await?;
    if let Some(proxy) = &state.proxy
        && let Some(answer) = crate::proxy::serve::route(&req, &state, proxy, &route).await
    {
        return answer;
    }
    match route {
        Route::Base if method == Method::GET || head => Ok(base::version_check()),
        Route::Catalog if method == Method::GET => catalog::list(&req, &state, &grant).await,
        Route::Tags(repo) if method == Method::GET => tags::list(&req, &state, &repo).await,
        Route::Manifest(repo, reference) => match method {
            Method::GET | Method::HEAD => manifests::get(&req, &state, &repo, &reference).await,
            Method::PUT => manifests::put(&req, body, &state, &repo, &reference).await,
            Method::DELETE => manifests::delete(&state, &repo, &reference).await,
            _ => Err(ApiError::MethodNotAllowed { allow }),
        },
        Route::Blob(repo, digest) => match method {
            Method::GET | Method::HEAD => blobs::get(&req, &state, &repo, &digest, head).await,
            Method::DELETE => blobs::delete(&state, &repo, &digest).await,
            _ => Err(ApiError::MethodNotAllowed { allow }),
        },
        Route::UploadStart(repo) if method == Method::POST => {
            uploads::start(&req, body, &state, &repo, &grant).await
        }
        Route::Upload(repo, id) => match method {
            Method::GET => uploads::status(&state, &repo, &id).await,
            Method::PATCH => uploads::append(&req, body, &state, &repo, &id).await,
            Method::PUT => uploads::complete(&req, body, &state, &repo, &id).await,
            Method::DELETE => uploads::cancel(&state, &repo, &id).await,
            _ => Err(ApiError::MethodNotAllowed { allow }),
        },
        Route::Referrers(repo, digest) if method == Method::GET => {
            referrers::list(&req, &state, &repo, &digest).await
        }
        _ => Err(ApiError::MethodNotAllowed { allow }),
    }
}

/// The methods of `route` (its `Allow` header). Any other method is 405 before access
/// control, as it reveals nothing and needs no credentials.
fn allowed_methods(route: &Route) -> &'static str {
    match route {
        Route::Base => "GET, HEAD",
        Route::Catalog | Route::Tags(_) | Route::Referrers(_, _) => "GET",
        Route::Manifest(_, _) => "GET, HEAD, PUT, DELETE",
        Route::Blob(_, _) => "GET, HEAD, DELETE",
        Route::UploadStart(_) => "POST",
        Route::Upload(_, _) => "GET, PATCH, PUT, DELETE",
    }
}
