//! One whole `labrys test`: nodes, database, clients and nemesis, heal, final reads, teardown,
//! check.
//!
//! Order matters for what survives a failure: the run folder and `test.json` exist before any
//! node is touched; every op is on disk as it happens; the [`Guard`] undoes faults and setup on
//! every exit path (normal end, error, Ctrl-C / SIGTERM / SIGHUP, panic); the checker runs
//! after teardown whatever teardown's fate, on whatever history was recorded.
//!
//! A signal stops the test at the next step boundary, or at once during the workload and the
//! health waits; blocking steps (bringing the cluster up, installing) run to their end first,
//! so that nothing they create escapes the guard. Signals during teardown are ignored: it
//! finishes (every remote call has its own timeout).

use crate::guard::Guard;
use crate::nodes::{self, Nodes};
use crate::options::TestOptions;
use crate::progress::{Progress, Reporting};
use crate::verdict::{check_run, Outcome};
use crate::workload::{self, UsedKeys};
use labrys_control::Remote;
use labrys_db::{Db, DbKind};
use labrys_gen::{stagger, time_limit, Client, NemesisDriver, RunConfig, Runtime};
use labrys_history::Value;
use labrys_nemesis::{Nemesis, NemesisConfig, NemesisDb};
use labrys_store::run_dir::TEST;
use labrys_store::{RunDir, RunLog};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How long etcd may take to become healthy after start or heal.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// Adapts the nemesis to the generator runtime's scheduling interface.
struct Driver(Arc<Mutex<Nemesis>>);

impl NemesisDriver for Driver {
    fn next_op(&mut self) -> (String, Value) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).next_op()
    }
    fn invoke(&mut self, f: &str, value: &Value) -> Result<Value, String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .invoke(f, value)
            .map_err(|e| format!("{e:#}"))
    }
}

/// Why the main body stopped early.
enum Stop {
    Failed(String),
    Signal(&'static str),
}

/// Runs a test and returns its outcome (verdict, run folder). Never panics on bad input.
/// `dbs` are the databases `--db` may name (the binary's table).
pub fn run_test(opts: &TestOptions, dbs: &[Arc<dyn DbKind>]) -> Outcome {
    if let Err(e) = opts.validate(dbs) {
        return Outcome::error(e.to_string(), None);
    }
    let kind = match opts.db_kind(dbs) {
        Ok(k) => k,
        Err(e) => return Outcome::error(e.to_string(), None),
    };
    let run = match RunDir::create_unlinked(&opts.store_root, &opts.test_name(), SystemTime::now())
    {
        Ok(r) => r,
        Err(e) => return Outcome::error(format!("cannot create the run folder: {e}"), None),
    };
    let run_path = Some(run.path().to_path_buf());
    let log = Arc::new(RunLog::open(&run.file(labrys_store::run_dir::LOG), true));
    log.line(&format!("run folder {}", run.path().display()));
    let mut test_json = opts.to_json();
    test_json["start"] = labrys_store::timestamp::rfc3339(SystemTime::now()).into();
    test_json["labrys-version"] = env!("CARGO_PKG_VERSION").into();
    // The level transactions run at, and what the database promises there: the checker
    // holds the run to that promise (`check_run` reads it back from test.json).
    if let Some(level) = kind.info().isolation(&opts.db_options()) {
        test_json["isolation"] = level.name.into();
        test_json["isolation-promise"] = level.promise.into();
        test_json["consistency-models"] = level.models.into();
    }
    if let Some(total) = workload::workload(&opts.workload).and_then(|w| w.total_amount) {
        test_json["total-amount"] = total.into();
    }
    if let Err(e) = run.write_json(TEST, &test_json) {
        return Outcome::error(e.to_string(), run_path);
    }
    let recorder = match run.recorder() {
        Ok(r) => Arc::new(r),
        Err(e) => return Outcome::error(e.to_string(), run_path),
    };
    let tokio_rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Outcome::error(format!("cannot start the async runtime: {e}"), run_path),
    };

