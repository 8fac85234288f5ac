//! Blob uploads: end-4a/4b (monolithic), end-5/end-6 (chunked and streamed), end-11 (mount),
//! end-13 (status), upload cancel; and that upload state lives in storage.

mod common;

use common::*;
use registry_core::domain::{Algorithm, Digest};
use reqwest::{Method, StatusCode};

driver_tests!(
    post_then_put_monolithic,
    single_post_with_digest,
    empty_blob_upload,
    streamed_patch_then_put,
    chunked_patches_with_content_range,
    final_chunk_in_the_closing_put,
    closing_put_chunk_must_continue_the_upload,
    out_of_order_chunk_is_416_and_keeps_the_upload,
    content_range_not_matching_content_length_is_416,
    status_reports_range_location_and_uuid,
    cancel_removes_the_upload,
    unknown_upload_ids_are_404,
    wrong_digest_on_put_leaves_nothing_behind,
    wrong_digest_on_single_post_leaves_nothing_behind,
    missing_or_malformed_digest_on_put_is_400,
    malformed_digest_on_single_post_is_400,
    sha512_digests_are_verified,
    pushing_the_same_blob_twice,
    large_upload_in_uneven_chunks,
    mount_from_a_repository_holding_the_blob_is_201,
    mount_from_a_repository_without_the_blob_starts_an_upload,
    patch_on_another_instance_continues_the_upload,
    missing_hash_state_is_rebuilt_from_the_data,
    upload_in_one_repository_is_unknown_in_another,
    concurrent_uploads_and_cancels,
    several_streamed_patches_append,
    an_empty_patch_changes_nothing,
    mount_without_from_starts_an_upload,
);

fn upload_path(location: &str) -> &str {
    location.split('?').next().unwrap()
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// GET of the blob answers exactly `data`.
async fn assert_blob(s: &TestServer, repo: &str, data: &[u8]) {
    let digest = Digest::sha256_of(data);
    let response = s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK, "GET blob {digest}");
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), data);
}

