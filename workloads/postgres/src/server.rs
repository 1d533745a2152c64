//! The PostgreSQL server on labrys nodes, over [`Remote`] only.
//!
//! The first node runs the primary from `/opt/labrys-postgres` (nodes have private `/opt`):
//! `data/` made by `initdb` as the `postgres` user, `postgres.log`, `postgres.pid`. The
//! config listens on the node's address only (every node uses port 5432 in its own network
//! namespace), keeps its socket in the node's directory, and trusts the test network: labrys
//! tests consistency, not authentication. The server runs through `setpriv` (which execs, so
//! the recorded pid is the postmaster's) as a [`Daemon`]: started detached in its own process
//! group, so kill and pause reach the postmaster and every backend at once. SIGKILLing only
//! the postmaster would leave backends attached to its shared memory, and the restart after
//! the fault would refuse to start.

use crate::client::{Level, PgClient, Workload};
use labrys_control::{shell_quote, Daemon, Remote};
use labrys_db::{
    install_script, sh_step, Db, DbError, DbFuture, DbInfo, LogFile, Primaries, Process,
};
use labrys_gen::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Debian's PostgreSQL 15 binaries.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";
const SHORT: Duration = Duration::from_secs(60);
const INSTALL: Duration = Duration::from_secs(600);

/// Where and how the server runs.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// Per-node directory for data, socket, log and pid file.
    pub dir: String,
    pub port: u16,
    /// The level every transaction runs at.
    pub level: Level,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            dir: "/opt/labrys-postgres".into(),
            port: 5432,
            level: Level::Serializable,
        }
    }
}

/// PostgreSQL on a set of nodes: a primary on the first.
#[derive(Clone, Debug)]
pub struct Postgres {
    cfg: PostgresConfig,
    /// (node name, host) per node; the first is the primary.
    nodes: Vec<(String, String)>,
}

impl Postgres {
    pub fn for_nodes(cfg: PostgresConfig, nodes: &[Arc<dyn Remote>]) -> Postgres {
        Postgres {
            cfg,
            nodes: nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
        }
    }

    /// The primary's (name, host).
    pub fn primary(&self) -> Option<&(String, String)> {
        self.nodes.first()
    }

    fn is_primary(&self, node: &str) -> bool {
        self.primary().is_some_and(|(n, _)| n == node)
    }

    fn daemon(&self) -> Daemon {
        Daemon::new(&self.cfg.dir, "postgres", "postgres")
    }

    /// Creates the data directory (once) and writes the config for a server listening on
    /// `host`.
    pub fn setup_script(&self, host: &str) -> String {
        let d = self.daemon();
        let conf = format!(
            "listen_addresses = '{host}'\nport = {port}\nunix_socket_directories = '{dir}'\n\
             max_connections = 200\nfsync = on\nsynchronous_commit = on\n\
             logging_collector = off\nlog_line_prefix = '%m [%p] '\n",
            port = self.cfg.port,
            dir = self.cfg.dir,
        );
        let hba = "local all all trust\nhost all all 0.0.0.0/0 trust\n";
        format!(
            "set -e\nD={dir}\nDATA={data}\n\
             id postgres >/dev/null\n\
             mkdir -p \"$D\"\nchown postgres:postgres \"$D\"\n\
             if [ ! -f \"$DATA/PG_VERSION\" ]; then\n\
             setpriv --reuid=postgres --regid=postgres --init-groups {bin}/initdb -D \"$DATA\" -U postgres --auth=trust -E UTF8 >\"$D/initdb.log\" 2>&1 || \
             {{ cat \"$D/initdb.log\" >&2; exit 1; }}\n\
             fi\n\
             printf %s {conf} >\"$DATA/postgresql.auto.conf\"\n\
             printf %s {hba} >\"$DATA/pg_hba.conf\"\n\
             chown postgres:postgres \"$DATA/postgresql.auto.conf\" \"$DATA/pg_hba.conf\"\n",
            dir = shell_quote(&self.cfg.dir),
            data = shell_quote(&d.data_dir),
            bin = BIN,
            conf = shell_quote(&conf),
            hba = shell_quote(hba),
        )
    }

    /// Starts the server detached (unless it runs), as the `postgres` user.
    pub fn start_script(&self) -> String {
        let d = self.daemon();
        let postgres = format!("{BIN}/postgres");
        d.start_script(&[
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            &postgres,
            "-D",
            &d.data_dir,
        ])
    }

