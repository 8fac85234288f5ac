//! The contract cases. Each takes a [`Ctx`] and panics on the first broken promise.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::support::{
    ChunkSource, Ctx, memory_report, random_bytes, random_index, read_all, resident_bytes,
};
use crate::storage::{RedirectMethod, StorageError, WalkControl};

const MIB: usize = 1024 * 1024;
const UTF8_TEXT: &str = "Ѕiмρlе ѕтяιηg wιтн ünïcödé ✓ 日本語";
const NON_UTF8: &[u8] = &[0xff, 0xfe, 0xfd, 0x80, 0x00, 0xc3, 0x28, 0xa0, 0xa1];

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    match result {
        Err(StorageError::PathNotFound { .. }) => {}
        other => panic!("{what}: expected PathNotFound, got {other:?}"),
    }
}

fn assert_invalid_offset<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    match result {
        Err(StorageError::InvalidOffset { .. }) => {}
        other => panic!("{what}: expected InvalidOffset, got {other:?}"),
    }
}

// ---- paths ---------------------------------------------------------------------------------

pub async fn valid_paths(ctx: Ctx) {
    let names = [
        "a",
        "ab",
        "a.b",
        "a-b",
        "a_b",
        "ABC",
        "123.abc",
        "abc/def/ghi",
        ".hidden",
        "deep/b/c/d/e/f/g/h/i/j/k",
        "sha256/ab/abcdef0123456789/data",
    ];
    for name in names {
        let content = random_bytes(37);
        ctx.put(name, &content).await;
        assert_eq!(ctx.get(name).await.as_ref(), &content[..], "{name}");
    }
}

pub async fn invalid_paths_name_the_driver(ctx: Ctx) {
    let driver = ctx.storage.driver_name();
    let invalid = [
        "",
        "abc",
        "123.abc",
        "//bcd",
        "/abc_123/",
        "/a//b",
        "/a b",
        "/a/../b",
        "/a/./b",
        "/ümlaut",
        "/a~b",
    ];
    for path in invalid {
        let put = ctx
            .storage
            .put_content(path, Bytes::from_static(b"x"))
            .await;
        let get = ctx.storage.get_content(path).await;
        let stat = ctx.storage.stat(path).await;
        let writer = ctx.storage.writer(path, false).await.map(|_| ());
        let reader = ctx.storage.reader(path, 0).await.map(|_| ());
        for (op, result) in [
            ("put_content", put),
            ("get_content", get.map(|_| ())),
            ("stat", stat.map(|_| ())),
            ("writer", writer),
            ("reader", reader),
        ] {
            match result {
                Err(StorageError::InvalidPath { driver: d, .. }) => {
                    assert_eq!(d, driver, "{op}({path:?}) must name the driver")
                }
                other => panic!("{op}({path:?}): expected InvalidPath, got {other:?}"),
            }
        }
    }
}

pub async fn root_is_only_for_listing(ctx: Ctx) {
    ctx.put("x", b"x").await;
    let root_stat = ctx.storage.stat("/").await.expect("stat of the root");
    assert!(root_stat.is_dir);
    ctx.storage.list("/").await.expect("list of the root");
    for result in [
        ctx.storage.put_content("/", Bytes::new()).await,
        ctx.storage.get_content("/").await.map(|_| ()),
        ctx.storage.delete("/").await,
        ctx.storage.writer("/", false).await.map(|_| ()),
        ctx.storage.move_to("/", &ctx.path("y")).await,
    ] {
        assert!(
            matches!(result, Err(StorageError::InvalidPath { .. })),
            "{result:?}"
        );
    }
    assert!(
        ctx.exists("x").await,
        "a refused root operation touched data"
    );
}

// ---- put / get -----------------------------------------------------------------------------

async fn put_get_round_trip(ctx: &Ctx, content: &[u8]) {
    ctx.put("dir/file", content).await;
    assert_eq!(ctx.get("dir/file").await.as_ref(), content);
}

pub async fn put_get_single_char(ctx: Ctx) {
    put_get_round_trip(&ctx, b"a").await;
}

pub async fn put_get_utf8(ctx: Ctx) {
    put_get_round_trip(&ctx, UTF8_TEXT.as_bytes()).await;
}

pub async fn put_get_random_32_bytes(ctx: Ctx) {
    put_get_round_trip(&ctx, &random_bytes(32)).await;
}

pub async fn put_get_1_mib(ctx: Ctx) {
    put_get_round_trip(&ctx, &random_bytes(MIB)).await;
}

pub async fn put_get_non_utf8(ctx: Ctx) {
    put_get_round_trip(&ctx, NON_UTF8).await;
}

pub async fn put_truncates_previous_content(ctx: Ctx) {
    ctx.put("f", &random_bytes(1000)).await;
    let short = random_bytes(10);
    ctx.put("f", &short).await;
    assert_eq!(ctx.get("f").await.as_ref(), &short[..]);
    assert_eq!(
        ctx.storage.stat(&ctx.path("f")).await.expect("stat").size,
        10
    );
}

pub async fn put_4096_then_2048(ctx: Ctx) {
    ctx.put("f", &random_bytes(4096)).await;
    let second = random_bytes(2048);
    ctx.put("f", &second).await;
    let read = ctx.stream_read("f", 0).await;
    assert_eq!(read.len(), 2048);
    assert_eq!(read, second);
}

pub async fn get_missing(ctx: Ctx) {
    assert_not_found(ctx.storage.get_content(&ctx.path("missing")).await, "get");
    assert_not_found(
        ctx.storage.get_content(&ctx.path("no/such/file")).await,
        "get",
    );
}

