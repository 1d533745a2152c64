//! A database driven by the commands of its test file ([`crate::config::TestFile`]), behind
//! the same `labrys-db` traits as the built-in ones, so every nemesis and the whole runner
//! work unchanged.
//!
//! - The server is `db.start`, run on each node through `sh -c` as a grouped [`Daemon`]
//!   labrys owns (the shell and everything it starts are one process group): pid file and
//!   output (`server.log`) in the node's directory (`/opt/labrys-<name>` unless the test says
//!   otherwise), so kill and pause are signals to the group, a restart after a kill is the
//!   same start, and `wipe` finds a server an earlier, killed harness left (by the tag in its
//!   processes' environment).
//! - Files the test file lists in `db.upload` are copied from its folder into `{dir}` on each
//!   node before `db.install` (nodes of a local cluster have their own `/tmp` and `/root`).
//! - `db.packages` go to the runner's one install rule (as a built-in database's do);
//!   `db.ready` is polled on every node after a start until it exits 0; `db.install`,
//!   `db.version`, `db.stop` (before every wipe), `db.wipe` and `db.primaries` run when the
//!   file gives them; `db.kill`, `db.pause` and `db.resume` replace the signals when given.
//! - Every command runs in the node's directory; one that fails is an error naming the node,
//!   the file's key and the command's exit status and output (the runner logs it, heals and
//!   tears down).
//! - Clients are [`SubprocessClient`]s running `client.command`; what they write on stderr
//!   goes to the run folder's `clients.log`.
//!
//! `DbInfo` is `'static` in the contract (the built-in databases are tables in the binary);
//! the one built from a test file is leaked once, when the file is read.

use crate::client::{ClientCommand, NodeEnv, SubprocessClient};
use crate::config::{render, TestFile};
use labrys_control::{Daemon, Remote};
use labrys_db::{
    sh_step, Db, DbError, DbFuture, DbInfo, DbKind, DbOptions, LogFile, Primaries, Process,
};
use labrys_gen::Client;
use labrys_store::run_dir::CLIENTS_LOG;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_secs(120);
const SHORT: Duration = Duration::from_secs(30);

/// A database from a test file: the entry `--config` adds to the table of databases.
pub struct CommandKind {
    file: Arc<TestFile>,
    /// The test file's folder: the client runs there.
    base: PathBuf,
    info: &'static DbInfo,
}

impl CommandKind {
    pub fn new(file: TestFile, base: PathBuf) -> CommandKind {
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        let workloads: Vec<&'static str> = file.workloads.iter().map(|w| leak(w)).collect();
        let packages: Vec<&'static str> = file.db.packages.iter().map(|p| leak(p)).collect();
        let info = Box::leak(Box::new(DbInfo {
            name: leak(&file.name),
            packages: Box::leak(packages.into_boxed_slice()),
            honours_faketime: false,
            faketime_note:
                "a database from a test file is started by its own command, not under libfaketime",
            workloads: Box::leak(workloads.into_boxed_slice()),
            options: &[],
            isolations: &[],
        }));
        CommandKind {
            file: Arc::new(file),
            base,
            info,
        }
    }
}

impl DbKind for CommandKind {
    fn info(&self) -> &'static DbInfo {
        self.info
    }

    fn open(&self, nodes: &[Arc<dyn Remote>], opts: &DbOptions) -> Result<Arc<dyn Db>, DbError> {
        let dir = opts
            .dir
            .clone()
            .unwrap_or_else(|| format!("/opt/labrys-{}", self.file.name));
        Ok(Arc::new(CommandDb {
            file: self.file.clone(),
            base: self.base.clone(),
            info: self.info,
            members: nodes
                .iter()
                .map(|n| (n.node().to_string(), n.host().to_string()))
                .collect(),
            dir,
            clients_log: opts.run_dir.as_ref().map(|d| d.join(CLIENTS_LOG)),
        }))
    }
}

#[derive(Clone)]
struct CommandDb {
    file: Arc<TestFile>,
    base: PathBuf,
    info: &'static DbInfo,
    members: Vec<(String, String)>,
    dir: String,
    /// Where client stderr goes (`<run>/clients.log`); without a run, the tracing log.
    clients_log: Option<PathBuf>,
}

