//! Running Redis with Sentinel on labrys nodes, over [`Remote`] only.
//!
//! Each node runs two pid-file daemons ([`labrys_control::Daemon`]) under one directory
//! (`/opt/labrys-redis` by default; nodes have private `/opt`):
//! - `server/`: `redis.conf`, `data/` (the append-only file), `redis.log`, `redis.pid`; the
//!   process shows as `redis-server` in `/proc/<pid>/comm`;
//! - `sentinel/`: `sentinel.conf`, `sentinel.log`, `sentinel.pid`; it shows as
//!   `redis-sentinel`.
//!
//! (Debian's `redis-server` and `redis-sentinel` are both links to one executable; the kernel
//! names the process after the link it was started through.) The configuration files are
//! written only when absent: Sentinel rewrites both when it fails over, and a server that is
//! killed and started again must come back in the role Sentinel last gave it. Redis replaces
//! its command line with its process title, so the title template puts the config file's path
//! there, and that path is what `wipe` looks for to find a server whose pid file is gone.
//!
//! The first node starts as the primary, the others as its replicas, and every node's
//! sentinel monitors it with a majority quorum. `start_all` waits until every sentinel names
//! the same primary, unflagged, and knows all the other sentinels, until that primary sees
//! every other node as an online replica, and every replica's link to it is up.
//!
//! Kill and pause (the [`Process`] capability) act on `redis-server` only; the sentinels keep
//! running, as they would on a real deployment where the database process fails.
//! [`Primaries`] is what the sentinels report.

use crate::client::{connect, Members, RedisClient, Workload};
use crate::conf::{self, Replication};
use labrys_control::{shell_quote, ControlError, Daemon, Remote};
use labrys_db::{Db, DbError, DbFuture, DbInfo, LogFile, Primaries, Process};
use labrys_gen::Client;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where and how servers and sentinels run.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// Per-node directory holding `server/` and `sentinel/`.
    pub dir: String,
    pub port: u16,
    pub sentinel_port: u16,
    /// `--db-opt wait=N`: `WAIT` for N replicas after each write (0: never).
    pub wait: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            dir: "/opt/labrys-redis".into(),
            port: 6379,
            sentinel_port: 26379,
            wait: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedisDbError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("node {0} is not a node of this Redis deployment")]
    NotMember(String),
    #[error("node {node}: {what} failed (exit {status}): {detail}")]
    Command {
        node: String,
        what: String,
        status: i32,
        detail: String,
    },
    #[error("Redis did not become healthy within {secs} s: {detail}")]
    Unhealthy { secs: u64, detail: String },
}

impl From<RedisDbError> for DbError {
    fn from(e: RedisDbError) -> DbError {
        match e {
            RedisDbError::Command {
                node,
                what,
                status,
                detail,
            } => DbError::Node {
                node,
                step: what,
                msg: format!("exit {status}: {detail}"),
            },
            RedisDbError::Unhealthy { secs, detail } => DbError::Unhealthy {
                db: "redis".into(),
                secs,
                detail,
            },
            other => DbError::Other(other.to_string()),
        }
    }
}

/// Redis with Sentinel: a server and a sentinel per node.
#[derive(Clone, Debug)]
pub struct Redis {
    cfg: RedisConfig,
    /// (node name, host) per node; the first starts as the primary.
    members: Vec<(String, String)>,
}

const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_secs(30);

impl Redis {
    pub fn new(cfg: RedisConfig, members: Vec<(String, String)>) -> Redis {
        Redis { cfg, members }
    }

    pub fn for_nodes(cfg: RedisConfig, nodes: &[Arc<dyn Remote>]) -> Redis {
        Redis::new(
            cfg,
            nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
        )
    }

    pub fn members(&self) -> Members {
        Members {
            nodes: self.members.clone(),
            port: self.cfg.port,
            sentinel_port: self.cfg.sentinel_port,
        }
    }

    fn server_conf_path(&self) -> String {
        format!("{}/server/redis.conf", self.cfg.dir)
    }

    fn sentinel_conf_path(&self) -> String {
        format!("{}/sentinel/sentinel.conf", self.cfg.dir)
    }

    /// The server as a pid-file daemon; its orphans are found by the config file's path,
    /// which its process title carries.
    pub fn server(&self) -> Daemon {
        let mut d = Daemon::new(&format!("{}/server", self.cfg.dir), "redis", "redis-server");
        d.data_dir = self.server_conf_path();
        d
    }

    /// The sentinel as a pid-file daemon, found likewise by its config file.
    pub fn sentinel(&self) -> Daemon {
        let mut d = Daemon::new(
            &format!("{}/sentinel", self.cfg.dir),
            "sentinel",
            "redis-sentinel",
        );
        d.data_dir = self.sentinel_conf_path();
        d
    }

