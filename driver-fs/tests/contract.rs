//! The storage-driver contract, run against the filesystem driver in a temporary directory.

use std::sync::{Arc, OnceLock};

use driver_fs::{FsConfig, FsDriver};
use registry_core::storage::Storage;
use registry_core::storage::contract::Harness;

/// One root for the whole test binary: the suite's cases use their own prefixes, and
/// `list_root` checks them side by side as a real bucket would hold them.
fn root() -> &'static tempfile::TempDir {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOT.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
}

async fn open() -> Option<Harness> {
    let root = root().path().to_path_buf();
    Some(Harness::new(move || {
        let driver = FsDriver::new(FsConfig::new(&root)).expect("filesystem driver");
        Storage::new(Arc::new(driver))
    }))
}

registry_core::storage_contract_tests!(open);
registry_core::upload_purge_tests!(open);

mod gc {
    use super::open;
    registry_core::gc_contract_tests!(open);
}
