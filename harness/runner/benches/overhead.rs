//! The harness's own cost per op: a whole `run_test` (generator, runtime, recorder, progress,
//! final reads, check) against the in-process fake database, whose ops take no time, with 10
//! workers and no rate limit. Whatever time an op takes here is the harness's; a real database
//! takes hundreds of microseconds to milliseconds per op, so the target is < 50 µs per op.
//!
//! Prints, per workload: ops recorded in the main phase, the main phase's length, µs per op
//! (wall time / ops, with all 10 workers busy), and ops/s. Bounded: 5 s of load per workload.
//! Run: `cargo bench -p labrys-harness --bench overhead`.

use labrys_db::fake::FakeKind;
use labrys_db::DbKind;
use labrys_harness::{run_test, NodeSpec, TestOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let secs = 5.0;
    println!(
        "| workload | ops (main phase) | seconds | µs per op | ops/s | whole run incl. check (s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for workload in ["register", "list-append", "bank", "set"] {
        let store = tempfile::tempdir().unwrap();
        let dbs: Vec<Arc<dyn DbKind>> = vec![Arc::new(FakeKind::default())];
        let t = Instant::now();
        let o = run_test(
            &TestOptions {
                db: "fake".into(),
                workload: workload.into(),
                nodes: NodeSpec::ThisMachine,
                time_limit: Duration::from_secs_f64(secs),
                concurrency: Some(10),
                rate: 1e9,
                ops_per_key: 1000,
                seed: 1,
                store_root: store.path().to_path_buf(),
                ..TestOptions::default()
            },
            &dbs,
        );
        let whole = t.elapsed().as_secs_f64();
        assert_eq!(o.exit_code, 0, "{o:?}");
        let dir = o.run_dir.unwrap();
        let log = std::fs::read_to_string(dir.join("labrys.log")).unwrap();
        // "main phase done: N ok, N fail, N info, ..."
        let line = log
            .lines()
            .find(|l| l.contains("main phase done:"))
            .expect("a main phase line");
        let n: u64 = line
            .split("done: ")
            .nth(1)
            .unwrap()
            .split(", ")
            .take(3)
            .map(|p| p.split(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        println!(
            "| {workload} | {n} | {secs:.1} | {:.1} | {:.0} | {whole:.1} |",
            secs * 1e6 / n as f64,
            n as f64 / secs
        );
    }
}
