//! The registry's vocabulary: digests, repository names, references, media types and
//! manifests, each valid by construction and checked against the OCI distribution grammar.

pub mod digest;
mod json_keys;
pub mod manifest;
mod manifest_de;
pub mod media_types;
pub mod name;
pub mod reference;

pub use digest::{Algorithm, Digest, DigestHasher, InvalidDigest};
pub use manifest::{Descriptor, ParsedManifest};
pub use name::{InvalidName, RepositoryName};
pub use reference::{InvalidReference, Reference, Tag};
