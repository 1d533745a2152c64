//! ZooKeeper as a labrys database (`--db zookeeper`): an ensemble of one server per node, and
//! the register workload over znodes.
//!
//! - [`db`]: the ensemble. Debian's `zookeeper` package provides Java and the jars; labrys
//!   runs `QuorumPeerMain` itself on every node from `/opt/labrys-zookeeper` (its own
//!   `zoo.cfg` with `server.<i>=<ip>:2888:3888`, `myid`, data, log, pid file) as a pid-file
//!   daemon, because Debian's service is one per host and the nodes of a local cluster share
//!   the host's `/etc` and `/var`. Implements `Db`, `Process` (kill, pause) and `Primaries`
//!   (the server whose `srvr` says `Mode: leader`);
//! - [`srvr`]: the four-letter `srvr` command (health and leader);
//! - [`client`]: the register client (one session per node, ops as znode reads, writes and
//!   versioned `setData`), classifying every error as `fail` or `info`;
//! - [`ZookeeperKind`] and [`INFO`]: the `--db` entry, with `--db-opt reads=sync|plain`.
//!
//! What ZooKeeper promises (Programmer's Guide, "ZooKeeper consistency guarantees"): writes
//! are linearizable (every update goes through the leader's atomic broadcast, and a versioned
//! `setData` is a compare-and-set at the leader), while reads are served by the server a client
//! is connected to and may be stale ("ZooKeeper does not guarantee that at every instance in
//! time, two different clients will have identical views"; a client that needs the latest
//! value calls `sync` first). So `reads=sync` is expected to be linearizable, and
//! `reads=plain` may show stale reads under partitions. (Strictly, `sync` is not quorum-acked:
//! a server that still believes in a deposed leader may answer `sync` + read stale, see
//! ZOOKEEPER-1675 and ZOOKEEPER-2136; labrys has not caught that window here.)

pub mod client;
pub mod db;
pub mod srvr;

pub use client::ZkRegisterClient;
pub use db::{ZkConfig, ZkError, ZooKeeper};

use labrys_control::Remote;
use labrys_db::{Db, DbError, DbInfo, DbKind, DbOpt, DbOptions};
use std::sync::Arc;

/// ZooKeeper's facts, as `labrys test` and `doctor` show them.
pub static INFO: DbInfo = DbInfo {
    name: "zookeeper",
    // The jars and Java; `zookeeperd` (the service) is not needed, labrys runs the servers.
    packages: &["zookeeper"],
    honours_faketime: true,
    faketime_note: "",
    workloads: &["register"],
    options: &[DbOpt {
        key: "reads",
        values: &["sync", "plain"],
        help: "register reads call sync() first (sync, the default: linearizable in practice) or read the connected server's copy (plain: possibly stale, as ZooKeeper documents)",
    }],
    isolations: &[],
};

/// ZooKeeper as a `--db`: one server per node.
pub struct ZookeeperKind;

impl DbKind for ZookeeperKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], o: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let mut cfg = ZkConfig::default();
        if let Some(d) = &o.dir {
            cfg.dir = d.clone();
        }
        cfg.sync_reads = o.opts.get("reads").map(String::as_str) != Some("plain");
        Ok(Arc::new(ZooKeeper::for_nodes(cfg, nodes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn options_are_checked() {
        ZookeeperKind.validate(&opts("register", &[])).unwrap();
        ZookeeperKind
            .validate(&opts("register", &[("reads", "plain")]))
            .unwrap();
        let e = ZookeeperKind
            .validate(&opts("register", &[("reads", "linearizable")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected one of sync, plain"), "{e}");
        assert!(ZookeeperKind.validate(&opts("bank", &[])).is_err());
        let mut iso = opts("register", &[]);
        iso.isolation = Some("serializable".into());
        assert!(ZookeeperKind.validate(&iso).is_err());
    }
}
