//! Checking a recorded run: history in, `results.json` and an exit code out.
//!
//! Used at the end of `labrys test` and by `labrys analyze`, so a live run and a re-check give
//! the same verdict. A history the checker cannot decide for lack of a checker, or cannot read,
//! is an error (exit 3) recorded in `results.json` as `{"valid": "unknown", "error": ...}` —
//! never a verdict.
//!
//! A verdict also says how much the test exercised: `stats.longest_without_ok` is the longest
//! stretch of the main phase in which no client op succeeded, and when that is more than half
//! of the main phase a `no-progress` warning says so (a valid verdict on a test whose cluster
//! was down most of the time proves little). When no op at all succeeded in the main phase,
//! the verdict is `unknown`, not valid: nothing was tested (clients that could never talk to
//! the database, say).

use labrys_history::{CheckOptions, Deadline, History, OpType, Validity, Warning};
use labrys_store::run_dir::{CLIENTS_LOG, RESULTS, TEST};
use labrys_store::{read_history, RunDir, RunLog};
use std::path::PathBuf;
use std::time::Duration;

/// What a command ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// 0 valid, 1 invalid, 2 unknown, 3 error.
    pub exit_code: u8,
    pub run_dir: Option<PathBuf>,
    /// One line: the verdict, or what went wrong.
    pub summary: String,
}

impl Outcome {
    pub fn error(summary: impl Into<String>, run_dir: Option<PathBuf>) -> Outcome {
        Outcome {
            exit_code: 3,
            run_dir,
            summary: summary.into(),
        }
    }
}

/// Why a stored run did not finish, if it did not: the reason its test recorded, or, when its
/// `test.json` has no end (the harness was killed), that.
pub fn incomplete_reason(
    test: Option<&serde_json::Value>,
    results: Option<&serde_json::Value>,
) -> Option<String> {
    if let Some(why) = results
        .and_then(|r| r.get("incomplete"))
        .and_then(|v| v.as_str())
    {
        return Some(why.to_string());
    }
    match test {
        Some(t) if t.get("end").is_none() => Some(
            "the run never finished (its harness was killed or lost its machine): no heal, no \
             final reads"
                .into(),
        ),
        _ => None,
    }
}

/// The workload name the checker registry knows a `labrys test` workload's history by: the
/// register workload records Jepsen's independent `[key value]` tuples, checked as `kv`;
/// list-append transactions are checked Elle-style (strict serializability by default).
pub fn checker_workload(workload: &str) -> Option<&'static str> {
    crate::workload::workload(workload).map(|w| w.checker)
}

/// The longest stretch of a test's main phase in which no client op completed `ok`. Times are
/// nanoseconds on the history's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoOkStretch {
    pub from: i64,
    pub to: i64,
    /// The main phase the stretch lies in.
    pub main_from: i64,
    pub main_to: i64,
    /// Line of the first record after the stretch began (0 when none).
    pub line: u32,
}