// ---- streams -------------------------------------------------------------------------------

async fn stream_round_trip(ctx: &Ctx, content: &[u8]) {
    ctx.stream_write("dir/stream", content, 7).await;
    assert_eq!(ctx.stream_read("dir/stream", 0).await, content);
    assert_eq!(ctx.get("dir/stream").await.as_ref(), content);
}

pub async fn stream_single_char(ctx: Ctx) {
    stream_round_trip(&ctx, b"a").await;
}

pub async fn stream_utf8(ctx: Ctx) {
    stream_round_trip(&ctx, UTF8_TEXT.as_bytes()).await;
}

pub async fn stream_random_32_bytes(ctx: Ctx) {
    stream_round_trip(&ctx, &random_bytes(32)).await;
}

pub async fn stream_1_mib(ctx: Ctx) {
    let content = random_bytes(MIB);
    ctx.stream_write("dir/stream", &content, 64 * 1024 + 3)
        .await;
    assert_eq!(ctx.stream_read("dir/stream", 0).await, content);
}

pub async fn stream_non_utf8(ctx: Ctx) {
    stream_round_trip(&ctx, NON_UTF8).await;
}

/// 256 MiB (or `REGISTRY_CONTRACT_LARGE_GIB` GiB) through a writer and back, compared by
/// sha256, with the growth of resident memory measured while it runs.
pub async fn large_stream_hash_and_flat_memory(ctx: Ctx) {
    let total: u64 = match std::env::var("REGISTRY_CONTRACT_LARGE_GIB") {
        Ok(gib) => gib.parse::<u64>().expect("REGISTRY_CONTRACT_LARGE_GIB") << 30,
        Err(_) => 256 << 20,
    };
    let chunk = 4 * MIB;
    // Resident memory is the whole process's: only meaningful when no other case runs in it.
    // cargo-nextest (what `cargo xtask test` uses) runs each test in its own process; plain
    // `cargo test` runs cases in threads of one process, where the figure is not checked.
    let isolated = std::env::var_os("NEXTEST_RUN_ID").is_some();
    let full_run = std::env::var_os("REGISTRY_FULL_TEST_RUN").is_some();
    let measure = || match resident_bytes() {
        Some(bytes) => bytes,
        None if full_run => panic!("resident memory unavailable (/proc/self/status)"),
        None => 0,
    };
    assert!(
        isolated || !full_run,
        "the flat-memory check needs a process of its own (run under cargo-nextest)"
    );
    let baseline = measure();
    let mut peak = baseline;
    let path = ctx.path("large");

    let mut source = ChunkSource::new(0x5eed);
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    let mut written_hash = Sha256::new();
    let mut written = 0u64;
    while written < total {
        let len = chunk.min((total - written) as usize);
        let data = source.next_chunk(len);
        written_hash.update(&data);
        writer.write(data).await.expect("write");
        written += len as u64;
        peak = peak.max(measure());
    }
    assert_eq!(writer.size(), total);
    writer.commit().await.expect("commit");
    assert_eq!(ctx.storage.stat(&path).await.expect("stat").size, total);

    let mut stream = ctx.storage.reader(&path, 0).await.expect("reader");
    let mut read_hash = Sha256::new();
    let mut read = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.expect("read");
        read += piece.len() as u64;
        read_hash.update(&piece);
        peak = peak.max(measure());
    }
    assert_eq!(read, total);
    assert_eq!(
        read_hash.finalize(),
        written_hash.finalize(),
        "sha256 differs"
    );

    let growth_mib = peak.saturating_sub(baseline) / MIB as u64;
    memory_report(&format!(
        "contract[{}] large stream of {} MiB: resident memory grew by {growth_mib} MiB",
        ctx.storage.driver_name(),
        total >> 20
    ));
    if !isolated {
        println!("memory growth not checked: other cases share this process (use cargo-nextest)");
    } else if !ctx.holds_data_in_memory() {
        assert!(
            growth_mib < 128,
            "memory grew by {growth_mib} MiB streaming {} MiB: not streaming",
            total >> 20
        );
    }
}

// ---- readers -------------------------------------------------------------------------------

async fn three_chunk_file(ctx: &Ctx) -> Vec<u8> {
    let content = random_bytes(96);
    ctx.stream_write("offsets", &content, 32).await;
    content
}

pub async fn reader_offsets(ctx: Ctx) {
    let content = three_chunk_file(&ctx).await;
    for offset in [0usize, 32, 64] {
        assert_eq!(
            ctx.stream_read("offsets", offset as i64).await,
            &content[offset..]
        );
    }
}

pub async fn reader_negative_offset(ctx: Ctx) {
    three_chunk_file(&ctx).await;
    let result = ctx.storage.reader(&ctx.path("offsets"), -1).await;
    assert_invalid_offset(result.map(|_| ()), "reader at -1");
}

pub async fn reader_at_size_is_empty(ctx: Ctx) {
    three_chunk_file(&ctx).await;
    assert!(ctx.stream_read("offsets", 96).await.is_empty());
}

pub async fn reader_at_size_minus_one(ctx: Ctx) {
    let content = three_chunk_file(&ctx).await;
    assert_eq!(ctx.stream_read("offsets", 95).await, &content[95..]);
}

pub async fn reader_beyond_size(ctx: Ctx) {
    three_chunk_file(&ctx).await;
    let result = read_all(&ctx.storage, &ctx.path("offsets"), 97).await;
    assert_invalid_offset(result, "reader at size + 1");
}

