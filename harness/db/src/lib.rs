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

/// What a bank client must know to set the bank up: the runner's bank workload transfers
/// between these accounts and the checker holds every read to this total.
pub mod bank {
    /// Accounts are `0..ACCOUNTS`.
    pub const ACCOUNTS: i64 = 8;
    /// The money in the bank; it all starts in account 0, the others at 0.
    pub const TOTAL: i64 = 100;
    /// A transfer moves 1 to this much.
    pub const MAX_TRANSFER: i64 = 5;

    /// Each account's balance before the first op: `(account, balance)`.
    pub fn initial() -> impl Iterator<Item = (i64, i64)> {
        (0..ACCOUNTS).map(|a| (a, if a == 0 { TOTAL } else { 0 }))
    }
}

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

/// Runs `script` on `node` as the step `step`: its stdout, or an error naming the node, the
/// step, the exit status and what the script printed.
pub fn sh_step(
    node: &dyn Remote,
    step: &str,
    script: &str,
    timeout: Duration,
) -> Result<String, DbError> {
    let out = node
        .sh(script, timeout)
        .map_err(|e| DbError::node(node.node(), step, e))?;
    if !out.success() {
        return Err(DbError::node(node.node(), step, out.failure()));
    }
    Ok(out.stdout)
}

/// A script installing Debian `packages` on a node unless `present` (a shell test, such as
/// `[ -x /usr/sbin/redis-server ]`) holds already; it fails when `present` still does not
/// hold afterwards. Package scripts start no service while it runs (policy-rc.d), since
/// labrys runs its own servers.
pub fn install_script(present: &str, packages: &[&str]) -> String {
    let pkgs = packages.join(" ");
    format!(
        "{present} && exit 0\n\
         export DEBIAN_FRONTEND=noninteractive\n\
         made=\n\
         if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d; \
         chmod 755 /usr/sbin/policy-rc.d; made=1; fi\n\
         apt-get install -y -qq --no-install-recommends {pkgs} >/dev/null 2>&1 || \
         {{ apt-get update -qq && apt-get install -y -qq --no-install-recommends {pkgs}; }}\n\
         rc=$?\n\
         [ -n \"$made\" ] && rm -f /usr/sbin/policy-rc.d\n\
         [ $rc = 0 ] || exit $rc\n\
         {present}\n"
    )
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
    /// The `--isolation` levels it runs transactions at; the first is the default. Empty for
    /// a database without transactions of that kind (`--isolation` is refused).
    pub isolations: &'static [Isolation],
}

/// One `--isolation` level of a database, and what its documentation promises at it.
#[derive(Clone, Copy, Debug)]
pub struct Isolation {
    /// `--isolation` name: `read-committed`, `repeatable-read` or `serializable`.
    pub name: &'static str,
    /// The consistency models the database documents for this level, as the transactional
    /// checker names them: the run is checked against these (an anomaly they forbid makes it
    /// invalid; weaker anomalies are reported but do not).
    pub models: &'static [&'static str],
    /// Where the promise comes from, in a sentence (shown in `test.json` and the findings).
    pub promise: &'static str,
}

/// The names `--isolation` takes, for every database.
pub const ISOLATION_NAMES: &[&str] = &["read-committed", "repeatable-read", "serializable"];

/// The options of one test that concern the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbOptions {
    pub workload: String,
    /// `--db-opt key=value`, in the order given (a later one wins).
    pub opts: BTreeMap<String, String>,
    /// Where servers keep data and logs on each node (default: the database's own).
    pub dir: Option<String>,
    /// `--isolation`: the level transactions run at (default: the database's first).
    pub isolation: Option<String>,
    /// The run's folder on this machine, for what a database's clients write there (a
    /// subprocess client's stderr, say); `None` outside a run.
    pub run_dir: Option<std::path::PathBuf>,
}

