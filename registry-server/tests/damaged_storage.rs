//! Storage that is not as the registry left it: content removed behind its back (garbage
//! collection, an operator, a crash midway), links holding garbage, lost upload state. Every
//! answer is the 4xx the missing piece implies, never a 5xx; uploads recover what they can.

mod common;

use bytes::Bytes;
use common::*;
use registry_core::domain::{Digest, RepositoryName, Tag};
use registry_core::layout;
use reqwest::{Method, StatusCode};

driver_tests!(
    blob_content_gone,
    manifest_content_gone,
    links_holding_garbage,
    tag_without_its_current_link,
    upload_data_gone,
    corrupt_hash_state_is_rebuilt,
    corrupt_referrer_entries_are_skipped,
    repository_content_at_the_top_level,
);

fn name(text: &str) -> RepositoryName {
    text.parse().unwrap()
}

async fn blob_content_gone(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(1, 300);
    let digest = s.push_blob("gone", &data).await;
    s.storage()
        .delete(&layout::blob_data(&digest))
        .await
        .unwrap();
    let path = format!("/v2/gone/blobs/{digest}");
    assert_error(s.get(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    assert_eq!(s.head(&path).await.status(), StatusCode::NOT_FOUND);
    let ranged = s
        .send(s.request(Method::GET, &path).header("Range", "bytes=0-9"))
        .await;
    assert_error(ranged, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    // A manifest naming it is refused, and a mount from here starts an upload instead.
    let config = config_blob(1);
    let config_digest = s.push_blob("gone", &config).await;
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &[(digest.clone(), data.len() as u64)],
        None,
    );
    let response = s
        .put_manifest("gone", "v1", OCI_MANIFEST, &manifest.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    let response = s
        .send(s.request(
            Method::POST,
            &format!("/v2/other/blobs/uploads/?mount={digest}&from=gone"),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // Pushing it again restores it.
    s.push_blob("gone", &data).await;
    let response = s.get(&path).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
    // Deleting a blob whose content is gone only unlinks it.
    s.storage()
        .delete(&layout::blob_data(&digest))
        .await
        .unwrap();
    assert_eq!(s.delete(&path).await.status(), StatusCode::ACCEPTED);
    s.stop().await;
}

async fn manifest_content_gone(driver: Driver) {
    let s = TestServer::start(driver).await;
    let child = s.image("lost", 2, 1).await;
    s.push_manifest("lost", "v1", &child).await;
    s.storage()
        .delete(&layout::blob_data(&child.digest()))
        .await
        .unwrap();
    for reference in ["v1".to_owned(), child.digest().to_string()] {
        let path = format!("/v2/lost/manifests/{reference}");
        assert_error(
            s.get(&path).await,
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        )
        .await;
        assert_eq!(s.head(&path).await.status(), StatusCode::NOT_FOUND);
    }
    // An index naming it is refused.
    let index = index_manifest(ImageFormat::Oci, &[&child], None);
    let response = s.put_manifest("lost", "idx", OCI_INDEX, &index.body).await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    // It can still be deleted (which removes its tag), and pushed again.
    let response = s
        .delete(&format!("/v2/lost/manifests/{}", child.digest()))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // Its only tag went with it: an untagged repository is unknown to the tags API.
    let response = s.get("/v2/lost/tags/list").await;
    assert_error(response, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    s.push_manifest("lost", "v1", &child).await;
    assert_eq!(
        s.get("/v2/lost/manifests/v1").await.status(),
        StatusCode::OK
    );
    s.stop().await;
}

async fn links_holding_garbage(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(3, 100);
    let digest = s.push_blob("garbled", &data).await;
    let manifest = s.image("garbled", 4, 1).await;
    s.push_manifest("garbled", "v1", &manifest).await;
    let repo = name("garbled");
    let tag: Tag = "v1".parse().unwrap();
    let other = Digest::sha256_of(b"another digest");
    for garbage in [
        Bytes::from_static(b""),
        Bytes::from_static(b"not a digest"),
        Bytes::from_static(b"\xff\xfe"),
        Bytes::from(other.to_string()),
    ] {
        for link in [
            layout::layer_link(&repo, &digest),
            layout::revision_link(&repo, &manifest.digest()),
            layout::tag_current_link(&repo, &tag),
        ] {
            s.storage()
                .put_content(&link, garbage.clone())
                .await
                .unwrap();
        }
        let path = format!("/v2/garbled/blobs/{digest}");
        assert_error(s.get(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
        assert_error(s.delete(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
        for reference in ["v1".to_owned(), manifest.digest().to_string()] {
            let path = format!("/v2/garbled/manifests/{reference}");
            assert_error(
                s.get(&path).await,
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
            )
            .await;
        }
        let response = s
            .delete(&format!("/v2/garbled/manifests/{}", manifest.digest()))
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    // Pushing again rewrites the links.
    s.push_blob("garbled", &data).await;
    s.push_manifest("garbled", "v1", &manifest).await;
    assert_eq!(
        s.get("/v2/garbled/manifests/v1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        s.get(&format!("/v2/garbled/blobs/{digest}")).await.status(),
        StatusCode::OK
    );
    s.stop().await;
}

async fn tag_without_its_current_link(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("halftag", 5, 1).await;
    s.push_manifest("halftag", "v1", &manifest).await;
    s.push_manifest("halftag", "v2", &manifest).await;
    let repo = name("halftag");
    let tag: Tag = "v1".parse().unwrap();
    s.storage()
        .delete(&layout::tag_current_link(&repo, &tag))
        .await
        .unwrap();
    let response = s.get("/v2/halftag/manifests/v1").await;
    assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let response = s.delete("/v2/halftag/manifests/v1").await;
    assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    assert_eq!(
        s.get("/v2/halftag/tags/list").await.status(),
        StatusCode::OK
    );
    // Deleting the manifest by digest still removes every tag that points to it.
    let response = s
        .delete(&format!("/v2/halftag/manifests/{}", manifest.digest()))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = s.get("/v2/halftag/manifests/v2").await;
    assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    s.stop().await;
}

async fn upload_data_gone(driver: Driver) {
    let s = TestServer::start(driver).await;
    let location = s.start_upload("noupload").await;
    let id = location.rsplit('/').next().unwrap().to_owned();
    let repo = name("noupload");
    let response = s
        .send(s.request(Method::PATCH, &location).body(b"x".to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // A chunk's record without its data: the upload cannot be completed, and the attempt
    // removes it instead of publishing anything or failing with a 5xx.
    let records = common::upload_records(s.storage(), &repo, &id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let nonce = records[0]
        .rsplit('/')
        .next()
        .unwrap()
        .split('-')
        .nth(3)
        .unwrap();
    let data = layout::upload_entry(&repo, &id, &format!("data-{nonce}"));
    s.storage().delete(&data).await.unwrap();
    let digest = Digest::sha256_of(b"x");
    let response = s
        .send(s.request(Method::PUT, &format!("{location}?digest={digest}")))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let response = s.get(&format!("/v2/noupload/blobs/{digest}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    assert_error(
        s.get(&location).await,
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    assert!(
        s.storage()
            .list(&layout::upload_dir(&repo, &id))
            .await
            .is_err(),
        "nothing of the broken upload is left"
    );
    s.stop().await;
}

async fn corrupt_hash_state_is_rebuilt(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(6, 9000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("badstate").await;
    let response = s
        .send(
            s.request(Method::PATCH, &location)
                .header("Content-Range", "0-4999")
                .body(data[..5000].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = common::location(&response);
    let id = header(&response, "Docker-Upload-UUID").unwrap();
    let records = common::upload_records(s.storage(), &name("badstate"), &id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    s.storage()
        .put_content(&records[0], "not a hash state")
        .await
        .unwrap();
    let response = s
        .send(
            s.request(Method::PUT, &format!("{location}?digest={digest}"))
                .body(data[5000..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = s.get(&format!("/v2/badstate/blobs/{digest}")).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
    s.stop().await;
}

async fn corrupt_referrer_entries_are_skipped(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("badref", 7, 1).await;
    s.push_manifest("badref", "v1", &image).await;
    let repo = name("badref");
    let bogus = Digest::sha256_of(b"bogus referrer");
    s.storage()
        .put_content(
            &layout::referrer_entry(&repo, &image.digest(), &bogus),
            "{not json",
        )
        .await
        .unwrap();
    let response = s
        .get(&format!("/v2/badref/referrers/{}", image.digest()))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let index = json(response).await;
    assert_eq!(index["manifests"], serde_json::json!([]));
    s.stop().await;
}

/// `_layers` or `_manifests` right under `repositories/` (no client request can make that
/// layout; damaged or hand-edited storage can): the catalog still answers, listing the real
/// repository.
async fn repository_content_at_the_top_level(driver: Driver) {
    let s = TestServer::start(driver).await;
    let image = s.image("real/repo", 3, 1).await;
    s.push_manifest("real/repo", "v1", &image).await;
    let root = layout::repositories_root();
    for stray in ["_layers/sha256/abc/link", "_manifests/tags/x/current/link"] {
        s.storage()
            .put_content(&format!("{root}/{stray}"), "garbage")
            .await
            .unwrap();
    }
    for query in ["", "?n=1", "?n=1&last=real/repo"] {
        let response = s.get(&format!("/v2/_catalog{query}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let listed = json(response).await;
        let names: Vec<&str> = listed["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if query.contains("last") {
            assert!(names.is_empty(), "{query}: {names:?}");
        } else {
            assert_eq!(names, ["real/repo"], "{query}");
        }
    }
    s.stop().await;
}
