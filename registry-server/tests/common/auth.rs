//! Credentials for the access-control tests: htpasswd entries, and a token service's keys
//! (a root CA, an intermediate CA and a signing certificate, made per test) with a signer
//! for the Docker token specification's JWTs.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, SignatureAlgorithm, date_time_ymd,
};
use serde_json::{Value, json};

pub const ISSUER: &str = "test-issuer";
pub const SERVICE: &str = "test-registry";
pub const REALM: &str = "http://127.0.0.1:1/token";

/// `user:bcrypt(password)` at the lowest cost, so tests stay fast.
pub fn htpasswd_entry(user: &str, password: &str) -> String {
    format!("{user}:{}\n", bcrypt::hash(password, 4).expect("bcrypt"))
}

/// `Authorization: Basic ...` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A certificate and its key.
pub struct Signer {
    pub certificate_der: Vec<u8>,
    pub certificate_pem: String,
    key: KeyPair,
    params: CertificateParams,
}

impl Signer {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// The JWT signing key (PKCS#8 DER, which the JWT library takes for EC and RSA keys).
    pub fn encoding_key(&self) -> EncodingKey {
        if self.key.algorithm() == &PKCS_RSA_SHA256 {
            EncodingKey::from_rsa_der(&pkcs1_of(&self.key.serialize_der()))
        } else {
            EncodingKey::from_ec_der(&self.key.serialize_der())
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        if self.key.algorithm() == &PKCS_RSA_SHA256 {
            Algorithm::RS256
        } else {
            Algorithm::ES256
        }
    }

    pub fn x5c(&self) -> String {
        STANDARD.encode(&self.certificate_der)
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`: the content of its last
/// element, an OCTET STRING.
fn pkcs1_of(pkcs8: &[u8]) -> Vec<u8> {
    // PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }.
    fn header(bytes: &[u8]) -> (usize, usize) {
        let first = bytes[1] as usize;
        if first < 0x80 {
            (2, first)
        } else {
            let n = first & 0x7f;
            let len = bytes[2..2 + n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            (2 + n, len)
        }
    }
    let (seq_header, _) = header(pkcs8);
    let mut at = seq_header;
    for _ in 0..2 {
        let (h, len) = header(&pkcs8[at..]);
        at += h + len;
    }
    let (h, len) = header(&pkcs8[at..]);
    assert_eq!(pkcs8[at], 0x04, "OCTET STRING");
    pkcs8[at + h..at + h + len].to_vec()
}

pub struct CertificateOptions {
    pub ca: bool,
    pub algorithm: &'static SignatureAlgorithm,
    pub expired: bool,
}

impl Default for CertificateOptions {
    fn default() -> Self {
        CertificateOptions {
            ca: false,
            algorithm: &PKCS_ECDSA_P256_SHA256,
            expired: false,
        }
    }
}

/// A certificate named `name`, self-signed when `issuer` is `None`.
pub fn certificate(name: &str, issuer: Option<&Signer>, options: CertificateOptions) -> Signer {
    let key = KeyPair::generate_for(options.algorithm).expect("key generation");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    if options.ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    if options.expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let certificate = match issuer {
        Some(issuer) => params.signed_by(&key, &issuer.issuer()),
        None => params.self_signed(&key),
    }
    .expect("certificate");
    Signer {
        certificate_der: certificate.der().to_vec(),
        certificate_pem: certificate.pem(),
        key,
        params,
    }
}

/// A token service's keys: root CA → intermediate CA → signing certificate.
pub struct TokenKeys {
    pub root: Signer,
    pub intermediate: Signer,
    pub leaf: Signer,
}

impl TokenKeys {
    pub fn new() -> TokenKeys {
        Self::with_leaf_algorithm(&PKCS_ECDSA_P256_SHA256)
    }

    pub fn with_leaf_algorithm(algorithm: &'static SignatureAlgorithm) -> TokenKeys {
        let ca = || CertificateOptions {
            ca: true,
            ..CertificateOptions::default()
        };
        let root = certificate("test root", None, ca());
        let intermediate = certificate("test intermediate", Some(&root), ca());
        let leaf = certificate(
            "token signer",
            Some(&intermediate),
            CertificateOptions {
                algorithm,
                ..CertificateOptions::default()
            },
        );
        TokenKeys {
            root,
            intermediate,
            leaf,
        }
    }

    /// A token signed by the leaf with the full chain in `x5c`.
    pub fn token(&self, claims: &Value) -> String {
        let header = json!({
            "typ": "JWT",
            "alg": format!("{:?}", self.leaf.algorithm()),
            "x5c": [self.leaf.x5c(), self.intermediate.x5c()],
        });
        sign(
            &header,
            claims,
            &self.leaf.encoding_key(),
            self.leaf.algorithm(),
        )
    }
}

impl Default for TokenKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// `header.claims.signature`, signed with `key`.
pub fn sign(header: &Value, claims: &Value, key: &EncodingKey, algorithm: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, algorithm).expect("sign");
    format!("{message}.{signature}")
}

/// Claims valid now for [`ISSUER`] and [`SERVICE`] granting `access`: (type, name, actions).
pub fn claims(access: &[(&str, &str, &[&str])]) -> Value {
    let now = unix_now();
    json!({
        "iss": ISSUER,
        "sub": "alice",
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": uuid::Uuid::new_v4().to_string(),
        "access": access
            .iter()
            .map(|(kind, name, actions)| json!({"type": kind, "name": name, "actions": actions}))
            .collect::<Vec<_>>(),
    })
}

/// The `auth.token` section for `bundle` (a PEM file path), with `extra` lines (indented by
/// four spaces) such as `jwks:`.
pub fn token_section(bundle: &str, extra: &str) -> String {
    format!(
        "auth:\n  token:\n    realm: {REALM}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {bundle}\n{extra}"
    )
}

/// Every endpoint and method of the API, with the scope it needs on repository `a/b`:
/// (method, path, scope). Digests and upload ids need not exist: access is decided first.
pub fn every_route() -> Vec<(reqwest::Method, String, &'static str)> {
    use reqwest::Method;
    let digest = format!("sha256:{}", "0".repeat(64));
    let pull = "repository:a/b:pull";
    let push = "repository:a/b:pull,push";
    let delete = "repository:a/b:delete";
    vec![
        (Method::GET, "/v2/_catalog".into(), "registry:catalog:*"),
        (Method::GET, "/v2/a/b/tags/list".into(), pull),
        (Method::GET, "/v2/a/b/manifests/latest".into(), pull),
        (Method::HEAD, "/v2/a/b/manifests/latest".into(), pull),
        (Method::PUT, "/v2/a/b/manifests/latest".into(), push),
        (
            Method::DELETE,
            format!("/v2/a/b/manifests/{digest}"),
            delete,
        ),
        (Method::GET, format!("/v2/a/b/blobs/{digest}"), pull),
        (Method::HEAD, format!("/v2/a/b/blobs/{digest}"), pull),
        (Method::DELETE, format!("/v2/a/b/blobs/{digest}"), delete),
        (Method::POST, "/v2/a/b/blobs/uploads/".into(), push),
        (Method::GET, "/v2/a/b/blobs/uploads/some-id".into(), pull),
        (Method::PATCH, "/v2/a/b/blobs/uploads/some-id".into(), push),
        (
            Method::PUT,
            format!("/v2/a/b/blobs/uploads/some-id?digest={digest}"),
            push,
        ),
        (
            Method::DELETE,
            "/v2/a/b/blobs/uploads/some-id".into(),
            delete,
        ),
        (Method::GET, format!("/v2/a/b/referrers/{digest}"), pull),
    ]
}
