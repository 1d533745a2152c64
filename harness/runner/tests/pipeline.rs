//! The pipeline without a cluster: each workload's generator, the runtime, the file recorder
//! of a run folder and `analyze`. A correct in-memory store must be judged valid (soundness);
//! one that serves a stale read must be judged invalid (a planted anomaly).

use labrys_gen::{limit, stagger, Client, Completion, OpCtx, OpFuture, OpSpec, RunConfig, Runtime};
use labrys_harness::analyze;
use labrys_harness::workload::{final_reads, final_txn_reads, list_append, register, UsedKeys};
use labrys_history::Value;
use labrys_store::RunDir;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Per key: the current value and the one before the latest write.
type Cells = HashMap<i64, (Option<i64>, Option<i64>)>;

/// A linearizable register per key (each op takes effect atomically under the lock), which
/// can be told to answer one read with the value before the latest write.
struct Register {
    state: Mutex<Cells>,
    stale_read_at: Option<usize>,
    reads: Mutex<usize>,
}

impl Client for Register {
    fn invoke<'a>(&'a self, _ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let kv = op.value.as_seq().unwrap();
            let k = kv[0].as_i64().unwrap();
            let mut st = self.state.lock().unwrap();
            let (cur, prev) = st.get(&k).copied().unwrap_or((None, None));
            let v = |x: Option<i64>| x.map(Value::Int).unwrap_or(Value::Nil);
            match &*op.f {
                "read" => {
                    let mut n = self.reads.lock().unwrap();
                    *n += 1;
                    // At the chosen read (and again as many reads later): the value before
                    // the latest write.
                    let stale = self.stale_read_at.is_some_and(|at| *n >= at)
                        && prev.is_some()
                        && prev != cur;
                    if stale {
                        *n = usize::MIN;
                        return Completion::ok(Value::List(vec![Value::Int(k), v(prev)]));
                    }
                    Completion::ok(Value::List(vec![Value::Int(k), v(cur)]))
                }
                "write" => {
                    st.insert(k, (kv[1].as_i64(), cur));
                    Completion::ok(op.value.clone())
                }
                _ => {
                    let ov = kv[1].as_seq().unwrap();
                    if cur.is_some() && cur == ov[0].as_i64() {
                        st.insert(k, (ov[1].as_i64(), cur));
                        Completion::ok(op.value.clone())
                    } else {
                        Completion::fail("compare failed")
                    }
                }
            }
        })
    }
}

