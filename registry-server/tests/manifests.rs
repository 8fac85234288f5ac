//! Manifests: end-3 (GET/HEAD), end-7 (PUT), end-9 (DELETE), in the four formats.

mod common;

use common::*;
use registry_core::domain::{Algorithm, Digest};
use reqwest::{Method, StatusCode};
use serde_json::json;

driver_tests!(
    oci_image_manifest_by_tag_and_digest,
    oci_index_by_tag_and_digest,
    docker_schema2_manifest_by_tag_and_digest,
    docker_manifest_list_by_tag_and_digest,
    head_answers_the_same_headers_without_a_body,
    index_children_must_be_in_the_repository,
    referenced_blobs_must_be_in_the_repository,
    invalid_manifests_are_400,
    descriptor_size_must_match_the_blob,
    put_by_digest_checks_the_digest,
    oversized_manifests_are_413,
    accept_negotiation,
    unknown_manifests_are_404,
    a_tag_moves_to_the_newest_manifest,
    delete_by_digest_removes_its_tags,
    delete_by_tag_keeps_the_manifest,
    deletes_disabled_are_405,
    manifest_digests_are_not_blobs_of_the_repository,
    a_manifest_is_served_as_the_type_it_was_pushed_as,
    if_none_match_answers_304,
    ambiguous_manifests_are_400,
    foreign_layers_need_not_be_in_the_repository,
    nested_indexes,
    index_children_must_be_manifests,
    docker_list_with_a_missing_child_is_refused,
    deleting_a_child_of_an_index,
    configured_manifest_limit,
);

/// GET and HEAD of `reference` answer `manifest` exactly.
async fn assert_manifest(s: &TestServer, repo: &str, reference: &str, manifest: &Manifest) {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let digest = manifest.digest();
    let response = s
        .send(
            s.request(Method::GET, &path)
                .header("Accept", &manifest.media_type),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    assert_eq!(
        header(&response, "Content-Type").as_deref(),
        Some(manifest.media_type.as_str()),
        "GET {path}"
    );
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str()),
        "GET {path}"
    );
    assert_eq!(
        header(&response, "Content-Length"),
        Some(manifest.body.len().to_string())
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &manifest.body[..],
        "GET {path}"
    );
}

/// PUT `manifest` under `reference` and check the 201's headers.
async fn put_and_check(s: &TestServer, repo: &str, reference: &str, manifest: &Manifest) {
    let response = s
        .put_manifest(repo, reference, &manifest.media_type, &manifest.body)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "PUT {repo}:{reference}"
    );
    let digest = manifest.digest();
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str())
    );
    let location = location(&response);
    assert!(
        location.ends_with(&format!("/v2/{repo}/manifests/{digest}")),
        "Location {location}"
    );
    assert!(header(&response, "OCI-Subject").is_none());
}

async fn oci_image_manifest_by_tag_and_digest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("oci/image", 1, 2).await;
    put_and_check(&s, "oci/image", "v1", &manifest).await;
    assert_manifest(&s, "oci/image", "v1", &manifest).await;
    assert_manifest(&s, "oci/image", manifest.digest().as_str(), &manifest).await;

    let other = s.image("oci/image", 2, 1).await;
    put_and_check(&s, "oci/image", other.digest().as_str(), &other).await;
    assert_manifest(&s, "oci/image", other.digest().as_str(), &other).await;
    s.stop().await;
}

async fn oci_index_by_tag_and_digest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let amd = s.image("multi", 3, 1).await;
    let arm = s.image("multi", 4, 1).await;
    s.push_manifest("multi", amd.digest().as_str(), &amd).await;
    s.push_manifest("multi", arm.digest().as_str(), &arm).await;
    let index = index_manifest(ImageFormat::Oci, &[&amd, &arm], None);
    put_and_check(&s, "multi", "latest", &index).await;
    assert_manifest(&s, "multi", "latest", &index).await;
    assert_manifest(&s, "multi", index.digest().as_str(), &index).await;

    let index2 = index_manifest(
        ImageFormat::Oci,
        &[&arm],
        Some(json!({"annotations": {"a": "b"}})),
    );
    put_and_check(&s, "multi", index2.digest().as_str(), &index2).await;
    assert_manifest(&s, "multi", index2.digest().as_str(), &index2).await;
    s.stop().await;
}

