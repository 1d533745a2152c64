//! The runtime: worker tasks pulling from a generator, acting as Jepsen-style processes.
//!
//! - `concurrency` workers; worker `w` talks to node `w % nodes` and starts as process `w`.
//! - Each op is recorded as an invoke *before* the client is called and as a completion after,
//!   through the shared [`Recorder`] (which makes every line durable as it is written).
//! - An op that outlasts `op_timeout` is abandoned and recorded as `info`.
//! - A process whose op ended in `info` may still have that op in flight, so it never
//!   invokes again: its worker continues as a new process, `old + concurrency` (Jepsen's rule).
//! - A [`NemesisDriver`] runs beside the clients, one fault op every `nemesis_interval`, each
//!   recorded as a `nemesis` invoke and `info` completion.
//! - Dropping a [`Runtime::run`] future aborts its workers and its nemesis loop (for Ctrl-C):
//!   ops left in flight stay invoked without completion, which every checker reads as `info`.
//!   A fault op in flight runs to its end but is not recorded, so whatever the caller records
//!   next (the heal) is the history's last nemesis op.
//! - [`LiveCounters`] count completions as they happen, for a progress display to read while
//!   a run goes on; [`NemesisLog`] records nemesis calls (a heal after Ctrl-C) outside a run.

use crate::client::{Client, OpCtx, OpSpec};
use crate::generator::{Ctx, Generator, Pull};
use crate::seed::{rng_for, Rng};
use labrys_history::{Op, OpType, Process, Value};
use labrys_store::{Recorder, StoreError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How a run is shaped.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Worker count (logical processes at any one time).
    pub concurrency: usize,
    /// Node count; worker `w` uses node `w % nodes`.
    pub nodes: usize,
    /// An op not completed within this is recorded as `info`.
    pub op_timeout: Duration,
    /// The test seed: every random choice of the client generator derives from it.
    pub seed: u64,
    /// Time between two nemesis ops.
    pub nemesis_interval: Duration,
}

/// A fault injector the runtime can schedule (implemented over `labrys_nemesis::Nemesis`).
/// Its methods block (they run commands over SSH); the runtime calls them off the async
/// threads.
pub trait NemesisDriver: Send + 'static {
    /// The next fault op of the schedule: `("start-partition", [[n1 n2] [n3 n4 n5]])`.
    fn next_op(&mut self) -> (String, Value);
    /// Applies it, returning the value to record in the completion, or why it failed.
    fn invoke(&mut self, f: &str, value: &Value) -> Result<Value, String>;
}

/// A shared, lockable nemesis.
pub type SharedNemesis = Arc<Mutex<dyn NemesisDriver>>;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("recording the history failed: {0}")]
    Record(#[from] StoreError),
    #[error("a worker task died: {0}")]
    Worker(String),
}

/// Completion counts of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub nemesis: u64,
}

impl RunStats {
    pub fn ops(&self) -> u64 {
        self.ok + self.fail + self.info
    }
}

/// Completions so far, over every run of one [`Runtime`], updated as each op completes; a
/// progress display reads them while the workers run.
#[derive(Debug, Default)]
pub struct LiveCounters {
    ok: AtomicU64,
    fail: AtomicU64,
    info: AtomicU64,
    nemesis: AtomicU64,
}

impl LiveCounters {
    /// The counts now.
    pub fn snapshot(&self) -> RunStats {
        RunStats {
            ok: self.ok.load(Ordering::Relaxed),
            fail: self.fail.load(Ordering::Relaxed),
            info: self.info.load(Ordering::Relaxed),
            nemesis: self.nemesis.load(Ordering::Relaxed),
        }
    }

