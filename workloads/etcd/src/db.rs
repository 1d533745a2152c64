//! Running an etcd cluster on labrys nodes, over [`Remote`] only.
//!
//! Each member runs from its own directory (`/opt/labrys-etcd` by default; nodes have private
//! `/opt`) holding `data/`, `etcd.log` and `etcd.pid`, as a pid-file daemon
//! ([`labrys_control::daemon`]: started detached, killed, paused and resumed by its recorded
//! pid only, orphans found by their data directory when wiping). A restarted member finds its
//! data dir and rejoins; the `--initial-cluster` flags only matter on the very first start.

use crate::health;
use crate::{EtcdAppendClient, EtcdClient};
use labrys_control::{shell_quote, ControlError, Daemon, Remote};
use labrys_db::{Db, DbError, DbFuture, DbInfo, LogFile, Primaries, Process};
use labrys_gen::Client;
use std::sync::Arc;
use std::time::Duration;

/// Where and how members run.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// Per-node directory for data, log and pid file.
    pub dir: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub cluster_token: String,
    /// The etcd executable (looked up on PATH unless absolute).
    pub binary: String,
    /// Register reads served by any member without a quorum round (`--db-opt
    /// reads=serializable`): possibly stale, so expect a linearizability violation.
    pub serializable_reads: bool,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            dir: "/opt/labrys-etcd".into(),
            client_port: 2379,
            peer_port: 2380,
            cluster_token: "labrys".into(),
            binary: "etcd".into(),
            serializable_reads: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("node {0} is not a member of this etcd cluster")]
    NotMember(String),
    #[error("node {node}: {what} failed (exit {status}): {detail}")]
    Command {
        node: String,
        what: String,
        status: i32,
        detail: String,
    },
    #[error("etcd did not become healthy within {secs} s: {detail}")]
    Unhealthy { secs: u64, detail: String },
    #[error("cannot build an HTTP client: {0}")]
    Http(String),
}

/// An etcd cluster: one member per node, named after the node.
#[derive(Clone, Debug)]
pub struct Etcd {
    cfg: EtcdConfig,
    /// (node name, host or IP) per member.
    members: Vec<(String, String)>,
}

const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_secs(30);

impl Etcd {
    pub fn new(cfg: EtcdConfig, members: Vec<(String, String)>) -> Etcd {
        Etcd { cfg, members }
    }

    /// One member per node, at the node's host.
    pub fn for_nodes(cfg: EtcdConfig, nodes: &[Arc<dyn Remote>]) -> Etcd {
        Etcd::new(
            cfg,
            nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
        )
    }

    pub fn config(&self) -> &EtcdConfig {
        &self.cfg
    }

    pub fn members(&self) -> &[(String, String)] {
        &self.members
    }

