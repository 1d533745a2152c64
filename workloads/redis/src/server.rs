//! Redis servers and sentinels on labrys nodes, over [`Remote`] only.
//!
//! Each node runs from `/opt/labrys-redis` (nodes have private `/opt`): `redis.conf` and
//! `sentinel.conf` (both rewritten by Redis at run time: the sentinels record what they
//! learn, and a failover rewrites a server's `replicaof`), `data/` (append-only file, fsync
//! every second: Redis's usual durable setting), logs and pid files. Both programs are
//! Debian's one binary under two names, so `comm` tells them apart; Redis rewrites its
//! command line into a process title, and the title template puts the config file's path in
//! it, which is what [`Daemon`]'s orphan search looks for.
//!
//! The first node's server starts as the primary, every other as `replicaof` it; every
//! sentinel monitors the first node with a quorum of a majority, declares a primary down
//! after 2 s without an answer and fails over within seconds.

use crate::client::RedisClient;
use labrys_control::{shell_quote, Daemon, Remote};
use labrys_db::{
    install_script, sh_step, Db, DbError, DbFuture, DbInfo, LogFile, Primaries, Process,
};
use labrys_gen::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_secs(60);
const INSTALL: Duration = Duration::from_secs(600);
/// The name sentinels know the primary by.
pub const MASTER: &str = "labrys";

/// Where and how the servers run.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub dir: String,
    pub port: u16,
    pub sentinel_port: u16,
    /// Milliseconds without an answer before a sentinel thinks the primary down.
    pub down_after_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            dir: "/opt/labrys-redis".into(),
            port: 6379,
            sentinel_port: 26379,
            down_after_ms: 2000,
        }
    }
}

/// Redis with Sentinel on a set of nodes.
#[derive(Clone, Debug)]
pub struct Redis {
    cfg: RedisConfig,
    /// (node name, host) per node; the first starts as the primary.
    nodes: Vec<(String, String)>,
}

impl Redis {
    pub fn for_nodes(cfg: RedisConfig, nodes: &[Arc<dyn Remote>]) -> Redis {
        Redis {
            cfg,
            nodes: nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
        }
    }

    fn conf(&self, name: &str) -> String {
        format!("{}/{name}", self.cfg.dir)
    }

    /// The server as a daemon: found by the config path in its process title.
    fn server(&self) -> Daemon {
        Daemon {
            data_dir: self.conf("redis.conf"),
            ..Daemon::new(&self.cfg.dir, "redis", "redis-server")
        }
    }

    fn sentinel(&self) -> Daemon {
        Daemon {
            data_dir: self.conf("sentinel.conf"),
            ..Daemon::new(&self.cfg.dir, "sentinel", "redis-sentinel")
        }
    }

    fn host_of(&self, node: &str) -> Result<&str, DbError> {
        self.nodes
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, h)| h.as_str())
            .ok_or_else(|| DbError::node(node, "redis", "not one of this test's nodes"))
    }

    /// The server's config for a node at `host` (the first node's has no `replicaof`).
    pub fn server_conf(&self, host: &str, primary: Option<&str>) -> String {
        let mut c = format!(
            "bind {host}\nport {port}\nprotected-mode no\ndaemonize no\n\
             dir {dir}/data\nappendonly yes\nappendfsync everysec\n\
             proc-title-template \"{{title}} {conf} {{listen-addr}}\"\n\
             replica-serve-stale-data yes\nreplica-read-only yes\n",
            port = self.cfg.port,
            dir = self.cfg.dir,
            conf = self.conf("redis.conf"),
        );
        if let Some(p) = primary {
            c.push_str(&format!("replicaof {p} {}\n", self.cfg.port));
        }
        c
    }

    /// A sentinel's config: watch the first node, with a majority as quorum.
    pub fn sentinel_conf(&self, host: &str) -> String {
        let primary = self.nodes.first().map(|(_, h)| h.as_str()).unwrap_or(host);
        let quorum = self.nodes.len() / 2 + 1;
        format!(
            "bind {host}\nport {sp}\nprotected-mode no\ndaemonize no\ndir {dir}\n\
             proc-title-template \"{{title}} {conf} {{listen-addr}}\"\n\
             sentinel monitor {MASTER} {primary} {port} {quorum}\n\
             sentinel down-after-milliseconds {MASTER} {down}\n\
             sentinel failover-timeout {MASTER} 10000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            sp = self.cfg.sentinel_port,
            dir = self.cfg.dir,
            conf = self.conf("sentinel.conf"),
            port = self.cfg.port,
            down = self.cfg.down_after_ms,
        )
    }

    /// Writes both configs on a node that has none yet (a restart keeps what Redis rewrote).
    fn setup_script(&self, node: &str) -> Result<String, DbError> {
        let host = self.host_of(node)?;
        let first = self.nodes.first().map(|(n, _)| n.as_str()) == Some(node);
        let primary = if first {
            None
        } else {
            self.nodes.first().map(|(_, h)| h.as_str())
        };
        Ok(format!(
            "set -e\nmkdir -p {dir}/data\n\
             [ -f {rc} ] || printf %s {server} >{rc}\n\
             [ -f {sc} ] || printf %s {sentinel} >{sc}\n",
            dir = shell_quote(&self.cfg.dir),
            rc = shell_quote(&self.conf("redis.conf")),
            sc = shell_quote(&self.conf("sentinel.conf")),
            server = shell_quote(&self.server_conf(host, primary)),
            sentinel = shell_quote(&self.sentinel_conf(host)),
        ))
    }

    fn start_server(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "configuring redis",
            &self.setup_script(node.node())?,
            SHORT,
        )?;
        let conf = self.conf("redis.conf");
        sh_step(
            node,
            "starting redis-server",
            &self.server().start_script(&["redis-server", &conf]),
            SHORT,
        )
        .map(|_| ())
    }

    fn start_sentinel(&self, node: &dyn Remote) -> Result<(), DbError> {
        let conf = self.conf("sentinel.conf");
        sh_step(
            node,
            "starting redis-sentinel",
            &self.sentinel().start_script(&["redis-sentinel", &conf]),
            SHORT,
        )
        .map(|_| ())
    }

    fn client_for(&self) -> RedisClient {
        RedisClient::new(
            self.nodes.clone(),
            self.cfg.port,
            self.cfg.sentinel_port,
            crate::client::Workload::Register,
        )
    }
}

