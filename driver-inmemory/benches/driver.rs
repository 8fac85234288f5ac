//! Driver micro-benchmarks: `cargo bench -p driver-inmemory`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use registry_core::storage::{Storage, bench};

fn benches(c: &mut Criterion) {
    let storage = Storage::new(Arc::new(driver_inmemory::InMemoryDriver::new()));
    bench::driver_benches(c, "inmemory", &storage);
}

criterion_group!(driver, benches);
criterion_main!(driver);