pub async fn reader_missing_at_0(ctx: Ctx) {
    assert_not_found(
        read_all(&ctx.storage, &ctx.path("missing"), 0).await,
        "reader",
    );
}

pub async fn reader_missing_at_64(ctx: Ctx) {
    assert_not_found(
        read_all(&ctx.storage, &ctx.path("missing"), 64).await,
        "reader",
    );
}

// ---- ranged readers ------------------------------------------------------------------------

async fn range_read(
    ctx: &Ctx,
    relative: &str,
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, StorageError> {
    let mut stream = ctx
        .storage
        .range_reader(&ctx.path(relative), offset, length)
        .await?;
    let mut read = Vec::new();
    while let Some(chunk) = stream.next().await {
        read.extend_from_slice(&chunk?);
    }
    Ok(read)
}

pub async fn range_reader_reads_exactly_the_range(ctx: Ctx) {
    let content = three_chunk_file(&ctx).await;
    for (offset, length) in [
        (0, 96),
        (0, 1),
        (10, 20),
        (31, 2),
        (30, 40),
        (95, 1),
        (64, 32),
    ] {
        let read = range_read(&ctx, "offsets", offset, length)
            .await
            .unwrap_or_else(|e| panic!("range {offset}+{length}: {e}"));
        let (from, to) = (offset as usize, (offset + length) as usize);
        assert_eq!(read, &content[from..to], "range {offset}+{length}");
    }
    // Ranged reads of a multi-MiB object stop at the range.
    let large = random_bytes(3 * MIB + 17);
    ctx.stream_write("large", &large, MIB).await;
    let read = range_read(&ctx, "large", (MIB + 5) as u64, 100_000)
        .await
        .expect("range of a large object");
    assert_eq!(read, &large[MIB + 5..MIB + 5 + 100_000]);
    let read = range_read(&ctx, "large", (3 * MIB) as u64, 17)
        .await
        .expect("last bytes of a large object");
    assert_eq!(read, &large[3 * MIB..]);
}

pub async fn range_reader_of_nothing_is_empty(ctx: Ctx) {
    three_chunk_file(&ctx).await;
    for offset in [0, 50, 96] {
        let read = range_read(&ctx, "offsets", offset, 0).await;
        assert_eq!(read.expect("zero-length range").len(), 0, "at {offset}");
    }
}

pub async fn range_reader_past_the_end(ctx: Ctx) {
    three_chunk_file(&ctx).await;
    for (offset, length) in [(90, 7), (96, 1), (97, 0), (200, 10), (0, u64::MAX)] {
        let result = ctx
            .storage
            .range_reader(&ctx.path("offsets"), offset, length)
            .await;
        assert_invalid_offset(result.map(|_| ()), &format!("range {offset}+{length}"));
    }
}

pub async fn range_reader_missing(ctx: Ctx) {
    assert_not_found(range_read(&ctx, "missing", 0, 10).await, "range reader");
    assert_not_found(
        range_read(&ctx, "missing", 64, 10).await,
        "range reader at 64",
    );
}

// ---- appending writers ---------------------------------------------------------------------

/// Three rounds of write / close / reopen with append, checking `size` each time.
async fn append_in_three_rounds(ctx: &Ctx, chunk: usize) {
    let path = ctx.path("appended");
    let chunks: Vec<Vec<u8>> = (0..3).map(|_| random_bytes(chunk)).collect();
    let mut expected = 0u64;
    for (round, data) in chunks.iter().enumerate() {
        let mut writer = ctx
            .storage
            .writer(&path, round > 0)
            .await
            .unwrap_or_else(|e| panic!("writer round {round}: {e}"));
        assert_eq!(writer.size(), expected, "size on reopen in round {round}");
        writer
            .write(Bytes::copy_from_slice(data))
            .await
            .expect("write");
        expected += data.len() as u64;
        assert_eq!(writer.size(), expected);
        if round < 2 {
            writer.close().await.expect("close");
            assert_not_found(ctx.storage.stat(&path).await, "closed writer's path");
        } else {
            writer.commit().await.expect("commit");
        }
    }
    assert_eq!(ctx.stream_read("appended", 0).await, chunks.concat());
    assert_eq!(ctx.storage.stat(&path).await.expect("stat").size, expected);
}

pub async fn append_large_chunks(ctx: Ctx) {
    append_in_three_rounds(&ctx, 10 * MIB).await;
}

pub async fn append_small_chunks(ctx: Ctx) {
    append_in_three_rounds(&ctx, 32).await;
}

pub async fn zero_byte_stream_then_append(ctx: Ctx) {
    let path = ctx.path("zero");
    let writer = ctx.storage.writer(&path, false).await.expect("writer");
    assert_eq!(writer.size(), 0);
    writer.commit().await.expect("commit of nothing");
    assert_eq!(ctx.storage.stat(&path).await.expect("stat").size, 0);
    assert!(ctx.stream_read("zero", 0).await.is_empty());

    let content = random_bytes(4096);
    let mut writer = ctx
        .storage
        .writer(&path, true)
        .await
        .expect("append writer");
    assert_eq!(writer.size(), 0);
    writer
        .write(Bytes::copy_from_slice(&content))
        .await
        .expect("write");
    writer.commit().await.expect("commit");
    assert_eq!(ctx.stream_read("zero", 0).await, content);
}

pub async fn zero_byte_content_then_append(ctx: Ctx) {
    ctx.put("zero", b"").await;
    assert!(ctx.get("zero").await.is_empty());
    let content = random_bytes(4096);
    let mut writer = ctx
        .storage
        .writer(&ctx.path("zero"), true)
        .await
        .expect("append writer");
    assert_eq!(writer.size(), 0);
    writer
        .write(Bytes::copy_from_slice(&content))
        .await
        .expect("write");
    writer.commit().await.expect("commit");
    assert_eq!(ctx.stream_read("zero", 0).await, content);
}

pub async fn append_to_missing_path(ctx: Ctx) {
    let result = ctx.storage.writer(&ctx.path("nothing-here"), true).await;
    assert_not_found(result.map(|_| ()), "append writer on a missing path");
}

pub async fn writer_invisible_before_commit(ctx: Ctx) {
    let path = ctx.path("pending");
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from_static(b"not yet"))
        .await
        .expect("write");
    assert_not_found(ctx.storage.stat(&path).await, "stat before commit");
    assert_not_found(ctx.storage.get_content(&path).await, "get before commit");
    writer.close().await.expect("close");
    assert_not_found(ctx.storage.stat(&path).await, "stat after close");
    assert_not_found(read_all(&ctx.storage, &path, 0).await, "read after close");

    // Committed content stays as it was while a new writer is in progress.
    ctx.put("pending", b"old").await;
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from_static(b"new content"))
        .await
        .expect("write");
    assert_eq!(ctx.get("pending").await.as_ref(), b"old");
    writer.commit().await.expect("commit");
    assert_eq!(ctx.get("pending").await.as_ref(), b"new content");
}

