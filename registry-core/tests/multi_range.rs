//! `Registry::open_blob` with several ranges on the in-memory driver: the parts come in the
//! order planned, each with exactly its bytes, however many there are beyond the read-ahead.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use driver_inmemory::InMemoryDriver;
use futures::TryStreamExt;
use registry_core::domain::{Digest, RepositoryName};
use registry_core::registry::{
    BlobRead, ByteRange, PartChunk, Registry, RegistryError, RegistrySettings,
};
use registry_core::storage::Storage;

async fn registry_with(content: &[u8]) -> (Registry, RepositoryName, Digest) {
    let registry = Registry::new(
        Storage::new(Arc::new(InMemoryDriver::new())),
        RegistrySettings::default(),
    );
    let repo: RepositoryName = "ranges/test".parse().expect("name");
    let digest = Digest::sha256_of(content);
    let body = futures::stream::iter(vec![Ok::<_, Infallible>(Bytes::copy_from_slice(content))]);
    registry
        .upload_monolithic(&repo, &digest, body)
        .await
        .expect("upload");
    (registry, repo, digest)
}

fn r(first: u64, last: u64) -> ByteRange {
    ByteRange::From {
        start: first,
        end: Some(last),
    }
}

/// The parts of a multi-range read, as (index, bytes).
async fn collect(read: BlobRead) -> (Vec<(u64, u64)>, Vec<(usize, Vec<u8>)>) {
    let BlobRead::Multi(parts) = read else {
        panic!("expected a multi-range read");
    };
    let planned = parts.parts.clone();
    let chunks: Vec<PartChunk> = parts.stream.try_collect().await.expect("parts");
    let mut seen: Vec<(usize, Vec<u8>)> = Vec::new();
    for chunk in chunks {
        match chunk {
            PartChunk::Start(index) => seen.push((index, Vec::new())),
            PartChunk::Bytes(bytes) => {
                let (_, part) = seen.last_mut().expect("bytes after a part's start");
                part.extend_from_slice(&bytes);
            }
        }
    }
    (planned, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_come_in_order_with_their_bytes() {
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (registry, repo, digest) = registry_with(&content).await;
    // More parts than are read ahead, large (past the prefetch) and small, out of order.
    let requested = [
        r(100_000, 199_999),
        r(5, 9),
        r(0, 0),
        r(250_000, 250_100),
        r(11, 70_000),
        ByteRange::Suffix(1),
        r(299_000, 400_000),
    ];
    let read = registry
        .open_blob(&repo, &digest, &requested)
        .await
        .unwrap();
    let (planned, seen) = collect(read).await;
    let expected = [
        (100_000, 199_999),
        (5, 9),
        (0, 0),
        (250_000, 250_100),
        (11, 70_000),
        (299_999, 299_999),
        (299_000, 299_999),
    ];
    assert_eq!(planned, expected);
    assert_eq!(seen.len(), expected.len());
    for (i, (index, bytes)) in seen.iter().enumerate() {
        assert_eq!(*index, i);
        let (first, last) = expected[i];
        assert_eq!(bytes, &content[first as usize..=last as usize], "part {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_whole_and_unsatisfiable() {
    let content = b"0123456789".to_vec();
    let (registry, repo, digest) = registry_with(&content).await;
    let single = registry
        .open_blob(&repo, &digest, &[r(2, 4), r(50, 60)])
        .await
        .unwrap();
    let BlobRead::Single(single) = single else {
        panic!("one satisfiable range is a single-range read");
    };
    assert_eq!(single.range, Some((2, 4)));
    let bytes: Vec<Bytes> = single.stream.try_collect().await.unwrap();
    assert_eq!(bytes.concat(), b"234");

    let whole = registry.open_blob(&repo, &digest, &[]).await.unwrap();
    assert!(matches!(whole, BlobRead::Whole(_)));

    let none = registry
        .open_blob(&repo, &digest, &[r(10, 20), ByteRange::Suffix(0)])
        .await;
    assert!(matches!(
        none,
        Err(RegistryError::RangeNotSatisfiable { size: 10 })
    ));
}
