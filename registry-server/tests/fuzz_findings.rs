//! What the HTTP fuzzer (`tests/fuzz.rs`) found, each as a focused test that reproduces it
//! without the fuzzer's randomness.

mod common;

use common::*;
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};

driver_tests!(
    concurrent_completions_of_one_upload,
    a_chunk_racing_the_completion_never_corrupts_the_blob,
    deleting_a_tag_while_it_is_pushed,
);

/// Two `PUT`s completing the same upload at once (found with `REGISTRY_FUZZ_SEED=2`): one
/// wins, the other must learn that the upload is gone (404), that its digest is wrong (400
/// `DIGEST_INVALID`) or that the other holds the upload (400 `BLOB_UPLOAD_INVALID`), never a
/// 500 because the upload's data vanished under it.
async fn concurrent_completions_of_one_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    for round in 0..30u64 {
        let location = s.start_upload("race").await;
        let data = bytes(round, 2000);
        let digest = Digest::sha256_of(&data);
        let separator = if location.contains('?') { '&' } else { '?' };
        let right = s
            .request(
                Method::PUT,
                &format!("{location}{separator}digest={digest}"),
            )
            .body(data.clone());
        let wrong = s.request(
            Method::PUT,
            &format!(
                "{location}{separator}digest={}",
                Digest::sha256_of(b"other")
            ),
        );
        // `send` fails the test on a 5xx, naming the request.
        let (right, wrong) = tokio::join!(s.send(right), s.send(wrong));
        let statuses = [right.status(), wrong.status()];
        assert!(
            [
                StatusCode::CREATED,
                StatusCode::NOT_FOUND,
                StatusCode::BAD_REQUEST
            ]
            .contains(&statuses[0])
                && [StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&statuses[1]),
            "round {round}: {statuses:?}"
        );
        if statuses[0] == StatusCode::CREATED {
            let stored = s.get(&format!("/v2/race/blobs/{digest}")).await;
            assert_eq!(stored.bytes().await.unwrap().as_ref(), &data[..]);
        }
    }
    s.stop().await;
}

/// A `PATCH` racing the `PUT` that completes the same upload (found with
/// `REGISTRY_FUZZ_SEED=7` and `8`: afterwards blobs whose content hashes to another digest than
/// their path's). Whichever comes first, a blob that becomes visible holds exactly the bytes
/// its digest names, and neither request is a 5xx.
async fn a_chunk_racing_the_completion_never_corrupts_the_blob(driver: Driver) {
    let s = TestServer::start(driver).await;
    for round in 0..30u64 {
        let location = s.start_upload("race").await;
        let first = bytes(round, 3000);
        let patched = s
            .send(s.request(Method::PATCH, &location).body(first.clone()))
            .await;
        assert_eq!(patched.status(), StatusCode::ACCEPTED);
        let location = common::location(&patched);
        let digest = Digest::sha256_of(&first);
        let separator = if location.contains('?') { '&' } else { '?' };
        let complete = s.request(
            Method::PUT,
            &format!("{location}{separator}digest={digest}"),
        );
        let more = s
            .request(Method::PATCH, &location)
            .body(bytes(round + 1000, 5000));
        let (complete, more) = tokio::join!(s.send(complete), s.send(more));
        let statuses = [complete.status(), more.status()];
        let stored = s.get(&format!("/v2/race/blobs/{digest}")).await;
        if stored.status() == StatusCode::OK {
            let body = stored.bytes().await.unwrap();
            assert_eq!(
                Digest::sha256_of(&body),
                digest,
                "round {round} ({statuses:?}): the blob holds {} bytes that are not its digest's",
                body.len()
            );
        }
    }
    let report = registry_core::registry::consistency::check(s.storage())
        .await
        .unwrap();
    assert_eq!(report.problems, Vec::new());
    s.stop().await;
}

/// `DELETE /v2/<name>/manifests/<tag>` while the same tag is pushed again (found with
/// `REGISTRY_FUZZ_SEED=7`: 500, "deleting .../_manifests/tags/v1: Directory not empty" on the
/// filesystem driver).
async fn deleting_a_tag_while_it_is_pushed(driver: Driver) {
    let s = TestServer::start(driver).await;
    let mut images = Vec::new();
    for seed in 0..4 {
        images.push(s.image("tagrace", seed, 1).await);
    }
    for round in 0..200 {
        s.push_manifest("tagrace", "v1", &images[round % 4]).await;
        // A manifest the tag has not named yet: its index entry is a new directory.
        let image = &images[(round + 1) % 4];
        let delete = s.request(Method::DELETE, "/v2/tagrace/manifests/v1");
        let push = s
            .request(Method::PUT, "/v2/tagrace/manifests/v1")
            .header("Content-Type", &image.media_type)
            .body(image.body.clone());
        // `send` fails the test on a 5xx, naming the request.
        let (deleted, pushed) = tokio::join!(s.send(delete), s.send(push));
        assert_eq!(pushed.status(), StatusCode::CREATED, "round {round}");
        assert!(
            [StatusCode::ACCEPTED, StatusCode::NOT_FOUND].contains(&deleted.status()),
            "round {round}: {}",
            deleted.status()
        );
    }
    s.stop().await;
}