pub async fn closed_writer_not_listed(ctx: Ctx) {
    ctx.put("dir/committed", b"x").await;
    let mut writer = ctx
        .storage
        .writer(&ctx.path("dir/pending"), false)
        .await
        .expect("writer");
    writer
        .write(Bytes::from_static(b"not yet"))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let listed: Vec<String> = ctx
        .storage
        .list(&ctx.path("dir"))
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        listed,
        vec![ctx.path("dir/committed")],
        "uncommitted data listed"
    );
    let mut walked = Vec::new();
    ctx.storage
        .walk(&ctx.path("dir"), None, &mut |info| {
            walked.push(info.path.to_string());
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk");
    assert_eq!(
        walked,
        vec![ctx.path("dir/committed")],
        "uncommitted data walked"
    );
}

pub async fn commit_isolates_concurrent_writers(ctx: Ctx) {
    let path = ctx.path("contended");
    let a = random_bytes(100_000);
    let b = random_bytes(50_000);
    let mut writer_a = ctx.storage.writer(&path, false).await.expect("writer a");
    let mut writer_b = ctx.storage.writer(&path, false).await.expect("writer b");
    for (ca, cb) in a.chunks(10_000).zip(b.chunks(5_000)) {
        writer_a
            .write(Bytes::copy_from_slice(ca))
            .await
            .expect("write a");
        writer_b
            .write(Bytes::copy_from_slice(cb))
            .await
            .expect("write b");
    }
    writer_a.commit().await.expect("commit a");
    assert_eq!(
        ctx.stream_read("contended", 0).await,
        a,
        "a's commit shows b's data"
    );
    writer_b.commit().await.expect("commit b");
    assert_eq!(ctx.stream_read("contended", 0).await, b);
}

pub async fn resume_from_fresh_instance(ctx: Ctx) {
    let path = ctx.path("upload/data");
    let first = random_bytes(3 * MIB + 17);
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    for piece in first.chunks(MIB) {
        writer
            .write(Bytes::copy_from_slice(piece))
            .await
            .expect("write");
    }
    writer.close().await.expect("close");

    let other_process = ctx.fresh_instance();
    let second = random_bytes(2 * MIB + 5);
    let mut writer = other_process.writer(&path, true).await.expect("resume");
    assert_eq!(writer.size(), first.len() as u64, "resumed size");
    writer
        .write(Bytes::copy_from_slice(&second))
        .await
        .expect("write");
    writer.close().await.expect("close");

    let third_process = ctx.fresh_instance();
    let writer = third_process
        .writer(&path, true)
        .await
        .expect("resume again");
    assert_eq!(writer.size(), (first.len() + second.len()) as u64);
    writer.commit().await.expect("commit");

    let read = read_all(&ctx.fresh_instance(), &path, 0)
        .await
        .expect("read");
    assert_eq!(read, [first, second].concat());
}

pub async fn cancel_leaves_nothing(ctx: Ctx) {
    let path = ctx.path("dir/cancelled");
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(random_bytes(MIB)))
        .await
        .expect("write");
    writer.cancel().await.expect("cancel");
    assert_not_found(ctx.storage.stat(&path).await, "stat after cancel");
    assert_not_found(
        ctx.storage.writer(&path, true).await.map(|_| ()),
        "resume after cancel",
    );
    assert_not_found(
        ctx.storage.stat(&ctx.path("dir")).await,
        "directory after cancel",
    );
}

/// `flush` between writes (what a writer does while its caller waits for a stalled client)
/// changes nothing about the content, whatever the sizes; nothing is visible before commit.
pub async fn flush_between_writes(ctx: Ctx) {
    let path = ctx.path("dir/flushed");
    let pieces = [
        random_bytes(10),
        random_bytes(300 * 1024),
        random_bytes(6 * MIB),
        random_bytes(1),
    ];
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    writer.flush().await.expect("flush of an empty writer");
    for piece in &pieces {
        writer
            .write(Bytes::from(piece.clone()))
            .await
            .expect("write");
        writer.flush().await.expect("flush");
        writer.flush().await.expect("flush twice");
    }
    assert_not_found(ctx.storage.stat(&path).await, "stat before commit");
    let expected: Vec<u8> = pieces.concat();
    assert_eq!(writer.size(), expected.len() as u64);
    writer.commit().await.expect("commit");
    assert!(
        ctx.get("dir/flushed").await == expected,
        "content after flushes"
    );
    // Nothing but the content is left beside it.
    let children = ctx.storage.list(&ctx.path("dir")).await.expect("list");
    assert_eq!(children.len(), 1, "{children:?}");
}

