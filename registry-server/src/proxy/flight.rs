//! One upstream fetch per cold blob, however many clients ask for it at once (per process:
//! several instances over one storage fetch at most once each).
//!
//! The fetch runs as its own task, not inside any client's request, so a client that
//! disconnects never aborts it for the others. It writes each chunk twice: to storage, through
//! [`IncomingBlob`], which keeps nothing visible until the digest is verified; and to a spool
//! file (already unlinked, so nothing is left behind), which every waiting client streams from
//! at its own pace while the fetch goes on. Memory does not grow with the blob, and a slow
//! client slows nobody else. The last byte is held back from clients until the digest is
//! verified: a blob that fails verification ends every client's download short, as an error.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use registry_core::domain::{Digest, RepositoryName};
use registry_core::registry::Registry;
use reqwest::Method;
use tokio::sync::watch;

use super::upstream::{Upstream, UpstreamError};

/// Bytes read from the spool per step of a client's stream.
const READ_CHUNK: u64 = 256 * 1024;
/// A finished fetch stays joinable this long, for clients that asked while it ran but arrive
/// just after it ended (they would otherwise start a second fetch).
const LINGER: Duration = Duration::from_secs(5);

/// How a fetch stands.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The blob's size, once the upstream has answered (`None` if it sent no length).
    pub size: Option<u64>,
    /// The upstream's headers are in: clients may start.
    pub started: bool,
    /// Bytes in the spool.
    pub spooled: u64,
    /// `Some` once the fetch has ended: verified and stored, or failed.
    pub outcome: Option<Result<(), FetchError>>,
}

/// Why a fetch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The bytes did not match the digest (or the announced size).
    #[error("the upstream's bytes failed verification: {0}")]
    Mismatch(String),
    /// Storage or the spool failed.
    #[error("storing the blob failed: {0}")]
    Storage(String),
}

/// One fetch in progress (or just finished).
pub struct Flight {
    progress: watch::Receiver<Progress>,
    spool: Arc<File>,
}

type Key = (RepositoryName, Digest);

/// The fetches of one process.
#[derive(Default)]
pub struct Flights {
    running: Mutex<HashMap<Key, Arc<Flight>>>,
}

impl Flights {
    /// The fetch of `digest` into `repo` (stored as `repo`, fetched as `remote` from
    /// `upstream`): the one running, or a new one.
    pub fn join(
        self: &Arc<Self>,
        registry: &Registry,
        upstream: &Arc<Upstream>,
        repo: &RepositoryName,
        remote: &RepositoryName,
        digest: &Digest,
    ) -> Result<Arc<Flight>, FetchError> {
        let key = (repo.clone(), digest.clone());
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = running.get(&key) {
            return Ok(Arc::clone(flight));
        }
        let spool = Arc::new(spool_file().map_err(|e| FetchError::Storage(format!("spool: {e}")))?);
        let (sender, progress) = watch::channel(Progress::default());
        let flight = Arc::new(Flight {
            progress,
            spool: Arc::clone(&spool),
        });
        running.insert(key.clone(), Arc::clone(&flight));
        drop(running);
        let fetch = Fetch {
            registry: registry.clone(),
            upstream: Arc::clone(upstream),
            repo: repo.clone(),
            remote: remote.clone(),
            digest: digest.clone(),
            spool,
            sender,
        };
        let flights = Arc::downgrade(self);
        tokio::spawn(async move {
            let ok = fetch.run().await;
            if ok {
                tokio::time::sleep(LINGER).await;
            }
            remove(&flights, &key);
        });
        Ok(flight)
    }
}

