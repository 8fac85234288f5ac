//! Bad input of every kind: malformed names, digests, references, ranges and manifests,
//! oversized manifests, unknown uploads, wrong methods. Every answer must be a 4xx with the
//! right JSON error code — never a 5xx.
//!
//! Requests are written byte for byte (see `common::raw`): an HTTP client would normalise
//! `..` and `%2e%2e` away before the registry ever saw them.

mod common;

use common::raw::{self, RawResponse};
use common::*;
use registry_core::domain::Digest;

driver_tests!(
    malformed_names,
    malformed_digests,
    malformed_references,
    malformed_ranges,
    malformed_manifests,
    oversized_manifests,
    unknown_uploads,
    wrong_methods,
    malformed_pagination,
    unknown_endpoints,
);

/// One request and the answer it must get.
struct Case {
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// The JSON error code (not checked for HEAD, which has no body).
    code: &'static str,
}

fn case(method: &'static str, target: impl Into<String>, status: u16, code: &'static str) -> Case {
    Case {
        method,
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
        status,
        code,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.body = body.into();
        self
    }
}

/// Sends every case and checks each answer; all failures are reported together.
async fn check_all(s: &TestServer, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = raw::request(
            s.authority(),
            case.method,
            &case.target,
            &headers,
            &case.body,
        )
        .await;
        let what = format!("{} {}", case.method, shorten(&case.target));
        if let Some(failure) = judge(&case, &response) {
            failures.push(format!("{what}: {failure}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn shorten(target: &str) -> String {
    if target.len() > 120 {
        format!("{}…({} chars)", &target[..120], target.len())
    } else {
        target.to_owned()
    }
}

/// What is wrong with an answer, if anything.
fn judge(case: &Case, response: &RawResponse) -> Option<String> {
    if response.status == raw::NO_ANSWER {
        return Some("the connection closed without an answer (did the server panic?)".into());
    }
    if response.status >= 500 {
        return Some(format!(
            "server error {}: {}",
            response.status,
            response.text()
        ));
    }
    if response.header(API_VERSION) != Some("registry/2.0") {
        return Some(format!("no {API_VERSION} header"));
    }
    if response.status != case.status {
        return Some(format!(
            "status {} (expected {}): {}",
            response.status,
            case.status,
            response.text()
        ));
    }
    if case.method == "HEAD" {
        return None;
    }
    let body: serde_json::Value = match serde_json::from_slice(&response.body) {
        Ok(body) => body,
        Err(_) => return Some(format!("not a JSON error body: {:?}", response.text())),
    };
    let code = &body["errors"][0]["code"];
    if code != case.code {
        return Some(format!("code {code} (expected {}): {body}", case.code));
    }
    None
}

/// A repository with a blob, a tagged manifest and an upload holding 100 bytes.
struct Fixture {
    blob: Digest,
    manifest: Manifest,
    upload: String,
}

async fn fixture(s: &TestServer) -> Fixture {
    let blob = s.push_blob("fixture", &bytes(1, 1000)).await;
    let manifest = s.image("fixture", 2, 1).await;
    s.push_manifest("fixture", "v1", &manifest).await;
    let upload = s.start_upload("fixture").await;
    let response = s
        .send(
            s.request(reqwest::Method::PATCH, &upload)
                .header("Content-Range", "0-99")
                .body(vec![7u8; 100]),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let upload = path_of(&location(&response));
    Fixture {
        blob,
        manifest,
        upload,
    }
}

async fn malformed_names(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let long = "a".repeat(300);
    let long_components = vec!["abcdefghij"; 30].join("/");
    let names = [
        "..",
        "../fixture",
        "fixture/..",
        "fixture/../fixture",
        ".",
        "./fixture",
        "%2e%2e",
        "%2E%2E",
        "fixture/%2e%2e/fixture",
        "%2e%2e/%2e%2e/%2e%2e/etc",
        "..%2f..%2fetc",
        "Fixture",
        "UPPER/case",
        "a//b",
        "/fixture",
        "-fixture",
        "fixture-",
        "fix__ture_",
        "a/_manifests",
        "_uploads",
        "a%20b",
        "caf%C3%A9",
        "a%00b",
        "a~b",
        long.as_str(),
        long_components.as_str(),
    ];
    let mut cases = Vec::new();
    for name in names {
        cases.push(case(
            "GET",
            format!("/v2/{name}/manifests/v1"),
            400,
            "NAME_INVALID",
        ));
        cases.push(case(
            "HEAD",
            format!("/v2/{name}/manifests/v1"),
            400,
            "NAME_INVALID",
        ));
        cases.push(
            case(
                "PUT",
                format!("/v2/{name}/manifests/v1"),
                400,
                "NAME_INVALID",
            )
            .header("Content-Type", OCI_MANIFEST)
            .body(f.manifest.body.clone()),
        );
        cases.push(case(
            "DELETE",
            format!("/v2/{name}/manifests/v1"),
            400,
            "NAME_INVALID",
        ));
        cases.push(case(
            "GET",
            format!("/v2/{name}/blobs/{}", f.blob),
            400,
            "NAME_INVALID",
        ));
        cases.push(case(
            "DELETE",
            format!("/v2/{name}/blobs/{}", f.blob),
            400,
            "NAME_INVALID",
        ));
        cases.push(case(
            "POST",
            format!("/v2/{name}/blobs/uploads/"),
            400,
            "NAME_INVALID",
        ));
        cases.push(
            case(
                "POST",
                format!("/v2/{name}/blobs/uploads/?digest={}", f.blob),
                400,
                "NAME_INVALID",
            )
            .body(bytes(1, 1000)),
        );
        cases.push(case(
            "GET",
            format!("/v2/{name}/blobs/uploads/8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f"),
            400,
            "NAME_INVALID",
        ));
        cases.push(case(
            "GET",
            format!("/v2/{name}/tags/list"),
            400,
            "NAME_INVALID",
        ));
        cases.push(case(
            "GET",
            format!("/v2/{name}/referrers/{}", f.blob),
            400,
            "NAME_INVALID",
        ));
    }
    // The longest valid name is fine; one more character is not.
    let longest = "b".repeat(255);
    cases.push(case(
        "GET",
        format!("/v2/{longest}/tags/list"),
        404,
        "NAME_UNKNOWN",
    ));
    cases.push(case(
        "GET",
        format!("/v2/{longest}b/tags/list"),
        400,
        "NAME_INVALID",
    ));
    check_all(&s, cases).await;

    // Nothing escaped the layout: the catalog holds only the fixture.
    let catalog = json(s.get("/v2/_catalog").await).await;
    assert_eq!(catalog["repositories"], serde_json::json!(["fixture"]));
    s.stop().await;
}

async fn malformed_digests(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let hex = f.blob.hex().to_owned();
    let long = format!("sha256:{}", "a".repeat(2000));
    let digests = [
        "sha256:abc".to_owned(),
        format!("sha256:{}", &hex[..63]),
        format!("sha256:{hex}0"),
        format!("sha256:{}", hex.to_uppercase()),
        format!("SHA256:{hex}"),
        format!("md5:{}", &hex[..32]),
        format!("sha384:{hex}"),
        format!("sha512:{hex}"),
        format!(":{hex}"),
        "sha256:".to_owned(),
        format!("sha256::{hex}"),
        format!("sha256:{}%00", &hex[..63]),
        "sha256:..".to_owned(),
        format!("sha256:{}g", &hex[..63]),
        format!("sha_256:{hex}"),
        long,
    ];
    let mut cases = Vec::new();
    for digest in &digests {
        cases.push(case(
            "GET",
            format!("/v2/fixture/blobs/{digest}"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(case(
            "HEAD",
            format!("/v2/fixture/blobs/{digest}"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(case(
            "DELETE",
            format!("/v2/fixture/blobs/{digest}"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(case(
            "GET",
            format!("/v2/fixture/manifests/{digest}"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(case(
            "HEAD",
            format!("/v2/fixture/manifests/{digest}"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(case(
            "DELETE",
            format!("/v2/fixture/manifests/{digest}"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(
            case(
                "PUT",
                format!("/v2/fixture/manifests/{digest}"),
                400,
                "DIGEST_INVALID",
            )
            .header("Content-Type", OCI_MANIFEST)
            .body(f.manifest.body.clone()),
        );
        cases.push(case(
            "GET",
            format!("/v2/fixture/referrers/{digest}"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(
            case(
                "POST",
                format!("/v2/fixture/blobs/uploads/?digest={digest}"),
                400,
                "DIGEST_INVALID",
            )
            .body(b"data".to_vec()),
        );
        cases.push(case(
            "POST",
            format!("/v2/other/blobs/uploads/?mount={digest}&from=fixture"),
            400,
            "DIGEST_INVALID",
        ));
        cases.push(case(
            "PUT",
            format!("{}?digest={digest}", f.upload),
            400,
            "DIGEST_INVALID",
        ));
    }
    cases.push(case("PUT", f.upload.clone(), 400, "DIGEST_INVALID"));
    cases.push(case(
        "PUT",
        format!("{}?digest=", f.upload),
        400,
        "DIGEST_INVALID",
    ));
    check_all(&s, cases).await;
    // The refused PUTs left the upload as it was.
    let status = s.get(&f.upload).await;
    assert_eq!(header(&status, "Range").as_deref(), Some("0-99"));
    s.stop().await;
}

async fn malformed_references(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let long = "t".repeat(129);
    let tags = [
        ".hidden",
        "-dash",
        "a%2Fb",
        "tag%20x",
        "t@g",
        long.as_str(),
        "%2e%2e",
        "caf%C3%A9",
    ];
    let mut cases = Vec::new();
    for tag in tags {
        // A malformed tag names nothing that could exist: reading it is unknown, writing it
        // is an invalid manifest.
        cases.push(case(
            "GET",
            format!("/v2/fixture/manifests/{tag}"),
            404,
            "MANIFEST_UNKNOWN",
        ));
        cases.push(case(
            "HEAD",
            format!("/v2/fixture/manifests/{tag}"),
            404,
            "MANIFEST_UNKNOWN",
        ));
        cases.push(case(
            "DELETE",
            format!("/v2/fixture/manifests/{tag}"),
            404,
            "MANIFEST_UNKNOWN",
        ));
        cases.push(
            case(
                "PUT",
                format!("/v2/fixture/manifests/{tag}"),
                400,
                "MANIFEST_INVALID",
            )
            .header("Content-Type", OCI_MANIFEST)
            .body(f.manifest.body.clone()),
        );
    }
    cases.push(case(
        "GET",
        "/v2/fixture/manifests/",
        404,
        "MANIFEST_UNKNOWN",
    ));
    cases.push(case("GET", "/v2/fixture/blobs/", 400, "DIGEST_INVALID"));
    check_all(&s, cases).await;
    let tags = json(s.get("/v2/fixture/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    s.stop().await;
}

async fn malformed_ranges(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let blob = format!("/v2/fixture/blobs/{}", f.blob);
    let mut cases = Vec::new();
    for range in [
        "bytes=abc",
        "bytes=a-b",
        "bytes=5-2",
        "bytes=1000-",
        "bytes=99999-100000",
        "bytes=-0",
        "bytes=0-1,x",
        "bytes=1000-,5-2",
        "bytes=-",
        "bytes=",
        "items=0-5",
        "bytes=99999999999999999999999-",
        "bytes=0-99999999999999999999999",
        "bytes=--5",
        "bytes=1-2-3",
    ] {
        cases.push(case("GET", blob.clone(), 416, "RANGE_INVALID").header("Range", range));
    }
    // An unknown blob is unknown whatever its Range says.
    let unknown = format!("/v2/fixture/blobs/{}", Digest::sha256_of(b"unknown"));
    for range in ["bytes=abc", "bytes=5000-", "bytes=0-1,2-3"] {
        cases.push(case("GET", unknown.clone(), 404, "BLOB_UNKNOWN").header("Range", range));
    }
    // Chunk ranges: malformed, inconsistent with the body, or not continuing the upload.
    for range in [
        "abc",
        "5-2",
        "0-",
        "-99",
        "100-149-3",
        "99999999999999999999999-99999999999999999999999",
        "0-18446744073709551615", // the whole u64 range: its length overflows
        "100-18446744073709551615",
        "100-120", // 21 bytes claimed, 50 sent
        "0-49",    // a restart
        "150-199", // a gap
        "50-99",   // an overlap
    ] {
        cases.push(
            case("PATCH", f.upload.clone(), 416, "RANGE_INVALID")
                .header("Content-Range", range)
                .body(vec![1u8; 50]),
        );
        cases.push(
            case(
                "PUT",
                format!("{}?digest={}", f.upload, f.blob),
                416,
                "RANGE_INVALID",
            )
            .header("Content-Range", range)
            .body(vec![1u8; 50]),
        );
    }
    check_all(&s, cases).await;
    // The upload is intact after all that.
    let status = s.get(&f.upload).await;
    assert_eq!(status.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(header(&status, "Range").as_deref(), Some("0-99"));
    s.stop().await;
}

async fn malformed_manifests(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let text = String::from_utf8(f.manifest.body.clone()).unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","annotations":{}{}}}"#,
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (OCI_MANIFEST, b"".to_vec()),
        (OCI_MANIFEST, b"{".to_vec()),
        (OCI_MANIFEST, b"\xff\xfe\x00garbage".to_vec()),
        (OCI_MANIFEST, b"{}".to_vec()),
        (OCI_MANIFEST, b"\"a string\"".to_vec()),
        (OCI_MANIFEST, b"42".to_vec()),
        (OCI_MANIFEST, deep.into_bytes()),
        (OCI_MANIFEST, deep_object.into_bytes()),
        (OCI_MANIFEST, text.replacen("\"size\": ", "\"size\": -", 1).into_bytes()),
        (OCI_MANIFEST, text.replacen("\"size\": ", "\"size\": 99999999999999999999999", 1).into_bytes()),
        (OCI_MANIFEST, text.replacen("\"size\": ", "\"size\": 1.5e", 1).into_bytes()),
        (OCI_MANIFEST, text.replacen("\"digest\": \"sha256:", "\"digest\": \"sha256:..", 1).into_bytes()),
        (OCI_MANIFEST, text.replacen("\"digest\": \"sha256:", "\"digest\": 7, \"x\": \"", 1).into_bytes()),
        (OCI_MANIFEST, text.replace("\"schemaVersion\": 2", "\"schemaVersion\": null").into_bytes()),
        (OCI_MANIFEST, text.replace(OCI_CONFIG, "").into_bytes()),
        (DOCKER_MANIFEST, text.clone().into_bytes()),
        (DOCKER_LIST, text.clone().into_bytes()),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            br#"{"schemaVersion":1,"name":"fixture","tag":"v1","fsLayers":[],"history":[],"signatures":[]}"#.to_vec(),
        ),
        ("text/plain", br#"{"schemaVersion":2}"#.to_vec()),
        (
            OCI_INDEX,
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":{{}}}}"#).into_bytes(),
        ),
        (
            OCI_INDEX,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[],"config":{}}}"#,
                serde_json::json!({"mediaType": OCI_CONFIG, "digest": f.blob.as_str(), "size": 1000})
            )
            .into_bytes(),
        ),
        (
            OCI_MANIFEST,
            text.replacen("{", r#"{"subject": {"mediaType": "x", "digest": "nope", "size": 1},"#, 1)
                .into_bytes(),
        ),
    ];
    let mut cases = Vec::new();
    for (content_type, body) in bodies {
        for reference in ["v2".to_owned(), Digest::sha256_of(&body).to_string()] {
            cases.push(
                case(
                    "PUT",
                    format!("/v2/fixture/manifests/{reference}"),
                    400,
                    "MANIFEST_INVALID",
                )
                .header("Content-Type", content_type)
                .body(body.clone()),
            );
        }
    }
    check_all(&s, cases).await;
    let tags = json(s.get("/v2/fixture/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    s.stop().await;
}

async fn oversized_manifests(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let mut value: serde_json::Value = serde_json::from_slice(&f.manifest.body).unwrap();
    value["annotations"] = serde_json::json!({"pad": "x".repeat(4 * 1024 * 1024)});
    let big = serde_json::to_vec(&value).unwrap();
    let huge = vec![b' '; 16 * 1024 * 1024];
    let cases = vec![
        case("PUT", "/v2/fixture/manifests/big", 413, "MANIFEST_INVALID")
            .header("Content-Type", OCI_MANIFEST)
            .body(big.clone()),
        case(
            "PUT",
            format!("/v2/fixture/manifests/{}", Digest::sha256_of(&big)),
            413,
            "MANIFEST_INVALID",
        )
        .header("Content-Type", OCI_MANIFEST)
        .body(big),
        case("PUT", "/v2/fixture/manifests/huge", 413, "MANIFEST_INVALID")
            .header("Content-Type", OCI_MANIFEST)
            .body(huge),
    ];
    check_all(&s, cases).await;
    assert_eq!(
        s.get("/v2/fixture/manifests/big").await.status(),
        reqwest::StatusCode::NOT_FOUND
    );
    s.stop().await;
}

async fn unknown_uploads(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let id = f.upload.rsplit('/').next().unwrap().to_owned();
    let ids = [
        "8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f".to_owned(),
        "garbage".to_owned(),
        "..".to_owned(),
        "%2e%2e".to_owned(),
        "..%2f..%2fdata".to_owned(),
        "startedat".to_owned(),
        "a".repeat(1000),
        format!("{id}x"),
        id.to_uppercase().replace('-', ""),
    ];
    let mut cases = Vec::new();
    for upload in &ids {
        // The fixture's upload, in the wrong repository, is unknown there too.
        for repo in ["fixture", "elsewhere"] {
            let path = format!("/v2/{repo}/blobs/uploads/{upload}");
            cases.push(case("GET", path.clone(), 404, "BLOB_UPLOAD_UNKNOWN"));
            cases.push(
                case("PATCH", path.clone(), 404, "BLOB_UPLOAD_UNKNOWN").body(b"chunk".to_vec()),
            );
            cases.push(
                case("PATCH", path.clone(), 404, "BLOB_UPLOAD_UNKNOWN")
                    .header("Content-Range", "0-4")
                    .body(b"chunk".to_vec()),
            );
            cases.push(case(
                "PUT",
                format!("{path}?digest={}", f.blob),
                404,
                "BLOB_UPLOAD_UNKNOWN",
            ));
            // Unknown first: whatever else is wrong with the request, the upload is unknown.
            cases.push(
                case("PATCH", path.clone(), 404, "BLOB_UPLOAD_UNKNOWN")
                    .header("Content-Range", "garbage")
                    .body(b"chunk".to_vec()),
            );
            cases.push(case("PUT", path.clone(), 404, "BLOB_UPLOAD_UNKNOWN"));
            cases.push(case(
                "PUT",
                format!("{path}?digest=sha256:zz"),
                404,
                "BLOB_UPLOAD_UNKNOWN",
            ));
            cases.push(
                case(
                    "PUT",
                    format!("{path}?digest={}", f.blob),
                    404,
                    "BLOB_UPLOAD_UNKNOWN",
                )
                .header("Content-Range", "9-0")
                .body(b"chunk".to_vec()),
            );
            cases.push(case("DELETE", path, 404, "BLOB_UPLOAD_UNKNOWN"));
        }
    }
    cases.push(case(
        "GET",
        format!("/v2/elsewhere/blobs/uploads/{id}"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    ));
    check_all(&s, cases).await;
    let status = s.get(&f.upload).await;
    assert_eq!(header(&status, "Range").as_deref(), Some("0-99"));
    s.stop().await;
}

async fn wrong_methods(driver: Driver) {
    let s = TestServer::start(driver).await;
    let f = fixture(&s).await;
    let blob = format!("/v2/fixture/blobs/{}", f.blob);
    let referrers = format!("/v2/fixture/referrers/{}", f.blob);
    let cases = vec![
        case("POST", "/v2/", 405, "UNSUPPORTED"),
        case("PUT", "/v2/", 405, "UNSUPPORTED"),
        case("DELETE", "/v2/", 405, "UNSUPPORTED"),
        case("POST", "/v2/_catalog", 405, "UNSUPPORTED"),
        case("DELETE", "/v2/_catalog", 405, "UNSUPPORTED"),
        case("PUT", "/v2/fixture/tags/list", 405, "UNSUPPORTED"),
        case("DELETE", "/v2/fixture/tags/list", 405, "UNSUPPORTED"),
        case("POST", "/v2/fixture/manifests/v1", 405, "UNSUPPORTED"),
        case("PATCH", "/v2/fixture/manifests/v1", 405, "UNSUPPORTED"),
        case("POST", blob.clone(), 405, "UNSUPPORTED"),
        case("PUT", blob.clone(), 405, "UNSUPPORTED").body(b"data".to_vec()),
        case("PATCH", blob, 405, "UNSUPPORTED"),
        case("GET", "/v2/fixture/blobs/uploads/", 405, "UNSUPPORTED"),
        case("PUT", "/v2/fixture/blobs/uploads/", 405, "UNSUPPORTED"),
        case("DELETE", "/v2/fixture/blobs/uploads/", 405, "UNSUPPORTED"),
        case("POST", f.upload.clone(), 405, "UNSUPPORTED"),
        case("OPTIONS", f.upload.clone(), 405, "UNSUPPORTED"),
        case("PUT", referrers.clone(), 405, "UNSUPPORTED"),
        case("DELETE", referrers, 405, "UNSUPPORTED"),
        case("BREW", "/v2/fixture/manifests/v1", 405, "UNSUPPORTED"),
    ];
    check_all(&s, cases).await;
    // 405 names the endpoint's methods (RFC 9110 §15.5.6).
    for (method, path, allow) in [
        ("POST", "/v2/".to_owned(), "GET, HEAD"),
        (
            "POST",
            "/v2/fixture/manifests/v1".to_owned(),
            "GET, HEAD, PUT, DELETE",
        ),
        (
            "PUT",
            format!("/v2/fixture/blobs/{}", f.blob),
            "GET, HEAD, DELETE",
        ),
        ("GET", "/v2/fixture/blobs/uploads/".to_owned(), "POST"),
        ("POST", f.upload.clone(), "GET, PATCH, PUT, DELETE"),
        ("DELETE", "/v2/_catalog".to_owned(), "GET"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = s.send(s.request(method.clone(), &path)).await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            header(&response, "Allow").as_deref(),
            Some(allow),
            "{method} {path}"
        );
    }
    s.stop().await;
}

async fn malformed_pagination(driver: Driver) {
    let s = TestServer::start(driver).await;
    fixture(&s).await;
    let mut cases = Vec::new();
    for n in [
        "abc",
        "-1",
        "1e3",
        "0x10",
        "99999999999999999999999",
        "%00",
        "1%20",
    ] {
        for path in ["/v2/fixture/tags/list", "/v2/_catalog"] {
            cases.push(case(
                "GET",
                format!("{path}?n={n}"),
                400,
                "PAGINATION_NUMBER_INVALID",
            ));
        }
    }
    cases.push(case(
        "GET",
        "/v2/unknown/tags/list?n=abc",
        400,
        "PAGINATION_NUMBER_INVALID",
    ));
    cases.push(case(
        "GET",
        "/v2/unknown/tags/list?n=5",
        404,
        "NAME_UNKNOWN",
    ));
    check_all(&s, cases).await;
    // Odd but harmless values are answered normally.
    for path in [
        "/v2/_catalog?last=%2e%2e",
        "/v2/_catalog?last=",
        "/v2/_catalog?n=",
        "/v2/fixture/tags/list?last=../../x",
        "/v2/fixture/tags/list?n=0",
        "/v2/fixture/tags/list?n=1&n=x",
    ] {
        let response = s.get(path).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
    }
    s.stop().await;
}

async fn unknown_endpoints(driver: Driver) {
    let s = TestServer::start(driver).await;
    fixture(&s).await;
    let mut cases = Vec::new();
    for path in [
        "/",
        "/v1/",
        "/v2x",
        "/v3/",
        "/v2/fixture",
        "/v2/fixture/",
        "/v2/fixture/things/x",
        "/v2/fixture/uploads/x",
        "/v2/fixture/tags",
        "/v2/fixture/tags/list/extra",
        "/v2/_catalog/",
        "/v2/fixture/blobs/uploads/a/b",
        "/v2/../v2/",
        "/%2e%2e/v2/",
        "/v2/foo/bar/baz/unknown",
        "/v2/fixture/referrers",
    ] {
        cases.push(case("GET", path, 404, "UNSUPPORTED"));
    }
    // What is no endpoint is 404 whatever the method (405 is for endpoints that exist).
    for method in ["HEAD", "POST", "PUT", "PATCH", "DELETE", "BREW"] {
        cases.push(case(method, "/v3/x", 404, "UNSUPPORTED"));
        cases.push(case(method, "/v2/fixture/things/x", 404, "UNSUPPORTED"));
    }
    check_all(&s, cases).await;
    s.stop().await;
}
