//! The database contract: what the runner and the nemesis know of a database, and nothing more.
//!
//! Jepsen's `db.clj` is the model: a few small protocols, each optional where a database may
//! not support it. Here:
//! - [`DbKind`] is a database before any node is touched: its facts ([`DbInfo`]: name,
//!   packages, whether libfaketime can shift its clock, the workloads it runs, its `--db-opt`
//!   keys), the check of a test's options against them, and opening it on a set of nodes;
//! - [`Db`] is that database on those nodes: install, wipe (stopping any server an earlier run
//!   left), start and wait for health, version, log files, and a [`Client`] per workload;
//! - [`Process`] (start/kill/pause/resume a server) and [`Primaries`] (which nodes lead) are
//!   capabilities a [`Db`] offers as `Option`s: faults that need one are refused up front for a
//!   database without it.
//!
//! API boundary: this crate names no database; database crates depend on it, the runner and
//! the nemesis depend on it, and only the `labrys` binary puts the two together.
//!
//! Invariants: every method that touches a node names the node and the step in its error;
//! `wipe` is safe on a node where the database never ran; `start_all` is idempotent.

pub mod fake;

use labrys_control::Remote;
use labrys_gen::Client;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Why a database step failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A step on one node (install, start, kill, wipe...).
    #[error("node {node}: {step} failed: {msg}")]
    Node {
        node: String,
        step: String,
        msg: String,
    },
    #[error("{db} did not become healthy within {secs} s: {detail}")]
    Unhealthy {
        db: String,
        secs: u64,
        detail: String,
    },
    /// An option this database does not accept (unknown workload, `--db-opt`, isolation).
    #[error("{option}: {msg}")]
    Option { option: String, msg: String },
    #[error("{0}")]
    Other(String),
}

impl DbError {
    pub fn node(node: &str, step: &str, msg: impl std::fmt::Display) -> DbError {
        DbError::Node {
            node: node.to_string(),
            step: step.to_string(),
            msg: msg.to_string(),
        }
    }
}

/// A `--db-opt` key a database accepts.
#[derive(Clone, Copy, Debug)]
pub struct DbOpt {
    pub key: &'static str,
    /// The values it takes (empty: any).
    pub values: &'static [&'static str],
    pub help: &'static str,
}

/// What is known of a database before any node is touched.
#[derive(Clone, Copy, Debug)]
pub struct DbInfo {
    /// `--db` name.
    pub name: &'static str,
    /// Debian packages a machine needs to run its servers.
    pub packages: &'static [&'static str],
    /// Whether libfaketime shifts its servers' clocks (C programs yes; Go, and Redis, no).
    pub honours_faketime: bool,
    /// Why not, when it does not (shown when a clock fault is refused).
    pub faketime_note: &'static str,
    /// Workload names (from the runner's workload table) this database runs.
    pub workloads: &'static [&'static str],
    /// Its `--db-opt` keys.
    pub options: &'static [DbOpt],
}

/// The options of one test that concern the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbOptions {
    pub workload: String,
    /// `--db-opt key=value`, in the order given (a later one wins).
    pub opts: BTreeMap<String, String>,
    /// Where servers keep data and logs on each node (default: the database's own).
    pub dir: Option<String>,
}

impl DbInfo {
    /// Checks the workload and every `--db-opt` against this database's facts.
    pub fn validate(&self, o: &DbOptions) -> Result<(), DbError> {
        if !self.workloads.contains(&o.workload.as_str()) {
            return Err(DbError::Option {
                option: "--workload".into(),
                msg: format!(
                    "{:?}: {} runs {}",
                    o.workload,
                    self.name,
                    self.workloads.join(", ")
                ),
            });
        }
        for (k, v) in &o.opts {
            let Some(opt) = self.options.iter().find(|d| d.key == k) else {
                let known: Vec<&str> = self.options.iter().map(|d| d.key).collect();
                return Err(DbError::Option {
                    option: "--db-opt".into(),
                    msg: format!(
                        "{k}: {} has no such option{}",
                        self.name,
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!(" (it has {})", known.join(", "))
                        }
                    ),
                });
            };
            if !opt.values.is_empty() && !opt.values.contains(&v.as_str()) {
                return Err(DbError::Option {
                    option: "--db-opt".into(),
                    msg: format!("{k}={v}: expected one of {}", opt.values.join(", ")),
                });
            }
        }
        Ok(())
    }
}