    let guard = Guard::new(run.clone(), log.clone(), opts.keep_cluster);
    // A signal does not drop the test mid-step: blocking steps (cluster up, installs) finish,
    // so that what they created is registered with the guard; the test stops at the next step.
    let (stop_tx, stop_rx) = watch::channel(None);
    tokio_rt.spawn(async move {
        let s = signalled().await;
        let _ = stop_tx.send(Some(s));
    });
    let body = tokio_rt.block_on(body(
        opts,
        kind.as_ref(),
        &run,
        &log,
        &guard,
        &mut test_json,
        recorder.clone(),
        stop_rx,
    ));
    let mut failed = None;
    match &body {
        Ok(()) => {}
        Err(Stop::Failed(e)) => {
            log.line(&format!("test failed: {e}"));
            failed = Some(e.clone());
        }
        Err(Stop::Signal(s)) => {
            log.line(&format!("interrupted by {s}: healing and tearing down"));
            failed = Some(format!("interrupted by {s}"));
        }
    }
    // After the body, only the guard appends (its heal, when the body did not record one).
    let teardown_errors = guard.finish();
    if let Err(e) = recorder.sync() {
        log.line(&format!("fsync of the history failed: {e}"));
    }
    drop(tokio_rt);

    // A test that failed before recording a single op (bad nodes, not root, no packages) has
    // nothing to check: say what went wrong, not that an empty file is unreadable.
    let nothing_recorded = std::fs::metadata(run.history_path()).map_or(true, |m| m.len() == 0);
    if let (Some(e), true) = (&failed, nothing_recorded) {
        let _ = run.write_json(
            labrys_store::run_dir::RESULTS,
            &serde_json::json!({"valid": "unknown", "error": e, "ops": 0}),
        );
        if !teardown_errors.is_empty() {
            return Outcome::error(
                format!("{e}; teardown problems: {}", teardown_errors.join("; ")),
                run_path,
            );
        }
        return Outcome::error(e.clone(), run_path);
    }
    // The run's end, and why it was cut short if it was, stay with the stored run, so that
    // `labrys analyze` later gives the same answer as this test does now.
    let (code, verdict) = check_run(
        &run,
        &opts.workload,
        opts.check_timeout,
        failed.as_deref(),
        &log,
    );
    test_json["end"] = labrys_store::timestamp::rfc3339(SystemTime::now()).into();
    let _ = run.write_json(TEST, &test_json);
    log.line(&format!(
        "verdict: {verdict}{}",
        if failed.is_some() {
            " (of the history so far)"
        } else {
            ""
        }
    ));
    let mut summary = verdict;
    if !teardown_errors.is_empty() {
        summary.push_str(&format!(
            "; teardown problems: {}",
            teardown_errors.join("; ")
        ));
    }
    match failed {
        // The history of a failed or interrupted test was still checked (and an invalid one
        // is still reported as invalid), but "valid" would claim a complete test.
        Some(e) if code != 1 => Outcome::error(format!("{e}; history so far: {summary}"), run_path),
        Some(e) => Outcome {
            exit_code: 1,
            run_dir: run_path,
            summary: format!("{summary} ({e})"),
        },
        None => Outcome {
            exit_code: code,
            run_dir: run_path,
            summary,
        },
    }
}

