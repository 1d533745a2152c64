//! Running a MariaDB Galera cluster on labrys nodes, over [`Remote`] only.
//!
//! Each node runs one `mariadbd` from its own directory (`/opt/labrys-galera` by default; nodes
//! have private `/opt`): `my.cnf` (written by labrys, and the only option file the server
//! reads: `--defaults-file`, so the host's shared `/etc/mysql` is never used), `data/`
//! (created by `mariadb-install-db` on the first start), the socket, the server's own pid file
//! and `galera.log` (its stderr). The server is a pid-file daemon ([`labrys_control::Daemon`],
//! comm `mariadbd`, the data directory on its command line so orphans are found when wiping).
//! The server runs as the `mysql` user (the directory is chowned to it): rsync SST starts an
//! rsync daemon as the server's user, and an rsync daemon started by root drops to `nobody`,
//! which cannot write a root-owned data directory.
//!
//! Bootstrapping: a Galera cluster is born when one node starts with `--wsrep-new-cluster`;
//! every other start must join the existing cluster through `gcomm://` (all node addresses).
//! The first node bootstraps on its very first start only, and leaves a `bootstrapped`
//! marker in its directory; every later start of it (after a kill) joins the others like any
//! node, so a killed and restarted first node never creates a second cluster beside the
//! survivors. Joiners get the state by IST from a donor's gcache, or by rsync SST when they
//! are new. When faults leave no primary component at all (a majority killed: the survivor
//! turns non-Primary and the restarted nodes, finding no quorum, exit), `start_all` does what
//! Galera's documentation asks of an operator: a full-cluster restart from the most advanced
//! node (see `Galera::recover`).
//!
//! Restarts after a kill follow Debian's `galera_recovery`: the server is first run with
//! `--wsrep-recover` to read the last committed position from InnoDB, which the real start
//! gets as `wsrep_start_position` (through `position.cnf`, included by `my.cnf`). Without it a
//! cluster killed whole restores its primary component from `gvwstate.dat` with an undefined
//! (all-zero) state, and its nodes stop agreeing on it. A restarted node also waits until the
//! survivors have dropped its killed incarnation from their view (see [`Galera::start_node`]).
//!
//! `start_all` starts the first node, waits (over its local socket) for it to be ready,
//! creates the `labrys` user, database, tables and bank accounts there (replicated to every
//! joiner), starts the others, and waits until every node reports `wsrep_ready=ON` and
//! `wsrep_cluster_size=N` over TCP, and that the server runs with the requested
//! `innodb_snapshot_isolation`.

use crate::client::{GaleraClient, Workload};
use crate::{Level, INFO};
use labrys_control::{shell_quote, ControlError, Daemon, Remote};
use labrys_db::{Db, DbError, DbFuture, DbInfo, LogFile, Process};
use labrys_gen::Client;
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where Galera's shared library lives on Debian (package `galera-4`).
pub const PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";
/// The SQL user the clients connect as.
pub const USER: &str = "labrys";
pub const PASSWORD: &str = "labrys";
/// The database holding the workload tables.
pub const DATABASE: &str = "labrys";

/// How members run.
#[derive(Clone, Debug)]
pub struct GaleraConfig {
    /// Per-node directory for config, data, socket, pid files and log.
    pub dir: String,
    pub port: u16,
    pub cluster_name: String,
    /// `innodb_snapshot_isolation` (`--db-opt snapshot-isolation`).
    pub snapshot_isolation: bool,
    /// The level clients run transactions at.
    pub level: Level,
}

impl Default for GaleraConfig {
    fn default() -> Self {
        GaleraConfig {
            dir: "/opt/labrys-galera".into(),
            port: 3306,
            cluster_name: "labrys".into(),
            snapshot_isolation: true,
            level: Level::RepeatableRead,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GaleraError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("node {0} is not a member of this Galera cluster")]
    NotMember(String),
    #[error("node {node}: {what} failed (exit {status}): {detail}")]
    Command {
        node: String,
        what: String,
        status: i32,
        detail: String,
    },
    #[error("node {node}: {what}: {detail}")]
    Sql {
        node: String,
        what: String,
        detail: String,
    },
    #[error("Galera did not become healthy within {secs} s: {detail}")]
    Unhealthy { secs: u64, detail: String },
}

/// A Galera cluster: one `mariadbd` per node.
#[derive(Clone, Debug)]
pub struct Galera {
    cfg: GaleraConfig,
    /// (node name, IP) per member, the first bootstraps.
    members: Vec<(String, String)>,
}

const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_secs(30);
const PACKAGES: &str = "mariadb-server galera-4 rsync";

impl Galera {
    pub fn new(cfg: GaleraConfig, members: Vec<(String, String)>) -> Galera {
        Galera { cfg, members }
    }

