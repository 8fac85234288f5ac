//! The storage-driver contract, run against the in-memory driver.

use std::sync::Arc;

use driver_inmemory::InMemoryDriver;
use registry_core::storage::Storage;
use registry_core::storage::contract::Harness;

async fn open() -> Option<Harness> {
    let driver = InMemoryDriver::new();
    Some(Harness::new(move || Storage::new(Arc::new(driver.reopen()))).holding_data_in_memory())
}

registry_core::storage_contract_tests!(open);
registry_core::upload_purge_tests!(open);

mod gc {
    use super::open;
    registry_core::gc_contract_tests!(open);
}
