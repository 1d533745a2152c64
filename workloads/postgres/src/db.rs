//! Running PostgreSQL on labrys nodes, over [`Remote`] only.
//!
//! Every node keeps everything of its server under one directory (`/opt/labrys-postgres` by
//! default; nodes have private `/opt`, but share `/run` and `/etc` with the host and each
//! other, so neither Debian's clusters nor its socket directory are used):
//! `data/` (the cluster, created by `initdb`, owned by `postgres`), `pg_hba.conf`,
//! `postgres.log` (the postmaster's stderr), `setup.log` (initdb / pg_basebackup output),
//! `postgres.pid` and the Unix socket. The server runs as the `postgres` user (PostgreSQL
//! refuses root) through `setpriv`, which execs, so the recorded pid is the postmaster's.
//! Settings go on the command line (`-c listen_addresses=<node IP>` and friends) rather than
//! into `postgresql.conf`, so a restarted server gets them again and tests can read them.
//!
//! Topology: one primary, the first node; every client talks to it. With `--db-opt
//! replicas=streaming` each other node runs a hot standby cloned from the primary with
//! `pg_basebackup -R` (asynchronous streaming replication); clients never read from them.
//!
//! Killing and pausing: the postmaster's children (backends, checkpointer, walwriter...) each
//! call `setsid`, so neither the pid file nor a process group reaches them, and a postmaster
//! SIGKILLed alone leaves backends attached to its shared memory: the restart then refuses to
//! start. So [`Postgres::kill_script`], [`Postgres::signal_script`] and the wipe act on every
//! process named `postgres` in this node's network namespace whose working directory is this
//! node's data directory (PostgreSQL `chdir`s there at start, children included). Nodes of a
//! local cluster share one pid namespace and the same paths, hence the namespace check.

use labrys_control::{shell_quote, ControlError, Daemon, Remote};
use labrys_db::{Db, DbError, DbFuture, DbInfo, LogFile, Primaries, Process};
use labrys_gen::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Isolation, PgClient, Target, WorkloadKind};

/// Where and how servers run.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// Per-node directory for data, config, log, socket and pid file.
    pub dir: String,
    pub port: u16,
    /// Directory of `postgres`, `initdb`, `pg_basebackup`.
    pub bin_dir: String,
    /// The OS user the server runs as.
    pub os_user: String,
    /// The database user clients connect as (trust auth).
    pub db_user: String,
    /// Streaming replicas on every node but the first.
    pub replicas: bool,
    /// The level every transaction runs at.
    pub isolation: Isolation,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            dir: "/opt/labrys-postgres".into(),
            port: 5432,
            bin_dir: "/usr/lib/postgresql/15/bin".into(),
            os_user: "postgres".into(),
            db_user: "postgres".into(),
            replicas: false,
            isolation: Isolation::Serializable,
        }
    }
}

/// Why a step on a node failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("node {0} is not a node of this PostgreSQL cluster")]
    NotMember(String),
    #[error("node {node}: {step} failed (exit {status}): {detail}")]
    Command {
        node: String,
        step: String,
        status: i32,
        detail: String,
    },
    #[error("node {node}: {step}: {msg}")]
    Sql {
        node: String,
        step: String,
        msg: String,
    },
    #[error("PostgreSQL did not become healthy within {secs} s: {detail}")]
    Unhealthy { secs: u64, detail: String },
}

impl From<PgError> for DbError {
    fn from(e: PgError) -> DbError {
        match e {
            PgError::Command {
                node,
                step,
                status,
                detail,
            } => DbError::Node {
                node,
                step,
                msg: format!("exit {status}: {detail}"),
            },
            PgError::Sql { node, step, msg } => DbError::Node { node, step, msg },
            PgError::Unhealthy { secs, detail } => DbError::Unhealthy {
                db: "postgres".into(),
                secs,
                detail,
            },
            other => DbError::Other(other.to_string()),
        }
    }
}

