//! The pull-through cache (`proxy`): upstreams are this registry (open, htpasswd, token
//! auth) started on loopback, and a small fake for what a registry never does on purpose
//! (wrong bytes, 429, 5xx).

mod common;
#[path = "proxy/fake.rs"]
mod fake;

use std::time::Duration;

use common::auth::{TokenKeys, basic, claims, htpasswd_entry};
use common::content::{Manifest, bytes};
use common::{Driver, Options, TestServer};
use fake::{Reply, serve};
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};

driver_tests!(cached_blobs_on_every_driver_with_redirects);

/// On each storage driver, with redirects on: a cold blob streams from the upstream fetch, a
/// warm one is served as any stored blob (a redirect to storage where the driver presigns);
/// bytes that fail verification leave nothing behind.
async fn cached_blobs_on_every_driver_with_redirects(driver: Driver) {
    let upstream = TestServer::start(Driver::InMemory).await;
    let data = bytes(12, 2 * 1024 * 1024 + 3);
    let digest = upstream.push_blob("a/b", &data).await;
    let cache = TestServer::start_with(
        driver,
        Options {
            redirect: Some("    expiry: 5m\n".to_owned()),
            sections: Some(proxy_section(&upstream.url(""), "")),
            ..Options::default()
        },
    )
    .await;
    let path = format!("/v2/a/b/blobs/{digest}");
    let cold = cache.get(&path).await;
    assert_eq!(cold.status(), StatusCode::OK, "cold pull");
    assert!(cold.bytes().await.unwrap() == data.as_slice());
    let warm = cache.get(&path).await;
    let body = if driver.presigns() {
        assert_eq!(warm.status(), StatusCode::TEMPORARY_REDIRECT, "warm pull");
        let location = common::location(&warm);
        client()
            .get(location)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    } else {
        assert_eq!(warm.status(), StatusCode::OK, "warm pull");
        warm.bytes().await.unwrap()
    };
    assert!(body == data.as_slice(), "warm pull bytes");

    let evil = serve(|_| Reply::new(200, vec![7u8; 100_000])).await;
    let bad = TestServer::start_with(
        driver,
        Options {
            sections: Some(proxy_section(&evil.url, "")),
            ..Options::default()
        },
    )
    .await;
    let other = Digest::sha256_of(b"not those bytes");
    let answer = client()
        .get(bad.url(&format!("/v2/a/b/blobs/{other}")))
        .send()
        .await
        .unwrap();
    if answer.status() == StatusCode::OK {
        assert!(
            answer.bytes().await.is_err(),
            "a complete body of wrong bytes"
        );
    }
    let data_path = registry_core::layout::blob_data(&other);
    assert!(
        bad.storage().stat(&data_path).await.is_err(),
        "wrong bytes stored"
    );
    cache.stop().await;
    bad.stop().await;
    upstream.stop().await;
}

/// A cache over `sections` (a `proxy:` section, and whatever else).
async fn cache(sections: String) -> TestServer {
    TestServer::start_with(
        Driver::InMemory,
        Options {
            sections: Some(sections),
            ..Options::default()
        },
    )
    .await
}

fn proxy_section(url: &str, extra: &str) -> String {
    format!("proxy:\n  remoteurl: {url}\n{extra}")
}

/// A plain client: error answers (5xx included) are what some tests expect.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Pushes an image of `layers` layers to `repo:tag` on `upstream`; returns its manifest and
/// the blobs (config first).
async fn push_image(
    upstream: &TestServer,
    repo: &str,
    tag: &str,
    seed: u64,
    layers: usize,
) -> (Manifest, Vec<Digest>) {
    let manifest = upstream.image(repo, seed, layers).await;
    upstream.push_manifest(repo, tag, &manifest).await;
    let parsed: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    let mut blobs = vec![
        parsed["config"]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    ];
    for layer in parsed["layers"].as_array().unwrap() {
        blobs.push(layer["digest"].as_str().unwrap().parse().unwrap());
    }
    (manifest, blobs)
}

