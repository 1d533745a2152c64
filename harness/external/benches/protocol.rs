//! How many ops a second the subprocess protocol carries: 10 workers, each with its own
//! trivial client (a Python echo: read a line, answer ok with the value), for 5 s. The
//! database costs nothing here, so this is the protocol's own ceiling (target ≥ 5,000 ops/s).
//! Run: `cargo bench -p labrys-external --bench protocol` (skipped without python3).

use labrys_external::{ClientCommand, NodeEnv, SubprocessClient};
use labrys_gen::{Client, OpCtx, OpSpec};
use labrys_history::{OpType, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ECHO: &str = r#"import sys, json
for line in sys.stdin:
    r = json.loads(line)
    sys.stdout.write(json.dumps({"id": r["id"], "type": "ok", "value": r["value"]}) + "\n")
    sys.stdout.flush()
"#;

fn main() {
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        println!("skipped: python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let echo = dir.path().join("echo.py");
    std::fs::write(&echo, ECHO).unwrap();
    let workers = 10;
    let secs = 5.0;
    let client = Arc::new(SubprocessClient::new(
        ClientCommand {
            command: format!("exec python3 {}", echo.display()),
            dir: None,
            env: vec![],
        },
        vec![NodeEnv {
            name: "n1".into(),
            host: "127.0.0.1".into(),
        }],
        Arc::new(|l: &str| eprintln!("{l}")),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let total: u64 = rt.block_on(async {
        // One op each first, so every interpreter has started before the clock runs.
        for w in 0..workers {
            let ctx = OpCtx {
                process: w as i64,
                worker: w,
                node: 0,
            };
            let d = client
                .invoke(ctx, &OpSpec::new("write", Value::Int(1)))
                .await;
            assert_eq!(d.kind, OpType::Ok);
        }
        let start = Instant::now();
        let tasks: Vec<_> = (0..workers)
            .map(|w| {
                let client = client.clone();
                tokio::spawn(async move {
                    let ctx = OpCtx {
                        process: w as i64,
                        worker: w,
                        node: 0,
                    };
                    let mut n = 0u64;
                    while start.elapsed() < Duration::from_secs_f64(secs) {
                        let op = OpSpec::new("write", Value::Int(n as i64));
                        let d = client.invoke(ctx, &op).await;
                        assert_eq!(d.kind, OpType::Ok, "{d:?}");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    println!(
        "{workers} workers, Python echo clients, {secs} s: {total} ops, {:.0} ops/s ({} subprocesses)",
        total as f64 / secs,
        client.spawned()
    );
}
