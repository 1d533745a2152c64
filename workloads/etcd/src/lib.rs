//! etcd as a labrys database: the first real system labrys tests.
//!
//! - [`db`]: installing etcd (Debian's `etcd-server`), configuring an N-member cluster on the
//!   node addresses, starting it detached, killing, pausing and resuming it by pid file, log
//!   download and wiping at teardown; implements `labrys_db`'s `Db`, `Process`, `Primaries`;
//! - [`EtcdKind`] and [`INFO`]: etcd as a `--db` (packages, workloads, `--db-opt reads`);
//! - [`gateway`]: the v3 JSON gateway's request and response shapes (base64 keys and values,
//!   int64 as strings), as pure functions;
//! - [`client`]: the per-key cas-register client over that gateway, classifying every error
//!   as `fail` (certainly did not happen) or `info` (may have happened);
//! - [`append`]: the list-append client (Elle's transactional workload) over etcd txns;
//! - [`set`]: the set client (one key per element, one range read);
//! - [`health`]: waiting for every member to report healthy, and finding the leader.

pub mod append;
pub mod client;
pub mod db;
pub mod gateway;
pub mod health;
pub mod set;

pub use append::EtcdAppendClient;
pub use client::EtcdClient;
pub use db::{Etcd, EtcdConfig, EtcdError};

use labrys_control::Remote;
use labrys_db::{Db, DbError, DbInfo, DbKind, DbOpt, DbOptions};
use std::sync::Arc;

/// etcd's facts, as `labrys test` and `doctor` show them.
pub static INFO: DbInfo = DbInfo {
    name: "etcd",
    packages: &["etcd-server"],
    honours_faketime: false,
    faketime_note: "etcd is a Go program and reads the clock without libc, so libfaketime cannot shift it",
    workloads: &["register", "list-append", "set"],
    options: &[DbOpt {
        key: "reads",
        values: &["linearizable", "serializable"],
        help: "register reads through a quorum (linearizable, the default) or served by any member without one (serializable: possibly stale)",
    }],
    isolations: &[],
};

/// etcd as a `--db`: one member per node.
pub struct EtcdKind;

impl DbKind for EtcdKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn validate(&self, o: &DbOptions) -> Result<(), DbError> {
        INFO.validate(o)?;
        if o.workload != "register" && o.opts.get("reads").is_some_and(|r| r != "linearizable") {
            return Err(DbError::Option {
                option: "--db-opt".into(),
                msg: "reads=serializable only applies to the register workload".into(),
            });
        }
        Ok(())
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], o: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let mut cfg = EtcdConfig::default();
        if let Some(d) = &o.dir {
            cfg.dir = d.clone();
        }
        cfg.serializable_reads = o.opts.get("reads").map(String::as_str) == Some("serializable");
        Ok(Arc::new(Etcd::for_nodes(cfg, nodes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(workload: &str, reads: &str) -> DbOptions {
        DbOptions {
            workload: workload.into(),
            opts: [("reads".to_string(), reads.to_string())].into(),
            dir: None,
            isolation: None,
            run_dir: None,
        }
    }

    #[test]
    fn serializable_reads_are_for_registers_only() {
        EtcdKind
            .validate(&opts("register", "serializable"))
            .unwrap();
        EtcdKind
            .validate(&opts("list-append", "linearizable"))
            .unwrap();
        let e = EtcdKind
            .validate(&opts("list-append", "serializable"))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("only applies to the register workload"),
            "{e}"
        );
        assert!(EtcdKind.validate(&opts("bank", "linearizable")).is_err());
    }
}
