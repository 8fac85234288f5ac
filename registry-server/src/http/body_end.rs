//! A response body that tells when it ends: [`BodyEnd`] calls its callback with the bytes sent
//! once the server has polled the body to its end, or when the body is dropped first (a body
//! the server never polls, such as a HEAD answer's, or a download the client abandoned). The
//! access log and the request metrics measure a request until then, not until its headers.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::Bytes;

pub struct BodyEnd<F: FnOnce(u64) + Unpin> {
    inner: BoxBody,
    sent: u64,
    /// Entered while the body is polled, so that what the body's stream logs (a storage error
    /// in the middle of a download) carries the request's id.
    span: Option<tracing::Span>,
    on_end: Option<F>,
}

impl<F: FnOnce(u64) + Unpin> BodyEnd<F> {
    pub fn new(inner: BoxBody, span: Option<tracing::Span>, on_end: F) -> Self {
        BodyEnd {
            inner,
            sent: 0,
            span,
            on_end: Some(on_end),
        }
    }

    fn end(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.sent);
        }
    }
}

impl<F: FnOnce(u64) + Unpin> Drop for BodyEnd<F> {
    fn drop(&mut self) {
        self.end();
    }
}

impl<F: FnOnce(u64) + Unpin> MessageBody for BodyEnd<F> {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let polled = {
            let _entered = this.span.as_ref().map(tracing::Span::enter);
            Pin::new(&mut this.inner).poll_next(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => this.sent += chunk.len() as u64,
            Poll::Ready(None) => this.end(),
            _ => {}
        }
        polled
    }
}
