//! Health checks, as in the reference's `health` package: each check runs periodically in the
//! background, and reports a failure once it has failed `threshold` times in a row; one
//! success clears it. While any check reports a failure, `/debug/health` answers 503 with the
//! failing checks, and the main listener answers every request 503 (`UNAVAILABLE`) so that a
//! load balancer drains the instance.
//!
//! Requests read one atomic ([`Health::is_healthy`]); checks never run on a request's path.
//!
//! A check is anything implementing [`HealthCheck`]; the configured ones are in [`checks`].
//! Another part of the server (say, a Redis cache) adds its own with [`HealthBuilder::add`]
//! before [`HealthBuilder::start`].

pub mod checks;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::Metrics;

/// One thing to check.
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// The check's name in `/debug/health` (the reference's: `storagedriver_<driver>`, the
    /// file path, the URI, the address).
    fn name(&self) -> String;

    /// `Err` with what an operator should read when the check fails.
    async fn check(&self) -> Result<(), String>;
}

/// How often a check runs and how many failures in a row it takes to report one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval: Duration,
    /// At least 1.
    pub threshold: u32,
}

/// The reported state of one check.
struct CheckState {
    name: String,
    threshold: u32,
    /// Whether a reported failure turns the main listener to 503. An advisory check (the
    /// Redis cache, which requests fall back from) only shows in `/debug/health` and metrics.
    drains: bool,
    up: Gauge,
    status: Mutex<Status>,
}

#[derive(Default)]
struct Status {
    failures_in_a_row: u32,
    /// The failure being reported, once `threshold` is reached.
    reported: Option<String>,
}

struct Shared {
    checks: Vec<Arc<CheckState>>,
    /// How many checks report a failure: the whole of what a request reads.
    failing: AtomicUsize,
}

/// The health of this server, shared by its listeners. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("checks", &self.shared.checks.len())
            .field("failing", &self.shared.failing.load(Ordering::Relaxed))
            .finish()
    }
}

impl Health {
    /// No checks: always healthy.
    pub fn none() -> Self {
        Health {
            shared: Arc::new(Shared {
                checks: Vec::new(),
                failing: AtomicUsize::new(0),
            }),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.shared.failing.load(Ordering::Acquire) == 0
    }

    /// The failing checks, name → error (empty when healthy): `/debug/health`'s body.
    pub fn failures(&self) -> BTreeMap<String, String> {
        self.shared
            .checks
            .iter()
            .filter_map(|check| {
                let status = check.status.lock().unwrap_or_else(|e| e.into_inner());
                status
                    .reported
                    .clone()
                    .map(|error| (check.name.clone(), error))
            })
            .collect()
    }

    /// The names of all checks.
    pub fn check_names(&self) -> Vec<String> {
        self.shared.checks.iter().map(|c| c.name.clone()).collect()
    }
}

impl Shared {
    fn update(&self, check: &CheckState, result: Result<(), String>) {
        let mut status = check.status.lock().unwrap_or_else(|e| e.into_inner());
        let was_failing = status.reported.is_some();
        match result {
            Ok(()) => {
                status.failures_in_a_row = 0;
                status.reported = None;
            }
            Err(error) => {
                status.failures_in_a_row = status.failures_in_a_row.saturating_add(1);
                if status.failures_in_a_row >= check.threshold {
                    status.reported = Some(error);
                }
            }
        }
        let failing = status.reported.is_some();
        if failing != was_failing {
            if failing {
                let error = status.reported.as_deref().unwrap_or_default();
                if check.drains {
                    self.failing.fetch_add(1, Ordering::AcqRel);
                    tracing::warn!(
                        check = check.name.as_str(),
                        error,
                        "health check failing: answering 503 until it passes"
                    );
                } else {
                    tracing::warn!(
                        check = check.name.as_str(),
                        error,
                        "health check failing (advisory: requests are still served)"
                    );
                }
            } else {
                if check.drains {
                    self.failing.fetch_sub(1, Ordering::AcqRel);
                }
                tracing::info!(check = check.name.as_str(), "health check passing again");
            }
            check.up.set(i64::from(!failing));
        }
    }
}

/// Collects checks, then starts them.
pub struct HealthBuilder {
    metrics: Arc<Metrics>,
    checks: Vec<(Arc<dyn HealthCheck>, Schedule, bool)>,
}

impl HealthBuilder {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        HealthBuilder {
            metrics,
            checks: Vec::new(),
        }
    }

    pub fn add(&mut self, check: Arc<dyn HealthCheck>, schedule: Schedule) -> &mut Self {
        self.checks.push((check, schedule, true));
        self
    }

    /// A check whose failure is reported (`/debug/health`, metrics, logs) but does not turn
    /// the main listener to 503: for a dependency that requests fall back from.
    pub fn add_advisory(&mut self, check: Arc<dyn HealthCheck>, schedule: Schedule) -> &mut Self {
        self.checks.push((check, schedule, false));
        self
    }

