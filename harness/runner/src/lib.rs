//! Test orchestration: everything between `labrys test ...` and a verdict in a run folder.
//!
//! - [`options`]: what a test run is asked to do, validated before anything is touched;
//! - [`nodes`]: getting the nodes (a local namespace cluster, given hosts, or this machine);
//! - [`workload`]: the client op schedules (the independent-key cas register, final reads);
//! - [`progress`]: the live progress line on stderr while the clients run;
//! - [`guard`]: the cleanup that heals every fault and tears down on every exit path;
//! - [`verdict`]: checking a recorded history and writing `results.json`;
//! - [`test_run`]: the whole test, step by step;
//! - [`analyze`]: re-checking a stored run without a cluster;
//! - [`matrix`]: `labrys test-all`, many tests and one summary;
//! - [`junit`]: the verdicts of `check`, `test` and `test-all` as JUnit XML for CI.
//!
//! Exit codes follow `labrys check`: 0 valid, 1 invalid, 2 unknown, 3 error.

pub mod analyze;
pub mod guard;
pub mod junit;
pub mod matrix;
pub mod nodes;
pub mod options;
pub mod progress;
pub mod report;
pub mod test_run;
pub mod verdict;
pub mod workload;

pub use analyze::analyze;
pub use options::{NodeSpec, TestOptions};
pub use test_run::run_test;
pub use verdict::Outcome;
