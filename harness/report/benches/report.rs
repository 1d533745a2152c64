//! How long a report takes to draw for a 100k-operation run (200k records), and how large it
//! is. Target: under 2 s and under 10 MB. Run: `cargo bench -p labrys-report`.

#[path = "../tests/common/sim.rs"]
mod sim;

use std::time::Instant;

fn main() {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let t = Instant::now();
    let h = sim::run(calls, 10, 42);
    let built = t.elapsed();
    let result = serde_json::json!({
        "valid": true, "workload": "register", "anomaly_types": [], "not": [], "anomalies": {},
        "stats": {"ops": {"total": {"ok": calls, "fail": 0, "info": 0}}}
    });
    let mut best = f64::INFINITY;
    let mut size = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let html = labrys_report::render(&labrys_report::ReportInput {
            title: "bench".into(),
            history: &h,
            result: &result,
            test: None,
            source: None,
            links: vec![],
        })
        .expect("report renders");
        best = best.min(t.elapsed().as_secs_f64());
        size = html.len();
    }
    println!(
        "report of {calls} calls ({} records): best of 3 {best:.3} s, {:.2} MB (history built in {:.2} s)",
        h.ops.len(),
        size as f64 / 1e6,
        built.as_secs_f64()
    );
}