/// Pulls `repo:tag` through `server` as a client would and checks every byte against
/// `upstream`'s (or the expected manifest).
async fn pull_and_compare(
    server: &TestServer,
    repo: &str,
    tag: &str,
    manifest: &Manifest,
    blobs: &[(Digest, Vec<u8>)],
) {
    let response = server.get(&format!("/v2/{repo}/manifests/{tag}")).await;
    assert_eq!(response.status(), StatusCode::OK, "manifest {repo}:{tag}");
    assert_eq!(
        response.headers()["docker-content-digest"],
        manifest.digest().as_str()
    );
    assert_eq!(response.bytes().await.unwrap(), manifest.body);
    for (digest, data) in blobs {
        let response = server.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(response.status(), StatusCode::OK, "blob {digest}");
        let body = response.bytes().await.unwrap();
        assert!(body == data.as_slice(), "blob {digest} differs");
    }
}

async fn blob_bytes(
    upstream: &TestServer,
    repo: &str,
    digests: &[Digest],
) -> Vec<(Digest, Vec<u8>)> {
    let mut out = Vec::new();
    for digest in digests {
        let response = upstream.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        out.push((digest.clone(), response.bytes().await.unwrap().to_vec()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_pull_then_warm_pull_with_the_upstream_stopped() {
    let upstream = TestServer::start(Driver::InMemory).await;
    let (manifest, digests) = push_image(&upstream, "team/app", "v1", 1, 3).await;
    let blobs = blob_bytes(&upstream, "team/app", &digests).await;
    let cache = cache(proxy_section(&upstream.url(""), "")).await;

    pull_and_compare(&cache, "team/app", "v1", &manifest, &blobs).await;
    let by_digest = format!("/v2/team/app/manifests/{}", manifest.digest());
    assert_eq!(cache.get(&by_digest).await.status(), StatusCode::OK);
    // The tag is listed from what is cached.
    let tags = common::json(cache.get("/v2/team/app/tags/list").await).await;
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));

    upstream.stop().await;
    // ttl 0 (the default) asks the upstream on every tag pull; it is gone, so the cached
    // manifest is served.
    pull_and_compare(&cache, "team/app", "v1", &manifest, &blobs).await;
    assert_eq!(cache.get(&by_digest).await.status(), StatusCode::OK);
    let head = cache
        .head(&format!("/v2/team/app/blobs/{}", blobs[1].0))
        .await;
    assert_eq!(head.status(), StatusCode::OK);
    // What was never cached is the upstream's trouble: 503, not a 404 that would say "gone".
    let response = client()
        .get(cache.url("/v2/team/app/manifests/v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    common::assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_as_the_reference_refuses_them() {
    let upstream = TestServer::start(Driver::InMemory).await;
    let (manifest, digests) = push_image(&upstream, "a/b", "v1", 2, 1).await;
    let cache = cache(proxy_section(&upstream.url(""), "")).await;
    assert_eq!(
        cache.get("/v2/a/b/manifests/v1").await.status(),
        StatusCode::OK
    );
    let attempts = [
        cache.request(Method::POST, "/v2/a/b/blobs/uploads/"),
        cache
            .request(Method::PUT, "/v2/a/b/manifests/v2")
            .body(manifest.body.clone()),
        cache.request(
            Method::DELETE,
            &format!("/v2/a/b/manifests/{}", manifest.digest()),
        ),
        cache.request(Method::DELETE, &format!("/v2/a/b/blobs/{}", digests[0])),
        cache.request(Method::PATCH, "/v2/a/b/blobs/uploads/some-id"),
    ];
    for attempt in attempts {
        let response = cache.send(attempt).await;
        common::assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
    }
    assert_eq!(
        cache.get("/v2/a/b/manifests/v1").await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, htpasswd_entry("mirror", "s3cret")).unwrap();
    let open = TestServer::start(Driver::InMemory).await;
    let (manifest, digests) = push_image(&open, "private/app", "v1", 3, 2).await;
    let blobs = blob_bytes(&open, "private/app", &digests).await;
    // The same storage behind Basic auth is the upstream.
    let guarded = open
        .sibling(Options {
            sections: Some(format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                htpasswd.display()
            )),
            ..Options::default()
        })
        .await;
    let url = guarded.url("");
    let good = cache(proxy_section(
        &url,
        "  username: mirror\n  password: s3cret\n",
    ))
    .await;
    pull_and_compare(&good, "private/app", "v1", &manifest, &blobs).await;

    // Wrong credentials: the upstream will not show the cache anything, so nothing is known.
    let bad = cache(proxy_section(
        &url,
        "  username: mirror\n  password: wrong\n",
    ))
    .await;
    let response = bad.get("/v2/private/app/manifests/v1").await;
    common::assert_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let response = bad
        .get(&format!("/v2/private/app/blobs/{}", digests[0]))
        .await;
    common::assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    // Sanity: the upstream really wants credentials.
    let response = client()
        .get(guarded.url("/v2/private/app/manifests/v1"))
        .header("Authorization", basic("mirror", "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_upstream_with_a_token_cached_per_scope() {
    let dir = tempfile::tempdir().unwrap();
    let keys = std::sync::Arc::new(TokenKeys::new());
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, &keys.root.certificate_pem).unwrap();
    // The token service: issues pull tokens for the scope asked, to the right credentials.
    let signer = std::sync::Arc::clone(&keys);
    let expected = basic("mirror", "s3cret");
    let tokens = serve(move |request| {
        if request.header("authorization") != Some(expected.as_str()) {
            return Reply::new(401, "{}");
        }
        let scope = request
            .target
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("scope="))
            .unwrap_or_default()
            .replace("%3A", ":")
            .replace("%2F", "/");
        let name = scope.split(':').nth(1).unwrap_or_default().to_owned();
        let token = signer.token(&claims(&[("repository", &name, &["pull"])]));
        Reply::new(200, format!(r#"{{"token":"{token}","expires_in":300}}"#))
            .header("Content-Type", "application/json")
    })
    .await;

    let open = TestServer::start(Driver::InMemory).await;
    let (manifest, digests) = push_image(&open, "org/tool", "v1", 4, 2).await;
    let blobs = blob_bytes(&open, "org/tool", &digests).await;
    let guarded = open
        .sibling(Options {
            sections: Some(format!(
                "auth:\n  token:\n    realm: {}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                tokens.url,
                common::auth::SERVICE,
                common::auth::ISSUER,
                bundle.display()
            )),
            ..Options::default()
        })
        .await;
    let cache = cache(proxy_section(
        &guarded.url(""),
        "  username: mirror\n  password: s3cret\n",
    ))
    .await;
    pull_and_compare(&cache, "org/tool", "v1", &manifest, &blobs).await;
    // A tag check, a manifest and three blobs: one token, reused for the repository's scope.
    assert_eq!(tokens.hits(), 1, "tokens fetched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_tag_is_seen_after_ttl_and_not_before() {
    let upstream = TestServer::start(Driver::InMemory).await;
    let (first, _) = push_image(&upstream, "lib/app", "latest", 5, 1).await;
    let cache = cache(proxy_section(&upstream.url(""), "  ttl: 2s\n")).await;
    let digest_of = |response: reqwest::Response| {
        response.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let pulled = digest_of(cache.get("/v2/lib/app/manifests/latest").await);
    assert_eq!(pulled, first.digest().as_str());

    let (second, _) = push_image(&upstream, "lib/app", "latest", 6, 1).await;
    let pulled = digest_of(cache.get("/v2/lib/app/manifests/latest").await);
    assert_eq!(
        pulled,
        first.digest().as_str(),
        "within ttl: the cached tag"
    );

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let pulled = digest_of(cache.get("/v2/lib/app/manifests/latest").await);
    assert_eq!(
        pulled,
        second.digest().as_str(),
        "after ttl: the upstream's tag"
    );
    // The earlier manifest stays pullable by digest.
    let old = cache
        .get(&format!("/v2/lib/app/manifests/{}", first.digest()))
        .await;
    assert_eq!(old.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bytes_from_the_upstream_are_never_kept() {
    let good = bytes(7, 300_000);
    let digest = Digest::sha256_of(&good);
    let mut evil = good.clone();
    evil[150_000] ^= 1;
    let upstream = serve(move |request| {
        if request.target.contains("/blobs/") {
            Reply::new(200, evil.clone()).header("Content-Type", "application/octet-stream")
        } else {
            Reply::new(404, "{}")
        }
    })
    .await;
    let cache = cache(proxy_section(&upstream.url, "")).await;
    let path = format!("/v2/x/y/blobs/{digest}");
    for attempt in 0..2 {
        let answer = client().get(cache.url(&path)).send().await.unwrap();
        // Headers may already have gone out; the body then ends short, which every HTTP
        // client reports as an error.
        if answer.status() == StatusCode::OK {
            let body = answer.bytes().await;
            assert!(
                body.is_err(),
                "attempt {attempt}: a complete body of wrong bytes"
            );
        } else {
            assert_eq!(
                answer.status(),
                StatusCode::BAD_GATEWAY,
                "attempt {attempt}"
            );
        }
    }
    // Both attempts went to the upstream: nothing was stored in between.
    assert_eq!(upstream.hits(), 2);
    let data = registry_core::layout::blob_data(&digest);
    assert!(
        cache.storage().stat(&data).await.is_err(),
        "the bad blob is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_one_upstream_fetch() {
    let upstream = TestServer::start(Driver::InMemory).await;
    let data = bytes(8, 8 * 1024 * 1024);
    let digest = upstream.push_blob("big/blob", &data).await;
    let cache = cache(proxy_section(&upstream.url(""), "")).await;
    let (before, _) = upstream.blob_counters().await;
    let url = cache.url(&format!("/v2/big/blob/blobs/{digest}"));
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let answer = client().get(url).send().await.unwrap();
                assert_eq!(answer.status(), StatusCode::OK);
                answer.bytes().await.unwrap()
            })
        })
        .collect();
    for client in clients {
        let body = client.await.unwrap();
        assert!(body == data.as_slice(), "a client got different bytes");
    }
    let (after, _) = upstream.blob_counters().await;
    assert_eq!(
        after - before,
        data.len() as u64,
        "bytes the upstream served"
    );
    // And later pulls are from storage.
    let body = cache
        .get(&format!("/v2/big/blob/blobs/{digest}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(body == data.as_slice());
    let (last, _) = upstream.blob_counters().await;
    assert_eq!(last, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_does_not_stop_the_fetch() {
    let upstream = TestServer::start(Driver::InMemory).await;
    let data = bytes(9, 16 * 1024 * 1024);
    let digest = upstream.push_blob("big/blob", &data).await;
    let cache = cache(proxy_section(&upstream.url(""), "")).await;
    let path = format!("/v2/big/blob/blobs/{digest}");
    let mut answer = client().get(cache.url(&path)).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let _first = answer.chunk().await.unwrap();
    drop(answer);
    // The fetch goes on and stores the blob: it becomes a cached blob of the repository.
    let data_path = registry_core::layout::blob_data(&digest);
    let mut stored = false;
    for _ in 0..200 {
        if cache.storage().stat(&data_path).await.is_ok() {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "the blob was not stored after the client left");
    let body = cache.get(&path).await.bytes().await.unwrap();
    assert!(body == data.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_rate_limits_and_errors_are_passed_on() {
    let limited = serve(|_| Reply::new(429, "{}").header("Retry-After", "17")).await;
    let cache_limited = cache(proxy_section(&limited.url, "")).await;
    let broken = serve(|_| Reply::new(500, "oops")).await;
    let cache_broken = cache(proxy_section(&broken.url, "")).await;
    let digest = Digest::sha256_of(b"x");
    for path in [
        "/v2/a/b/manifests/latest".to_owned(),
        format!("/v2/a/b/blobs/{digest}"),
    ] {
        let answer = client().get(cache_limited.url(&path)).send().await.unwrap();
        assert_eq!(
            answer
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            Some("17")
        );
        common::assert_error(answer, StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS").await;
        let answer = client().get(cache_broken.url(&path)).send().await.unwrap();
        common::assert_error(answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_unavailable() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = cache(proxy_section(&format!("http://127.0.0.1:{port}"), "")).await;
    let digest = Digest::sha256_of(b"x");
    for path in [
        "/v2/a/b/manifests/latest".to_owned(),
        format!("/v2/a/b/blobs/{digest}"),
    ] {
        let answer = client().get(cache.url(&path)).send().await.unwrap();
        common::assert_error(answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE").await;
        let answer = client().head(cache.url(&path)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_upstreams_with_the_same_repository_are_kept_apart() {
    let one = TestServer::start(Driver::InMemory).await;
    let two = TestServer::start(Driver::InMemory).await;
    let (first, first_digests) = push_image(&one, "library/app", "v1", 10, 1).await;
    let (second, second_digests) = push_image(&two, "library/app", "v1", 11, 1).await;
    let first_blobs = blob_bytes(&one, "library/app", &first_digests).await;
    let second_blobs = blob_bytes(&two, "library/app", &second_digests).await;
    let cache = cache(format!(
        "proxy:\n  upstreams:\n    - prefix: one.example\n      remoteurl: {}\n    - prefix: two.example\n      remoteurl: {}\n",
        one.url(""),
        two.url("")
    ))
    .await;
    pull_and_compare(
        &cache,
        "one.example/library/app",
        "v1",
        &first,
        &first_blobs,
    )
    .await;
    // containerd as a mirror of two.example: the upstream's own name, and `?ns=`.
    let answer = cache
        .get("/v2/library/app/manifests/v1?ns=two.example")
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.bytes().await.unwrap(), second.body);
    let blob = &second_blobs[1];
    let answer = cache
        .get(&format!("/v2/library/app/blobs/{}?ns=two.example", blob.0))
        .await;
    assert!(answer.bytes().await.unwrap() == blob.1.as_slice());
    // Stored under the upstream's prefix: served from there with both upstreams gone.
    one.stop().await;
    two.stop().await;
    pull_and_compare(
        &cache,
        "one.example/library/app",
        "v1",
        &first,
        &first_blobs,
    )
    .await;
    let answer = cache.get("/v2/two.example/library/app/manifests/v1").await;
    assert_eq!(answer.bytes().await.unwrap(), second.body);
    // A first-upstream blob is not the second's.
    let answer = client()
        .get(cache.url(&format!(
            "/v2/two.example/library/app/blobs/{}",
            first_blobs[1].0
        )))
        .send()
        .await
        .unwrap();
    common::assert_error(answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE").await;
    // Repositories outside every prefix are this registry's own: pushes work there.
    let local = cache.push_blob("own/repo", b"local content").await;
    assert_eq!(
        cache
            .head(&format!("/v2/own/repo/blobs/{local}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[test]
fn check_config_reports_a_reference_proxy_config_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let check = |yaml: &str| {
        let path = dir.path().join("config.yml");
        std::fs::write(&path, yaml).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_registry"))
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap()
    };
    // As the reference's documentation writes it.
    let output = check(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\nhttp:\n  addr: :5000\nproxy:\n  remoteurl: https://registry-1.docker.io\n  username: mirror\n  password: secret-password\n",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("pull-through cache: every repository outside the prefixes from https://registry-1.docker.io (with credentials, tag ttl 0s)"),
        "{stdout}"
    );
    assert!(!stdout.contains("secret-password"), "{stdout}");
    let output = check(
        "version: 0.1\nstorage:\n  inmemory: {}\nproxy:\n  remoteurl: registry-1.docker.io\n",
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("proxy.remoteurl"), "{stderr}");
}
