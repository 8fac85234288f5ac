//! Request metrics for the main listener: a middleware that counts requests by route template,
//! method and status, times them until their response body is sent, and counts the body bytes
//! read and sent.
//!
//! The route label is the template the dispatcher recognised (`/v2/{name}/blobs/{digest}`),
//! put in the request's extensions by [`set_route`]; a path that is no endpoint counts as
//! `other`. Raw paths never become labels: each repository and digest would be a new series.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures::StreamExt;

use crate::http::body_end::BodyEnd;
use crate::http::headers::has_body;

use super::{Metrics, RequestLabels, RouteLabels, RouteMethodLabels};

/// The route label of a request that matched no endpoint.
pub const OTHER_ROUTE: &str = "other";

/// The route template of a request, for its metrics.
#[derive(Debug, Clone, Copy)]
struct RouteTemplate(&'static str);

/// Labels the request's metrics with `template` (a route template, never a raw path).
pub fn set_route(req: &actix_web::HttpRequest, template: &'static str) {
    req.extensions_mut().insert(RouteTemplate(template));
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware. `metrics` comes from the server's state.
pub async fn measure(
    metrics: Arc<Metrics>,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    metrics.in_flight.inc();
    let received = has_body(req.headers()).then(|| {
        let count = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&count);
        let counted = req.take_payload().inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        });
        let boxed: Pin<Box<dyn futures::Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(counted);
        req.set_payload(Payload::from(boxed));
        count
    });
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(response) => (
            response
                .request()
                .extensions()
                .get::<RouteTemplate>()
                .map_or(OTHER_ROUTE, |r| r.0),
            response.status().as_u16(),
        ),
        Err(e) => (OTHER_ROUTE, e.as_response_error().status_code().as_u16()),
    };
    if let Some(count) = received {
        metrics
            .received_bytes
            .get_or_create(&RouteLabels { route })
            .inc_by(count.load(Ordering::Relaxed));
    }
    let recorder = Recorder {
        metrics,
        route,
        method,
        status,
        started,
    };
    match result {
        Ok(response) => Ok(response.map_body(|_, body| {
            BodyEnd::new(body.boxed(), None, move |sent| recorder.finish(sent))
        })),
        Err(e) => {
            recorder.finish(0);
            Err(e)
        }
    }
}

/// What to record once a response's body is sent (or dropped).
struct Recorder {
    metrics: Arc<Metrics>,
    route: &'static str,
    method: &'static str,
    status: u16,
    started: Instant,
}

impl Recorder {
    fn finish(self, sent: u64) {
        let m = &self.metrics;
        m.in_flight.dec();
        m.requests
            .get_or_create(&RequestLabels {
                route: self.route,
                method: self.method,
                status: self.status,
            })
            .inc();
        m.request_duration
            .get_or_create(&RouteMethodLabels {
                route: self.route,
                method: self.method,
            })
            .observe(self.started.elapsed().as_secs_f64());
        if sent > 0 {
            m.sent_bytes
                .get_or_create(&RouteLabels { route: self.route })
                .inc_by(sent);
        }
    }
}
