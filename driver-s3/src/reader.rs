//! Readers: a GetObject body streamed as it arrives. The SDK retries requests, but not a body
//! that breaks off mid-stream; the reader then continues with a ranged GET from where it
//! stopped, pinned to the first response's ETag so that it never splices two versions.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::bucket::{Bucket, Download};
use crate::error::S3Error;

/// Times one reader continues after its body broke off.
const RESUMES: u32 = 3;
const RESUME_DELAY: Duration = Duration::from_millis(200);

/// The object at `key` from `offset` to its end, or to `end` (exclusive), resuming broken
/// bodies. S3 shortens a range that runs past the object; the caller compares `length`.
pub(crate) async fn open(
    bucket: &Bucket,
    key: &str,
    offset: u64,
    end: Option<u64>,
) -> Result<Opened, S3Error> {
    let first = bucket.get(key, offset, end, None).await?;
    let length = first.length;
    let (bucket, key) = (bucket.clone(), key.to_owned());
    let fetch = move |position: u64, etag: Option<String>| {
        let (bucket, key) = (bucket.clone(), key.clone());
        async move { bucket.get(&key, position, end, etag.as_deref()).await }
    };
    Ok(Opened {
        body: resuming(first, offset, fetch).boxed(),
        length,
    })
}

/// An opened read: the body and the length the first response announced.
pub(crate) struct Opened {
    pub(crate) body: BoxStream<'static, Result<Bytes, S3Error>>,
    pub(crate) length: Option<u64>,
}

struct State<F> {
    body: BoxStream<'static, Result<Bytes, S3Error>>,
    /// Offset in the object of the next byte.
    position: u64,
    etag: Option<String>,
    resumes_left: u32,
    fetch: F,
}

/// The bytes of `first` (a download starting at `offset`), continued through `fetch(position,
/// etag)` when the body fails.
fn resuming<F, Fut>(
    first: Download,
    offset: u64,
    fetch: F,
) -> impl Stream<Item = Result<Bytes, S3Error>>
where
    F: FnMut(u64, Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Download, S3Error>> + Send,
{
    let state = State {
        body: first.body,
        position: offset,
        etag: first.etag,
        resumes_left: RESUMES,
        fetch,
    };
    futures::stream::try_unfold(state, |mut state| async move {
        loop {
            match state.body.next().await {
                Some(Ok(bytes)) => {
                    state.position += bytes.len() as u64;
                    return Ok(Some((bytes, state)));
                }
                None => return Ok(None),
                Some(Err(e)) if state.resumes_left == 0 => return Err(e),
                Some(Err(e)) => {
                    state.resumes_left -= 1;
                    tracing::warn!(position = state.position, error = %e, "download broke off; resuming");
                    tokio::time::sleep(RESUME_DELAY).await;
                    let next = (state.fetch)(state.position, state.etag.clone()).await?;
                    state.body = next.body;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures::TryStreamExt;

    use super::*;

    fn broken_io() -> S3Error {
        S3Error::incomplete("GetObject", "k", "rest of the body")
    }

    /// A download of `content[from..]` that fails after `fail_after` bytes (if given).
    fn download(content: &'static [u8], from: usize, fail_after: Option<usize>) -> Download {
        let rest = &content[from..];
        let (good, fails) = match fail_after {
            Some(n) if n < rest.len() => (&rest[..n], true),
            _ => (rest, false),
        };
        let mut items: Vec<Result<Bytes, S3Error>> =
            good.chunks(3).map(|c| Ok(Bytes::from_static(c))).collect();
        if fails {
            items.push(Err(broken_io()));
        }
        Download {
            body: futures::stream::iter(items).boxed(),
            length: Some(rest.len() as u64),
            etag: Some("\"v1\"".to_owned()),
        }
    }

    const CONTENT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

    #[tokio::test(start_paused = true)]
    async fn continues_where_the_body_broke_off() {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let fetch = move |position: u64, etag: Option<String>| {
            seen.lock().unwrap().push((position, etag));
            // Every retry breaks again after 5 bytes, but the third succeeds.
            let fail = (seen.lock().unwrap().len() < 3).then_some(5);
            async move { Ok(download(CONTENT, position as usize, fail)) }
        };
        let read: Vec<Bytes> = resuming(download(CONTENT, 4, Some(7)), 4, fetch)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(read.concat(), &CONTENT[4..]);
        let requests = requests.lock().unwrap().clone();
        let etag = Some("\"v1\"".to_owned());
        assert_eq!(
            requests,
            vec![(11, etag.clone()), (16, etag.clone()), (21, etag)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_a_few_resumes() {
        let fetch =
            |position: u64, _| async move { Ok(download(CONTENT, position as usize, Some(1))) };
        let result: Result<Vec<Bytes>, S3Error> = resuming(download(CONTENT, 0, Some(1)), 0, fetch)
            .try_collect()
            .await;
        assert!(result.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_resume_request_ends_the_stream() {
        let fetch = |_, _| async { Err(broken_io()) };
        let result: Result<Vec<Bytes>, S3Error> = resuming(download(CONTENT, 0, Some(4)), 0, fetch)
            .try_collect()
            .await;
        assert!(result.is_err());
    }
}