/// The tables every workload uses, created once after the primary is up (idempotent). The
/// `CHECK` on balances is a second guard: transfers never take an account below zero anyway.
pub fn schema_sql() -> String {
    let accounts: Vec<String> = labrys_db::bank::initial()
        .map(|(a, b)| format!("({a}, {b})"))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS lists (k bigint PRIMARY KEY, vals bigint[] NOT NULL);\n\
         CREATE TABLE IF NOT EXISTS registers (k bigint PRIMARY KEY, v bigint);\n\
         CREATE TABLE IF NOT EXISTS accounts (id bigint PRIMARY KEY, \
         balance bigint NOT NULL CHECK (balance >= 0));\n\
         INSERT INTO accounts (id, balance) VALUES {} ON CONFLICT (id) DO NOTHING;\n",
        accounts.join(", ")
    )
}

/// PostgreSQL on a set of nodes: the first is the primary.
#[derive(Clone, Debug)]
pub struct Postgres {
    cfg: PgConfig,
    /// (node name, host or IP), the primary first.
    nodes: Vec<(String, String)>,
}

const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_secs(30);
/// initdb and pg_basebackup of an empty cluster take a few seconds; allow for a slow disk.
const SETUP: Duration = Duration::from_secs(120);

impl Postgres {
    pub fn new(cfg: PgConfig, nodes: Vec<(String, String)>) -> Postgres {
        Postgres { cfg, nodes }
    }

    pub fn for_nodes(cfg: PgConfig, nodes: &[Arc<dyn Remote>]) -> Postgres {
        Postgres::new(
            cfg,
            nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
        )
    }

    pub fn config(&self) -> &PgConfig {
        &self.cfg
    }

    /// The primary's (node, host).
    pub fn primary(&self) -> Option<&(String, String)> {
        self.nodes.first()
    }

    /// The address clients use: the primary's.
    pub fn target(&self) -> Option<Target> {
        self.primary().map(|(n, h)| Target {
            node: n.clone(),
            host: h.clone(),
            port: self.cfg.port,
            user: self.cfg.db_user.clone(),
            dbname: "postgres".into(),
        })
    }

    /// The server as a pid-file daemon in its directory (see `labrys_control::daemon`).
    fn daemon(&self) -> Daemon {
        Daemon::new(&self.cfg.dir, "postgres", "postgres")
    }

    pub fn data_dir(&self) -> String {
        self.daemon().data_dir
    }

    pub fn log_path(&self) -> String {
        self.daemon().log_path()
    }

