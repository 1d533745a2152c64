//! How much faster than a test needs can the harness record and drive ops?
//!
//! Prints ops/s for: the file recorder alone (one unbuffered write per op, the durability
//! rule), the in-memory recorder, and the whole runtime (10 workers, a client that answers at
//! once, file recorder) — and their ratios to each other and to the default test rate of 20
//! ops/s. Bounded: a fixed op count per figure. Run: `cargo bench -p labrys-gen`.

use labrys_gen::{sequence, Client, Completion, OpCtx, OpFuture, OpSpec, RunConfig, Runtime};
use labrys_history::{Op, OpType, Value};
use labrys_store::Recorder;
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: u64 = 200_000;

fn op(i: u64) -> Op {
    let mut op = Op::new(
        0,
        OpType::Invoke,
        (i % 10) as i64,
        "write",
        Value::List(vec![Value::Int(3), Value::Int(i as i64)]),
    );
    op.time = Some(i as i64);
    op
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

struct Instant0;

impl Client for Instant0 {
    fn invoke<'a>(&'a self, _ctx: OpCtx, op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move { Completion::ok(op.value.clone()) })
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("labrys-gen-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let r = Recorder::create(&dir.join("a.jsonl")).unwrap();
    let t = Instant::now();
    for i in 0..N {
        r.append(op(i)).unwrap();
    }
    let file = rate(N, t.elapsed());

    let r = Recorder::in_memory();
    let t = Instant::now();
    for i in 0..N {
        r.append(op(i)).unwrap();
    }
    let mem = rate(N, t.elapsed());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let recorder = Arc::new(Recorder::create(&dir.join("b.jsonl")).unwrap());
    let cfg = RunConfig {
        concurrency: 10,
        nodes: 5,
        op_timeout: Duration::from_secs(5),
        seed: 1,
        nemesis_interval: Duration::from_secs(3600),
    };
    let runtime = Runtime::new(cfg, Arc::new(Instant0), recorder);
    let ops = N / 4;
    let gen = sequence((0..ops).map(|i| OpSpec::new("write", Value::Int(i as i64))));
    let t = Instant::now();
    rt.block_on(runtime.run(gen, None)).unwrap();
    let driven = rate(ops, t.elapsed());
    let _ = std::fs::remove_dir_all(&dir);

    println!("file recorder:    {file:>12.0} records/s");
    println!(
        "memory recorder:  {mem:>12.0} records/s  (file/memory = {:.2})",
        file / mem
    );
    println!("runtime (10 workers, instant client, file recorder): {driven:>10.0} ops/s");
    println!(
        "  = {:.0}x the default test rate of 20 ops/s",
        driven / 20.0
    );
}
