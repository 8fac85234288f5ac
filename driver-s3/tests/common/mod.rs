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
}

/// A random prefix for one test, so that tests share the bucket without seeing each other.
pub fn unique_prefix(name: &str) -> String {
    format!("/{name}-{}", uuid::Uuid::new_v4().simple())
}
