//! The runtime against a fake in-memory register client: histories are well-formed (they pair
//! with `History::from_ops`), processes are retired after `info`, seeds replay identically,
//! and the nemesis interleaves with clients.

use labrys_gen::{
    from_fn, limit, mix, phases, sequence, stagger, time_limit, Client, Completion, Generator,
    NemesisDriver, OpCtx, OpFuture, OpSpec, RunConfig, Runtime,
};
use labrys_history::{History, Op, OpType, Process, Value};
use labrys_store::Recorder;
use proptest::prelude::*;
use rand::Rng as _;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A linearizable multi-key register that answers after a latency derived from the op, and
/// hangs (after applying the op) for some ops, so that the runtime's timeout fires.
struct FakeRegister {
    state: Mutex<HashMap<i64, i64>>,
}

fn hash(x: &str) -> u64 {
    x.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Client for FakeRegister {
    fn invoke<'a>(&'a self, ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            let h = hash(&format!("{} {} {}", ctx.process, op.f, op.value));
            tokio::time::sleep(Duration::from_millis(1 + h % 20)).await;
            let kv = op.value.as_seq().expect("[key value]");
            let key = kv[0].as_i64().unwrap();
            let completion = {
                let mut st = self.state.lock().unwrap();
                match &*op.f {
                    "read" => Completion::ok(Value::List(vec![
                        Value::Int(key),
                        st.get(&key).map(|v| Value::Int(*v)).unwrap_or(Value::Nil),
                    ])),
                    "write" => {
                        st.insert(key, kv[1].as_i64().unwrap());
                        Completion::ok(op.value.clone())
                    }
                    _ => {
                        let ov = kv[1].as_seq().unwrap();
                        let (old, new) = (ov[0].as_i64().unwrap(), ov[1].as_i64().unwrap());
                        if st.get(&key) == Some(&old) {
                            st.insert(key, new);
                            Completion::ok(op.value.clone())
                        } else {
                            Completion::fail("precondition failed")
                        }
                    }
                }
            };
            if h.is_multiple_of(17) {
                // Applied, but the answer never comes in time.
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            completion
        })
    }
}

fn register_ops() -> Box<dyn Generator> {
    let r = from_fn(|rng| {
        Some(OpSpec::new(
            "read",
            Value::List(vec![Value::Int(rng.random_range(0..3)), Value::Nil]),
        ))
    });
    let w = from_fn(|rng| {
        let k = rng.random_range(0..3);
        Some(OpSpec::new(
            "write",
            Value::List(vec![Value::Int(k), Value::Int(rng.random_range(0..5))]),
        ))
    });
    let c = from_fn(|rng| {
        let k = rng.random_range(0..3);
        let ov = Value::List(vec![
            Value::Int(rng.random_range(0..5)),
            Value::Int(rng.random_range(0..5)),
        ]);
        Some(OpSpec::new("cas", Value::List(vec![Value::Int(k), ov])))
    });
    mix(vec![r, w, c])
}

fn final_reads() -> Box<dyn Generator> {
    sequence((0..3).map(|k| OpSpec::new("read", Value::List(vec![Value::Int(k), Value::Nil]))))
}

fn config(seed: u64, concurrency: usize) -> RunConfig {
    RunConfig {
        concurrency,
        nodes: 5,
        op_timeout: Duration::from_secs(1),
        seed,
        nemesis_interval: Duration::from_secs(2),
    }
}

async fn run_once(seed: u64, concurrency: usize, gen: Box<dyn Generator>) -> Vec<Op> {
    let recorder = Arc::new(Recorder::in_memory());
    let client = Arc::new(FakeRegister {
        state: Mutex::new(HashMap::new()),
    });
    let rt = Runtime::new(config(seed, concurrency), client, recorder.clone());
    rt.run(gen, None).await.unwrap();
    recorder.ops().unwrap()
}

/// Checks what every runtime history must satisfy; returns it paired.
fn assert_well_formed(ops: Vec<Op>, concurrency: i64) -> History {
    let h = History::from_ops(ops, "runtime").expect("history pairs");
    let mut retired = HashSet::new();
    for (i, op) in h.ops.iter().enumerate() {
        assert_eq!(op.index, i as u64);
        if let Process::Client(p) = op.process {
            assert!(
                !retired.contains(&p),
                "process {p} acted after an info: {op}"
            );
            if op.kind == OpType::Info {
                retired.insert(p);
            }
        }
    }
    // Every retired process has a successor `p + concurrency` or was still idle at the end.
    for p in &retired {
        let succ = p + concurrency;
        let worker_used_again = h.ops.iter().any(|o| o.process == Process::Client(succ));
        let last_of_worker = h.ops.iter().rev().find(|o| {
            o.process
                .client()
                .is_some_and(|q| q.rem_euclid(concurrency) == p.rem_euclid(concurrency))
        });
        assert!(
            worker_used_again || last_of_worker.map(|o| o.process.client()) == Some(Some(*p)),
            "worker of process {p} went on with another id than {succ}"
        );
    }
    // Every op completed (the runtime waits or times out), and times never go backwards.
    assert!(h.pairs.iter().all(|p| p.completion.is_some()));
    assert!(h.ops.windows(2).all(|w| w[0].time <= w[1].time));
    h
}