/// A boxed future, for the async steps of the contract.
pub type DbFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A database, before it has nodes (one entry of the binary's database table).
pub trait DbKind: Send + Sync {
    fn info(&self) -> &'static DbInfo;
    /// Checks a test's options against this database before anything runs: by default its
    /// facts ([`DbInfo::validate`]); a database adds rules that tie options together.
    fn validate(&self, opts: &DbOptions) -> Result<(), DbError> {
        self.info().validate(opts)
    }
    /// The database on `nodes` (no node is touched yet). Options were validated.
    fn open(&self, nodes: &[Arc<dyn Remote>], opts: &DbOptions) -> Result<Arc<dyn Db>, DbError>;
}

/// A file a server writes on each node, downloaded into the run folder at teardown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFile {
    /// Path on the node.
    pub remote: String,
    /// File name in the run's node folder.
    pub local: String,
}

/// A database on a set of nodes.
pub trait Db: Send + Sync {
    fn info(&self) -> &'static DbInfo;
    /// Installs the server on `node` unless it is there (apt over SSH on remote hosts).
    fn install(&self, node: &dyn Remote) -> Result<(), DbError>;
    /// The server's version, as `test.json` records it.
    fn version(&self, node: &dyn Remote) -> Result<String, DbError>;
    /// Stops every server of this database on `node` that labrys started (by pid file, or
    /// found otherwise when an earlier run was killed) and removes its data and logs. Returns
    /// how many servers it found without their pid file.
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError>;
    /// Starts the servers that are not running on every node and waits up to `timeout` for
    /// the database to be healthy. Idempotent.
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>>;
    /// The files worth keeping from each node.
    fn log_files(&self) -> Vec<LogFile> {
        Vec::new()
    }
    /// The client that runs `workload`'s ops (one of `info().workloads`).
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError>;
    /// Starting and signalling servers, for kill and pause faults.
    fn process(&self) -> Option<Arc<dyn Process>> {
        None
    }
    /// Which nodes lead, for faults aimed at primaries.
    fn primaries(&self) -> Option<Arc<dyn Primaries>> {
        None
    }
}

/// Starting and signalling a database's server on one node.
pub trait Process: Send + Sync {
    /// Starts the server (again) on `node`; used after a kill.
    fn start(&self, node: &dyn Remote) -> Result<(), DbError>;
    /// SIGKILLs the server on `node`.
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError>;
    /// SIGSTOPs the server on `node`.
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError>;
    /// SIGCONTs the server on `node`.
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError>;
}

/// The nodes that currently lead.
pub trait Primaries: Send + Sync {
    /// Names of the leading nodes (empty when unknown).
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: DbInfo = DbInfo {
        name: "toy",
        packages: &[],
        honours_faketime: false,
        faketime_note: "",
        workloads: &["register", "set"],
        options: &[DbOpt {
            key: "reads",
            values: &["plain", "sync"],
            help: "",
        }],
    };

    fn opts(workload: &str, kv: &[(&str, &str)]) -> DbOptions {
        DbOptions {
            workload: workload.into(),
            opts: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir: None,
        }
    }

    #[test]
    fn options_are_checked_against_the_databases_facts() {
        INFO.validate(&opts("set", &[("reads", "sync")])).unwrap();
        let e = INFO.validate(&opts("bank", &[])).unwrap_err().to_string();
        assert_eq!(e, "--workload: \"bank\": toy runs register, set");
        let e = INFO
            .validate(&opts("register", &[("reads", "fast")]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--db-opt: reads=fast: expected one of plain, sync");
        let e = INFO
            .validate(&opts("register", &[("speed", "1")]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--db-opt: speed: toy has no such option (it has reads)");
    }
}