/// A flushed writer that is cancelled, or closed and resumed, behaves as if never flushed.
pub async fn flush_then_cancel_or_resume(ctx: Ctx) {
    let cancelled = ctx.path("dir/cancelled");
    let mut writer = ctx.storage.writer(&cancelled, false).await.expect("writer");
    writer
        .write(Bytes::from(random_bytes(1000)))
        .await
        .expect("write");
    writer.flush().await.expect("flush");
    writer.cancel().await.expect("cancel");
    assert_not_found(ctx.storage.stat(&cancelled).await, "stat after cancel");

    let resumed = ctx.path("dir/resumed");
    let (first, second) = (random_bytes(2000), random_bytes(3000));
    let mut writer = ctx.storage.writer(&resumed, false).await.expect("writer");
    writer
        .write(Bytes::from(first.clone()))
        .await
        .expect("write");
    writer.flush().await.expect("flush");
    writer.close().await.expect("close");
    let mut writer = ctx
        .fresh_instance()
        .writer(&resumed, true)
        .await
        .expect("resume");
    assert_eq!(writer.size(), 2000);
    writer
        .write(Bytes::from(second.clone()))
        .await
        .expect("write");
    writer.flush().await.expect("flush");
    writer.commit().await.expect("commit");
    assert!(ctx.get("dir/resumed").await == [first, second].concat());
    let children = ctx.storage.list(&ctx.path("dir")).await.expect("list");
    assert_eq!(
        children.len(),
        1,
        "only the committed file is left: {children:?}"
    );
}

pub async fn cancel_of_resumed_writer(ctx: Ctx) {
    let path = ctx.path("dir/cancelled");
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(random_bytes(1000)))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let mut writer = ctx
        .fresh_instance()
        .writer(&path, true)
        .await
        .expect("resume");
    writer
        .write(Bytes::from(random_bytes(1000)))
        .await
        .expect("write");
    writer.cancel().await.expect("cancel");
    assert_not_found(ctx.storage.stat(&path).await, "stat after cancel");
    assert_not_found(
        ctx.storage.writer(&path, true).await.map(|_| ()),
        "resume after cancel",
    );
    assert_not_found(
        ctx.storage.stat(&ctx.path("dir")).await,
        "directory after cancel",
    );
}

// ---- list ----------------------------------------------------------------------------------

pub async fn list_missing_directory(ctx: Ctx) {
    assert_not_found(ctx.storage.list(&ctx.path("nothing")).await, "list");
}

pub async fn list_fifty_children(ctx: Ctx) {
    let mut expected = Vec::new();
    for i in 0..50 {
        let name = format!("child-{i:02}");
        ctx.put(&format!("parent/{name}"), name.as_bytes()).await;
        expected.push(ctx.path(&format!("parent/{name}")));
    }
    let mut listed: Vec<String> = ctx
        .storage
        .list(&ctx.path("parent"))
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, expected);
}

pub async fn list_direct_children_only(ctx: Ctx) {
    ctx.put("root/file", b"1").await;
    ctx.put("root/sub/deep/file", b"2").await;
    ctx.put("root/sub2/file", b"3").await;
    ctx.put("rootx/file", b"4").await;
    let listed: HashSet<String> = ctx
        .storage
        .list(&ctx.path("root"))
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    let expected: HashSet<String> = ["root/file", "root/sub", "root/sub2"]
        .into_iter()
        .map(|r| ctx.path(r))
        .collect();
    assert_eq!(listed, expected);
    let sub: Vec<String> = ctx
        .storage
        .list(&ctx.path("root/sub"))
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(sub, vec![ctx.path("root/sub/deep")]);
}

pub async fn list_root(ctx: Ctx) {
    ctx.put("somewhere/file", b"x").await;
    let listed = ctx.storage.list("/").await.expect("list /");
    assert!(
        listed.iter().any(|p| p.as_str() == ctx.prefix()),
        "{} not among the root's children",
        ctx.prefix()
    );
    // Direct children only: one component each, each once, nothing from below the prefix.
    for path in &listed {
        assert_eq!(
            path.as_str().matches('/').count(),
            1,
            "{path} is not a root child"
        );
    }
    let unique: std::collections::BTreeSet<&str> = listed.iter().map(|p| p.as_str()).collect();
    assert_eq!(unique.len(), listed.len(), "duplicates in {listed:?}");
    assert!(!listed.iter().any(|p| p.as_str() == ctx.path("somewhere")));
}

// ---- move ----------------------------------------------------------------------------------

pub async fn move_file(ctx: Ctx) {
    let content = random_bytes(32);
    ctx.put("src/file", &content).await;
    ctx.storage
        .move_to(&ctx.path("src/file"), &ctx.path("dst/sub/file"))
        .await
        .expect("move");
    assert_eq!(ctx.get("dst/sub/file").await.as_ref(), &content[..]);
    assert!(!ctx.exists("src/file").await, "source still there");
}