    fn first(&self) -> Result<&str, RedisDbError> {
        self.members
            .first()
            .map(|(_, h)| h.as_str())
            .ok_or_else(|| RedisDbError::NotMember("(no nodes)".into()))
    }

    fn is_first(&self, node: &str) -> bool {
        self.members.first().is_some_and(|(n, _)| n == node)
    }

    /// Shell lines writing `content` to `path` unless it exists.
    fn write_if_absent(path: &str, content: &str) -> String {
        format!(
            "[ -f {p} ] || cat >{p} <<'LABRYS_EOF'\n{content}LABRYS_EOF\n",
            p = shell_quote(path)
        )
    }

    /// The script that starts `node`'s server (writing its first config) unless it runs.
    pub fn server_start_script(&self, node: &str) -> Result<String, RedisDbError> {
        if !self.members.iter().any(|(n, _)| n == node) {
            return Err(RedisDbError::NotMember(node.to_string()));
        }
        let d = self.server();
        let data = format!("{}/data", d.dir);
        let primary = if self.is_first(node) {
            None
        } else {
            Some((self.first()?, self.cfg.port))
        };
        let conf = conf::server_conf(&data, self.cfg.port, primary);
        Ok(format!(
            "set -e\nmkdir -p {data}\n{write}{start}",
            data = shell_quote(&data),
            write = Self::write_if_absent(&self.server_conf_path(), &conf),
            start = d.start_script(&["redis-server", &self.server_conf_path()]),
        ))
    }

    /// The script that starts `node`'s sentinel (writing its first config) unless it runs.
    pub fn sentinel_start_script(&self, node: &str) -> Result<String, RedisDbError> {
        if !self.members.iter().any(|(n, _)| n == node) {
            return Err(RedisDbError::NotMember(node.to_string()));
        }
        let d = self.sentinel();
        let conf = conf::sentinel_conf(
            &d.dir,
            self.cfg.sentinel_port,
            (self.first()?, self.cfg.port),
            conf::quorum(self.members.len()),
        );
        Ok(format!(
            "set -e\nmkdir -p {dir}\n{write}{start}",
            dir = shell_quote(&d.dir),
            write = Self::write_if_absent(&self.sentinel_conf_path(), &conf),
            start = d.start_script(&["redis-sentinel", &self.sentinel_conf_path()]),
        ))
    }

    /// Stops both daemons (and their orphans) and removes the whole directory. Prints
    /// `stale <pid>` per orphan.
    pub fn wipe_script(&self) -> String {
        format!(
            "set -e\n( {} )\n( {} )\nrm -rf {}\n",
            self.server().wipe_script(),
            self.sentinel().wipe_script(),
            shell_quote(&self.cfg.dir)
        )
    }

    fn run(
        &self,
        node: &dyn Remote,
        what: &str,
        script: &str,
        t: Duration,
    ) -> Result<String, RedisDbError> {
        let out = node.sh(script, t)?;
        if out.status != 0 {
            return Err(RedisDbError::Command {
                node: node.node().to_string(),
                what: what.to_string(),
                status: out.status,
                detail: format!("{}{}", out.stderr.trim(), out.stdout.trim()),
            });
        }
        Ok(out.stdout)
    }

    /// Installs Debian's `redis-server` and `redis-sentinel` unless both are on the PATH.
    pub fn install(&self, node: &dyn Remote) -> Result<(), RedisDbError> {
        self.run(node, "installing redis", INSTALL_SCRIPT, INSTALL_TIMEOUT)
            .map(|_| ())
    }

    /// `redis-server --version`, e.g. `Redis server v=7.0.15 sha=...`.
    pub fn version(&self, node: &dyn Remote) -> Result<String, RedisDbError> {
        let out = self.run(
            node,
            "redis-server --version",
            "redis-server --version",
            SHORT,
        )?;
        Ok(out.lines().next().unwrap_or("").trim().to_string())
    }

    pub fn wipe(&self, node: &dyn Remote) -> Result<usize, RedisDbError> {
        let out = self.run(node, "wiping redis", &self.wipe_script(), SHORT)?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }

    /// Whether `node`'s server (not its sentinel) is alive by its pid file.
    pub fn is_running(&self, node: &dyn Remote) -> Result<bool, RedisDbError> {
        Ok(node.sh(&self.server().alive_script(), SHORT)?.status == 0)
    }

