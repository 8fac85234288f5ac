//! The entries of an upload's directory, and what one listing of it says.
//!
//! ```text
//! _uploads/<id>/startedat                              the upload exists (the reference's name)
//! _uploads/<id>/data-<nonce>                           the bytes of one chunk, written once
//! _uploads/<id>/chunk-<start>-<end>-<nonce>-<parent>   that chunk's record: its place in the
//!                                                      upload, and the hash state after it
//! _uploads/<id>/lock-<expires ms>-<nonce>              a request's lease on the upload
//! ```
//!
//! Everything the upload's progress depends on is in the names, so one `list` answers "where
//! does the upload stand": the size is the end of the chain of records that starts at 0 with
//! parent `root` and continues, record by record, from each one's end and nonce. Nonces are
//! 16 random hex digits, new for every chunk and every lease, so each path is written by one
//! request only, once. Names stay short because some S3-compatible servers limit key length.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::storage::StoragePath;

pub(super) const STARTED_AT: &str = "startedat";

/// The parent named by the first chunk of an upload.
const ROOT: &str = "root";

const NONCE_LEN: usize = 16;

/// A fresh nonce: 64 random bits, as hex.
pub(super) fn new_nonce() -> String {
    let mut simple = uuid::Uuid::new_v4().simple().to_string();
    simple.truncate(NONCE_LEN);
    simple
}

fn is_nonce(text: &str) -> bool {
    text.len() == NONCE_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Digits only, no sign, no leading zeros: the one spelling of an offset, so that no two
/// names describe the same chunk.
fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// One committed chunk: bytes `start..end` of the upload, stored in `data-<nonce>`, written
/// after the chunk named `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Chunk {
    pub start: u64,
    pub end: u64,
    pub nonce: String,
    pub parent: String,
}

impl Chunk {
    /// The chunk a request writes after `chain` (the upload as it stood when it started).
    pub fn after(chain: &[Chunk], nonce: String, len: u64) -> Chunk {
        let (start, parent) = match chain.last() {
            Some(last) => (last.end, last.nonce.clone()),
            None => (0, ROOT.to_owned()),
        };
        Chunk {
            start,
            end: start + len,
            nonce,
            parent,
        }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn record_name(&self) -> String {
        format!(
            "chunk-{}-{}-{}-{}",
            self.start, self.end, self.nonce, self.parent
        )
    }

    pub fn data_name(&self) -> String {
        data_name(&self.nonce)
    }

    fn parse(name: &str) -> Option<Chunk> {
        let mut fields = name.strip_prefix("chunk-")?.split('-');
        let start = parse_number(fields.next()?)?;
        let end = parse_number(fields.next()?)?;
        let nonce = fields.next()?;
        let parent = fields.next()?;
        if fields.next().is_some() || end <= start || !is_nonce(nonce) {
            return None;
        }
        if !(is_nonce(parent) || (parent == ROOT && start == 0)) || parent == nonce {
            return None;
        }
        Some(Chunk {
            start,
            end,
            nonce: nonce.to_owned(),
            parent: parent.to_owned(),
        })
    }
}

pub(super) fn data_name(nonce: &str) -> String {
    format!("data-{nonce}")
}

/// A request's lease on an upload, valid until `expires_ms` (milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lock {
    pub expires_ms: u64,
    pub nonce: String,
}

impl Lock {
    pub fn new(nonce: String, lasting: Duration) -> Lock {
        let expires = SystemTime::now() + lasting;
        Lock {
            expires_ms: millis(expires),
            nonce,
        }
    }

    pub fn name(&self) -> String {
        format!("lock-{}-{}", self.expires_ms, self.nonce)
    }

    pub fn expired(&self) -> bool {
        self.expires_ms <= millis(SystemTime::now())
    }

    fn parse(name: &str) -> Option<Lock> {
        let (expires, nonce) = name.strip_prefix("lock-")?.split_once('-')?;
        let expires_ms = parse_number(expires)?;
        is_nonce(nonce).then(|| Lock {
            expires_ms,
            nonce: nonce.to_owned(),
        })
    }
}

/// When the lease an upload entry named `name` stands for expires; `None` if it is no lease.
pub(crate) fn lease_expiry(name: &str) -> Option<SystemTime> {
    Lock::parse(name).map(|lock| UNIX_EPOCH + Duration::from_millis(lock.expires_ms))
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What one listing of an upload's directory says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Listing {
    pub started: bool,
    pub chunks: Vec<Chunk>,
    pub locks: Vec<Lock>,
}

impl Listing {
    /// Reads the entry names; anything else (data objects, leftovers) is ignored.
    pub fn of(entries: &[StoragePath]) -> Listing {
        let mut listing = Listing::default();
        for entry in entries {
            let name = entry.as_str().rsplit('/').next().unwrap_or_default();
            if name == STARTED_AT {
                listing.started = true;
            } else if let Some(chunk) = Chunk::parse(name) {
                listing.chunks.push(chunk);
            } else if let Some(lock) = Lock::parse(name) {
                listing.locks.push(lock);
            }
        }
        listing
    }

