//! PostgreSQL 15 as a labrys database (`--db postgres`).
//!
//! Why it is set up this way:
//! - one primary, the first node, which every client talks to: PostgreSQL's isolation levels
//!   are promises about one server, and a single primary is what they cover; `--db-opt
//!   replicas=streaming` adds asynchronous hot standbys on the other nodes (cloned with
//!   `pg_basebackup -R`) so faults have a replication stream to disturb, but no client reads
//!   from them and nothing fails over, so [`Primaries`](labrys_db::Primaries) is always the
//!   first node;
//! - Debian's `postgresql-15` binaries, run by labrys itself per node (`initdb`, then
//!   `postgres` as the `postgres` user with settings on its command line), with everything
//!   under a per-node directory: see [`db`];
//! - every op one transaction at the `--isolation` level, classified `ok`/`fail`/`info` by
//!   where it failed and the SQLSTATE: see [`client`].
//!
//! The levels and what PostgreSQL documents for them (PostgreSQL 15 manual, chapter 13.2,
//! "Transaction Isolation"): `serializable` (13.2.3: Serializable Snapshot Isolation, any
//! concurrent set of committed serializable transactions behaves like some serial order),
//! `repeatable-read` (13.2.2: a snapshot taken at the transaction's first statement; the
//! manual says this level is implemented as snapshot isolation), and `read-committed` (13.2.1:
//! each statement sees the data committed before it began).

pub mod client;
pub mod db;

pub use client::{Isolation, PgClient, Target, WorkloadKind};
pub use db::{PgConfig, PgError, Postgres};

use labrys_control::Remote;
use labrys_db::{Db, DbError, DbInfo, DbKind, DbOpt, DbOptions};
use std::sync::Arc;

/// PostgreSQL's facts, as `labrys test` and `doctor` show them.
pub static INFO: DbInfo = DbInfo {
    name: "postgres",
    packages: &["postgresql-15"],
    honours_faketime: false,
    faketime_note: "labrys does not start PostgreSQL under libfaketime yet (the server, a C program, would honour it)",
    workloads: &["list-append", "rw-register", "bank"],
    options: &[DbOpt {
        key: "replicas",
        values: &["none", "streaming"],
        help: "none (the default): a primary on the first node only; streaming: asynchronous hot standbys on every other node (clients still use the primary only)",
    }],
    isolations: &[
        labrys_db::Isolation {
            name: "serializable",
            models: &["serializable"],
            promise: "PostgreSQL 15 docs, 13.2.3 Serializable Isolation Level: committed serializable transactions behave as if run one at a time in some order",
        },
        labrys_db::Isolation {
            name: "repeatable-read",
            models: &["snapshot-isolation"],
            promise: "PostgreSQL 15 docs, 13.2.2 Repeatable Read Isolation Level: each transaction sees one snapshot, implemented as snapshot isolation (concurrent writers of a row abort)",
        },
        labrys_db::Isolation {
            name: "read-committed",
            models: &["read-committed"],
            promise: "PostgreSQL 15 docs, 13.2.1 Read Committed Isolation Level: each statement sees only data committed before it began, never uncommitted data",
        },
    ],
};

/// PostgreSQL as a `--db`.
pub struct PostgresKind;

impl DbKind for PostgresKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], o: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let mut cfg = PgConfig::default();
        if let Some(d) = &o.dir {
            cfg.dir = d.clone();
        }
        cfg.replicas = o.opts.get("replicas").map(String::as_str) == Some("streaming");
        let level = INFO.isolation(o).map(|i| i.name).unwrap_or("serializable");
        cfg.isolation = Isolation::from_name(level).ok_or_else(|| DbError::Option {
            option: "--isolation".into(),
            msg: format!("{level:?}: postgres has no such level"),
        })?;
        Ok(Arc::new(Postgres::for_nodes(cfg, nodes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn opts(workload: &str, kv: &[(&str, &str)], level: Option<&str>) -> DbOptions {
        DbOptions {
            workload: workload.into(),
            opts: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            dir: None,
            isolation: level.map(str::to_string),
            run_dir: None,
        }
    }

    #[test]
    fn levels_and_options_are_checked() {
        PostgresKind
            .validate(&opts(
                "bank",
                &[("replicas", "streaming")],
                Some("read-committed"),
            ))
            .unwrap();
        assert_eq!(
            INFO.isolation(&opts("bank", &[], None)).unwrap().name,
            "serializable"
        );
        assert_eq!(
            INFO.isolation(&opts("bank", &[], Some("repeatable-read")))
                .unwrap()
                .models,
            ["snapshot-isolation"]
        );
        for l in INFO.isolations {
            assert!(
                l.promise.starts_with("PostgreSQL 15 docs, 13.2."),
                "{}",
                l.promise
            );
        }
        assert!(PostgresKind.validate(&opts("register", &[], None)).is_err());
        assert!(PostgresKind
            .validate(&opts("bank", &[("replicas", "sync")], None))
            .is_err());
    }
}
