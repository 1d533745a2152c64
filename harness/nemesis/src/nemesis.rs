//! [`Nemesis`]: applies fault ops to the nodes, remembers every fault it started, and heals
//! them all on request — the last thing a test does, on every exit path.
//!
//! Ops come in pairs (`start-partition`/`stop-partition`, `start-kill`/`stop-kill`, ...). Their
//! values say exactly what to do (which nodes, which grudge, which rate), so a recorded history
//! can be replayed op by op. Per-node commands run in parallel, one thread per node.

use crate::clock;
use crate::db::NemesisDb;
use crate::delay;
use crate::fault::Fault;
use crate::net;
use crate::schedule::Schedule;
use crate::topology;
use labrys_control::Remote;
use labrys_history::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Errors detected before any fault runs.
#[derive(thiserror::Error, Debug)]
pub enum NemesisError {
    #[error("unknown nemesis fault {name:?}; known: {known}")]
    UnknownFault { name: String, known: String },
    #[error("clock faults need a database whose server honours libfaketime (C programs such as PostgreSQL or MariaDB); {0} does not: {1}")]
    ClockUnsupported(String, String),
    #[error("{0} cannot be killed or paused by labrys, so the {1} fault is not available for it")]
    NoProcess(String, &'static str),
    #[error("the nemesis needs at least one node")]
    NoNodes,
    #[error("unknown nemesis op {0:?}")]
    UnknownOp(String),
    #[error("bad value for {f}: {msg}")]
    BadValue { f: String, msg: String },
    #[error("node {0:?} is not in the cluster")]
    UnknownNode(String),
}

/// What faults to inject and the seed for every random choice.
#[derive(Clone, Debug, Default)]
pub struct NemesisConfig {
    /// Fault names: `partition`, `partition-random-halves`, `partition-majorities-ring`,
    /// `partition-random-node`, `partition-primaries`, `bridge`, `kill`, `pause`, `loss`,
    /// `rate`, `delay`, `clock`; comma-separated lists are split.
    pub faults: Vec<String>,
    pub seed: u64,
}

/// The two process faults, which differ only in the signals they send.
#[derive(Clone, Copy, Debug)]
enum Proc {
    Kill,
    Pause,
}

/// The fault injector of one test.
pub struct Nemesis {
    nodes: Vec<Arc<dyn Remote>>,
    db: NemesisDb,
    schedule: Schedule,
    killed: BTreeSet<String>,
    paused: BTreeSet<String>,
    /// Whether a partition / loss / rate / delay / clock fault was ever started: `heal_all`
    /// undoes only what this nemesis may have done.
    partitioned: bool,
    lossy: bool,
    rated: bool,
    delayed: bool,
    clocked: bool,
    /// Argv of the packet delayer (see [`crate::delay`]).
    delayer: Vec<String>,
    /// Nodes that already hold the uploaded delayer.
    delayer_on: std::sync::Mutex<BTreeSet<String>>,
}

/// Where the delayer binary is copied on each node.
const DELAYER_PATH: &str = "/tmp/labrys-delayer";

impl Nemesis {
    pub fn new(
        cfg: NemesisConfig,
        nodes: Vec<Arc<dyn Remote>>,
        db: NemesisDb,
    ) -> anyhow::Result<Nemesis> {
        if nodes.is_empty() {
            return Err(NemesisError::NoNodes.into());
        }
        let faults = cfg
            .faults
            .iter()
            .flat_map(|f| f.split(','))
            .filter(|f| !f.trim().is_empty())
            .map(Fault::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if faults.contains(&Fault::Clock) {
            if let Err(why) = &db.faketime {
                return Err(NemesisError::ClockUnsupported(db.name.clone(), why.clone()).into());
            }
        }
        if db.process.is_none() {
            if let Some(f) = faults
                .iter()
                .find(|f| matches!(f, Fault::Kill | Fault::Pause))
            {
                return Err(NemesisError::NoProcess(db.name.clone(), f.family()).into());
            }
        }
        Ok(Nemesis {
            nodes,
            db,
            schedule: Schedule::new(faults, cfg.seed),
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
            partitioned: false,
            lossy: false,
            rated: false,
            delayed: false,
            clocked: false,
            delayer: delay::default_command(),
            delayer_on: std::sync::Mutex::new(BTreeSet::new()),
        })
    }

    /// Replaces the delayer command (default: this binary's `nemesis-delay` subcommand).
    /// When `argv[0]` is a file on this machine it is copied to each node before use (see
    /// [`Nemesis::delayer_argv`]).
    pub fn set_delayer_command(&mut self, argv: Vec<String>) {
        self.delayer = argv;
    }

    /// The local binary to copy to each node as the delayer: nodes may not see this machine's
    /// files (private /tmp and /root in a local cluster, another filesystem on real hosts).
    /// `None` when the command's program is not a local file (a name on the node's PATH).
    fn delayer_upload(&self) -> Option<std::path::PathBuf> {
        let exe = std::path::PathBuf::from(self.delayer.first()?);
        exe.is_file().then_some(exe)
    }

    /// The delayer command as the node runs it.
    fn delayer_argv(&self) -> Vec<String> {
        match self.delayer_upload() {
            Some(_) => std::iter::once(DELAYER_PATH.to_string())
                .chain(self.delayer.iter().skip(1).cloned())
                .collect(),
            None => self.delayer.clone(),
        }
    }

    /// Copies the delayer binary to `node` once (to a temporary name, then renamed, so a
    /// delayer still running from an earlier copy is never overwritten in place).
    fn ensure_delayer(&self, node: &dyn Remote) -> anyhow::Result<()> {
        let Some(exe) = self.delayer_upload() else {
            return Ok(());
        };
        let on = |f: &mut dyn FnMut(&mut BTreeSet<String>) -> bool| {
            f(&mut self.delayer_on.lock().unwrap_or_else(|p| p.into_inner()))
        };
        if on(&mut |set| set.contains(node.node())) {
            return Ok(());
        }
        let tmp = format!("{DELAYER_PATH}.new");
        node.upload(&exe, &tmp)?;
        net::run(
            node,
            &format!(
                "chmod 755 {t} && mv -f {t} {p}",
                t = labrys_control::shell_quote(&tmp),
                p = labrys_control::shell_quote(DELAYER_PATH)
            ),
        )?;
        on(&mut |set| set.insert(node.node().to_string()));
        Ok(())
    }

    fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.node().to_string()).collect()
    }

