//! Benchmarks of the invariant checkers: set-full's per-element walk against a reference
//! implementation of Jepsen's reads × elements update, on one generated history, and every
//! checker's throughput on the corpus histories when `../shared/data` is present.
//!
//! Run: `cargo bench -p labrys-invariant`. Prints ratios measured in one run; the latest
//! figures live in `bench/invariant/README.md`. Every run stops by itself (fixed sizes).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use labrys_history::{read_file, CheckOptions, Format, Op, OpType, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Best of `n` runs.
fn time<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.unwrap())
}

fn main() {
    let mut m = SetModel::new(8, 0);
    let mut sim = Sim::new(42);
    let next = sim.run(&mut m, 5, 24_000, 2);
    sim.solo(&mut m, next, "read", Value::Nil);
    let h = sim.history();
    let opts = CheckOptions::default();
    let (fast, r) = time(3, || {
        labrys_invariant::check("set-full", &h, &opts).unwrap()
    });
    let (slow, (stable, lost, never, _)) = time(1, || reference_set_full(&h));
    assert_eq!(r.stats["stable_count"], stable);
    assert_eq!(r.stats["lost_count"], lost);
    assert_eq!(r.stats["never_read_count"], never);
    println!(
        "set-full, {} ops, {} elements: labrys {:.1} ms, reference reads x elements {:.1} ms: {:.1}x",
        h.ops.len(),
        r.stats["attempt_count"],
        fast.as_secs_f64() * 1e3,
        slow.as_secs_f64() * 1e3,
        slow.as_secs_f64() / fast.as_secs_f64()
    );

    // One read spanning the whole test: every element's question about earlier reads must
    // still be answered without walking back over all of them.
    let mut ops = h.ops.clone();
    let slow = 1_000_000;
    ops.insert(0, Op::new(0, OpType::Invoke, slow, "read", Value::Nil));
    ops.push(Op::new(0, OpType::Ok, slow, "read", list([])));
    for (i, op) in ops.iter_mut().enumerate() {
        op.index = i as u64;
    }
    let spanning = rebuild(ops);
    let (t, r2) = time(3, || {
        labrys_invariant::check("set-full", &spanning, &opts).unwrap()
    });
    let (slow_ref, (stable2, ..)) = time(1, || reference_set_full(&spanning));
    assert_eq!(r2.stats["stable_count"], stable2);
    println!(
        "set-full with one read spanning the test: labrys {:.1} ms, reference {:.1} ms: {:.1}x",
        t.as_secs_f64() * 1e3,
        slow_ref.as_secs_f64() * 1e3,
        slow_ref.as_secs_f64() / t.as_secs_f64()
    );

    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/elle-cli/jepsen");
    if !data.exists() {
        eprintln!("SKIPPED: ../shared/data not found; no corpus throughput figures");
        return;
    }
    for (file, workload) in [
        ("bank-tidb.edn", "bank"),
        ("bank.edn", "bank"),
        ("counter.edn", "counter"),
        ("set_full.edn", "set-full"),
    ] {
        let h = read_file(&data.join(file), Format::Auto).unwrap();
        let (t, _) = time(5, || labrys_invariant::check(workload, &h, &opts).unwrap());
        println!(
            "{file} ({workload}, {} ops): {:.3} ms, {:.1} M ops/s",
            h.ops.len(),
            t.as_secs_f64() * 1e3,
            h.ops.len() as f64 / t.as_secs_f64() / 1e6
        );
    }
}
