//! Storage lifecycle: what makes storage shrink again.
//!
//! - [`gc`]: garbage collection (mark and sweep), offline (`registry garbage-collect`) and
//!   online (the server's collector), safe while other instances serve pushes.
//! - [`protocol`]: the request side of the collector's doom/revive protocol. Every request that
//!   relies on content already in storage (a manifest PUT, a cross-repository mount, an upload
//!   whose blob already exists) calls [`protocol::rely_on`] before it writes the link that
//!   makes the content reachable. The argument for why this closes the race is in [`gc`].
//! - [`retention`]: retention policies (keep the N most recently pushed tags, keep tags
//!   matching a pattern, remove untagged manifests older than an age).
//! - [`purge`]: upload purging (`storage.maintenance.uploadpurging`): abandoned uploads and
//!   their backend leftovers.

pub mod gc;
pub mod protocol;
pub mod purge;
pub mod retention;