    /// Next fault op to run per the schedule, e.g. `("start-partition", [["n1" "n2"] ["n3" "n4"
    /// "n5"]])`, later `("stop-partition", nil)`; faults of different kinds may overlap.
    pub fn next_op(&mut self) -> (String, Value) {
        let names = self.names();
        let (db, nodes) = (&self.db, &self.nodes);
        self.schedule.next(&names, || {
            db.primaries
                .as_ref()
                .map(|p| p.primaries(nodes))
                .unwrap_or_default()
        })
    }

    fn node(&self, name: &str) -> Result<&Arc<dyn Remote>, NemesisError> {
        self.nodes
            .iter()
            .find(|n| n.node() == name)
            .ok_or_else(|| NemesisError::UnknownNode(name.to_string()))
    }

    /// Runs `f` on each named node in parallel; errors are collected, naming their node.
    fn on_nodes<F>(&self, names: &[String], f: F) -> anyhow::Result<Vec<String>>
    where
        F: Fn(&dyn Remote) -> anyhow::Result<()> + Sync,
    {
        let targets = names
            .iter()
            .map(|n| self.node(n).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        let results: Vec<(String, anyhow::Result<()>)> = std::thread::scope(|s| {
            let hs: Vec<_> = targets
                .iter()
                .map(|n| {
                    let f = &f;
                    s.spawn(move || (n.node().to_string(), f(n.as_ref())))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("nemesis thread panicked"))
                .collect()
        });
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for (node, r) in results {
            match r {
                Ok(()) => done.push(node),
                Err(e) => errors.push(format!("{node}: {e:#}")),
            }
        }
        if errors.is_empty() {
            Ok(done)
        } else {
            Err(anyhow::anyhow!(errors.join("; ")))
        }
    }

    fn all_names(&self) -> Vec<String> {
        self.names()
    }

    fn bad(f: &str, msg: impl Into<String>) -> anyhow::Error {
        NemesisError::BadValue {
            f: f.to_string(),
            msg: msg.into(),
        }
        .into()
    }

    fn names_of(f: &str, v: &Value) -> anyhow::Result<Vec<String>> {
        v.as_seq()
            .ok_or_else(|| Self::bad(f, format!("expected a list of nodes, got {v}")))?
            .iter()
            .map(|n| {
                n.as_name()
                    .map(str::to_string)
                    .ok_or_else(|| Self::bad(f, format!("expected a node name, got {n}")))
            })
            .collect()
    }

    fn field<'a>(f: &str, v: &'a Value, key: &str) -> anyhow::Result<&'a Value> {
        v.get(key)
            .ok_or_else(|| Self::bad(f, format!("missing {key:?} in {v}")))
    }

