//! The `access` policy over htpasswd users: per-repository rules for users and groups,
//! anonymous access, a default for signed-in users, and a catalog that lists only what the
//! caller may pull.

mod common;

use common::auth::{basic, htpasswd_entry};
use common::{Driver, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const POLICY: &str = r#"
access:
  groups:
    devs: [bob, carol]
  rules:
    - repositories: ["team/**"]
      groups: [devs]
      actions: [pull, push]
    - repositories: ["team/secret", "ops/*"]
      users: [alice]
      actions: ["*"]
  anonymous:
    - repositories: ["library/*"]
      actions: [pull]
"#;

async fn server() -> (TestServer, tempfile::TempDir) {
    server_with("").await
}

/// The policy above plus `extra` lines of the `access` section.
async fn server_with(extra: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    let users: String = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|u| htpasswd_entry(u, &format!("{u}-pw")))
        .collect();
    std::fs::write(&path, users).unwrap();
    let options = Options {
        sections: Some(format!(
            "auth:\n  htpasswd:\n    realm: policy-test\n    path: {}\n{POLICY}{extra}",
            path.display()
        )),
        ..Options::default()
    };
    (TestServer::start_with(Driver::InMemory, options).await, dir)
}

fn auth(user: &str) -> Option<String> {
    (user != "anonymous").then(|| basic(user, &format!("{user}-pw")))
}

async fn send(
    server: &TestServer,
    user: &str,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = server.request(method, path).body(body);
    if let Some(header) = auth(user) {
        request = request.header("Authorization", header);
    }
    server.send(request).await
}

/// Pushes a small blob as `user`; the status says whether it was allowed.
async fn push(server: &TestServer, user: &str, repo: &str) -> StatusCode {
    let data = format!("blob of {repo}").into_bytes();
    let digest = registry_core::domain::Digest::sha256_of(&data);
    send(
        server,
        user,
        Method::POST,
        &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        data,
    )
    .await
    .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_grant_per_repository() {
    let (server, _dir) = server().await;
    // alice may do anything on ops/*; set up content as her.
    for repo in ["library/alpine", "team/app", "team/secret", "ops/tools"] {
        // library/alpine and team/app are pushed by someone allowed to.
        let user = if repo.starts_with("team/app") {
            "bob"
        } else {
            "alice"
        };
        let status = push(&server, user, repo).await;
        if repo == "library/alpine" {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "alice has no push on library/*"
            );
        } else {
            assert_eq!(status, StatusCode::CREATED, "{user} pushing {repo}");
        }
    }
    let cases: &[(&str, &str, StatusCode)] = &[
        // Anonymous: pull on library/* only; other requests are challenged.
        ("anonymous", "team/app", StatusCode::UNAUTHORIZED),
        ("bob", "team/app", StatusCode::CREATED),
        ("carol", "team/deep/down", StatusCode::CREATED),
        ("dave", "team/app", StatusCode::FORBIDDEN),
        ("bob", "ops/tools", StatusCode::FORBIDDEN),
        ("alice", "ops/tools", StatusCode::CREATED),
        ("bob", "team/secret", StatusCode::CREATED),
    ];
    for (user, repo, expected) in cases {
        assert_eq!(
            push(&server, user, repo).await,
            *expected,
            "{user} pushing {repo}"
        );
    }
    let denied = send(
        &server,
        "dave",
        Method::POST,
        "/v2/team/app/blobs/uploads/",
        Vec::new(),
    )
    .await;
    assert!(!denied.headers().contains_key("www-authenticate"));
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert_eq!(
        body["errors"][0]["message"],
        "requested access to the resource is denied"
    );
    let challenged = send(
        &server,
        "anonymous",
        Method::POST,
        "/v2/team/app/blobs/uploads/",
        Vec::new(),
    )
    .await;
    assert_eq!(
        challenged.headers()["www-authenticate"],
        r#"Basic realm="policy-test""#
    );

    // Pulls: anonymous on library/*; every signed-in user by default; delete only by rule.
    let tags = |user: &'static str, repo: &'static str| {
        let server = &server;
        async move {
            send(
                server,
                user,
                Method::GET,
                &format!("/v2/{repo}/tags/list"),
                Vec::new(),
            )
            .await
            .status()
        }
    };
    assert_eq!(
        tags("anonymous", "library/alpine").await,
        StatusCode::NOT_FOUND,
        "allowed; no tags"
    );
    assert_eq!(
        tags("anonymous", "library/a/b").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        tags("anonymous", "ops/tools").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        tags("dave", "ops/tools").await,
        StatusCode::FORBIDDEN,
        "no rule, no default"
    );
    assert_eq!(
        tags("dave", "library/alpine").await,
        StatusCode::NOT_FOUND,
        "what anonymous may"
    );
    let digest = registry_core::domain::Digest::sha256_of(b"blob of ops/tools");
    let delete_blob = |user: &'static str| {
        let server = &server;
        let path = format!("/v2/ops/tools/blobs/{digest}");
        async move {
            send(server, user, Method::DELETE, &path, Vec::new())
                .await
                .status()
        }
    };
    assert_eq!(delete_blob("bob").await, StatusCode::FORBIDDEN);
    assert_eq!(delete_blob("alice").await, StatusCode::ACCEPTED);

    // The version check needs credentials even where anonymous pulls are allowed.
    assert_eq!(
        send(&server, "anonymous", Method::GET, "/v2/", Vec::new())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&server, "dave", Method::GET, "/v2/", Vec::new())
            .await
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

