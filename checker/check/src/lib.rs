//! One entry point from a history and a workload name to a verdict.
//!
//! This is the registry of checkers: it knows every workload name `labrys check` accepts, which
//! crate decides it, and what every result carries whatever the checker (per-`f` stats, lint
//! warnings). The binary and the harness both call [`check_history`], so a stored run and a
//! file on disk get the same verdict.

pub mod render;

use labrys_history::{lint, CheckOptions, CheckResult, Error as HistoryError, History, OpType};
use std::collections::BTreeMap;

/// Every workload name `labrys check --workload` accepts.
pub const WORKLOADS: &[&str] = &[
    "register",
    "cas-register",
    "kv",
    "multi-register",
    "mutex",
    "set",
    "fifo-queue",
    "unordered-queue",
    "list-append",
    "rw-register",
    "bank",
    "set-full",
    "counter",
    "long-fork",
    "unique-ids",
    "total-queue",
    "queue",
    "linearizable-set",
];

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("unknown workload {0:?}; expected one of: {list}", list = WORKLOADS.join(", "))]
    UnknownWorkload(String),
    #[error("workload {0:?} has no checker yet in this build of labrys; no verdict given")]
    NoChecker(String),
    #[error("--consistency-models: {0}")]
    UnknownModel(String),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Checks the options before any file is read: a misspelt consistency model is a usage error,
/// not a property of a history.
pub fn validate_options(workload: &str, opts: &CheckOptions) -> Result<(), CheckError> {
    if !WORKLOADS.contains(&workload) {
        return Err(CheckError::UnknownWorkload(workload.to_string()));
    }
    for m in &opts.consistency_models {
        labrys_txn::model::canonical(m).map_err(|e| CheckError::UnknownModel(e.to_string()))?;
    }
    Ok(())
}

/// Checks a paired history as `workload`, then adds per-`f` stats and lint warnings.
pub fn check_history(
    history: &History,
    workload: &str,
    opts: &CheckOptions,
) -> Result<CheckResult, CheckError> {
    if !WORKLOADS.contains(&workload) {
        return Err(CheckError::UnknownWorkload(workload.to_string()));
    }
    let mut result = dispatch(history, workload, opts)?;
    let counts = op_stats(history);
    result.stats.entry("ops").or_insert(counts);
    result.warnings.extend(lint::lint(history, workload));
    Ok(result)
}

fn dispatch(h: &History, workload: &str, opts: &CheckOptions) -> Result<CheckResult, CheckError> {
    match workload {
        // Linearizability (labrys-lin).
        "register" | "cas-register" | "kv" | "multi-register" | "mutex" | "fifo-queue"
        | "unordered-queue" => Ok(labrys_lin::check(workload, h, opts)?),
        // Jepsen's `set` checker lives with the invariants; the set as a linearizable object
        // (every read sees exactly the adds linearized before it) is a model like the others.
        "linearizable-set" => Ok(labrys_lin::check("set", h, opts)?),
        // Transactions, Elle-style (labrys-txn).
        "list-append" | "rw-register" => Ok(labrys_txn::check(workload, h, opts)?),
        // Invariant checkers (labrys-invariant).
        "bank" | "set" | "set-full" | "counter" | "long-fork" | "unique-ids" | "total-queue"
        | "queue" => Ok(labrys_invariant::check(workload, h, opts)?),
        _ => Err(CheckError::UnknownWorkload(workload.into())),
    }
}

/// `ok`/`fail`/`info` counts per `f` over client operations, plus totals.
pub fn op_stats(h: &History) -> serde_json::Value {
    let mut by_f: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut totals = [0u64; 3];
    for call in h.calls() {
        let i = match call.outcome() {
            OpType::Ok => 0,
            OpType::Fail => 1,
            _ => 2,
        };
        by_f.entry(call.f().to_string()).or_default()[i] += 1;
        totals[i] += 1;
    }
    let row = |c: [u64; 3]| serde_json::json!({"ok": c[0], "fail": c[1], "info": c[2]});
    let mut m = serde_json::Map::new();
    m.insert("total".into(), row(totals));
    for (f, c) in by_f {
        m.insert(f, row(c));
    }
    m.insert("records".into(), (h.ops.len() as u64).into());
    m.insert(
        "non_client_records".into(),
        (h.non_client_ops().count() as u64).into(),
    );
    serde_json::Value::Object(m)
}
