//! end-1: `GET /v2/`, and the headers every response carries.

mod common;

use common::*;
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};

driver_tests!(
    version_check_answers_200,
    head_version_check_answers_200,
    errors_carry_the_api_version_header,
    other_methods_on_the_base_are_405,
    unknown_endpoints_are_404,
    prefix_and_host_shape_every_url,
);

async fn version_check_answers_200(driver: Driver) {
    let s = TestServer::start(driver).await;
    let response = s.get("/v2/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, API_VERSION).as_deref(),
        Some("registry/2.0")
    );
    assert_eq!(json(response).await, serde_json::json!({}));
    // Without the trailing slash too: clients differ.
    assert_eq!(s.get("/v2").await.status(), StatusCode::OK);
    s.stop().await;
}

async fn head_version_check_answers_200(driver: Driver) {
    let s = TestServer::start(driver).await;
    let response = s.head("/v2/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().is_empty());
    s.stop().await;
}

async fn errors_carry_the_api_version_header(driver: Driver) {
    let s = TestServer::start(driver).await;
    // `send` checks the header on every answer; these are answers of every error kind.
    let digest = registry_core::domain::Digest::sha256_of(b"nothing");
    for path in [
        format!("/v2/nope/blobs/{digest}"),
        "/v2/nope/manifests/latest".to_owned(),
        "/v2/nope/tags/list".to_owned(),
        "/v2/nope/blobs/sha256:zz".to_owned(),
        "/v2/Upper/manifests/latest".to_owned(),
        "/nowhere".to_owned(),
    ] {
        let response = s.get(&path).await;
        assert!(response.status().is_client_error(), "{path}");
    }
    s.stop().await;
}

async fn other_methods_on_the_base_are_405(driver: Driver) {
    let s = TestServer::start(driver).await;
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let response = s.send(s.request(method.clone(), "/v2/")).await;
        assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
    }
    s.stop().await;
}

async fn unknown_endpoints_are_404(driver: Driver) {
    let s = TestServer::start(driver).await;
    for path in ["/", "/v1/", "/v2x", "/v2/repo", "/v2/repo/things/x"] {
        let response = s.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    s.stop().await;
}

async fn prefix_and_host_shape_every_url(driver: Driver) {
    let options = Options {
        prefix: Some("/mirror/".into()),
        host: Some("https://registry.example.com".into()),
        ..Options::default()
    };
    let s = TestServer::start_with(driver, options).await;
    assert_eq!(s.get("/mirror/v2/").await.status(), StatusCode::OK);
    assert_eq!(s.get("/v2/").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.get("/mirrorv2/").await.status(), StatusCode::NOT_FOUND);

    let external = "https://registry.example.com/mirror/v2/";
    let data = bytes(1, 100);
    let digest = Digest::sha256_of(&data);
    let response = s
        .send(s.request(Method::POST, "/mirror/v2/pre/fixed/blobs/uploads/"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let upload = location(&response);
    assert!(
        upload.starts_with(&format!("{external}pre/fixed/blobs/uploads/")),
        "{upload}"
    );
    // Behind the proxy that `http.host` names, the path is what reaches the registry.
    let upload_path = upload.trim_start_matches("https://registry.example.com");
    let response = s
        .send(
            s.request(Method::PUT, &format!("{upload_path}?digest={digest}"))
                .body(data.clone()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        location(&response),
        format!("{external}pre/fixed/blobs/{digest}")
    );
    let response = s.get(&format!("/mirror/v2/pre/fixed/blobs/{digest}")).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);

    let config = config_blob(2);
    let config_digest = Digest::sha256_of(&config);
    let response = s
        .send(
            s.request(
                Method::POST,
                &format!("/mirror/v2/pre/fixed/blobs/uploads/?digest={config_digest}"),
            )
            .body(config.clone()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &[(digest, data.len() as u64)],
        None,
    );
    for tag in ["a", "b"] {
        let response = s
            .send(
                s.request(
                    Method::PUT,
                    &format!("/mirror/v2/pre/fixed/manifests/{tag}"),
                )
                .header("Content-Type", OCI_MANIFEST)
                .body(manifest.body.clone()),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            location(&response),
            format!("{external}pre/fixed/manifests/{}", manifest.digest())
        );
    }
    let response = s.get("/mirror/v2/pre/fixed/tags/list?n=1").await;
    let link = header(&response, "Link").expect("a Link header");
    assert!(
        link.starts_with(&format!("<{external}pre/fixed/tags/list?")),
        "{link}"
    );
    s.stop().await;
}
