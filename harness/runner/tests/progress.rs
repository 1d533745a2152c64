//! The live progress of a main phase in plain mode (what stderr gets when it is not a
//! terminal), on tokio's paused clock: the generator runtime with a fake client and a fake
//! nemesis, the reporter reading its live counters, every line captured.

use labrys_gen::{
    from_fn, stagger, time_limit, Client, Completion, NemesisDriver, OpCtx, OpFuture, OpSpec,
    RunConfig, Runtime,
};
use labrys_harness::progress::{Progress, Reporting};
use labrys_history::Value;
use labrys_store::Recorder;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers after 10 ms: every 10th op fails, every 25th is unknown, the rest succeed.
struct Fake {
    n: AtomicU64,
}

impl Client for Fake {
    fn invoke<'a>(&'a self, _ctx: OpCtx, _op: &'a OpSpec) -> OpFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
            if n.is_multiple_of(25) {
                Completion::info("timeout")
            } else if n.is_multiple_of(10) {
                Completion::fail("no")
            } else {
                Completion::ok(Value::Nil)
            }
        })
    }
}

/// Kills n2 and n3, then restarts them; the second restart fails.
struct FakeNemesis {
    ops: usize,
}

impl NemesisDriver for FakeNemesis {
    fn next_op(&mut self) -> (String, Value) {
        self.ops += 1;
        if self.ops % 2 == 1 {
            let nodes = Value::List(vec![Value::str("n2"), Value::str("n3")]);
            ("start-kill".into(), nodes)
        } else {
            ("stop-kill".into(), Value::Nil)
        }
    }
    fn invoke(&mut self, f: &str, value: &Value) -> Result<Value, String> {
        match (f, self.ops) {
            ("stop-kill", 4) => Err("ssh: connection lost".into()),
            _ => Ok(value.clone()),
        }
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn plain_progress_prints_a_status_every_interval_and_each_fault() {
    let out = Captured::default();
    let limit = Duration::from_secs(18);
    let progress = Progress::plain(Box::new(out.clone()), limit, Duration::from_secs(5));
    let cfg = RunConfig {
        concurrency: 4,
        nodes: 5,
        op_timeout: Duration::from_secs(1),
        seed: 3,
        nemesis_interval: Duration::from_secs(4),
    };
    let client = Arc::new(Fake {
        n: AtomicU64::new(0),
    });
    let rt = Runtime::new(cfg, client, Arc::new(Recorder::in_memory()));
    let ops = from_fn(|_| Some(OpSpec::new("read", Value::Nil)));
    let gen = time_limit(limit, stagger(Duration::from_millis(50), ops));
    let nemesis = Arc::new(Mutex::new(Reporting::new(
        FakeNemesis { ops: 0 },
        progress.clone(),
    )));
    let showing = progress.spawn_show(rt.counters());
    let stats = rt.run(gen, Some(nemesis)).await.unwrap();
    drop(showing);
    // Nothing more is printed once the main phase is over.
    tokio::time::sleep(Duration::from_secs(30)).await;

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        !text.contains('\x1b'),
        "escape codes in plain output:\n{text}"
    );
    assert!(
        !text.contains('\r'),
        "carriage returns in plain output:\n{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| l.starts_with("[labrys ")), "{text}");
    let body: Vec<&str> = lines.iter().map(|l| &l[18..]).collect();
    // Faults at 4, 8, 12 and 16 s; status lines at 5, 10 and 15 s.
    let expected_order = [
        "fault started: kill n2 n3",
        "5/18 s ",
        "fault healed: kill n2 n3",
        "10/18 s ",
        "fault started: kill n2 n3",
        "15/18 s ",
        "could not heal kill n2 n3: ssh: connection lost",
    ];
    assert_eq!(body.len(), expected_order.len(), "{text}");
    for (line, want) in body.iter().zip(expected_order) {
        assert!(
            line.starts_with(want),
            "{line:?} should start with {want:?}\n{text}"
        );
    }
    assert!(body[1].ends_with("faults: kill n2 n3"), "{text}");
    assert!(body[3].ends_with("faults: none"), "{text}");
    assert!(body[5].ends_with("faults: kill n2 n3"), "{text}");

    // The counts only grow, stay within the run's totals, and the rate is about the
    // staggered 20 ops/s.
    let field = |line: &str, name: &str| -> f64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == name).unwrap();
        words[at + 1].parse().unwrap()
    };
    let mut last = (0.0, 0.0, 0.0);
    for line in [body[1], body[3], body[5]] {
        let now = (field(line, "ok"), field(line, "fail"), field(line, "info"));
        assert!(
            now.0 > last.0 && now.1 >= last.1 && now.2 >= last.2,
            "{text}"
        );
        last = now;
        let rate: f64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!((12.0..=28.0).contains(&rate), "{line}");
    }
    assert!(last.1 > 0.0 && last.2 > 0.0, "{text}");
    assert!(
        last.0 <= stats.ok as f64 && last.1 <= stats.fail as f64,
        "{text}"
    );
}
