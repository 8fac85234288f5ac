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
