//! Running a ZooKeeper ensemble on labrys nodes, over [`Remote`] only.
//!
//! Debian's `zookeeper` package ships the jars (`/usr/share/java/zookeeper.jar`, whose manifest
//! names its dependencies) and an init script labrys does not use: the service would run one
//! server per host from `/etc/zookeeper` and `/var/lib/zookeeper`, shared by every node of a
//! local cluster. Instead each node runs its own server from its own directory
//! (`/opt/labrys-zookeeper` by default; nodes have a private `/opt`):
//! - `zoo.cfg`: `server.<i>=<ip>:2888:3888` for every node (`i` is the node's 1-based place in
//!   the test's node list), the data directory, `4lw.commands.whitelist=srvr,ruok,mntr` (for
//!   [`crate::srvr`]), the AdminServer off (one Jetty less per node), and a 1 s tick so that a
//!   lost leader is noticed within a few seconds (`syncLimit` 5 ticks);
//! - `log4j.properties`: everything to the console, which the daemon sends to
//!   `zookeeper.log`; this directory comes first on the class path so it is the one log4j
//!   finds;
//! - `data/myid`: the node's server id;
//! - `zookeeper.pid`, `zookeeper.log`: the pid-file daemon ([`labrys_control::Daemon`], comm
//!   `java`). Its data directory is on the command line (`-Dlabrys.data=<dir>/data`) so that
//!   `wipe` finds a server an earlier, killed harness left without its pid file.
//!
//! The JVM's heap is capped (`-Xmx256m` by default) with the serial collector and the client
//! JIT only, so five servers fit on a small machine beside the other tests.
//!
//! libfaketime shifts a JVM's clock (Java reads `clock_gettime` through libc): when the
//! library is installed, the server starts with [`labrys_nemesis::clock::faketime_env`] so the
//! clock nemesis can move it. The monotonic clock moves too, so ZooKeeper's own timeouts
//! (sessions, `syncLimit`) see the jump, as a real clock fault would make them.

use crate::srvr::{self, Mode};
use crate::ZkRegisterClient;
use labrys_control::{shell_quote, ControlError, Daemon, Remote};
use labrys_db::{Db, DbError, DbFuture, DbInfo, LogFile, Primaries, Process};
use labrys_gen::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where and how the servers run.
#[derive(Clone, Debug)]
pub struct ZkConfig {
    /// Per-node directory for configuration, data, log and pid file.
    pub dir: String,
    pub client_port: u16,
    /// Followers connect to the leader here.
    pub quorum_port: u16,
    /// Leader election.
    pub election_port: u16,
    /// The `java` executable.
    pub java: String,
    /// Where Debian puts the jars.
    pub jars: String,
    /// `-Xmx`, in MiB.
    pub heap_mb: u32,
    /// `tickTime`, in milliseconds.
    pub tick_ms: u32,
    /// `sync()` before every register read (`--db-opt reads=sync`, the default); off, reads
    /// are served by whichever server the client is connected to (possibly stale).
    pub sync_reads: bool,
}

impl Default for ZkConfig {
    fn default() -> Self {
        ZkConfig {
            dir: "/opt/labrys-zookeeper".into(),
            client_port: 2181,
            quorum_port: 2888,
            election_port: 3888,
            java: "java".into(),
            jars: "/usr/share/java".into(),
            heap_mb: 256,
            tick_ms: 1000,
            sync_reads: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("node {0} is not a member of this ZooKeeper ensemble")]
    NotMember(String),
    #[error("node {node}: {what} failed (exit {status}): {detail}")]
    Command {
        node: String,
        what: String,
        status: i32,
        detail: String,
    },
    #[error("ZooKeeper did not become healthy within {secs} s: {detail}")]
    Unhealthy { secs: u64, detail: String },
}

impl From<ZkError> for DbError {
    fn from(e: ZkError) -> DbError {
        match e {
            ZkError::Command {
                node,
                what,
                status,
                detail,
            } => DbError::Node {
                node,
                step: what,
                msg: format!("exit {status}: {detail}"),
            },
            ZkError::Unhealthy { secs, detail } => DbError::Unhealthy {
                db: "zookeeper".into(),
                secs,
                detail,
            },
            other => DbError::Other(other.to_string()),
        }
    }
}

/// A ZooKeeper ensemble: one server per node.
#[derive(Clone, Debug)]
pub struct ZooKeeper {
    cfg: ZkConfig,
    /// (node name, host or IP) per server, in server-id order (id = index + 1).
    members: Vec<(String, String)>,
}

const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_secs(30);
/// How long a `srvr` probe may take.
const PROBE: Duration = Duration::from_secs(2);
/// The parent znode of every register.
pub const ROOT: &str = "/labrys";

impl ZooKeeper {
    pub fn new(cfg: ZkConfig, members: Vec<(String, String)>) -> ZooKeeper {
        ZooKeeper { cfg, members }
    }

