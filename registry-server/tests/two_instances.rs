//! Two registry instances over one storage, as behind a load balancer: what one does, the
//! other sees on its next request (no instance keeps a stale copy of a tag or a manifest).

mod common;

use common::*;
use reqwest::StatusCode;

driver_tests!(
    a_moved_tag_is_seen_by_the_other_instance,
    a_deleted_manifest_is_gone_on_the_other_instance,
    concurrent_puts_to_one_tag,
    delete_while_pushing,
);

async fn digest_of_tag(s: &TestServer, repo: &str, tag: &str) -> Option<String> {
    let response = s.get(&format!("/v2/{repo}/manifests/{tag}")).await;
    match response.status() {
        StatusCode::OK => header(&response, "Docker-Content-Digest"),
        StatusCode::NOT_FOUND => None,
        other => panic!("GET {repo}:{tag} answered {other}"),
    }
}

async fn a_moved_tag_is_seen_by_the_other_instance(driver: Driver) {
    let a = TestServer::start(driver).await;
    let b = a.sibling(Options::default()).await;
    let first = a.image("moving", 1, 1).await;
    let second = a.image("moving", 2, 1).await;
    a.push_manifest("moving", "latest", &first).await;
    // B reads it (and may keep whatever it caches).
    assert_eq!(
        digest_of_tag(&b, "moving", "latest").await.as_deref(),
        Some(first.digest().as_str())
    );
    for _ in 0..3 {
        assert_eq!(
            digest_of_tag(&b, "moving", "latest").await.as_deref(),
            Some(first.digest().as_str())
        );
    }
    a.push_manifest("moving", "latest", &second).await;
    assert_eq!(
        digest_of_tag(&b, "moving", "latest").await.as_deref(),
        Some(second.digest().as_str()),
        "B serves the tag where A moved it"
    );
    // And back, through B this time.
    b.push_manifest("moving", "latest", &first).await;
    assert_eq!(
        digest_of_tag(&a, "moving", "latest").await.as_deref(),
        Some(first.digest().as_str())
    );
    let response = b.delete("/v2/moving/manifests/latest").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        digest_of_tag(&a, "moving", "latest").await,
        None,
        "a deleted tag is gone on A"
    );
    b.stop().await;
    a.stop().await;
}

async fn a_deleted_manifest_is_gone_on_the_other_instance(driver: Driver) {
    let a = TestServer::start(driver).await;
    let b = a.sibling(Options::default()).await;
    let image = a.image("deleted", 3, 1).await;
    a.push_manifest("deleted", "v1", &image).await;
    let by_digest = format!("/v2/deleted/manifests/{}", image.digest());
    for _ in 0..3 {
        assert_eq!(b.get(&by_digest).await.status(), StatusCode::OK);
        assert_eq!(b.head(&by_digest).await.status(), StatusCode::OK);
    }
    assert_eq!(a.delete(&by_digest).await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.get(&by_digest).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.head(&by_digest).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        b.get("/v2/deleted/manifests/v1").await.status(),
        StatusCode::NOT_FOUND
    );
    b.stop().await;
    a.stop().await;
}

/// Many PUTs of different manifests to one tag through both instances at once: every PUT
/// succeeds, and afterwards both instances agree on one of them, whole.
async fn concurrent_puts_to_one_tag(driver: Driver) {
    let a = TestServer::start(driver).await;
    let b = a.sibling(Options::default()).await;
    let mut images = Vec::new();
    for seed in 0..8 {
        images.push(a.image("race", 10 + seed, 1).await);
    }
    let puts = images.iter().enumerate().map(|(i, image)| {
        let server = if i % 2 == 0 { &a } else { &b };
        async move {
            server
                .put_manifest("race", "latest", &image.media_type, &image.body)
                .await
                .status()
        }
    });
    for status in futures::future::join_all(puts).await {
        assert_eq!(status, StatusCode::CREATED);
    }
    let on_a = digest_of_tag(&a, "race", "latest").await.expect("tagged");
    let on_b = digest_of_tag(&b, "race", "latest").await.expect("tagged");
    assert_eq!(on_a, on_b);
    let winner = images
        .iter()
        .find(|image| image.digest().as_str() == on_a)
        .expect("the tag names one of the pushed manifests");
    let response = b.get("/v2/race/manifests/latest").await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), &winner.body[..]);
    // Every manifest stays reachable by digest.
    for image in &images {
        let path = format!("/v2/race/manifests/{}", image.digest());
        assert_eq!(a.get(&path).await.status(), StatusCode::OK);
    }
    b.stop().await;
    a.stop().await;
}

/// A blob deleted on one instance while the other pushes a manifest that needs it: the
/// manifest PUT either was validated before the delete (and then names a blob the delete
/// unlinked, as in the reference) or is refused for the missing blob and leaves no manifest.
/// Never a 5xx, and the delete always takes effect.
async fn delete_while_pushing(driver: Driver) {
    let a = TestServer::start(driver).await;
    let b = a.sibling(Options::default()).await;
    for round in 0..6u64 {
        let repo = format!("dwp{round}");
        let image = a.image(&repo, 40 + round, 1).await;
        let layer = image_layer(&image);
        let blob_path = format!("/v2/{repo}/blobs/{layer}");
        let delete = a.delete(&blob_path);
        let put = b.put_manifest(&repo, "v1", &image.media_type, &image.body);
        let (deleted, put) = futures::join!(delete, put);
        assert_eq!(deleted.status(), StatusCode::ACCEPTED);
        let blob_status = a.head(&format!("/v2/{repo}/blobs/{layer}")).await.status();
        assert_eq!(blob_status, StatusCode::NOT_FOUND, "the delete took effect");
        match put.status() {
            StatusCode::CREATED => {}
            StatusCode::BAD_REQUEST => {
                assert_error(put, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
                assert_eq!(
                    b.get(&format!("/v2/{repo}/manifests/v1")).await.status(),
                    StatusCode::NOT_FOUND
                );
            }
            other => panic!("manifest PUT during a delete answered {other}"),
        }
    }
    b.stop().await;
    a.stop().await;
}

fn image_layer(image: &Manifest) -> String {
    let value: serde_json::Value = serde_json::from_slice(&image.body).unwrap();
    value["layers"][0]["digest"].as_str().unwrap().to_owned()
}
