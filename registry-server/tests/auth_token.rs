//! `auth.token`: bearer tokens verified as the reference verifies them, challenges with the
//! exact scope each route needs, and every bad token refused with 401.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::auth::{
    CertificateOptions, REALM, SERVICE, TokenKeys, bearer, certificate, claims, every_route, sign,
    token_section, unix_now,
};
use common::{Driver, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Setup {
    server: TestServer,
    keys: TokenKeys,
    _dir: tempfile::TempDir,
}

fn write_bundle(dir: &Path, pems: &[&str]) -> PathBuf {
    let path = dir.join("bundle.pem");
    std::fs::write(&path, pems.concat()).unwrap();
    path
}

async fn setup_with(extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let keys = TokenKeys::new();
    let bundle = write_bundle(dir.path(), &[&keys.root.certificate_pem]);
    let options = Options {
        sections: Some(token_section(&bundle.display().to_string(), extra)),
        ..Options::default()
    };
    let server = TestServer::start_with(Driver::InMemory, options).await;
    Setup {
        server,
        keys,
        _dir: dir,
    }
}

async fn setup() -> Setup {
    setup_with("").await
}

async fn get_with(server: &TestServer, path: &str, token: &str) -> reqwest::Response {
    server
        .send(
            server
                .request(Method::GET, path)
                .header("Authorization", bearer(token)),
        )
        .await
}

fn challenge(scope: &str, error: Option<&str>) -> String {
    let mut value = format!(r#"Bearer realm="{REALM}",service="{SERVICE}""#);
    if !scope.is_empty() {
        value.push_str(&format!(r#",scope="{scope}""#));
    }
    if let Some(error) = error {
        value.push_str(&format!(r#",error="{error}""#));
    }
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_name_the_scope_each_route_needs() {
    let Setup { server, keys, .. } = setup().await;
    for (method, path, scope) in every_route() {
        let response = server.send(server.request(method.clone(), &path)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            response.headers()["www-authenticate"],
            challenge(scope, None).as_str(),
            "{method} {path}"
        );
    }
    let response = server.get("/v2/").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        challenge("", None).as_str()
    );

    // A mount asks for pull on its source too (optional: see the mount test).
    let response = server
        .send(server.request(
            Method::POST,
            &format!(
                "/v2/a/b/blobs/uploads/?mount=sha256:{}&from=c/d",
                "0".repeat(64)
            ),
        ))
        .await;
    assert_eq!(
        response.headers()["www-authenticate"],
        challenge("repository:a/b:pull,push repository:c/d:pull", None).as_str()
    );

    // Any valid token passes the version check.
    let token = keys.token(&claims(&[]));
    assert_eq!(
        get_with(&server, "/v2/", &token).await.status(),
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_claim_decides() {
    let Setup { server, keys, .. } = setup().await;
    let pusher = keys.token(&claims(&[("repository", "a/b", &["pull", "push"])]));
    let digest = server_push(&server, &pusher).await;

    let reader = keys.token(&claims(&[("repository", "a/b", &["pull"])]));
    let response = get_with(&server, &format!("/v2/a/b/blobs/{digest}"), &reader).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .send(
            server
                .request(Method::POST, "/v2/a/b/blobs/uploads/")
                .header("Authorization", bearer(&reader)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        challenge("repository:a/b:pull,push", Some("insufficient_scope")).as_str()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    // Another repository's token, and the catalog without registry:catalog:*.
    let other = keys.token(&claims(&[("repository", "a/c", &["*"])]));
    let response = get_with(&server, "/v2/a/b/tags/list", &other).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        challenge("repository:a/b:pull", Some("insufficient_scope")).as_str()
    );
    assert_eq!(
        get_with(&server, "/v2/_catalog", &reader).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let lister = keys.token(&claims(&[("registry", "catalog", &["*"])]));
    let response = get_with(&server, "/v2/_catalog", &lister).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["repositories"],
        json!(["a/b"])
    );

    // `*` grants delete; pull does not.
    let manifest_path = format!("/v2/a/b/blobs/{digest}");
    let response = server
        .send(
            server
                .request(Method::DELETE, &manifest_path)
                .header("Authorization", bearer(&reader)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let admin = keys.token(&claims(&[("repository", "a/b", &["*"])]));
    let response = server
        .send(
            server
                .request(Method::DELETE, &manifest_path)
                .header("Authorization", bearer(&admin)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    // Referrers need pull.
    let path = format!("/v2/a/b/referrers/{digest}");
    assert_eq!(
        get_with(&server, &path, &other).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_with(&server, &path, &reader).await.status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn server_push(server: &TestServer, token: &str) -> registry_core::domain::Digest {
    let data = b"some layer";
    let digest = registry_core::domain::Digest::sha256_of(data);
    let response = server
        .send(
            server
                .request(
                    Method::POST,
                    &format!("/v2/a/b/blobs/uploads/?digest={digest}"),
                )
                .header("Authorization", bearer(token))
                .body(data.to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    digest
}

/// Without pull on the source, a mount is a plain upload (202), whether or not the blob is
/// there: the answer never tells.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_without_source_access_becomes_an_upload() {
    let Setup { server, keys, .. } = setup().await;
    let digest = server_push(
        &server,
        &keys.token(&claims(&[("repository", "a/b", &["pull", "push"])])),
    )
    .await;
    let mount = format!("/v2/c/d/blobs/uploads/?mount={digest}&from=a/b");
    let no_source = keys.token(&claims(&[("repository", "c/d", &["pull", "push"])]));
    let response = server
        .send(
            server
                .request(Method::POST, &mount)
                .header("Authorization", bearer(&no_source)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.headers().contains_key("docker-upload-uuid"));
    let response = get_with(&server, &format!("/v2/c/d/blobs/{digest}"), &no_source).await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "nothing was mounted"
    );

    let with_source = keys.token(&claims(&[
        ("repository", "c/d", &["pull", "push"]),
        ("repository", "a/b", &["pull"]),
    ]));
    let response = server
        .send(
            server
                .request(Method::POST, &mount)
                .header("Authorization", bearer(&with_source)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_invalid() {
    let Setup { server, keys, .. } = setup().await;
    let access: &[(&str, &str, &[&str])] = &[("repository", "a/b", &["pull"])];
    let now = unix_now();
    let with = |changes: Value| {
        let mut c = claims(access);
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let good = keys.token(&claims(access));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered_claims = URL_SAFE_NO_PAD
        .encode(claims(&[("repository", "a/b", &["pull", "push", "delete"])]).to_string());
    let stranger = TokenKeys::new();
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"none"}"#);
    let none_claims = URL_SAFE_NO_PAD.encode(claims(access).to_string());

    let cases: Vec<(&str, String)> = vec![
        ("expired", keys.token(&with(json!({"exp": now - 120})))),
        (
            "not yet valid",
            keys.token(&with(json!({"nbf": now + 120}))),
        ),
        ("no exp", {
            let mut c = claims(access);
            c.as_object_mut().unwrap().remove("exp");
            keys.token(&c)
        }),
        (
            "wrong issuer",
            keys.token(&with(json!({"iss": "someone-else"}))),
        ),
        (
            "wrong audience",
            keys.token(&with(json!({"aud": "other-registry"}))),
        ),
        (
            "tampered claims",
            format!("{head}.{tampered_claims}.{signature}"),
        ),
        ("foreign signer", stranger.token(&claims(access))),
        ("alg none", format!("{none_header}.{none_claims}.")),
        (
            "alg none, signature kept",
            format!("{none_header}.{none_claims}.{signature}"),
        ),
        ("garbage", "not-a-token".to_owned()),
        ("two parts", format!("{head}.{tampered_claims}")),
        ("bad base64", format!("{head}.!!!.{signature}")),
        ("no key named", {
            let header = json!({"typ": "JWT", "alg": "ES256"});
            sign(
                &header,
                &claims(access),
                &keys.leaf.encoding_key(),
                keys.leaf.algorithm(),
            )
        }),
        ("unknown kid", {
            let header = json!({"typ": "JWT", "alg": "ES256", "kid": "ABCD:EFGH"});
            sign(
                &header,
                &claims(access),
                &keys.leaf.encoding_key(),
                keys.leaf.algorithm(),
            )
        }),
        ("leaf without its intermediate", {
            let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [keys.leaf.x5c()]});
            sign(
                &header,
                &claims(access),
                &keys.leaf.encoding_key(),
                keys.leaf.algorithm(),
            )
        }),
        ("HS256 keyed with the certificate", {
            let header = json!({"typ": "JWT", "alg": "HS256", "x5c": [keys.leaf.x5c(), keys.intermediate.x5c()]});
            let key = jsonwebtoken::EncodingKey::from_secret(&keys.leaf.certificate_der).unwrap();
            sign(
                &header,
                &claims(access),
                &key,
                jsonwebtoken::Algorithm::HS256,
            )
        }),
    ];
    for (name, token) in cases {
        let response = get_with(&server, "/v2/a/b/tags/list", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(
            response.headers()["www-authenticate"],
            challenge("repository:a/b:pull", Some("invalid_token")).as_str(),
            "{name}"
        );
    }
    // Within the 60 s leeway, and `aud` as a list containing the service.
    for (name, token) in [
        (
            "expired 30 s ago",
            keys.token(&with(json!({"exp": now - 30}))),
        ),
        ("valid in 30 s", keys.token(&with(json!({"nbf": now + 30})))),
        (
            "audience list",
            keys.token(&with(json!({"aud": ["x", SERVICE]}))),
        ),
    ] {
        let response = get_with(&server, "/v2/a/b/tags/list", &token).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{name}: allowed, repository unknown"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_must_verify_up_to_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let keys = TokenKeys::new();
    let access: &[(&str, &str, &[&str])] = &[("repository", "a/b", &["pull"])];
    // The bundle holds the intermediate as a root too: a chain may end there.
    let bundle = write_bundle(dir.path(), &[&keys.intermediate.certificate_pem]);
    let options = Options {
        sections: Some(token_section(&bundle.display().to_string(), "")),
        ..Options::default()
    };
    let server = TestServer::start_with(Driver::InMemory, options).await;
    let sign_with_chain = |leaf: &common::auth::Signer, chain: Vec<String>| {
        let header = json!({"typ": "JWT", "alg": format!("{:?}", leaf.algorithm()), "x5c": chain});
        sign(
            &header,
            &claims(access),
            &leaf.encoding_key(),
            leaf.algorithm(),
        )
    };
    let allowed = |token: String| {
        let server = &server;
        async move {
            get_with(server, "/v2/a/b/tags/list", &token).await.status() != StatusCode::UNAUTHORIZED
        }
    };
    assert!(
        allowed(keys.token(&claims(access))).await,
        "leaf + intermediate"
    );
    assert!(
        allowed(sign_with_chain(&keys.leaf, vec![keys.leaf.x5c()])).await,
        "leaf signed by a bundle root"
    );

    let expired_leaf = certificate(
        "expired signer",
        Some(&keys.intermediate),
        CertificateOptions {
            expired: true,
            ..CertificateOptions::default()
        },
    );
    assert!(
        !allowed(sign_with_chain(&expired_leaf, vec![expired_leaf.x5c()])).await,
        "expired leaf"
    );

    // An intermediate that is not a CA cannot sign certificates.
    let not_ca = certificate(
        "not a CA",
        Some(&keys.intermediate),
        CertificateOptions::default(),
    );
    let below = certificate(
        "below a non-CA",
        Some(&not_ca),
        CertificateOptions::default(),
    );
    assert!(
        !allowed(sign_with_chain(&below, vec![below.x5c(), not_ca.x5c()])).await,
        "non-CA intermediate"
    );

    // A self-signed certificate not in the bundle.
    let lone = certificate("lone", None, CertificateOptions::default());
    assert!(
        !allowed(sign_with_chain(&lone, vec![lone.x5c()])).await,
        "self-signed stranger"
    );
    // Signed by a key other than the leaf's.
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [keys.leaf.x5c()]});
    let forged = sign(
        &header,
        &claims(access),
        &lone.encoding_key(),
        lone.algorithm(),
    );
    assert!(!allowed(forged).await, "signature by another key");
    server.stop().await;
}

/// RS256 tokens (what most token services issue), and tokens naming their key by `kid`:
/// the libtrust key id of a bundle certificate (CNCF Distribution 2.x), its RFC 7638
/// thumbprint (3.x), or a key of the JWKS file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_kid_and_jwks_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = TokenKeys::with_leaf_algorithm(&rcgen::PKCS_RSA_SHA256);
    let standalone = certificate(
        "standalone signer",
        None,
        CertificateOptions {
            algorithm: &rcgen::PKCS_RSA_SHA256,
            ..CertificateOptions::default()
        },
    );
    let bundle = write_bundle(
        dir.path(),
        &[&rsa.root.certificate_pem, &standalone.certificate_pem],
    );
    let jwks_path = dir.path().join("jwks.json");
    let secret = b"a shared HMAC secret of enough length";
    std::fs::write(
        &jwks_path,
        json!({"keys": [{"kty": "oct", "kid": "hmac-1", "k": URL_SAFE_NO_PAD.encode(secret)}]})
            .to_string(),
    )
    .unwrap();
    let options = Options {
        sections: Some(token_section(
            &bundle.display().to_string(),
            &format!("    jwks: {}\n", jwks_path.display()),
        )),
        ..Options::default()
    };
    let server = TestServer::start_with(Driver::InMemory, options).await;
    let access: &[(&str, &str, &[&str])] = &[("repository", "a/b", &["pull"])];
    let ok = |token: String| {
        let server = &server;
        async move { get_with(server, "/v2/a/b/tags/list", &token).await.status() }
    };
    assert_eq!(
        ok(rsa.token(&claims(access))).await,
        StatusCode::NOT_FOUND,
        "RS256 x5c"
    );

    let standalone_spki = x509_spki(&standalone.certificate_der);
    for kid in [
        libtrust_id(&standalone_spki),
        rsa_thumbprint(&standalone.certificate_der),
    ] {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": kid});
        let token = sign(
            &header,
            &claims(access),
            &standalone.encoding_key(),
            standalone.algorithm(),
        );
        assert_eq!(ok(token).await, StatusCode::NOT_FOUND, "kid {kid}");
    }
    let header = json!({"typ": "JWT", "alg": "HS256", "kid": "hmac-1"});
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    let token = sign(
        &header,
        &claims(access),
        &key,
        jsonwebtoken::Algorithm::HS256,
    );
    assert_eq!(ok(token).await, StatusCode::NOT_FOUND, "JWKS kid");
    let wrong = jsonwebtoken::EncodingKey::from_secret(b"another secret").unwrap();
    let token = sign(
        &header,
        &claims(access),
        &wrong,
        jsonwebtoken::Algorithm::HS256,
    );
    assert_eq!(
        ok(token).await,
        StatusCode::UNAUTHORIZED,
        "JWKS kid, wrong secret"
    );
    server.stop().await;
}

/// `signingalgorithms` limits what is accepted; `autoredirect` points the realm at the
/// registry's own host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_algorithms_and_autoredirect() {
    let Setup { server, keys, .. } =
        setup_with("    signingalgorithms: [RS256]\n    autoredirect: true\n    autoredirectpath: /auth/token\n").await;
    let token = keys.token(&claims(&[("repository", "a/b", &["pull"])]));
    let response = get_with(&server, "/v2/a/b/tags/list", &token).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "ES256 not accepted"
    );
    let expected = format!(
        r#"Bearer realm="https://{}/auth/token",service="{SERVICE}",scope="repository:a/b:pull",error="invalid_token""#,
        server.authority()
    );
    assert_eq!(response.headers()["www-authenticate"], expected.as_str());
    let response = server
        .send(
            server
                .request(Method::GET, "/v2/")
                .header("X-Forwarded-Proto", "http"),
        )
        .await;
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            r#"Bearer realm="http://{}/auth/token",service="{SERVICE}""#,
            server.authority()
        )
        .as_str()
    );
    server.stop().await;
}

fn x509_spki(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.public_key().raw.to_vec()
}

/// The libtrust key id, computed here from its definition (SHA-256 of the DER public key,
/// 240 bits, base32, 12 groups of 4), independently of the registry's code.
fn libtrust_id(spki: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(spki);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bits: Vec<bool> = digest[..30]
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1 == 1))
        .collect();
    let chars: String = bits
        .chunks(5)
        .map(|c| alphabet[c.iter().fold(0usize, |acc, &b| acc * 2 + b as usize)] as char)
        .collect();
    chars
        .as_bytes()
        .chunks(4)
        .map(|g| std::str::from_utf8(g).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

fn rsa_thumbprint(certificate_der: &[u8]) -> String {
    use sha2::Digest;
    let (_, cert) = x509_parser::parse_x509_certificate(certificate_der).unwrap();
    let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = cert.public_key().parsed() else {
        panic!("an RSA key");
    };
    let trim = |b: &[u8]| {
        b.iter()
            .skip_while(|&&x| x == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    let json = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(trim(rsa.exponent)),
        URL_SAFE_NO_PAD.encode(trim(rsa.modulus))
    );
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(json.as_bytes()))
}
