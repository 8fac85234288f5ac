//! Content digests (`algorithm:encoded`), and hashing into them.

use std::fmt;
use std::str::FromStr;

use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest as _, Sha256, Sha512};

/// The digest algorithms a registry must verify. Other registered algorithms (blake3) and
/// unknown ones are refused rather than trusted unverified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated digest such as `sha256:` followed by 64 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    /// The whole `algorithm:hex` string, kept to avoid re-formatting on every use.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {digest:?}: {reason}")]
pub struct InvalidDigest {
    pub digest: String,
    pub reason: &'static str,
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded part (after `algorithm:`).
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.name().len() + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn sha256_of(data: &[u8]) -> Digest {
        let mut hasher = DigestHasher::new(Algorithm::Sha256);
        hasher.update(data);
        hasher.finish()
    }

    pub fn of(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(data);
        hasher.finish()
    }

    fn from_parts(algorithm: Algorithm, hex: &str) -> Digest {
        Digest {
            algorithm,
            text: format!("{}:{hex}", algorithm.name()),
        }
    }
}

impl FromStr for Digest {
    type Err = InvalidDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| InvalidDigest {
            digest: s.chars().take(200).collect(),
            reason,
        };
        let (algorithm, encoded) = s.split_once(':').ok_or_else(|| invalid("missing ':'"))?;
        if !is_algorithm_grammar(algorithm) {
            return Err(invalid("malformed algorithm"));
        }
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(invalid("unsupported digest algorithm")),
        };
        if encoded.len() != algorithm.hex_len() {
            return Err(invalid("wrong length for the algorithm"));
        }
        if !encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid("encoded part must be lowercase hex"));
        }
        Ok(Digest::from_parts(algorithm, encoded))
    }
}

/// `[a-z0-9]+(?:[.+_-][a-z0-9]+)*`
fn is_algorithm_grammar(s: &str) -> bool {
    !s.is_empty()
        && s.split(['.', '+', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A running hash in one of the supported algorithms.
#[derive(Clone)]
pub enum DigestHasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// Version tag of serialized hash states: the bytes are `sha2`'s internal layout, so a
/// different layout must never be resumed as if it were this one.
const STATE_FORMAT: u8 = 1;

impl DigestHasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => DigestHasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => DigestHasher::Sha512(Sha512::new()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            DigestHasher::Sha256(_) => Algorithm::Sha256,
            DigestHasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            DigestHasher::Sha256(h) => h.update(data),
            DigestHasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let hex = match self {
            DigestHasher::Sha256(h) => hex::encode(h.finalize()),
            DigestHasher::Sha512(h) => hex::encode(h.finalize()),
        };
        Digest::from_parts(algorithm, &hex)
    }

    /// The partial state, to resume hashing in another process without re-reading the data.
    pub fn save_state(&self) -> Vec<u8> {
        let mut out = vec![STATE_FORMAT];
        match self {
            DigestHasher::Sha256(h) => out.extend_from_slice(&h.serialize()),
            DigestHasher::Sha512(h) => out.extend_from_slice(&h.serialize()),
        }
        out
    }

    /// Restores a state written by [`DigestHasher::save_state`]; `None` if it is not one.
    pub fn restore_state(algorithm: Algorithm, saved: &[u8]) -> Option<Self> {
        let (&format, state) = saved.split_first()?;
        if format != STATE_FORMAT {
            return None;
        }
        match algorithm {
            Algorithm::Sha256 => {
                let array = state.try_into().ok()?;
                Sha256::deserialize(array).ok().map(DigestHasher::Sha256)
            }
            Algorithm::Sha512 => {
                let array = state.try_into().ok()?;
                Sha512::deserialize(array).ok().map(DigestHasher::Sha512)
            }
        }
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Published test vectors (FIPS 180-2 appendix B / NIST CSHA examples), so that digest
    /// expectations elsewhere, computed with `Digest::of`, rest on something outside the code.
    #[test]
    fn known_answers() {
        let million_a = vec![b'a'; 1_000_000];
        let cases: [(Algorithm, &[u8], &str); 7] = [
            (
                Algorithm::Sha256,
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                Algorithm::Sha256,
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Algorithm::Sha256,
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                Algorithm::Sha256,
                &million_a,
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            ),
            (
                Algorithm::Sha512,
                b"",
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            ),
            (
                Algorithm::Sha512,
                b"abc",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (
                Algorithm::Sha512,
                &million_a,
                "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
            ),
        ];
        for (algorithm, data, hex) in cases {
            let expected = format!("{}:{hex}", algorithm.name());
            assert_eq!(Digest::of(algorithm, data).as_str(), expected);
            // The streaming hasher, fed in uneven pieces, and through a saved state.
            let mut hasher = DigestHasher::new(algorithm);
            let (head, tail) = data.split_at(data.len() / 3);
            hasher.update(head);
            let mut hasher = DigestHasher::restore_state(algorithm, &hasher.save_state()).unwrap();
            for piece in tail.chunks(4099) {
                hasher.update(piece);
            }
            assert_eq!(hasher.finish().as_str(), expected);
        }
    }

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_formats() {
        let d: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.as_str(), EMPTY_SHA256);
        assert_eq!(d.hex().len(), 64);
        assert_eq!(Digest::sha256_of(b""), d);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha256:abc",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:../../etc/passwd",
            ":e3b0",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn saved_state_resumes_to_same_digest() {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
            let mut first = DigestHasher::new(algorithm);
            first.update(&data[..3333]);
            let saved = first.save_state();
            let mut resumed = DigestHasher::restore_state(algorithm, &saved).unwrap();
            resumed.update(&data[3333..]);
            assert_eq!(resumed.finish(), Digest::of(algorithm, &data));
        }
        assert!(DigestHasher::restore_state(Algorithm::Sha256, b"garbage").is_none());
        assert!(DigestHasher::restore_state(Algorithm::Sha256, &[]).is_none());
    }
}