#[tokio::test(start_paused = true)]
async fn histories_are_well_formed_with_timeouts_and_phases() {
    let gen = phases(vec![
        time_limit(
            Duration::from_secs(20),
            stagger(Duration::from_millis(5), register_ops()),
        ),
        final_reads(),
    ]);
    let ops = run_once(7, 10, gen).await;
    let h = assert_well_formed(ops, 10);
    let infos = h.calls().filter(|c| c.outcome() == OpType::Info).count();
    assert!(infos > 0, "some ops should have timed out");
    assert!(
        h.calls().any(|c| c.process() >= 10),
        "retired processes get new ids"
    );
    // The final reads come after every main-phase op completed.
    let n = h.pairs.len();
    let last_main_completion = h.pairs[..n - 3]
        .iter()
        .filter_map(|p| p.completion)
        .max()
        .unwrap();
    assert!(h.pairs[n - 3..]
        .iter()
        .all(|p| p.invoke > last_main_completion));
    // Time limit respected: no main-phase invoke after 20 s.
    let t20 = 20_000_000_000;
    assert!(h.pairs[..n - 3]
        .iter()
        .all(|p| h.ops[p.invoke].time.unwrap() <= t20));
}

#[tokio::test(start_paused = true)]
async fn a_seed_replays_identically() {
    let mk = || limit(300, stagger(Duration::from_millis(3), register_ops()));
    let a: Vec<_> = run_once(42, 5, mk())
        .await
        .iter()
        .map(Op::to_json)
        .collect();
    let b: Vec<_> = run_once(42, 5, mk())
        .await
        .iter()
        .map(Op::to_json)
        .collect();
    let c: Vec<_> = run_once(43, 5, mk())
        .await
        .iter()
        .map(Op::to_json)
        .collect();
    assert_eq!(a.len(), 600);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

struct FakeNemesis {
    next_start: bool,
    calls: Arc<Mutex<Vec<String>>>,
}

impl NemesisDriver for FakeNemesis {
    fn next_op(&mut self) -> (String, Value) {
        let f = if self.next_start {
            "start-partition"
        } else {
            "stop-partition"
        };
        self.next_start = !self.next_start;
        (f.into(), Value::Nil)
    }
    fn invoke(&mut self, f: &str, _value: &Value) -> Result<Value, String> {
        self.calls.lock().unwrap().push(f.to_string());
        if f == "stop-partition" {
            Err("iptables said no".into())
        } else {
            Ok(Value::List(vec![Value::str("n1"), Value::str("n2")]))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn nemesis_ops_interleave_with_clients() {
    let recorder = Arc::new(Recorder::in_memory());
    let client = Arc::new(FakeRegister {
        state: Mutex::new(HashMap::new()),
    });
    let rt = Runtime::new(config(1, 4), client, recorder.clone());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let nemesis = Arc::new(Mutex::new(FakeNemesis {
        next_start: true,
        calls: calls.clone(),
    }));
    let gen = time_limit(
        Duration::from_secs(9),
        stagger(Duration::from_millis(10), register_ops()),
    );
    let stats = rt.run(gen, Some(nemesis)).await.unwrap();
    let healed = rt
        .nemesis_call("heal", Value::Nil, || Ok(Value::kw("healed")))
        .await
        .unwrap();
    assert_eq!(healed, Ok(Value::kw("healed")));
    // 9 s at one fault op every 2 s.
    assert_eq!(stats.nemesis, 4);
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "start-partition",
            "stop-partition",
            "start-partition",
            "stop-partition"
        ]
    );
    let ops = recorder.ops().unwrap();
    let nem: Vec<&Op> = ops.iter().filter(|o| !o.is_client()).collect();
    assert_eq!(nem.len(), 10);
    for pair in nem.chunks(2) {
        assert_eq!((pair[0].kind, pair[1].kind), (OpType::Invoke, OpType::Info));
        assert_eq!(pair[0].f, pair[1].f);
    }
    assert!(
        nem[3].field("error").is_some(),
        "a failed fault op records its error"
    );
    // Client ops happen between nemesis ops, not only before or after.
    let first_nem = ops.iter().position(|o| !o.is_client()).unwrap();
    let last_nem = ops
        .iter()
        .rposition(|o| !o.is_client() && &*o.f != "heal")
        .unwrap();
    assert!(
        ops[first_nem..last_nem]
            .iter()
            .filter(|o| o.is_client())
            .count()
            > 100
    );
    assert_well_formed(ops, 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn any_seed_and_concurrency_gives_a_well_formed_history(
        seed in any::<u64>(), concurrency in 1usize..12, n in 1u64..200,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let ops = rt.block_on(run_once(seed, concurrency, limit(n, register_ops())));
        let h = assert_well_formed(ops, concurrency as i64);
        prop_assert_eq!(h.pairs.len() as u64, n);
    }
}

#[tokio::test(start_paused = true)]
async fn live_counters_match_the_run_and_a_dropped_run_starts_no_more_faults() {
    let recorder = Arc::new(Recorder::in_memory());
    let client = Arc::new(FakeRegister {
        state: Mutex::new(HashMap::new()),
    });
    let rt = Runtime::new(config(5, 4), client, recorder.clone());
    let counters = rt.counters();
    assert_eq!(counters.snapshot(), Default::default());
    let stats = rt
        .run(
            limit(200, stagger(Duration::from_millis(5), register_ops())),
            None,
        )
        .await
        .unwrap();
    assert_eq!(counters.snapshot(), stats);
    assert!(stats.ok > 0 && stats.info > 0, "{stats:?}");

    // A run abandoned mid-way (what Ctrl-C does) leaves no nemesis loop behind.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let nemesis = Arc::new(Mutex::new(FakeNemesis {
        next_start: true,
        calls: calls.clone(),
    }));
    let endless = stagger(Duration::from_millis(10), register_ops());
    let run = rt.run(endless, Some(nemesis));
    assert!(tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .is_err());
    let before = calls.lock().unwrap().len();
    assert_eq!(before, 2, "one fault op every 2 s for 5 s");
    assert_eq!(counters.snapshot().nemesis, 2);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        calls.lock().unwrap().len(),
        before,
        "fault ops went on after the run was dropped"
    );
}

