//! `multipart/byteranges` bodies (RFC 9110 §14.6): the framing around the parts of a
//! multi-range answer. Every part's length is known before the first byte is sent, so the
//! body's `Content-Length` is exact and clients need not rely on the closing boundary.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use registry_core::registry::{BlobParts, PartChunk};
use registry_core::storage::StorageError;

/// The framing of one multipart body.
pub struct Framing {
    boundary: String,
    /// Each part's `Content-Type`: the blob's.
    part_type: &'static str,
    size: u64,
}

impl Framing {
    /// A fresh random boundary: 32 hex digits of a v4 UUID never occur in a blob by accident
    /// often enough to matter, and a blob cannot be crafted to contain a boundary chosen after
    /// it was stored.
    pub fn new(part_type: &'static str, size: u64) -> Self {
        Framing {
            boundary: uuid::Uuid::new_v4().simple().to_string(),
            part_type,
            size,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    /// The delimiter and headers before part `index` (the first has no leading CRLF).
    fn part_head(&self, index: usize, (first, last): (u64, u64)) -> String {
        let lead = if index == 0 { "" } else { "\r\n" };
        format!(
            "{lead}--{}\r\nContent-Type: {}\r\nContent-Range: bytes {first}-{last}/{}\r\n\r\n",
            self.boundary, self.part_type, self.size
        )
    }

    fn close(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }

    /// Bytes in the whole body: framing and parts.
    pub fn body_length(&self, parts: &[(u64, u64)]) -> u64 {
        let framing: u64 = parts
            .iter()
            .enumerate()
            .map(|(index, &part)| self.part_head(index, part).len() as u64)
            .sum();
        let content: u64 = parts.iter().map(|&(first, last)| last - first + 1).sum();
        framing + content + self.close().len() as u64
    }

    /// The body: each part's head, then its bytes, then the closing delimiter. `on_bytes` sees
    /// the length of every piece of blob content as it goes out.
    pub fn body(
        self,
        content: BlobParts,
        on_bytes: impl Fn(u64) + Send + 'static,
    ) -> impl Stream<Item = Result<Bytes, StorageError>> + Send + 'static {
        let BlobParts { parts, stream, .. } = content;
        let close = Bytes::from(self.close());
        stream
            .map(move |chunk| match chunk? {
                PartChunk::Start(index) => {
                    let part = parts.get(index).copied().unwrap_or_default();
                    Ok(Bytes::from(self.part_head(index, part)))
                }
                PartChunk::Bytes(bytes) => {
                    on_bytes(bytes.len() as u64);
                    Ok(bytes)
                }
            })
            .chain(futures::stream::once(async move { Ok(close) }))
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    #[tokio::test]
    async fn frames_parts_and_counts_exactly() {
        let parts = vec![(0, 2), (7, 9)];
        let chunks = vec![
            Ok(PartChunk::Start(0)),
            Ok(PartChunk::Bytes(Bytes::from_static(b"abc"))),
            Ok(PartChunk::Start(1)),
            Ok(PartChunk::Bytes(Bytes::from_static(b"hi"))),
            Ok(PartChunk::Bytes(Bytes::from_static(b"j"))),
        ];
        let content = BlobParts {
            size: 10,
            parts: parts.clone(),
            stream: futures::stream::iter(chunks).boxed(),
        };
        let framing = Framing::new("application/octet-stream", 10);
        let boundary = framing.boundary.clone();
        let length = framing.body_length(&parts);
        let body: Vec<Bytes> = framing.body(content, |_| {}).try_collect().await.unwrap();
        let body = String::from_utf8(body.concat()).unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-2/10\r\n\r\nabc\
             \r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 7-9/10\r\n\r\nhij\
             \r\n--{boundary}--\r\n"
        );
        assert_eq!(body, expected);
        assert_eq!(length, body.len() as u64);
    }
}
