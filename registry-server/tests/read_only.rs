//! `storage.maintenance.readonly.enabled`: every write is refused with 405, reads still work.

mod common;

use common::*;
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};

driver_tests!(writes_are_refused_reads_still_work);

async fn writes_are_refused_reads_still_work(driver: Driver) {
    // Content written by a writable server, then served by a read-only one over the same storage.
    let writable = TestServer::start(driver).await;
    let layer = bytes(1, 500);
    let manifest = writable.image("frozen", 1, 1).await;
    writable.push_manifest("frozen", "v1", &manifest).await;
    let layer_digest = writable.push_blob("frozen", &layer).await;
    let upload = writable.start_upload("frozen").await;

    let s = writable.sibling(Options::read_only()).await;
    let refused: Vec<(Method, String, Vec<u8>)> = vec![
        (Method::POST, "/v2/frozen/blobs/uploads/".into(), vec![]),
        (
            Method::POST,
            format!(
                "/v2/frozen/blobs/uploads/?digest={}",
                Digest::sha256_of(b"new")
            ),
            b"new".to_vec(),
        ),
        (
            Method::POST,
            format!("/v2/other/blobs/uploads/?mount={layer_digest}&from=frozen"),
            vec![],
        ),
        (Method::PATCH, upload.clone(), b"chunk".to_vec()),
        (
            Method::PUT,
            format!("{upload}?digest={}", Digest::sha256_of(b"")),
            vec![],
        ),
        (Method::DELETE, upload.clone(), vec![]),
        (
            Method::PUT,
            "/v2/frozen/manifests/v2".into(),
            manifest.body.clone(),
        ),
        (Method::DELETE, "/v2/frozen/manifests/v1".into(), vec![]),
        (
            Method::DELETE,
            format!("/v2/frozen/manifests/{}", manifest.digest()),
            vec![],
        ),
        (
            Method::DELETE,
            format!("/v2/frozen/blobs/{layer_digest}"),
            vec![],
        ),
    ];
    for (method, path, body) in refused {
        let response = s
            .send(
                s.request(method.clone(), &path)
                    .header("Content-Type", OCI_MANIFEST)
                    .body(body),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
    }

    // Reads are served, and nothing changed.
    let response = s.get("/v2/frozen/manifests/v1").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &manifest.body[..]);
    let response = s.get(&format!("/v2/frozen/blobs/{layer_digest}")).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), &layer[..]);
    let tags = json(s.get("/v2/frozen/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    let catalog = json(s.get("/v2/_catalog").await).await;
    assert_eq!(catalog["repositories"], serde_json::json!(["frozen"]));
    assert_eq!(s.get(&upload).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&format!("/v2/other/blobs/{layer_digest}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    s.stop().await;
    writable.stop().await;
}