    /// Client URLs in member order.
    pub fn client_urls(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|(_, h)| format!("http://{}:{}", h, self.cfg.client_port))
            .collect()
    }

    /// `n1=http://10.0.0.1:2380,n2=...`
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|(n, h)| format!("{n}=http://{h}:{}", self.cfg.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn log_path(&self) -> String {
        self.daemon().log_path()
    }

    /// The member as a pid-file daemon in its directory (see `labrys_control::daemon`).
    fn daemon(&self) -> Daemon {
        let exe = self.cfg.binary.rsplit('/').next().unwrap_or("etcd");
        Daemon::new(&self.cfg.dir, "etcd", exe)
    }

    fn host_of(&self, node: &str) -> Result<&str, EtcdError> {
        self.members
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, h)| h.as_str())
            .ok_or_else(|| EtcdError::NotMember(node.to_string()))
    }

    /// The script that starts `node`'s member detached, unless it runs already.
    pub fn start_script(&self, node: &str) -> Result<String, EtcdError> {
        let host = self.host_of(node)?;
        let peer = format!("http://{host}:{}", self.cfg.peer_port);
        let client = format!("http://{host}:{}", self.cfg.client_port);
        let args = [
            "--name",
            node,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--initial-cluster",
            &self.initial_cluster(),
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            &self.cfg.cluster_token,
        ];
        let daemon = self.daemon();
        let mut argv = vec![self.cfg.binary.as_str(), "--data-dir", &daemon.data_dir];
        argv.extend_from_slice(&args);
        Ok(daemon.start_script(&argv))
    }

    fn run(
        &self,
        node: &dyn Remote,
        what: &str,
        script: &str,
        t: Duration,
    ) -> Result<String, EtcdError> {
        let out = node.sh(script, t)?;
        if out.status != 0 {
            return Err(EtcdError::Command {
                node: node.node().to_string(),
                what: what.to_string(),
                status: out.status,
                detail: format!("{}{}", out.stderr.trim(), out.stdout.trim()),
            });
        }
        Ok(out.stdout)
    }

    /// Installs Debian's `etcd-server` unless an `etcd` is on the node's PATH already.
    pub fn install(&self, node: &dyn Remote) -> Result<(), EtcdError> {
        let bin = shell_quote(&self.cfg.binary);
        let script = format!(
            "command -v {bin} >/dev/null 2>&1 && exit 0\n\
             export DEBIAN_FRONTEND=noninteractive\n\
             apt-get install -y -qq --no-install-recommends etcd-server >/dev/null 2>&1 || \
             {{ apt-get update -qq && apt-get install -y -qq --no-install-recommends etcd-server; }}\n\
             command -v {bin} >/dev/null\n"
        );
        self.run(node, "installing etcd-server", &script, INSTALL_TIMEOUT)
            .map(|_| ())
    }

    /// `etcd --version`'s first line, e.g. `etcd Version: 3.4.23`.
    pub fn version(&self, node: &dyn Remote) -> Result<String, EtcdError> {
        let out = node.exec(&[&self.cfg.binary, "--version"], SHORT)?;
        Ok(out.stdout.lines().next().unwrap_or("").trim().to_string())
    }

    /// Kills the member, and any other etcd of this node that runs from the member's data
    /// directory, then removes the directory (data, log, pid): a fresh start. Returns how many
    /// such other processes it stopped.
    ///
    /// The pid file is not enough after a harness was killed: a member it started may be
    /// running whose pid file was removed or overwritten. Those are found by name, by data
    /// directory on their command line, and by network namespace (nodes of a local cluster
    /// share one pid namespace, and each runs its member from the same path), so no other
    /// node's member, and no etcd labrys did not start, is touched.
    pub fn wipe(&self, node: &dyn Remote) -> Result<usize, EtcdError> {
        let out = self.run(node, "wiping etcd", &self.daemon().wipe_script(), SHORT)?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }

    /// Whether the member's recorded process is alive.
    pub fn is_running(&self, node: &dyn Remote) -> Result<bool, EtcdError> {
        let out = node.sh(&self.daemon().alive_script(), SHORT)?;
        Ok(out.status == 0)
    }

    /// Starts every member (concurrently: the first members wait for a quorum) and waits up
    /// to `timeout` for all of them to report healthy.
    pub async fn start_all(
        &self,
        nodes: &[Arc<dyn Remote>],
        timeout: Duration,
    ) -> Result<(), EtcdError> {
        for n in nodes {
            let script = self.start_script(n.node())?;
            self.run(n.as_ref(), "starting etcd", &script, SHORT)?;
        }
        health::wait_healthy(&self.client_urls(), timeout).await
    }
}

impl From<EtcdError> for DbError {
    fn from(e: EtcdError) -> DbError {
        match e {
            EtcdError::Command {
                node,
                what,
                status,
                detail,
            } => DbError::Node {
                node,
                step: what,
                msg: format!("exit {status}: {detail}"),
            },
            EtcdError::Unhealthy { secs, detail } => DbError::Unhealthy {
                db: "etcd".into(),
                secs,
                detail,
            },
            other => DbError::Other(other.to_string()),
        }
    }
}