impl DbInfo {
    /// The level a test runs at: the one `--isolation` names, else the database's default.
    /// `None` for a database without levels, or a name it does not know.
    pub fn isolation(&self, o: &DbOptions) -> Option<&'static Isolation> {
        match &o.isolation {
            Some(name) => self.isolations.iter().find(|i| i.name == name),
            None => self.isolations.first(),
        }
    }

    /// Whether this database runs `workload`: an error naming the ones it runs otherwise.
    pub fn runs(&self, workload: &str) -> Result<(), DbError> {
        if self.workloads.contains(&workload) {
            return Ok(());
        }
        Err(DbError::Option {
            option: "--workload".into(),
            msg: format!(
                "{workload:?}: {} runs {}",
                self.name,
                self.workloads.join(", ")
            ),
        })
    }

    /// Checks the workload, the isolation level and every `--db-opt` against this
    /// database's facts.
    pub fn validate(&self, o: &DbOptions) -> Result<(), DbError> {
        if let Some(level) = &o.isolation {
            if !ISOLATION_NAMES.contains(&level.as_str()) {
                return Err(DbError::Option {
                    option: "--isolation".into(),
                    msg: format!("{level:?}: expected one of {}", ISOLATION_NAMES.join(", ")),
                });
            }
            if self.isolations.is_empty() {
                return Err(DbError::Option {
                    option: "--isolation".into(),
                    msg: format!(
                        "{}: has no transaction isolation levels to choose",
                        self.name
                    ),
                });
            }
            if self.isolation(o).is_none() {
                let names: Vec<&str> = self.isolations.iter().map(|i| i.name).collect();
                return Err(DbError::Option {
                    option: "--isolation".into(),
                    msg: format!("{level:?}: {} runs at {}", self.name, names.join(", ")),
                });
            }
        }
        self.runs(&o.workload)?;
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
    /// Path on the node; or a shell glob (with `*`, `?` or `[`), whose every matching file
    /// is kept under its own name instead of `local`.
    pub remote: String,
    /// File name in the run's node folder.
    pub local: String,
}

impl LogFile {
    /// Whether `remote` is a glob.
    pub fn is_glob(&self) -> bool {
        self.remote.contains(['*', '?', '['])
    }
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
        isolations: &[],
    };

    const SQL: DbInfo = DbInfo {
        name: "sql",
        packages: &[],
        honours_faketime: true,
        faketime_note: "",
        workloads: &["bank"],
        options: &[],
        isolations: &[
            Isolation {
                name: "serializable",
                models: &["serializable"],
                promise: "",
            },
            Isolation {
                name: "read-committed",
                models: &["read-committed"],
                promise: "",
            },
        ],
    };

    #[test]
    fn install_scripts_are_valid_sh() {
        let s = install_script("[ -x /usr/sbin/x ]", &["a", "b"]);
        let ok = std::process::Command::new("sh")
            .args(["-n", "-c", &s])
            .status()
            .unwrap();
        assert!(ok.success(), "{s}");
        assert!(s.contains("install -y -qq --no-install-recommends a b"));
    }

    #[test]
    fn isolation_levels_are_the_databases_own() {
        let mut o = opts("bank", &[]);
        assert_eq!(SQL.isolation(&o).unwrap().name, "serializable");
        o.isolation = Some("read-committed".into());
        SQL.validate(&o).unwrap();
        assert_eq!(SQL.isolation(&o).unwrap().models, ["read-committed"]);
        o.isolation = Some("repeatable-read".into());
        let e = SQL.validate(&o).unwrap_err().to_string();
        assert_eq!(
            e,
            "--isolation: \"repeatable-read\": sql runs at serializable, read-committed"
        );
        o.isolation = Some("snapshot".into());
        let e = SQL.validate(&o).unwrap_err().to_string();
        assert!(e.contains("expected one of read-committed, repeatable-read, serializable"));
        let mut r = opts("set", &[]);
        assert!(INFO.isolation(&r).is_none());
        r.isolation = Some("serializable".into());
        let e = INFO.validate(&r).unwrap_err().to_string();
        assert_eq!(
            e,
            "--isolation: toy: has no transaction isolation levels to choose"
        );
    }

    fn opts(workload: &str, kv: &[(&str, &str)]) -> DbOptions {
        DbOptions {
            workload: workload.into(),
            opts: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir: None,
            isolation: None,
            run_dir: None,
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