pub async fn move_overwrites(ctx: Ctx) {
    let content = random_bytes(32);
    ctx.put("src", &content).await;
    ctx.put("dst", &random_bytes(64)).await;
    ctx.storage
        .move_to(&ctx.path("src"), &ctx.path("dst"))
        .await
        .expect("move");
    assert_eq!(ctx.get("dst").await.as_ref(), &content[..]);
    assert!(!ctx.exists("src").await);
}

pub async fn move_onto_itself(ctx: Ctx) {
    let content = random_bytes(32);
    ctx.put("same", &content).await;
    ctx.storage
        .move_to(&ctx.path("same"), &ctx.path("same"))
        .await
        .expect("move onto itself");
    assert_eq!(
        ctx.get("same").await.as_ref(),
        &content[..],
        "the object was lost"
    );
}

pub async fn move_missing_source_keeps_destination(ctx: Ctx) {
    let content = random_bytes(32);
    ctx.put("dst", &content).await;
    let result = ctx
        .storage
        .move_to(&ctx.path("src"), &ctx.path("dst"))
        .await;
    assert_not_found(result, "move of a missing source");
    assert_eq!(ctx.get("dst").await.as_ref(), &content[..]);
}

pub async fn move_under_a_file(ctx: Ctx) {
    ctx.put("notadir", b"file").await;
    let result = ctx
        .storage
        .move_to(&ctx.path("notadir/foo"), &ctx.path("notadir/bar"))
        .await;
    // The source cannot exist below a file, so every driver finds nothing to move.
    assert!(
        matches!(result, Err(StorageError::PathNotFound { .. })),
        "moving from below a file: {result:?}"
    );
    assert_eq!(ctx.get("notadir").await.as_ref(), b"file");
}

// ---- delete --------------------------------------------------------------------------------

pub async fn delete_file(ctx: Ctx) {
    ctx.put("file", b"x").await;
    ctx.storage.delete(&ctx.path("file")).await.expect("delete");
    assert_not_found(ctx.storage.get_content(&ctx.path("file")).await, "get");
}

pub async fn delete_missing(ctx: Ctx) {
    assert_not_found(ctx.storage.delete(&ctx.path("missing")).await, "delete");
}

pub async fn delete_spares_siblings(ctx: Ctx) {
    for name in ["dir/a", "dir/b", "dir/c"] {
        ctx.put(name, name.as_bytes()).await;
    }
    ctx.storage
        .delete(&ctx.path("dir/b"))
        .await
        .expect("delete");
    assert!(!ctx.exists("dir/b").await);
    assert_eq!(ctx.get("dir/a").await.as_ref(), b"dir/a");
    assert_eq!(ctx.get("dir/c").await.as_ref(), b"dir/c");
}

pub async fn delete_folder(ctx: Ctx) {
    for name in ["folder/a", "folder/sub/b", "folder/sub/deeper/c", "other"] {
        ctx.put(name, b"x").await;
    }
    ctx.storage
        .delete(&ctx.path("folder"))
        .await
        .expect("delete");
    for gone in ["folder", "folder/a", "folder/sub/b", "folder/sub/deeper/c"] {
        assert!(!ctx.exists(gone).await, "{gone} survived");
    }
    assert!(ctx.exists("other").await);
}

pub async fn delete_spares_shared_name_prefix(ctx: Ctx) {
    ctx.put("a/file", b"1").await;
    ctx.put("ab", b"2").await;
    ctx.put("ab2/file", b"3").await;
    ctx.storage.delete(&ctx.path("a")).await.expect("delete");
    assert!(!ctx.exists("a").await);
    assert_eq!(ctx.get("ab").await.as_ref(), b"2");
    assert_eq!(ctx.get("ab2/file").await.as_ref(), b"3");
}

// ---- stat ----------------------------------------------------------------------------------

pub async fn stat_missing(ctx: Ctx) {
    assert_not_found(ctx.storage.stat(&ctx.path("missing")).await, "stat");
}

pub async fn stat_file(ctx: Ctx) {
    let before = SystemTime::now() - Duration::from_secs(2);
    ctx.put("dir/file", &random_bytes(1234)).await;
    let info = ctx.storage.stat(&ctx.path("dir/file")).await.expect("stat");
    assert_eq!(info.path.as_str(), ctx.path("dir/file"));
    assert_eq!(info.size, 1234);
    assert!(!info.is_dir);
    let after = SystemTime::now() + Duration::from_secs(2);
    assert!(
        info.mod_time >= before && info.mod_time <= after,
        "mod time {:?} outside the write",
        info.mod_time
    );
}

pub async fn stat_mod_time_advances(ctx: Ctx) {
    ctx.put("file", b"first").await;
    let first = ctx.storage.stat(&ctx.path("file")).await.expect("stat");
    // Object stores keep whole seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ctx.put("file", b"second").await;
    let second = ctx.storage.stat(&ctx.path("file")).await.expect("stat");
    assert!(
        second.mod_time > first.mod_time,
        "{first:?} then {second:?}"
    );
}

pub async fn stat_directory(ctx: Ctx) {
    ctx.put("dir/sub/file", b"x").await;
    for dir in ["dir", "dir/sub"] {
        let info = ctx.storage.stat(&ctx.path(dir)).await.expect("stat");
        assert!(info.is_dir, "{dir} is a directory");
        assert_eq!(info.path.as_str(), ctx.path(dir));
    }
}