    pub fn for_nodes(cfg: GaleraConfig, nodes: &[Arc<dyn Remote>]) -> Galera {
        Galera::new(
            cfg,
            nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
        )
    }

    pub fn config(&self) -> &GaleraConfig {
        &self.cfg
    }

    fn daemon(&self) -> Daemon {
        Daemon::new(&self.cfg.dir, "galera", "mariadbd")
    }

    fn host_of(&self, node: &str) -> Result<&str, GaleraError> {
        self.members
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, h)| h.as_str())
            .ok_or_else(|| GaleraError::NotMember(node.to_string()))
    }

    fn socket(&self) -> String {
        format!("{}/mariadbd.sock", self.cfg.dir)
    }

    /// `gcomm://ip1,ip2,...`: every member, the node itself included (Galera skips it).
    pub fn cluster_address(&self) -> String {
        let hosts: Vec<&str> = self.members.iter().map(|(_, h)| h.as_str()).collect();
        format!("gcomm://{}", hosts.join(","))
    }

    /// The node's option file: the only one its server reads.
    pub fn my_cnf(&self, node: &str) -> Result<String, GaleraError> {
        let host = self.host_of(node)?;
        let d = &self.cfg.dir;
        let si = if self.cfg.snapshot_isolation {
            "ON"
        } else {
            "OFF"
        };
        Ok(format!(
            "[mysqld]\n\
             datadir={d}/data\n\
             socket={d}/mariadbd.sock\n\
             pid-file={d}/mariadbd.pid\n\
             bind-address={host}\n\
             port={port}\n\
             skip-name-resolve\n\
             performance_schema=OFF\n\
             max_connections=500\n\
             default_storage_engine=InnoDB\n\
             innodb_buffer_pool_size=64M\n\
             innodb_log_file_size=48M\n\
             innodb_snapshot_isolation={si}\n\
             binlog_format=ROW\n\
             innodb_autoinc_lock_mode=2\n\
             wsrep_on=ON\n\
             wsrep_provider={PROVIDER}\n\
             wsrep_provider_options=\"gcache.size=64M\"\n\
             wsrep_cluster_name={name}\n\
             wsrep_cluster_address={addr}\n\
             wsrep_node_address={host}\n\
             wsrep_node_name={node}\n\
             wsrep_sst_method=rsync\n\
             !include {d}/position.cnf\n",
            port = self.cfg.port,
            name = self.cfg.cluster_name,
            addr = self.cluster_address(),
        ))
    }

    /// The server's command line; `bootstrap` adds `--wsrep-new-cluster`.
    fn argv(&self, bootstrap: bool) -> Vec<String> {
        let mut argv = vec![
            "mariadbd".to_string(),
            format!("--defaults-file={}/my.cnf", self.cfg.dir),
            format!("--datadir={}", self.daemon().data_dir),
            "--user=mysql".to_string(),
        ];
        if bootstrap {
            argv.push("--wsrep-new-cluster".into());
        }
        argv
    }

    fn marker(&self) -> String {
        format!("{}/bootstrapped", self.cfg.dir)
    }

    /// The script that starts `node`'s server detached unless it runs: writes `my.cnf`,
    /// initialises the data directory on the first start, then starts the server. The first
    /// member bootstraps a new cluster only when its `bootstrapped` marker is absent (its
    /// very first start); every other start joins.
    pub fn start_script(&self, node: &str) -> Result<String, GaleraError> {
        let setup = self.setup_part(node)?;
        let d = self.daemon();
        let argv = |b: bool| {
            let a = self.argv(b);
            d.start_script(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let first = self.members.first().map(|(n, _)| n.as_str()) == Some(node);
        if !first {
            return Ok(format!("{setup}{}", argv(false)));
        }
        Ok(format!(
            "{setup}if [ -f {m} ]; then\n{join}else\n{boot}touch {m}\necho bootstrapped\nfi\n",
            m = shell_quote(&self.marker()),
            join = argv(false),
            boot = argv(true),
        ))
    }

    /// The script that starts `node` as the one that bootstraps the cluster again after it
    /// lost its primary component: the usual setup (which recovers the node's position),
    /// marks its state safe to bootstrap, and starts it with `--wsrep-new-cluster`.
    pub fn rebootstrap_script(&self, node: &str) -> Result<String, GaleraError> {
        let setup = self.setup_part(node)?;
        let d = self.daemon();
        let a = self.argv(true);
        Ok(format!(
            "{setup}sed -i 's/^safe_to_bootstrap: *0/safe_to_bootstrap: 1/' {data}/grastate.dat\n{start}",
            data = shell_quote(&d.data_dir),
            start = d.start_script(&a.iter().map(String::as_str).collect::<Vec<_>>()),
        ))
    }

    /// The last committed position InnoDB holds on a stopped `node` (`--wsrep-recover`):
    /// the script prints `seqno N` (-1 when there is none).
    pub fn seqno_script(&self) -> String {
        let dir = shell_quote(&self.cfg.dir);
        format!(
            "mariadbd {recover} --wsrep-recover --disable-log-error 2>{dir}/recover.log || true\n             pos=$(grep -a 'WSREP: Recovered position:' {dir}/recover.log | tail -n 1 | sed 's/.*://')\n             echo \"seqno ${{pos:--1}}\"\n",
            recover = self.argv(false)[1..]
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// What every start runs first: `my.cnf`, the data directory, and the position
    /// recovered from InnoDB; exits early when the server already runs.
    fn setup_part(&self, node: &str) -> Result<String, GaleraError> {
        let cnf = self.my_cnf(node)?;
        let d = self.daemon();
        let dir = shell_quote(&self.cfg.dir);
        let data = shell_quote(&d.data_dir);
        let setup = format!(
            "set -e\nmkdir -p {dir}\n\
             if ( {alive} ); then echo running; exit 0; fi\n\
             printf '%s' {cnf} >{dir}/my.cnf\n\
             printf '[mysqld]\\n' >{dir}/position.cnf\n\
             chown mysql:mysql {dir}\n\
             if [ ! -d {data}/mysql ]; then \
             mariadb-install-db --no-defaults --datadir={data} --user=mysql --skip-test-db \
             >{dir}/install.log 2>&1 || {{ cat {dir}/install.log >&2; exit 1; }}; fi\n\
             if [ -f {data}/grastate.dat ]; then \
             mariadbd {recover} --wsrep-recover --disable-log-error 2>{dir}/recover.log \
             || {{ cat {dir}/recover.log >&2; exit 1; }}; \
             pos=$(grep -a 'WSREP: Recovered position:' {dir}/recover.log | tail -n 1 \
             | sed 's/.*WSREP: Recovered position: *//'); \
             if [ -n \"$pos\" ]; then \
             printf '[mysqld]\\nwsrep_start_position=%s\\n' \"$pos\" >{dir}/position.cnf; fi; fi\n",
            alive = d.alive_script().trim_end().replace('\n', "; "),
            cnf = shell_quote(&cnf),
            recover = self.argv(false)[1..]
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        );
        Ok(setup)
    }

    /// SQL run once through the first node's socket: the client user, the tables, the bank.
    pub fn setup_sql() -> String {
        let accounts: Vec<String> = labrys_db::bank::initial()
            .map(|(a, b)| format!("({a},{b})"))
            .collect();
        format!(
            "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
             GRANT ALL ON *.* TO '{USER}'@'%';\n\
             CREATE DATABASE IF NOT EXISTS {DATABASE};\n\
             CREATE TABLE IF NOT EXISTS {DATABASE}.lists (k BIGINT PRIMARY KEY, v LONGTEXT NOT NULL) ENGINE=InnoDB;\n\
             CREATE TABLE IF NOT EXISTS {DATABASE}.registers (k BIGINT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB;\n\
             CREATE TABLE IF NOT EXISTS {DATABASE}.accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;\n\
             INSERT IGNORE INTO {DATABASE}.accounts (id, balance) VALUES {};\n",
            accounts.join(",")
        )
    }

    /// Waits (up to 60 s, on the node) until the server answers on its socket with
    /// `wsrep_ready=ON`, then runs [`Galera::setup_sql`] there.
    pub fn setup_script(&self) -> String {
        let sock = shell_quote(&self.socket());
        format!(
            "i=0\nwhile [ \"$(mariadb --no-defaults --socket={sock} -u root -N -B \
             -e \"SHOW STATUS LIKE 'wsrep_ready'\" 2>/dev/null | cut -f2)\" != ON ]; do \
             i=$((i+1)); if [ $i -gt 600 ]; then echo 'not ready after 60 s' >&2; exit 1; fi; \
             sleep 0.1; done\n\
             mariadb --no-defaults --socket={sock} -u root -e {sql}\n",
            sql = shell_quote(&Self::setup_sql()),
        )
    }

    fn run(
        &self,
        node: &dyn Remote,
        what: &str,
        script: &str,
        t: Duration,
    ) -> Result<String, GaleraError> {
        let out = node.sh(script, t)?;
        if out.status != 0 {
            return Err(GaleraError::Command {
                node: node.node().to_string(),
                what: what.to_string(),
                status: out.status,
                detail: format!("{}{}", out.stderr.trim(), out.stdout.trim()),
            });
        }
        Ok(out.stdout)
    }

    /// Checks the binaries are on the node; installs the packages with apt when not.
    pub fn install(&self, node: &dyn Remote) -> Result<(), GaleraError> {
        let check = format!(
            "command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null && \
             command -v mariadb >/dev/null && command -v rsync >/dev/null && [ -f {PROVIDER} ]"
        );
        let script = format!(
            "{check} && exit 0\n\
             export DEBIAN_FRONTEND=noninteractive\n\
             apt-get install -y -qq --no-install-recommends {PACKAGES} >/dev/null 2>&1 || \
             {{ apt-get update -qq && apt-get install -y -qq --no-install-recommends {PACKAGES}; }}\n\
             {check}\n"
        );
        self.run(
            node,
            "installing mariadb-server and galera-4",
            &script,
            INSTALL_TIMEOUT,
        )
        .map(|_| ())
    }

    /// `mariadbd --version` and the galera-4 package version.
    pub fn version(&self, node: &dyn Remote) -> Result<String, GaleraError> {
        let out = self.run(
            node,
            "reading the MariaDB version",
            "mariadbd --version; dpkg-query -W -f 'galera-4 ${Version}\\n' galera-4 2>/dev/null || true",
            SHORT,
        )?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; "))
    }

    pub fn wipe(&self, node: &dyn Remote) -> Result<usize, GaleraError> {
        let out = self.run(node, "wiping mariadbd", &self.daemon().wipe_script(), SHORT)?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }

    /// Starts the node's server unless it runs; true when it bootstrapped a new cluster.
    ///
    /// A restarted node comes back under its old group identity (Galera restores it from
    /// `gvwstate.dat`, which is what lets a cluster killed whole form its primary component
    /// again), and the survivors refuse that identity while they still count the killed
    /// incarnation as a member: a node restarted within the suspect timeout (5 s) can stay
    /// outside for a long time. So before a restart, wait (up to 20 s) until no reachable
    /// member lists this node among `wsrep_incoming_addresses` any more.
    pub fn start_node(&self, node: &dyn Remote) -> Result<bool, GaleraError> {
        let script = self.start_script(node.node())?;
        if node.sh(&self.daemon().alive_script(), SHORT)?.status != 0 {
            self.wait_until_left(node.node());
        }
        let out = self.run(node, "starting mariadbd", &script, SHORT)?;
        Ok(out.lines().any(|l| l == "bootstrapped"))
    }

    /// Waits up to 20 s until no other reachable member counts `node` in its view.
    fn wait_until_left(&self, node: &str) {
        let Ok(host) = self.host_of(node) else {
            return;
        };
        let me = format!("{host}:{}", self.cfg.port);
        let others: Vec<mysql_async::Opts> = self
            .members
            .iter()
            .filter(|(n, _)| n != node)
            .map(|(_, h)| self.opts(h))
            .collect();
        // Process::start is synchronous and may be called from inside the runner's runtime:
        // a thread of its own with its own small runtime.
        let waited = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_secs(20) {
                    let mut listed = false;
                    for o in &others {
                        let q = async {
                            let mut c = mysql_async::Conn::new(o.clone()).await.ok()?;
                            let r: Option<(String, String)> = c
                                .query_first("SHOW GLOBAL STATUS LIKE 'wsrep_incoming_addresses'")
                                .await
                                .ok()?;
                            let _ = c.disconnect().await;
                            r.map(|(_, v)| v)
                        };
                        if let Ok(Some(addrs)) =
                            tokio::time::timeout(Duration::from_secs(2), q).await
                        {
                            listed |= lists_member(&addrs, &me);
                        }
                    }
                    if !listed {
                        return Some(t0.elapsed());
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None
            })
        })
        .join()
        .ok()
        .flatten();
        match waited {
            Some(t) => tracing::debug!(node, secs = t.as_secs_f64(), "left the view"),
            None => tracing::warn!(node, "still in a member's view after 20 s; starting anyway"),
        }
    }

    /// Connection options for the client user on `host`.
    pub fn opts(&self, host: &str) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(self.cfg.port)
            .user(Some(USER))
            .pass(Some(PASSWORD))
            .db_name(Some(DATABASE))
            .prefer_socket(false)
            .into()
    }

    /// One node's wsrep status and `innodb_snapshot_isolation`.
    async fn node_state(&self, host: &str) -> Result<NodeState, String> {
        let mut c = tokio::time::timeout(
            Duration::from_secs(3),
            mysql_async::Conn::new(self.opts(host)),
        )
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
        let rows: Vec<(String, String)> = c
            .query(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_ready', \
                 'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_cluster_state_uuid', \
                 'wsrep_cluster_conf_id', 'wsrep_last_committed')",
            )
            .await
            .map_err(|e| format!("SHOW STATUS: {e}"))?;
        let si: Option<(String, String)> = c
            .query_first("SHOW GLOBAL VARIABLES LIKE 'innodb_snapshot_isolation'")
            .await
            .map_err(|e| format!("SHOW VARIABLES: {e}"))?;
        let _ = c.disconnect().await;
        Ok(NodeState::from_rows(
            &rows,
            si.map(|(_, v)| v).unwrap_or_else(|| "absent".into()),
        ))
    }

    /// Starts every server that is not running (the first node first, bootstrapping on its
    /// first start) and waits up to `timeout` for every node to be ready in one cluster of
    /// all members.
    pub async fn start_all(
        &self,
        nodes: &[Arc<dyn Remote>],
        timeout: Duration,
    ) -> Result<(), GaleraError> {
        let t0 = Instant::now();
        let Some(first) = nodes.first() else {
            return Ok(());
        };
        // The user and tables are created once, in the cluster the first node just
        // bootstrapped; a restart after faults finds them replicated everywhere.
        if self.start_node(first.as_ref())? {
            self.run(
                first.as_ref(),
                "creating the labrys user and tables",
                &self.setup_script(),
                Duration::from_secs(90),
            )?;
        }
        for n in &nodes[1..] {
            self.start_node(n.as_ref())?;
        }
        let want_si = if self.cfg.snapshot_isolation {
            "ON"
        } else {
            "OFF"
        };
        let mut last = String::new();
        let mut rebooted = false;
        let mut last_restart = Instant::now();
        let mut no_primary_since: Option<Instant> = None;
        while t0.elapsed() < timeout {
            let mut all = true;
            let mut states = Vec::new();
            let mut running: Vec<NodeState> = Vec::new();
            let mut down: Vec<usize> = Vec::new();
            for (i, n) in nodes.iter().enumerate() {
                let state = tokio::time::timeout(Duration::from_secs(5), self.node_state(n.host()))
                    .await
                    .unwrap_or_else(|_| Err("no answer within 5 s".into()));
                match state {
                    Ok(st) => {
                        if st.snapshot_isolation != want_si {
                            return Err(GaleraError::Sql {
                                node: n.node().into(),
                                what: "checking innodb_snapshot_isolation".into(),
                                detail: format!(
                                    "the server runs with {}, wanted {want_si}",
                                    st.snapshot_isolation
                                ),
                            });
                        }
                        all &= st.healthy(nodes.len());
                        states.push(format!("{}: {st}", n.node()));
                        running.push(st);
                    }
                    Err(e) => {
                        all = false;
                        if e.contains("Connection refused") {
                            down.push(i);
                        }
                        states.push(format!("{}: {e}", n.node()));
                    }
                }
            }
            last = states.join("; ");
            // No node in a primary component, seen for 15 s on end (a start that is merely
            // slow has its bootstrapping node Primary long before).
            if running.iter().all(|st| st.cluster_status != "Primary") {
                no_primary_since.get_or_insert_with(Instant::now);
            } else {
                no_primary_since = None;
            }
            let stuck = no_primary_since.is_some_and(|t| t.elapsed() > Duration::from_secs(15));
            if !all && t0.elapsed() > Duration::from_secs(10) {
                self.recover(nodes, stuck, &down, &mut rebooted, &mut last_restart);
            }
            if all {
                tracing::info!(
                    secs = t0.elapsed().as_secs_f64(),
                    innodb_snapshot_isolation = want_si,
                    "galera cluster ready"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(GaleraError::Unhealthy {
            secs: timeout.as_secs(),
            detail: last,
        })
    }
}

impl Galera {
    /// What an operator does when faults leave no primary component (a kill of a majority:
    /// the survivor turns non-Primary, and the restarted nodes find no quorum and exit; or
    /// every node down): Galera's full-cluster restart. Every server is stopped, each node's
    /// last committed position is read from InnoDB (`--wsrep-recover`), the most advanced
    /// node bootstraps the cluster again (`safe_to_bootstrap: 1`, `--wsrep-new-cluster`) and
    /// the others join it. Done once per `start_all`, and only after the faults are healed,
    /// so no other component can be writing meanwhile. Nodes merely down are started again
    /// every 10 s.
    fn recover(
        &self,
        nodes: &[Arc<dyn Remote>],
        no_primary: bool,
        down: &[usize],
        rebooted: &mut bool,
        last_restart: &mut Instant,
    ) {
        if !*rebooted && no_primary {
            *rebooted = true;
            if let Err(e) = self.restart_whole(nodes) {
                tracing::warn!("restarting the whole cluster failed: {e}");
            }
            *last_restart = Instant::now();
            return;
        }
        if !down.is_empty() && last_restart.elapsed() > Duration::from_secs(10) {
            *last_restart = Instant::now();
            for &i in down {
                let node = nodes[i].as_ref();
                tracing::warn!(
                    node = node.node(),
                    "not running; starting it again to rejoin"
                );
                if let Err(e) = self.start_node(node) {
                    tracing::warn!(node = node.node(), "{e}");
                }
            }
        }
    }

    /// Galera's full-cluster restart from the most advanced node (see [`Galera::recover`]).
    fn restart_whole(&self, nodes: &[Arc<dyn Remote>]) -> Result<(), GaleraError> {
        let d = self.daemon();
        for n in nodes {
            self.run(n.as_ref(), "stopping mariadbd", &d.kill_script(), SHORT)?;
        }
        let mut best: Option<(i64, usize)> = None;
        for (i, n) in nodes.iter().enumerate() {
            let out = self.run(
                n.as_ref(),
                "reading the last committed position",
                &self.seqno_script(),
                SHORT,
            )?;
            let seqno = out
                .lines()
                .find_map(|l| l.strip_prefix("seqno "))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(-1);
            if best.is_none_or(|(b, _)| seqno > b) {
                best = Some((seqno, i));
            }
        }
        let Some((seqno, i)) = best else {
            return Ok(());
        };
        let boot = nodes[i].as_ref();
        tracing::warn!(
            node = boot.node(),
            seqno,
            "no primary component after the faults: restarting the whole cluster from its most advanced node"
        );
        self.run(
            boot,
            "bootstrapping the cluster again",
            &self.rebootstrap_script(boot.node())?,
            SHORT,
        )?;
        for (k, n) in nodes.iter().enumerate() {
            if k != i {
                self.start_node(n.as_ref())?;
            }
        }
        Ok(())
    }
}

/// Whether `wsrep_incoming_addresses` (`ip:port,ip:port,...`) names `addr`.
pub fn lists_member(addresses: &str, addr: &str) -> bool {
    addresses.split(',').any(|a| a.trim() == addr)
}

/// What `start_all` reads of a node: a node is healthy when it is ready, synced, in the
/// primary component, and that component holds every node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeState {
    pub cluster_size: u64,
    pub ready: String,
    pub cluster_status: String,
    pub local_state: String,
    pub state_uuid: String,
    pub conf_id: String,
    /// The last transaction this node committed (-1 when unknown): which node is most
    /// advanced when the primary component must be bootstrapped again.
    pub last_committed: i64,
    pub snapshot_isolation: String,
}

impl NodeState {
    /// From `SHOW GLOBAL STATUS` rows (missing variables stay empty).
    pub fn from_rows(rows: &[(String, String)], snapshot_isolation: String) -> NodeState {
        let get = |k: &str| {
            rows.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        NodeState {
            cluster_size: get("wsrep_cluster_size").parse().unwrap_or(0),
            ready: get("wsrep_ready"),
            cluster_status: get("wsrep_cluster_status"),
            local_state: get("wsrep_local_state_comment"),
            state_uuid: get("wsrep_cluster_state_uuid"),
            conf_id: get("wsrep_cluster_conf_id"),
            last_committed: get("wsrep_last_committed").parse().unwrap_or(-1),
            snapshot_isolation,
        }
    }

    pub fn healthy(&self, nodes: usize) -> bool {
        self.cluster_size == nodes as u64
            && self.ready == "ON"
            && self.cluster_status == "Primary"
            && self.local_state == "Synced"
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wsrep_cluster_size={} wsrep_ready={} wsrep_cluster_status={} wsrep_local_state={} \
             conf_id={} state_uuid={}",
            self.cluster_size,
            self.ready,
            self.cluster_status,
            self.local_state,
            self.conf_id,
            self.state_uuid
        )
    }
}

impl From<GaleraError> for DbError {
    fn from(e: GaleraError) -> DbError {
        match e {
            GaleraError::Command {
                node,
                what,
                status,
                detail,
            } => DbError::Node {
                node,
                step: what,
                msg: format!("exit {status}: {detail}"),
            },
            GaleraError::Sql { node, what, detail } => DbError::Node {
                node,
                step: what,
                msg: detail,
            },
            GaleraError::Unhealthy { secs, detail } => DbError::Unhealthy {
                db: "galera".into(),
                secs,
                detail,
            },
            other => DbError::Other(other.to_string()),
        }
    }
}

impl Db for Galera {
    fn info(&self) -> &'static DbInfo {
        &INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        Ok(Galera::install(self, node)?)
    }
    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        Ok(Galera::version(self, node)?)
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        Ok(Galera::wipe(self, node)?)
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move { Ok(Galera::start_all(self, nodes, timeout).await?) })
    }
    fn log_files(&self) -> Vec<LogFile> {
        vec![
            LogFile {
                remote: self.daemon().log_path(),
                local: "galera.log".into(),
            },
            LogFile {
                remote: format!("{}/my.cnf", self.cfg.dir),
                local: "my.cnf".into(),
            },
        ]
    }
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        let w = Workload::from_name(workload).ok_or_else(|| DbError::Option {
            option: "--workload".into(),
            msg: format!("galera has no client for {workload:?}"),
        })?;
        let nodes = self
            .members
            .iter()
            .map(|(n, h)| (n.clone(), self.opts(h)))
            .collect();
        Ok(Arc::new(GaleraClient::new(w, self.cfg.level, nodes)))
    }
    fn process(&self) -> Option<Arc<dyn Process>> {
        Some(Arc::new(self.clone()))
    }
}