impl CommandDb {
    /// The server: the start command's process group, alive while a process of it named
    /// `db.process` (any, without one) lives.
    fn daemon(&self) -> Daemon {
        let comm = self.file.db.process.as_deref().unwrap_or("");
        Daemon::new(&self.dir, "server", comm).grouped()
    }

    fn vars(&self, node: &str) -> BTreeMap<&'static str, String> {
        let me = self.members.iter().position(|(n, _)| n == node);
        let address = me.map(|i| self.members[i].1.clone()).unwrap_or_default();
        let join = |f: &dyn Fn(&(String, String)) -> String| {
            self.members.iter().map(f).collect::<Vec<_>>().join(",")
        };
        let peers: Vec<String> = self
            .members
            .iter()
            .filter(|(n, _)| n != node)
            .map(|(_, h)| h.clone())
            .collect();
        BTreeMap::from([
            ("node", node.to_string()),
            ("address", address),
            ("index", me.map(|i| i.to_string()).unwrap_or_default()),
            ("nodes", join(&|(n, _)| n.clone())),
            ("addresses", join(&|(_, h)| h.clone())),
            ("members", join(&|(n, h)| format!("{n}={h}"))),
            ("peers", peers.join(",")),
            ("dir", self.dir.clone()),
            ("data_dir", self.daemon().data_dir),
        ])
    }

    fn command(&self, node: &dyn Remote, key: &str, template: &str) -> Result<String, DbError> {
        render(template, &self.vars(node.node())).map_err(|e| DbError::node(node.node(), key, e))
    }

    /// How a failing command is named: its key, and the command as run (cut short).
    fn step(key: &str, cmd: &str) -> String {
        let one_line = cmd.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut short: String = one_line.chars().take(100).collect();
        if short.len() < one_line.len() {
            short.push_str(" ...");
        }
        format!("{key} `{short}`")
    }

    /// Runs the file's command `key` on `node` in the node's directory.
    fn run(
        &self,
        node: &dyn Remote,
        key: &str,
        template: &str,
        t: Duration,
    ) -> Result<String, DbError> {
        let cmd = self.command(node, key, template)?;
        let d = labrys_control::shell_quote(&self.dir);
        let step = Self::step(key, &cmd);
        sh_step(
            node,
            &step,
            &format!("mkdir -p {d} && cd {d} && {cmd}\n"),
            t,
        )
    }

    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        let cmd = self.command(node, "db.start", &self.file.db.start)?;
        // The command line as written (`cd x && VAR=1 server ...` works: the server is the
        // group), with `{data_dir}` made first (some servers will not create it), and its
        // exit status in the log when it ends.
        let data = labrys_control::shell_quote(&self.daemon().data_dir);
        let line = format!(
            "mkdir -p {data} || exit 1\n{cmd}\n\
             echo \"[labrys] the start command exited with status $?\"\n"
        );
        let script = self.daemon().start_script(&["sh", "-c", &line]);
        sh_step(node, &Self::step("db.start", &cmd), &script, SHORT)?;
        Ok(())
    }

    /// Whether the server labrys started on `node` still runs.
    fn alive(&self, node: &dyn Remote) -> bool {
        node.sh(&self.daemon().alive_script(), SHORT)
            .is_ok_and(|o| o.status == 0)
    }

    /// The error for a server that is no longer running: the end of its output.
    fn exited(&self, node: &dyn Remote) -> DbError {
        let log = self.daemon().log_path();
        let tail = node
            .sh(
                &format!("tail -n 5 {}", labrys_control::shell_quote(&log)),
                SHORT,
            )
            .map(|o| o.stdout.trim().to_string())
            .unwrap_or_default();
        let named = match &self.file.db.process {
            Some(p) => format!(", or no process of it is named {p:?} (db.process)"),
            None => String::new(),
        };
        DbError::node(
            node.node(),
            "db.start",
            format!(
                "the server is not running (the start command ended{named}); the end of its \
                 output ({log} on the node, {n}/server.log in the run folder):\n{tail}",
                n = node.node()
            ),
        )
    }

    /// Whether `node` serves: `db.ready` exits 0, or without one, the server runs.
    fn ready(&self, node: &dyn Remote) -> Result<(), String> {
        let script = match &self.file.db.ready {
            Some(r) => self
                .command(node, "db.ready", r)
                .map_err(|e| e.to_string())?,
            None => self.daemon().alive_script(),
        };
        match node.sh(&script, Duration::from_secs(10)) {
            Ok(o) if o.success() => Ok(()),
            Ok(o) => Err(o.failure()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Db for CommandDb {
    fn info(&self) -> &'static DbInfo {
        self.info
    }

    fn install(&self, node: &dyn Remote) -> Result<(), DbError> {
        // On a local cluster the runner installed them already (this finds them present);
        // on given hosts this is where they are installed.
        let pkgs: Vec<&str> = self.file.db.packages.iter().map(String::as_str).collect();
        if !pkgs.is_empty() {
            let present = pkgs
                .iter()
                .map(|p| {
                    format!(
                        "dpkg-query -W -f='${{Status}}' {p} 2>/dev/null | grep -q 'ok installed'"
                    )
                })
                .collect::<Vec<_>>()
                .join(" && ");
            sh_step(
                node,
                "db.packages",
                &labrys_db::install_script(&present, &pkgs),
                STEP,
            )?;
        }
        if !self.file.db.upload.is_empty() {
            let d = labrys_control::shell_quote(&self.dir);
            sh_step(node, "db.upload", &format!("mkdir -p {d}\n"), SHORT)?;
        }
        for u in &self.file.db.upload {
            let local = self.base.join(u);
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let remote = format!("{}/{name}", self.dir);
            let step = format!("db.upload {u}");
            node.upload(&local, &remote)
                .map_err(|e| DbError::node(node.node(), &step, e))?;
            let mode = std::fs::metadata(&local)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
                .unwrap_or(0o644);
            let chmod = format!("chmod {mode:o} {}\n", labrys_control::shell_quote(&remote));
            sh_step(node, &step, &chmod, SHORT)?;
        }
        if let Some(i) = &self.file.db.install {
            self.run(node, "db.install", i, STEP)?;
        }
        Ok(())
    }

    fn version(&self, node: &dyn Remote) -> Result<String, DbError> {
        match &self.file.db.version {
            Some(v) => Ok(self.run(node, "db.version", v, SHORT)?.trim().to_string()),
            None => Ok(format!("{} (no db.version command)", self.file.name)),
        }
    }

    fn wipe(&self, node: &dyn Remote) -> Result<usize, DbError> {
        let d = self.daemon();
        if let Some(stop) = &self.file.db.stop {
            self.run(node, "db.stop", stop, SHORT)?;
        }
        sh_step(node, "stopping the server", &d.kill_script(), SHORT)?;
        if let Some(w) = &self.file.db.wipe {
            self.run(node, "db.wipe", w, SHORT)?;
        }
        let out = sh_step(node, "wiping", &d.wipe_script(), SHORT)?;
        Ok(out.lines().filter(|l| l.starts_with("stale ")).count())
    }

    fn start_all<'a>(
        &'a self,
        nodes: &'a [Arc<dyn Remote>],
        timeout: Duration,
    ) -> DbFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            for n in nodes {
                self.start(n.as_ref())?;
            }
            let t0 = Instant::now();
            loop {
                let mut waiting = Vec::new();
                for n in nodes {
                    if let Err(e) = self.ready(n.as_ref()) {
                        // A server that is gone will not become ready: say so now, with
                        // the end of its output.
                        if t0.elapsed() > Duration::from_secs(2) && !self.alive(n.as_ref()) {
                            return Err(self.exited(n.as_ref()));
                        }
                        waiting.push(format!("{}: {e}", n.node()));
                    }
                }
                if waiting.is_empty() {
                    return Ok(());
                }
                if t0.elapsed() > timeout {
                    return Err(DbError::Unhealthy {
                        db: self.file.name.clone(),
                        secs: timeout.as_secs(),
                        detail: waiting.join("; "),
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }

    fn log_files(&self) -> Vec<LogFile> {
        let mut out = vec![LogFile {
            remote: self.daemon().log_path(),
            local: "server.log".into(),
        }];
        // Log paths use only {dir} and {data_dir} (the file is checked for that), so any
        // node's variables fill them.
        let vars = self.vars("");
        for t in &self.file.db.log_files {
            if let Ok(p) = render(t, &vars) {
                // A glob's matches keep their own names (`LogFile`'s contract).
                let local = p.rsplit('/').next().unwrap_or("log").to_string();
                out.push(LogFile { remote: p, local });
            }
        }
        out
    }

    fn client(&self, workload: &str) -> Result<Arc<dyn Client>, DbError> {
        self.info.runs(workload)?;
        let name = self.file.name.clone();
        Ok(Arc::new(SubprocessClient::new(
            ClientCommand {
                command: self.file.client.command.clone(),
                dir: Some(self.base.clone()),
                env: self
                    .file
                    .client
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain([("LABRYS_WORKLOAD".to_string(), workload.to_string())])
                    .collect(),
            },
            self.members
                .iter()
                .map(|(n, h)| NodeEnv {
                    name: n.clone(),
                    host: h.clone(),
                })
                .collect(),
            client_log(self.clients_log.as_deref(), name),
        )))
    }

    fn process(&self) -> Option<Arc<dyn Process>> {
        Some(Arc::new(CommandProcess(Arc::new(self.clone()))))
    }

    fn primaries(&self) -> Option<Arc<dyn Primaries>> {
        self.file.db.primaries.as_ref()?;
        Some(Arc::new(CommandProcess(Arc::new(self.clone()))))
    }
}

/// Where the clients' stderr lines go: appended, timestamped, to `path` (the run folder's
/// `clients.log`), or to the tracing log (`LABRYS_LOG=client=info`) when there is no file.
fn client_log(path: Option<&std::path::Path>, db: String) -> crate::client::LogFn {
    let file = path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    match file {
        Some(f) => {
            let f = std::sync::Mutex::new(f);
            let t0 = Instant::now();
            Arc::new(move |line: &str| {
                use std::io::Write as _;
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(f, "{:>9.3} {line}", t0.elapsed().as_secs_f64());
            })
        }
        None => Arc::new(move |line: &str| tracing::info!(target: "client", db = %db, "{line}")),
    }
}

/// Kill, pause and primaries of a command-driven database.
struct CommandProcess(Arc<CommandDb>);

impl CommandProcess {
    /// The file's command `key` when it gives one, else `default`, the daemon's script.
    fn either(
        &self,
        node: &dyn Remote,
        key: &str,
        given: &Option<String>,
        default: String,
    ) -> Result<(), DbError> {
        match given {
            Some(cmd) => self.0.run(node, key, cmd, SHORT).map(|_| ()),
            None => sh_step(node, key, &default, SHORT).map(|_| ()),
        }
    }
}

impl Process for CommandProcess {
    fn start(&self, node: &dyn Remote) -> Result<(), DbError> {
        self.0.start(node)
    }
    fn kill(&self, node: &dyn Remote) -> Result<(), DbError> {
        let db = &self.0.file.db;
        self.either(node, "db.kill", &db.kill, self.0.daemon().kill_script())
    }
    fn pause(&self, node: &dyn Remote) -> Result<(), DbError> {
        let db = &self.0.file.db;
        let default = self.0.daemon().signal_script("STOP");
        self.either(node, "db.pause", &db.pause, default)
    }
    fn resume(&self, node: &dyn Remote) -> Result<(), DbError> {
        let db = &self.0.file.db;
        let default = self.0.daemon().signal_script("CONT");
        self.either(node, "db.resume", &db.resume, default)
    }
}

impl Primaries for CommandProcess {
    /// `db.primaries` on the first node where it succeeds: the node names it prints.
    fn primaries(&self, nodes: &[Arc<dyn Remote>]) -> Vec<String> {
        let Some(cmd) = &self.0.file.db.primaries else {
            return Vec::new();
        };
        for n in nodes {
            if let Ok(out) = self
                .0
                .run(n.as_ref(), "db.primaries", cmd, Duration::from_secs(10))
            {
                return out
                    .lines()
                    .map(str::trim)
                    .filter(|l| self.0.members.iter().any(|(m, _)| m == l))
                    .map(String::from)
                    .collect();
            }
        }
        Vec::new()
    }
}
