//! PostgreSQL 15 as a labrys database: one primary, clients for Elle's and Jepsen's
//! transactional workloads at each isolation level.
//!
//! - [`server`]: the server on a node: `initdb` into `/opt/labrys-postgres/data` (nodes have
//!   private `/opt`) as the `postgres` user, a config that listens on the node's address and
//!   trusts the test network, started as a pid-file daemon ([`labrys_control::Daemon`]) whose
//!   process group is the postmaster and its backends, so a kill or pause takes all of them;
//! - [`client`]: one connection per worker, each op one transaction at the chosen level;
//!   errors sorted into `fail` (certainly rolled back) and `info` (the COMMIT may have
//!   happened);
//! - [`PostgresKind`] and [`INFO`]: PostgreSQL as a `--db`.
//!
//! One primary on the first node serves every client; the other nodes run nothing (no
//! streaming replicas yet), so faults on them change nothing and faults on the primary make
//! ops fail or become `info`. `Primaries` names the first node.

pub mod client;
pub mod server;

pub use client::{Level, PgClient, Workload};
pub use server::{Postgres, PostgresConfig};

use labrys_control::Remote;
use labrys_db::{Db, DbError, DbInfo, DbKind, DbOptions, Isolation};
use std::sync::Arc;

/// PostgreSQL's facts, as `labrys test` and `doctor` show them.
pub static INFO: DbInfo = DbInfo {
    name: "postgres",
    packages: &["postgresql-15"],
    honours_faketime: false,
    faketime_note: "labrys does not start PostgreSQL under libfaketime yet (the server, a C program, would honour it)",
    workloads: &["list-append", "rw-register", "bank"],
    options: &[],
    isolations: &[
        Isolation {
            name: "serializable",
            models: &["serializable"],
            promise: "PostgreSQL 15 docs, 13.2.3 Serializable Isolation Level: any concurrent execution of a set of Serializable transactions is guaranteed to produce the same effect as running them one at a time in some order",
        },
        Isolation {
            name: "repeatable-read",
            models: &["snapshot-isolation"],
            promise: "PostgreSQL 15 docs, 13.2.2 Repeatable Read Isolation Level: a transaction sees a snapshot as of its first statement and fails on a concurrent update of a row it updates (Snapshot Isolation)",
        },
        Isolation {
            name: "read-committed",
            models: &["read-committed"],
            promise: "PostgreSQL 15 docs, 13.2.1 Read Committed Isolation Level: a statement sees only data committed before it began",
        },
    ],
};

/// PostgreSQL as a `--db`: a primary on the first node.
pub struct PostgresKind;

impl DbKind for PostgresKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], o: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let mut cfg = PostgresConfig::default();
        if let Some(d) = &o.dir {
            cfg.dir = d.clone();
        }
        let level = INFO.isolation(o).map(|l| l.name).unwrap_or("serializable");
        cfg.level = Level::parse(level).ok_or_else(|| DbError::Option {
            option: "--isolation".into(),
            msg: format!("{level:?} is not a PostgreSQL level"),
        })?;
        Ok(Arc::new(Postgres::for_nodes(cfg, nodes)))
    }
}
