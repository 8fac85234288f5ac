//! Driver micro-benchmarks, written once and run by each driver crate's `benches/driver.rs`:
//! put/get of 1 KiB and 1 MiB, a 1 GiB stream written and read back, list and delete.

use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use tokio::runtime::Runtime;

use super::Storage;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const STREAM_BYTES: usize = 1024 * MIB;

/// Registers the driver benchmarks for `storage` under `driver` in `c`.
pub fn driver_benches(c: &mut Criterion, driver: &str, storage: &Storage) {
    let rt = Runtime::new().expect("tokio runtime");
    let prefix = format!("/bench-{}", std::process::id());

    let mut small = c.benchmark_group(format!("{driver}/content"));
    for size in [KIB, MIB] {
        let data = Bytes::from(vec![0x5au8; size]);
        let path = format!("{prefix}/content-{size}");
        small.throughput(Throughput::Bytes(size as u64));
        small.bench_with_input(BenchmarkId::new("put", size), &data, |b, data| {
            b.to_async(&rt)
                .iter(|| async { storage.put_content(&path, data.clone()).await.expect("put") });
        });
        small.bench_with_input(BenchmarkId::new("get", size), &data, |b, _| {
            b.to_async(&rt)
                .iter(|| async { storage.get_content(&path).await.expect("get") });
        });
    }
    small.finish();

    let mut stream = c.benchmark_group(format!("{driver}/stream"));
    stream
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(STREAM_BYTES as u64));
    let path = format!("{prefix}/stream");
    let chunk = Bytes::from(vec![0xa5u8; 4 * MIB]);
    stream.bench_function("write-1GiB", |b| {
        b.to_async(&rt).iter(|| async {
            let mut writer = storage.writer(&path, false).await.expect("writer");
            for _ in 0..STREAM_BYTES / chunk.len() {
                writer.write(chunk.clone()).await.expect("write");
            }
            writer.commit().await.expect("commit");
        });
    });
    stream.bench_function("read-1GiB", |b| {
        b.to_async(&rt).iter(|| async {
            let mut reader = storage.reader(&path, 0).await.expect("reader");
            let mut total = 0;
            while let Some(piece) = reader.next().await {
                total += piece.expect("read").len();
            }
            assert_eq!(total, STREAM_BYTES);
        });
    });
    stream.finish();

    let mut listing = c.benchmark_group(format!("{driver}/tree"));
    let dir = format!("{prefix}/listed");
    rt.block_on(async {
        for i in 0..100 {
            storage
                .put_content(&format!("{dir}/entry-{i:03}"), Bytes::from_static(b"x"))
                .await
                .expect("put");
        }
    });
    listing.bench_function("list-100", |b| {
        b.to_async(&rt)
            .iter(|| async { storage.list(&dir).await.expect("list") });
    });
    listing.bench_function("put-then-delete", |b| {
        let path = format!("{prefix}/deleted/file");
        b.to_async(&rt).iter(|| async {
            storage
                .put_content(&path, Bytes::from_static(b"x"))
                .await
                .expect("put");
            storage.delete(&path).await.expect("delete");
        });
    });
    listing.finish();

    rt.block_on(async {
        let _ = storage.delete(&prefix).await;
    });
}