    fn host_of(&self, node: &str) -> Result<&str, PgError> {
        self.nodes
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, h)| h.as_str())
            .ok_or_else(|| PgError::NotMember(node.to_string()))
    }

    fn is_primary(&self, node: &str) -> bool {
        self.primary().is_some_and(|(n, _)| n == node)
    }

    /// Whether `node` runs a server at all in this configuration.
    pub fn runs_on(&self, node: &str) -> bool {
        self.is_primary(node) || (self.cfg.replicas && self.nodes.iter().any(|(n, _)| n == node))
    }

    fn bin(&self, exe: &str) -> String {
        format!("{}/{exe}", self.cfg.bin_dir)
    }

    /// Client authentication: trust for everyone on the cluster's network, replication
    /// included (the nodes are private namespaces; there is no secret worth guarding).
    pub fn hba_conf() -> &'static str {
        "local all all trust\n\
         host all all 0.0.0.0/0 trust\n\
         host replication all 0.0.0.0/0 trust\n"
    }

    /// The postmaster's argv on `host` (run through `setpriv` as the server's OS user).
    pub fn server_argv(&self, host: &str) -> Vec<String> {
        let d = &self.cfg.dir;
        let mut argv: Vec<String> = vec![
            "setpriv".into(),
            format!("--reuid={}", self.cfg.os_user),
            format!("--regid={}", self.cfg.os_user),
            "--init-groups".into(),
            self.bin("postgres"),
            "-D".into(),
            self.data_dir(),
        ];
        let settings = [
            format!("listen_addresses={host}"),
            format!("port={}", self.cfg.port),
            format!("unix_socket_directories={d}"),
            format!("hba_file={d}/pg_hba.conf"),
            // A fresh data dir per run makes an fsync-less server no less correct for what
            // the checker sees, but a kill must not lose acknowledged commits: keep fsync.
            "fsync=on".into(),
            "synchronous_commit=on".into(),
            "max_connections=200".into(),
            "hot_standby=on".into(),
            "log_line_prefix=%m [%p] %q%a ".into(),
        ];
        for s in settings {
            argv.push("-c".into());
            argv.push(s);
        }
        argv
    }

    /// Shell lines that prepare the node's directory and its cluster if it has none: `initdb`
    /// on the primary, `pg_basebackup -R` from the primary on a replica (into a scratch
    /// directory first, so an interrupted copy is never taken for a cluster).
    pub fn setup_script(&self, node: &str) -> Result<String, PgError> {
        self.host_of(node)?;
        let d = shell_quote(&self.cfg.dir);
        let data = shell_quote(&self.data_dir());
        let user = shell_quote(&self.cfg.os_user);
        let as_user = format!("setpriv --reuid={user} --regid={user} --init-groups");
        let make = if self.is_primary(node) {
            format!(
                "{as_user} {initdb} -D \"$DATA\" -U {dbu} --auth=trust -E UTF8 --no-locale \
                 >>\"$D/setup.log\" 2>&1 || {{ tail -n 20 \"$D/setup.log\" >&2; exit 1; }}\n",
                initdb = shell_quote(&self.bin("initdb")),
                dbu = shell_quote(&self.cfg.db_user),
            )
        } else {
            let (_, primary) = self.primary().expect("a node exists");
            format!(
                "rm -rf \"$DATA.new\"\n\
                 {as_user} {bb} -h {ph} -p {port} -U {dbu} -D \"$DATA.new\" -R -X stream -c fast \
                 >>\"$D/setup.log\" 2>&1 || {{ tail -n 20 \"$D/setup.log\" >&2; exit 1; }}\n\
                 chmod 700 \"$DATA.new\"\nmv \"$DATA.new\" \"$DATA\"\n",
                bb = shell_quote(&self.bin("pg_basebackup")),
                ph = shell_quote(primary),
                port = self.cfg.port,
                dbu = shell_quote(&self.cfg.db_user),
            )
        };
        Ok(format!(
            "set -e\nD={d}\nDATA={data}\n\
             mkdir -p \"$D\"\nchown {user}: \"$D\"\nchmod 755 \"$D\"\ncd \"$D\"\n\
             cat >\"$D/pg_hba.conf\" <<'LABRYS_HBA'\n{hba}LABRYS_HBA\n\
             chmod 644 \"$D/pg_hba.conf\"\n\
             if [ ! -f \"$DATA/PG_VERSION\" ]; then\n{make}fi\n",
            hba = Self::hba_conf(),
        ))
    }

    /// Prepares the node if needed, then starts its server detached unless it runs already.
    pub fn start_script(&self, node: &str) -> Result<String, PgError> {
        let host = self.host_of(node)?;
        let argv = self.server_argv(host);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Ok(format!(
            "{}{}",
            self.setup_script(node)?,
            self.daemon().start_script(&argv)
        ))
    }

    /// Shell lines defining `procs`: the pids of this node's PostgreSQL processes (named
    /// `postgres`, in this network namespace, not zombies, working in the data directory).
    fn procs_prelude(&self) -> String {
        format!(
            "DATA={data}\nP={pid}\nme=$(readlink /proc/self/ns/net)\n\
             procs() {{ for d in /proc/[0-9]*; do c=; \
             {{ read -r c <\"$d/comm\"; }} 2>/dev/null; [ \"$c\" = postgres ] || continue; \
             [ \"$(readlink \"$d/ns/net\" 2>/dev/null)\" = \"$me\" ] || continue; \
             [ \"$(readlink \"$d/cwd\" 2>/dev/null)\" = \"$DATA\" ] || continue; \
             grep -q '^State:[[:space:]]*Z' \"$d/status\" 2>/dev/null && continue; \
             echo \"${{d#/proc/}}\"; done; }}\n",
            data = shell_quote(&self.data_dir()),
            pid = shell_quote(&self.daemon().pid_path()),
        )
    }

    /// SIGKILLs every PostgreSQL process of this node (postmaster and children alike, again
    /// until none is left, so a backend forked meanwhile goes too), waits up to 10 s for them
    /// to be gone, and removes the pid file. Prints `killed <pid>` per process.
    pub fn kill_script(&self) -> String {
        format!(
            "{}i=0\nwhile [ -n \"$(procs)\" ] && [ $i -lt 100 ]; do \
             for p in $(procs); do kill -KILL \"$p\" 2>/dev/null && echo \"killed $p\"; done; \
             sleep 0.1; i=$((i+1)); done\n\
             if [ -n \"$(procs)\" ]; then echo \"postgres survived SIGKILL: $(procs)\" >&2; exit 1; fi\n\
             rm -f \"$P\"\n",
            self.procs_prelude()
        )
    }

    /// Sends `signal` (`STOP` or `CONT`) to every PostgreSQL process of this node, the
    /// postmaster first when stopping (so it forks no child the loop misses) and last when
    /// continuing, and waits up to 2 s for all of them to be stopped (or running again).
    pub fn signal_script(&self, signal: &str) -> String {
        let until = if signal == "STOP" { "!= T" } else { "= T" };
        let pm_first = signal == "STOP";
        format!(
            "{prelude}pm=$(cat \"$P\" 2>/dev/null || true)\n\
             {first}for p in $(procs); do [ \"$p\" = \"$pm\" ] || kill -{signal} \"$p\" 2>/dev/null || true; done\n\
             {last}i=0\nwhile [ $i -lt 20 ]; do left=0; for p in $(procs); do \
             [ \"$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null)\" {until} ] && \
             {{ left=1; kill -{signal} \"$p\" 2>/dev/null || true; }}; done; \
             [ $left = 0 ] && break; sleep 0.1; i=$((i+1)); done\n",
            prelude = self.procs_prelude(),
            first = if pm_first {
                format!("[ -n \"$pm\" ] && kill -{signal} \"$pm\" 2>/dev/null || true\n")
            } else {
                String::new()
            },
            last = if pm_first {
                String::new()
            } else {
                format!("[ -n \"$pm\" ] && kill -{signal} \"$pm\" 2>/dev/null || true\n")
            },
        )
    }

    /// Kills every PostgreSQL process of this node and removes the directory. Prints `stale
    /// <pid>` for each process found while the pid file named no live postmaster (left by a
    /// run that was itself killed).
    pub fn wipe_script(&self) -> String {
        format!(
            "{prelude}recorded=0\n\
             if [ -f \"$P\" ]; then pm=$(cat \"$P\"); \
             [ \"$(cat /proc/$pm/comm 2>/dev/null)\" = postgres ] && recorded=1; fi\n\
             if [ $recorded = 0 ]; then for p in $(procs); do echo \"stale $p\"; done; fi\n\
             {kill}rm -rf {dir}\n",
            prelude = self.procs_prelude(),
            kill = self.kill_script(),
            dir = shell_quote(&self.cfg.dir),
        )
    }

    fn run(
        &self,
        node: &dyn Remote,
        step: &str,
        script: &str,
        t: Duration,
    ) -> Result<String, PgError> {
        let out = node.sh(script, t)?;
        if out.status != 0 {
            return Err(PgError::Command {
                node: node.node().to_string(),
                step: step.to_string(),
                status: out.status,
                detail: format!("{}{}", out.stderr.trim(), out.stdout.trim()),
            });
        }
        Ok(out.stdout)
    }

    /// Installs Debian's `postgresql-15` unless its `postgres` binary is on the node already.
    pub fn install(&self, node: &dyn Remote) -> Result<(), PgError> {
        let bin = shell_quote(&self.bin("postgres"));
        let script = format!(
            "[ -x {bin} ] && exit 0\n\
             export DEBIAN_FRONTEND=noninteractive\n\
             apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null 2>&1 || \
             {{ apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql-15; }}\n\
             [ -x {bin} ] && command -v setpriv >/dev/null\n"
        );
        self.run(node, "installing postgresql-15", &script, INSTALL_TIMEOUT)
            .map(|_| ())
    }

    /// `postgres --version`, e.g. `postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`.
    pub fn version(&self, node: &dyn Remote) -> Result<String, PgError> {
        let out = node.exec(&[&self.bin("postgres"), "--version"], SHORT)?;
        Ok(out.stdout.lines().next().unwrap_or("").trim().to_string())
    }

    pub fn wipe(&self, node: &dyn Remote) -> Result<usize, PgError> {
        let out = self.run(node, "wiping postgres", &self.wipe_script(), SHORT)?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }

    /// Starts `node`'s server (preparing it first) if this configuration runs one there.
    pub fn start_node(&self, node: &dyn Remote) -> Result<(), PgError> {
        if !self.runs_on(node.node()) {
            return Ok(());
        }
        let script = self.start_script(node.node())?;
        self.run(node, "starting postgres", &script, SETUP)?;
        Ok(())
    }

    /// Starts the primary, waits for it to accept queries, creates the tables, then starts
    /// the replicas (cloned from the primary) and waits for each to accept queries too.
    pub async fn start_all(
        &self,
        nodes: &[Arc<dyn Remote>],
        timeout: Duration,
    ) -> Result<(), PgError> {
        let deadline = Instant::now() + timeout;
        let Some((first, rest)) = nodes.split_first() else {
            return Ok(());
        };
        self.start_node(first.as_ref())?;
        let target = self.target().expect("a primary");
        let client = crate::client::connect_until(&target, deadline)
            .await
            .map_err(|detail| PgError::Unhealthy {
                secs: timeout.as_secs(),
                detail,
            })?;
        client
            .batch_execute(&schema_sql())
            .await
            .map_err(|e| PgError::Sql {
                node: target.node.clone(),
                step: "creating the tables".into(),
                msg: crate::client::describe(&e),
            })?;
        drop(client);
        for n in rest.iter().filter(|n| self.runs_on(n.node())) {
            self.start_node(n.as_ref())?;
            let t = Target {
                node: n.node().to_string(),
                host: n.host().to_string(),
                ..target.clone()
            };
            crate::client::connect_until(&t, deadline)
                .await
                .map_err(|detail| PgError::Unhealthy {
                    secs: timeout.as_secs(),
                    detail,
                })?;
        }
        Ok(())
    }
}