    fn int(f: &str, v: &Value, key: &str) -> anyhow::Result<i64> {
        Self::field(f, v, key)?
            .as_i64()
            .ok_or_else(|| Self::bad(f, format!("{key:?} must be an integer in {v}")))
    }

    fn list(names: &[String]) -> Value {
        Value::List(names.iter().map(|n| Value::str(n)).collect())
    }

    fn held(&mut self, p: Proc) -> &mut BTreeSet<String> {
        match p {
            Proc::Kill => &mut self.killed,
            Proc::Pause => &mut self.paused,
        }
    }

    /// Kills or pauses the DB on `targets`; they are remembered first, so that even a partly
    /// failed start is undone by the stop.
    fn start_procs(&mut self, p: Proc, targets: Vec<String>) -> anyhow::Result<Vec<String>> {
        for t in &targets {
            self.node(t)?;
        }
        let Some(db) = self.db.process.clone() else {
            let family = match p {
                Proc::Kill => "kill",
                Proc::Pause => "pause",
            };
            return Err(NemesisError::NoProcess(self.db.name.clone(), family).into());
        };
        self.held(p).extend(targets.iter().cloned());
        self.on_nodes(&targets, |n| {
            Ok(match p {
                Proc::Kill => db.kill(n),
                Proc::Pause => db.pause(n),
            }?)
        })
    }

    /// Restarts or resumes every node the fault holds; they are forgotten only once all of
    /// them recovered, so a failed stop is retried by the next stop or `heal_all`.
    fn stop_procs(&mut self, p: Proc) -> anyhow::Result<Vec<String>> {
        let targets: Vec<String> = self.held(p).iter().cloned().collect();
        let Some(db) = self.db.process.clone() else {
            // Nothing can have been killed or paused without the capability.
            return Ok(Vec::new());
        };
        let done = self.on_nodes(&targets, |n| {
            Ok(match p {
                Proc::Kill => db.start(n),
                Proc::Pause => db.resume(n),
            }?)
        })?;
        self.held(p).clear();
        Ok(done)
    }