async fn assert_blob_absent(s: &TestServer, repo: &str, digest: &Digest) {
    let response = s.head(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "HEAD {digest}");
    let response = s.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

async fn assert_upload_unknown(s: &TestServer, location: &str) {
    let response = s.get(location).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
}

/// PATCH a chunk with `Content-Range: <start>-<end>`.
async fn patch_chunk(
    s: &TestServer,
    location: &str,
    start: u64,
    chunk: &[u8],
) -> reqwest::Response {
    let end = start + chunk.len() as u64 - 1;
    s.send(
        s.request(Method::PATCH, location)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{start}-{end}"))
            .body(chunk.to_vec()),
    )
    .await
}

/// The upload answer's headers: Location, `Range: 0-<last>`, Docker-Upload-UUID.
fn assert_in_progress(response: &reqwest::Response, status: StatusCode, size: u64) -> String {
    assert_eq!(response.status(), status);
    let last = size.saturating_sub(1);
    assert_eq!(header(response, "Range"), Some(format!("0-{last}")));
    let location = location(response);
    let uuid = header(response, "Docker-Upload-UUID").expect("Docker-Upload-UUID");
    assert!(
        upload_path(&location).ends_with(&format!("/blobs/uploads/{uuid}")),
        "{location} names upload {uuid}"
    );
    location
}

async fn post_then_put_monolithic(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(1, 5000);
    let digest = Digest::sha256_of(&data);
    let response = s
        .send(s.request(Method::POST, "/v2/mono/blobs/uploads/"))
        .await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 0);
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .header("Content-Type", "application/octet-stream")
                .body(data.clone()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(location_path(&response), format!("/v2/mono/blobs/{digest}"));
    assert_blob(&s, "mono", &data).await;
    // The finished upload is gone.
    assert_upload_unknown(&s, &location).await;
    s.stop().await;
}

fn location_path(response: &reqwest::Response) -> String {
    path_of(&location(response))
}

async fn single_post_with_digest(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(2, 3000);
    let digest = Digest::sha256_of(&data);
    let response = s
        .send(
            s.request(
                Method::POST,
                &format!("/v2/single/post/blobs/uploads/?digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .body(data.clone()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        location_path(&response),
        format!("/v2/single/post/blobs/{digest}")
    );
    assert_blob(&s, "single/post", &data).await;
    s.stop().await;
}

async fn empty_blob_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    let digest = s.push_blob("empty", b"").await;
    let response = s.get(&format!("/v2/empty/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "Content-Length").as_deref(), Some("0"));
    assert!(response.bytes().await.unwrap().is_empty());
    // And through an upload session with no data at all.
    let location = s.start_upload("empty").await;
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    s.stop().await;
}

async fn streamed_patch_then_put(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(3, 200_000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("streamed").await;
    // A streamed body of unknown length: no Content-Length, no Content-Range.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        data.chunks(7001).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(pieces));
    let response = s
        .send(
            s.request(Method::PATCH, &location)
                .header("Content-Type", "application/octet-stream")
                .body(body),
        )
        .await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, data.len() as u64);
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "streamed", &data).await;
    s.stop().await;
}

async fn chunked_patches_with_content_range(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(4, 10_000);
    let digest = Digest::sha256_of(&data);
    let mut location = s.start_upload("chunked").await;
    let mut offset = 0;
    for chunk in [&data[..1], &data[1..4096], &data[4096..9000], &data[9000..]] {
        let response = patch_chunk(&s, &location, offset, chunk).await;
        offset += chunk.len() as u64;
        location = assert_in_progress(&response, StatusCode::ACCEPTED, offset);
        let status = s.get(&location).await;
        assert_in_progress(&status, StatusCode::NO_CONTENT, offset);
    }
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "chunked", &data).await;
    s.stop().await;
}

async fn final_chunk_in_the_closing_put(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(5, 6000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("lastchunk").await;
    let response = patch_chunk(&s, &location, 0, &data[..2500]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 2500);
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("2500-{}", data.len() - 1))
                .body(data[2500..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "lastchunk", &data).await;

    // The last chunk without Content-Range is appended too.
    let other = bytes(55, 4000);
    let digest = Digest::sha256_of(&other);
    let location = s.start_upload("lastchunk").await;
    let response = patch_chunk(&s, &location, 0, &other[..1000]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 1000);
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .body(other[1000..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "lastchunk", &other).await;
    s.stop().await;
}

async fn closing_put_chunk_must_continue_the_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(6, 3000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("putrange").await;
    let response = patch_chunk(&s, &location, 0, &data[..1000]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 1000);
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .header("Content-Range", format!("1500-{}", data.len() - 1))
                .body(data[1500..].to_vec()),
        )
        .await;
    assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    // Nothing was lost: the upload is where it was and can finish.
    let status = s.get(&location).await;
    assert_in_progress(&status, StatusCode::NO_CONTENT, 1000);
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .header("Content-Range", format!("1000-{}", data.len() - 1))
                .body(data[1000..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "putrange", &data).await;
    s.stop().await;
}

async fn out_of_order_chunk_is_416_and_keeps_the_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(7, 4000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("order").await;
    let response = patch_chunk(&s, &location, 0, &data[..1000]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 1000);

    // A gap, an overlap and a restart: all refused, the upload stays at 1000 bytes.
    for start in [2000u64, 500, 0] {
        let chunk = &data[start as usize..start as usize + 1000];
        let response = patch_chunk(&s, &location, start, chunk).await;
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        // The spec: the answer says where the upload stands.
        assert_eq!(header(&response, "Range").as_deref(), Some("0-999"));
        assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    }
    let status = s.get(&location).await;
    assert_in_progress(&status, StatusCode::NO_CONTENT, 1000);

    let response = patch_chunk(&s, &location, 1000, &data[1000..]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 4000);
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "order", &data).await;
    s.stop().await;
}

async fn content_range_not_matching_content_length_is_416(driver: Driver) {
    let s = TestServer::start(driver).await;
    let location = s.start_upload("mismatch").await;
    let response = s
        .send(
            s.request(Method::PATCH, &location)
                .header("Content-Range", "0-99")
                .body(vec![1u8; 50]),
        )
        .await;
    assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    // Backwards and malformed ranges too.
    for range in ["99-0", "a-b", "0-", "-5"] {
        let response = s
            .send(
                s.request(Method::PATCH, &location)
                    .header("Content-Range", range)
                    .body(vec![1u8; 10]),
            )
            .await;
        assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    }
    let status = s.get(&location).await;
    assert_in_progress(&status, StatusCode::NO_CONTENT, 0);
    s.stop().await;
}

async fn status_reports_range_location_and_uuid(driver: Driver) {
    let s = TestServer::start(driver).await;
    let location = s.start_upload("status").await;
    let response = s.get(&location).await;
    let status_location = assert_in_progress(&response, StatusCode::NO_CONTENT, 0);
    assert_eq!(upload_path(&status_location), upload_path(&location));
    assert!(response.bytes().await.unwrap().is_empty());

    let response = patch_chunk(&s, &location, 0, &bytes(8, 10)).await;
    assert_in_progress(&response, StatusCode::ACCEPTED, 10);
    let response = s.get(&location).await;
    assert_in_progress(&response, StatusCode::NO_CONTENT, 10);
    s.stop().await;
}

async fn cancel_removes_the_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(9, 1000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("cancel").await;
    let response = patch_chunk(&s, &location, 0, &data).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 1000);

    let response = s.delete(&location).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_upload_unknown(&s, &location).await;
    let response = patch_chunk(&s, &location, 1000, b"more").await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let response = s.delete(&location).await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    assert_blob_absent(&s, "cancel", &digest).await;
    s.stop().await;
}

async fn unknown_upload_ids_are_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    let digest = Digest::sha256_of(b"x");
    for id in [
        "8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f",
        "not-an-upload",
        "00000000-0000-0000-0000-000000000000",
        "..data",
        "_uploads",
    ] {
        let path = format!("/v2/repo/blobs/uploads/{id}");
        assert_error(
            s.get(&path).await,
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
        let response = s
            .send(s.request(Method::PATCH, &path).body(b"data".to_vec()))
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
        let response = s
            .send(
                s.request(Method::PUT, &format!("{path}?digest={digest}"))
                    .body(b"x".to_vec()),
            )
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
        assert_error(
            s.delete(&path).await,
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        )
        .await;
    }
    s.stop().await;
}

async fn wrong_digest_on_put_leaves_nothing_behind(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(10, 2000);
    let claimed = Digest::sha256_of(b"something else");
    let location = s.start_upload("wrong").await;
    let response = patch_chunk(&s, &location, 0, &data).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 2000);
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &claimed)))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    assert_blob_absent(&s, "wrong", &claimed).await;
    assert_blob_absent(&s, "wrong", &Digest::sha256_of(&data)).await;
    assert_upload_unknown(&s, &location).await;
    // Nothing is stored under either digest, in any repository.
    for digest in [&claimed, &Digest::sha256_of(&data)] {
        let blob = registry_core::layout::blob_data(digest);
        assert!(s.storage().stat(&blob).await.is_err(), "{blob} exists");
    }
    s.stop().await;
}