impl Db for Postgres {
    fn info(&self) -> &'static DbInfo {
        &crate::INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        Ok(Postgres::install(self, node)?)
    }
    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        Ok(Postgres::version(self, node)?)
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        Ok(Postgres::wipe(self, node)?)
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move { Ok(Postgres::start_all(self, nodes, timeout).await?) })
    }
    fn log_files(&self) -> Vec<LogFile> {
        vec![
            LogFile {
                remote: self.log_path(),
                local: "postgres.log".into(),
            },
            LogFile {
                remote: format!("{}/setup.log", self.cfg.dir),
                local: "postgres-setup.log".into(),
            },
        ]
    }
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        let kind = WorkloadKind::from_name(workload).ok_or_else(|| DbError::Option {
            option: "--workload".into(),
            msg: format!("postgres has no client for {workload:?}"),
        })?;
        let target = self
            .target()
            .ok_or_else(|| DbError::Other("postgres: no nodes".into()))?;
        Ok(Arc::new(PgClient::new(target, kind, self.cfg.isolation)))
    }
    fn process(&self) -> Option<Arc<dyn Process>> {
        Some(Arc::new(self.clone()))
    }
    fn primaries(&self) -> Option<Arc<dyn Primaries>> {
        Some(Arc::new(self.clone()))
    }
}

