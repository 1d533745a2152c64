//! Redis 7 with Sentinel as a labrys database (`--db redis`).
//!
//! Set-up and why: one `redis-server` per node, the first starting as the primary and the
//! others as its replicas (Redis replication is asynchronous), and one `redis-sentinel` per node
//! monitoring the primary with a majority quorum, so that a primary that is killed, paused or
//! cut off is replaced by a replica within a few seconds. This is the deployment Redis's
//! "High availability with Redis Sentinel" page describes. Clients find the primary the way
//! that page's client guidelines ask: through the sentinels, re-resolving after errors.
//!
//! - [`conf`]: the two config files and parsing the servers' replies (pure, unit-tested);
//! - [`db`]: install, start/kill/pause/resume through `labrys_control::Daemon`, wipe, waiting
//!   for a healthy topology; `Db`, `Process` (on `redis-server` only) and `Primaries` (what the
//!   sentinels report);
//! - [`client`]: the register and set clients, how each op maps to Redis commands, and how
//!   every error is classified as `fail` or `info`.
//!
//! What Redis promises: nothing linearizable. Its Sentinel page ("Consistency under
//! partitions") says a primary cut off by a partition keeps accepting writes that are lost once
//! the other side fails over, and that the system is eventually consistent with "last failover
//! wins"; `WAIT` (`--db-opt wait=N`) narrows that window but, per its own docs, does not make
//! Redis strongly consistent. So runs under partitions may well be invalid; runs without a
//! fault must be valid. Pauses can also lose writes: a primary that was paused long enough to
//! be failed over resumes still believing it is the primary, and Sentinel only turns it into a
//! replica once it has reported the wrong role for a while (several seconds); a client that
//! connected to it meanwhile (its `ROLE` says `master`) writes there, and those writes are lost
//! too. Kills do not lose acknowledged writes here: the append-only file is written before the
//! reply, and a killed server is unreachable until Sentinel has moved on.

pub mod client;
pub mod conf;
pub mod db;

pub use client::RedisClient;
pub use db::{Redis, RedisConfig, RedisDbError};

use labrys_control::Remote;
use labrys_db::{Db, DbError, DbInfo, DbKind, DbOpt, DbOptions};
use std::sync::Arc;

/// Redis's facts, as `labrys test` and `doctor` show them.
pub static INFO: DbInfo = DbInfo {
    name: "redis",
    packages: &["redis-server", "redis-sentinel"],
    honours_faketime: false,
    faketime_note: "redis-server hangs at start-up under libfaketime on this kind of machine, so clock faults cannot be applied to it",
    workloads: &["register", "set"],
    options: &[DbOpt {
        key: "wait",
        values: &[],
        help: "after each write, WAIT for this many replicas (1 s at most); a write fewer replicas acknowledged is recorded as info (default 0: no WAIT)",
    }],
    isolations: &[],
};

/// Redis with Sentinel as a `--db`: a server and a sentinel per node.
pub struct RedisKind;

/// The `wait=N` option's number.
pub fn wait_replicas(o: &DbOptions) -> Result<usize, DbError> {
    match o.opts.get("wait") {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| DbError::Option {
            option: "--db-opt".into(),
            msg: format!("wait={v}: expected a number of replicas"),
        }),
    }
}

impl DbKind for RedisKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn validate(&self, o: &DbOptions) -> Result<(), DbError> {
        INFO.validate(o)?;
        wait_replicas(o).map(|_| ())
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], o: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let mut cfg = RedisConfig::default();
        if let Some(d) = &o.dir {
            cfg.dir = d.clone();
        }
        cfg.wait = wait_replicas(o)?;
        Ok(Arc::new(Redis::for_nodes(cfg, nodes)))
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
        RedisKind.validate(&opts("register", &[])).unwrap();
        RedisKind.validate(&opts("set", &[("wait", "2")])).unwrap();
        assert_eq!(wait_replicas(&opts("set", &[("wait", "2")])).unwrap(), 2);
        let e = RedisKind
            .validate(&opts("set", &[("wait", "all")]))
            .unwrap_err();
        assert!(e.to_string().contains("wait=all"), "{e}");
        assert!(RedisKind.validate(&opts("bank", &[])).is_err());
        let mut iso = opts("register", &[]);
        iso.isolation = Some("serializable".into());
        assert!(RedisKind.validate(&iso).is_err());
        assert!(!INFO.honours_faketime);
    }
}
