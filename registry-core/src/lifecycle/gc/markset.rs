//! The set of marked blobs, in bounded memory.
//!
//! Digests are kept as fixed records of [`RECORD`] bytes (an algorithm tag, then the raw digest
//! bytes, zero-padded), so a sha256 blob costs 65 bytes, not a string. Records collect in one
//! chunk of at most `chunk_records`; a full chunk is sorted, deduplicated and written to a
//! temporary file as a sorted run. [`MarkSet::finish`] merges the runs (and the last chunk)
//! into one ascending stream. The blob walk visits `blobs/<alg>/<2 hex>/<hex>/data` in the same
//! order (algorithm name, then hex, which is the order of the raw bytes), so membership is a
//! merge of two sorted streams: memory is one chunk plus one buffered record per run, whatever
//! the number of blobs. With the default chunk (1 Mi records, 65 MiB), ten million marked blobs
//! take ten runs of 65 MiB on disk.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Write};

use crate::domain::{Algorithm, Digest};

/// Bytes of one record: a tag byte and up to 64 digest bytes (sha512).
pub const RECORD: usize = 65;

/// The default number of records held in memory before a run is spilled.
pub const DEFAULT_CHUNK_RECORDS: usize = 1 << 20;

pub type Key = [u8; RECORD];

/// The record of a digest; it sorts like the blob walk visits blobs.
pub fn key_of(digest: &Digest) -> Key {
    let mut key = [0u8; RECORD];
    // Tags in the order of the algorithm directories' names.
    key[0] = match digest.algorithm() {
        Algorithm::Sha256 => 1,
        Algorithm::Sha512 => 2,
    };
    if let Ok(bytes) = hex::decode(digest.hex()) {
        let n = bytes.len().min(RECORD - 1);
        key[1..=n].copy_from_slice(&bytes[..n]);
    }
    key
}

/// Marked digests, spilling sorted runs to temporary files.
pub struct MarkSet {
    chunk: Vec<Key>,
    chunk_records: usize,
    runs: Vec<std::fs::File>,
    marked: u64,
}

impl MarkSet {
    pub fn new(chunk_records: usize) -> Self {
        MarkSet {
            chunk: Vec::new(),
            chunk_records: chunk_records.max(1),
            runs: Vec::new(),
            marked: 0,
        }
    }

    /// Marks made, counting repeats.
    pub fn marks(&self) -> u64 {
        self.marked
    }

    /// How many runs went to disk (for tests and the report).
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    pub fn insert(&mut self, digest: &Digest) -> std::io::Result<()> {
        self.marked += 1;
        self.chunk.push(key_of(digest));
        if self.chunk.len() >= self.chunk_records {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> std::io::Result<()> {
        self.chunk.sort_unstable();
        self.chunk.dedup();
        let mut file = tempfile::tempfile()?;
        {
            let mut out = BufWriter::new(&mut file);
            for key in &self.chunk {
                out.write_all(key)?;
            }
            out.flush()?;
        }
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))?;
        self.runs.push(file);
        self.chunk.clear();
        Ok(())
    }

    /// The marked digests, ascending, each once.
    pub fn finish(mut self) -> std::io::Result<Sorted> {
        self.chunk.sort_unstable();
        self.chunk.dedup();
        let mut sources: Vec<Source> =
            vec![Source::Memory(std::mem::take(&mut self.chunk).into_iter())];
        sources.extend(
            self.runs
                .into_iter()
                .map(|f| Source::File(BufReader::new(f))),
        );
        let mut heap = BinaryHeap::new();
        for (index, source) in sources.iter_mut().enumerate() {
            if let Some(key) = source.next()? {
                heap.push(Head { key, source: index });
            }
        }
        Ok(Sorted { sources, heap })
    }
}

enum Source {
    Memory(std::vec::IntoIter<Key>),
    File(BufReader<std::fs::File>),
}

impl Source {
    fn next(&mut self) -> std::io::Result<Option<Key>> {
        match self {
            Source::Memory(keys) => Ok(keys.next()),
            Source::File(reader) => {
                let mut key = [0u8; RECORD];
                match reader.read_exact(&mut key) {
                    Ok(()) => Ok(Some(key)),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// The smallest unread record of one source (a min-heap entry).
#[derive(PartialEq, Eq)]
struct Head {
    key: Key,
    source: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The merged runs of marked records, read in ascending order.
pub struct Sorted {
    sources: Vec<Source>,
    heap: BinaryHeap<Head>,
}

impl Sorted {
    /// Drops the smallest record and refills from its source.
    fn advance(&mut self) -> std::io::Result<()> {
        if let Some(Head { source, .. }) = self.heap.pop()
            && let Some(next) = self.sources[source].next()?
        {
            self.heap.push(Head { key: next, source });
        }
        Ok(())
    }

    /// Membership for keys asked in ascending order: true when `key` was marked. Records
    /// below `key` are passed over for good (duplicates across runs included).
    pub fn contains_ascending(&mut self, key: &Key) -> std::io::Result<bool> {
        loop {
            match self.heap.peek() {
                Some(head) if &head.key < key => self.advance()?,
                Some(head) => return Ok(&head.key == key),
                None => return Ok(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_runs_merge_into_one_sorted_set() {
        let digests: Vec<Digest> = (0..1000u32)
            .map(|i| Digest::sha256_of(&(i % 700).to_le_bytes()))
            .collect();
        let mut set = MarkSet::new(64);
        for d in &digests {
            set.insert(d).unwrap();
        }
        assert!(set.spilled_runs() >= 10, "runs: {}", set.spilled_runs());
        let mut sorted = set.finish().unwrap();
        let mut keys: Vec<Key> = (0..1400u32)
            .map(|i| key_of(&Digest::sha256_of(&i.to_le_bytes())))
            .collect();
        keys.sort_unstable();
        let mut found = 0;
        for key in &keys {
            if sorted.contains_ascending(key).unwrap() {
                found += 1;
            }
        }
        assert_eq!(found, 700);
    }

    #[test]
    fn keys_sort_like_the_blob_walk() {
        let a: Digest = format!("sha256:{}", "0f".repeat(32)).parse().unwrap();
        let b: Digest = format!("sha256:{}", "10".repeat(32)).parse().unwrap();
        let c: Digest = format!("sha512:{}", "00".repeat(64)).parse().unwrap();
        assert!(key_of(&a) < key_of(&b));
        assert!(key_of(&b) < key_of(&c));
    }
}
