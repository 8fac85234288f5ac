//! The online collector's schedule is kept in storage (`_gc/last-cycle`): a new instance runs
//! its first cycle soon after it starts when none ran within `interval`, and waits out the
//! interval when another instance's cycle just completed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use registry_core::domain::Digest;
use registry_core::layout;
use registry_core::storage::Storage;
use registry_server::config::Config;

const INTERVAL: Duration = Duration::from_secs(5);

fn config(interval: Duration) -> Config {
    Config::from_yaml(
        &format!(
            "storage:\n  inmemory: {{}}\n  delete:\n    enabled: true\ngc:\n  enabled: true\n  interval: {}s\n  delay: 0s\n  reliancewindow: 200ms\n  revivewait: 200ms\n",
            interval.as_secs()
        ),
        Vec::new(),
    )
    .expect("collector configuration")
}

/// A blob nothing links: garbage for the next cycle.
async fn garbage(storage: &Storage) -> String {
    let data = Bytes::from_static(b"unreferenced");
    let path = layout::blob_data(&Digest::sha256_of(&data));
    storage.put_content(&path, data).await.unwrap();
    path
}

async fn gone_within(storage: &Storage, path: &str, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < bound {
        if storage.stat(path).await.is_err() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_collects_soon_when_no_cycle_ran_within_the_interval() {
    let storage = Storage::new(Arc::new(driver_inmemory::InMemoryDriver::new()));
    let path = garbage(&storage).await;
    // Long enough that a first cycle one interval after startup (or a loaded machine) cannot
    // be mistaken for a soon one; the startup jitter is at most a tenth of it.
    let interval = Duration::from_secs(30);
    let collector =
        registry_server::maintenance::collector::start(&config(interval), storage.clone())
            .expect("the collector starts");
    let took = gone_within(&storage, &path, interval).await;
    collector.abort();
    let took = took.expect("the first cycle did not run within one interval of startup");
    assert!(took < interval / 2, "the first cycle took {took:?}");
    assert!(
        storage.stat(&layout::gc_last_cycle()).await.is_ok(),
        "a completed cycle records the schedule"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_completed_by_another_instance_postpones_the_next() {
    let storage = Storage::new(Arc::new(driver_inmemory::InMemoryDriver::new()));
    storage
        .put_content(
            &layout::gc_last_cycle(),
            Bytes::from_static(b"another instance\n"),
        )
        .await
        .unwrap();
    let recorded = Instant::now();
    let path = garbage(&storage).await;
    let collector =
        registry_server::maintenance::collector::start(&config(INTERVAL), storage.clone())
            .expect("the collector starts");
    let took = gone_within(&storage, &path, INTERVAL * 3).await;
    collector.abort();
    let took = took.expect("no cycle ran within three intervals");
    assert!(
        recorded.elapsed() >= INTERVAL && took >= INTERVAL - Duration::from_millis(500),
        "a cycle ran {took:?} after another instance's, before the {INTERVAL:?} interval"
    );
}
