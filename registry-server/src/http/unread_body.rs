//! What a handler leaves of a request body is read here, before the answer goes out.
//!
//! A handler that refuses a request early (an unknown upload, a chunk out of order, a body on a
//! route that takes none) drops the body unread. actix-http 3.20 then drains a chunked body
//! itself after the answer, and under load that drain can stall for good: the answer is sent,
//! but the connection is neither read any further nor closed (found by `tests/fuzz.rs`: the
//! server's socket in CLOSE-WAIT with 200 KiB unread, the client waiting for the end of the
//! answer). So the rest of a body is read and discarded here, up to [`DRAIN_LIMIT`] bytes
//! within [`DRAIN_TIME`], which also keeps the connection open for the client's next request.
//! A longer or slower body is kept unread but alive until the response has been sent: actix
//! then closes the connection after the answer (lingering a moment so the client reads it)
//! instead of draining it.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures::{Stream, StreamExt};

use super::headers::has_body;

/// The most of a body left unread that is read to keep the connection.
const DRAIN_LIMIT: u64 = 4 << 20;
/// The longest the answer waits for the rest of the body.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// The middleware, innermost: the answer waits here for the rest of the body, and the metrics
/// around it still count the bytes read away.
pub async fn finish_reading(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !has_body(req.headers()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let body = SharedBody::new(req.take_payload());
    let handler_side: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(body.clone());
    req.set_payload(Payload::from(handler_side));
    let answer = next.call(req).await;
    if body.ended() || drain(body.clone()).await {
        return answer.map(ServiceResponse::map_into_boxed_body);
    }
    answer.map(|mut response| {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        response.map_body(|_, answer| {
            WithUnreadBody {
                answer: answer.boxed(),
                _unread: body,
            }
            .boxed()
        })
    })
}

/// Reads and discards the rest of `body`; whether it ended within the bounds.
async fn drain(mut body: SharedBody) -> bool {
    let reading = async {
        let mut read = 0u64;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => read += chunk.len() as u64,
                // A broken body ends here: there is nothing more to read.
                Err(_) => return true,
            }
            if read > DRAIN_LIMIT {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, reading)
        .await
        .unwrap_or(false)
}

/// The request body, shared by the handler and this middleware (one worker thread serves a
/// request from start to end, hence `Rc`).
#[derive(Clone)]
struct SharedBody(Rc<RefCell<BodyState>>);

struct BodyState {
    payload: Payload,
    ended: bool,
}

impl SharedBody {
    fn new(payload: Payload) -> Self {
        SharedBody(Rc::new(RefCell::new(BodyState {
            payload,
            ended: false,
        })))
    }

    fn ended(&self) -> bool {
        self.0.borrow().ended
    }
}

impl Stream for SharedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut state = self.0.borrow_mut();
        let polled = state.payload.poll_next_unpin(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            state.ended = true;
        }
        polled
    }
}

/// An answer that holds the unread body until it has been sent, so that actix sees a body
/// still being received and closes the connection after the answer.
struct WithUnreadBody {
    answer: BoxBody,
    _unread: SharedBody,
}

impl MessageBody for WithUnreadBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.answer.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().answer).poll_next(cx)
    }
}
