//! What the HTTP fuzzer (`tests/fuzz.rs`) found, each as a focused test that reproduces it
//! without the fuzzer's randomness.

mod common;

use common::*;
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};

driver_tests!(concurrent_completions_of_one_upload);

/// Two `PUT`s completing the same upload at once (found with `REGISTRY_FUZZ_SEED=2`): one
/// wins, the other must learn that the upload is gone (404) or that its digest is wrong (400),
/// never a 500 because the upload's data vanished under it.
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
            [StatusCode::CREATED, StatusCode::NOT_FOUND].contains(&statuses[0])
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
