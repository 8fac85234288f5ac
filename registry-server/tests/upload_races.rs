//! Adversarial interleavings of requests on one upload, from one instance and from two over
//! the same storage, on every driver. Bodies are held open at chosen points with raw
//! sockets; every case ends by reading every blob in storage and checking its digest.

mod common;

use std::time::Duration;

use common::raw::HeldRequest;
use common::*;
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};

driver_tests!(
    held_patch_then_put_of_the_empty_blob,
    racing_patches_keep_each_hash_with_its_bytes,
    put_racing_a_patch,
    delete_racing_a_patch,
    requests_after_completion,
    status_during_a_patch,
    two_instances_on_one_upload,
    many_patches_at_once,
    stalled_body_is_dropped_and_resumable,
);

const MIB: usize = 1024 * 1024;

/// The path of an upload's URL, and its id.
fn upload_of(location: &str) -> (String, String) {
    let path = path_of(location);
    let id = path.rsplit('/').next().unwrap().to_owned();
    (path, id)
}

/// Waits until some request holds the upload's lease: the held request is then past its
/// checks and reading its body. A lock that has just appeared may still be withdrawn (its
/// request lists the upload after storing it, and backs off if another lock is there, with a
/// new lock for its next attempt), so the same lock must be seen twice, [`SETTLED`] apart.
async fn wait_for_lease(s: &TestServer, repo: &str, id: &str) {
    const SETTLED: Duration = Duration::from_millis(250);
    let dir = registry_core::layout::upload_dir(&repo.parse().unwrap(), id);
    let mut seen: Option<String> = None;
    for _ in 0..400 {
        let lock = s.storage().list(&dir).await.ok().and_then(|entries| {
            entries
                .iter()
                .map(|e| e.as_str().rsplit('/').next().unwrap().to_owned())
                .find(|name| name.starts_with("lock-"))
        });
        match (&seen, lock) {
            (Some(before), Some(now)) if *before == now => return,
            (_, now) => seen = now,
        }
        tokio::time::sleep(if seen.is_some() {
            SETTLED
        } else {
            Duration::from_millis(25)
        })
        .await;
    }
    panic!("no request took the lease of upload {id}");
}

async fn held_patch(s: &TestServer, path: &str, total: usize, first: &[u8]) -> HeldRequest {
    HeldRequest::open(
        s.authority(),
        "PATCH",
        path,
        &[("Content-Type", "application/octet-stream")],
        total,
        first,
    )
    .await
}

async fn put_digest(
    s: &TestServer,
    path: &str,
    digest: &Digest,
    body: Vec<u8>,
) -> reqwest::Response {
    s.send(
        s.request(Method::PUT, &format!("{path}?digest={digest}"))
            .body(body),
    )
    .await
}

async fn assert_blob_is(s: &TestServer, repo: &str, data: &[u8]) {
    let digest = Digest::sha256_of(data);
    let response = s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert!(body.as_ref() == data, "blob {digest} holds other bytes");
}

