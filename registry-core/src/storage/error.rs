use std::error::Error as StdError;

/// Every failure of a storage driver. Each variant names the driver, so that a log line or a
/// test failure says which backend answered.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{driver}: path not found: {path}")]
    PathNotFound { driver: &'static str, path: String },

    #[error("{driver}: invalid path {path:?}: {reason}")]
    InvalidPath {
        driver: &'static str,
        path: String,
        reason: &'static str,
    },

    #[error("{driver}: invalid offset {offset} for {path}")]
    InvalidOffset {
        driver: &'static str,
        path: String,
        offset: i64,
    },

    #[error("{driver}: unsupported operation: {operation}")]
    Unsupported {
        driver: &'static str,
        operation: &'static str,
    },

    #[error("{driver}: {context}: {source}")]
    Backend {
        driver: &'static str,
        context: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    pub fn not_found(driver: &'static str, path: impl ToString) -> Self {
        StorageError::PathNotFound {
            driver,
            path: path.to_string(),
        }
    }

    pub fn invalid_offset(driver: &'static str, path: impl ToString, offset: i64) -> Self {
        StorageError::InvalidOffset {
            driver,
            path: path.to_string(),
            offset,
        }
    }

    pub fn backend(
        driver: &'static str,
        context: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StorageError::Backend {
            driver,
            context: context.into(),
            source: source.into(),
        }
    }

    pub fn driver(&self) -> &'static str {
        match self {
            StorageError::PathNotFound { driver, .. }
            | StorageError::InvalidPath { driver, .. }
            | StorageError::InvalidOffset { driver, .. }
            | StorageError::Unsupported { driver, .. }
            | StorageError::Backend { driver, .. } => driver,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::PathNotFound { .. })
    }
}
