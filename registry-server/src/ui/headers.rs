//! Security headers on every web-view response.
//!
//! The CSP allows only the registry's own stylesheet and script (no inline script or
//! style, no other origin), forms that post back to the registry, and no framing; pages are
//! not cached, since what they show depends on who asks.

use actix_web::HttpResponseBuilder;
use actix_web::http::header;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Adds the headers every web-view response carries.
pub fn secure(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
}

/// [`secure`], for a page: HTML, never stored by caches.
pub fn page(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    secure(response)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
}