    /// The upload's bytes, in order: from the chunk at 0 after `root`, each next chunk starts
    /// at the previous one's end and names it as parent. Under the lease there is one such
    /// chain; where an expired lease's late writer left a second chunk at the same place, the
    /// smallest nonce is taken, so every reader of the same listing sees the same upload.
    pub fn chain(&self) -> Vec<Chunk> {
        let mut chain: Vec<Chunk> = Vec::new();
        loop {
            let (offset, parent) = match chain.last() {
                Some(last) => (last.end, last.nonce.as_str()),
                None => (0, ROOT),
            };
            let next = self
                .chunks
                .iter()
                .filter(|c| c.start == offset && c.parent == parent)
                .min_by(|a, b| a.nonce.cmp(&b.nonce));
            match next {
                // A record that names itself through a cycle cannot occur (each parent
                // ends where its child starts, and offsets only grow), so this ends.
                Some(next) => chain.push(next.clone()),
                None => return chain,
            }
        }
    }

    /// Leases other than `own` that have not expired.
    pub fn live_locks_besides<'a>(&'a self, own: &'a str) -> impl Iterator<Item = &'a Lock> {
        self.locks
            .iter()
            .filter(move |l| l.nonce != own && !l.expired())
    }

    pub fn holds(&self, lock: &Lock) -> bool {
        self.locks.contains(lock)
    }
}

/// The upload's size after `chain`.
pub(super) fn end_of(chain: &[Chunk]) -> u64 {
    chain.last().map_or(0, |c| c.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<StoragePath> {
        names
            .iter()
            .map(|n| StoragePath::parse(&format!("/u/{n}")).unwrap())
            .collect()
    }

    const A: &str = "aaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccc";

    #[test]
    fn names_round_trip() {
        let chunk = Chunk::after(&[], A.to_owned(), 10);
        assert_eq!(chunk.record_name(), format!("chunk-0-10-{A}-root"));
        assert_eq!(Chunk::parse(&chunk.record_name()), Some(chunk.clone()));
        let next = Chunk::after(std::slice::from_ref(&chunk), B.to_owned(), 5);
        assert_eq!(next.record_name(), format!("chunk-10-15-{B}-{A}"));
        assert_eq!(Chunk::parse(&next.record_name()), Some(next));
        let lock = Lock::new(C.to_owned(), Duration::from_secs(60));
        assert_eq!(Lock::parse(&lock.name()), Some(lock.clone()));
        assert!(!lock.expired());
        assert!(
            Lock {
                expires_ms: 1,
                nonce: C.into()
            }
            .expired()
        );
    }

    #[test]
    fn malformed_names_are_not_entries() {
        for name in [
            "chunk-0-0-aaaaaaaaaaaaaaaa-root",                       // empty
            "chunk-5-3-aaaaaaaaaaaaaaaa-root",                       // backwards
            "chunk-00-3-aaaaaaaaaaaaaaaa-root",                      // two spellings of 0
            "chunk-3-9-aaaaaaaaaaaaaaaa-root",                       // root parent but not at 0
            "chunk-0-3-aaaaaaaaaaaaaaaa-aaaaaaaaaaaaaaaa",           // its own parent
            "chunk-0-3-AAAAAAAAAAAAAAAA-root",                       // upper case
            "chunk-0-3-aaaa-root",                                   // short nonce
            "chunk-0-3-aaaaaaaaaaaaaaaa-root-x",                     // extra field
            "chunk-0-99999999999999999999999-aaaaaaaaaaaaaaaa-root", // overflow
            "lock-12-short",
            "lock--aaaaaaaaaaaaaaaa",
            "data",
        ] {
            let listing = Listing::of(&paths(&[name]));
            assert!(
                listing.chunks.is_empty() && listing.locks.is_empty(),
                "{name}"
            );
        }
    }

    #[test]
    fn the_chain_follows_parents_and_picks_one_fork() {
        let names = [
            "startedat".to_owned(),
            format!("chunk-0-10-{B}-root"),
            format!("chunk-0-7-{C}-root"), // a late fork at 0: B wins (smaller nonce)
            format!("chunk-10-20-{A}-{B}"),
            format!("chunk-7-9-{A}-{C}"),   // continues the losing fork
            format!("chunk-20-30-{C}-{C}"), // invalid: its own parent, ignored
            format!("chunk-20-25-{C}-{B}"), // wrong parent: not after A
            format!("data-{A}"),
        ];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let listing = Listing::of(&paths(&names));
        assert!(listing.started);
        let chain = listing.chain();
        let nonces: Vec<&str> = chain.iter().map(|c| c.nonce.as_str()).collect();
        assert_eq!(nonces, [B, A]);
        assert_eq!(end_of(&chain), 20);
        assert_eq!(end_of(&[]), 0);
    }

    #[test]
    fn live_locks() {
        let live = Lock::new(A.to_owned(), Duration::from_secs(60));
        let dead = Lock {
            expires_ms: 5,
            nonce: B.to_owned(),
        };
        let listing = Listing::of(&paths(&[&live.name(), &dead.name()]));
        assert!(!listing.started);
        assert_eq!(listing.live_locks_besides(C).count(), 1);
        assert_eq!(listing.live_locks_besides(A).count(), 0);
        assert!(listing.holds(&live) && listing.holds(&dead));
    }
}
