//! Sending a generated request by its transport, within a deadline, and what came back.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use reqwest::Method;

use super::common::TestServer;
use super::generate::{Request, Transport};

/// What happened to one request.
#[derive(Debug)]
pub enum Outcome {
    /// An answer with this status (and `Docker-Upload-UUID`, if any); `api_version` says
    /// whether the `Docker-Distribution-API-Version` header was there.
    Answer {
        status: u16,
        upload_uuid: Option<String>,
        api_version: bool,
    },
    /// The server closed the connection without a (complete) answer.
    NoAnswer(String),
    /// Nothing within the deadline: the server hangs.
    Hang,
    /// The client abandoned the request, as intended; nothing to judge.
    Abandoned,
}

/// Sends `request` to `server`, giving up after `deadline`.
pub async fn send(server: &TestServer, request: &Request, deadline: Duration) -> Outcome {
    match request.transport {
        Transport::Client => match tokio::time::timeout(deadline, client(server, request)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Hang,
        },
        Transport::Raw
        | Transport::Truncated { .. }
        | Transport::Abandoned
        | Transport::Chunked { .. } => {
            let authority = server.authority().to_owned();
            let request = request.clone();
            tokio::task::spawn_blocking(move || raw(&authority, &request, deadline))
                .await
                .unwrap_or_else(|e| Outcome::NoAnswer(format!("raw sender failed: {e}")))
        }
    }
}

async fn client(server: &TestServer, request: &Request) -> Outcome {
    let Ok(method) = Method::from_bytes(request.method.as_bytes()) else {
        return Outcome::NoAnswer(format!("{:?} is no method token", request.method));
    };
    let mut builder = server.request(method, &request.target);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let response = match builder.body(request.body.clone()).send().await {
        Ok(response) => response,
        Err(e) => return Outcome::NoAnswer(format!("{e:?}")),
    };
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let upload_uuid = header("Docker-Upload-UUID");
    let api_version = header("Docker-Distribution-API-Version").as_deref() == Some("registry/2.0");
    // The whole body must arrive too: a stream that stalls midway is a hang.
    if let Err(e) = response.bytes().await {
        return Outcome::NoAnswer(format!("body of a {status}: {e:?}"));
    }
    Outcome::Answer {
        status,
        upload_uuid,
        api_version,
    }
}

/// Writes the request byte for byte on a fresh connection.
fn raw(authority: &str, request: &Request, deadline: Duration) -> Outcome {
    let (framing, sent) = match request.transport {
        Transport::Truncated { declared } => {
            (format!("Content-Length: {declared}"), request.body.clone())
        }
        Transport::Abandoned => (
            format!("Content-Length: {}", request.body.len() + 10),
            request.body[..request.body.len() / 2].to_vec(),
        ),
        Transport::Chunked { chunk, malformed } => (
            "Transfer-Encoding: chunked".to_owned(),
            chunked(&request.body, chunk, malformed),
        ),
        Transport::Raw | Transport::Client => (
            format!("Content-Length: {}", request.body.len()),
            request.body.clone(),
        ),
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n",
        request.method, request.target
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("{framing}\r\n\r\n"));
    let mut stream = match TcpStream::connect(authority) {
        Ok(stream) => stream,
        Err(e) => return Outcome::NoAnswer(format!("connect: {e}")),
    };
    let _ = stream.set_read_timeout(Some(deadline));
    let _ = stream.set_write_timeout(Some(deadline));
    // The server may answer (and close) before reading a refused body: a failed write is no
    // failure as long as the answer arrives.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&sent));
    if request.transport == Transport::Abandoned {
        return Outcome::Abandoned;
    }
    // Closing our side says no more bytes come: a truncated body ends here.
    let _ = stream.shutdown(Shutdown::Write);
    let started = std::time::Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if received.is_empty() || started.elapsed() >= deadline {
                    return Outcome::Hang;
                }
                break;
            }
            // A reset after the answer is still the answer.
            Err(_) => break,
        }
    }
    parse_head(&received)
}

/// `body` in chunked transfer coding; `malformed` ends it with a size line that is no number.
fn chunked(body: &[u8], chunk: usize, malformed: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(if malformed {
        b"zz\r\n\r\n"
    } else {
        b"0\r\n\r\n"
    });
    out
}

fn parse_head(received: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(received);
    let Some((head, _)) = text.split_once("\r\n\r\n") else {
        return Outcome::NoAnswer(format!("{} bytes without a complete head", received.len()));
    };
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let Some(status) = status else {
        return Outcome::NoAnswer(format!("no status line in {head:?}"));
    };
    let mut upload_uuid = None;
    let mut api_version = false;
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        let value = value.trim();
        if name.eq_ignore_ascii_case("Docker-Upload-UUID") {
            upload_uuid = Some(value.to_owned());
        }
        if name.eq_ignore_ascii_case("Docker-Distribution-API-Version") {
            api_version = value == "registry/2.0";
        }
    }
    Outcome::Answer {
        status,
        upload_uuid,
        api_version,
    }
}