fn secs(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

impl NoOkStretch {
    pub fn nanos(&self) -> i64 {
        self.to - self.from
    }

    pub fn main_nanos(&self) -> i64 {
        self.main_to - self.main_from
    }

    /// Not one client op succeeded in the whole main phase.
    pub fn whole_main(&self) -> bool {
        self.main_nanos() > 0 && self.from == self.main_from && self.to == self.main_to
    }

    /// More than half of the main phase went without a single successful op.
    pub fn most_of_main(&self) -> bool {
        self.main_nanos() > 0 && 2 * self.nanos() > self.main_nanos()
    }

    /// The `stats.longest_without_ok` entry of `results.json` (seconds).
    pub fn to_json(&self) -> serde_json::Value {
        let r = |n: i64| (secs(n) * 1000.0).round() / 1000.0;
        serde_json::json!({
            "seconds": r(self.nanos()),
            "from_s": r(self.from),
            "to_s": r(self.to),
            "main_phase_s": r(self.main_nanos()),
        })
    }

    /// The `no-progress` warning, when most of the main phase had no successful op.
    pub fn warning(&self) -> Option<Warning> {
        self.most_of_main().then(|| Warning {
            kind: "no-progress".into(),
            line: self.line,
            message: format!(
                "no client operation succeeded for {:.1} s of the {:.1} s main phase \
                 (from {:.1} s to {:.1} s): most of this test exercised nothing, so its \
                 verdict says little (were most nodes down or cut off, or the clients \
                 failing?)",
                secs(self.nanos()),
                secs(self.main_nanos()),
                secs(self.from),
                secs(self.to)
            ),
        })
    }
}

/// The longest stretch without an `ok` client completion in the main phase, which runs from
/// the first client invoke to the invoke of the first `heal` (the end-of-test heal, also
/// recorded after Ctrl-C); a history without one ends its main phase at `time_limit`, or at
/// its last client record if that comes first. `None` for a history without times or an
/// empty main phase.
pub fn longest_without_ok(h: &History, time_limit: Option<Duration>) -> Option<NoOkStretch> {
    let client_times = || {
        h.ops
            .iter()
            .filter(|o| o.is_client())
            .filter_map(|o| o.time)
    };
    let main_from = client_times().next()?;
    let last_client = client_times().max()?;
    let heal = h
        .non_client_ops()
        .find(|o| &*o.f == "heal" && o.kind == OpType::Invoke)
        .and_then(|o| o.time);
    let main_to = match (heal, time_limit) {
        (Some(t), _) => t,
        (None, Some(l)) => last_client.min(l.as_nanos().min(i64::MAX as u128) as i64),
        (None, None) => last_client,
    };
    if main_to <= main_from {
        return None;
    }
    let mut oks: Vec<i64> = h
        .calls()
        .filter_map(|c| c.completion)
        .filter(|c| c.kind == OpType::Ok)
        .filter_map(|c| c.time)
        .filter(|t| (main_from..=main_to).contains(t))
        .collect();
    oks.sort_unstable();
    let mut best = (main_from, main_from);
    let mut prev = main_from;
    for t in oks.into_iter().chain([main_to]) {
        if t - prev > best.1 - best.0 {
            best = (prev, t);
        }
        prev = t;
    }
    let line = h
        .ops
        .iter()
        .find(|o| o.time.is_some_and(|t| t > best.0))
        .map_or(0, |o| o.line);
    Some(NoOkStretch {
        from: best.0,
        to: best.1,
        main_from,
        main_to,
        line,
    })
}

/// Checks the run's `history.jsonl` as `workload`, writes `results.json`, and returns the exit
/// code and a one-line summary.
/// The checker's options a run's `test.json` implies: the consistency models its isolation
/// level promises (transactional checkers only; without a level, the checker's default,
/// strict serializability) and the bank's total.
pub fn check_options(checker: &str, test: Option<&serde_json::Value>) -> CheckOptions {
    let mut o = CheckOptions::default();
    let Some(test) = test else { return o };
    if matches!(checker, "list-append" | "rw-register") {
        if let Some(models) = test
            .get("consistency-models")
            .and_then(serde_json::Value::as_array)
        {
            o.consistency_models = models
                .iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect();
        }
    }
    if checker == "bank" {
        o.total_amount = test.get("total-amount").and_then(serde_json::Value::as_i64);
    }
    o
}

pub fn check_run(
    run: &RunDir,
    workload: &str,
    timeout: Option<Duration>,
    incomplete: Option<&str>,
    log: &RunLog,
) -> (u8, String) {
    let write = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(why) = incomplete {
            v["incomplete"] = why.into();
        }
        if let Err(e) = run.write_json(RESULTS, &v) {
            log.line(&format!("cannot write results: {e}"));
        }
    };
    let fail = |msg: String| {
        write(&serde_json::json!({"valid": "unknown", "error": msg}));
        (3, format!("error: {msg}"))
    };
    let (history, dropped) = match read_history(&run.history_path()) {
        Ok(h) => h,
        Err(e) => return fail(e.to_string()),
    };
    if dropped {
        log.line(
            "history.jsonl ended in a partial line (the harness died while writing it); ignored it",
        );
    }
    let Some(name) = checker_workload(workload) else {
        return fail(format!(
            "no checker is known for the test workload {workload:?}"
        ));
    };
    let test = run.read_json(TEST).ok();
    let opts = CheckOptions {
        deadline: timeout.map(Deadline::after).unwrap_or_else(Deadline::none),
        ..check_options(name, test.as_ref())
    };
    let as_what = if name == workload {
        name.to_string()
    } else {
        format!("{name} (the {workload} workload's checker)")
    };
    log.line(&format!(
        "checking {} ops ({} client operations) as {as_what}",
        history.ops.len(),
        history.pairs.len()
    ));
    let time_limit = test
        .as_ref()
        .and_then(|t| t.get("time-limit-s").and_then(serde_json::Value::as_f64))
        .and_then(|s| Duration::try_from_secs_f64(s).ok());
    let stretch = longest_without_ok(&history, time_limit);
    match labrys_check::check_history(&history, name, &opts) {
        Ok(mut result) => {
            let mut warned = None;
            if let Some(s) = &stretch {
                result.stat("longest_without_ok", s.to_json());
                // A test in which nothing succeeded tested nothing: not a valid verdict.
                let nothing_tested = s.whole_main() && result.valid == Validity::Valid;
                if nothing_tested {
                    let clients = run.path().join(CLIENTS_LOG);
                    let hint = if clients.is_file() {
                        format!(
                            "; {} says what the clients wrote and why labrys replaced them",
                            clients.display()
                        )
                    } else {
                        "; labrys.log and the node logs may say why".to_string()
                    };
                    result.valid = Validity::Unknown;
                    result.unknown_reason = Some(format!(
                        "no client operation succeeded in the {:.1} s main phase, so nothing \
                         was tested{hint}",
                        secs(s.main_nanos())
                    ));
                }
                // (Nothing tested says it all; the warning would repeat it.)
                if let Some(w) = s.warning().filter(|_| !nothing_tested) {
                    log.line(&format!("warning: {}", w.message));
                    warned = Some(w.message.clone());
                    result.warnings.push(w);
                }
            }
            let mut json = serde_json::to_value(&result).unwrap_or_else(|e| {
                serde_json::json!({"valid": "unknown", "error": format!("cannot serialise result: {e}")})
            });
            if let Some(obj) = json.as_object_mut() {
                obj.insert("workload".into(), name.into());
            }
            write(&json);
            if let Some(why) = incomplete {
                json["incomplete"] = why.into();
            }
            match crate::report::write(run, &history, &json, test.as_ref()) {
                Ok(p) => log.line(&format!("report: {}", p.display())),
                Err(e) => log.line(&format!("cannot draw the report: {e}")),
            }
            let code = result.valid.exit_code() as u8;
            let word = match result.valid {
                Validity::Valid => "valid".to_string(),
                Validity::Invalid => format!("INVALID ({})", result.anomaly_types.join(", ")),
                Validity::Unknown => format!(
                    "unknown ({})",
                    result
                        .unknown_reason
                        .clone()
                        .unwrap_or_else(|| "no reason given".into())
                ),
            };
            match warned {
                Some(w) => (code, format!("{word}; warning: {w}")),
                None => (code, word),
            }
        }
        Err(e) => fail(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrys_history::{Op, Process, Value};
    use labrys_store::Recorder;

    const S: i64 = 1_000_000_000;

    fn kv(k: i64, v: Option<i64>) -> Value {
        Value::List(vec![Value::Int(k), v.map_or(Value::Nil, Value::Int)])
    }

    fn client(r: &Recorder, kind: OpType, p: i64, f: &str, value: Value, t: i64) {
        let mut op = Op::new(0, kind, p, f, value);
        op.time = Some(t);
        r.append(op).unwrap();
    }

    fn nemesis(r: &Recorder, kind: OpType, f: &str, value: Value, t: i64) {
        let mut op = Op::new(0, kind, 0, f, value);
        op.process = Process::Named("nemesis".into());
        op.time = Some(t);
        r.append(op).unwrap();
    }

    /// A register run like the one of the issue: writes succeed every 100 ms until a majority
    /// is killed at `quiet_from`; from then on every read fails, until the heal at 63 s; the
    /// final read succeeds.
    fn record(store: &std::path::Path, quiet_from: i64) -> RunDir {
        let run = RunDir::create(store, "etcd-register").unwrap();
        run.write_json(
            TEST,
            &serde_json::json!({"workload": "register", "time-limit-s": 60.0}),
        )
        .unwrap();
        let r = run.recorder().unwrap();
        let mut last = None;
        let mut t = S / 10;
        while t < 60 * S {
            if t == quiet_from {
                nemesis(&r, OpType::Invoke, "start-kill", Value::Nil, t);
                let killed = Value::List(vec![Value::str("n2"), Value::str("n3")]);
                nemesis(&r, OpType::Info, "start-kill", killed, t + S / 100);
            }
            if t < quiet_from {
                let v = t / (S / 10);
                client(&r, OpType::Invoke, 0, "write", kv(1, Some(v)), t);
                client(&r, OpType::Ok, 0, "write", kv(1, Some(v)), t + S / 20);
                last = Some(v);
            } else {
                client(&r, OpType::Invoke, 0, "read", kv(1, None), t);
                client(&r, OpType::Fail, 0, "read", kv(1, None), t + S / 2);
            }
            t += if t < quiet_from { S / 10 } else { S };
        }
        nemesis(&r, OpType::Invoke, "heal", Value::Nil, 63 * S);
        nemesis(&r, OpType::Info, "heal", Value::kw("healed"), 64 * S);
        client(&r, OpType::Invoke, 0, "read", kv(1, None), 70 * S);
        client(&r, OpType::Ok, 0, "read", kv(1, last), 70 * S + S / 10);
        run
    }

    fn check(run: &RunDir) -> (u8, String, serde_json::Value, String) {
        let log = RunLog::open(&run.file("labrys.log"), false);
        let (code, summary) = check_run(run, "register", None, None, &log);
        let results = run.read_json(RESULTS).unwrap();
        let text = labrys_check::render::text("history.jsonl", &results, false);
        (code, summary, results, text)
    }

    #[test]
    fn a_test_that_exercised_nothing_after_10_s_says_so() {
        let store = tempfile::tempdir().unwrap();
        let run = record(store.path(), 10 * S);
        let (code, summary, results, text) = check(&run);
        assert_eq!(code, 0, "{summary}");
        let stretch = &results["stats"]["longest_without_ok"];
        assert_eq!(stretch["from_s"], 9.95, "{results}");
        assert_eq!(stretch["to_s"], 63.0, "{results}");
        assert_eq!(stretch["seconds"], 53.05, "{results}");
        assert_eq!(stretch["main_phase_s"], 62.9, "{results}");
        let warnings = results["warnings"].as_array().unwrap();
        let w = warnings
            .iter()
            .find(|w| w["kind"] == "no-progress")
            .unwrap_or_else(|| panic!("no no-progress warning: {results}"));
        let msg = w["message"].as_str().unwrap();
        assert!(
            msg.contains("53.0 s of the 62.9 s main phase (from 9.9 s to 63.0 s)"),
            "{msg}"
        );
        assert!(summary.starts_with("valid; warning: no client operation succeeded"));
        // The printed summary: the stretch, then the warning.
        assert!(text.starts_with("history.jsonl: VALID"), "{text}");
        assert!(
            text.contains("longest stretch without an ok op: 53.0 s of the 62.9 s main phase"),
            "{text}"
        );
        assert!(text.contains("[no-progress] line "), "{text}");
        assert!(
            text.contains("most of this test exercised nothing"),
            "{text}"
        );
    }

    #[test]
    fn a_short_outage_is_reported_without_a_warning() {
        let store = tempfile::tempdir().unwrap();
        // Ok ops until 50 s: 13 s without one is less than half of the main phase.
        let run = record(store.path(), 50 * S);
        let (code, summary, results, text) = check(&run);
        assert_eq!((code, summary.as_str()), (0, "valid"));
        assert_eq!(results["stats"]["longest_without_ok"]["seconds"], 13.05);
        assert!(results.get("warnings").is_none(), "{results}");
        assert!(
            text.contains("longest stretch without an ok op: 13.1 s of the 62.9 s main phase"),
            "{text}"
        );
        assert!(!text.contains("no-progress"), "{text}");
    }

    #[test]
    fn the_main_phase_ends_at_the_heal_or_else_at_the_time_limit() {
        let op = |kind, f: &str, t: i64| {
            let mut o = Op::new(0, kind, 0, f, kv(1, Some(1)));
            o.time = Some(t);
            o
        };
        // Oks at 1 s and 2 s, then nothing until the final read at 100 s.
        let ops = vec![
            op(OpType::Invoke, "write", 0),
            op(OpType::Ok, "write", S),
            op(OpType::Invoke, "write", S + 1),
            op(OpType::Ok, "write", 2 * S),
            op(OpType::Invoke, "read", 100 * S),
            op(OpType::Ok, "read", 101 * S),
        ];
        let h = History::from_ops(ops.clone(), "t").unwrap();
        let s = longest_without_ok(&h, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(
            (s.from, s.to, s.main_from, s.main_to),
            (2 * S, 10 * S, 0, 10 * S)
        );
        assert!(s.most_of_main());
        // Without a limit, the final read is part of the main phase.
        let s = longest_without_ok(&h, None).unwrap();
        assert_eq!((s.from, s.to, s.main_to), (2 * S, 101 * S, 101 * S));
        // A recorded heal ends the main phase whatever the limit.
        let mut with_heal = ops;
        let mut heal = op(OpType::Invoke, "heal", 3 * S);
        heal.process = Process::Named("nemesis".into());
        with_heal.insert(4, heal);
        let h = History::from_ops(with_heal, "t").unwrap();
        let s = longest_without_ok(&h, Some(Duration::from_secs(10))).unwrap();
        assert_eq!((s.from, s.to, s.main_to), (0, S, 3 * S));
        assert!(!s.most_of_main());
        // No times, no stretch.
        let untimed = vec![Op::new(0, OpType::Invoke, 0, "read", kv(1, None))];
        assert_eq!(
            longest_without_ok(&History::from_ops(untimed, "t").unwrap(), None),
            None
        );
    }
}
