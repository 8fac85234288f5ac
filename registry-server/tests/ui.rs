//! The web view (`ui`), page by page, as HTML: against a registry holding images, an index
//! and referrers (signature, SBOM, attestation) with hostile annotations; its headers,
//! access control through htpasswd and an access policy, deletes, and being off by default.

mod common;

use common::auth::{basic, htpasswd_entry};
use common::*;
use registry_core::domain::Digest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const UI_ON: &str = "ui:\n  enabled: true\n";
const HOSTILE_SCRIPT: &str = "<script>alert(1)</script>";
const HOSTILE_ATTRIBUTE: &str = "\"onload=alert(2) x=\"";
const SIGNATURE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const SBOM: &str = "application/spdx+json";
const ATTESTATION: &str = "application/vnd.in-toto+json";

fn ui_options() -> Options {
    Options {
        sections: Some(UI_ON.to_owned()),
        ..Options::default()
    }
}

/// What [`populate`] pushed.
struct Pushed {
    image: Manifest,
    image_total: u64,
    index: Manifest,
    index_total: u64,
    referrers: Vec<Manifest>,
}

/// An image config with labels and a command, one label value hostile.
fn image_config() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-11-30T12:00:00Z",
        "config": {
            "Cmd": ["/bin/server", "--port=8080"],
            "Labels": {"org.opencontainers.image.title": HOSTILE_SCRIPT},
        },
        "history": [{"created_by": "a"}, {"created_by": "b"}],
    }))
    .unwrap()
}

/// apps/web: `v1` (an image with a config and two layers, three referrers) and `multi` (an
/// index of two images); library/alpine, team/secret: one small image each.
async fn populate(server: &TestServer) -> Pushed {
    let repo = "apps/web";
    let config = image_config();
    let config_digest = server.push_blob(repo, &config).await;
    let layer_a = bytes(1, 3 * 1024 * 1024 + 5);
    let layer_b = bytes(2, 700 * 1024);
    let layers = vec![
        (server.push_blob(repo, &layer_a).await, layer_a.len() as u64),
        (server.push_blob(repo, &layer_b).await, layer_b.len() as u64),
    ];
    let image = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &layers,
        Some(json!({"annotations": {
            "org.opencontainers.image.description": HOSTILE_SCRIPT,
            "attack": HOSTILE_ATTRIBUTE,
        }})),
    );
    server.push_manifest(repo, "v1", &image).await;
    let image_total = config.len() as u64 + layers.iter().map(|(_, s)| s).sum::<u64>();

    let child_a = server.image(repo, 10, 1).await;
    let child_b = server.image(repo, 11, 2).await;
    for child in [&child_a, &child_b] {
        server
            .push_manifest(repo, child.digest().as_str(), child)
            .await;
    }
    let index = index_manifest(ImageFormat::Oci, &[&child_a, &child_b], None);
    server.push_manifest(repo, "multi", &index).await;
    let index_total = [&child_a, &child_b]
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_slice(&m.body).unwrap();
            v["config"]["size"].as_u64().unwrap()
                + v["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["size"].as_u64().unwrap())
                    .sum::<u64>()
        })
        .sum();

    let empty = server.push_blob(repo, b"{}").await;
    let mut referrers = Vec::new();
    for (i, artifact_type) in [SIGNATURE, SBOM, ATTESTATION].into_iter().enumerate() {
        let data = format!("payload {i}").into_bytes();
        let payload = server.push_blob(repo, &data).await;
        let referrer = image_manifest(
            ImageFormat::Oci,
            (&empty, 2),
            &[(payload, data.len() as u64)],
            Some(json!({
                "artifactType": artifact_type,
                "config": {"mediaType": OCI_EMPTY, "digest": empty.as_str(), "size": 2},
                "subject": image.descriptor(),
                "annotations": {
                    "org.opencontainers.image.created": "2026-12-01T00:00:00Z",
                    format!("x{HOSTILE_ATTRIBUTE}"): HOSTILE_SCRIPT,
                },
            })),
        );
        server
            .push_manifest(repo, referrer.digest().as_str(), &referrer)
            .await;
        referrers.push(referrer);
    }

    for (i, other) in ["library/alpine", "team/secret"].into_iter().enumerate() {
        let manifest = server.image(other, 20 + i as u64, 1).await;
        server.push_manifest(other, "latest", &manifest).await;
    }
    Pushed {
        image,
        image_total,
        index,
        index_total,
        referrers,
    }
}

