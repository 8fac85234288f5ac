//! The bytes of one cache entry: the tokens it was filled under, then its payload.
//!
//! ```text
//! <token>,<token>,...\n<payload>
//! ```
//!
//! A blob stat's payload is `<size> <seconds> <nanoseconds>` (modification time since the
//! Unix epoch); a content entry's payload is the content itself.

use std::time::{Duration, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use registry_core::storage::{FileInfo, StoragePath};

/// The tokens joined as an entry records them; `None` when one is missing (a fill then does
/// not cache, and a lookup does not trust the entry).
pub fn token_line(tokens: &[Option<Bytes>]) -> Option<Vec<u8>> {
    let mut line = Vec::with_capacity(tokens.len() * 17);
    for (i, token) in tokens.iter().enumerate() {
        let token = token.as_ref()?;
        if i > 0 {
            line.push(b',');
        }
        line.extend_from_slice(token);
    }
    Some(line)
}

pub fn encode(tokens: &[u8], payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(tokens.len() + 1 + payload.len());
    out.extend_from_slice(tokens);
    out.extend_from_slice(b"\n");
    out.extend_from_slice(payload);
    out.freeze()
}

/// The payload of `entry` if it was filled under exactly `tokens`.
pub fn valid_payload(entry: &Bytes, tokens: &[u8]) -> Option<Bytes> {
    let newline = entry.iter().position(|b| *b == b'\n')?;
    (&entry[..newline] == tokens).then(|| entry.slice(newline + 1..))
}

pub fn stat_payload(info: &FileInfo) -> Vec<u8> {
    let since = info.mod_time.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{} {} {}", info.size, since.as_secs(), since.subsec_nanos()).into_bytes()
}

pub fn decode_stat(path: &StoragePath, payload: &[u8]) -> Option<FileInfo> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.split(' ');
    let size = parts.next()?.parse().ok()?;
    let secs = parts.next()?.parse().ok()?;
    let nanos = parts.next()?.parse().ok()?;
    Some(FileInfo {
        path: path.clone(),
        size,
        mod_time: UNIX_EPOCH.checked_add(Duration::new(secs, nanos))?,
        is_dir: false,
    })
}

/// A fresh token: 64 random bits in hex.
pub fn fresh_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_only_under_its_tokens() {
        let tokens = token_line(&[Some(Bytes::from("a")), Some(Bytes::from("b"))]).unwrap();
        assert_eq!(tokens, b"a,b");
        let entry = encode(&tokens, b"payload\nwith newline");
        assert_eq!(
            valid_payload(&entry, b"a,b").as_deref(),
            Some(&b"payload\nwith newline"[..])
        );
        assert_eq!(valid_payload(&entry, b"a,c"), None);
        assert_eq!(token_line(&[Some(Bytes::from("a")), None]), None);
    }

    #[test]
    fn a_stat_round_trips() {
        let path = StoragePath::parse("/x/data").unwrap();
        let info = FileInfo {
            path: path.clone(),
            size: 42,
            mod_time: UNIX_EPOCH + Duration::new(1_700_000_000, 123),
            is_dir: false,
        };
        assert_eq!(decode_stat(&path, &stat_payload(&info)), Some(info));
    }
}