#[test]
fn a_nemesis_log_records_a_call_as_invoke_and_info() {
    let recorder = Arc::new(Recorder::in_memory());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = rt.block_on(async {
        let client = Arc::new(FakeRegister {
            state: Mutex::new(HashMap::new()),
        });
        Runtime::new(config(1, 1), client, recorder.clone()).nemesis_log()
    });
    drop(rt);
    let ok = log
        .call_blocking("heal", Value::Nil, || Ok(Value::kw("healed")))
        .unwrap();
    assert_eq!(ok, Ok(Value::kw("healed")));
    let failed = log
        .call_blocking("heal", Value::Nil, || Err("ssh dropped".into()))
        .unwrap();
    assert_eq!(failed, Err("ssh dropped".to_string()));
    let ops = recorder.ops().unwrap();
    let kinds: Vec<(OpType, &str)> = ops.iter().map(|o| (o.kind, &*o.f)).collect();
    assert_eq!(
        kinds,
        [
            (OpType::Invoke, "heal"),
            (OpType::Info, "heal"),
            (OpType::Invoke, "heal"),
            (OpType::Info, "heal")
        ]
    );
    assert!(ops
        .iter()
        .all(|o| o.process == Process::Named("nemesis".into())));
    assert_eq!(ops[1].value, Value::kw("healed"));
    assert!(ops[1].field("error").is_none());
    assert_eq!(
        ops[3].field("error"),
        Some(&Value::Str("ssh dropped".into()))
    );
}

/// A nemesis whose first op blocks until the test lets it go.
struct BlockingNemesis {
    started: std::sync::mpsc::Sender<()>,
    release: Arc<Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl NemesisDriver for BlockingNemesis {
    fn next_op(&mut self) -> (String, Value) {
        ("start-kill".into(), Value::Nil)
    }
    fn invoke(&mut self, _f: &str, _value: &Value) -> Result<Value, String> {
        let _ = self.started.send(());
        let _ = self.release.lock().unwrap().recv();
        Ok(Value::kw("killed"))
    }
}

/// Ctrl-C drops the run while a fault op is in flight; the caller then records its heal. The
/// op in flight must not complete in the history after that heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_op_in_flight_when_the_run_is_dropped_is_not_recorded_after_it() {
    let recorder = Arc::new(Recorder::in_memory());
    let client = Arc::new(FakeRegister {
        state: Mutex::new(HashMap::new()),
    });
    let cfg = RunConfig {
        nemesis_interval: Duration::from_millis(50),
        ..config(9, 2)
    };
    let rt = Runtime::new(cfg, client, recorder.clone());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let nemesis = Arc::new(Mutex::new(BlockingNemesis {
        started: started_tx,
        release: Arc::new(Mutex::new(release_rx)),
    }));
    let endless = stagger(Duration::from_millis(10), register_ops());
    let in_flight = tokio::task::spawn_blocking(move || started_rx.recv());
    tokio::select! {
        r = rt.run(endless, Some(nemesis)) => panic!("an endless run ended: {r:?}"),
        s = in_flight => s.unwrap().unwrap(),
    }
    // The run is dropped. The caller heals (recorded), then the blocked op finishes.
    let healed = rt
        .nemesis_call("heal", Value::Nil, || Ok(Value::kw("healed")))
        .await
        .unwrap();
    assert_eq!(healed, Ok(Value::kw("healed")));
    release_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let nem: Vec<(OpType, String)> = recorder
        .ops()
        .unwrap()
        .iter()
        .filter(|o| !o.is_client())
        .map(|o| (o.kind, o.f.to_string()))
        .collect();
    assert_eq!(
        nem,
        [
            (OpType::Invoke, "start-kill".to_string()),
            (OpType::Invoke, "heal".to_string()),
            (OpType::Info, "heal".to_string()),
        ]
    );
}
