//! The cleanup guard: heal every fault and tear everything down, on every exit path.
//!
//! A test registers what it set up (the nemesis, the database members, a cluster it created)
//! as it goes. [`Guard::finish`] then heals all faults, downloads the node logs into the run
//! folder, stops and wipes the members and brings down a cluster this run created. It runs
//! once: explicitly at the end of a test or after Ctrl-C, and from `Drop` when a panic unwinds
//! through the test. Each step runs even when an earlier one failed; failures are logged and
//! returned, never raised, so the checker still runs afterwards.
//!
//! Its heal is recorded in the history like any nemesis op (a `heal` invoke, then an `info`
//! completion with `healed` or the error) unless the test already recorded a successful heal:
//! a history cut short by Ctrl-C still says when its faults ended.

use labrys_control::Remote;
use labrys_db::Db;
use labrys_gen::NemesisLog;
use labrys_history::Value;
use labrys_nemesis::Nemesis;
use labrys_store::{RunDir, RunLog};
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

/// The database under test and the nodes it runs on.
type DbOnNodes = (Arc<dyn Db>, Vec<Arc<dyn Remote>>);

#[derive(Default)]
struct Registered {
    nemesis: Option<Arc<Mutex<Nemesis>>>,
    /// Where the heal is recorded, once the history's clock runs.
    history: Option<NemesisLog>,
    /// The test recorded a successful heal itself; the guard's is then not recorded.
    heal_recorded: bool,
    db: Option<DbOnNodes>,
    cluster_down: Option<String>,
    /// This run's hold on its local cluster, released after everything else.
    cluster_lock: Option<labrys_cluster::lock::ClusterLock>,
    done: bool,
}

