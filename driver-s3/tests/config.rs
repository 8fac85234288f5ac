//! `storage.s3` parsing: defaults, every key, values as YAML scalars or environment strings,
//! and startup errors that name the key at fault. Needs no emulator.

use driver_s3::{Encryption, S3Config};
use registry_core::storage::{DriverParameters, ParameterError};
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;

fn parse(value: Value) -> Result<S3Config, ParameterError> {
    let Value::Object(map) = value else {
        panic!("tests pass mappings")
    };
    S3Config::from_parameters(&DriverParameters::new(driver_s3::NAME, map))
}

/// `extra` merged over the two required keys.
fn with(extra: Value) -> Value {
    let mut base = json!({"region": "eu-west-1", "bucket": "registry"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}

/// The error for `extra`, which must name `key`.
fn error_for(extra: Value, key: &str) -> String {
    let message = parse(with(extra.clone()))
        .expect_err(&format!("{extra} must be refused"))
        .to_string();
    assert!(
        message.contains(&format!("storage.s3.{key}")),
        "{extra}: {message:?} does not name {key}"
    );
    message
}

#[test]
fn defaults_follow_distribution() {
    let config = parse(with(json!({}))).expect("minimal configuration");
    assert_eq!(config.region(), "eu-west-1");
    assert_eq!(config.bucket(), "registry");
    assert_eq!(config.endpoint(), None);
    assert!(!config.force_path_style());
    assert!(config.credentials().is_none());
    assert_eq!(config.root_prefix(), "");
    assert_eq!(config.chunk_size(), 10 * MIB);
    assert_eq!(config.encryption(), &Encryption::None);
    assert_eq!(config.storage_class(), Some("STANDARD"));
    assert!(config.secure());
    assert_eq!(config.multipart_copy_chunk_size(), 32 * MIB);
    assert_eq!(config.multipart_copy_max_concurrency(), 100);
    assert_eq!(config.multipart_copy_threshold_size(), 32 * MIB);
}

#[test]
fn every_key_from_environment_strings() {
    // REGISTRY_STORAGE_S3_* overrides arrive as strings.
    let config = parse(with(json!({
        "regionendpoint": "minio.internal:9000",
        "secure": "false",
        "forcepathstyle": "true",
        "accesskey": "AKID",
        "secretkey": "very-secret",
        "sessiontoken": "token",
        "rootdirectory": "/registry/v2-root/",
        "chunksize": "5242880",
        "encrypt": "true",
        "keyid": "arn:aws:kms:eu-west-1:123:key/abc",
        "storageclass": "reduced_redundancy",
        "skipverify": "true",
        "multipartcopychunksize": "67108864",
        "multipartcopymaxconcurrency": "8",
        "multipartcopythresholdsize": "0",
    })))
    .expect("full configuration");
    assert_eq!(config.endpoint(), Some("http://minio.internal:9000"));
    assert!(!config.secure());
    assert!(config.force_path_style());
    let credentials = config.credentials().expect("static credentials");
    assert_eq!(credentials.access_key, "AKID");
    assert_eq!(credentials.secret_key, "very-secret");
    assert_eq!(credentials.session_token.as_deref(), Some("token"));
    assert_eq!(config.root_prefix(), "registry/v2-root/");
    assert_eq!(config.chunk_size(), 5 * MIB);
    assert_eq!(
        config.encryption(),
        &Encryption::Kms {
            key_id: Some("arn:aws:kms:eu-west-1:123:key/abc".to_owned())
        }
    );
    assert_eq!(config.storage_class(), Some("REDUCED_REDUNDANCY"));
    assert_eq!(config.multipart_copy_chunk_size(), 64 * MIB);
    assert_eq!(config.multipart_copy_max_concurrency(), 8);
    assert_eq!(config.multipart_copy_threshold_size(), 0);
}

#[test]
fn yaml_scalars_and_variants() {
    let config = parse(with(json!({
        "encrypt": true,
        "chunksize": 20 * MIB,
        "storageclass": "NONE",
        "regionendpoint": "https://s3.example.com/",
    })))
    .expect("configuration");
    assert_eq!(config.encryption(), &Encryption::S3Managed);
    assert_eq!(config.chunk_size(), 20 * MIB);
    assert_eq!(config.storage_class(), None);
    assert_eq!(config.endpoint(), Some("https://s3.example.com"));
    // An explicit scheme wins over `secure`.
    let config = parse(with(
        json!({"regionendpoint": "http://127.0.0.1:9000", "secure": true}),
    ))
    .expect("configuration");
    assert_eq!(config.endpoint(), Some("http://127.0.0.1:9000"));
    let config = parse(with(
        json!({"regionendpoint": "[::1]:9000", "secure": false}),
    ))
    .expect("configuration");
    assert_eq!(config.endpoint(), Some("http://[::1]:9000"));
    // keyid without encrypt is ignored, as in Distribution.
    let config = parse(with(json!({"keyid": "k"}))).expect("configuration");
    assert_eq!(config.encryption(), &Encryption::None);
}

#[test]
fn required_keys() {
    let message = parse(json!({"bucket": "b"}))
        .expect_err("no region")
        .to_string();
    assert_eq!(message, "storage.s3.region is required");
    let message = parse(json!({"region": "r"}))
        .expect_err("no bucket")
        .to_string();
    assert_eq!(message, "storage.s3.bucket is required");
    let message = parse(json!({"region": "", "bucket": "b"}))
        .expect_err("empty region")
        .to_string();
    assert_eq!(message, "storage.s3.region is required");
}

#[test]
fn sizes_are_range_checked() {
    let message = error_for(json!({"chunksize": 5 * MIB - 1}), "chunksize");
    assert!(message.contains("5242880"), "{message}");
    error_for(json!({"chunksize": "10MB"}), "chunksize");
    error_for(json!({"chunksize": -1}), "chunksize");
    error_for(json!({"chunksize": 6 * 1024 * MIB}), "chunksize");
    error_for(
        json!({"multipartcopychunksize": MIB}),
        "multipartcopychunksize",
    );
    error_for(
        json!({"multipartcopymaxconcurrency": 0}),
        "multipartcopymaxconcurrency",
    );
    error_for(
        json!({"multipartcopythresholdsize": 6 * 1024 * MIB}),
        "multipartcopythresholdsize",
    );
}

#[test]
fn invalid_values_name_their_key() {
    error_for(json!({"storageclass": "FAST"}), "storageclass");
    error_for(json!({"encrypt": "maybe"}), "encrypt");
    error_for(json!({"secure": "sometimes"}), "secure");
    error_for(json!({"forcepathstyle": 3}), "forcepathstyle");
    error_for(
        json!({"regionendpoint": "ftp://files.example.com"}),
        "regionendpoint",
    );
    error_for(json!({"regionendpoint": "http://"}), "regionendpoint");
    error_for(json!({"regionendpoint": "minio:port"}), "regionendpoint");
    error_for(
        json!({"regionendpoint": "https://user@minio"}),
        "regionendpoint",
    );
    error_for(json!({"rootdirectory": "/a b"}), "rootdirectory");
    error_for(json!({"rootdirectory": "/a/../b"}), "rootdirectory");
    error_for(json!({"rootdirectory": "/a//b"}), "rootdirectory");
}

#[test]
fn credentials_come_in_pairs() {
    error_for(json!({"accesskey": "AKID"}), "secretkey");
    error_for(json!({"secretkey": "secret"}), "accesskey");
    error_for(json!({"sessiontoken": "token"}), "sessiontoken");
}

#[test]
fn skipverify_is_refused_only_where_tls_is_used() {
    let message = error_for(
        json!({"regionendpoint": "https://minio:9000", "skipverify": true}),
        "skipverify",
    );
    assert!(message.contains("SSL_CERT_FILE"), "{message}");
    // AWS's own endpoints use TLS too.
    error_for(json!({"skipverify": true}), "skipverify");
    // Plain HTTP has no certificate to verify.
    parse(with(
        json!({"regionendpoint": "http://minio:9000", "skipverify": true}),
    ))
    .expect("skipverify over http");
    parse(with(json!({"skipverify": false}))).expect("skipverify false");
}

#[test]
fn debug_output_hides_secrets() {
    let config = parse(with(
        json!({"accesskey": "AKID", "secretkey": "hunter2-secret",
        "sessiontoken": "session-secret"}),
    ))
    .expect("configuration");
    let debug = format!("{config:?}");
    assert!(debug.contains("AKID"));
    assert!(
        !debug.contains("hunter2-secret") && !debug.contains("session-secret"),
        "{debug}"
    );
}