fn remove(flights: &Weak<Flights>, key: &Key) {
    if let Some(flights) = flights.upgrade() {
        flights
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// An anonymous temporary file: created and unlinked at once.
fn spool_file() -> std::io::Result<File> {
    let path = std::env::temp_dir().join(format!("registry-proxy-{}", uuid::Uuid::new_v4()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

impl Flight {
    /// Waits until the upstream has answered: the size (if it sent one), or why it failed
    /// before sending anything.
    pub async fn started(&self) -> Result<Option<u64>, FetchError> {
        let mut progress = self.progress.clone();
        let seen = progress
            .wait_for(|p| p.started || p.outcome.is_some())
            .await
            .map_err(|_| FetchError::Storage("the fetch ended without an answer".into()))?
            .clone();
        match seen.outcome {
            Some(Err(e)) if !seen.started => Err(e),
            _ => Ok(seen.size),
        }
    }

    /// The blob's bytes as they arrive; ends with an error if the fetch fails.
    pub fn stream(self: Arc<Self>) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        let progress = self.progress.clone();
        futures::stream::unfold(
            (self, progress, 0u64, false),
            |(flight, mut progress, position, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    let seen = progress.borrow_and_update().clone();
                    let verified = matches!(seen.outcome, Some(Ok(())));
                    // Hold back the last byte until the digest is verified.
                    let readable = if verified {
                        seen.spooled
                    } else {
                        seen.spooled.saturating_sub(1)
                    };
                    if readable > position {
                        let length = (readable - position).min(READ_CHUNK);
                        let spool = Arc::clone(&flight.spool);
                        let read = tokio::task::spawn_blocking(move || {
                            let mut buffer = vec![0; length as usize];
                            spool.read_exact_at(&mut buffer, position).map(|()| buffer)
                        })
                        .await
                        .map_err(std::io::Error::other)
                        .and_then(|r| r);
                        return Some(match read {
                            Ok(buffer) => (
                                Ok(Bytes::from(buffer)),
                                (flight, progress, position + length, false),
                            ),
                            Err(e) => (Err(e), (flight, progress, position, true)),
                        });
                    }
                    match seen.outcome {
                        Some(Ok(())) => return None,
                        Some(Err(e)) => {
                            let error = std::io::Error::other(e.to_string());
                            return Some((Err(error), (flight, progress, position, true)));
                        }
                        None => {}
                    }
                    if progress.changed().await.is_err() {
                        let error = std::io::Error::other("the upstream fetch stopped");
                        return Some((Err(error), (flight, progress, position, true)));
                    }
                }
            },
        )
    }
}

/// The fetch task's state.
struct Fetch {
    registry: Registry,
    upstream: Arc<Upstream>,
    repo: RepositoryName,
    remote: RepositoryName,
    digest: Digest,
    spool: Arc<File>,
    sender: watch::Sender<Progress>,
}

impl Fetch {
    /// Fetches, spools, verifies and stores; true when the blob was stored.
    async fn run(self) -> bool {
        let outcome = self.fetch().await;
        if let Err(e) = &outcome {
            tracing::warn!(
                repository = %self.repo,
                digest = %self.digest,
                upstream = self.upstream.config.remote_url.as_str(),
                error = %e,
                "pull-through fetch of a blob failed; nothing stored"
            );
        }
        let ok = outcome.is_ok();
        self.sender.send_modify(|p| p.outcome = Some(outcome));
        ok
    }

    async fn fetch(&self) -> Result<(), FetchError> {
        let response = self
            .upstream
            .blob(&self.remote, &self.digest, Method::GET)
            .await?;
        let size = response.content_length();
        let mut incoming = self
            .registry
            .receive_blob(&self.digest)
            .await
            .map_err(|e| FetchError::Storage(e.to_string()))?;
        self.sender.send_modify(|p| {
            p.size = size;
            p.started = true;
        });
        let mut body = response.bytes_stream();
        let mut spooled = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    incoming.abandon().await;
                    return Err(UpstreamError::Unreachable(format!("reading the blob: {e}")).into());
                }
            };
            if size.is_some_and(|size| spooled + chunk.len() as u64 > size) {
                incoming.abandon().await;
                return Err(FetchError::Mismatch(format!(
                    "more bytes than the announced {} bytes",
                    size.unwrap_or_default()
                )));
            }
            let spool = Arc::clone(&self.spool);
            let data = chunk.clone();
            let at = spooled;
            let written = tokio::task::spawn_blocking(move || spool.write_all_at(&data, at))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
            if let Err(e) = written {
                incoming.abandon().await;
                return Err(FetchError::Storage(format!("spool: {e}")));
            }
            spooled += chunk.len() as u64;
            if let Err(e) = incoming.write(chunk).await {
                incoming.abandon().await;
                return Err(FetchError::Storage(e.to_string()));
            }
            self.sender.send_modify(|p| p.spooled = spooled);
        }
        incoming
            .finish(&self.repo, size)
            .await
            .map_err(|e| match e {
                registry_core::registry::RegistryError::DigestInvalid(m)
                | registry_core::registry::RegistryError::SizeInvalid(m) => FetchError::Mismatch(m),
                other => FetchError::Storage(other.to_string()),
            })?;
        Ok(())
    }
}
