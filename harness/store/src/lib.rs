//! Where a labrys test run lives on disk, and the recorder that makes its history durable.
//!
//! A run folder is `store/<test-name>/<timestamp>/` holding `history.jsonl` (appended op by op
//! as the test runs), `test.json` (options, seed, nodes, versions), `results.json` (the
//! checker's verdict), `labrys.log` (the harness's own progress log) and one folder per node
//! with the logs downloaded at teardown (`n1/etcd.log`). `store/latest` and
//! `store/<test-name>/latest` point at the newest run, so `labrys analyze` needs no argument.
//!
//! - [`run_dir`]: creating, opening and resolving run folders, and the `latest` links;
//! - [`recorder`]: the append-only, flushed-per-op history writer;
//! - [`log`]: the run's progress log (stderr and `labrys.log` at once);
//! - [`timestamp`]: the UTC timestamps used as folder names.

pub mod error;
pub mod log;
pub mod recorder;
pub mod run_dir;
pub mod timestamp;

pub use error::StoreError;
pub use log::RunLog;
pub use recorder::{read_history, Recorder};
pub use run_dir::{resolve_run, RunDir};