async fn docker_schema2_manifest_by_tag_and_digest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s
        .image_of_type("docker/v2", 5, 2, ImageFormat::Docker)
        .await;
    assert_eq!(manifest.media_type, DOCKER_MANIFEST);
    put_and_check(&s, "docker/v2", "1.0", &manifest).await;
    assert_manifest(&s, "docker/v2", "1.0", &manifest).await;
    assert_manifest(&s, "docker/v2", manifest.digest().as_str(), &manifest).await;

    let other = s
        .image_of_type("docker/v2", 6, 1, ImageFormat::Docker)
        .await;
    put_and_check(&s, "docker/v2", other.digest().as_str(), &other).await;
    assert_manifest(&s, "docker/v2", other.digest().as_str(), &other).await;
    s.stop().await;
}

async fn docker_manifest_list_by_tag_and_digest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let a = s
        .image_of_type("docker/list", 7, 1, ImageFormat::Docker)
        .await;
    let b = s
        .image_of_type("docker/list", 8, 1, ImageFormat::Docker)
        .await;
    s.push_manifest("docker/list", "a", &a).await;
    s.push_manifest("docker/list", "b", &b).await;
    let list = index_manifest(ImageFormat::Docker, &[&a, &b], None);
    assert_eq!(list.media_type, DOCKER_LIST);
    put_and_check(&s, "docker/list", "latest", &list).await;
    assert_manifest(&s, "docker/list", "latest", &list).await;
    assert_manifest(&s, "docker/list", list.digest().as_str(), &list).await;

    let list2 = index_manifest(ImageFormat::Docker, &[&b], None);
    put_and_check(&s, "docker/list", list2.digest().as_str(), &list2).await;
    assert_manifest(&s, "docker/list", list2.digest().as_str(), &list2).await;
    s.stop().await;
}