impl Db for Redis {
    fn info(&self) -> &'static DbInfo {
        &crate::INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "installing redis-server and redis-sentinel",
            &install_script(
                "command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null",
                &["redis-server", "redis-sentinel"],
            ),
            INSTALL,
        )
        .map(|_| ())
    }
    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        let out = sh_step(
            node,
            "redis-server --version",
            "redis-server --version",
            SHORT,
        )?;
        // "Redis server v=7.0.15 sha=... malloc=..." -> "Redis 7.0.15"
        Ok(out
            .split_whitespace()
            .find_map(|w| w.strip_prefix("v="))
            .map(|v| format!("Redis {v}"))
            .unwrap_or_else(|| out.trim().to_string()))
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        let script = format!(
            "{}\n{}",
            self.sentinel().wipe_script(),
            self.server().wipe_script()
        );
        let out = sh_step(node, "wiping redis", &script, SHORT)?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            for n in nodes {
                let (n, me) = (n.clone(), self.clone());
                tokio::task::spawn_blocking(move || {
                    me.start_server(n.as_ref())?;
                    me.start_sentinel(n.as_ref())
                })
                .await
                .map_err(|e| DbError::Other(format!("starting redis: {e}")))??;
            }
            // Healthy: every server answers, the sentinels agree on a primary that says it
            // is one, and every other server replicates from it.
            let c = self.client_for();
            let start = Instant::now();
            let mut last = String::new();
            while start.elapsed() < timeout {
                match c.topology_healthy().await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(DbError::Unhealthy {
                db: "redis".into(),
                secs: timeout.as_secs(),
                detail: last,
            })
        })
    }
    fn log_files(&self) -> Vec<LogFile> {
        vec![
            LogFile {
                remote: self.server().log_path(),
                local: "redis.log".into(),
            },
            LogFile {
                remote: self.sentinel().log_path(),
                local: "sentinel.log".into(),
            },
        ]
    }
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        let w = crate::client::Workload::parse(workload).ok_or_else(|| DbError::Option {
            option: "--workload".into(),
            msg: format!("redis has no client for {workload:?}"),
        })?;
        Ok(Arc::new(RedisClient::new(
            self.nodes.clone(),
            self.cfg.port,
            self.cfg.sentinel_port,
            w,
        )))
    }
    fn process(&self) -> Option<Arc<dyn Process>> {
        Some(Arc::new(self.clone()))
    }
    fn primaries(&self) -> Option<Arc<dyn Primaries>> {
        Some(Arc::new(self.clone()))
    }
}

/// Kill and pause act on the data server, not the sentinel: the fault is a primary (or
/// replica) that dies or stalls while the failover machinery watches.
impl Process for Redis {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.start_server(node)
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "killing redis-server",
            &self.server().kill_script(),
            SHORT,
        )
        .map(|_| ())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "pausing redis-server",
            &self.server().signal_script("STOP"),
            SHORT,
        )
        .map(|_| ())
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "resuming redis-server",
            &self.server().signal_script("CONT"),
            SHORT,
        )
        .map(|_| ())
    }
}

/// The primary the sentinels name, asked with `redis-cli` on the nodes in turn (the first
/// sentinel that answers).
impl Primaries for Redis {
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        for n in nodes {
            let Ok(host) = self.host_of(n.node()) else {
                continue;
            };
            let cmd = format!(
                "redis-cli -h {host} -p {} --raw SENTINEL get-master-addr-by-name {MASTER}",
                self.cfg.sentinel_port
            );
            let Ok(out) = n.sh(&cmd, Duration::from_secs(5)) else {
                continue;
            };
            if let Some(ip) = out.stdout.lines().next().map(str::trim) {
                if let Some((name, _)) = self.nodes.iter().find(|(_, h)| h == ip) {
                    return vec![name.clone()];
                }
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis() -> Redis {
        Redis {
            cfg: RedisConfig::default(),
            nodes: vec![
                ("n1".into(), "10.2.0.2".into()),
                ("n2".into(), "10.2.0.3".into()),
                ("n3".into(), "10.2.0.4".into()),
            ],
        }
    }

    #[test]
    fn the_first_node_is_the_primary_and_sentinels_need_a_majority() {
        let r = redis();
        let s = r.setup_script("n1").unwrap();
        assert!(!s.contains("replicaof"), "{s}");
        let s = r.setup_script("n2").unwrap();
        assert!(s.contains("replicaof 10.2.0.2 6379"), "{s}");
        assert!(r
            .sentinel_conf("10.2.0.3")
            .contains("sentinel monitor labrys 10.2.0.2 6379 2"));
        assert!(r.setup_script("n9").is_err());
    }

    #[test]
    fn scripts_are_valid_sh() {
        let r = redis();
        for s in [
            r.setup_script("n2").unwrap(),
            r.server()
                .start_script(&["redis-server", "/opt/labrys-redis/redis.conf"]),
            r.sentinel().wipe_script(),
        ] {
            let ok = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .status()
                .unwrap();
            assert!(ok.success(), "{s}");
        }
    }
}
