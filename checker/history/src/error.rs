//! Errors a history can cause: unreadable bytes, bad syntax, or a malformed history. Each
//! names the file, the line (and column where there is one), what was found and what was
//! expected, because the person reading it has a 1 GB file and no idea where to look.

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
    #[error("{file}:{line}: {msg}")]
    Malformed {
        file: String,
        line: u32,
        msg: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
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

    pub fn malformed(file: &str, line: u32, msg: impl fmt::Display) -> Error {
        Error::Malformed {
            file: file.to_string(),
            line,
            msg: msg.to_string(),
        }
    }

    pub fn io(file: &str, source: std::io::Error) -> Error {
        Error::Io {
            file: file.to_string(),
            source,
        }
    }
}