    /// One server per node, at the node's host.
    pub fn for_nodes(cfg: ZkConfig, nodes: &[Arc<dyn Remote>]) -> ZooKeeper {
        ZooKeeper::new(
            cfg,
            nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
        )
    }

    pub fn config(&self) -> &ZkConfig {
        &self.cfg
    }

    /// `host:clientPort` per member, in member order.
    pub fn client_addrs(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|(_, h)| format!("{h}:{}", self.cfg.client_port))
            .collect()
    }

    /// The server as a pid-file daemon in its directory.
    fn daemon(&self) -> Daemon {
        Daemon::new(&self.cfg.dir, "zookeeper", "java")
    }

    pub fn log_path(&self) -> String {
        self.daemon().log_path()
    }

    /// The server id of `node` (1-based).
    pub fn myid(&self, node: &str) -> Result<usize, ZkError> {
        self.members
            .iter()
            .position(|(n, _)| n == node)
            .map(|i| i + 1)
            .ok_or_else(|| ZkError::NotMember(node.to_string()))
    }

    /// The `zoo.cfg` every server runs with.
    pub fn zoo_cfg(&self) -> String {
        let c = &self.cfg;
        let mut s = format!(
            "tickTime={tick}\ninitLimit=10\nsyncLimit=5\n\
             dataDir={data}\nclientPort={port}\nmaxClientCnxns=0\n\
             admin.enableServer=false\n4lw.commands.whitelist=srvr,ruok,mntr\n\
             autopurge.purgeInterval=0\n",
            tick = c.tick_ms,
            data = self.daemon().data_dir,
            port = c.client_port,
        );
        for (i, (_, host)) in self.members.iter().enumerate() {
            s.push_str(&format!(
                "server.{}={host}:{}:{}\n",
                i + 1,
                c.quorum_port,
                c.election_port
            ));
        }
        s
    }