    /// Applies one op and returns the value to record in the nemesis's completion.
    pub fn invoke(&mut self, f: &str, value: &Value) -> anyhow::Result<Value> {
        match f {
            "noop" => Ok(Value::Nil),
            "start-partition" => {
                let grudge = topology::grudge_of_value(value).map_err(|m| Self::bad(f, m))?;
                for (n, drops) in &grudge {
                    self.node(n)?;
                    for d in drops {
                        self.node(d)?;
                    }
                }
                self.partitioned = true;
                let hosts: std::collections::BTreeMap<String, String> = self
                    .nodes
                    .iter()
                    .map(|n| (n.node().to_string(), n.host().to_string()))
                    .collect();
                // Every node gets its rules replaced, so that the grudge is the whole truth
                // even if an earlier partition was never stopped (a replayed history).
                self.on_nodes(&self.all_names(), |node| {
                    let from: Vec<&str> = grudge
                        .get(node.node())
                        .into_iter()
                        .flatten()
                        .map(|d| hosts[d].as_str())
                        .collect();
                    Ok(net::run(node, &net::partition_script(&from))?)
                })?;
                Ok(value.clone())
            }
            "stop-partition" => {
                self.on_nodes(&self.all_names(), |node| {
                    Ok(net::run(node, &net::flush_script(net::PART_CHAIN))?)
                })?;
                Ok(Value::kw("network-healed"))
            }
            "start-kill" => {
                let done = self.start_procs(Proc::Kill, Self::names_of(f, value)?)?;
                Ok(Self::list(&done))
            }
            "stop-kill" => Ok(Self::list(&self.stop_procs(Proc::Kill)?)),
            "start-pause" => {
                let done = self.start_procs(Proc::Pause, Self::names_of(f, value)?)?;
                Ok(Self::list(&done))
            }
            "stop-pause" => Ok(Self::list(&self.stop_procs(Proc::Pause)?)),
            "start-loss" => {
                let targets = Self::names_of(f, Self::field(f, value, "nodes")?)?;
                let percent = Self::int(f, value, "percent")?;
                self.lossy = true;
                self.on_nodes(&targets, |n| Ok(net::run(n, &net::loss_script(percent))?))?;
                Ok(value.clone())
            }
            "stop-loss" => {
                self.on_nodes(&self.all_names(), |n| {
                    Ok(net::run(n, &net::flush_script(net::LOSS_CHAIN))?)
                })?;
                Ok(Value::kw("loss-healed"))
            }
            "start-rate" => {
                let targets = Self::names_of(f, Self::field(f, value, "nodes")?)?;
                let kbit = Self::int(f, value, "kbit")?;
                self.rated = true;
                self.on_nodes(&targets, |n| Ok(net::run(n, &net::rate_script(kbit))?))?;
                Ok(value.clone())
            }
            "stop-rate" => {
                self.on_nodes(&self.all_names(), |n| {
                    Ok(net::run(n, &net::unrate_script())?)
                })?;
                Ok(Value::kw("rate-healed"))
            }
            "start-delay" => {
                let targets = Self::names_of(f, Self::field(f, value, "nodes")?)?;
                let ms = Self::int(f, value, "ms")?;
                self.delayed = true;
                let argv = self.delayer_argv();
                let script = delay::start_script(&argv, ms);
                self.on_nodes(&targets, |n| {
                    self.ensure_delayer(n)?;
                    Ok(net::run(n, &script)?)
                })?;
                Ok(value.clone())
            }
            "stop-delay" => {
                self.on_nodes(&self.all_names(), |n| {
                    Ok(net::run(n, &delay::stop_script())?)
                })?;
                Ok(Value::kw("delay-healed"))
            }
            "start-clock" => {
                if let Err(why) = &self.db.faketime {
                    return Err(
                        NemesisError::ClockUnsupported(self.db.name.clone(), why.clone()).into(),
                    );
                }
                let targets = Self::names_of(f, Self::field(f, value, "nodes")?)?;
                let script = if let Some(b) = value.get("bump-s") {
                    let secs = b
                        .as_i64()
                        .ok_or_else(|| Self::bad(f, "bump-s must be an integer"))?;
                    clock::bump_script(secs)
                } else {
                    clock::strobe_script(
                        Self::int(f, value, "strobe-s")?,
                        Self::int(f, value, "period-ms")?,
                    )
                };
                self.clocked = true;
                self.on_nodes(&targets, |n| Ok(clock::run(n, &script)?))?;
                Ok(value.clone())
            }
            "stop-clock" => {
                self.on_nodes(&self.all_names(), |n| {
                    Ok(clock::run(n, &clock::reset_script())?)
                })?;
                Ok(Value::kw("clock-reset"))
            }
            other => Err(NemesisError::UnknownOp(other.to_string()).into()),
        }
    }

