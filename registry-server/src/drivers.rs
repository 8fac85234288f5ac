//! Opening the storage driver the configuration names. Which drivers exist in a build is
//! decided by cargo features; asking for one that is not compiled in says which feature to
//! enable.

use registry_core::storage::{DriverParameters, ParameterError, Storage};

use crate::config::{ConfigError, StorageConfig};

/// Every driver this codebase has, with the cargo feature that compiles it in.
pub const KNOWN: &[(&str, &str)] = &[
    ("filesystem", "fs"),
    ("inmemory", "inmemory"),
    ("s3", "s3"),
    ("azure", "azure"),
];

// Unused only in builds without any configurable driver.
#[allow(dead_code)]
fn parameter_error(e: ParameterError) -> ConfigError {
    match e {
        ParameterError::Missing { driver, key } => {
            ConfigError::new(format!("storage.{driver}.{key}"), "is required")
        }
        ParameterError::Invalid {
            driver,
            key,
            message,
        } => ConfigError::new(format!("storage.{driver}.{key}"), message),
    }
}

// Used only by builds that leave a driver out.
#[allow(dead_code)]
fn not_compiled(driver: &str) -> ConfigError {
    let feature = KNOWN
        .iter()
        .find(|(name, _)| *name == driver)
        .map_or("?", |(_, f)| *f);
    ConfigError::new(
        format!("storage.{driver}"),
        format!("this binary was built without the {driver} driver (cargo feature `{feature}`)"),
    )
}

/// Opens the configured driver.
pub async fn open(config: &StorageConfig) -> Result<Storage, ConfigError> {
    let params = &config.parameters;
    match config.driver.as_str() {
        "filesystem" => open_filesystem(params),
        "inmemory" => open_inmemory(params),
        "s3" => open_s3(params).await,
        "azure" => open_azure(params).await,
        other => {
            let known: Vec<&str> = KNOWN.iter().map(|(name, _)| *name).collect();
            Err(ConfigError::new(
                format!("storage.{other}"),
                format!("unknown storage driver; known: {}", known.join(", ")),
            ))
        }
    }
}

#[cfg(feature = "fs")]
fn open_filesystem(params: &DriverParameters) -> Result<Storage, ConfigError> {
    let config = driver_fs::FsConfig::from_parameters(params).map_err(parameter_error)?;
    let root = config.root_directory.display().to_string();
    let driver = driver_fs::FsDriver::new(config).map_err(|e| {
        ConfigError::new("storage.filesystem.rootdirectory", format!("{root}: {e}"))
    })?;
    Ok(Storage::new(std::sync::Arc::new(driver)))
}

#[cfg(not(feature = "fs"))]
fn open_filesystem(_: &DriverParameters) -> Result<Storage, ConfigError> {
    Err(not_compiled("filesystem"))
}

#[cfg(feature = "inmemory")]
fn open_inmemory(_: &DriverParameters) -> Result<Storage, ConfigError> {
    Ok(Storage::new(std::sync::Arc::new(
        driver_inmemory::InMemoryDriver::new(),
    )))
}

#[cfg(not(feature = "inmemory"))]
fn open_inmemory(_: &DriverParameters) -> Result<Storage, ConfigError> {
    Err(not_compiled("inmemory"))
}

#[cfg(feature = "s3")]
async fn open_s3(params: &DriverParameters) -> Result<Storage, ConfigError> {
    let config = driver_s3::S3Config::from_parameters(params).map_err(parameter_error)?;
    let driver = driver_s3::S3Driver::new(config).await;
    Ok(Storage::new(std::sync::Arc::new(driver)))
}

#[cfg(not(feature = "s3"))]
async fn open_s3(_: &DriverParameters) -> Result<Storage, ConfigError> {
    Err(not_compiled("s3"))
}

#[cfg(feature = "azure")]
async fn open_azure(params: &DriverParameters) -> Result<Storage, ConfigError> {
    let config = driver_azure::AzureConfig::from_parameters(params).map_err(parameter_error)?;
    let driver = driver_azure::AzureDriver::new(config)
        .await
        .map_err(|e| ConfigError::new("storage.azure", e.to_string()))?;
    Ok(Storage::new(std::sync::Arc::new(driver)))
}

#[cfg(not(feature = "azure"))]
async fn open_azure(_: &DriverParameters) -> Result<Storage, ConfigError> {
    Err(not_compiled("azure"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[tokio::test]
    async fn an_unknown_driver_names_the_known_ones() {
        let config = Config::from_yaml("storage: {nosuch: {}}", Vec::new()).unwrap();
        let error = open(&config.storage).await.err().unwrap();
        assert_eq!(error.key, "storage.nosuch");
        assert!(
            error.message.contains("filesystem, inmemory, s3, azure"),
            "{error}"
        );
    }
}