async fn head_answers_the_same_headers_without_a_body(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("heads", 9, 1).await;
    s.push_manifest("heads", "v1", &manifest).await;
    for reference in ["v1".to_owned(), manifest.digest().to_string()] {
        let path = format!("/v2/heads/manifests/{reference}");
        let get = s.get(&path).await;
        let head = s.head(&path).await;
        assert_eq!(head.status(), StatusCode::OK, "{path}");
        for name in [
            "Content-Type",
            "Docker-Content-Digest",
            "Content-Length",
            "ETag",
        ] {
            assert!(header(&get, name).is_some(), "GET {path} has {name}");
            assert_eq!(header(&head, name), header(&get, name), "{name} of {path}");
        }
        assert_eq!(
            header(&head, "Content-Length"),
            Some(manifest.body.len().to_string())
        );
        assert!(head.bytes().await.unwrap().is_empty());
    }
    let head = s.head("/v2/heads/manifests/nope").await;
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

async fn index_children_must_be_in_the_repository(driver: Driver) {
    let s = TestServer::start(driver).await;
    let child = s.image("children", 10, 1).await;
    let index = index_manifest(ImageFormat::Oci, &[&child], None);
    // The child is not pushed yet.
    let response = s
        .put_manifest("children", "idx", OCI_INDEX, &index.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    // Pushed to another repository only: still unknown here.
    let elsewhere = s.image("elsewhere", 10, 1).await;
    s.push_manifest("elsewhere", "x", &elsewhere).await;
    let response = s
        .put_manifest("children", "idx", OCI_INDEX, &index.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    // Once pushed here, the index is accepted.
    s.push_manifest("children", "child", &child).await;
    put_and_check(&s, "children", "idx", &index).await;
    let response = s.get("/v2/children/manifests/idx").await;
    assert_eq!(response.status(), StatusCode::OK);
    s.stop().await;
}

async fn referenced_blobs_must_be_in_the_repository(driver: Driver) {
    let s = TestServer::start(driver).await;
    let config = config_blob(11);
    let layer = bytes(11, 200);
    let (config_digest, layer_digest) = (Digest::sha256_of(&config), Digest::sha256_of(&layer));
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &[(layer_digest.clone(), layer.len() as u64)],
        None,
    );
    // Neither pushed.
    let response = s
        .put_manifest("blobs", "v1", OCI_MANIFEST, &manifest.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    // Config only.
    s.push_blob("blobs", &config).await;
    let response = s
        .put_manifest("blobs", "v1", OCI_MANIFEST, &manifest.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    // The layer in another repository does not count.
    s.push_blob("other", &layer).await;
    let response = s
        .put_manifest("blobs", "v1", OCI_MANIFEST, &manifest.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    // Nothing was stored by the refused pushes.
    let response = s.get("/v2/blobs/manifests/v1").await;
    assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    s.push_blob("blobs", &layer).await;
    put_and_check(&s, "blobs", "v1", &manifest).await;
    s.stop().await;
}

async fn invalid_manifests_are_400(driver: Driver) {
    let s = TestServer::start(driver).await;
    let valid = s.image("invalid", 12, 1).await;
    let text = String::from_utf8(valid.body.clone()).unwrap();
    let cases: Vec<(&str, String)> = vec![
        (OCI_MANIFEST, "not json".to_owned()),
        (OCI_MANIFEST, "".to_owned()),
        (OCI_MANIFEST, "null".to_owned()),
        (OCI_MANIFEST, "[1,2]".to_owned()),
        (
            OCI_MANIFEST,
            text.replace("\"schemaVersion\": 2", "\"schemaVersion\": 3"),
        ),
        (
            OCI_MANIFEST,
            text.replace("\"schemaVersion\": 2", "\"schemaVersion\": \"2\""),
        ),
        (
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST}).to_string(),
        ),
        (OCI_MANIFEST, text.replace("sha256:", "sha256:zz")),
        (OCI_MANIFEST, text.replace(OCI_LAYER, "not a media type")),
        // The body says image manifest, the Content-Type says index.
        (OCI_INDEX, text.clone()),
        (
            "application/vnd.docker.distribution.manifest.v1+json",
            json!({"schemaVersion": 1, "name": "invalid", "tag": "x", "fsLayers": []}).to_string(),
        ),
        (
            OCI_INDEX,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"digest": "x"}]})
                .to_string(),
        ),
    ];
    for (content_type, body) in cases {
        let response = s
            .put_manifest("invalid", "v1", content_type, body.as_bytes())
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    }
    // A well-formed signed schema 1 manifest is refused by policy, and says so.
    let signed = json!({
        "schemaVersion": 1, "name": "invalid", "tag": "v1", "architecture": "amd64",
        "fsLayers": [{"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],
        "history": [{"v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\"}"}],
        "signatures": [{
            "header": {"jwk": {"crv": "P-256", "kid": "OD6I:6DRK:JXEJ:KBM4:255X:NSAA:MUSF:E4VM:ZI6W:CUN2:L4Z6:LSF4", "kty": "EC",
                                "x": "3gAwX48IQ5oaYQAYSxor6rYYc_6yjuLCjtQ9LUakg4A", "y": "t72ge6kIA1XOjqjVoEOiPPAURltJFBMGDSQvEGVB010"},
                       "alg": "ES256"},
            "signature": "XREm0L8WNn27Ga_iE_vRnTxVMhhYY0Zst_FfkKopg6gWSoTOZTuW4rK0fg_IqnKkEKlbD83tD46LKEGi5aIVFg",
            "protected": "eyJmb3JtYXRMZW5ndGgiOjY2MjgsImZvcm1hdFRhaWwiOiJDbjAiLCJ0aW1lIjoiMjAxNS0wNC0wOFQxODo1Mjo1OVoifQ"
        }]
    })
    .to_string();
    let response = s
        .put_manifest(
            "invalid",
            "v1",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            signed.as_bytes(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("schema 1 manifests are deprecated")),
        "{body}"
    );
    let response = s.get("/v2/invalid/manifests/v1").await;
    assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    s.stop().await;
}

async fn descriptor_size_must_match_the_blob(driver: Driver) {
    let s = TestServer::start(driver).await;
    let config = config_blob(13);
    let config_digest = s.push_blob("sizes", &config).await;
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64 + 1),
        &[],
        None,
    );
    let response = s
        .put_manifest("sizes", "v1", OCI_MANIFEST, &manifest.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    s.stop().await;
}