    /// Heals every network fault labrys could have left on any node — including ones from an
    /// earlier, crashed harness run against the same (real) hosts — plus whatever this nemesis
    /// did. Call it before a test starts; `heal_all` suffices at the end.
    pub fn reset(&mut self) -> anyhow::Result<()> {
        self.partitioned = true;
        self.lossy = true;
        self.rated = true;
        self.delayed = true;
        // An offset left by a run against another database is undone too: the reset script
        // only touches labrys's own offset file and strobe process.
        self.clocked = true;
        self.heal_all()
    }

    /// Heals everything this nemesis ever did: removes its iptables chains and rate limits,
    /// resets clocks, resumes paused and restarts killed servers. Idempotent; every step is
    /// attempted even when an earlier one fails, and all failures are reported together.
    pub fn heal_all(&mut self) -> anyhow::Result<()> {
        let all = self.all_names();
        let mut errors = Vec::new();
        let mut step = |what: &str, r: anyhow::Result<Vec<String>>| {
            if let Err(e) = r {
                errors.push(format!("{what}: {e:#}"));
            }
        };
        if self.partitioned || self.lossy {
            let r = self.on_nodes(&all, |n| {
                net::run(n, &net::remove_chain_script(net::PART_CHAIN))?;
                Ok(net::run(n, &net::remove_chain_script(net::LOSS_CHAIN))?)
            });
            step("removing iptables rules", r);
        }
        if self.rated {
            let r = self.on_nodes(&all, |n| Ok(net::run(n, &net::unrate_script())?));
            step("removing rate limits", r);
        }
        if self.delayed {
            let r = self.on_nodes(&all, |n| Ok(net::run(n, &delay::remove_script())?));
            step("removing delays", r);
        }
        if self.clocked {
            let r = self.on_nodes(&all, |n| Ok(clock::run(n, &clock::reset_script())?));
            step("resetting clocks", r);
        }
        let r = self.stop_procs(Proc::Pause);
        step("resuming paused servers", r);
        let r = self.stop_procs(Proc::Kill);
        step("restarting killed servers", r);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!("healing failed: {}", errors.join("; ")))
        }
    }
}

/// Heals the nemesis when dropped, so that a panic or an early return between the first fault
/// and the end of the test still leaves the cluster healthy. Errors are logged, not raised.
pub struct HealOnDrop(pub Arc<std::sync::Mutex<Nemesis>>);

