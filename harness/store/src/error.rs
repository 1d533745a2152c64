//! Errors of the store: every one names the path it concerns, so a user can look at it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("{path}: the history recorder failed earlier ({msg}); refusing to append more")]
    Broken { path: PathBuf, msg: String },
    #[error(transparent)]
    History(#[from] labrys_history::Error),
}

impl StoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