/// A page's status, headers checked, and body.
async fn page(server: &TestServer, path: &str, auth: Option<&str>) -> (StatusCode, String) {
    let mut request = server.request(Method::GET, path);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let response = server.send(request).await;
    let status = response.status();
    assert_security_headers(&response, path);
    if status.is_success() {
        assert_eq!(
            header(&response, "Content-Type").as_deref(),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(
            header(&response, "Cache-Control").as_deref(),
            Some("no-store")
        );
    }
    (status, response.text().await.unwrap())
}

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let csp = header(response, "Content-Security-Policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP {csp:?} lacks {directive}"
        );
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        header(response, "X-Content-Type-Options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(header(response, "X-Frame-Options").as_deref(), Some("DENY"));
}

/// No stored string reaches the page unescaped, and no script is inline.
fn assert_escaped(html: &str, what: &str) {
    assert!(
        !html.contains("<script>"),
        "{what}: raw <script> in the page"
    );
    assert!(
        !html.contains("\"onload="),
        "{what}: raw \"onload= in the page"
    );
    assert!(!html.contains("alert(1)</"), "{what}");
    // The only script element is the external one.
    assert_eq!(html.matches("<script").count(), 1, "{what}");
    assert!(html.contains("<script src=\"/ui/assets/app.js\" defer></script>"));
    assert!(!html.contains(" style="), "{what}: inline style");
    assert!(!html.contains(" onclick="), "{what}: inline handler");
}

fn human(bytes: u64) -> String {
    registry_server::ui::format::human_size(bytes)
}

fn short(digest: &Digest) -> String {
    registry_server::ui::format::DigestText::of(digest.as_str()).short
}

async fn pages_show_repositories_tags_manifests_and_referrers(driver: Driver) {
    let server = TestServer::start_with(driver, ui_options()).await;
    let pushed = populate(&server).await;

    // `/` redirects to the web view.
    let response = server.get("/").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/ui/");
    assert_eq!(location(&server.get("/ui").await), "/ui/");

    let (status, html) = page(&server, "/ui/", None).await;
    assert_eq!(status, StatusCode::OK);
    for name in ["apps/web", "library/alpine", "team/secret"] {
        assert!(
            html.contains(&format!("href=\"/ui/r/{name}\">{name}</a>")),
            "repositories page lacks {name}:\n{html}"
        );
    }
    assert_escaped(&html, "repositories");

    // Filter and pagination by the catalog's `last`.
    let (_, html) = page(&server, "/ui/?filter=alp", None).await;
    assert!(html.contains(">library/alpine<") && !html.contains(">apps/web<"));
    // A hostile filter lands escaped in an attribute and in text.
    let (_, html) = page(
        &server,
        "/ui/?filter=%22onload%3Dalert(1)%3E%3Cscript%3E",
        None,
    )
    .await;
    assert!(
        html.contains("value=\"&#34;onload=alert(1)&#62;&#60;script&#62;\""),
        "{html}"
    );
    assert_escaped(&html, "hostile filter");
    let (_, html) = page(&server, "/ui/?n=1", None).await;
    assert!(html.contains(">apps/web<") && !html.contains(">library/alpine<"));
    assert!(
        html.contains("href=\"/ui/?last=apps%2Fweb&#38;n=1\""),
        "{html}"
    );
    let (_, html) = page(&server, "/ui/?last=apps%2Fweb&n=1", None).await;
    assert!(html.contains(">library/alpine<") && !html.contains(">apps/web<"));

    // Tags: digest, type, total size, push time, platforms, pull commands.
    let (status, html) = page(&server, "/ui/r/apps/web", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let image_digest = pushed.image.digest();
    let index_digest = pushed.index.digest();
    for expected in [
        "data-tag=\"v1\"".to_owned(),
        "data-tag=\"multi\"".to_owned(),
        format!("title=\"{image_digest}\">{}</code>", short(&image_digest)),
        format!("title=\"{index_digest}\">{}</code>", short(&index_digest)),
        format!(
            "title=\"{} bytes\">{}</span>",
            pushed.image_total,
            human(pushed.image_total)
        ),
        format!(
            "title=\"{} bytes\">{}</span>",
            pushed.index_total,
            human(pushed.index_total)
        ),
        "<span class=\"pill platform\">linux/arch0</span>".to_owned(),
        "<span class=\"pill platform\">linux/arch1</span>".to_owned(),
        OCI_INDEX.to_owned(),
        OCI_MANIFEST.to_owned(),
        format!("docker pull {}/apps/web:v1", server.authority()),
        format!(
            "podman pull --tls-verify=false {}/apps/web:v1",
            server.authority()
        ),
        format!(
            "oras pull --plain-http {}/apps/web:multi",
            server.authority()
        ),
        "href=\"/ui/r/apps/web/-/m/v1\"".to_owned(),
        "delete tag".to_owned(),
    ] {
        assert!(
            html.contains(&expected),
            "tags page lacks {expected}:\n{html}"
        );
    }
    assert_eq!(human(pushed.image_total), "3.7 MiB");
    // A push time: the in-memory and filesystem drivers both know it.
    let year = "UTC</td>";
    assert_eq!(html.matches(year).count(), 2, "push times:\n{html}");
    assert_escaped(&html, "tags");

    // The image: config summary, layers, annotations (escaped), referrers by kind.
    let (status, html) = page(&server, "/ui/r/apps/web/-/m/v1", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for expected in [
        format!("data-copy=\"{image_digest}\""),
        "linux/amd64".to_owned(),
        "2026-11-30T12:00:00Z".to_owned(),
        "/bin/server".to_owned(),
        "2 steps".to_owned(),
        "Layers (2)".to_owned(),
        format!("title=\"{} bytes\">3.0 MiB</span>", 3 * 1024 * 1024 + 5),
        format!("title=\"{} bytes\">700.0 KiB</span>", 700 * 1024),
        "Signatures (1)".to_owned(),
        "SBOMs (1)".to_owned(),
        "Attestations (1)".to_owned(),
        SIGNATURE.to_owned(),
        SBOM.to_owned(),
        ATTESTATION.to_owned(),
        "&#60;script&#62;alert(1)&#60;/script&#62;".to_owned(),
        "&#34;onload=alert(2) x=&#34;".to_owned(),
        format!("docker pull {}/apps/web@{image_digest}", server.authority()),
    ] {
        assert!(
            html.contains(&expected),
            "manifest page lacks {expected}:\n{html}"
        );
    }
    for referrer in &pushed.referrers {
        let href = format!("href=\"/ui/r/apps/web/-/m/{}\"", referrer.digest());
        assert!(html.contains(&href), "lacks referrer {href}");
    }
    assert_escaped(&html, "manifest");

    // The index: its children with platforms, its size over all of them.
    let (status, html) = page(&server, "/ui/r/apps/web/-/m/multi", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Manifests in this index (2)"), "{html}");
    assert!(html.contains(&human(pushed.index_total)));
    assert!(html.contains("Nothing refers to this manifest."));
    // A referrer's page links back to its subject.
    let signature = pushed.referrers[0].digest();
    let (status, html) = page(&server, &format!("/ui/r/apps/web/-/m/{signature}"), None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Subject") && html.contains(&format!("/ui/r/apps/web/-/m/{image_digest}"))
    );
    assert!(html.contains("an artifact config"));
    assert_escaped(&html, "referrer");

    // Unknown things are 404 pages, not errors.
    for path in [
        "/ui/r/apps/web/-/m/nope",
        "/ui/r/apps/web/-/m/sha256:zz",
        "/ui/r/nothing/here",
        "/ui/r/apps/web/-/m/sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "/ui/elsewhere",
        "/ui/assets/missing.css",
    ] {
        let (status, html) = page(&server, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {html}");
    }

    // Bad input is the API's 4xx, as a page.
    for (path, status) in [
        ("/ui/?n=many", StatusCode::BAD_REQUEST),
        ("/ui/r/apps/web?n=-1", StatusCode::BAD_REQUEST),
        ("/ui/r/Apps/web", StatusCode::NOT_FOUND),
        ("/ui/r/apps/web/-/m/%ZZ", StatusCode::NOT_FOUND),
    ] {
        let (got, html) = page(&server, path, None).await;
        assert_eq!(got, status, "{path}: {html}");
        assert_escaped(&html, path);
    }
    let (status, html) = page(&server, "/ui/r/apps/web?n=0&last=zzz", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let head = server.head("/ui/r/apps/web").await;
    assert_eq!(head.status(), StatusCode::OK);

    // Assets from the binary; other methods are 405.
    let css = server.get("/ui/assets/style.css").await;
    assert_eq!(
        header(&css, "Content-Type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    assert_security_headers(&css, "style.css");
    let js = server.get("/ui/assets/app.js").await;
    assert!(js.text().await.unwrap().contains("data-copy"));
    let response = server.send(server.request(Method::POST, "/ui/")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "Allow").as_deref(), Some("GET, HEAD"));
    server.stop().await;
}

async fn deletes_ask_first_and_come_only_from_the_view(driver: Driver) {
    let server = TestServer::start_with(driver, ui_options()).await;
    let pushed = populate(&server).await;
    let origin = format!("http://{}", server.authority());

    let (status, html) = page(&server, "/ui/r/apps/web/-/delete/v1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Delete tag v1?") && html.contains("action=\"/ui/r/apps/web/-/delete/v1\"")
    );
    // Nothing was deleted by asking.
    assert_eq!(
        server.get("/v2/apps/web/manifests/v1").await.status(),
        StatusCode::OK
    );

    // A POST from elsewhere (or without an Origin) is refused.
    for foreign in [None, Some("http://evil.example")] {
        let mut request = server.request(Method::POST, "/ui/r/apps/web/-/delete/v1");
        if let Some(foreign) = foreign {
            request = request.header("Origin", foreign);
        }
        let response = server.send(request).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{foreign:?}");
    }
    assert_eq!(
        server.get("/v2/apps/web/manifests/v1").await.status(),
        StatusCode::OK
    );

    let response = server
        .send(
            server
                .request(Method::POST, "/ui/r/apps/web/-/delete/v1")
                .header("Origin", &origin),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Deleted tag v1 from apps/web.")
    );
    assert_eq!(
        server.get("/v2/apps/web/manifests/v1").await.status(),
        StatusCode::NOT_FOUND
    );
    // The manifest stays, by digest.
    let by_digest = format!("/v2/apps/web/manifests/{}", pushed.image.digest());
    assert_eq!(server.get(&by_digest).await.status(), StatusCode::OK);

    // Deleting by digest takes the manifest and its tags.
    let index = pushed.index.digest();
    let response = server
        .send(
            server
                .request(Method::POST, &format!("/ui/r/apps/web/-/delete/{index}"))
                .header("Sec-Fetch-Site", "same-origin"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        server.get("/v2/apps/web/manifests/multi").await.status(),
        StatusCode::NOT_FOUND
    );
    server.stop().await;

    // With deletes disabled: no buttons, and the delete route refuses.
    let server = TestServer::start_with(
        driver,
        Options {
            delete: false,
            ..ui_options()
        },
    )
    .await;
    populate(&server).await;
    let (_, html) = page(&server, "/ui/r/apps/web", None).await;
    assert!(!html.contains("delete tag"));
    let (_, html) = page(&server, "/ui/r/apps/web/-/m/v1", None).await;
    assert!(!html.contains("delete-manifest"));
    let (status, _) = page(&server, "/ui/r/apps/web/-/delete/v1", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let response = server
        .send(
            server
                .request(Method::POST, "/ui/r/apps/web/-/delete/v1")
                .header("Origin", format!("http://{}", server.authority())),
        )
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        server.get("/v2/apps/web/manifests/v1").await.status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn off_unless_configured(driver: Driver) {
    let server = TestServer::start(driver).await;
    for path in ["/", "/ui/", "/ui", "/ui/assets/style.css"] {
        assert_error(server.get(path).await, StatusCode::NOT_FOUND, "UNSUPPORTED").await;
    }
    server.stop().await;
}

driver_tests!(
    pages_show_repositories_tags_manifests_and_referrers,
    deletes_ask_first_and_come_only_from_the_view,
    off_unless_configured,
);

const POLICY: &str = r#"
access:
  rules:
    - repositories: ["apps/**", "team/**"]
      users: [alice]
      actions: ["*"]
    - repositories: ["apps/**"]
      users: [bob]
      actions: [pull]
    - repositories: ["library/*"]
      users: [alice]
      actions: [pull, push]
  anonymous:
    - repositories: ["library/*"]
      actions: [pull]
"#;

/// htpasswd users alice (everything on apps/** and team/**, pull and push on library/*) and
/// bob (pull on apps/**);
/// anonymous callers may pull library/*.
async fn policy_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    let users: String = ["alice", "bob"]
        .iter()
        .map(|u| htpasswd_entry(u, &format!("{u}-pw")))
        .collect();
    std::fs::write(&path, users).unwrap();
    let options = Options {
        sections: Some(format!(
            "{UI_ON}auth:\n  htpasswd:\n    realm: ui-test\n    path: {}\n{POLICY}",
            path.display()
        )),
        ..Options::default()
    };
    (TestServer::start_with(Driver::InMemory, options).await, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_only_what_the_caller_may_pull() {
    let (server, _dir) = policy_server().await;
    let alice = basic("alice", "alice-pw");
    let bob = basic("bob", "bob-pw");
    // Content goes in through the API, as alice.
    for (repo, tag) in [
        ("apps/web", "v1"),
        ("team/secret", "v1"),
        ("library/alpine", "3"),
    ] {
        push_as(&server, &alice, repo, tag).await;
    }

    // Anonymous: only library/*.
    let (status, html) = page(&server, "/ui/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">library/alpine<"), "{html}");
    assert!(
        !html.contains("apps/web") && !html.contains("team/secret"),
        "{html}"
    );
    // A page it may not see asks for credentials, with the API's Basic challenge.
    let response = server.get("/ui/r/team/secret").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&response, "WWW-Authenticate").as_deref(),
        Some("Basic realm=\"ui-test\"")
    );
    assert_security_headers(&response, "401");
    assert!(response.text().await.unwrap().contains("Sign in required"));

    // bob: apps/web and library/alpine, never team/secret; no delete buttons.
    let (_, html) = page(&server, "/ui/", Some(&bob)).await;
    assert!(html.contains(">apps/web<") && html.contains(">library/alpine<"));
    assert!(!html.contains("team/secret"), "{html}");
    let (status, html) = page(&server, "/ui/r/apps/web", Some(&bob)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-tag=\"v1\"") && !html.contains("delete tag"));
    let (status, html) = page(&server, "/ui/r/apps/web/-/m/v1", Some(&bob)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("delete-manifest"));
    let (status, _) = page(&server, "/ui/r/team/secret", Some(&bob)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = page(&server, "/ui/r/team/secret/-/m/v1", Some(&bob)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = page(&server, "/ui/r/apps/web/-/delete/v1", Some(&bob)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = server
        .send(
            server
                .request(Method::POST, "/ui/r/apps/web/-/delete/v1")
                .header("Authorization", &bob)
                .header("Origin", format!("http://{}", server.authority())),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .send(
                server
                    .request(Method::GET, "/v2/apps/web/manifests/v1")
                    .header("Authorization", &alice)
            )
            .await
            .status(),
        StatusCode::OK
    );

    // alice: everything she may pull, with delete buttons where she may delete.
    let (_, html) = page(&server, "/ui/", Some(&alice)).await;
    for name in ["apps/web", "team/secret", "library/alpine"] {
        assert!(html.contains(&format!(">{name}<")), "{name}: {html}");
    }
    let (_, html) = page(&server, "/ui/r/apps/web", Some(&alice)).await;
    assert!(html.contains("delete tag"));
    let (_, html) = page(&server, "/ui/r/library/alpine", Some(&alice)).await;
    assert!(
        !html.contains("delete tag"),
        "alice may only pull library/*"
    );
    // A wrong password is asked again.
    let (status, _) = page(&server, "/ui/", Some(&basic("alice", "wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

async fn push_as(server: &TestServer, auth: &str, repo: &str, tag: &str) {
    let config = config_blob(7);
    let config_digest = push_blob_as(server, auth, repo, &config).await;
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &[],
        None,
    );
    let response = server
        .send(
            server
                .request(Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
                .header("Authorization", auth)
                .header("Content-Type", OCI_MANIFEST)
                .body(manifest.body.clone()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn push_blob_as(server: &TestServer, auth: &str, repo: &str, data: &[u8]) -> Digest {
    let digest = Digest::sha256_of(data);
    let response = server
        .send(
            server
                .request(
                    Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                )
                .header("Authorization", auth)
                .body(data.to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    digest
}