impl Drop for HealOnDrop {
    fn drop(&mut self) {
        let mut n = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = n.heal_all() {
            tracing::error!("healing the nemesis on exit failed: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_control::LocalRemote;

    use labrys_db::fake::FakeDb;

    /// The fake database as the nemesis sees it, with or without libfaketime.
    fn fake(faketime: bool) -> (FakeDb, NemesisDb) {
        let db = FakeDb::default();
        let mut n = NemesisDb::of(&db);
        if !faketime {
            n.faketime = Err("it is a Go program".into());
        }
        (db, n)
    }

    fn nodes(n: usize) -> Vec<Arc<dyn Remote>> {
        (1..=n)
            .map(|i| {
                Arc::new(LocalRemote::new(&format!("n{i}"), "127.0.0.1").unwrap())
                    as Arc<dyn Remote>
            })
            .collect()
    }

    fn cfg(faults: &[&str]) -> NemesisConfig {
        NemesisConfig {
            faults: faults.iter().map(|s| s.to_string()).collect(),
            seed: 7,
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn config_errors_are_clear() {
        let (_, db) = fake(false);
        let e = Nemesis::new(cfg(&["partition,frobnicate"]), nodes(3), db.clone())
            .err()
            .unwrap();
        assert!(e.to_string().contains("frobnicate"), "{e}");
        let e = Nemesis::new(cfg(&["clock"]), nodes(3), db.clone())
            .err()
            .unwrap();
        assert!(e.to_string().contains("libfaketime"), "{e}");
        assert!(Nemesis::new(cfg(&["kill"]), vec![], db.clone()).is_err());
        let no_process = NemesisDb {
            process: None,
            ..db
        };
        let e = Nemesis::new(cfg(&["partition,pause"]), nodes(3), no_process)
            .err()
            .unwrap();
        assert!(e.to_string().contains("cannot be killed or paused"), "{e}");
    }

    #[test]
    fn kill_then_stop_restarts_exactly_the_killed_nodes() {
        let (db, nd) = fake(false);
        let mut n = Nemesis::new(cfg(&["kill"]), nodes(5), nd).unwrap();
        let (f, v) = n.next_op();
        assert_eq!(f, "start-kill");
        let killed = Nemesis::names_of(&f, &v).unwrap();
        let got = n.invoke(&f, &v).unwrap();
        assert_eq!(
            sorted(Nemesis::names_of(&f, &got).unwrap()),
            sorted(killed.clone())
        );
        let (g, w) = n.next_op();
        assert_eq!(g, "stop-kill");
        n.invoke(&g, &w).unwrap();
        let calls = db.calls();
        let starts: Vec<String> = calls
            .iter()
            .filter_map(|c| c.strip_prefix("start "))
            .map(String::from)
            .collect();
        assert_eq!(sorted(starts), sorted(killed));
    }

    #[test]
    fn heal_all_undoes_process_faults_once() {
        let (db, nd) = fake(false);
        let mut n = Nemesis::new(cfg(&["pause"]), nodes(3), nd).unwrap();
        let v = Value::List(vec![Value::str("n2")]);
        n.invoke("start-pause", &v).unwrap();
        n.invoke("start-kill", &Value::List(vec![Value::str("n3")]))
            .unwrap();
        n.heal_all().unwrap();
        n.heal_all().unwrap();
        let calls = db.calls();
        assert_eq!(calls, vec!["pause n2", "kill n3", "resume n2", "start n3"]);
    }

    #[test]
    fn guard_heals_on_panic() {
        let (db, nd) = fake(false);
        let n = Nemesis::new(cfg(&["pause"]), nodes(3), nd).unwrap();
        let shared = Arc::new(std::sync::Mutex::new(n));
        let inner = shared.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = HealOnDrop(inner.clone());
            inner
                .lock()
                .unwrap()
                .invoke("start-pause", &Value::List(vec![Value::str("n1")]))
                .unwrap();
            panic!("test body fails");
        }));
        assert!(r.is_err());
        assert_eq!(db.calls(), vec!["pause n1", "resume n1"]);
        drop(shared);
    }

    #[test]
    fn bad_values_and_unknown_nodes_are_errors() {
        let (_, nd) = fake(false);
        let mut n = Nemesis::new(cfg(&["kill"]), nodes(3), nd).unwrap();
        assert!(n.invoke("start-kill", &Value::Int(3)).is_err());
        let e = n
            .invoke("start-kill", &Value::List(vec![Value::str("n9")]))
            .unwrap_err();
        assert!(e.to_string().contains("n9"), "{e}");
        let e = n
            .invoke(
                "start-partition",
                &Value::List(vec![Value::List(vec![Value::str("n9")])]),
            )
            .unwrap_err();
        assert!(e.to_string().contains("n9"), "{e}");
        assert!(n.invoke("start-frob", &Value::Nil).is_err());
        assert!(n.invoke("start-loss", &Value::Nil).is_err());
        // Rejected ops leave nothing behind to heal.
        n.heal_all().unwrap();
    }
}