    fn completed(&self, kind: OpType) {
        let c = match kind {
            OpType::Ok => &self.ok,
            OpType::Fail => &self.fail,
            _ => &self.info,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Records nemesis calls in a runtime's history, on the runtime's clock: what a cleanup path
/// (the heal after Ctrl-C) uses once the run itself is gone. Cheap to clone.
#[derive(Clone)]
pub struct NemesisLog {
    recorder: Arc<Recorder>,
    start: Instant,
}

impl NemesisLog {
    /// Runs `call` on this thread, recorded as a `nemesis` invoke before it and an `info`
    /// completion after (with its value, or its error in `error`), as [`Runtime::nemesis_call`]
    /// does. Returns the call's own result; `Err` only when recording failed.
    pub fn call_blocking(
        &self,
        f: &str,
        value: Value,
        call: impl FnOnce() -> Result<Value, String>,
    ) -> Result<Result<Value, String>, StoreError> {
        let inv = self.invoke(f, value)?;
        let result = call();
        self.complete(inv, &result)?;
        Ok(result)
    }
}

/// Runs generators against a client, recording everything. Process ids and the random
/// stream persist from one [`Runtime::run`] to the next (main phase, then final reads).
pub struct Runtime {
    cfg: RunConfig,
    client: Arc<dyn Client>,
    recorder: Arc<Recorder>,
    start: Instant,
    processes: Arc<Mutex<Vec<i64>>>,
    rng: Arc<Mutex<Rng>>,
    counters: Arc<LiveCounters>,
}

struct GenState {
    gen: Box<dyn Generator>,
    in_flight: usize,
}

struct Shared {
    cfg: RunConfig,
    client: Arc<dyn Client>,
    recorder: Arc<Recorder>,
    start: Instant,
    processes: Arc<Mutex<Vec<i64>>>,
    rng: Arc<Mutex<Rng>>,
    gen: Mutex<GenState>,
    completed: Notify,
    aborted: AtomicBool,
    counters: Arc<LiveCounters>,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runtime {
    /// A runtime whose clock (op `time`) starts now.
    pub fn new(cfg: RunConfig, client: Arc<dyn Client>, recorder: Arc<Recorder>) -> Runtime {
        let concurrency = cfg.concurrency.max(1);
        let cfg = RunConfig {
            concurrency,
            nodes: cfg.nodes.max(1),
            ..cfg
        };
        Runtime {
            processes: Arc::new(Mutex::new((0..concurrency as i64).collect())),
            rng: Arc::new(Mutex::new(rng_for(cfg.seed, "client"))),
            cfg,
            client,
            recorder,
            start: Instant::now(),
            counters: Arc::new(LiveCounters::default()),
        }
    }

    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// Live completion counts of every run of this runtime.
    pub fn counters(&self) -> Arc<LiveCounters> {
        self.counters.clone()
    }

    /// Records nemesis calls on this runtime's clock, also after the runtime is gone.
    pub fn nemesis_log(&self) -> NemesisLog {
        NemesisLog {
            recorder: self.recorder.clone(),
            start: self.start,
        }
    }

    /// Nanoseconds since the runtime was created.
    pub fn now_nanos(&self) -> i64 {
        self.start.elapsed().as_nanos().min(i64::MAX as u128) as i64
    }

    /// Runs `gen` to its end with every worker, and `nemesis` (if any) on its interval until
    /// the clients are done; waits for a nemesis op in progress to finish.
    pub async fn run(
        &self,
        gen: Box<dyn Generator>,
        nemesis: Option<SharedNemesis>,
    ) -> Result<RunStats, RuntimeError> {
        let shared = Arc::new(Shared {
            cfg: self.cfg.clone(),
            client: self.client.clone(),
            recorder: self.recorder.clone(),
            start: self.start,
            processes: self.processes.clone(),
            rng: self.rng.clone(),
            gen: Mutex::new(GenState { gen, in_flight: 0 }),
            completed: Notify::new(),
            aborted: AtomicBool::new(false),
            counters: self.counters.clone(),
        });
        let mut workers = JoinSet::new();
        for w in 0..self.cfg.concurrency {
            workers.spawn(worker(shared.clone(), w));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        // In a JoinSet, so that dropping this future (Ctrl-C) aborts the loop too: nothing it
        // does is recorded after the run was abandoned.
        let mut nemesis_task = nemesis.map(|n| {
            let interval = self.cfg.nemesis_interval;
            let log = self.nemesis_log();
            let counters = self.counters.clone();
            let mut set = JoinSet::new();
            set.spawn(nemesis_loop(n, interval, log, counters, stop_rx));
            set
        });
        let mut stats = RunStats::default();
        let mut first_err = None;
        while let Some(r) = workers.join_next().await {
            match r {
                Ok(Ok(s)) => {
                    stats.ok += s.ok;
                    stats.fail += s.fail;
                    stats.info += s.info;
                }
                Ok(Err(e)) => {
                    shared.aborted.store(true, Ordering::SeqCst);
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    shared.aborted.store(true, Ordering::SeqCst);
                    first_err.get_or_insert(RuntimeError::Worker(e.to_string()));
                }
            }
        }
        let _ = stop_tx.send(true);
        if let Some(set) = nemesis_task.as_mut() {
            match set.join_next().await {
                Some(Ok(Ok(n))) => stats.nemesis = n,
                Some(Ok(Err(e))) => {
                    first_err.get_or_insert(e);
                }
                Some(Err(e)) => {
                    first_err.get_or_insert(RuntimeError::Worker(e.to_string()));
                }
                None => {}
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    /// Runs one blocking nemesis call (`heal`, a final `stop-*`) recorded as a `nemesis`
    /// invoke/info pair. Returns the call's own result; `Err` only when recording failed.
    pub async fn nemesis_call<F>(
        &self,
        f: &str,
        value: Value,
        call: F,
    ) -> Result<Result<Value, String>, RuntimeError>
    where
        F: FnOnce() -> Result<Value, String> + Send + 'static,
    {
        self.nemesis_log().call(f, value, call).await
    }
}

fn nanos_since(start: Instant) -> i64 {
    start.elapsed().as_nanos().min(i64::MAX as u128) as i64
}

impl NemesisLog {
    /// Appends the invoke of nemesis op `f` and returns it.
    fn invoke(&self, f: &str, value: Value) -> Result<Op, StoreError> {
        let mut inv = Op::new(0, OpType::Invoke, 0, f, value);
        inv.process = Process::Named("nemesis".into());
        inv.time = Some(nanos_since(self.start));
        self.recorder.append(inv.clone())?;
        Ok(inv)
    }

    /// Appends the `info` completion of `inv`: the call's value, or its error in `error`.
    fn complete(&self, inv: Op, result: &Result<Value, String>) -> Result<(), StoreError> {
        let mut done = inv;
        done.kind = OpType::Info;
        done.time = Some(nanos_since(self.start));
        match result {
            Ok(v) => done.value = v.clone(),
            Err(e) => done
                .extra
                .push(("error".into(), Value::Str(e.as_str().into()))),
        }
        self.recorder.append(done)?;
        Ok(())
    }

    /// [`NemesisLog::call_blocking`] with the call on the blocking thread pool.
    async fn call<F>(
        &self,
        f: &str,
        value: Value,
        call: F,
    ) -> Result<Result<Value, String>, RuntimeError>
    where
        F: FnOnce() -> Result<Value, String> + Send + 'static,
    {
        let inv = self.invoke(f, value)?;
        let result = match tokio::task::spawn_blocking(call).await {
            Ok(r) => r,
            Err(e) => Err(format!("nemesis call panicked: {e}")),
        };
        self.complete(inv, &result)?;
        Ok(result)
    }
}

async fn nemesis_loop(
    nemesis: SharedNemesis,
    interval: Duration,
    log: NemesisLog,
    counters: Arc<LiveCounters>,
    mut stop: watch::Receiver<bool>,
) -> Result<u64, RuntimeError> {
    let mut n = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return Ok(n),
        }
        if *stop.borrow() {
            return Ok(n);
        }
        let (f, value) = lock(&nemesis).next_op();
        let nem = nemesis.clone();
        let (f2, v2) = (f.clone(), value.clone());
        // A fault op that failed is recorded with its error; the schedule goes on.
        let _ = log
            .call(&f, value, move || lock(&nem).invoke(&f2, &v2))
            .await?;
        counters.nemesis.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
}

async fn worker(shared: Arc<Shared>, w: usize) -> Result<RunStats, RuntimeError> {
    let mut stats = RunStats::default();
    loop {
        if shared.aborted.load(Ordering::SeqCst) {
            return Ok(stats);
        }
        let pull = {
            let mut st = lock(&shared.gen);
            let ctx = Ctx {
                now: Instant::now(),
                in_flight: st.in_flight,
            };
            let mut rng = lock(&shared.rng);
            let p = st.gen.pull(&ctx, &mut rng);
            if matches!(p, Pull::Op(_)) {
                st.in_flight += 1;
            }
            p
        };
        match pull {
            Pull::Done => return Ok(stats),
            Pull::Wait(t) => tokio::time::sleep_until(t).await,
            Pull::Pending => {
                // Woken by a completion; the timeout covers a wake-up sent just before we
                // started waiting.
                let _ =
                    tokio::time::timeout(Duration::from_millis(20), shared.completed.notified())
                        .await;
            }
            Pull::Op(spec) => {
                let r = perform(&shared, w, spec).await;
                lock(&shared.gen).in_flight -= 1;
                shared.completed.notify_waiters();
                let kind = r?;
                shared.counters.completed(kind);
                match kind {
                    OpType::Ok => stats.ok += 1,
                    OpType::Fail => stats.fail += 1,
                    _ => stats.info += 1,
                }
            }
        }
    }
}

/// Records the invoke, calls the client under the timeout, records the completion, and
/// retires the process after an `info`.
async fn perform(shared: &Shared, w: usize, spec: OpSpec) -> Result<OpType, RuntimeError> {
    let process = lock(&shared.processes)[w];
    let ctx = OpCtx {
        process,
        worker: w,
        node: w % shared.cfg.nodes,
    };
    let mut inv = Op::new(0, OpType::Invoke, process, &spec.f, spec.value.clone());
    inv.time = Some(nanos_since(shared.start));
    shared.recorder.append(inv.clone())?;
    let completion =
        match tokio::time::timeout(shared.cfg.op_timeout, shared.client.invoke(ctx, &spec)).await {
            Ok(c) => c,
            Err(_) => crate::client::Completion::info(format!(
                "timeout: no answer within {:?}",
                shared.cfg.op_timeout
            )),
        };
    // A client may not claim an invoke; treat that bug as "unknown", the only safe reading.
    let kind = if completion.kind == OpType::Invoke {
        OpType::Info
    } else {
        completion.kind
    };
    let mut done = inv;
    done.kind = kind;
    done.time = Some(nanos_since(shared.start));
    if let Some(v) = completion.value {
        done.value = v;
    }
    if let Some(e) = completion.error {
        done.extra.push(("error".into(), Value::Str(e.into())));
    }
    if let Some(n) = completion.node {
        done.extra.push(("node".into(), Value::Str(n.into())));
    }
    if kind == OpType::Info {
        lock(&shared.processes)[w] += shared.cfg.concurrency as i64;
    }
    shared.recorder.append(done)?;
    Ok(kind)
}
