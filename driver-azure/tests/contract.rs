//! The storage-driver contract, run against Azurite (started by `cargo xtask test` or
//! `cargo xtask emulators`, which export the `REGISTRY_TEST_AZURE_*` variables).

mod common;

use std::sync::Arc;

use driver_azure::{AzureConfig, AzureDriver};
use registry_core::storage::contract::Harness;
use registry_core::storage::{DriverParameters, Storage};
use serde_json::json;

use common::Azurite;

async fn open() -> Option<Harness> {
    let Azurite {
        service_url,
        account,
        key,
        container,
    } = Azurite::from_env()?;
    // Through the same parameters an operator writes, with a root directory, so the suite also
    // covers the mapping below it.
    let params = json!({
        "accountname": account,
        "accountkey": key,
        "container": container,
        "serviceurl": service_url,
        "rootdirectory": "/contract-suite/",
    });
    let serde_json::Value::Object(params) = params else {
        unreachable!("an object literal")
    };
    let config = AzureConfig::from_parameters(&DriverParameters::new("azure", params))
        .expect("the test configuration is valid");
    // The first instance creates the container in a fresh Azurite.
    AzureDriver::new(config.clone())
        .await
        .expect("connecting to Azurite");
    Some(
        Harness::new(move || {
            // A new instance (own clients and connection pool) per call: another process.
            let driver = AzureDriver::connect(&config).expect("azure driver");
            Storage::new(Arc::new(driver))
        })
        .presigning()
        .reporting_pending_writes(),
    )
}

registry_core::storage_contract_tests!(open);
registry_core::upload_purge_tests!(open);

mod gc {
    use super::open;
    registry_core::gc_contract_tests!(open);
}
