//! Blobs: end-2 (GET/HEAD), ranged GET, end-10 (DELETE).

mod common;

use common::*;
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};

driver_tests!(
    get_answers_the_bytes_with_their_digest,
    head_answers_the_same_headers_without_a_body,
    range_requests_answer_206,
    unsatisfiable_ranges_are_416,
    malformed_digests_are_400,
    unknown_blobs_are_404,
    a_blob_of_another_repository_is_404,
    delete_unlinks_the_blob_from_one_repository,
    delete_of_an_unknown_blob_is_404,
    deletes_disabled_are_405,
    large_blobs_stream_whole,
    percent_encoded_paths_name_the_same_resources,
);

async fn get_answers_the_bytes_with_their_digest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(1, 4321);
    let digest = s.push_blob("get/me", &data).await;
    let response = s.get(&format!("/v2/get/me/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "Content-Length"),
        Some(data.len().to_string())
    );
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(header(&response, "ETag"), Some(format!("\"{digest}\"")));
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
    s.stop().await;
}

async fn head_answers_the_same_headers_without_a_body(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(2, 777);
    let digest = s.push_blob("heads", &data).await;
    let path = format!("/v2/heads/blobs/{digest}");
    let get = s.get(&path).await;
    let head = s.head(&path).await;
    assert_eq!(head.status(), StatusCode::OK);
    for name in [
        "Content-Length",
        "Docker-Content-Digest",
        "Content-Type",
        "ETag",
    ] {
        assert!(header(&get, name).is_some(), "GET has {name}");
        assert_eq!(header(&head, name), header(&get, name), "{name}");
    }
    assert_eq!(header(&head, "Content-Length"), Some("777".to_owned()));
    assert!(head.bytes().await.unwrap().is_empty());
    // An empty blob's HEAD says 0, not nothing.
    let empty = s.push_blob("heads", b"").await;
    let head = s.head(&format!("/v2/heads/blobs/{empty}")).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "Content-Length").as_deref(), Some("0"));
    s.stop().await;
}

async fn range_requests_answer_206(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(3, 1000);
    let digest = s.push_blob("ranges", &data).await;
    let path = format!("/v2/ranges/blobs/{digest}");
    let cases: [(&str, usize, usize); 5] = [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=900-5000", 900, 999),
    ];
    for (range, first, last) in cases {
        let response = s
            .send(s.request(Method::GET, &path).header("Range", range))
            .await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&response, "Content-Range"),
            Some(format!("bytes {first}-{last}/1000")),
            "{range}"
        );
        assert_eq!(
            header(&response, "Content-Length"),
            Some((last - first + 1).to_string())
        );
        assert_eq!(
            header(&response, "Docker-Content-Digest").as_deref(),
            Some(digest.as_str())
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            &data[first..=last],
            "{range}"
        );
    }
    s.stop().await;
}

async fn unsatisfiable_ranges_are_416(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(4, 100);
    let digest = s.push_blob("ranges", &data).await;
    let path = format!("/v2/ranges/blobs/{digest}");
    for range in ["bytes=100-", "bytes=500-600", "bytes=50-10", "bytes=-0"] {
        let response = s
            .send(s.request(Method::GET, &path).header("Range", range))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert_eq!(
            header(&response, "Content-Range").as_deref(),
            Some("bytes */100"),
            "{range}"
        );
        assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    }
    // Malformed ranges are refused, not misread (several ranges: tests/multi_range.rs).
    for range in ["bytes=a-b", "lines=0-1", "bytes=0-1,x", "bytes=-"] {
        let response = s
            .send(s.request(Method::GET, &path).header("Range", range))
            .await;
        assert_eq!(
            header(&response, "Content-Range").as_deref(),
            Some("bytes */100"),
            "{range}"
        );
        assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    }
    s.stop().await;
}

async fn malformed_digests_are_400(driver: Driver) {
    let s = TestServer::start(driver).await;
    for digest in [
        "sha256:abc",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "latest",
        "sha256:",
    ] {
        let path = format!("/v2/repo/blobs/{digest}");
        assert_error(
            s.get(&path).await,
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        )
        .await;
        assert_eq!(s.head(&path).await.status(), StatusCode::BAD_REQUEST);
        assert_error(
            s.delete(&path).await,
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        )
        .await;
    }
    s.stop().await;
}