impl Db for Etcd {
    fn info(&self) -> &'static DbInfo {
        &crate::INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        Ok(Etcd::install(self, node)?)
    }
    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        Ok(Etcd::version(self, node)?)
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        Ok(Etcd::wipe(self, node)?)
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move { Ok(Etcd::start_all(self, nodes, timeout).await?) })
    }
    fn log_files(&self) -> Vec<LogFile> {
        vec![LogFile {
            remote: self.log_path(),
            local: "etcd.log".into(),
        }]
    }
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        let http = |e: reqwest::Error| DbError::Other(format!("etcd client: {e}"));
        match workload {
            "register" => Ok(Arc::new(
                EtcdClient::new(self.client_urls(), "labrys/")
                    .map_err(http)?
                    .with_serializable_reads(self.cfg.serializable_reads),
            )),
            "list-append" => Ok(Arc::new(
                EtcdAppendClient::new(self.client_urls(), "labrys-la/").map_err(http)?,
            )),
            "set" => Ok(Arc::new(
                crate::set::EtcdSetClient::new(self.client_urls(), "labrys-set/").map_err(http)?,
            )),
            other => Err(DbError::Option {
                option: "--workload".into(),
                msg: format!("etcd has no client for {other:?}"),
            }),
        }
    }
    fn process(&self) -> Option<Arc<dyn Process>> {
        Some(Arc::new(self.clone()))
    }
    fn primaries(&self) -> Option<Arc<dyn Primaries>> {
        Some(Arc::new(self.clone()))
    }
}

impl Process for Etcd {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        let script = self.start_script(node.node())?;
        self.run(node, "starting etcd", &script, SHORT)?;
        Ok(())
    }

    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(node, "killing etcd", &self.daemon().kill_script(), SHORT)?;
        Ok(())
    }

    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "pausing etcd",
            &self.daemon().signal_script("STOP"),
            SHORT,
        )?;
        Ok(())
    }

    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "resuming etcd",
            &self.daemon().signal_script("CONT"),
            SHORT,
        )?;
        Ok(())
    }
}

impl Primaries for Etcd {
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        nodes
            .iter()
            .filter(|n| {
                let url = format!("{}:{}", n.host(), self.cfg.client_port);
                health::is_leader(&url, Duration::from_secs(2)).unwrap_or(false)
            })
            .map(|n| n.node().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Etcd {
        Etcd::new(
            EtcdConfig::default(),
            (1..=3)
                .map(|i| (format!("n{i}"), format!("10.9.0.{i}")))
                .collect(),
        )
    }

    #[test]
    fn cluster_flags_name_every_member() {
        let e = three();
        assert_eq!(
            e.initial_cluster(),
            "n1=http://10.9.0.1:2380,n2=http://10.9.0.2:2380,n3=http://10.9.0.3:2380"
        );
        assert_eq!(e.client_urls()[2], "http://10.9.0.3:2379");
        let s = e.start_script("n2").unwrap();
        assert!(s.contains("--name n2 "), "{s}");
        assert!(
            s.contains("--listen-client-urls http://10.9.0.2:2379 "),
            "{s}"
        );
        assert!(
            s.contains("</dev/null &"),
            "the daemon must be detached: {s}"
        );
        assert!(matches!(e.start_script("n9"), Err(EtcdError::NotMember(_))));
    }

    #[test]
    fn scripts_are_valid_sh() {
        let e = Etcd::new(
            EtcdConfig {
                dir: "/tmp/it's here".into(),
                ..EtcdConfig::default()
            },
            vec![("n1".into(), "127.0.0.1".into())],
        );
        for s in [
            e.start_script("n1").unwrap(),
            e.daemon().kill_script(),
            e.daemon().signal_script("STOP"),
            e.daemon().signal_script("CONT"),
            e.daemon().wipe_script(),
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
            assert!(
                s.contains("'/tmp/it'\\''s here'") || s.contains("\"/tmp/it's here\""),
                "{s}"
            );
        }
    }
}
