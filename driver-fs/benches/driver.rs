//! Driver micro-benchmarks: `cargo bench -p driver-fs`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use registry_core::storage::{Storage, bench};

fn benches(c: &mut Criterion) {
    let root = tempfile::tempdir().expect("temporary directory");
    let driver = driver_fs::FsDriver::new(driver_fs::FsConfig::new(root.path())).expect("driver");
    let storage = Storage::new(Arc::new(driver));
    bench::driver_benches(c, "filesystem", &storage);
}

criterion_group!(driver, benches);
criterion_main!(driver);