impl Process for Postgres {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        Ok(self.start_node(node)?)
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(node, "killing postgres", &self.kill_script(), SHORT)?;
        Ok(())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(node, "pausing postgres", &self.signal_script("STOP"), SHORT)?;
        Ok(())
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.run(
            node,
            "resuming postgres",
            &self.signal_script("CONT"),
            SHORT,
        )?;
        Ok(())
    }
}

impl Primaries for Postgres {
    /// The first node: the primary never moves (no failover).
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        nodes
            .iter()
            .map(|n| n.node().to_string())
            .find(|n| self.is_primary(n))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command};

    fn three(replicas: bool) -> Postgres {
        Postgres::new(
            PgConfig {
                replicas,
                ..PgConfig::default()
            },
            (1..=3)
                .map(|i| (format!("n{i}"), format!("10.9.0.{i}")))
                .collect(),
        )
    }

    fn sh_n(s: &str) {
        let out = Command::new("sh").args(["-n", "-c", s]).output().unwrap();
        assert!(
            out.status.success(),
            "{s}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_server_listens_on_its_node_and_keeps_everything_in_its_directory() {
        let pg = three(false);
        let argv = pg.server_argv("10.9.0.1").join(" ");
        assert!(
            argv.starts_with("setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/15/bin/postgres -D /opt/labrys-postgres/data -c "),
            "{argv}"
        );
        for s in [
            "listen_addresses=10.9.0.1",
            "port=5432",
            "unix_socket_directories=/opt/labrys-postgres",
            "hba_file=/opt/labrys-postgres/pg_hba.conf",
            "fsync=on",
        ] {
            assert!(argv.contains(&format!("-c {s}")), "{s} missing: {argv}");
        }
        let start = pg.start_script("n1").unwrap();
        assert!(start.contains("initdb"), "{start}");
        assert!(start.contains("</dev/null &"), "detached: {start}");
        assert!(start.contains("-c listen_addresses=10.9.0.1 "), "{start}");
        assert!(matches!(pg.start_script("n9"), Err(PgError::NotMember(_))));
        assert!(Postgres::hba_conf().contains("host replication all 0.0.0.0/0 trust"));
    }

    #[test]
    fn replicas_are_cloned_from_the_primary_only_when_asked() {
        let none = three(false);
        assert!(none.runs_on("n1") && !none.runs_on("n2") && !none.runs_on("n9"));
        let pg = three(true);
        assert!(pg.runs_on("n3"));
        let s = pg.setup_script("n2").unwrap();
        assert!(
            s.contains("pg_basebackup -h 10.9.0.1 -p 5432 -U postgres -D \"$DATA.new\" -R"),
            "{s}"
        );
        assert!(!s.contains("initdb"), "{s}");
        assert!(s.contains("mv \"$DATA.new\" \"$DATA\""), "{s}");
        let s = pg.start_script("n2").unwrap();
        assert!(s.contains("-c listen_addresses=10.9.0.2 "), "{s}");
        let nodes: Vec<Arc<dyn Remote>> = ["n1", "n2"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Arc::new(
                    labrys_control::LocalRemote::new(n, &format!("127.0.0.{}", i + 1)).unwrap(),
                ) as Arc<dyn Remote>
            })
            .collect();
        assert_eq!(Primaries::primaries(&pg, &nodes), vec!["n1".to_string()]);
    }

    #[test]
    fn scripts_are_valid_sh_and_quote_the_directory() {
        let pg = Postgres::new(
            PgConfig {
                dir: "/tmp/it's here".into(),
                replicas: true,
                ..PgConfig::default()
            },
            vec![
                ("n1".into(), "127.0.0.1".into()),
                ("n2".into(), "127.0.0.2".into()),
            ],
        );
        for s in [
            pg.start_script("n1").unwrap(),
            pg.start_script("n2").unwrap(),
            pg.kill_script(),
            pg.signal_script("STOP"),
            pg.signal_script("CONT"),
            pg.wipe_script(),
        ] {
            sh_n(&s);
            assert!(s.contains("'/tmp/it'\\''s here"), "{s}");
        }
    }

    #[test]
    fn the_schema_holds_every_account_with_all_money_in_the_first() {
        let s = schema_sql();
        assert!(s.contains("VALUES (0, 100), (1, 0), "), "{s}");
        assert_eq!(
            s.matches("), (").count() + 1,
            labrys_db::bank::ACCOUNTS as usize
        );
        assert!(s.contains("CHECK (balance >= 0)"));
        assert!(s.contains("ON CONFLICT (id) DO NOTHING"), "idempotent: {s}");
    }

    fn state(pid: u32) -> Option<char> {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.split(' ').nth(2).and_then(|c| c.chars().next()))
            .filter(|c| *c != 'Z')
    }

    fn wait_state(c: &mut Child, want: Option<char>) -> Option<char> {
        for _ in 0..50 {
            let _ = c.try_wait();
            if state(c.id()) == want {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        state(c.id())
    }

    /// Real processes named `postgres` (a copy of `sleep`), two working in the data
    /// directory (a postmaster and a "backend" that is not its child) and one elsewhere:
    /// pause, resume and kill reach both of this node's and leave the other alone.
    #[test]
    fn kill_and_pause_reach_every_process_working_in_the_data_directory() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("pg").display().to_string();
        let pg = Postgres::new(
            PgConfig {
                dir: dir.clone(),
                ..PgConfig::default()
            },
            vec![("n1".into(), "127.0.0.1".into())],
        );
        let data = pg.data_dir();
        let elsewhere = base.path().join("other");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        let exe = base.path().join("postgres");
        std::fs::copy("/bin/sleep", &exe).unwrap();
        // The copy was just written: a fork in another test thread can still hold it open
        // for writing for an instant (ETXTBSY), so try again then.
        let spawn = |cwd: &std::path::Path| {
            let mut tries = 0;
            loop {
                match Command::new(&exe).arg("60").current_dir(cwd).spawn() {
                    Ok(c) => break c,
                    Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        };
        let mut pm = spawn(std::path::Path::new(&data));
        let mut backend = spawn(std::path::Path::new(&data));
        let mut other = spawn(&elsewhere);
        std::fs::write(format!("{dir}/postgres.pid"), pm.id().to_string()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let sh = |s: &str| {
            let out = Command::new("sh").args(["-c", s]).output().unwrap();
            assert!(
                out.status.success(),
                "{s}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        sh(&pg.signal_script("STOP"));
        assert_eq!(state(pm.id()), Some('T'));
        assert_eq!(state(backend.id()), Some('T'));
        assert_eq!(state(other.id()), Some('S'));
        sh(&pg.signal_script("CONT"));
        assert_eq!(wait_state(&mut backend, Some('S')), Some('S'));
        assert_eq!(state(pm.id()), Some('S'));
        let out = sh(&pg.kill_script());
        assert_eq!(
            out.lines().filter(|l| l.starts_with("killed ")).count(),
            2,
            "{out}"
        );
        assert_eq!(wait_state(&mut pm, None), None);
        assert_eq!(wait_state(&mut backend, None), None);
        assert_eq!(
            state(other.id()),
            Some('S'),
            "another directory's process lives"
        );
        assert!(!std::path::Path::new(&format!("{dir}/postgres.pid")).exists());
        // An orphan without its pid file counts as stale when wiping.
        let mut orphan = spawn(std::path::Path::new(&data));
        std::thread::sleep(Duration::from_millis(100));
        let out = sh(&pg.wipe_script());
        assert_eq!(
            out.lines().filter(|l| l.starts_with("stale ")).count(),
            1,
            "{out}"
        );
        assert_eq!(wait_state(&mut orphan, None), None);
        assert!(!std::path::Path::new(&dir).exists());
        other.kill().unwrap();
        let _ = other.wait();
    }
}