/// `get_content_timed` gives what `get_content` and `stat` give: the current content and its
/// modification time; a missing object is `PathNotFound` (as for `get_content`).
pub async fn get_content_timed(ctx: Ctx) {
    let before = SystemTime::now() - Duration::from_secs(2);
    ctx.put("dir/file", b"first").await;
    let path = ctx.path("dir/file");
    let first = ctx.storage.get_content_timed(&path).await.expect("timed");
    assert_eq!(first.content.as_ref(), b"first");
    let stat = ctx.storage.stat(&path).await.expect("stat");
    assert_eq!(first.mod_time, stat.mod_time, "the time `stat` reports");
    let after = SystemTime::now() + Duration::from_secs(2);
    assert!(
        first.mod_time >= before && first.mod_time <= after,
        "mod time {:?} outside the write",
        first.mod_time
    );
    // Object stores keep whole seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ctx.put("dir/file", b"second, longer").await;
    let second = ctx.storage.get_content_timed(&path).await.expect("timed");
    assert_eq!(second.content.as_ref(), b"second, longer");
    assert!(
        second.mod_time > first.mod_time,
        "{:?} then {:?}",
        first.mod_time,
        second.mod_time
    );
    let stat = ctx.storage.stat(&path).await.expect("stat");
    assert_eq!(second.mod_time, stat.mod_time);
    for missing in ["missing", "no/such/file"] {
        assert_not_found(
            ctx.storage.get_content_timed(&ctx.path(missing)).await,
            missing,
        );
    }
}

// ---- concurrency ---------------------------------------------------------------------------

pub async fn concurrent_readers(ctx: Ctx) {
    let content = random_bytes(16 * MIB);
    ctx.stream_write("big", &content, MIB).await;
    let content = Bytes::from(content);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let ctx = ctx.clone();
        let content = content.clone();
        tasks.push(tokio::spawn(async move {
            let offset = random_index(content.len());
            let read = ctx.stream_read("big", offset as i64).await;
            assert!(read == content[offset..], "reader at {offset} differs");
        }));
    }
    for task in tasks {
        task.await.expect("reader task");
    }
}

pub async fn concurrent_writers(ctx: Ctx) {
    let mut tasks = Vec::new();
    for i in 0..32 {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let content = random_bytes(256 * 1024 + i);
            let name = format!("writers/file-{i}");
            ctx.stream_write(&name, &content, 16 * 1024).await;
            assert!(ctx.stream_read(&name, 0).await == content, "{name} differs");
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let listed = ctx.storage.list(&ctx.path("writers")).await.expect("list");
    assert_eq!(listed.len(), 32);
}

// ---- redirect ------------------------------------------------------------------------------

pub async fn redirect_url(ctx: Ctx) {
    let content = random_bytes(1000);
    ctx.put("redirected", &content).await;
    let path = ctx.path("redirected");
    let get = ctx
        .storage
        .redirect_url(&path, RedirectMethod::Get, Duration::from_secs(300))
        .await
        .expect("redirect_url(GET)");
    let head = ctx
        .storage
        .redirect_url(&path, RedirectMethod::Head, Duration::from_secs(300))
        .await
        .expect("redirect_url(HEAD)");
    if !ctx.presigns() {
        assert_eq!(get, None, "a driver that cannot presign gave a GET URL");
        assert_eq!(head, None, "a driver that cannot presign gave a HEAD URL");
        return;
    }
    let get = get.expect("a presigning driver gives a GET URL");
    let head = head.expect("a presigning driver gives a HEAD URL");
    let client = reqwest::Client::new();
    let response = client.get(&get).send().await.expect("GET presigned URL");
    assert!(
        response.status().is_success(),
        "GET {get}: {}",
        response.status()
    );
    let body = response.bytes().await.expect("body");
    assert_eq!(body.as_ref(), &content[..]);
    let response = client.head(&head).send().await.expect("HEAD presigned URL");
    assert!(
        response.status().is_success(),
        "HEAD {head}: {}",
        response.status()
    );
    let length = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    assert_eq!(length, Some(content.len()));
    // A URL of a missing object is still a URL (the registry checks existence first); using
    // it fails at the store.
    let missing = ctx
        .storage
        .redirect_url(
            &ctx.path("missing"),
            RedirectMethod::Get,
            Duration::from_secs(300),
        )
        .await
        .expect("redirect_url(GET) of a missing object")
        .expect("a URL");
    let status = client.get(&missing).send().await.expect("GET").status();
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "GET {missing}");
}

// ---- walk ----------------------------------------------------------------------------------

/// `/p/a/b/c`, `/p/a/d`, `/p/a-c`, `/p/e/f`: `a-c` sorts after the whole of `a`.
async fn walk_tree(ctx: &Ctx) {
    for name in ["p/a/b/c", "p/a/d", "p/a-c", "p/e/f"] {
        ctx.put(name, name.as_bytes()).await;
    }
}

async fn walked(
    ctx: &Ctx,
    start_after: Option<&str>,
    mut control: impl FnMut(&str) -> WalkControl + Send,
) -> Vec<(String, bool)> {
    let prefix = format!("{}/", ctx.prefix());
    let mut seen = Vec::new();
    let start_after = start_after.map(|s| ctx.path(s));
    ctx.storage
        .walk(&ctx.path("p"), start_after.as_deref(), &mut |info| {
            let relative = info.path.as_str().trim_start_matches(&prefix).to_owned();
            let decision = control(&relative);
            if !info.is_dir {
                assert_eq!(info.size, relative.len() as u64, "size of {relative}");
            }
            seen.push((relative, info.is_dir));
            Ok(decision)
        })
        .await
        .expect("walk");
    seen
}

