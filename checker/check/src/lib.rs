//! One entry point from a history and a workload name to a verdict.
//!
//! This is the registry of checkers: it knows every workload name `labrys check` accepts, which
//! crate decides it, and what every result carries whatever the checker (per-`f` stats, lint
//! warnings). The binary and the harness both call [`check_history`], so a stored run and a
//! file on disk get the same verdict.
//!
//! Two rules hold here for every workload alike, before any checker runs:
//! - nothing to check: a history without a single client operation (empty, or only nemesis
//!   records) is valid, vacuously, with the lint warning `no-client-ops` saying so — the
//!   answer Jepsen's checkers give an empty history, and the one labrys already gave for a
//!   bank or counter history that never read. `--lint` turns that warning into exit 1;
//! - wrong shape: an operation that is not one of the workload's ([`shape`]) is an error at
//!   its record (exit 3), never `unknown` or `valid` on a history checked as the wrong thing.

pub mod render;
pub mod shape;

use labrys_history::{lint, CheckOptions, CheckResult, Error as HistoryError, History, OpType};
pub use shape::check_shape;
use std::collections::BTreeMap;
use std::time::Duration;

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

/// Time per op reserved, before the deadline, for the work after a checker returns.
const AFTER_CHECK_NS_PER_OP: u64 = 1_500;

/// Checks a paired history as `workload`, then adds per-`f` stats and lint warnings.
pub fn check_history(
    history: &History,
    workload: &str,
    opts: &CheckOptions,
) -> Result<CheckResult, CheckError> {
    if !WORKLOADS.contains(&workload) {
        return Err(CheckError::UnknownWorkload(workload.to_string()));
    }
    let mut result = check_around(history, workload, opts, |opts| {
        dispatch(history, workload, opts)
    })?;
    result.warnings.extend(lint::lint(history, workload));
    Ok(result)
}

/// [`check_history`] for a `list-append` or `rw-register` history read in the compact form
/// ([`labrys_txn::compact`]: its transactions' values are in `reader`, not in the ops): the
/// same rules, checker, stats and lint, hence the same answer, errors included.
pub fn check_history_compact(
    history: &History,
    reader: labrys_txn::compact::Reader,
    workload: &str,
    opts: &CheckOptions,
) -> Result<CheckResult, CheckError> {
    if !matches!(workload, "list-append" | "rw-register") {
        return Err(CheckError::History(HistoryError::malformed(
            &history.source,
            0,
            format!("the compact reading is for list-append and rw-register, not {workload:?}"),
        )));
    }
    let mut duplicate_writes = None;
    // Stripped values are empty lists, which fit every transactional shape (they were
    // stripped only when they had it); values left in their ops are checked as ever.
    let mut result = check_around(history, workload, opts, |opts| {
        Ok(labrys_txn::check_with(workload, history, opts, |_| {
            let t = reader.into_txns(history)?;
            duplicate_writes = t.compact.as_ref().and_then(|c| c.duplicate_writes());
            Ok(t)
        })?)
    })?;
    result
        .warnings
        .extend(lint::lint_but_duplicate_writes(history, workload));
    result.warnings.extend(duplicate_writes);
    Ok(result)
}

/// What every check of a paired history does around its checker `check`: a deadline that
/// leaves room for what follows, nothing to check without client ops, the shape check,
/// columns for a checker's line numbers, and the per-`f` stats (lint is the caller's).
fn check_around(
    history: &History,
    workload: &str,
    opts: &CheckOptions,
    check: impl FnOnce(&CheckOptions) -> Result<CheckResult, CheckError>,
) -> Result<CheckResult, CheckError> {
    // The checker stops early enough for what follows its deadline to fit before it: the
    // stats and lint, printing, and freeing the history (about a microsecond per op
    // together; a 400k-op history takes half a second).
    let opts = &CheckOptions {
        deadline: opts.deadline.earlier_by(Duration::from_nanos(
            AFTER_CHECK_NS_PER_OP * history.ops.len() as u64,
        )),
        ..opts.clone()
    };
    let mut result = if history.pairs.is_empty() {
        // Nothing to check (see the module doc); lint adds the `no-client-ops` warning.
        CheckResult::valid()
    } else {
        check_shape(history, workload)?;
        check(opts).map_err(|e| match e {
            // A checker's message names a line; give it the column of the record there.
            CheckError::History(e) => CheckError::History(e.with_col(|line| col_of(history, line))),
            other => other,
        })?
    };
    let counts = op_stats(history);
    result.stats.entry("ops").or_insert(counts);
    Ok(result)
}

/// The column of the record that starts at `line` (records are in file order).
fn col_of(h: &History, line: u32) -> Option<u32> {
    let i = h.ops.partition_point(|o| o.line < line);
    h.ops.get(i).filter(|o| o.line == line).map(|o| o.col)
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
    // A history has a handful of `f`s: a short list looked up from the last one used beats
    // a map on every call.
    let mut seen: Vec<(&str, [u64; 3])> = Vec::new();
    let mut totals = [0u64; 3];
    let mut last = 0;
    for call in h.calls() {
        let i = match call.outcome() {
            OpType::Ok => 0,
            OpType::Fail => 1,
            _ => 2,
        };
        let f = call.f();
        if seen.get(last).is_none_or(|(g, _)| *g != f) {
            last = match seen.iter().position(|(g, _)| *g == f) {
                Some(k) => k,
                None => {
                    seen.push((f, [0; 3]));
                    seen.len() - 1
                }
            };
        }
        seen[last].1[i] += 1;
        totals[i] += 1;
    }
    let by_f: BTreeMap<&str, [u64; 3]> = seen.into_iter().collect();
    let row = |c: [u64; 3]| serde_json::json!({"ok": c[0], "fail": c[1], "info": c[2]});
    let mut m = serde_json::Map::new();
    m.insert("total".into(), row(totals));
    for (f, c) in by_f {
        m.insert(f.to_string(), row(c));
    }
    m.insert("records".into(), (h.ops.len() as u64).into());
    m.insert(
        "non_client_records".into(),
        (h.non_client_ops().count() as u64).into(),
    );
    serde_json::Value::Object(m)
}
