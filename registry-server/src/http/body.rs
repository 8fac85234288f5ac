//! Request bodies with a deadline on every pause: a client that stops sending in the middle
//! of a body (slowloris) gets an error after `http.timeouts.body`, and the request ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

/// Why a body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    Payload(String),
    #[error("the request body sent nothing for {0:?}")]
    Stalled(Duration),
}

/// A request body that fails when no data arrives for `timeout`.
pub struct TimedBody<S> {
    inner: S,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    done: bool,
}

impl<S> TimedBody<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        TimedBody {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            done: false,
        }
    }
}

impl<S, E> Stream for TimedBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let next = Instant::now() + self.timeout;
                self.deadline.as_mut().reset(next);
                if !matches!(item, Some(Ok(_))) {
                    self.done = true;
                }
                Poll::Ready(item.map(|r| r.map_err(|e| BodyError::Payload(e.to_string()))))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    Poll::Ready(Some(Err(BodyError::Stalled(self.timeout))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use futures::channel::mpsc;

    type Piece = Result<Bytes, std::convert::Infallible>;

    #[tokio::test]
    async fn a_stalled_body_fails_after_the_timeout() {
        let (sender, receiver) = mpsc::unbounded::<Piece>();
        let mut body = TimedBody::new(receiver, Duration::from_millis(200));
        sender
            .unbounded_send(Ok(Bytes::from_static(b"first")))
            .unwrap();
        assert_eq!(
            body.next().await.unwrap().unwrap(),
            Bytes::from_static(b"first")
        );
        let started = std::time::Instant::now();
        let stalled = body.next().await.unwrap();
        assert!(matches!(stalled, Err(BodyError::Stalled(_))), "{stalled:?}");
        assert!(started.elapsed() >= Duration::from_millis(190));
        assert!(body.next().await.is_none());
        drop(sender);
    }

    #[tokio::test]
    async fn steady_data_never_times_out() {
        let (sender, receiver) = mpsc::unbounded::<Piece>();
        let mut body = TimedBody::new(receiver, Duration::from_millis(300));
        let feeder = tokio::spawn(async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                sender.unbounded_send(Ok(Bytes::from_static(b"x"))).unwrap();
            }
        });
        let mut received = 0;
        while let Some(piece) = body.next().await {
            received += piece.unwrap().len();
        }
        assert_eq!(received, 6);
        feeder.await.unwrap();
    }
}
