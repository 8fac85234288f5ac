//! Requests written byte for byte: HTTP clients normalise `..` and `%2e%2e` out of URLs, and
//! the registry must be shown exactly those paths.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method target` (the request target exactly as given) with `headers` and a body, on
/// a fresh connection that the server closes after answering.
pub async fn request(
    authority: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let authority = authority.to_owned();
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&authority).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // A server may answer (and close) before reading a refused body: a failed write is
        // no failure as long as the answer arrives. Closing our side says the request is
        // complete, so the server need not wait for more before closing.
        let _ = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(&body))
            .and_then(|()| stream.shutdown(std::net::Shutdown::Write));
        let mut raw = Vec::new();
        // A reset after the answer is still the answer; no answer at all is judged by the
        // caller (see NO_ANSWER).
        let _ = stream.read_to_end(&mut raw);
        parse(&raw)
    })
    .await
    .unwrap()
}

/// The status of a connection closed without a (complete) answer: a server that panicked.
pub const NO_ANSWER: u16 = 0;

fn parse(raw: &[u8]) -> RawResponse {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return RawResponse {
            status: NO_ANSWER,
            headers: Vec::new(),
            body: raw.to_vec(),
        };
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// A request whose body the test sends piece by piece, holding it open in between, to put
/// other requests in the middle of it.
pub struct HeldRequest {
    stream: tokio::net::TcpStream,
}

impl HeldRequest {
    /// Sends the head (with `Content-Length: content_length`) and `first` bytes of the body.
    pub async fn open(
        authority: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        content_length: usize,
        first: &[u8],
    ) -> HeldRequest {
        use tokio::io::AsyncWriteExt;
        let mut head =
            format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {content_length}\r\n\r\n"));
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("connect");
        stream.write_all(head.as_bytes()).await.expect("head");
        stream.write_all(first).await.expect("first bytes");
        HeldRequest { stream }
    }

    /// Sends more of the body.
    pub async fn send(&mut self, data: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(data).await.expect("body bytes");
    }

    /// Reads the answer (after the test sent the whole body, or to see the server give up).
    pub async fn response(mut self) -> RawResponse {
        use tokio::io::AsyncReadExt;
        let mut raw = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(60), self.stream.read_to_end(&mut raw)).await;
        assert!(read.is_ok(), "no answer within 60 s");
        parse(&raw)
    }
}