/// Heals every fault labrys can make on every node (partitions, loss, rate limits, delays,
/// clock offsets), then stops any server of the database still running there, paused or
/// not, and wipes its data. Logs what it found. `faults_possible` is false for this machine
/// alone (`--nodes localhost`), where no fault can run and so none is healed.
fn reset_nodes(
    db: &Arc<dyn Db>,
    remotes: &[Arc<dyn Remote>],
    seed: u64,
    faults_possible: bool,
    log: &RunLog,
) -> Result<(), String> {
    let name = db.info().name;
    if faults_possible {
        log.line(&format!(
            "resetting every node: healing faults, stopping {name}, wiping its data"
        ));
        let mut healer = Nemesis::new(
            NemesisConfig {
                faults: Vec::new(),
                seed,
            },
            remotes.to_vec(),
            NemesisDb::of(db.as_ref()),
        )
        .map_err(|e| format!("{e:#}"))?;
        healer.reset().map_err(|e| format!("{e:#}"))?;
    } else {
        log.line(&format!("resetting: stopping {name}, wiping its data"));
    }
    for n in remotes {
        let stale = db.wipe(n.as_ref()).map_err(|e| e.to_string())?;
        if stale > 0 {
            log.line(&format!(
                "{}: stopped {stale} {name} process(es) an earlier run left running",
                n.node()
            ));
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP (a dropped SSH session to the controller).
async fn signalled() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let term = async {
        match term.as_mut() {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    let hup = async {
        match hup.as_mut() {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT (Ctrl-C)",
        _ = term => "SIGTERM",
        _ = hup => "SIGHUP",
    }
}

fn failed(what: &str) -> impl Fn(String) -> Stop + '_ {
    move |e| Stop::Failed(format!("{what}: {e}"))
}

/// Blocking work (SSH commands) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("task failed: {e}"))?
}

/// Signals seen so far (`Some(name)` once one arrived).
type StopRx = watch::Receiver<Option<&'static str>>;

/// Fails with the signal if one arrived.
fn check_stop(stop: &StopRx) -> Result<(), Stop> {
    match *stop.borrow() {
        Some(s) => Err(Stop::Signal(s)),
        None => Ok(()),
    }
}

/// Runs `f` unless a signal arrives first (then `f` is dropped: only for cancellable steps).
async fn or_stop<F: std::future::Future>(stop: &mut StopRx, f: F) -> Result<F::Output, Stop> {
    check_stop(stop)?;
    tokio::select! {
        r = f => Ok(r),
        s = stop.wait_for(Option::is_some) => Err(Stop::Signal(s.ok().and_then(|s| *s).unwrap_or("a signal"))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn body(
    opts: &TestOptions,
    kind: &dyn DbKind,
    run: &RunDir,
    log: &Arc<RunLog>,
    guard: &Guard,
    test_json: &mut serde_json::Value,
    recorder: Arc<labrys_store::Recorder>,
    mut stop: StopRx,
) -> Result<(), Stop> {
    // Nodes.
    let (spec, key, log2) = (opts.nodes.clone(), opts.ssh_key.clone(), log.clone());
    let packages = opts.packages(kind);
    let Nodes {
        remotes,
        created_cluster,
        lock,
    } = blocking(move || {
        nodes::acquire(&spec, key.as_deref(), &packages, &log2).map_err(|e| e.to_string())
    })
    .await
    .map_err(failed("getting nodes"))?;
    if let Some(l) = lock {
        guard.set_cluster_lock(l);
    }
    if let Some(c) = created_cluster {
        guard.set_created_cluster(c);
    }
    check_stop(&stop)?;
    let names: Vec<String> = remotes.iter().map(|r| r.node().to_string()).collect();
    log.line(&format!("nodes: {}", names.join(", ")));

    // Database.
    let name = kind.info().name;
    let db: Arc<dyn Db> = kind
        .open(
            &remotes,
            &labrys_db::DbOptions {
                run_dir: Some(run.path().to_path_buf()),
                ..opts.db_options()
            },
        )
        .map_err(|e| failed("opening the database")(e.to_string()))?;
    guard.set_db(db.clone(), remotes.clone());
    // Reset: whatever an earlier run left on these nodes (it may have been killed mid-fault)
    // is undone before anything starts, whether or not this run has a nemesis.
    let faults_possible = !matches!(opts.nodes, crate::NodeSpec::ThisMachine);
    let (db2, remotes2, log2, seed) = (db.clone(), remotes.clone(), log.clone(), opts.seed);
    blocking(move || reset_nodes(&db2, &remotes2, seed, faults_possible, &log2))
        .await
        .map_err(failed("resetting the nodes"))?;
    check_stop(&stop)?;
    let (db2, remotes2, log2) = (db.clone(), remotes.clone(), log.clone());
    let version = blocking(move || {
        let mut version = String::new();
        for n in &remotes2 {
            log2.line(&format!("{}: installing {name} if missing", n.node()));
            db2.install(n.as_ref()).map_err(|e| e.to_string())?;
            version = db2.version(n.as_ref()).map_err(|e| e.to_string())?;
        }
        Ok(version)
    })
    .await
    .map_err(failed(&format!("setting up {name}")))?;
    check_stop(&stop)?;
    test_json["node-hosts"] = remotes
        .iter()
        .map(|r| format!("{}={}", r.node(), r.host()))
        .collect::<Vec<_>>()
        .into();
    test_json["versions"] = serde_json::json!({ name: version });
    let _ = run.write_json(TEST, test_json);
    log.line(&format!("starting {version} on {} nodes", remotes.len()));
    or_stop(&mut stop, db.start_all(&remotes, HEALTH_TIMEOUT))
        .await?
        .map_err(|e| failed(&format!("starting {name}"))(e.to_string()))?;
    log.line(&format!("{name} is healthy"));

    // Nemesis.
    let faults = opts.faults();
    let nemesis = if faults.is_empty() {
        None
    } else {
        let n = Nemesis::new(
            NemesisConfig {
                faults,
                seed: opts.seed,
            },
            remotes.clone(),
            NemesisDb::of(db.as_ref()),
        )
        .map_err(|e| failed("nemesis")(format!("{e:#}")))?;
        let n = Arc::new(Mutex::new(n));
        guard.set_nemesis(n.clone());
        Some(n)
    };

    // Clients.
    let w = workload::workload(&opts.workload)
        .ok_or_else(|| Stop::Failed(format!("no workload {:?}", opts.workload)))?;
    let client: Arc<dyn Client> = db
        .client(w.name)
        .map_err(|e| failed(&format!("{name} client"))(e.to_string()))?;
    let rt = Runtime::new(
        RunConfig {
            concurrency: opts.concurrency(),
            nodes: remotes.len(),
            op_timeout: opts.op_timeout,
            seed: opts.seed,
            nemesis_interval: opts.nemesis_interval,
        },
        client,
        recorder,
    );
    guard.set_nemesis_log(rt.nemesis_log());
    let used = UsedKeys::default();
    let main = time_limit(
        opts.time_limit,
        stagger(
            Duration::from_secs_f64(1.0 / opts.rate),
            (w.main)(opts.ops_per_key, used.clone()),
        ),
    );
    log.line(&format!(
        "running {} s: {} workers, {} ops/s, nemesis {}",
        opts.time_limit.as_secs_f64(),
        opts.concurrency(),
        opts.rate,
        if opts.faults().is_empty() {
            "none".into()
        } else {
            opts.faults().join(",")
        }
    ));
    // From here on ops are recorded: this run becomes `latest`. A run that failed earlier
    // keeps its folder (log, error) but does not hide the last run that recorded anything.
    if let Err(e) = run.link_latest() {
        log.line(&format!("cannot point store/latest at this run: {e}"));
    }
    // Stderr shows the main phase live: a bar on a terminal, plain lines otherwise.
    let progress = Progress::stderr(opts.time_limit);
    let driver = nemesis.as_ref().map(|n| {
        Arc::new(Mutex::new(Reporting::new(
            Driver(n.clone()),
            progress.clone(),
        ))) as Arc<Mutex<dyn NemesisDriver>>
    });
    let showing = progress.spawn_show(rt.counters());
    let stats = or_stop(&mut stop, rt.run(main, driver))
        .await?
        .map_err(|e| failed("running the workload")(e.to_string()))?;
    drop(showing);
    log.line(&format!(
        "main phase done: {} ok, {} fail, {} info, {} nemesis ops",
        stats.ok, stats.fail, stats.info, stats.nemesis
    ));

    // Heal, recover, final reads.
    if let Some(n) = &nemesis {
        let n = n.clone();
        let healed = rt
            .nemesis_call("heal", Value::Nil, move || {
                n.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .heal_all()
                    .map(|()| Value::kw("healed"))
                    .map_err(|e| format!("{e:#}"))
            })
            .await
            .map_err(|e| failed("recording the heal")(e.to_string()))?;
        healed.map_err(failed("healing"))?;
        guard.heal_recorded();
        log.line(&format!(
            "healed every fault; waiting for {name} to recover"
        ));
    }
    or_stop(&mut stop, db.start_all(&remotes, HEALTH_TIMEOUT))
        .await?
        .map_err(|e| failed(&format!("{name} did not recover after healing"))(e.to_string()))?;
    let reads = (w.finals)(&used);
    let fin = or_stop(&mut stop, rt.run(reads, None))
        .await?
        .map_err(|e| failed("final reads")(e.to_string()))?;
    log.line(&format!(
        "final reads: {} ok, {} fail, {} info",
        fin.ok, fin.fail, fin.info
    ));
    Ok(())
}
