//! The storage-driver contract, run against the S3 driver on an S3-compatible emulator.

mod common;

use std::sync::Arc;

use registry_core::storage::contract::Harness;
use serde_json::json;

async fn open() -> Option<Harness> {
    let opener = Arc::new(common::Opener::new(json!({})).await?);
    Some(Harness::new(move || opener.storage()).presigning())
}

registry_core::storage_contract_tests!(open);
registry_core::upload_purge_tests!(open);

mod gc {
    use super::open;
    registry_core::gc_contract_tests!(open);
}
