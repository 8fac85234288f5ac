//! The storage-driver abstraction.
//!
//! Drivers implement [`StorageDriver`], which receives paths that are already validated.
//! Everything else talks to a driver through [`Storage`], which validates paths once for every
//! driver, the way CNCF Distribution's `base` wrapper does.

mod driver;
mod error;
mod handle;
pub mod params;
mod path;
mod ranged;
pub mod walk;

#[cfg(feature = "driver-benches")]
pub mod bench;
#[cfg(feature = "contract-tests")]
pub mod contract;

pub use driver::{
    ByteStream, FileInfo, FileWriter, PendingWrite, RedirectMethod, StorageDriver, TimedContent,
    WalkControl, WalkFn,
};
pub use error::{Result, StorageError};
pub use handle::Storage;
pub use params::{DriverParameters, ParameterError};
pub use path::{InvalidPath, StoragePath};