async fn wrong_digest_on_single_post_leaves_nothing_behind(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(11, 700);
    let claimed = Digest::sha256_of(b"not the data");
    let response = s
        .send(
            s.request(
                Method::POST,
                &format!("/v2/wrongpost/blobs/uploads/?digest={claimed}"),
            )
            .body(data.clone()),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    assert_blob_absent(&s, "wrongpost", &claimed).await;
    assert_blob_absent(&s, "wrongpost", &Digest::sha256_of(&data)).await;
    // No upload directory is left behind either.
    let uploads = format!(
        "{}/_uploads",
        registry_core::layout::repository(&"wrongpost".parse().unwrap())
    );
    let left = s.storage().list(&uploads).await.unwrap_or_default();
    assert!(left.is_empty(), "leftover uploads: {left:?}");
    s.stop().await;
}

async fn missing_or_malformed_digest_on_put_is_400(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(12, 100);
    let location = s.start_upload("nodigest").await;
    let response = patch_chunk(&s, &location, 0, &data).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 100);
    let response = s.send(s.request(Method::PUT, &location)).await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    for bad in [
        "sha256:1234",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "nocolon",
        "",
    ] {
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={bad}");
        let response = s.send(s.request(Method::PUT, &url)).await;
        assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    }
    // A refused PUT does not end the upload: the client may retry it properly.
    let status = s.get(&location).await;
    assert_in_progress(&status, StatusCode::NO_CONTENT, 100);
    let response = s
        .send(s.request(
            Method::PUT,
            &with_digest(&location, &Digest::sha256_of(&data)),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    s.stop().await;
}

async fn malformed_digest_on_single_post_is_400(driver: Driver) {
    let s = TestServer::start(driver).await;
    for bad in ["sha256:abc", "SHA256:00", "sha256"] {
        let response = s
            .send(
                s.request(
                    Method::POST,
                    &format!("/v2/repo/blobs/uploads/?digest={bad}"),
                )
                .body(b"data".to_vec()),
            )
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    }
    s.stop().await;
}

async fn sha512_digests_are_verified(driver: Driver) {
    if !driver.stores_sha512_paths() {
        return;
    }
    let s = TestServer::start(driver).await;
    let data = bytes(13, 5000);
    let digest = Digest::of(Algorithm::Sha512, &data);
    let location = s.start_upload("sha512").await;
    let response = patch_chunk(&s, &location, 0, &data[..3000]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 3000);
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .body(data[3000..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = s.get(&format!("/v2/sha512/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);

    let wrong = Digest::of(Algorithm::Sha512, b"other");
    let response = s
        .send(
            s.request(
                Method::POST,
                &format!("/v2/sha512/blobs/uploads/?digest={wrong}"),
            )
            .body(data.clone()),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    assert_blob_absent(&s, "sha512", &wrong).await;
    s.stop().await;
}

async fn pushing_the_same_blob_twice(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(14, 1234);
    s.push_blob("twice", &data).await;
    s.push_blob("twice", &data).await;
    s.push_blob("twice/other", &data).await;
    assert_blob(&s, "twice", &data).await;
    assert_blob(&s, "twice/other", &data).await;
    s.stop().await;
}

async fn large_upload_in_uneven_chunks(driver: Driver) {
    let s = TestServer::start(driver).await;
    // Crosses the filesystem writer's 1 MiB buffering in several ways.
    let data = bytes(15, 3 * 1024 * 1024 + 12345);
    let digest = Digest::sha256_of(&data);
    let mut location = s.start_upload("large").await;
    let cuts = [
        0,
        100,
        1024 * 1024,
        1024 * 1024 + 1,
        2 * 1024 * 1024 + 7,
        data.len(),
    ];
    for pair in cuts.windows(2) {
        let response = patch_chunk(&s, &location, pair[0] as u64, &data[pair[0]..pair[1]]).await;
        location = assert_in_progress(&response, StatusCode::ACCEPTED, pair[1] as u64);
    }
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "large", &data).await;
    s.stop().await;
}

async fn mount_from_a_repository_holding_the_blob_is_201(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(16, 999);
    let digest = s.push_blob("source/repo", &data).await;
    let response = s
        .send(s.request(
            Method::POST,
            &format!("/v2/target/blobs/uploads/?mount={digest}&from=source/repo"),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        location_path(&response),
        format!("/v2/target/blobs/{digest}")
    );
    assert_eq!(
        header(&response, "Docker-Content-Digest").as_deref(),
        Some(digest.as_str())
    );
    assert_blob(&s, "target", &data).await;
    // The source keeps it.
    assert_blob(&s, "source/repo", &data).await;
    // The `from` value may arrive percent-encoded.
    let response = s
        .send(s.request(
            Method::POST,
            &format!("/v2/target2/blobs/uploads/?mount={digest}&from=source%2Frepo"),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "target2", &data).await;
    s.stop().await;
}

async fn mount_from_a_repository_without_the_blob_starts_an_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(17, 500);
    let digest = s.push_blob("holder", &data).await;
    for from in ["empty-source", "Not_Valid", "holder/deeper"] {
        let response = s
            .send(s.request(
                Method::POST,
                &format!("/v2/mounted/blobs/uploads/?mount={digest}&from={from}"),
            ))
            .await;
        let location = assert_in_progress(&response, StatusCode::ACCEPTED, 0);
        assert_blob_absent(&s, "mounted", &digest).await;
        // The new upload is a real one.
        let response = s
            .send(
                s.request(Method::PUT, &with_digest(&location, &digest))
                    .body(data.clone()),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "from={from}");
        assert_blob(&s, "mounted", &data).await;
        let response = s.delete(&format!("/v2/mounted/blobs/{digest}")).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    // A malformed mount digest is refused.
    let response = s
        .send(s.request(
            Method::POST,
            "/v2/mounted/blobs/uploads/?mount=sha256:zz&from=holder",
        ))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    s.stop().await;
}

async fn patch_on_another_instance_continues_the_upload(driver: Driver) {
    let first = TestServer::start(driver).await;
    let second = first.sibling(Options::default()).await;
    let data = bytes(18, 300_000);
    let digest = Digest::sha256_of(&data);

    let location = first.start_upload("roaming").await;
    let response = patch_chunk(&first, &location, 0, &data[..100_000]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 100_000);

    // The same Location, sent to the other instance.
    let status = second.get(&location_on(&second, &location)).await;
    assert_in_progress(&status, StatusCode::NO_CONTENT, 100_000);
    let response = patch_chunk(
        &second,
        &location_on(&second, &location),
        100_000,
        &data[100_000..250_000],
    )
    .await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 250_000);

    // And back to the first for the last chunk and the digest.
    let response = first
        .send(
            first
                .request(
                    Method::PUT,
                    &with_digest(&location_on(&first, &location), &digest),
                )
                .header("Content-Range", format!("250000-{}", data.len() - 1))
                .body(data[250_000..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&first, "roaming", &data).await;
    assert_blob(&second, "roaming", &data).await;
    second.stop().await;
    first.stop().await;
}

/// A `Location` rewritten to point at `server` (absolute Locations name the server that made
/// them).
fn location_on(server: &TestServer, location: &str) -> String {
    server.url(&path_of(location))
}

async fn missing_hash_state_is_rebuilt_from_the_data(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(19, 50_000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("rehash").await;
    let response = patch_chunk(&s, &location, 0, &data[..20_000]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 20_000);
    let id = header(&response, "Docker-Upload-UUID").unwrap();

    // The hash state is saved with the chunk's record; an unusable one (damaged storage) only
    // costs a re-read of the data.
    let repo = "rehash".parse().unwrap();
    let records = common::upload_records(s.storage(), &repo, &id).await;
    assert_eq!(records.len(), 1, "one chunk, one record: {records:?}");
    assert!(records[0].contains("/chunk-0-20000-"), "{records:?}");
    s.storage()
        .put_content(&records[0], "not a hash state")
        .await
        .unwrap();

    let response = patch_chunk(&s, &location, 20_000, &data[20_000..40_000]).await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 40_000);
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .body(data[40_000..].to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "rehash", &data).await;
    s.stop().await;
}

async fn upload_in_one_repository_is_unknown_in_another(driver: Driver) {
    let s = TestServer::start(driver).await;
    let location = s.start_upload("owner").await;
    let id = upload_path(&location)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let elsewhere = format!("/v2/intruder/blobs/uploads/{id}");
    assert_error(
        s.get(&elsewhere).await,
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
    )
    .await;
    let response = s
        .send(s.request(Method::PATCH, &elsewhere).body(b"x".to_vec()))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let status = s.get(&location).await;
    assert_in_progress(&status, StatusCode::NO_CONTENT, 0);
    s.stop().await;
}

async fn concurrent_uploads_and_cancels(driver: Driver) {
    // Many clients at once, some pushing the same content, others cancelling uploads in the
    // same repositories (which removes their directories while the rest write beside them).
    let s = std::sync::Arc::new(TestServer::start(driver).await);
    let mut tasks = Vec::new();
    for i in 0..24u64 {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let repo = format!("busy/r{}", i % 3);
            let location = s.start_upload(&repo).await;
            if i % 4 == 3 {
                let response = patch_chunk(&s, &location, 0, &bytes(i, 1000)).await;
                let location = assert_in_progress(&response, StatusCode::ACCEPTED, 1000);
                assert_eq!(s.delete(&location).await.status(), StatusCode::NO_CONTENT);
                return None;
            }
            // Pairs of tasks push identical content.
            let data = bytes(1000 + i / 2, 70_000);
            let digest = Digest::sha256_of(&data);
            let response = patch_chunk(&s, &location, 0, &data[..30_000]).await;
            let location = assert_in_progress(&response, StatusCode::ACCEPTED, 30_000);
            let response = s
                .send(
                    s.request(Method::PUT, &with_digest(&location, &digest))
                        .header("Content-Range", format!("30000-{}", data.len() - 1))
                        .body(data[30_000..].to_vec()),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED, "{repo} #{i}");
            Some((repo, data))
        }));
    }
    let mut pushed = Vec::new();
    for task in tasks {
        if let Some(done) = task.await.expect("a client task panicked") {
            pushed.push(done);
        }
    }
    assert_eq!(pushed.len(), 18);
    for (repo, data) in &pushed {
        assert_blob(&s, repo, data).await;
    }
    let s = std::sync::Arc::into_inner(s).expect("all clients done");
    s.stop().await;
}

/// Streamed PATCHes (no Content-Range, no Content-Length) one after another append in order,
/// as docker's pusher sends them.
async fn several_streamed_patches_append(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(81, 150_000);
    let digest = Digest::sha256_of(&data);
    let mut location = s.start_upload("streams").await;
    let mut sent = 0u64;
    for part in [&data[..1], &data[1..70_000], &data[70_000..]] {
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
            part.chunks(5003).map(|c| Ok(c.to_vec())).collect();
        let response = s
            .send(
                s.request(Method::PATCH, &location)
                    .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces))),
            )
            .await;
        sent += part.len() as u64;
        location = assert_in_progress(&response, StatusCode::ACCEPTED, sent);
    }
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "streams", &data).await;
    s.stop().await;
}

/// An empty PATCH is accepted and leaves the upload where it was, before and after data.
async fn an_empty_patch_changes_nothing(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(82, 4_000);
    let digest = Digest::sha256_of(&data);
    let location = s.start_upload("empty-patch").await;
    let response = s
        .send(s.request(Method::PATCH, &location).body(Vec::new()))
        .await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 0);
    let response = s
        .send(s.request(Method::PATCH, &location).body(data.clone()))
        .await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, data.len() as u64);
    let response = s
        .send(s.request(Method::PATCH, &location).body(Vec::new()))
        .await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, data.len() as u64);
    let response = s.send(s.request(Method::GET, &location)).await;
    assert_in_progress(&response, StatusCode::NO_CONTENT, data.len() as u64);
    let response = s
        .send(s.request(Method::PUT, &with_digest(&location, &digest)))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "empty-patch", &data).await;
    s.stop().await;
}

/// `mount` without `from` (OCI 1.1 lets a registry look for the blob itself; the reference
/// does not): an upload starts, and nothing tells whether the blob exists elsewhere.
async fn mount_without_from_starts_an_upload(driver: Driver) {
    let s = TestServer::start(driver).await;
    let data = bytes(83, 500);
    let digest = s.push_blob("elsewhere", &data).await;
    let response = s
        .send(s.request(
            Method::POST,
            &format!("/v2/nofrom/blobs/uploads/?mount={digest}"),
        ))
        .await;
    let location = assert_in_progress(&response, StatusCode::ACCEPTED, 0);
    assert_blob_absent(&s, "nofrom", &digest).await;
    let response = s
        .send(
            s.request(Method::PUT, &with_digest(&location, &digest))
                .body(data.clone()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_blob(&s, "nofrom", &data).await;
    s.stop().await;
}
