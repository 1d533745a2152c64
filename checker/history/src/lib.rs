//! The history model of labrys and everything that reads one.
//!
//! - [`value`]: the EDN/JSON value type ops carry;
//! - [`op`]: one record (invoke/ok/fail/info) and its process;
//! - [`history`]: a paired, validated history;
//! - [`read`]: readers for JSON / JSON Lines, EDN and Jepsen log lines, with format detection;
//! - [`lint`]: what makes a history suspect (mislabelled failures, reused values ...);
//! - [`verdict`]: the result and options every checker shares.
//!
//! Nothing here does network or process I/O: this crate only parses and models.

pub mod error;
pub mod history;
pub mod lint;
pub mod op;
pub mod read;
pub mod value;
pub mod verdict;

pub use error::Error;
pub use history::{Call, History, Pair};
pub use op::{Op, OpType, Process};
pub use read::{read_file, read_file_with_hook, read_file_within, read_str, Format, ReadLimits};
pub use value::Value;
pub use verdict::{Anomaly, CheckOptions, CheckResult, Deadline, Validity, Warning};
