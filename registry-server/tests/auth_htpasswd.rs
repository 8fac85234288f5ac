//! `auth.htpasswd`: every route needs valid Basic credentials, challenges and error bodies
//! are the reference's, the file is re-read when it changes.

mod common;

use std::path::Path;
use std::time::Duration;

use common::auth::{basic, every_route, htpasswd_entry};
use common::{Driver, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CHALLENGE: &str = r#"Basic realm="test \"realm\"""#;

fn htpasswd_options(path: &Path) -> Options {
    Options {
        sections: Some(format!(
            "auth:\n  htpasswd:\n    realm: 'test \"realm\"'\n    path: {}\n",
            path.display()
        )),
        ..Options::default()
    }
}

async fn server(users: &[(&str, &str)]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    let entries: String = users.iter().map(|(u, p)| htpasswd_entry(u, p)).collect();
    std::fs::write(&path, entries).unwrap();
    let server = TestServer::start_with(Driver::InMemory, htpasswd_options(&path)).await;
    (server, dir)
}

async fn error_body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON error body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_credentials() {
    let (server, _dir) = server(&[("alice", "wonderland")]).await;
    for (method, path, scope) in every_route() {
        let response = server.send(server.request(method.clone(), &path)).await;
        let what = format!("{method} {path}");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(response.headers()["www-authenticate"], CHALLENGE, "{what}");
        if method == Method::HEAD {
            continue;
        }
        let body = error_body(response).await;
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED", "{what}");
        assert_eq!(body["errors"][0]["message"], "authentication required");
        // The detail lists the access records the request needed, as the reference does.
        let (kind, name, actions) = {
            let mut parts = scope.splitn(3, ':');
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        };
        let expected: Vec<Value> = actions
            .split(',')
            .map(|action| json!({"Type": kind, "Class": "", "Name": name, "Action": action}))
            .collect();
        assert_eq!(
            body["errors"][0]["detail"],
            Value::Array(expected),
            "{what}"
        );
    }
    let response = server.get("/v2/").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], CHALLENGE);
    assert_eq!(
        error_body(response).await["errors"][0]["detail"],
        Value::Null
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_credentials_reach_every_handler() {
    let (server, _dir) = server(&[("alice", "wonderland"), ("bob", "builder")]).await;
    let auth = basic("alice", "wonderland");
    let response = server
        .send(
            server
                .request(Method::GET, "/v2/")
                .header("Authorization", &auth),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for (method, path, _) in every_route() {
        let response = server
            .send(
                server
                    .request(method.clone(), &path)
                    .header("Authorization", &auth),
            )
            .await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&response.status()),
            "{method} {path} answered {}",
            response.status()
        );
    }
    // A whole push and pull with credentials on every request.
    let data = b"layer bytes";
    let digest = registry_core::domain::Digest::sha256_of(data);
    let response = server
        .send(
            server
                .request(
                    Method::POST,
                    &format!("/v2/a/b/blobs/uploads/?digest={digest}"),
                )
                .header("Authorization", basic("bob", "builder"))
                .body(data.to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = server
        .send(
            server
                .request(Method::GET, &format!("/v2/a/b/blobs/{digest}"))
                .header("Authorization", &auth),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), data);
    let response = server
        .send(
            server
                .request(Method::GET, "/v2/_catalog")
                .header("Authorization", &auth),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["repositories"],
        json!(["a/b"])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_401() {
    let (server, _dir) = server(&[("alice", "wonderland")]).await;
    let headers = [
        basic("alice", "wrong"),
        basic("mallory", "wonderland"),
        basic("alice", ""),
        basic("", "wonderland"),
        "Basic".to_owned(),
        "Basic !!notbase64".to_owned(),
        "Basic YWxpY2U=".to_owned(), // "alice", no colon
        "Bearer some.jwt.token".to_owned(),
        "Digest username=alice".to_owned(),
        "alice:wonderland".to_owned(),
    ];
    for header in headers {
        for path in ["/v2/", "/v2/a/b/tags/list"] {
            let response = server
                .send(
                    server
                        .request(Method::GET, path)
                        .header("Authorization", &header),
                )
                .await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{header:?} {path}"
            );
            assert_eq!(response.headers()["www-authenticate"], CHALLENGE);
        }
    }
    // Invalid UTF-8 in the header.
    let response = server
        .send(server.request(Method::GET, "/v2/").header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_reread_when_it_changes() {
    let (server, dir) = server(&[("alice", "wonderland")]).await;
    let path = dir.path().join("htpasswd");
    let status = |user: &'static str, password: &'static str| {
        let server = &server;
        async move {
            server
                .send(
                    server
                        .request(Method::GET, "/v2/")
                        .header("Authorization", basic(user, password)),
                )
                .await
                .status()
        }
    };
    assert_eq!(status("alice", "wonderland").await, StatusCode::OK);
    assert_eq!(status("carol", "secret").await, StatusCode::UNAUTHORIZED);

    // Replaced as deployment tools do: a new file renamed over the old one.
    let next = dir.path().join("htpasswd.new");
    std::fs::write(&next, htpasswd_entry("carol", "secret")).unwrap();
    std::fs::rename(&next, &path).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while status("carol", "secret").await != StatusCode::OK {
        assert!(
            std::time::Instant::now() < deadline,
            "new user never accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status("alice", "wonderland").await,
        StatusCode::UNAUTHORIZED,
        "a removed user is refused at once, even though her success was cached"
    );

    // A broken file keeps the users read before.
    std::fs::write(&path, "this line has no colon\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(status("carol", "secret").await, StatusCode::OK);
    server.stop().await;
}

/// An unknown user costs a bcrypt check like a known one with a wrong password, so timing
/// does not tell which user names exist. Compared as a ratio of medians of interleaved
/// requests, at a cost (10) where a check takes tens of milliseconds and a skipped one
/// well under one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timing_does_not_reveal_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    let hash = bcrypt::hash("wonderland", 10).unwrap();
    std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
    let server = TestServer::start_with(Driver::InMemory, htpasswd_options(&path)).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..16 {
        for (user, times) in [("alice", &mut known), ("nobody", &mut unknown)] {
            let request = server
                .request(Method::GET, "/v2/")
                .header("Authorization", basic(user, &format!("guess-{i}")));
            let started = std::time::Instant::now();
            let response = server.send(request).await;
            times.push(started.elapsed());
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[known.len() / 2], unknown[unknown.len() / 2]);
    assert!(
        unknown * 2 > known && known * 2 > unknown,
        "median for a wrong password {known:?}, for an unknown user {unknown:?}"
    );
    server.stop().await;
}