/// Content written through a registry without access control over the same storage.
async fn seed(server: &TestServer, repos: &[&str]) {
    let open = server.sibling(Options::default()).await;
    for repo in repos {
        open.push_blob(repo, format!("blob of {repo}").as_bytes())
            .await;
    }
    open.stop().await;
}

async fn catalog(
    server: &TestServer,
    user: &str,
    query: &str,
) -> (StatusCode, Value, Option<String>) {
    let response = send(
        server,
        user,
        Method::GET,
        &format!("/v2/_catalog{query}"),
        Vec::new(),
    )
    .await;
    let status = response.status();
    let link = response
        .headers()
        .get("link")
        .map(|l| l.to_str().unwrap().to_owned());
    let body: Value = if status == StatusCode::OK {
        response.json().await.unwrap()
    } else {
        Value::Null
    };
    (status, body["repositories"].clone(), link)
}

const REPOS: &[&str] = &[
    "library/alpine",
    "library/busybox",
    "ops/tools",
    "team/app",
    "team/secret",
    "team/x",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_lists_what_the_caller_may_pull() {
    let (server, _dir) = server().await;
    seed(&server, REPOS).await;
    let (status, repos, _) = catalog(&server, "anonymous", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repos, json!(["library/alpine", "library/busybox"]));
    let (_, repos, _) = catalog(&server, "bob", "").await;
    assert_eq!(
        repos,
        json!([
            "library/alpine",
            "library/busybox",
            "team/app",
            "team/secret",
            "team/x"
        ])
    );
    let (_, repos, _) = catalog(&server, "alice", "").await;
    assert_eq!(
        repos,
        json!([
            "library/alpine",
            "library/busybox",
            "ops/tools",
            "team/secret"
        ])
    );
    // Pages fill with visible names and link only to visible ones.
    let (_, repos, link) = catalog(&server, "anonymous", "?n=1").await;
    assert_eq!(repos, json!(["library/alpine"]));
    assert!(link.unwrap().contains("last=library%2Falpine"));
    let (_, repos, link) = catalog(&server, "anonymous", "?n=1&last=library%2Falpine").await;
    assert_eq!(repos, json!(["library/busybox"]));
    assert_eq!(link, None, "nothing visible follows");
    let (_, repos, link) = catalog(&server, "alice", "?n=2&last=library%2Fbusybox").await;
    assert_eq!(repos, json!(["ops/tools", "team/secret"]));
    assert_eq!(link, None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_actions_apply_to_every_signed_in_user() {
    let (server, _dir) = server_with("  default: [pull]\n").await;
    seed(&server, REPOS).await;
    let (_, repos, _) = catalog(&server, "dave", "").await;
    assert_eq!(repos, json!(REPOS));
    let (_, repos, _) = catalog(&server, "anonymous", "").await;
    assert_eq!(
        repos,
        json!(["library/alpine", "library/busybox"]),
        "not for anonymous callers"
    );
    assert_eq!(
        push(&server, "dave", "ops/tools").await,
        StatusCode::FORBIDDEN,
        "pull only"
    );
    server.stop().await;
}

/// A mount from a repository the caller may not pull becomes an upload (202), even though
/// the blob is there: the answer does not tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_needs_pull_on_the_source() {
    let (server, _dir) = server().await;
    assert_eq!(
        push(&server, "alice", "ops/tools").await,
        StatusCode::CREATED
    );
    let digest = registry_core::domain::Digest::sha256_of(b"blob of ops/tools");
    let response = send(
        &server,
        "bob",
        Method::POST,
        &format!("/v2/team/app/blobs/uploads/?mount={digest}&from=ops/tools"),
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = send(
        &server,
        "bob",
        Method::HEAD,
        &format!("/v2/team/app/blobs/{digest}"),
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "nothing mounted");
    let response = send(
        &server,
        "alice",
        Method::POST,
        &format!("/v2/team/secret/blobs/uploads/?mount={digest}&from=ops/tools"),
        Vec::new(),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "alice may pull ops/tools"
    );
    server.stop().await;
}