    /// Starts every check on the current Tokio runtime: the first run at once, then one per
    /// interval. The tasks end with the runtime, or once the returned [`Health`] and all its
    /// clones are dropped.
    pub fn start(self) -> Health {
        let states: Vec<Arc<CheckState>> = self
            .checks
            .iter()
            .map(|(check, schedule, drains)| {
                let name = check.name();
                let up = self.metrics.health_check_gauge(&name);
                up.set(1);
                Arc::new(CheckState {
                    name,
                    threshold: schedule.threshold.max(1),
                    drains: *drains,
                    up,
                    status: Mutex::new(Status::default()),
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            checks: states.clone(),
            failing: AtomicUsize::new(0),
        });
        for ((check, schedule, _), state) in self.checks.into_iter().zip(states) {
            tokio::spawn(run(
                Arc::downgrade(&shared),
                check,
                state,
                schedule.interval,
            ));
        }
        Health { shared }
    }
}

async fn run(
    shared: Weak<Shared>,
    check: Arc<dyn HealthCheck>,
    state: Arc<CheckState>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    // A slow check delays the next one instead of firing a burst to catch up.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let result = check.check().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.update(&state, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted(Mutex<Vec<Result<(), String>>>);

    #[async_trait]
    impl HealthCheck for Scripted {
        fn name(&self) -> String {
            "scripted".into()
        }
        async fn check(&self) -> Result<(), String> {
            let mut script = self.0.lock().unwrap();
            if script.is_empty() {
                Ok(())
            } else {
                script.remove(0)
            }
        }
    }

    fn state(threshold: u32) -> (Shared, Arc<CheckState>) {
        state_of(threshold, true)
    }

    fn state_of(threshold: u32, drains: bool) -> (Shared, Arc<CheckState>) {
        let state = Arc::new(CheckState {
            name: "c".into(),
            threshold,
            drains,
            up: Gauge::default(),
            status: Mutex::new(Status::default()),
        });
        let shared = Shared {
            checks: vec![Arc::clone(&state)],
            failing: AtomicUsize::new(0),
        };
        (shared, state)
    }

    #[test]
    fn an_advisory_failure_is_reported_but_does_not_drain() {
        let (shared, state) = state_of(1, false);
        shared.update(&state, Err("redis: connection refused".into()));
        let health = Health {
            shared: Arc::new(shared),
        };
        assert!(health.is_healthy(), "requests are still served");
        assert_eq!(
            health.failures().get("c").map(String::as_str),
            Some("redis: connection refused")
        );
        health.shared.update(&state, Ok(()));
        assert!(health.failures().is_empty());
        assert!(health.is_healthy());
    }

    #[test]
    fn a_failure_is_reported_after_threshold_in_a_row_and_cleared_by_one_success() {
        let (shared, check) = state(3);
        let health = Health {
            shared: Arc::new(shared),
        };
        let fail = || Err("down".to_owned());
        health.shared.update(&check, fail());
        health.shared.update(&check, fail());
        assert!(health.is_healthy(), "two failures of three");
        health.shared.update(&check, Ok(()));
        health.shared.update(&check, fail());
        health.shared.update(&check, fail());
        assert!(health.is_healthy(), "a success restarts the count");
        health.shared.update(&check, fail());
        assert!(!health.is_healthy());
        assert_eq!(
            health.failures(),
            BTreeMap::from([("c".to_owned(), "down".to_owned())])
        );
        assert_eq!(check.up.get(), 0);
        health.shared.update(&check, fail());
        assert_eq!(health.shared.failing.load(Ordering::Relaxed), 1);
        health.shared.update(&check, Ok(()));
        assert!(health.is_healthy());
        assert!(health.failures().is_empty());
        assert_eq!(check.up.get(), 1);
    }

    /// Waits (up to 5 s) until `health` says `healthy`.
    async fn until(health: &Health, healthy: bool) {
        for _ in 0..500 {
            if health.is_healthy() == healthy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("health never became {healthy}: {:?}", health.failures());
    }

    #[tokio::test]
    async fn checks_run_at_once_and_then_every_interval() {
        let metrics = Arc::new(Metrics::new());
        let mut builder = HealthBuilder::new(Arc::clone(&metrics));
        let script = vec![Err("no".to_owned()), Ok(()), Err("again".to_owned())];
        builder.add(
            Arc::new(Scripted(Mutex::new(script))),
            Schedule {
                interval: Duration::from_millis(200),
                threshold: 1,
            },
        );
        let health = builder.start();
        until(&health, false).await;
        assert_eq!(
            health.failures().get("scripted").map(String::as_str),
            Some("no")
        );
        until(&health, true).await;
        until(&health, false).await;
        assert_eq!(
            health.failures().get("scripted").map(String::as_str),
            Some("again")
        );
        assert!(
            metrics
                .render()
                .contains("registry_health_check_up{check=\"scripted\"} 0")
        );
    }
}
