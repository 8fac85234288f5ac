//! `auth.htpasswd`: users and bcrypt hashes from an Apache htpasswd file, re-read when the
//! file changes.
//!
//! Timing: an unknown user costs one bcrypt check against another entry's hash (whose
//! result is ignored), so a wrong user and a wrong password take the same time. bcrypt runs
//! on the blocking pool, a few checks at a time, so a flood of bad logins slows logins, not
//! every other request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Semaphore;

use super::verified::VerifiedCache;

/// How often the file's metadata is looked at.
const RECHECK: Duration = Duration::from_secs(1);
/// How long a successful check is remembered.
const VERIFIED_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: not a user:hash entry")]
    Syntax { path: String, line: usize },
    #[error("{path} holds no bcrypt entry (only bcrypt hashes are accepted, as by the reference)")]
    Empty { path: String },
}

/// What identifies one version of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&meta),
        })
    }
}

struct Entries {
    stamp: Stamp,
    users: HashMap<String, String>,
    /// The hash an unknown user is checked against, for equal timing.
    decoy: String,
}

pub struct Htpasswd {
    path: PathBuf,
    entries: RwLock<Arc<Entries>>,
    last_check: Mutex<Instant>,
    verified: VerifiedCache<()>,
    checks: Semaphore,
}

impl Htpasswd {
    /// Reads the file; a missing, unreadable or empty file is an error (never "no users").
    pub fn open(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let entries = load(path)?;
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Htpasswd {
            path: path.to_owned(),
            entries: RwLock::new(Arc::new(entries)),
            last_check: Mutex::new(Instant::now()),
            verified: VerifiedCache::new(VERIFIED_TTL),
            checks: Semaphore::new(parallel),
        })
    }

    /// True when `password` is `user`'s.
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        self.reload_if_changed();
        let key = self.verified.key(&[user.as_bytes(), password.as_bytes()]);
        if self.verified.get(&key).is_some() {
            return true;
        }
        let entries = Arc::clone(&self.entries.read().unwrap_or_else(|e| e.into_inner()));
        let (hash, known) = match entries.users.get(user) {
            Some(hash) => (hash.clone(), true),
            None => (entries.decoy.clone(), false),
        };
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = known && matched;
        // A reload while bcrypt ran must not let a removed user's success be remembered.
        let current = Arc::ptr_eq(
            &entries,
            &self.entries.read().unwrap_or_else(|e| e.into_inner()),
        );
        if ok && current {
            self.verified.insert(key, (), None);
        }
        ok
    }

    /// Re-reads the file when its metadata changed, at most once per [`RECHECK`]. A file
    /// that became unreadable or invalid keeps the previous users, and says why in the log.
    fn reload_if_changed(&self) {
        {
            let Ok(mut last) = self.last_check.try_lock() else {
                return;
            };
            if last.elapsed() < RECHECK {
                return;
            }
            *last = Instant::now();
        }
        let current = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .stamp
            .clone();
        match Stamp::of(&self.path) {
            Ok(stamp) if stamp == current => return,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "htpasswd file unreadable; keeping the users read before");
                return;
            }
        }
        match load(&self.path) {
            Ok(entries) => {
                let users = entries.users.len();
                *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(entries);
                self.verified.clear();
                tracing::info!(path = %self.path.display(), users, "htpasswd file reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "htpasswd file invalid; keeping the users read before");
            }
        }
    }
}

fn load(path: &Path) -> Result<Entries, HtpasswdError> {
    let shown = path.display().to_string();
    let read_error = |source| HtpasswdError::Read {
        path: shown.clone(),
        source,
    };
    // The stamp first: a change between the two reads is then seen at the next check.
    let stamp = Stamp::of(path).map_err(read_error)?;
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let users = parse(&text).map_err(|line| HtpasswdError::Syntax {
        path: shown.clone(),
        line,
    })?;
    let decoy = users
        .values()
        .find(|hash| hash.starts_with("$2"))
        .cloned()
        .ok_or(HtpasswdError::Empty { path: shown })?;
    Ok(Entries {
        stamp,
        users,
        decoy,
    })
}

/// `user:hash` lines; blank lines and lines starting with `#` are skipped, as the
/// reference does. Returns the 1-based number of a line that is not an entry. Only bcrypt
/// hashes can ever match (other schemes are in the map but fail verification).
fn parse(text: &str) -> Result<HashMap<String, String>, usize> {
    let mut users = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, hash) = line.split_once(':').ok_or(number + 1)?;
        users.insert(user.to_owned(), hash.to_owned());
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    // bcrypt at the minimum cost keeps the tests fast; the cost is part of the hash.
    fn entry(user: &str, password: &str) -> String {
        format!("{user}:{}\n", bcrypt::hash(password, 4).unwrap())
    }

    #[test]
    fn parses_like_the_reference() {
        let users = parse("# comment\n\n alice:$2y$05$abc \nbob:x:y\n").unwrap();
        assert_eq!(users["alice"], "$2y$05$abc");
        assert_eq!(users["bob"], "x:y");
        assert_eq!(parse("alice:h\nnocolon\n"), Err(2));
    }

    #[tokio::test]
    async fn verifies_and_reloads_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, entry("alice", "one") + &entry("bob", "two")).unwrap();
        let file = Htpasswd::open(&path).unwrap();
        assert!(file.verify("alice", "one").await);
        assert!(file.verify("alice", "one").await, "cached");
        assert!(!file.verify("alice", "two").await);
        assert!(!file.verify("carol", "two").await);
        assert!(!file.verify("", "").await);

        std::fs::write(&path, entry("carol", "three")).unwrap();
        *file.last_check.lock().unwrap() = Instant::now() - RECHECK;
        assert!(file.verify("carol", "three").await);
        assert!(
            !file.verify("alice", "one").await,
            "a removed user's cached success is dropped"
        );

        // An invalid new file keeps the previous users.
        std::fs::write(&path, "garbage\n").unwrap();
        *file.last_check.lock().unwrap() = Instant::now() - RECHECK;
        assert!(file.verify("carol", "three").await);
    }

    #[test]
    fn refuses_missing_or_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        assert!(matches!(
            Htpasswd::open(&path),
            Err(HtpasswdError::Read { .. })
        ));
        std::fs::write(&path, "# nobody\n").unwrap();
        assert!(matches!(
            Htpasswd::open(&path),
            Err(HtpasswdError::Empty { .. })
        ));
    }
}