/// A body the server refuses unread (found by the fuzzer on the filesystem driver, under
/// load: a chunked `PATCH` of 448 KB to an unknown upload got its 404, and then the connection
/// was neither read nor closed, its socket in CLOSE-WAIT with 200 KiB unread). The answer must
/// come and the exchange end: with the connection kept for the next request when the body is
/// short enough to read away, closed right after the answer when it is not.
mod refused_bodies {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::common::{Driver, TestServer, path_of};

    /// Longer than any answer may take, even on a loaded machine.
    const PATIENCE: Duration = Duration::from_secs(20);
    /// An upload nobody started: refused (404) before its body is read.
    const UNKNOWN_UPLOAD: &str = "/v2/refused/blobs/uploads/0b9f3a52-51b6-4d4e-8a52-0d7c8d0e6c11";

    enum Framing {
        Chunked(usize),
        Length,
    }

    /// A `PATCH` of `body_len` bytes; `extra` are more header lines, each ending in CRLF.
    fn request(target: &str, body_len: usize, framing: &Framing, extra: &str) -> Vec<u8> {
        let body: Vec<u8> = (0..body_len).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = format!("PATCH {target} HTTP/1.1\r\nHost: registry\r\n{extra}").into_bytes();
        match framing {
            Framing::Chunked(size) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for piece in body.chunks(*size) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            Framing::Length => {
                out.extend_from_slice(format!("Content-Length: {body_len}\r\n\r\n").as_bytes());
                out.extend_from_slice(&body);
            }
        }
        out
    }

    /// Writes `bytes` from another thread (the server may stop reading them) and reads until
    /// the server closes the connection; what was read, and whether it was closed in time.
    fn exchange(authority: &str, bytes: Vec<u8>) -> (String, bool) {
        let stream = TcpStream::connect(authority).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let writing = std::thread::spawn(move || {
            // A server that answers and closes first makes this fail: that is allowed.
            let _ = writer.write_all(&bytes);
        });
        let started = Instant::now();
        let mut reader = stream;
        let mut received = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        let closed = loop {
            match reader.read(&mut buffer) {
                Ok(0) => break true,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => break true,
                Err(_) => break false,
            }
            if started.elapsed() > PATIENCE {
                break false;
            }
        };
        let _ = reader.shutdown(std::net::Shutdown::Both);
        let _ = writing.join();
        (String::from_utf8_lossy(&received).into_owned(), closed)
    }

    fn statuses(received: &str) -> Vec<&str> {
        received
            .match_indices("HTTP/1.1 ")
            .map(|(at, _)| &received[at + 9..at + 12])
            .collect()
    }

    async fn exchange_async(s: &TestServer, bytes: Vec<u8>) -> (String, bool) {
        let authority = s.authority().to_owned();
        tokio::task::spawn_blocking(move || exchange(&authority, bytes))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_chunked_body_gets_its_answer_and_the_connection_ends() {
        let s = TestServer::start(Driver::Filesystem).await;
        let location = s.start_upload("refused").await;
        let path = path_of(&location);
        let targets = [
            (UNKNOWN_UPLOAD, "", "404"),
            // A chunk that does not start where the (empty) upload stands.
            (path.as_str(), "Content-Range: 5-100\r\n", "416"),
        ];
        for round in 0..20 {
            for (target, range, status) in targets {
                let framing = Framing::Chunked(500 + round * 97);
                let extra = format!("Connection: close\r\n{range}");
                let bytes = request(target, 300_000 + round * 10_000, &framing, &extra);
                let (received, closed) = exchange_async(&s, bytes).await;
                let got = statuses(&received);
                assert_eq!(got, [status], "round {round}, {target}");
                assert!(
                    closed,
                    "round {round}, {target}: the connection stayed open"
                );
            }
        }
        s.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_refused_body_is_read_away_and_the_connection_serves_the_next_request() {
        let s = TestServer::start(Driver::Filesystem).await;
        for framing in [Framing::Length, Framing::Chunked(1000)] {
            let mut bytes = request(UNKNOWN_UPLOAD, 1_000_000, &framing, "");
            bytes.extend_from_slice(
                b"GET /v2/ HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n",
            );
            let (received, closed) = exchange_async(&s, bytes).await;
            assert_eq!(statuses(&received), ["404", "200"], "{received:.300}");
            assert!(closed);
        }
        s.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_refused_body_is_answered_and_the_connection_closed() {
        let s = TestServer::start(Driver::Filesystem).await;
        for framing in [Framing::Length, Framing::Chunked(4096)] {
            let mut bytes = request(UNKNOWN_UPLOAD, 16 << 20, &framing, "");
            bytes.extend_from_slice(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n");
            let (received, closed) = exchange_async(&s, bytes).await;
            assert_eq!(statuses(&received), ["404"], "{received:.300}");
            assert!(received.to_ascii_lowercase().contains("connection: close"));
            assert!(closed, "the connection stayed open after the answer");
        }
        s.stop().await;
    }
}
