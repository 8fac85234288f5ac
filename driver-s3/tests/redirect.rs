//! Presigned URLs, fetched with a plain HTTP client: GET, HEAD and ranged GET work for the
//! requested time, and the server refuses tampered and expired URLs.

mod common;

use std::time::Duration;

use registry_core::storage::{RedirectMethod, Storage};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, RANGE};
use serde_json::json;

async fn presign(
    storage: &Storage,
    path: &str,
    method: RedirectMethod,
    expiry: Duration,
) -> String {
    storage
        .redirect_url(path, method, expiry)
        .await
        .expect("redirect_url")
        .expect("the S3 driver always presigns")
}

/// The value of query parameter `name` in `url`.
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_serve_get_head_and_ranges() {
    let Some(opener) = common::Opener::new(json!({})).await else {
        return;
    };
    let storage = opener.storage();
    let prefix = common::unique_prefix("redirect");
    let path = format!("{prefix}/blobs/data");
    let content = common::random_bytes(100_000);
    storage
        .put_content(&path, content.clone())
        .await
        .expect("put");
    let http = reqwest::Client::new();

    let get = presign(
        &storage,
        &path,
        RedirectMethod::Get,
        Duration::from_secs(1200),
    )
    .await;
    assert_eq!(query_param(&get, "X-Amz-Expires"), Some("1200"), "{get}");
    let response = http.get(&get).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.expect("body") == content);

    let response = http
        .get(&get)
        .header(RANGE, "bytes=1000-1999")
        .send()
        .await
        .expect("ranged GET");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(response.bytes().await.expect("body") == content[1000..2000]);

    let head = presign(
        &storage,
        &path,
        RedirectMethod::Head,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(query_param(&head, "X-Amz-Expires"), Some("60"), "{head}");
    let response = http.head(&head).send().await.expect("HEAD");
    assert_eq!(response.status(), StatusCode::OK);
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    assert_eq!(length, Some("100000"));
    // A GET URL is not a HEAD URL: the method is part of the signature.
    let response = http.head(&get).send().await.expect("HEAD with a GET URL");
    assert!(response.status().is_client_error(), "{}", response.status());

    storage.delete(&prefix).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_expired_urls_are_refused() {
    let Some(opener) = common::Opener::new(json!({})).await else {
        return;
    };
    let storage = opener.storage();
    let prefix = common::unique_prefix("redirect-refused");
    let (path, other) = (format!("{prefix}/data"), format!("{prefix}/secret"));
    storage
        .put_content(&path, &b"public"[..])
        .await
        .expect("put");
    storage
        .put_content(&other, &b"secret"[..])
        .await
        .expect("put");
    let http = reqwest::Client::new();

    let url = presign(
        &storage,
        &path,
        RedirectMethod::Get,
        Duration::from_secs(300),
    )
    .await;
    let ok = http.get(&url).send().await.expect("GET");
    assert_eq!(ok.status(), StatusCode::OK);

    // Another object under the same signature.
    let other_object = url.replacen("/data?", "/secret?", 1);
    assert_ne!(other_object, url);
    // A longer validity than was signed.
    let longer = url.replacen("X-Amz-Expires=300", "X-Amz-Expires=600", 1);
    assert_ne!(longer, url);
    // A changed signature.
    let signature = query_param(&url, "X-Amz-Signature").expect("signature");
    let flipped: String = signature
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let forged = url.replacen(signature, &flipped, 1);
    for tampered in [other_object, longer, forged] {
        let response = http.get(&tampered).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{tampered}");
    }

    let short = presign(&storage, &path, RedirectMethod::Get, Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let response = http.get(&short).send().await.expect("GET");
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "an expired URL was served"
    );

    storage.delete(&prefix).await.expect("cleanup");
}