fn entries(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(p, d)| (p.to_string(), *d)).collect()
}

pub async fn walk_order(ctx: Ctx) {
    walk_tree(&ctx).await;
    let seen = walked(&ctx, None, |_| WalkControl::Continue).await;
    assert_eq!(
        seen,
        entries(&[
            ("p/a", true),
            ("p/a/b", true),
            ("p/a/b/c", false),
            ("p/a/d", false),
            ("p/a-c", false),
            ("p/e", true),
            ("p/e/f", false),
        ])
    );
}

pub async fn walk_skip_dir(ctx: Ctx) {
    walk_tree(&ctx).await;
    let seen = walked(&ctx, None, |p| {
        if p == "p/a" {
            WalkControl::SkipDir
        } else {
            WalkControl::Continue
        }
    })
    .await;
    assert_eq!(
        seen,
        entries(&[
            ("p/a", true),
            ("p/a-c", false),
            ("p/e", true),
            ("p/e/f", false)
        ])
    );
}

pub async fn walk_start_after(ctx: Ctx) {
    walk_tree(&ctx).await;
    let seen = walked(&ctx, Some("p/a/b/c"), |_| WalkControl::Continue).await;
    assert_eq!(
        seen,
        entries(&[
            ("p/a/d", false),
            ("p/a-c", false),
            ("p/e", true),
            ("p/e/f", false)
        ])
    );
    let seen = walked(&ctx, Some("p/a"), |_| WalkControl::Continue).await;
    assert_eq!(
        seen,
        entries(&[
            ("p/a/b", true),
            ("p/a/b/c", false),
            ("p/a/d", false),
            ("p/a-c", false),
            ("p/e", true),
            ("p/e/f", false),
        ])
    );
}

pub async fn walk_stop(ctx: Ctx) {
    walk_tree(&ctx).await;
    let seen = walked(&ctx, None, |p| {
        if p == "p/a/b/c" {
            WalkControl::Stop
        } else {
            WalkControl::Continue
        }
    })
    .await;
    assert_eq!(
        seen,
        entries(&[("p/a", true), ("p/a/b", true), ("p/a/b/c", false)])
    );
}

pub async fn walk_missing(ctx: Ctx) {
    let result = ctx
        .storage
        .walk(&ctx.path("missing"), None, &mut |_| {
            Ok(WalkControl::Continue)
        })
        .await;
    assert_not_found(result, "walk of a missing directory");
}

pub async fn walk_callback_error(ctx: Ctx) {
    walk_tree(&ctx).await;
    let driver = ctx.storage.driver_name();
    let result = ctx
        .storage
        .walk(&ctx.path("p"), None, &mut |_| {
            Err(StorageError::Unsupported {
                driver,
                operation: "walk test",
            })
        })
        .await;
    assert!(
        matches!(result, Err(StorageError::Unsupported { .. })),
        "{result:?}"
    );
}

pub async fn walk_tolerates_removal(ctx: Ctx) {
    walk_tree(&ctx).await;
    let storage = ctx.storage.clone();
    let doomed = ctx.path("p/e");
    let seen = walked(&ctx, None, move |p| {
        if p == "p/a" {
            let storage = storage.clone();
            let doomed = doomed.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current()
                    .block_on(storage.delete(&doomed))
                    .expect("delete during walk");
            });
        }
        WalkControl::Continue
    })
    .await;
    assert_eq!(
        seen,
        entries(&[
            ("p/a", true),
            ("p/a/b", true),
            ("p/a/b/c", false),
            ("p/a/d", false),
            ("p/a-c", false),
        ])
    );
}

/// A writer whose process died mid-write (neither committed, closed nor cancelled) leaves
/// nothing visible; what it left in the backend is reported by `pending_writes` (by drivers
/// that can enumerate it) below its directory only, and goes with `remove_pending_write`,
/// which may run twice.
pub async fn pending_write_of_a_crashed_writer(ctx: Ctx) {
    let path = ctx.path("crashed/object");
    let mut writer = ctx.storage.writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(vec![9u8; 6 * 1024 * 1024]))
        .await
        .expect("write");
    writer.flush().await.expect("flush");
    std::mem::forget(writer); // as if its process died
    ctx.put("elsewhere/file", b"x").await;
    assert!(!ctx.exists("crashed/object").await);

    let mut pending = Vec::new();
    for _ in 0..100 {
        pending = ctx
            .storage
            .pending_writes(&ctx.path("crashed"))
            .await
            .expect("pending_writes");
        // Block uploads of the dead writer may still be landing.
        if !pending.is_empty() || !ctx.reports_pending_writes() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if ctx.reports_pending_writes() {
        assert!(!pending.is_empty(), "the crashed writer is not reported");
    }
    let latest = SystemTime::now() + Duration::from_secs(300); // clock skew allowed
    for write in &pending {
        assert_eq!(write.path.as_str(), path, "{write:?}");
        assert!(write.started <= latest, "{write:?}");
    }
    let elsewhere = ctx
        .storage
        .pending_writes(&ctx.path("elsewhere"))
        .await
        .expect("pending_writes elsewhere");
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    for write in &pending {
        ctx.storage
            .remove_pending_write(write)
            .await
            .expect("remove_pending_write");
        ctx.storage
            .remove_pending_write(write)
            .await
            .expect("remove_pending_write again");
    }
    let left = ctx
        .storage
        .pending_writes(&ctx.path("crashed"))
        .await
        .expect("pending_writes after removal");
    assert!(left.is_empty(), "{left:?}");
}