impl Process for Galera {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.start_node(node)?;
        Ok(())
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "killing mariadbd",
            &self.daemon().kill_script(),
            SHORT,
        )?;
        Ok(())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "pausing mariadbd",
            &self.daemon().signal_script("STOP"),
            SHORT,
        )?;
        Ok(())
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "resuming mariadbd",
            &self.daemon().signal_script("CONT"),
            SHORT,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(dir: &str) -> Galera {
        Galera::new(
            GaleraConfig {
                dir: dir.into(),
                ..GaleraConfig::default()
            },
            (1..=3)
                .map(|i| (format!("n{i}"), format!("10.9.0.{i}")))
                .collect(),
        )
    }

    #[test]
    fn my_cnf_binds_the_node_and_names_every_member() {
        let g = three("/opt/labrys-galera");
        assert_eq!(g.cluster_address(), "gcomm://10.9.0.1,10.9.0.2,10.9.0.3");
        let c = g.my_cnf("n2").unwrap();
        for line in [
            "[mysqld]",
            "bind-address=10.9.0.2",
            "wsrep_node_address=10.9.0.2",
            "wsrep_node_name=n2",
            "wsrep_on=ON",
            "wsrep_provider=/usr/lib/galera/libgalera_smm.so",
            "wsrep_cluster_address=gcomm://10.9.0.1,10.9.0.2,10.9.0.3",
            "binlog_format=ROW",
            "innodb_autoinc_lock_mode=2",
            "innodb_snapshot_isolation=ON",
            "socket=/opt/labrys-galera/mariadbd.sock",
            "datadir=/opt/labrys-galera/data",
        ] {
            assert!(c.lines().any(|l| l == line), "{line} missing in\n{c}");
        }
        let mut off = g.clone();
        off.cfg.snapshot_isolation = false;
        assert!(off
            .my_cnf("n1")
            .unwrap()
            .contains("innodb_snapshot_isolation=OFF\n"));
        assert!(matches!(g.my_cnf("n9"), Err(GaleraError::NotMember(_))));
    }

    #[test]
    fn only_the_first_node_bootstraps_and_only_without_its_marker() {
        let g = three("/opt/labrys-galera");
        let s1 = g.start_script("n1").unwrap();
        assert_eq!(s1.matches("--wsrep-new-cluster").count(), 1, "{s1}");
        assert!(
            s1.contains("if [ -f /opt/labrys-galera/bootstrapped ]; then"),
            "{s1}"
        );
        // The join branch comes first, the bootstrap branch (which leaves the marker) after.
        let join = s1.find("else\n").unwrap();
        assert!(s1[join..].contains("--wsrep-new-cluster"));
        assert!(s1[join..].contains("touch /opt/labrys-galera/bootstrapped"));
        let s2 = g.start_script("n2").unwrap();
        assert!(!s2.contains("--wsrep-new-cluster"), "{s2}");
        assert!(
            s2.contains("--datadir=/opt/labrys-galera/data --user=mysql"),
            "{s2}"
        );
        assert!(
            s2.contains("--defaults-file=/opt/labrys-galera/my.cnf"),
            "{s2}"
        );
        assert!(s2.contains("</dev/null &"), "detached: {s2}");
        assert!(s2.contains("mariadb-install-db --no-defaults"), "{s2}");
    }

    #[test]
    fn incoming_addresses_are_matched_whole() {
        let a = "10.9.0.11:3306,10.9.0.12:3306";
        assert!(lists_member(a, "10.9.0.12:3306"));
        assert!(!lists_member(a, "10.9.0.1:3306"));
        assert!(!lists_member("", "10.9.0.1:3306"));
    }

    #[test]
    fn setup_sql_creates_the_bank_with_all_its_money_in_account_0() {
        let s = Galera::setup_sql();
        assert!(s.contains("(0,100),(1,0),"), "{s}");
        assert!(s.contains("CREATE USER IF NOT EXISTS 'labrys'@'%'"));
        assert_eq!(s.matches("CREATE TABLE IF NOT EXISTS").count(), 3);
    }

    #[test]
    fn scripts_are_valid_sh() {
        let g = three("/tmp/it's here");
        for s in [
            g.start_script("n1").unwrap(),
            g.start_script("n3").unwrap(),
            g.setup_script(),
            g.daemon().kill_script(),
            g.daemon().wipe_script(),
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

    /// The option file survives the shell's quoting byte for byte.
    #[test]
    fn the_start_script_writes_my_cnf_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let g = three(&dir.path().join("x'y").display().to_string());
        let s = g.start_script("n2").unwrap();
        let setup = &s[..s.find("chown").unwrap()];
        let out = std::process::Command::new("sh")
            .args(["-c", setup])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let written = std::fs::read_to_string(format!("{}/my.cnf", g.cfg.dir)).unwrap();
        assert_eq!(written, g.my_cnf("n2").unwrap());
    }
}