async fn record_run(store: &std::path::Path, stale_read_at: Option<usize>) {
    let run = RunDir::create(store, "etcd-register").unwrap();
    run.write_json(
        "test.json",
        &serde_json::json!({"workload": "register", "end": "2026-12-04T00:00:00Z"}),
    )
    .unwrap();
    let recorder = Arc::new(run.recorder().unwrap());
    let client = Register {
        state: Mutex::new(HashMap::new()),
        stale_read_at,
        reads: Mutex::new(0),
    };
    let cfg = RunConfig {
        concurrency: 1,
        nodes: 1,
        op_timeout: Duration::from_secs(5),
        seed: 3,
        nemesis_interval: Duration::from_secs(10),
    };
    let rt = Runtime::new(cfg, Arc::new(client), recorder);
    let used = UsedKeys::default();
    let main = limit(
        400,
        stagger(Duration::from_millis(1), register(50, used.clone())),
    );
    rt.run(main, None).await.unwrap();
    rt.run(final_reads(&used), None).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_correct_register_is_valid() {
    let store = tempfile::tempdir().unwrap();
    record_run(store.path(), None).await;
    let o = analyze(None, store.path(), Some(Duration::from_secs(60)));
    assert_eq!(o.exit_code, 0, "{o:?}");
    assert_eq!(o.summary, "valid");

    // The same history from a run whose harness never recorded its end (killed): no clean
    // verdict, exit 3, saying why; and the reason stays in results.json for the next analyze.
    let run = o.run_dir.unwrap();
    std::fs::write(run.join("test.json"), r#"{"workload": "register"}"#).unwrap();
    let o = analyze(None, store.path(), Some(Duration::from_secs(60)));
    assert_eq!(o.exit_code, 3, "{o:?}");
    assert!(
        o.summary.contains("incomplete run: the run never finished"),
        "{o:?}"
    );
    assert!(o.summary.contains("history so far: valid"), "{o:?}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    assert!(results["incomplete"]
        .as_str()
        .unwrap()
        .contains("never finished"));
    // An interrupted test records its reason itself.
    std::fs::write(
        run.join("test.json"),
        r#"{"workload": "register", "end": "2026-12-04T00:00:00Z"}"#,
    )
    .unwrap();
    let mut r = results.clone();
    r["incomplete"] = "interrupted by SIGINT (Ctrl-C)".into();
    std::fs::write(run.join("results.json"), r.to_string()).unwrap();
    let o = analyze(None, store.path(), Some(Duration::from_secs(60)));
    assert_eq!(o.exit_code, 3, "{o:?}");
    assert!(o.summary.contains("interrupted by SIGINT"), "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stale_read_is_invalid() {
    let store = tempfile::tempdir().unwrap();
    record_run(store.path(), Some(100)).await;
    let o = analyze(None, store.path(), Some(Duration::from_secs(60)));
    assert_eq!(o.exit_code, 1, "{o:?}");
    let run = o.run_dir.unwrap();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], false);
}

/// Serializable list-append transactions (each applied whole under the lock); optionally
/// every `stale_every`-th read drops the last element of a list (a stale read).
struct Lists {
    state: Mutex<HashMap<Value, Vec<Value>>>,
    stale_every: Option<usize>,
    reads: Mutex<usize>,
}

impl Client for Lists {
    fn invoke<'a>(&'a self, _ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let mut st = self.state.lock().unwrap();
            let mut done = Vec::new();
            for m in op.value.as_seq().unwrap() {
                let m = m.as_seq().unwrap();
                let (f, k) = (m[0].as_name().unwrap(), &m[1]);
                if f == "append" {
                    st.entry(k.clone()).or_default().push(m[2].clone());
                    done.push(Value::List(m.to_vec()));
                } else {
                    let mut list = st.get(k).cloned();
                    let mut n = self.reads.lock().unwrap();
                    *n += 1;
                    if self.stale_every.is_some_and(|e| (*n).is_multiple_of(e)) {
                        if let Some(l) = list.as_mut().filter(|l| l.len() > 1) {
                            l.pop();
                        }
                    }
                    let seen = list.map(Value::List).unwrap_or(Value::Nil);
                    done.push(Value::List(vec![m[0].clone(), k.clone(), seen]));
                }
            }
            Completion::ok(Value::List(done))
        })
    }
}

async fn record_append_run(store: &std::path::Path, stale_every: Option<usize>) {
    let run = RunDir::create(store, "etcd-list-append").unwrap();
    run.write_json(
        "test.json",
        &serde_json::json!({"workload": "list-append", "end": "2026-12-04T00:00:00Z"}),
    )
    .unwrap();
    let recorder = Arc::new(run.recorder().unwrap());
    let client = Lists {
        state: Mutex::new(HashMap::new()),
        stale_every,
        reads: Mutex::new(0),
    };
    let cfg = RunConfig {
        concurrency: 1,
        nodes: 1,
        op_timeout: Duration::from_secs(5),
        seed: 4,
        nemesis_interval: Duration::from_secs(10),
    };
    let rt = Runtime::new(cfg, Arc::new(client), recorder);
    let used = UsedKeys::default();
    let main = limit(
        300,
        stagger(Duration::from_millis(1), list_append(40, used.clone())),
    );
    rt.run(main, None).await.unwrap();
    rt.run(final_txn_reads(&used), None).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn serializable_list_appends_are_valid() {
    let store = tempfile::tempdir().unwrap();
    record_append_run(store.path(), None).await;
    let o = analyze(None, store.path(), Some(Duration::from_secs(60)));
    assert_eq!((o.exit_code, o.summary.as_str()), (0, "valid"), "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn stale_list_reads_are_invalid() {
    let store = tempfile::tempdir().unwrap();
    record_append_run(store.path(), Some(25)).await;
    let o = analyze(None, store.path(), Some(Duration::from_secs(60)));
    assert_eq!(o.exit_code, 1, "{o:?}");
}