    /// Starts every server, then every sentinel, that is not running, and waits up to
    /// `timeout` for the replication topology to be healthy.
    pub async fn start_all(
        &self,
        nodes: &[Arc<dyn Remote>],
        timeout: Duration,
    ) -> Result<(), RedisDbError> {
        for n in nodes {
            let s = self.server_start_script(n.node())?;
            self.run(n.as_ref(), "starting redis-server", &s, SHORT)?;
        }
        for n in nodes {
            let s = self.sentinel_start_script(n.node())?;
            self.run(n.as_ref(), "starting redis-sentinel", &s, SHORT)?;
        }
        let start = Instant::now();
        loop {
            let why = match self.health().await {
                Ok(primary) => {
                    tracing::info!("redis: {primary} is the primary; replication is healthy");
                    return Ok(());
                }
                Err(why) => why,
            };
            if start.elapsed() >= timeout {
                return Err(RedisDbError::Unhealthy {
                    secs: timeout.as_secs(),
                    detail: why,
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The primary's node when the topology is healthy (see the module doc), else why not.
    pub async fn health(&self) -> Result<String, String> {
        let n = self.members.len();
        let members = self.members();
        let mut primary: Option<String> = None;
        for (node, host) in &self.members {
            let mut c = connect(
                host,
                self.cfg.sentinel_port,
                Duration::from_millis(500),
                Duration::from_secs(1),
            )
            .await
            .map_err(|e| format!("sentinel {node}: {e}"))?;
            let fields: Vec<String> = redis::cmd("SENTINEL")
                .arg("master")
                .arg(conf::MASTER_NAME)
                .query_async(&mut c)
                .await
                .map_err(|e| format!("sentinel {node}: {e}"))?;
            let v = conf::parse_sentinel_master(&fields)
                .map_err(|e| format!("sentinel {node}: {e}"))?;
            if !v.settled() || v.other_sentinels + 1 != n {
                return Err(format!(
                    "sentinel {node}: primary {} flagged {}, knows {} other sentinels of {}",
                    v.primary,
                    v.flags,
                    v.other_sentinels,
                    n - 1
                ));
            }
            match &primary {
                None => primary = Some(v.primary),
                Some(p) if *p != v.primary => {
                    return Err(format!("sentinels disagree: {p} and {}", v.primary))
                }
                Some(_) => {}
            }
        }
        let primary = primary.ok_or("no nodes")?;
        let mut replicas = Vec::new();
        for (node, host) in &self.members {
            let mut c = connect(
                host,
                self.cfg.port,
                Duration::from_millis(500),
                Duration::from_secs(1),
            )
            .await
            .map_err(|e| format!("server {node}: {e}"))?;
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut c)
                .await
                .map_err(|e| format!("server {node}: {e}"))?;
            let me = format!("{host}:{}", self.cfg.port);
            match conf::parse_replication(&info).map_err(|e| format!("server {node}: {e}"))? {
                Replication::Primary { online } if me == primary => replicas = online,
                Replication::Replica {
                    primary: p,
                    link_up: true,
                } if p == primary => {}
                other => {
                    return Err(format!(
                        "server {node}: {other:?}, while the sentinels name {primary}"
                    ))
                }
            }
        }
        if replicas.len() + 1 != n {
            return Err(format!(
                "primary {primary} sees replicas {replicas:?} online"
            ));
        }
        let (h, p) = primary.rsplit_once(':').unwrap_or((&primary, "0"));
        Ok(members.node_at(h, p.parse().unwrap_or(0)))
    }
}

/// Installs the packages unless both programs are there.
const INSTALL_SCRIPT: &str = "command -v redis-server >/dev/null 2>&1 && \
     command -v redis-sentinel >/dev/null 2>&1 && exit 0\n\
     export DEBIAN_FRONTEND=noninteractive\n\
     apt-get install -y -qq --no-install-recommends redis-server redis-sentinel >/dev/null 2>&1 || \
     { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server redis-sentinel; }\n\
     command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null\n";

impl Db for Redis {
    fn info(&self) -> &'static DbInfo {
        &crate::INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        Ok(Redis::install(self, node)?)
    }
    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        Ok(Redis::version(self, node)?)
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        Ok(Redis::wipe(self, node)?)
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move { Ok(Redis::start_all(self, nodes, timeout).await?) })
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
        let w = match workload {
            "register" => Workload::Register,
            "set" => Workload::Set,
            other => {
                return Err(DbError::Option {
                    option: "--workload".into(),
                    msg: format!("redis has no client for {other:?}"),
                })
            }
        };
        Ok(Arc::new(RedisClient::new(self.members(), w, self.cfg.wait)))
    }
    fn process(&self) -> Option<Arc<dyn Process>> {
        Some(Arc::new(self.clone()))
    }
    fn primaries(&self) -> Option<Arc<dyn Primaries>> {
        Some(Arc::new(self.clone()))
    }
}

impl Process for Redis {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        let s = self.server_start_script(node.node())?;
        self.run(node, "starting redis-server", &s, SHORT)?;
        Ok(())
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "killing redis-server",
            &self.server().kill_script(),
            SHORT,
        )?;
        Ok(())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        let s = self.server().signal_script("STOP");
        self.run(node, "pausing redis-server", &s, SHORT)?;
        Ok(())
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        let s = self.server().signal_script("CONT");
        self.run(node, "resuming redis-server", &s, SHORT)?;
        Ok(())
    }
}

