//! Opening the driver against the S3-compatible emulator named by the environment that
//! `cargo xtask test` (or `cargo xtask emulators`) sets.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::sync::Arc;

use driver_s3::{S3Config, S3Driver};
use registry_core::storage::{DriverParameters, Storage};
use serde_json::{Map, Value, json};

/// The emulator's configuration with `overrides` applied, or `None` (after printing why) when no
/// emulator is configured and emulators are not required.
pub fn config(overrides: Value) -> Option<S3Config> {
    let env = registry_core::storage::contract::emulator_env(
        "s3",
        &[
            "REGISTRY_TEST_S3_ENDPOINT",
            "REGISTRY_TEST_S3_REGION",
            "REGISTRY_TEST_S3_BUCKET",
            "REGISTRY_TEST_S3_ACCESS_KEY",
            "REGISTRY_TEST_S3_SECRET_KEY",
        ],
    )?;
    let [endpoint, region, bucket, access_key, secret_key] =
        <[String; 5]>::try_from(env).expect("five values");
    let mut params = json!({
        "regionendpoint": endpoint,
        "region": region,
        "bucket": bucket,
        "accesskey": access_key,
        "secretkey": secret_key,
        "forcepathstyle": true,
    });
    if let (Value::Object(params), Value::Object(overrides)) = (&mut params, overrides) {
        params.extend(overrides);
    }
    Some(S3Config::from_parameters(&parameters(params)).expect("emulator configuration"))
}

pub fn parameters(value: Value) -> DriverParameters {
    match value {
        Value::Object(map) => DriverParameters::new(driver_s3::NAME, map),
        _ => DriverParameters::new(driver_s3::NAME, Map::new()),
    }
}

/// Opens new driver instances (as separate processes would) over one SDK configuration.
pub struct Opener {
    config: S3Config,
    sdk: aws_sdk_s3::Config,
}

impl Opener {
    pub async fn new(overrides: Value) -> Option<Opener> {
        let config = config(overrides)?;
        let sdk = driver_s3::sdk_config(&config).await;
        Some(Opener { config, sdk })
    }

    pub fn driver(&self) -> S3Driver {
        S3Driver::from_sdk_config(&self.config, self.sdk.clone())
    }

    pub fn storage(&self) -> Storage {
        Storage::new(Arc::new(self.driver()))
    }

    /// A plain SDK client on the same bucket, to look behind the driver's back.
    pub fn raw(&self) -> Raw {
        Raw {
            client: aws_sdk_s3::Client::from_conf(self.sdk.clone()),
            bucket: self.config.bucket().to_owned(),
            root: self.config.root_prefix().to_owned(),
        }
    }
}

/// Direct access to the bucket.
pub struct Raw {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    root: String,
}

impl Raw {
    /// The key of a storage path (or of a `/`-separated path in the driver's private tree).
    pub fn key(&self, path: &str) -> String {
        format!("{}{}", self.root, path.trim_start_matches('/'))
    }

    /// Every key below `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .expect("ListObjectsV2");
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return keys,
            }
        }
    }

    /// The ETag of the object at `key`; multipart objects have `-<parts>` at the end.
    pub async fn etag(&self, key: &str) -> String {
        self.client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("HeadObject")
            .e_tag()
            .expect("ETag")
            .trim_matches('"')
            .to_owned()
    }

    /// The closed-writer record stored for `path`, as JSON.
    pub async fn record(&self, path: &str) -> Option<Value> {
        let key = self.key(&format!("~writers{path}/~progress"));
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .ok()?;
        let bytes = output
            .body
            .collect()
            .await
            .expect("record body")
            .into_bytes();
        Some(serde_json::from_slice(&bytes).expect("record JSON"))
    }

    /// True when the server still accepts parts for `upload_id` (it was neither aborted nor
    /// completed).
    pub async fn upload_alive(&self, key: &str, upload_id: &str) -> bool {
        self.client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(9999)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"probe"))
            .send()
            .await
            .is_ok()
    }
}

/// A random prefix for one test, so that tests share the bucket without seeing each other.
pub fn unique_prefix(name: &str) -> String {
    format!("/{name}-{}", uuid::Uuid::new_v4().simple())
}

/// `len` pseudo-random bytes (SplitMix64); incompressible enough for storage tests, and no
/// dependency on a random-number crate.
pub fn random_bytes(len: usize) -> Vec<u8> {
    static SEED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0x5eed);
    let mut state = SEED.fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed)
        ^ u64::from(std::process::id());
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Everything a reader at `offset` yields.
pub async fn read_all(
    storage: &Storage,
    path: &str,
    offset: i64,
) -> Result<Vec<u8>, registry_core::storage::StorageError> {
    use futures::TryStreamExt;
    let stream = storage.reader(path, offset).await?;
    stream
        .try_fold(Vec::new(), |mut out, chunk| async move {
            out.extend_from_slice(&chunk);
            Ok(out)
        })
        .await
}