    fn start_node(&self, node: &dyn Remote) -> Result<(), DbError> {
        if !self.is_primary(node.node()) {
            return Ok(());
        }
        sh_step(
            node,
            "configuring postgres",
            &self.setup_script(node.host()),
            SHORT,
        )?;
        sh_step(node, "starting postgres", &self.start_script(), SHORT).map(|_| ())
    }

    fn conninfo(&self) -> Result<String, DbError> {
        let (_, host) = self
            .primary()
            .ok_or_else(|| DbError::Other("postgres: no nodes".into()))?;
        Ok(format!(
            "host={host} port={} user=postgres dbname=postgres connect_timeout=2",
            self.cfg.port
        ))
    }
}

impl Db for Postgres {
    fn info(&self) -> &'static DbInfo {
        &crate::INFO
    }
    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        let present = format!("[ -x {BIN}/postgres ] && [ -x {BIN}/initdb ]");
        sh_step(
            node,
            "installing postgresql-15",
            &install_script(&present, &["postgresql-15"]),
            INSTALL,
        )
        .map(|_| ())
    }
    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        let out = sh_step(
            node,
            "postgres --version",
            &format!("{BIN}/postgres --version"),
            SHORT,
        )?;
        Ok(out.trim().to_string())
    }
    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        let out = sh_step(node, "wiping postgres", &self.daemon().wipe_script(), SHORT)?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }
    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            for n in nodes {
                let n = n.clone();
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.start_node(n.as_ref()))
                    .await
                    .map_err(|e| DbError::Other(format!("starting postgres: {e}")))??;
            }
            // Healthy: the primary accepts a connection and the schema exists.
            let conninfo = self.conninfo()?;
            let start = Instant::now();
            let mut last = String::new();
            while start.elapsed() < timeout {
                match crate::client::setup_schema(&conninfo).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(DbError::Unhealthy {
                db: "postgres".into(),
                secs: timeout.as_secs(),
                detail: last,
            })
        })
    }
    fn log_files(&self) -> Vec<LogFile> {
        vec![LogFile {
            remote: self.daemon().log_path(),
            local: "postgres.log".into(),
        }]
    }
    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        let w = Workload::parse(workload).ok_or_else(|| DbError::Option {
            option: "--workload".into(),
            msg: format!("postgres has no client for {workload:?}"),
        })?;
        let primary = self.primary().map(|(n, _)| n.clone()).unwrap_or_default();
        Ok(Arc::new(PgClient::new(
            self.conninfo()?,
            w,
            self.cfg.level,
            primary,
        )))
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
        self.start_node(node)
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "killing postgres",
            &self.daemon().kill_script(),
            SHORT,
        )
        .map(|_| ())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "pausing postgres",
            &self.daemon().signal_script("STOP"),
            SHORT,
        )
        .map(|_| ())
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        sh_step(
            node,
            "resuming postgres",
            &self.daemon().signal_script("CONT"),
            SHORT,
        )
        .map(|_| ())
    }
}

impl Primaries for Postgres {
    fn primaries(&self, _nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        self.primary().map(|(n, _)| n.clone()).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg() -> Postgres {
        Postgres {
            cfg: PostgresConfig::default(),
            nodes: vec![
                ("n1".into(), "10.1.0.2".into()),
                ("n2".into(), "10.1.0.3".into()),
            ],
        }
    }

    #[test]
    fn scripts_are_valid_sh() {
        let p = pg();
        for s in [p.setup_script("10.1.0.2"), p.start_script()] {
            let ok = std::process::Command::new("sh")
                .args(["-n", "-c", &s])
                .status()
                .unwrap();
            assert!(ok.success(), "{s}");
        }
        let s = p.setup_script("10.1.0.2");
        assert!(s.contains("listen_addresses = '\\''10.1.0.2'\\''"), "{s}");
        assert!(p.start_script().contains("--reuid=postgres"));
        assert!(p
            .start_script()
            .contains("/usr/lib/postgresql/15/bin/postgres -D /opt/labrys-postgres/data"));
    }

    #[test]
    fn the_first_node_is_the_primary() {
        let p = pg();
        assert!(p.is_primary("n1") && !p.is_primary("n2"));
        assert_eq!(
            p.conninfo().unwrap(),
            "host=10.1.0.2 port=5432 user=postgres dbname=postgres connect_timeout=2"
        );
    }
}
