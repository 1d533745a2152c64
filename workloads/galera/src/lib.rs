//! MariaDB Galera Cluster as a labrys database: a synchronous multi-primary cluster (MariaDB
//! 10.11 with the galera-4 provider, Debian's packages), every node accepting writes.
//!
//! - [`db`]: one `mariadbd` per node under `/opt/labrys-galera`, with labrys's own `my.cnf`
//!   (the node's address bound, `wsrep_on`, `gcomm://` naming every node, row binlog,
//!   interleaved auto-increment locks, rsync SST); the first node bootstraps the cluster on
//!   its first start only and joins like the others after a kill; kill, pause and resume by
//!   pid file; implements `labrys_db`'s `Db` and `Process` (no `Primaries`: every node is a
//!   primary, so there is no leader to aim at);
//! - [`client`]: list-append, rw-register and bank, each op one SQL transaction on the
//!   worker's node, every error classified as `fail` (rolled back) or `info` (may have
//!   committed).
//!
//! Isolation: Galera's documentation ("Isolation Levels", section "Intra-Node vs. Inter-Node
//! Isolation in Galera Cluster", galeracluster.com) says a node isolates its own transactions
//! as InnoDB does, that between nodes the "first committer wins" rule of certification also
//! removes lost updates (Codership describes this as snapshot isolation between nodes), and
//! that SERIALIZABLE holds only between transactions issued on the same node. InnoDB's own
//! REPEATABLE READ lets two transactions of one node lose an update unless
//! `innodb_snapshot_isolation=ON` (MariaDB 10.6.18/10.11.8 and later, default OFF before
//! 11.6), which makes a write to a row changed since the read view fail with error 1020. So
//! labrys runs it ON by default (`--db-opt snapshot-isolation=off` to see InnoDB's default),
//! and at both levels holds the cluster to what is promised across nodes: snapshot
//! isolation.

pub mod client;
pub mod db;

pub use client::GaleraClient;
pub use db::{Galera, GaleraConfig, GaleraError};

use labrys_control::Remote;
use labrys_db::{Db, DbError, DbInfo, DbKind, DbOpt, DbOptions, Isolation};
use std::sync::Arc;

/// MariaDB Galera's facts, as `labrys test` and `doctor` show them.
pub static INFO: DbInfo = DbInfo {
    name: "galera",
    packages: &["mariadb-server", "galera-4", "rsync"],
    honours_faketime: true,
    faketime_note: "",
    workloads: &["list-append", "rw-register", "bank"],
    options: &[DbOpt {
        key: "snapshot-isolation",
        values: &["on", "off"],
        help: "innodb_snapshot_isolation: on (the default here) makes a transaction that writes a row changed since its snapshot fail, so one node's transactions cannot lose updates either; off is InnoDB's classic REPEATABLE READ (lost updates between transactions of one node, which the models below do not allow)",
    }],
    isolations: &[
        Isolation {
            name: "repeatable-read",
            models: &["snapshot-isolation"],
            promise: "Galera's 'Isolation Levels' page (Intra-Node vs. Inter-Node Isolation): between nodes, REPEATABLE-READ is strengthened by the 'first committer wins' rule, which eliminates lost updates (snapshot isolation between nodes); on one node MariaDB's REPEATABLE READ with innodb_snapshot_isolation=ON gives the same rule",
        },
        Isolation {
            name: "serializable",
            models: &["snapshot-isolation"],
            promise: "Galera's 'Isolation Levels' page: SERIALIZABLE is honoured only between transactions issued on the same node; across nodes only the cluster-wide level holds, REPEATABLE-READ with 'first committer wins' (snapshot isolation)",
        },
    ],
};

/// The isolation level clients run transactions at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    RepeatableRead,
    Serializable,
}

impl Level {
    pub fn from_name(name: &str) -> Option<Level> {
        match name {
            "repeatable-read" => Some(Level::RepeatableRead),
            "serializable" => Some(Level::Serializable),
            _ => None,
        }
    }

    /// As `SET TRANSACTION ISOLATION LEVEL` takes it.
    pub fn sql(self) -> &'static str {
        match self {
            Level::RepeatableRead => "REPEATABLE READ",
            Level::Serializable => "SERIALIZABLE",
        }
    }
}

/// MariaDB Galera as a `--db`: one `mariadbd` per node.
pub struct GaleraKind;

impl DbKind for GaleraKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], o: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let mut cfg = GaleraConfig::default();
        if let Some(d) = &o.dir {
            cfg.dir = d.clone();
        }
        cfg.snapshot_isolation =
            o.opts.get("snapshot-isolation").map(String::as_str) != Some("off");
        cfg.level = INFO
            .isolation(o)
            .and_then(|l| Level::from_name(l.name))
            .unwrap_or(Level::RepeatableRead);
        Ok(Arc::new(Galera::for_nodes(cfg, nodes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(workload: &str, isolation: Option<&str>, kv: &[(&str, &str)]) -> DbOptions {
        DbOptions {
            workload: workload.into(),
            opts: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir: None,
            isolation: isolation.map(str::to_string),
            run_dir: None,
        }
    }

    #[test]
    fn options_and_levels_are_checked() {
        GaleraKind.validate(&opts("bank", None, &[])).unwrap();
        GaleraKind
            .validate(&opts(
                "list-append",
                Some("serializable"),
                &[("snapshot-isolation", "off")],
            ))
            .unwrap();
        assert!(GaleraKind.validate(&opts("register", None, &[])).is_err());
        assert!(GaleraKind
            .validate(&opts("bank", Some("read-committed"), &[]))
            .is_err());
        assert!(GaleraKind
            .validate(&opts("bank", None, &[("snapshot-isolation", "yes")]))
            .is_err());
        assert_eq!(
            INFO.isolation(&opts("bank", None, &[])).unwrap().name,
            "repeatable-read"
        );
        for l in INFO.isolations {
            assert!(Level::from_name(l.name).is_some(), "{}", l.name);
            assert_eq!(l.models, ["snapshot-isolation"]);
        }
        assert_eq!(Level::Serializable.sql(), "SERIALIZABLE");
    }
}
