//! Redis 7 with Sentinel as a labrys database: the way operators run it for failover.
//!
//! - [`server`]: per node a `redis-server` (the first node starts as the primary, the
//!   others as its replicas) and a `redis-sentinel` watching the primary (quorum: a
//!   majority of sentinels), each a pid-file daemon ([`labrys_control::Daemon`]) under
//!   `/opt/labrys-redis`. When the primary is cut off or killed, the sentinels promote a
//!   replica within a few seconds; when the old primary comes back they make it a replica;
//! - [`client`]: clients that ask the sentinels where the primary is, talk to it, record which
//!   node answered each op, and ask again after any error; the register workload (GET, SET,
//!   and cas as one Lua script) and the set workload (SADD, SMEMBERS);
//! - [`RedisKind`] and [`INFO`]: Redis as a `--db`.
//!
//! Replication is asynchronous: Redis's Sentinel documentation says a primary partitioned
//! away with clients keeps acknowledging writes that are lost once a replica is promoted, so
//! under partitions the register and set workloads are expected to find lost writes.

pub mod client;
pub mod server;

pub use client::RedisClient;
pub use server::{Redis, RedisConfig};

use labrys_control::Remote;
use labrys_db::{Db, DbError, DbInfo, DbKind, DbOptions};
use std::sync::Arc;

/// Redis's facts, as `labrys test` and `doctor` show them.
pub static INFO: DbInfo = DbInfo {
    name: "redis",
    packages: &["redis-server", "redis-sentinel"],
    honours_faketime: false,
    faketime_note: "redis-server hangs under libfaketime on this kind of machine",
    workloads: &["register", "set"],
    options: &[],
    isolations: &[],
};

/// Redis with Sentinel as a `--db`: a server and a sentinel per node.
pub struct RedisKind;

impl DbKind for RedisKind {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn open(&self, nodes: &[Arc<dyn Remote>], o: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let mut cfg = RedisConfig::default();
        if let Some(d) = &o.dir {
            cfg.dir = d.clone();
        }
        Ok(Arc::new(Redis::for_nodes(cfg, nodes)))
    }
}
