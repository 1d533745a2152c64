//! Checking a recorded run: history in, `results.json` and an exit code out.
//!
//! Used at the end of `labrys test` and by `labrys analyze`, so a live run and a re-check give
//! the same verdict. A history the checker cannot decide for lack of a checker, or cannot read,
//! is an error (exit 3) recorded in `results.json` as `{"valid": "unknown", "error": ...}` —
//! never a verdict.

use labrys_history::{CheckOptions, Deadline, Validity};
use labrys_store::run_dir::RESULTS;
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

/// The workload name the checker registry knows a `labrys test` workload's history by: the
/// register workload records Jepsen's independent `[key value]` tuples, checked as `kv`;
/// list-append transactions are checked Elle-style (strict serializability by default).
pub fn checker_workload(workload: &str) -> Option<&'static str> {
    match workload {
        "register" => Some("kv"),
        "list-append" => Some("list-append"),
        _ => None,
    }
}

/// Checks the run's `history.jsonl` as `workload`, writes `results.json`, and returns the exit
/// code and a one-line summary.
pub fn check_run(
    run: &RunDir,
    workload: &str,
    timeout: Option<Duration>,
    log: &RunLog,
) -> (u8, String) {
    let write = |v: &serde_json::Value| {
        if let Err(e) = run.write_json(RESULTS, v) {
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
    let opts = CheckOptions {
        deadline: timeout.map(Deadline::after).unwrap_or_else(Deadline::none),
        ..CheckOptions::default()
    };
    let Some(name) = checker_workload(workload) else {
        return fail(format!(
            "no checker is known for the test workload {workload:?}"
        ));
    };
    log.line(&format!(
        "checking {} ops ({} client operations) as {name}",
        history.ops.len(),
        history.pairs.len()
    ));
    match labrys_check::check_history(&history, name, &opts) {
        Ok(result) => {
            let mut json = serde_json::to_value(&result).unwrap_or_else(|e| {
                serde_json::json!({"valid": "unknown", "error": format!("cannot serialise result: {e}")})
            });
            if let Some(obj) = json.as_object_mut() {
                obj.insert("workload".into(), name.into());
            }
            write(&json);
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
            (code, word)
        }
        Err(e) => fail(e.to_string()),
    }
}