async fn unknown_blobs_are_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    let digest = Digest::sha256_of(b"never pushed");
    let path = format!("/v2/unknown/blobs/{digest}");
    assert_error(s.get(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    let head = s.head(&path).await;
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    assert!(head.bytes().await.unwrap().is_empty());
    s.stop().await;
}

async fn a_blob_of_another_repository_is_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(5, 300);
    let digest = s.push_blob("owner", &data).await;
    for repo in ["other", "owner/sub", "own"] {
        let path = format!("/v2/{repo}/blobs/{digest}");
        assert_error(s.get(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
        assert_eq!(s.head(&path).await.status(), StatusCode::NOT_FOUND);
        for range in ["bytes=0-1", "bytes=garbage"] {
            let response = s
                .send(s.request(Method::GET, &path).header("Range", range))
                .await;
            assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
        }
    }
    s.stop().await;
}

async fn delete_unlinks_the_blob_from_one_repository(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(6, 400);
    let digest = s.push_blob("first", &data).await;
    s.push_blob("second", &data).await;
    let path = format!("/v2/first/blobs/{digest}");
    let response = s.delete(&path).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str())
    );
    assert_error(s.get(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    assert_eq!(s.head(&path).await.status(), StatusCode::NOT_FOUND);
    assert_error(s.delete(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    // The other repository still has it.
    let response = s.get(&format!("/v2/second/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
    s.stop().await;
}

async fn delete_of_an_unknown_blob_is_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    let digest = Digest::sha256_of(b"absent");
    let response = s.delete(&format!("/v2/nothing/blobs/{digest}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    s.stop().await;
}

async fn deletes_disabled_are_405(driver: Driver) {
    let s = TestServer::start_with(driver, Options::no_delete()).await;
    let data = bytes(7, 100);
    let digest = s.push_blob("kept", &data).await;
    let path = format!("/v2/kept/blobs/{digest}");
    assert_error(
        s.delete(&path).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
    )
    .await;
    assert_eq!(s.get(&path).await.status(), StatusCode::OK);
    s.stop().await;
}

async fn large_blobs_stream_whole(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(8, 5 * 1024 * 1024 + 3);
    let digest = s.push_blob("large", &data).await;
    let response = s.get(&format!("/v2/large/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "Content-Length"),
        Some(data.len().to_string())
    );
    let body = response.bytes().await.unwrap();
    assert!(body.as_ref() == &data[..], "the large blob differs");
    let response = s
        .send(
            s.request(Method::GET, &format!("/v2/large/blobs/{digest}"))
                .header("Range", "bytes=4194300-4194310"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &data[4194300..=4194310]
    );
    s.stop().await;
}

async fn percent_encoded_paths_name_the_same_resources(driver: Driver) {
    // Not because RFC 3986 says so: `:` and `/` are reserved characters, and §2.2 makes their
    // percent-encoded forms different data. The reference (Go's net/http) decodes the path
    // before routing, so clients that escape `:` in a digest or `/` in a name reach the same
    // resource there, and this registry answers them the same way.
    let s = TestServer::start(driver).await;
    let data = bytes(9, 64);
    let digest = s.push_blob("enc/oded", &data).await;
    let escaped = digest.as_str().replace(':', "%3A");
    for path in [
        format!("/v2/enc/oded/blobs/{escaped}"),
        format!("/v2/enc%2Foded/blobs/{digest}"),
        format!("/v2/%65nc/oded/blobs/{escaped}"),
    ] {
        let response = s.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&response, "Docker-Content-Digest").as_deref(),
            Some(digest.as_str())
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
    }
    let manifest = s.image("enc/oded", 10, 1).await;
    s.push_manifest("enc/oded", "v1", &manifest).await;
    let escaped = manifest.digest().as_str().replace(':', "%3a");
    let response = s.get(&format!("/v2/enc/oded/manifests/{escaped}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &manifest.body[..]);
    s.stop().await;
}
