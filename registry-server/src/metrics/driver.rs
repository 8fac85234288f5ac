//! A [`StorageDriver`] wrapper that counts and times every operation of the driver it wraps,
//! by driver, operation and outcome. Composed at startup around the opened driver, under any
//! cache, so that what it counts is what reached the backend.
//!
//! Each operation's series are resolved on its first use and kept (so that the exposition
//! shows only the operations that happened): afterwards an operation costs an atomic
//! addition and one histogram observation, with no lookup.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use registry_core::storage::{
    ByteStream, FileInfo, FileWriter, RedirectMethod, Result, StorageDriver, StoragePath,
    TimedContent, WalkFn,
};

use super::{Metrics, StorageLatencyLabels, StorageOpLabels};

/// The `operation` label values, in [`Op`] order.
const OPERATIONS: &[&str] = &[
    "get_content",
    "put_content",
    "reader",
    "range_reader",
    "writer",
    "stat",
    "list",
    "move",
    "delete",
    "redirect_url",
    "walk",
    "write",
    "flush",
    "close",
    "cancel",
    "commit",
    "get_content_timed",
];

/// The `outcome` label values, in index order.
const OUTCOMES: [&str; 3] = ["ok", "not_found", "error"];

#[derive(Clone, Copy)]
enum Op {
    GetContent,
    PutContent,
    Reader,
    RangeReader,
    Writer,
    Stat,
    List,
    Move,
    Delete,
    RedirectUrl,
    Walk,
    Write,
    Flush,
    Close,
    Cancel,
    Commit,
    GetContentTimed,
}

/// One operation's counters (by outcome) and latency histogram, each resolved on first use.
#[derive(Default)]
struct OperationSeries {
    outcomes: [OnceLock<Counter>; 3],
    duration: OnceLock<Histogram>,
}

/// The series of every operation of one driver.
struct DriverSeries {
    metrics: Arc<Metrics>,
    driver: &'static str,
    operations: Vec<OperationSeries>,
}

impl DriverSeries {
    fn new(metrics: &Arc<Metrics>, driver: &'static str) -> Self {
        DriverSeries {
            metrics: Arc::clone(metrics),
            driver,
            operations: OPERATIONS
                .iter()
                .map(|_| OperationSeries::default())
                .collect(),
        }
    }

    fn record<T>(&self, op: Op, started: Instant, result: &Result<T>) {
        let outcome = match result {
            Ok(_) => 0,
            Err(e) if e.is_not_found() => 1,
            Err(_) => 2,
        };
        let operation = OPERATIONS[op as usize];
        let series = &self.operations[op as usize];
        series.outcomes[outcome]
            .get_or_init(|| {
                self.metrics
                    .storage_operations
                    .get_or_create_owned(&StorageOpLabels {
                        driver: self.driver,
                        operation,
                        outcome: OUTCOMES[outcome],
                    })
            })
            .inc();
        series
            .duration
            .get_or_init(|| {
                self.metrics
                    .storage_duration
                    .get_or_create_owned(&StorageLatencyLabels {
                        driver: self.driver,
                        operation,
                    })
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Counts and times the operations of the driver it wraps; otherwise transparent (the same
/// name, errors and results).
pub struct MeteredDriver {
    inner: Arc<dyn StorageDriver>,
    series: Arc<DriverSeries>,
}

impl MeteredDriver {
    pub fn new(inner: Arc<dyn StorageDriver>, metrics: &Arc<Metrics>) -> Self {
        let series = Arc::new(DriverSeries::new(metrics, inner.name()));
        MeteredDriver { inner, series }
    }

    async fn timed<T>(&self, op: Op, call: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        self.series.record(op, started, &result);
        result
    }
}

#[async_trait]
impl StorageDriver for MeteredDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        self.timed(Op::GetContent, self.inner.get_content(path))
            .await
    }

    async fn get_content_timed(&self, path: &StoragePath) -> Result<TimedContent> {
        self.timed(Op::GetContentTimed, self.inner.get_content_timed(path))
            .await
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        self.timed(Op::PutContent, self.inner.put_content(path, content))
            .await
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        self.timed(Op::Reader, self.inner.reader(path, offset))
            .await
    }

    async fn range_reader(
        &self,
        path: &StoragePath,
        offset: u64,
        length: u64,
    ) -> Result<ByteStream> {
        self.timed(
            Op::RangeReader,
            self.inner.range_reader(path, offset, length),
        )
        .await
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        let writer = self
            .timed(Op::Writer, self.inner.writer(path, append))
            .await?;
        Ok(Box::new(MeteredWriter {
            inner: writer,
            series: Arc::clone(&self.series),
        }))
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        self.timed(Op::Stat, self.inner.stat(path)).await
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        self.timed(Op::List, self.inner.list(path)).await
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        self.timed(Op::Move, self.inner.move_to(source, dest)).await
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        self.timed(Op::Delete, self.inner.delete(path)).await
    }

    async fn redirect_url(
        &self,
        path: &StoragePath,
        method: RedirectMethod,
        expiry: Duration,
    ) -> Result<Option<String>> {
        self.timed(
            Op::RedirectUrl,
            self.inner.redirect_url(path, method, expiry),
        )
        .await
    }

    async fn walk(
        &self,
        path: &StoragePath,
        start_after: Option<&StoragePath>,
        visit: &mut WalkFn<'_>,
    ) -> Result<()> {
        self.timed(Op::Walk, self.inner.walk(path, start_after, visit))
            .await
    }
}

/// A driver's writer whose calls are counted like the driver's operations.
struct MeteredWriter {
    inner: Box<dyn FileWriter>,
    series: Arc<DriverSeries>,
}

#[async_trait]
impl FileWriter for MeteredWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.write(data).await;
        self.series.record(Op::Write, started, &result);
        result
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    async fn flush(&mut self) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.flush().await;
        self.series.record(Op::Flush, started, &result);
        result
    }

    async fn close(self: Box<Self>) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.close().await;
        self.series.record(Op::Close, started, &result);
        result
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.cancel().await;
        self.series.record(Op::Cancel, started, &result);
        result
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.commit().await;
        self.series.record(Op::Commit, started, &result);
        result
    }
}