/// What to undo at the end of a run.
pub struct Guard {
    run: RunDir,
    log: Arc<RunLog>,
    keep_cluster: bool,
    reg: Mutex<Registered>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Guard {
    pub fn new(run: RunDir, log: Arc<RunLog>, keep_cluster: bool) -> Guard {
        Guard {
            run,
            log,
            keep_cluster,
            reg: Mutex::new(Registered::default()),
        }
    }

    pub fn set_nemesis(&self, n: Arc<Mutex<Nemesis>>) {
        lock(&self.reg).nemesis = Some(n);
    }

    /// Records the guard's heal in the history through `log`.
    pub fn set_nemesis_log(&self, log: NemesisLog) {
        lock(&self.reg).history = Some(log);
    }

    /// The test recorded a successful heal of every fault: the guard heals again (it is
    /// idempotent) without recording it.
    pub fn heal_recorded(&self) {
        lock(&self.reg).heal_recorded = true;
    }

    pub fn set_db(&self, db: Arc<dyn Db>, nodes: Vec<Arc<dyn Remote>>) {
        lock(&self.reg).db = Some((db, nodes));
    }

    /// A cluster this run created: brought down at the end unless `--keep-cluster`.
    pub fn set_created_cluster(&self, name: String) {
        lock(&self.reg).cluster_down = Some(name);
    }

    /// Holds the run's cluster lock until teardown has finished.
    pub fn set_cluster_lock(&self, l: labrys_cluster::lock::ClusterLock) {
        lock(&self.reg).cluster_lock = Some(l);
    }

    /// Heals every fault the nemesis may have started (idempotent).
    pub fn heal(&self) -> Result<(), String> {
        let nemesis = lock(&self.reg).nemesis.clone();
        match nemesis {
            Some(n) => lock(&n)
                .heal_all()
                .map_err(|e| format!("healing faults: {e:#}")),
            None => Ok(()),
        }
    }

    /// Heals, downloads logs, wipes the database, brings down a cluster this run created.
    /// Returns what failed. Runs once; later calls return nothing.
    pub fn finish(&self) -> Vec<String> {
        let mut reg = lock(&self.reg);
        if reg.done {
            return Vec::new();
        }
        reg.done = true;
        let nemesis = reg.nemesis.take();
        let history = reg.history.take().filter(|_| !reg.heal_recorded);
        let db = reg.db.take();
        let cluster = reg.cluster_down.take();
        let cluster_lock = reg.cluster_lock.take();
        drop(reg);
        let mut errors = Vec::new();
        let mut step = |what: &str, f: &mut dyn FnMut() -> Result<(), String>| match catch_unwind(
            AssertUnwindSafe(f),
        ) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("{what}: {e}")),
            Err(_) => errors.push(format!("{what}: panicked")),
        };
        if let Some(n) = &nemesis {
            self.log.line("teardown: healing every fault");
            let heal = || lock(n).heal_all().map_err(|e| format!("{e:#}"));
            step("heal", &mut || match &history {
                Some(h) => h
                    .call_blocking("heal", Value::Nil, || heal().map(|()| Value::kw("healed")))
                    .map_err(|e| format!("recording the heal: {e}"))?
                    .map(|_| ()),
                None => heal(),
            });
        }
        if let Some((db, nodes)) = &db {
            let name = db.info().name;
            self.log.line(&format!(
                "teardown: downloading node logs, stopping and wiping {name}"
            ));
            let logs = db.log_files();
            for node in nodes {
                for f in &logs {
                    step(&format!("{} {}", node.node(), f.local), &mut || {
                        let found = matches(node.as_ref(), f)?;
                        if found.is_empty() {
                            self.log.line(&format!(
                                "{}: no file matches the log glob {}",
                                node.node(),
                                f.remote
                            ));
                        }
                        for (remote, local) in found {
                            download_if_present(node.as_ref(), &remote, || {
                                self.run.node_dir(node.node()).map(|d| d.join(&local))
                            })?;
                        }
                        Ok(())
                    });
                }
                step(&format!("{} wipe", node.node()), &mut || {
                    db.wipe(node.as_ref())
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
            }
        }
        if let Some(name) = &cluster {
            if self.keep_cluster {
                self.log.line(&format!(
                    "teardown: leaving cluster {name} up (--keep-cluster)"
                ));
                step("keeping the cluster", &mut || {
                    labrys_cluster::lock::set_ephemeral(name, false).map_err(|e| e.to_string())
                });
            } else {
                self.log
                    .line(&format!("teardown: bringing down cluster {name}"));
                step("cluster down", &mut || {
                    labrys_cluster::down(name).map_err(|e| e.to_string())
                });
            }
        }
        for e in &errors {
            self.log.line(&format!("teardown error: {e}"));
        }
        drop(cluster_lock);
        errors
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let errors = self.finish();
        if !errors.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "labrys: teardown left problems: {}",
                errors.join("; ")
            );
        }
    }
}

/// The files a log entry names on `node`, each with its name in the run folder: itself, or
/// every file its glob matches (at most 100) under their own names.
fn matches(node: &dyn Remote, f: &labrys_db::LogFile) -> Result<Vec<(String, String)>, String> {
    if !f.is_glob() {
        return Ok(vec![(f.remote.clone(), f.local.clone())]);
    }
    let script = format!(
        "for f in {}; do [ -f \"$f\" ] && printf '%s\\n' \"$f\"; done; true\n",
        f.remote
    );
    let out = node
        .sh(&script, std::time::Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    Ok(out
        .stdout
        .lines()
        .take(100)
        .map(|p| {
            let name = p.rsplit('/').next().unwrap_or(p).to_string();
            (p.to_string(), name)
        })
        .collect())
}

/// Copies `remote` from `node` to the path `local` gives, when the node has that file (a
/// server that never started wrote no log).
fn download_if_present<E: std::fmt::Display>(
    node: &dyn Remote,
    remote: &str,
    local: impl FnOnce() -> Result<std::path::PathBuf, E>,
) -> Result<(), String> {
    let t = std::time::Duration::from_secs(30);
    let exists = node
        .exec(&["test", "-f", remote], t)
        .map_err(|e| e.to_string())?
        .status
        == 0;
    if exists {
        let to = local().map_err(|e| e.to_string())?;
        node.download(remote, &to).map_err(|e| e.to_string())?;
    }
    Ok(())
}
