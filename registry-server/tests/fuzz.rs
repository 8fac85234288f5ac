//! HTTP fuzzing: thousands of generated requests (see `fuzz/generate.rs`) against a running
//! registry on each local driver. Every request must be answered without a 5xx, within a
//! deadline, without a panic in the server; afterwards the storage must pass the consistency
//! check (`registry_core::registry::consistency`).
//!
//! Seeded and reproducible: the seed is printed, and `REGISTRY_FUZZ_SEED=<n>` replays it (the
//! same request shapes in the same order; upload ids the server hands out differ).
//! `REGISTRY_FUZZ_REQUESTS` (default 5000) and `REGISTRY_FUZZ_SECONDS` (default 60) bound a run,
//! whichever comes first. `REGISTRY_FUZZ_TRACE=1` prints every request and its outcome.

mod common;
#[path = "fuzz/generate.rs"]
mod generate;
#[path = "fuzz/rng.rs"]
mod rng;
#[path = "fuzz/wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use common::{Driver, TestServer};
use generate::{Model, Request};
use registry_core::registry::consistency;
use rng::Rng;
use wire::Outcome;

/// A request unanswered for this long is a hang.
const DEADLINE: Duration = Duration::from_secs(10);
/// Failures listed in full; more are counted.
const SHOWN: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_inmemory() {
    fuzz(Driver::InMemory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_filesystem() {
    fuzz(Driver::Filesystem).await;
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// Panics on the server's threads (actix workers, the server's system thread), recorded by a
/// panic hook: actix answers a panicking handler by dropping the connection, so the client
/// alone cannot tell a panic from a close.
static SERVER_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_server_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            if name == "<unnamed>" || name.starts_with("actix") {
                let mut panics = SERVER_PANICS.lock().unwrap_or_else(|p| p.into_inner());
                panics.push(format!("thread {name}: {info}"));
            }
            default(info);
        }));
    });
}

/// Counts of what came back, for the summary line.
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, usize>,
    no_answer: usize,
    abandoned: usize,
    failures: Vec<String>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        if self.failures.len() < SHOWN {
            eprintln!("FUZZ FAILURE {what}");
        }
        self.failures.push(what);
    }

    /// Judges one outcome; returns the status to learn from.
    fn judge(
        &mut self,
        index: usize,
        request: &Request,
        outcome: Outcome,
    ) -> Option<(u16, Option<String>)> {
        let what = |problem: &str| format!("#{index}: {problem}\n  {}", request.describe());
        match outcome {
            Outcome::Answer {
                status,
                upload_uuid,
                api_version,
            } => {
                *self.statuses.entry(status).or_default() += 1;
                if status >= 500 {
                    self.fail(what(&format!("answered {status}")));
                }
                // Only requests that are valid HTTP reach the registry's own code; a malformed
                // request line is answered by actix's parser, without the registry's headers.
                if !api_version && request.transport == generate::Transport::Client {
                    self.fail(what("no Docker-Distribution-API-Version header"));
                }
                Some((status, upload_uuid))
            }
            Outcome::NoAnswer(reason) => {
                self.no_answer += 1;
                // A body that ended early may be answered by a close; anything else must be
                // answered.
                let cut_short = matches!(
                    request.transport,
                    generate::Transport::Truncated { .. }
                        | generate::Transport::Chunked {
                            malformed: true,
                            ..
                        }
                );
                if !cut_short {
                    self.fail(what(&format!("no answer: {reason}")));
                }
                None
            }
            Outcome::Hang => {
                self.fail(what(&format!("no answer within {DEADLINE:?}")));
                None
            }
            Outcome::Abandoned => {
                self.abandoned += 1;
                None
            }
        }
    }
}

async fn fuzz(driver: Driver) {
    watch_server_panics();
    // The registry logs the cause of every 5xx at `error`: shown next to the failure.
    // (Only the registry's: actix logs every malformed request line the fuzzer sends.)
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("registry_server=error"))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let trace = std::env::var_os("REGISTRY_FUZZ_TRACE").is_some();
    let seed = env_number("REGISTRY_FUZZ_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let max_requests = env_number("REGISTRY_FUZZ_REQUESTS").unwrap_or(5000) as usize;
    let budget = Duration::from_secs(env_number("REGISTRY_FUZZ_SECONDS").unwrap_or(60));
    eprintln!(
        "fuzz {driver:?}: seed {seed} (replay with REGISTRY_FUZZ_SEED={seed}), up to \
         {max_requests} requests or {budget:?}"
    );

    let server = TestServer::start(driver).await;
    let mut rng = Rng::new(seed);
    let mut model = Model::new();
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut sent = 0;
    while sent < max_requests && started.elapsed() < budget {
        // Mostly one at a time; now and then a burst of concurrent requests, which is where
        // uploads and tag moves race.
        let burst = if rng.percent(5) { 2 + rng.below(3) } else { 1 };
        if burst > 1 {
            model.begin_burst(&mut rng);
        }
        let requests: Vec<Request> = (0..burst).map(|_| model.generate(&mut rng)).collect();
        model.end_burst();
        let outcomes =
            futures::future::join_all(requests.iter().map(|r| wire::send(&server, r, DEADLINE)))
                .await;
        for (request, outcome) in requests.iter().zip(outcomes) {
            if trace {
                eprintln!(
                    "#{sent} (burst of {burst}): {outcome:?}\n  {}",
                    request.describe()
                );
            }
            if let Some((status, uuid)) = tally.judge(sent, request, outcome) {
                model.learn(&request.learn, status, uuid.as_deref());
            }
            sent += 1;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "fuzz {driver:?}: {sent} requests in {:.1}s; statuses {:?}; closed without answer {}; \
         abandoned {}",
        elapsed.as_secs_f64(),
        tally.statuses,
        tally.no_answer,
        tally.abandoned
    );

    // The server still serves, and the storage holds together.
    let base = server.get("/v2/").await;
    assert_eq!(base.status(), 200, "GET /v2/ after fuzzing");
    let report = consistency::check(server.storage())
        .await
        .expect("the consistency check reads storage");
    eprintln!(
        "fuzz {driver:?}: consistency check: {} blobs hashed, {} links read, {} problems",
        report.blobs_checked,
        report.links_checked,
        report.problems.len()
    );
    for problem in &report.problems {
        tally.fail(format!("storage after fuzzing: {problem}"));
    }
    server.stop().await;

    let panics = SERVER_PANICS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        tally.failures.is_empty() && panics.is_empty(),
        "fuzz {driver:?} with seed {seed}: {} failures, {} server panics\n{}\n{}",
        tally.failures.len(),
        panics.len(),
        panics.join("\n"),
        tally.failures[..tally.failures.len().min(SHOWN)].join("\n"),
    );
}