/// The primaries the answering sentinels name (several while they disagree).
pub fn primaries_named(members: &Members, answers: &[(String, u16)]) -> Vec<String> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (h, p) in answers {
        *count.entry(members.node_at(h, *p)).or_default() += 1;
    }
    count.into_keys().collect()
}

/// Asks the sentinel at `host:port` for the primary's address, with blocking I/O: the
/// nemesis calls [`Primaries::primaries`] from async code that must not start a runtime.
fn ask_sentinel_blocking(host: &str, port: u16) -> Result<(String, u16), redis::RedisError> {
    let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
    let mut c = client.get_connection_with_timeout(Duration::from_millis(400))?;
    c.set_read_timeout(Some(Duration::from_millis(800)))?;
    c.set_write_timeout(Some(Duration::from_millis(800)))?;
    let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(conf::MASTER_NAME)
        .query(&mut c)?;
    addr.ok_or_else(|| {
        redis::RedisError::from(std::io::Error::other("the sentinel knows no primary"))
    })
}

impl Primaries for Redis {
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        let answers: Vec<(String, u16)> = nodes
            .iter()
            .filter_map(|n| ask_sentinel_blocking(n.host(), self.cfg.sentinel_port).ok())
            .collect();
        primaries_named(&self.members(), &answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Redis {
        Redis::new(
            RedisConfig::default(),
            (1..=3)
                .map(|i| (format!("n{i}"), format!("10.9.0.{i}")))
                .collect(),
        )
    }

    #[test]
    fn the_first_node_starts_as_primary_and_the_others_replicate_it() {
        let r = three();
        let s1 = r.server_start_script("n1").unwrap();
        assert!(!s1.contains("replicaof"), "{s1}");
        let s2 = r.server_start_script("n2").unwrap();
        assert!(s2.contains("replicaof 10.9.0.1 6379\n"), "{s2}");
        assert!(
            s2.contains("redis-server /opt/labrys-redis/server/redis.conf"),
            "{s2}"
        );
        assert!(
            s2.contains("[ -f /opt/labrys-redis/server/redis.conf ] ||"),
            "{s2}"
        );
        let t = r.sentinel_start_script("n3").unwrap();
        assert!(
            t.contains("sentinel monitor labrys 10.9.0.1 6379 2\n"),
            "{t}"
        );
        assert!(
            t.contains("redis-sentinel /opt/labrys-redis/sentinel/sentinel.conf"),
            "{t}"
        );
        assert!(matches!(
            r.server_start_script("n9"),
            Err(RedisDbError::NotMember(_))
        ));
        assert_eq!(r.server().comm, "redis-server");
        assert_eq!(r.sentinel().comm, "redis-sentinel");
        assert_eq!(r.server().pid_path(), "/opt/labrys-redis/server/redis.pid");
    }

    #[test]
    fn scripts_are_valid_sh() {
        let r = Redis::new(
            RedisConfig {
                dir: "/tmp/it's here".into(),
                ..RedisConfig::default()
            },
            vec![
                ("n1".into(), "127.0.0.1".into()),
                ("n2".into(), "127.0.0.2".into()),
            ],
        );
        for s in [
            r.server_start_script("n1").unwrap(),
            r.server_start_script("n2").unwrap(),
            r.sentinel_start_script("n2").unwrap(),
            r.wipe_script(),
            r.server().kill_script(),
            r.server().signal_script("STOP"),
            INSTALL_SCRIPT.to_string(),
        ] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{s}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn a_config_is_written_once_and_kept_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redis.conf").display().to_string();
        let script = Redis::write_if_absent(&path, "port 1\n");
        let run = || {
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert!(out.status.success());
        };
        run();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "port 1\n");
        std::fs::write(&path, "port 2\n").unwrap();
        run();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "port 2\n");
    }

    #[test]
    fn primaries_are_the_nodes_the_sentinels_name() {
        let m = three().members();
        let a = vec![
            ("10.9.0.2".to_string(), 6379),
            ("10.9.0.2".to_string(), 6379),
            ("10.9.0.1".to_string(), 6379),
        ];
        assert_eq!(primaries_named(&m, &a), vec!["n1", "n2"]);
        assert!(primaries_named(&m, &[]).is_empty());
    }
}
