//! The filesystem storage driver, with the on-disk layout of CNCF Distribution's: a storage
//! path `/a/b` is the file `<rootdirectory>/a/b`.
//!
//! - Atomic visibility: content is written under a temporary name and renamed on commit.
//! - Durable commits (configurable): file and directory are fsynced around the rename.
//! - Resumable writers across processes: `close` leaves progress in `<name>~partial`, which a
//!   later `writer(path, append = true)` extends in place. `~` cannot appear in a storage path,
//!   so these names never collide with content and listings hide them.
//! - Blocking file I/O runs on tokio's blocking pool, at most `maxthreads` operations at once.

mod blocking;
mod cached;
mod config;
mod driver;
mod files;
mod names;
mod reader;
mod writer;

pub use config::FsConfig;
pub use driver::FsDriver;
