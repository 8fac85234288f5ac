//! The `registry` binary with access control: a configuration it cannot honour stops it
//! (exit code 2, one line naming the key), and secrets never reach its log, even at `trace`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::auth::{basic, bearer, htpasswd_entry};

fn registry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_registry"))
}

#[test]
fn unreadable_auth_files_stop_startup() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "no certificate here\n").unwrap();
    let cases = [
        (
            format!(
                "auth:\n  htpasswd:\n    realm: r\n    path: {}\n",
                missing.display()
            ),
            "auth.htpasswd.path",
        ),
        (
            format!(
                "auth:\n  htpasswd:\n    realm: r\n    path: {}\n",
                not_pem.display()
            ),
            "auth.htpasswd.path",
        ),
        (
            format!(
                "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    rootcertbundle: {}\n",
                missing.display()
            ),
            "auth.token.rootcertbundle",
        ),
        (
            format!(
                "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    rootcertbundle: {}\n",
                not_pem.display()
            ),
            "auth.token.rootcertbundle",
        ),
        (
            format!(
                "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    jwks: {}\n",
                not_pem.display()
            ),
            "auth.token.jwks",
        ),
        ("auth:\n  ldap: {}\n".to_owned(), "auth"),
    ];
    for (auth, key) in cases {
        let path = dir.path().join("config.yml");
        std::fs::write(
            &path,
            format!("version: 0.1\nstorage:\n  inmemory: {{}}\nhttp:\n  addr: 127.0.0.1:0\n{auth}"),
        )
        .unwrap();
        for command in ["check-config", "serve"] {
            let output = registry().arg(command).arg(&path).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{command} {auth}: {stderr}");
            assert!(
                stderr.starts_with(&format!("registry: configuration error: {key}: ")),
                "{command} {auth}: {stderr}"
            );
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, htpasswd_entry("alice", "correct-horse-battery")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: trace\nstorage:\n  inmemory: {{}}\nhttp:\n  addr: 127.0.0.1:{port}\n\
             auth:\n  htpasswd:\n    realm: r\n    path: {}\n",
            htpasswd.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("log");
    let mut child = registry()
        .arg("serve")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while client.get(format!("{base}/v2/")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "registry did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secrets = [
        basic("alice", "correct-horse-battery"),
        basic("alice", "wrong-staple-guess"),
        basic("mallory", "hunter2-secret"),
        bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"),
    ];
    for header in &secrets {
        for path in ["/v2/", "/v2/a/b/tags/list?token=query-secret-value"] {
            let status = client
                .get(format!("{base}{path}"))
                .header("Authorization", header)
                .send()
                .await
                .unwrap()
                .status();
            assert!(status == 200 || status == 401 || status == 404, "{status}");
        }
    }
    // The access log line of the last request is written after its response.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [
        "correct-horse-battery",
        "wrong-staple-guess",
        "hunter2-secret",
        "query-secret-value",
        "eyJhbGciOiJSUzI1NiJ9",
    ] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
    for header in &secrets {
        let credential = header.split_once(' ').unwrap().1;
        assert!(!text.contains(credential), "{credential} in the log");
    }
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("authentication failed"))
        .collect();
    assert!(
        failures
            .iter()
            .any(|l| l.contains("alice") && l.contains("127.0.0.1")),
        "failed logins are logged with user and peer:\n{text}"
    );
    assert!(failures.iter().any(|l| l.contains("mallory")), "{text}");
}