/// The first interleaving of the issue: an empty PUT of the empty blob's digest while a
/// PATCH's body is held must not let the PATCH's bytes into the empty blob.
async fn held_patch_then_put_of_the_empty_blob(driver: Driver) {
    let s = TestServer::start(driver).await;
    let repo = "races/empty";
    let (path, id) = upload_of(&s.start_upload(repo).await);
    let data = bytes(1, 3 * MIB);
    let mut patch = held_patch(&s, &path, data.len(), &[]).await;
    wait_for_lease(&s, repo, &id).await;

    let empty = Digest::sha256_of(b"");
    let response = put_digest(&s, &path, &empty, Vec::new()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;

    patch.send(&data).await;
    let answer = patch.response().await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert_eq!(answer.header("Range"), Some("0-3145727"));
    let response = s.get(&format!("/v2/{repo}/blobs/{empty}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;

    // The upload itself is intact and completes with its own bytes.
    let response = put_digest(&s, &path, &Digest::sha256_of(&data), Vec::new()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob_is(&s, repo, &data).await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    s.stop().await;
}

/// The second interleaving: PATCH A holds mid-body while PATCH B writes other bytes; the
/// upload must end up holding A's content exactly, under A's digest.
async fn racing_patches_keep_each_hash_with_its_bytes(driver: Driver) {
    let s = TestServer::start(driver).await;
    let repo = "races/two";
    let (path, id) = upload_of(&s.start_upload(repo).await);
    let content = bytes(2, 3 * MIB);
    let other = bytes(3, 2 * MIB);
    let mut a = held_patch(&s, &path, content.len(), &content[..2 * MIB]).await;
    wait_for_lease(&s, repo, &id).await;

    let response = s
        .send(s.request(Method::PATCH, &path).body(other.clone()))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;

    a.send(&content[2 * MIB..]).await;
    let answer = a.response().await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert_eq!(answer.header("Range"), Some("0-3145727"));
    let response = put_digest(&s, &path, &Digest::sha256_of(&content), Vec::new()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob_is(&s, repo, &content).await;
    let response = s
        .get(&format!("/v2/{repo}/blobs/{}", Digest::sha256_of(&other)))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    s.stop().await;
}

/// Completing while a PATCH is still writing fails the completion cleanly, with or without
/// a last chunk; the upload then completes normally.
async fn put_racing_a_patch(driver: Driver) {
    let s = TestServer::start(driver).await;
    let repo = "races/put";
    let (path, id) = upload_of(&s.start_upload(repo).await);
    let content = bytes(4, 2 * MIB);
    let mut patch = held_patch(&s, &path, content.len(), &content[..MIB]).await;
    wait_for_lease(&s, repo, &id).await;

    let digest = Digest::sha256_of(&content);
    let response = put_digest(&s, &path, &digest, Vec::new()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;
    let response = put_digest(&s, &path, &digest, content[MIB..].to_vec()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;
    let response = s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;

    patch.send(&content[MIB..]).await;
    assert_eq!(patch.response().await.status, 202);
    let response = put_digest(&s, &path, &digest, Vec::new()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob_is(&s, repo, &content).await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    s.stop().await;
}

/// A cancel while a PATCH writes: the PATCH then finds the upload gone, fails, and leaves
/// nothing behind.
async fn delete_racing_a_patch(driver: Driver) {
    let s = TestServer::start(driver).await;
    let repo = "races/delete";
    let (path, id) = upload_of(&s.start_upload(repo).await);
    let content = bytes(5, 2 * MIB);
    let mut patch = held_patch(&s, &path, content.len(), &content[..MIB]).await;
    wait_for_lease(&s, repo, &id).await;

    assert_eq!(s.delete(&path).await.status(), StatusCode::NO_CONTENT);
    patch.send(&content[MIB..]).await;
    let answer = patch.response().await;
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert!(
        answer.text().contains("BLOB_UPLOAD_UNKNOWN"),
        "{}",
        answer.text()
    );
    assert_error(
        s.get(&path).await,
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    let dir = registry_core::layout::upload_dir(&repo.parse().unwrap(), &id);
    let left = s.storage().list(&dir).await;
    assert!(
        left.as_ref().is_err_and(|e| e.is_not_found()),
        "the cancelled upload left {left:?}"
    );
    assert_eq!(assert_blobs_intact(s.storage()).await, 0);
    s.stop().await;
}

/// Once completed, an upload is unknown to every request.
async fn requests_after_completion(driver: Driver) {
    let s = TestServer::start(driver).await;
    let repo = "races/done";
    let (path, _) = upload_of(&s.start_upload(repo).await);
    let content = bytes(6, 100_000);
    let digest = Digest::sha256_of(&content);
    let response = put_digest(&s, &path, &digest, content.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let response = s
        .send(s.request(Method::PATCH, &path).body(b"more".to_vec()))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let response = put_digest(&s, &path, &digest, Vec::new()).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    assert_error(
        s.get(&path).await,
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    assert_error(
        s.delete(&path).await,
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    assert_blob_is(&s, repo, &content).await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    s.stop().await;
}

/// The status during a PATCH is what was committed before it; then what the PATCH added.
async fn status_during_a_patch(driver: Driver) {
    let s = TestServer::start(driver).await;
    let repo = "races/status";
    let (path, id) = upload_of(&s.start_upload(repo).await);
    let content = bytes(7, 1000 + 2 * MIB);
    let response = s
        .send(
            s.request(Method::PATCH, &path)
                .header("Content-Range", "0-999")
                .body(content[..1000].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mut patch = held_patch(&s, &path, 2 * MIB, &content[1000..1000 + MIB]).await;
    wait_for_lease(&s, repo, &id).await;
    let status = s.get(&path).await;
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&status, "Range").as_deref(), Some("0-999"));

    patch.send(&content[1000 + MIB..]).await;
    let answer = patch.response().await;
    assert_eq!(answer.status, 202);
    let end = format!("0-{}", content.len() - 1);
    assert_eq!(answer.header("Range"), Some(end.as_str()));
    let status = s.get(&path).await;
    assert_eq!(header(&status, "Range").as_deref(), Some(end.as_str()));
    let response = put_digest(&s, &path, &Digest::sha256_of(&content), Vec::new()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob_is(&s, repo, &content).await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    s.stop().await;
}

/// Two registry instances over the same storage: the lease taken on one holds on the other.
async fn two_instances_on_one_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    let t = s.sibling(Options::default()).await;
    let repo = "races/instances";
    let (path, id) = upload_of(&s.start_upload(repo).await);
    let content = bytes(8, 2 * MIB);
    let digest = Digest::sha256_of(&content);
    let mut patch = held_patch(&s, &path, content.len(), &content[..MIB]).await;
    wait_for_lease(&s, repo, &id).await;

    let response = t
        .send(t.request(Method::PATCH, &path).body(bytes(9, 4096)))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;
    let response = put_digest(&t, &path, &digest, Vec::new()).await;
    assert_error(response, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;

    patch.send(&content[MIB..]).await;
    assert_eq!(patch.response().await.status, 202);
    // Started on one instance, completed on the other.
    let response = put_digest(&t, &path, &digest, Vec::new()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob_is(&s, repo, &content).await;
    assert_blob_is(&t, repo, &content).await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    t.stop().await;
    s.stop().await;
}

/// Many PATCHes at once through two instances: each either succeeds or is refused, the ones
/// that succeed form the upload in the order of their ranges, and it completes to exactly
/// those bytes.
async fn many_patches_at_once(driver: Driver) {
    let s = std::sync::Arc::new(TestServer::start(driver).await);
    let t = std::sync::Arc::new(s.sibling(Options::default()).await);
    let repo = "races/many";
    let (path, _) = upload_of(&s.start_upload(repo).await);
    const LEN: usize = 300_000;
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let server = if i % 2 == 0 { s.clone() } else { t.clone() };
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let data = bytes(100 + i, LEN);
            let response = server
                .send(server.request(Method::PATCH, &path).body(data.clone()))
                .await;
            let status = response.status();
            let range = header(&response, "Range");
            if status == StatusCode::ACCEPTED {
                let end: usize = range.unwrap().split('-').nth(1).unwrap().parse().unwrap();
                return Some((end, data));
            }
            assert_error(response, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;
            None
        }));
    }
    let mut accepted = Vec::new();
    for task in tasks {
        if let Some(done) = task.await.unwrap() {
            accepted.push(done);
        }
    }
    // One more, alone, so that the upload is never empty.
    let last = bytes(200, LEN);
    let response = s
        .send(s.request(Method::PATCH, &path).body(last.clone()))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let end: usize = header(&response, "Range")
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    accepted.push((end, last));

    accepted.sort_by_key(|(end, _)| *end);
    let mut content = Vec::new();
    for (end, data) in &accepted {
        assert_eq!(
            *end,
            content.len() + LEN - 1,
            "accepted chunks overlap or leave gaps"
        );
        content.extend_from_slice(data);
    }
    let response = put_digest(&t, &path, &Digest::sha256_of(&content), Vec::new()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob_is(&s, repo, &content).await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    drop(t);
    drop(s);
}

/// A body that stalls longer than `http.timeouts.body` is dropped; what it sent stays in
/// the upload, which the client can resume.
async fn stalled_body_is_dropped_and_resumable(driver: Driver) {
    let options = Options {
        body_timeout: Some("1s".into()),
        ..Options::default()
    };
    let s = TestServer::start_with(driver, options).await;
    let repo = "races/stall";
    let (path, _) = upload_of(&s.start_upload(repo).await);
    let content = bytes(10, 2 * MIB);
    let started = std::time::Instant::now();
    let stalled = held_patch(&s, &path, content.len(), &content[..MIB]).await;
    let answer = stalled.response().await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("BLOB_UPLOAD_INVALID"),
        "{}",
        answer.text()
    );

    let status = s.get(&path).await;
    let kept = format!("0-{}", MIB - 1);
    assert_eq!(header(&status, "Range").as_deref(), Some(kept.as_str()));
    let response = s
        .send(
            s.request(Method::PATCH, &path)
                .header("Content-Range", format!("{MIB}-{}", content.len() - 1))
                .body(content[MIB..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = put_digest(&s, &path, &Digest::sha256_of(&content), Vec::new()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob_is(&s, repo, &content).await;
    assert_eq!(assert_blobs_intact(s.storage()).await, 1);
    s.stop().await;
}
