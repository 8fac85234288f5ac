use std::path::PathBuf;

use registry_core::storage::{DriverParameters, ParameterError};

/// The reference registry's lower bound for `maxthreads`: below it, a busy registry deadlocks
/// waiting for file operations.
const MIN_THREADS: u64 = 25;

/// Settings of the filesystem driver (`storage.filesystem` in the config file).
#[derive(Debug, Clone)]
pub struct FsConfig {
    /// `rootdirectory`: where everything is stored.
    pub root_directory: PathBuf,
    /// `maxthreads`: at most this many blocking file operations run at once (default 100).
    pub max_threads: usize,
    /// `fsync`: flush files and directories to disk before a commit returns (default true).
    pub fsync: bool,
}

impl FsConfig {
    pub const DEFAULT_ROOT: &str = "/var/lib/registry";
    pub const DEFAULT_MAX_THREADS: u64 = 100;

    pub fn new(root_directory: impl Into<PathBuf>) -> Self {
        FsConfig {
            root_directory: root_directory.into(),
            max_threads: Self::DEFAULT_MAX_THREADS as usize,
            fsync: true,
        }
    }

    pub fn from_parameters(params: &DriverParameters) -> Result<Self, ParameterError> {
        let root = params
            .string("rootdirectory")?
            .unwrap_or_else(|| Self::DEFAULT_ROOT.to_owned());
        let max_threads = params.u64("maxthreads", Self::DEFAULT_MAX_THREADS)?;
        if max_threads < MIN_THREADS {
            return Err(params.invalid(
                "maxthreads",
                format!("{max_threads} is below the minimum of {MIN_THREADS}"),
            ));
        }
        Ok(FsConfig {
            root_directory: PathBuf::from(root),
            max_threads: usize::try_from(max_threads)
                .map_err(|_| params.invalid("maxthreads", "too large"))?,
            fsync: params.bool("fsync", true)?,
        })
    }
}
