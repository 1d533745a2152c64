//! Errors a history can cause: unreadable bytes, bad syntax, a malformed history, or one too
//! large for the memory it may use. Each names the file, the line and column, what was found
//! and what was expected, because the person reading it has a 1 GB file and no idea where to
//! look.
//!
//! Columns are 1-based byte offsets in the line. A column of 0 means "none known": only errors
//! raised outside the readers by code that knows a line but not a record (a checker's own
//! message about an op) can lack one, and [`Error::with_col`] fills it in from the op read at
//! that line.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text could not be read as the format: syntax, encoding, truncation.
    #[error("{file}:{line}:{col}: {msg}")]
    Syntax {
        file: String,
        line: u32,
        col: u32,
        msg: String,
    },
    /// The records parse but do not form a history (pairing, missing fields, bad types).
    #[error("{file}:{}: {msg}", Place(*line, *col))]
    Malformed {
        file: String,
        line: u32,
        /// 0 when unknown.
        col: u32,
        msg: String,
    },
    /// Reading stopped because holding more of the history would pass the memory limit
    /// (`--memory-limit`, or the default). Not a fault of the file: `labrys check` answers
    /// `unknown` (exit 2) with this message.
    #[error("{file}:{line}:{col}: {msg}")]
    OverMemoryLimit {
        file: String,
        line: u32,
        col: u32,
        msg: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

/// `line:col`, or `line` alone when the column is unknown (0).
struct Place(u32, u32);

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place(line, 0) => write!(f, "{line}"),
            Place(line, col) => write!(f, "{line}:{col}"),
        }
    }
}

impl Error {
    pub fn syntax(file: &str, line: u32, col: u32, msg: impl fmt::Display) -> Error {
        Error::Syntax {
            file: file.to_string(),
            line,
            col,
            msg: msg.to_string(),
        }
    }

    /// A malformed history at a line whose column is not known (see [`Error::with_col`]).
    pub fn malformed(file: &str, line: u32, msg: impl fmt::Display) -> Error {
        Error::malformed_at(file, line, 0, msg)
    }

    /// A malformed history at `line`:`col`.
    pub fn malformed_at(file: &str, line: u32, col: u32, msg: impl fmt::Display) -> Error {
        Error::Malformed {
            file: file.to_string(),
            line,
            col,
            msg: msg.to_string(),
        }
    }

    pub fn over_memory_limit(file: &str, line: u32, col: u32, msg: impl fmt::Display) -> Error {
        Error::OverMemoryLimit {
            file: file.to_string(),
            line,
            col,
            msg: msg.to_string(),
        }
    }

    pub fn io(file: &str, source: std::io::Error) -> Error {
        Error::Io {
            file: file.to_string(),
            source,
        }
    }

    /// Fills in a missing column: `col_of(line)` gives the column of the record at that line.
    pub fn with_col(self, col_of: impl FnOnce(u32) -> Option<u32>) -> Error {
        match self {
            Error::Malformed {
                file,
                line,
                col: 0,
                msg,
            } if line > 0 => {
                let col = col_of(line).unwrap_or(0);
                Error::Malformed {
                    file,
                    line,
                    col,
                    msg,
                }
            }
            other => other,
        }
    }
}