async fn put_by_digest_checks_the_digest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("bydigest", 14, 1).await;
    let wrong = Digest::sha256_of(b"another manifest");
    let response = s
        .put_manifest("bydigest", wrong.as_str(), OCI_MANIFEST, &manifest.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    assert_error(
        s.get(&format!("/v2/bydigest/manifests/{wrong}")).await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    )
    .await;
    assert_error(
        s.get(&format!("/v2/bydigest/manifests/{}", manifest.digest()))
            .await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    )
    .await;
    // A malformed digest reference.
    let response = s
        .put_manifest("bydigest", "sha256:abc", OCI_MANIFEST, &manifest.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    if !driver.stores_sha512_paths() {
        s.stop().await;
        return;
    }
    // A sha512 reference is checked with sha512.
    let sha512 = Digest::of(Algorithm::Sha512, &manifest.body);
    let response = s
        .put_manifest("bydigest", sha512.as_str(), OCI_MANIFEST, &manifest.body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(sha512.as_str())
    );
    let response = s.get(&format!("/v2/bydigest/manifests/{sha512}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &manifest.body[..]);
    s.stop().await;
}

async fn oversized_manifests_are_413(driver: Driver) {
    let s = TestServer::start(driver).await;
    let limit = 4 * 1024 * 1024;
    let valid = s.image("big", 15, 1).await;
    let mut value: serde_json::Value = serde_json::from_slice(&valid.body).unwrap();
    // Pad with an annotation to exactly the limit, then one byte more.
    value["annotations"] = json!({"pad": ""});
    let base = serde_json::to_vec(&value).unwrap().len();
    value["annotations"]["pad"] = json!("x".repeat(limit - base));
    let at_limit = serde_json::to_vec(&value).unwrap();
    assert_eq!(at_limit.len(), limit);
    value["annotations"]["pad"] = json!("x".repeat(limit - base + 1));
    let over = serde_json::to_vec(&value).unwrap();

    let response = s.put_manifest("big", "over", OCI_MANIFEST, &over).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID").await;
    // Streamed without a Content-Length, the limit holds as well.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        over.chunks(65536).map(|c| Ok(c.to_vec())).collect();
    let response = s
        .send(
            s.request(Method::PUT, "/v2/big/manifests/streamed")
                .header("Content-Type", OCI_MANIFEST)
                .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces))),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    for tag in ["over", "streamed"] {
        let response = s.get(&format!("/v2/big/manifests/{tag}")).await;
        assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    // Exactly at the limit is accepted.
    let response = s
        .put_manifest("big", "limit", OCI_MANIFEST, &at_limit)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    s.stop().await;
}

async fn accept_negotiation(driver: Driver) {
    let s = TestServer::start(driver).await;
    let oci = s.image("accept", 16, 1).await;
    let docker = s.image_of_type("accept", 17, 1, ImageFormat::Docker).await;
    s.push_manifest("accept", "oci", &oci).await;
    s.push_manifest("accept", "docker", &docker).await;
    let index = index_manifest(ImageFormat::Oci, &[&oci], None);
    s.push_manifest("accept", "index", &index).await;

    let get = |tag: &'static str, accept: Option<&'static str>| {
        let mut request = s.request(Method::GET, &format!("/v2/accept/manifests/{tag}"));
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        s.send(request)
    };
    let served: [(&str, Option<&str>, &Manifest); 8] = [
        ("oci", None, &oci),
        ("oci", Some("*/*"), &oci),
        ("oci", Some(OCI_MANIFEST), &oci),
        (
            "oci",
            Some("application/vnd.oci.image.manifest.v1+json; q=0.9, text/plain"),
            &oci,
        ),
        (
            "docker",
            Some(
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            ),
            &docker,
        ),
        ("docker", None, &docker),
        ("index", Some(OCI_INDEX), &index),
        ("index", Some("application/json, */*;q=0.1"), &index),
    ];
    for (tag, accept, manifest) in served {
        let response = get(tag, accept).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{tag} with Accept {accept:?}"
        );
        assert_eq!(
            header(&response, "Content-Type").as_deref(),
            Some(manifest.media_type.as_str())
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), &manifest.body[..]);
    }
    let refused: [(&str, &str); 4] = [
        ("oci", DOCKER_MANIFEST),
        ("docker", OCI_MANIFEST),
        (
            "index",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        ),
        ("oci", "text/plain"),
    ];
    for (tag, accept) in refused {
        let response = get(tag, Some(accept)).await;
        assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    s.stop().await;
}

async fn unknown_manifests_are_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("known", 18, 1).await;
    s.push_manifest("known", "v1", &manifest).await;
    let absent = Digest::sha256_of(b"absent manifest");
    for path in [
        "/v2/known/manifests/v2".to_owned(),
        format!("/v2/known/manifests/{absent}"),
        "/v2/unknown/manifests/v1".to_owned(),
        format!("/v2/unknown/manifests/{}", manifest.digest()),
    ] {
        assert_error(
            s.get(&path).await,
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        )
        .await;
        assert_eq!(
            s.head(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    s.stop().await;
}

async fn a_tag_moves_to_the_newest_manifest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let first = s.image("moving", 19, 1).await;
    let second = s.image("moving", 20, 1).await;
    s.push_manifest("moving", "latest", &first).await;
    s.push_manifest("moving", "latest", &second).await;
    assert_manifest(&s, "moving", "latest", &second).await;
    // The first stays reachable by digest.
    assert_manifest(&s, "moving", first.digest().as_str(), &first).await;
    s.stop().await;
}

async fn delete_by_digest_removes_its_tags(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("deleting", 21, 1).await;
    let other = s.image("deleting", 22, 1).await;
    s.push_manifest("deleting", "a", &manifest).await;
    s.push_manifest("deleting", "b", &manifest).await;
    s.push_manifest("deleting", "c", &other).await;
    let path = format!("/v2/deleting/manifests/{}", manifest.digest());
    let response = s.delete(&path).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_error(
        s.get(&path).await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    )
    .await;
    for tag in ["a", "b"] {
        let response = s.get(&format!("/v2/deleting/manifests/{tag}")).await;
        assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    let tags = json(s.get("/v2/deleting/tags/list").await).await;
    assert_eq!(tags["tags"], json!(["c"]));
    assert_manifest(&s, "deleting", "c", &other).await;
    // Deleting it again: unknown.
    assert_error(
        s.delete(&path).await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    )
    .await;
    s.stop().await;
}

async fn delete_by_tag_keeps_the_manifest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("untag", 23, 1).await;
    s.push_manifest("untag", "a", &manifest).await;
    s.push_manifest("untag", "b", &manifest).await;
    let response = s.delete("/v2/untag/manifests/a").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_error(
        s.get("/v2/untag/manifests/a").await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    )
    .await;
    assert_manifest(&s, "untag", "b", &manifest).await;
    assert_manifest(&s, "untag", manifest.digest().as_str(), &manifest).await;
    let tags = json(s.get("/v2/untag/tags/list").await).await;
    assert_eq!(tags["tags"], json!(["b"]));
    assert_error(
        s.delete("/v2/untag/manifests/a").await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    )
    .await;
    s.stop().await;
}

async fn deletes_disabled_are_405(driver: Driver) {
    let s = TestServer::start_with(driver, Options::no_delete()).await;
    let manifest = s.image("kept", 24, 1).await;
    s.push_manifest("kept", "v1", &manifest).await;
    for reference in ["v1".to_owned(), manifest.digest().to_string()] {
        let response = s.delete(&format!("/v2/kept/manifests/{reference}")).await;
        assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
    }
    assert_manifest(&s, "kept", "v1", &manifest).await;
    s.stop().await;
}

async fn manifest_digests_are_not_blobs_of_the_repository(driver: Driver) {
    // As in the reference: a manifest is reached through /manifests/, not /blobs/, and a
    // blob digest is no manifest.
    let s = TestServer::start(driver).await;
    let manifest = s.image("separate", 25, 1).await;
    s.push_manifest("separate", "v1", &manifest).await;
    let config = Digest::sha256_of(&config_blob(25));
    let response = s.get(&format!("/v2/separate/manifests/{config}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    s.stop().await;
}

/// `manifest` without its `mediaType` field.
fn undeclared(manifest: &Manifest) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    value.as_object_mut().unwrap().remove("mediaType");
    serde_json::to_vec(&value).unwrap()
}

async fn a_manifest_is_served_as_the_type_it_was_pushed_as(driver: Driver) {
    let s = TestServer::start(driver).await;
    let oci = s.image("typed", 26, 1).await;
    let docker = s.image_of_type("typed", 27, 1, ImageFormat::Docker).await;
    s.push_manifest("typed", "docker", &docker).await;
    let list = index_manifest(ImageFormat::Docker, &[&docker], None);

    // OCI documents may leave mediaType out: their shape and Content-Type say what they are.
    let bare_oci = undeclared(&oci);
    for content_type in [OCI_MANIFEST, "application/octet-stream"] {
        let response = s
            .put_manifest("typed", "bare", content_type, &bare_oci)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
        let response = s.get("/v2/typed/manifests/bare").await;
        assert_eq!(
            header(&response, "Content-Type").as_deref(),
            Some(OCI_MANIFEST)
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), &bare_oci[..]);
    }
    s.push_manifest("typed", oci.digest().as_str(), &oci).await;
    let bare_index = undeclared(&index_manifest(ImageFormat::Oci, &[&oci], None));
    let response = s
        .put_manifest("typed", "index", OCI_INDEX, &bare_index)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = s.get("/v2/typed/manifests/index").await;
    assert_eq!(
        header(&response, "Content-Type").as_deref(),
        Some(OCI_INDEX)
    );

    // Docker documents must declare theirs (as the reference requires): without it they would
    // be served back as OCI.
    for (content_type, body) in [
        (DOCKER_MANIFEST, undeclared(&docker)),
        (DOCKER_LIST, undeclared(&list)),
        (OCI_INDEX, br#"{"schemaVersion":2}"#.to_vec()),
    ] {
        let response = s
            .put_manifest("typed", "refused", content_type, &body)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    }
    s.stop().await;
}

async fn if_none_match_answers_304(driver: Driver) {
    let s = TestServer::start(driver).await;
    let manifest = s.image("etag", 28, 1).await;
    s.push_manifest("etag", "v1", &manifest).await;
    let etag = header(&s.get("/v2/etag/manifests/v1").await, "ETag").expect("an ETag");
    assert_eq!(etag, format!("\"{}\"", manifest.digest()));
    let response = s
        .send(
            s.request(Method::GET, "/v2/etag/manifests/v1")
                .header("If-None-Match", &etag),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(manifest.digest().as_str())
    );
    assert!(response.bytes().await.unwrap().is_empty());
    let response = s
        .send(
            s.request(Method::GET, "/v2/etag/manifests/v1")
                .header("If-None-Match", "\"sha256:other\""),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    s.stop().await;
}

/// Manifests that JSON parsers read differently (a key twice; a key Go's decoder takes for a
/// field though it differs in letter case) are refused, and nothing is stored.
async fn ambiguous_manifests_are_400(driver: Driver) {
    let s = TestServer::start(driver).await;
    let shown = s.image("ambiguous", 60, 1).await;
    let hidden = s.image("ambiguous", 61, 1).await;
    let hidden_layers = {
        let value: serde_json::Value = serde_json::from_slice(&hidden.body).unwrap();
        value["layers"].to_string()
    };
    let text = String::from_utf8(shown.body.clone()).unwrap();
    let close = text.rfind('}').unwrap();
    let with = |extra: &str| format!("{},{extra}}}", &text[..close]);
    let bodies = [
        // Which of the two layer lists counts depends on the parser.
        with(&format!(r#""layers":{hidden_layers}"#)),
        // Go reads "Layers" as the layers: it replaces the list the registry checked.
        with(&format!(r#""Layers":{hidden_layers}"#)),
        with(r#""MediaType":"application/vnd.oci.image.index.v1+json""#),
        text.replacen(r#""digest""#, r#""Digest""#, 1),
        text.replacen(r#""size""#, r#""size": 1, "size""#, 1),
    ];
    for body in bodies {
        let digest = Digest::sha256_of(body.as_bytes());
        for reference in ["v1", digest.as_str()] {
            let response = s
                .put_manifest("ambiguous", reference, OCI_MANIFEST, body.as_bytes())
                .await;
            assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
        }
        let response = s.get(&format!("/v2/ambiguous/manifests/{digest}")).await;
        assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    assert_error(
        s.get("/v2/ambiguous/manifests/v1").await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    )
    .await;
    // The plain manifest is fine.
    s.push_manifest("ambiguous", "v1", &shown).await;
    s.stop().await;
}

/// Foreign (non-distributable) layers live elsewhere (`urls`): a manifest may name them
/// without their blobs being pushed, while its other layers must still be here.
async fn foreign_layers_need_not_be_in_the_repository(driver: Driver) {
    let s = TestServer::start(driver).await;
    let config = config_blob(61);
    let config_digest = s.push_blob("foreign", &config).await;
    let local = bytes(62, 300);
    let local_digest = s.push_blob("foreign", &local).await;
    let absent = Digest::sha256_of(b"a Windows base layer that never comes here");
    let body = |foreign_type: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest.as_str(), "size": config.len()},
            "layers": [
                {"mediaType": foreign_type, "digest": absent.as_str(), "size": 1234,
                 "urls": ["https://mcr.example.com/layer"]},
                {"mediaType": DOCKER_LAYER, "digest": local_digest.as_str(), "size": local.len()},
            ],
        }))
        .unwrap()
    };
    for (i, foreign_type) in [
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ]
    .into_iter()
    .enumerate()
    {
        let manifest = Manifest {
            media_type: DOCKER_MANIFEST.to_owned(),
            body: body(foreign_type),
        };
        let tag = format!("v{i}");
        s.push_manifest("foreign", &tag, &manifest).await;
        assert_manifest(&s, "foreign", &tag, &manifest).await;
    }
    // The same layer with a distributable type must be present.
    let as_local = body(DOCKER_LAYER);
    let response = s
        .put_manifest("foreign", "v9", DOCKER_MANIFEST, &as_local)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    s.stop().await;
}

/// An index may list another index (nested multi-platform images).
async fn nested_indexes(driver: Driver) {
    let s = TestServer::start(driver).await;
    let a = s.image("nested", 63, 1).await;
    let b = s.image("nested", 64, 1).await;
    s.push_manifest("nested", a.digest().as_str(), &a).await;
    s.push_manifest("nested", b.digest().as_str(), &b).await;
    let inner = index_manifest(ImageFormat::Oci, &[&a, &b], None);
    s.push_manifest("nested", inner.digest().as_str(), &inner)
        .await;
    let outer = index_manifest(ImageFormat::Oci, &[&inner, &a], None);
    s.push_manifest("nested", "outer", &outer).await;
    assert_manifest(&s, "nested", "outer", &outer).await;
    // The inner index must be in the repository first.
    let orphan_inner = index_manifest(ImageFormat::Oci, &[&b], None);
    let outer2 = index_manifest(ImageFormat::Oci, &[&orphan_inner], None);
    let response = s
        .put_manifest("nested", "outer2", OCI_INDEX, &outer2.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    s.stop().await;
}

/// An index entry must name a manifest: a layer blob of the repository is not one.
async fn index_children_must_be_manifests(driver: Driver) {
    let s = TestServer::start(driver).await;
    let layer = bytes(65, 128);
    let layer_digest = s.push_blob("children", &layer).await;
    let fake_child = Manifest {
        media_type: OCI_MANIFEST.to_owned(),
        body: layer.clone(),
    };
    assert_eq!(fake_child.digest(), layer_digest);
    let index = index_manifest(ImageFormat::Oci, &[&fake_child], None);
    let response = s
        .put_manifest("children", "v1", OCI_INDEX, &index.body)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    s.stop().await;
}

async fn docker_list_with_a_missing_child_is_refused(driver: Driver) {
    let s = TestServer::start(driver).await;
    let present = s.image_of_type("dlist", 66, 1, ImageFormat::Docker).await;
    s.push_manifest("dlist", present.digest().as_str(), &present)
        .await;
    let missing = s.image_of_type("dlist", 67, 1, ImageFormat::Docker).await;
    let list = index_manifest(ImageFormat::Docker, &[&present, &missing], None);
    let response = s.put_manifest("dlist", "v1", DOCKER_LIST, &list.body).await;
    assert_error(response, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    assert_eq!(
        s.get("/v2/dlist/manifests/v1").await.status(),
        StatusCode::NOT_FOUND
    );
    // With the child pushed, the same list is accepted.
    s.push_manifest("dlist", missing.digest().as_str(), &missing)
        .await;
    s.push_manifest("dlist", "v1", &list).await;
    s.stop().await;
}

/// Deleting a manifest that an index lists is allowed, as in the reference (no reference
/// counting): the index stays and is served; the child is gone.
async fn deleting_a_child_of_an_index(driver: Driver) {
    let s = TestServer::start(driver).await;
    let a = s.image("parent", 68, 1).await;
    let b = s.image("parent", 69, 1).await;
    s.push_manifest("parent", a.digest().as_str(), &a).await;
    s.push_manifest("parent", b.digest().as_str(), &b).await;
    let index = index_manifest(ImageFormat::Oci, &[&a, &b], None);
    s.push_manifest("parent", "multi", &index).await;
    let response = s
        .delete(&format!("/v2/parent/manifests/{}", a.digest()))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        s.get(&format!("/v2/parent/manifests/{}", a.digest()))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_manifest(&s, "parent", "multi", &index).await;
    assert_manifest(&s, "parent", b.digest().as_str(), &b).await;
    s.stop().await;
}

/// `validation.manifests.maxbytes` sets the limit: at it accepted, one byte over 413.
async fn configured_manifest_limit(driver: Driver) {
    let options = Options {
        sections: Some("validation:\n  manifests:\n    maxbytes: 2000\n".to_owned()),
        ..Options::default()
    };
    let s = TestServer::start_with(driver, options).await;
    let valid = s.image("limit", 71, 1).await;
    let mut value: serde_json::Value = serde_json::from_slice(&valid.body).unwrap();
    value["annotations"] = json!({"pad": ""});
    let base = serde_json::to_vec(&value).unwrap().len();
    value["annotations"]["pad"] = json!("x".repeat(2000 - base));
    let at_limit = serde_json::to_vec(&value).unwrap();
    value["annotations"]["pad"] = json!("x".repeat(2001 - base));
    let over = serde_json::to_vec(&value).unwrap();
    let response = s.put_manifest("limit", "over", OCI_MANIFEST, &over).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID").await;
    let response = s.put_manifest("limit", "at", OCI_MANIFEST, &at_limit).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    s.stop().await;
}
