//! end-1: `GET /v2/`, and the headers every response carries.

mod common;

use common::*;
use reqwest::{Method, StatusCode};

driver_tests!(
    version_check_answers_200,
    head_version_check_answers_200,
    errors_carry_the_api_version_header,
    other_methods_on_the_base_are_405,
    unknown_endpoints_are_404,
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
