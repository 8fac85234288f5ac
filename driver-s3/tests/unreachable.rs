//! An endpoint that does not answer: the driver starts (over TLS as well as plain HTTP) and
//! reports a typed backend error naming the driver, after the SDK's retries. Needs no emulator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use driver_s3::{S3Config, S3Driver};
use registry_core::storage::{DriverParameters, Storage, StorageError};
use serde_json::{Value, json};

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

async fn storage_at(endpoint: String) -> Storage {
    let Value::Object(params) = json!({
        "region": "us-east-1",
        "bucket": "nowhere",
        "regionendpoint": endpoint,
        "forcepathstyle": true,
        "accesskey": "AKID",
        "secretkey": "secret",
    }) else {
        unreachable!()
    };
    let config = S3Config::from_parameters(&DriverParameters::new(driver_s3::NAME, params))
        .expect("configuration");
    Storage::new(Arc::new(S3Driver::new(config).await))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoints_give_backend_errors() {
    for scheme in ["http", "https"] {
        let storage = storage_at(format!("{scheme}://127.0.0.1:{}", closed_port())).await;
        let started = Instant::now();
        let result = storage.stat("/some/path").await;
        match &result {
            Err(error @ StorageError::Backend { driver, .. }) => {
                assert_eq!(*driver, "s3");
                let message = error.to_string();
                assert!(message.contains("/some/path"), "{message}");
            }
            other => panic!("{scheme}: expected a backend error, got {other:?}"),
        }
        // Retried with backoff, but not for long.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{scheme}: too slow"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tls_handshake_is_a_backend_error() {
    // A server that answers in plain text: the TLS client is built (trust store and all) and
    // the handshake fails, which must be an error, not a panic.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let storage = storage_at(format!("https://127.0.0.1:{port}")).await;
    let result = storage.get_content("/blob").await;
    assert!(
        matches!(result, Err(StorageError::Backend { driver: "s3", .. })),
        "{result:?}"
    );
}
