//! Clients that open a connection and then send their request's head too slowly, or nothing
//! at all, are cut off after `http.timeouts.header`: they cannot hold the server's
//! connections. (Stalled bodies: `upload_races.rs` and `stalled_uploads.rs`.)

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

driver_tests!(slow_headers_are_cut_off);

async fn slow_headers_are_cut_off(driver: Driver) {
    let options = Options {
        header_timeout: Some("1s".into()),
        ..Options::default()
    };
    let s = TestServer::start_with(driver, options).await;
    for partial in [&b""[..], b"GET /v2/ HTTP/1.1\r\nHost: x\r\n"] {
        // Measured from before the connection opens: the server's timer starts when it
        // accepts, which on a loaded machine may be well before `connect` returns here.
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(s.authority()).await.unwrap();
        stream.write_all(partial).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer))
            .await
            .expect("the server kept a connection with an unfinished head open");
        let waited = started.elapsed();
        // Closed (with a 408 or without an answer), after the timeout and not long after.
        assert!(read.is_ok() || answer.is_empty(), "{read:?}");
        let text = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
        assert!(
            waited >= Duration::from_millis(800) && waited < Duration::from_secs(10),
            "closed after {waited:?}"
        );
    }
    // A client that sends its head in time is served as usual.
    assert_eq!(s.get("/v2/").await.status(), reqwest::StatusCode::OK);
    s.stop().await;
}