    /// log4j 1.2 configuration: INFO and above to the console (the daemon's log).
    pub fn log4j_properties() -> &'static str {
        "log4j.rootLogger=INFO, CONSOLE\n\
         log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n\n"
    }

    /// The class path: this server's directory (for `log4j.properties`), ZooKeeper (its
    /// manifest names its other jars), and the slf4j binding to log4j.
    pub fn classpath(&self) -> String {
        let j = &self.cfg.jars;
        format!(
            "{}:{j}/zookeeper.jar:{j}/slf4j-log4j12.jar:{j}/log4j-1.2.jar",
            self.cfg.dir
        )
    }

    /// The server's command line.
    pub fn argv(&self) -> Vec<String> {
        let d = self.daemon();
        vec![
            self.cfg.java.clone(),
            format!("-Xmx{}m", self.cfg.heap_mb),
            "-Xms32m".into(),
            "-XX:+UseSerialGC".into(),
            "-XX:TieredStopAtLevel=1".into(),
            "-Djava.net.preferIPv4Stack=true".into(),
            format!("-Dzookeeper.log.dir={}", self.cfg.dir),
            "-Dzookeeper.root.logger=INFO,CONSOLE".into(),
            // Names the data directory on the command line: how `wipe` finds orphans.
            format!("-Dlabrys.data={}", d.data_dir),
            "-cp".into(),
            self.classpath(),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain".into(),
            format!("{}/zoo.cfg", self.cfg.dir),
        ]
    }

    /// The script that writes `node`'s configuration and starts its server detached, unless
    /// it runs already.
    pub fn start_script(&self, node: &str) -> Result<String, ZkError> {
        let id = self.myid(node)?;
        let d = self.daemon();
        let dir = shell_quote(&self.cfg.dir);
        let data = shell_quote(&d.data_dir);
        let lib = shell_quote(labrys_nemesis::clock::LIBFAKETIME);
        let env: Vec<String> = labrys_nemesis::clock::faketime_env()
            .into_iter()
            .map(|(k, v)| format!("export {k}={}", shell_quote(&v)))
            .collect();
        let argv = self.argv();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Ok(format!(
            "set -e\nmkdir -p {data}\n\
             cat >{dir}/zoo.cfg <<'LABRYS_EOF'\n{cfg}LABRYS_EOF\n\
             cat >{dir}/log4j.properties <<'LABRYS_EOF'\n{log4j}LABRYS_EOF\n\
             echo {id} >{data}/myid\n\
             if [ -f {lib} ]; then\n{prepare}\n{env}\nfi\n{start}",
            cfg = self.zoo_cfg(),
            log4j = Self::log4j_properties(),
            prepare = labrys_nemesis::clock::prepare_script(),
            env = env.join("\n"),
            start = d.start_script(&argv),
        ))
    }

    fn run(
        &self,
        node: &dyn Remote,
        what: &str,
        script: &str,
        t: Duration,
    ) -> Result<String, ZkError> {
        let out = node.sh(script, t)?;
        if out.status != 0 {
            return Err(ZkError::Command {
                node: node.node().to_string(),
                what: what.to_string(),
                status: out.status,
                detail: format!("{}{}", out.stderr.trim(), out.stdout.trim()),
            });
        }
        Ok(out.stdout)
    }

    /// The script that checks for Java and the jars, installing Debian's `zookeeper` (jars
    /// only; its service is not used) when they are missing.
    pub fn install_script(&self) -> String {
        let java = shell_quote(&self.cfg.java);
        let jar = shell_quote(&format!("{}/zookeeper.jar", self.cfg.jars));
        let log4j = shell_quote(&format!("{}/slf4j-log4j12.jar", self.cfg.jars));
        format!(
            "have() {{ command -v {java} >/dev/null 2>&1 && [ -f {jar} ] && [ -f {log4j} ]; }}\n\
             have && exit 0\n\
             export DEBIAN_FRONTEND=noninteractive\n\
             apt-get install -y -qq --no-install-recommends zookeeper >/dev/null 2>&1 || \
             {{ apt-get update -qq && apt-get install -y -qq --no-install-recommends zookeeper; }}\n\
             have || {{ echo 'java or the ZooKeeper jars are missing after installing zookeeper' >&2; exit 1; }}\n"
        )
    }

    pub fn install(&self, node: &dyn Remote) -> Result<(), ZkError> {
        self.run(
            node,
            "installing zookeeper",
            &self.install_script(),
            INSTALL_TIMEOUT,
        )
        .map(|_| ())
    }

    /// `Apache ZooKeeper, version 3.8.0 ...`, from the jar itself.
    pub fn version(&self, node: &dyn Remote) -> Result<String, ZkError> {
        let cp = format!("{}/zookeeper.jar", self.cfg.jars);
        let out = node.exec(
            &[
                &self.cfg.java,
                "-cp",
                &cp,
                "org.apache.zookeeper.version.VersionInfoMain",
            ],
            SHORT,
        )?;
        if out.status != 0 {
            return Err(ZkError::Command {
                node: node.node().to_string(),
                what: "reading the ZooKeeper version".into(),
                status: out.status,
                detail: out.stderr.trim().to_string(),
            });
        }
        Ok(out.stdout.lines().next().unwrap_or("").trim().to_string())
    }

    /// Kills the server and any orphan of it, then removes its directory.
    pub fn wipe(&self, node: &dyn Remote) -> Result<usize, ZkError> {
        let out = self.run(
            node,
            "wiping zookeeper",
            &self.daemon().wipe_script(),
            SHORT,
        )?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }

    /// Whether the server's recorded process is alive.
    pub fn is_running(&self, node: &dyn Remote) -> Result<bool, ZkError> {
        Ok(node.sh(&self.daemon().alive_script(), SHORT)?.status == 0)
    }

    /// Every member's mode (`None`: not serving or not answering), in member order.
    pub async fn modes(&self) -> Vec<Option<Mode>> {
        let mut out = Vec::new();
        for a in self.client_addrs() {
            let m = srvr::srvr_async(&a, PROBE).await.ok();
            out.push(m.as_deref().and_then(srvr::parse_mode));
        }
        out
    }

    /// Starts every server and waits up to `timeout` for all of them to serve, one of them as
    /// the leader; then makes sure the registers' parent znode exists.
    pub async fn start_all(
        &self,
        nodes: &[Arc<dyn Remote>],
        timeout: Duration,
    ) -> Result<(), ZkError> {
        for n in nodes {
            let script = self.start_script(n.node())?;
            self.run(n.as_ref(), "starting zookeeper", &script, SHORT)?;
        }
        let t0 = Instant::now();
        let unhealthy = |detail: String| ZkError::Unhealthy {
            secs: timeout.as_secs(),
            detail,
        };
        loop {
            let modes = self.modes().await;
            let serving = modes.iter().all(Option::is_some);
            let leaders = modes.iter().flatten().filter(|m| m.leads()).count();
            if serving && leaders == 1 {
                break;
            }
            if t0.elapsed() >= timeout {
                let detail = self
                    .members
                    .iter()
                    .zip(&modes)
                    .map(|((n, _), m)| match m {
                        Some(m) => format!("{n}: {m:?}"),
                        None => format!("{n}: not serving"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(unhealthy(detail));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let left = timeout.saturating_sub(t0.elapsed()).max(PROBE);
        crate::client::ensure_root(&self.client_addrs().join(","), left)
            .await
            .map_err(|e| unhealthy(format!("creating {ROOT}: {e}")))
    }
}

impl Db for ZooKeeper {
    fn info(&self) -> &'static DbInfo {
        &crate::INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        Ok(ZooKeeper::install(self, node)?)
    }
    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        Ok(ZooKeeper::version(self, node)?)
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        Ok(ZooKeeper::wipe(self, node)?)
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move { Ok(ZooKeeper::start_all(self, nodes, timeout).await?) })
    }
    fn log_files(&self) -> Vec<LogFile> {
        vec![LogFile {
            remote: self.log_path(),
            local: "zookeeper.log".into(),
        }]
    }
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        match workload {
            "register" => Ok(Arc::new(ZkRegisterClient::new(
                self.members.iter().map(|(n, _)| n.clone()).collect(),
                self.client_addrs(),
                self.cfg.sync_reads,
            ))),
            other => Err(DbError::Option {
                option: "--workload".into(),
                msg: format!("zookeeper has no client for {other:?}"),
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

impl Process for ZooKeeper {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        let script = self.start_script(node.node())?;
        self.run(node, "starting zookeeper", &script, SHORT)?;
        Ok(())
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "killing zookeeper",
            &self.daemon().kill_script(),
            SHORT,
        )?;
        Ok(())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        let s = self.daemon().signal_script("STOP");
        self.run(node, "pausing zookeeper", &s, SHORT)?;
        Ok(())
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        let s = self.daemon().signal_script("CONT");
        self.run(node, "resuming zookeeper", &s, SHORT)?;
        Ok(())
    }
}

impl Primaries for ZooKeeper {
    /// The nodes whose server says `Mode: leader` to `srvr` (probed in parallel).
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        let port = self.cfg.client_port;
        std::thread::scope(|s| {
            let probes: Vec<_> = nodes
                .iter()
                .map(|n| {
                    s.spawn(move || {
                        let a = format!("{}:{port}", n.host());
                        let mode = srvr::srvr(&a, PROBE).ok();
                        mode.as_deref()
                            .and_then(srvr::parse_mode)
                            .is_some_and(Mode::leads)
                            .then(|| n.node().to_string())
                    })
                })
                .collect();
            probes
                .into_iter()
                .filter_map(|p| p.join().ok().flatten())
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> ZooKeeper {
        ZooKeeper::new(
            ZkConfig::default(),
            (1..=3)
                .map(|i| (format!("n{i}"), format!("10.9.0.{i}")))
                .collect(),
        )
    }

    #[test]
    fn config_names_every_server_with_its_id() {
        let z = three();
        let cfg = z.zoo_cfg();
        for want in [
            "server.1=10.9.0.1:2888:3888\n",
            "server.3=10.9.0.3:2888:3888\n",
            "dataDir=/opt/labrys-zookeeper/data\n",
            "clientPort=2181\n",
            "4lw.commands.whitelist=srvr,ruok,mntr\n",
            "admin.enableServer=false\n",
        ] {
            assert!(cfg.contains(want), "{want:?} missing from\n{cfg}");
        }
        assert!(!cfg.contains("server.4"));
        assert_eq!(z.myid("n2").unwrap(), 2);
        assert!(matches!(z.myid("n9"), Err(ZkError::NotMember(_))));
        assert_eq!(z.client_addrs()[2], "10.9.0.3:2181");
    }

    #[test]
    fn start_script_writes_config_and_myid_and_detaches() {
        let z = three();
        let s = z.start_script("n3").unwrap();
        assert!(s.contains("echo 3 >/opt/labrys-zookeeper/data/myid"), "{s}");
        assert!(s.contains("server.2=10.9.0.2:2888:3888\n"), "{s}");
        assert!(s.contains("-Xmx256m "), "the heap is capped: {s}");
        assert!(
            s.contains("-Dlabrys.data=/opt/labrys-zookeeper/data "),
            "the data dir is on the command line, for wipe: {s}"
        );
        assert!(s.contains(
            "org.apache.zookeeper.server.quorum.QuorumPeerMain /opt/labrys-zookeeper/zoo.cfg"
        ));
        assert!(s.contains("</dev/null &"), "detached: {s}");
        assert!(s.contains("LD_PRELOAD="), "{s}");
        // The orphan marker `wipe` greps for is on the command line the script runs.
        let marker = format!("{} ", z.daemon().data_dir);
        assert!(z.argv().join(" ").contains(&marker));
        assert_eq!(z.daemon().comm, "java");
    }

    #[test]
    fn scripts_are_valid_sh_and_quote_the_directory() {
        let z = ZooKeeper::new(
            ZkConfig {
                dir: "/tmp/it's here".into(),
                ..ZkConfig::default()
            },
            vec![("n1".into(), "127.0.0.1".into())],
        );
        for s in [
            z.start_script("n1").unwrap(),
            z.install_script(),
            z.daemon().kill_script(),
            z.daemon().signal_script("STOP"),
            z.daemon().wipe_script(),
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
        let s = z.start_script("n1").unwrap();
        assert!(s.contains("'/tmp/it'\\''s here'/zoo.cfg"), "{s}");
    }

    /// The rendered start script, run by `sh` in a scratch directory with `java` replaced by
    /// a stand-in, writes the files the server reads.
    #[test]
    fn start_script_writes_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("zk").display().to_string();
        let z = ZooKeeper::new(
            ZkConfig {
                dir: dir.clone(),
                java: "true".into(),
                ..ZkConfig::default()
            },
            vec![
                ("n1".into(), "10.9.0.1".into()),
                ("n2".into(), "10.9.0.2".into()),
            ],
        );
        let mut s = z.start_script("n2").unwrap();
        // Leave libfaketime's offset file alone on this machine.
        s = s.replace(
            labrys_nemesis::clock::LIBFAKETIME,
            "/nonexistent/libfaketime.so",
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &s])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
        assert_eq!(read("zoo.cfg"), z.zoo_cfg());
        assert_eq!(read("data/myid"), "2\n");
        assert!(read("log4j.properties").contains("CONSOLE"));
        assert!(std::path::Path::new(&format!("{dir}/zookeeper.pid")).exists());
    }
}
