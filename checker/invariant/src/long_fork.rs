//! The long-fork checker: reads of a key group must agree on the order of inserts.
//!
//! The long-fork workload writes each key once (`[[:w k v]]`) and reads whole groups of keys
//! (`[[:r k1 v1] [:r k2 v2] ...]`). Under snapshot isolation the reads of one group form a
//! chain: each read's set of inserted (non-nil) keys contains the previous one's. Two reads
//! where each saw an insert the other did not observed the inserts in incompatible orders: a
//! long fork, allowed by parallel snapshot isolation but not by snapshot isolation.
//!
//! Jepsen's semantics: reads are `ok` ops whose value is a pure read transaction; reads are
//! grouped by the set of keys they read, and with `--group-size N` every group must have N keys
//! (otherwise the history does not fit the checker: a malformed-history error). Two writes of one
//! key, or two reads seeing different values of one key, make the checker's assumption false:
//! the verdict is unknown. With no read the history is valid (as in Jepsen), with a warning.
//!
//! Instead of comparing every pair of reads, reads of a group are sorted by how many inserts
//! they saw and each is compared with the next: the reads form a chain exactly when every
//! adjacent pair does, so a fork exists exactly when an adjacent pair is incomparable.

use crate::report::{self, detail, op_json, op_ref};
use labrys_history::{Anomaly, CheckOptions, CheckResult, Error, History, Op, OpType, Value};
use serde_json::{json, Value as J};
use std::collections::HashMap;

/// How many forks are listed as anomalies; the rest are only counted.
pub const MAX_LISTED: usize = 1000;

/// One read transaction: its op and the value it saw per key, keys sorted.
struct Read<'a> {
    op: &'a Op,
    seen: Vec<(&'a Value, &'a Value)>,
}

/// A micro-op `[f k v]` with `f` named `name`, as (k, v).
fn mop<'a>(m: &'a Value, name: &str) -> Option<(&'a Value, &'a Value)> {
    match m.as_seq()? {
        [f, k, v] if f.as_name() == Some(name) => Some((k, v)),
        _ => None,
    }
}

/// The (key, value) pairs of a pure read transaction, or None when the value is not one.
fn read_txn(v: &Value) -> Option<Vec<(&Value, &Value)>> {
    let mops = v.as_seq()?;
    if mops.is_empty() {
        return None;
    }
    mops.iter().map(|m| mop(m, "r")).collect()
}

/// The key of a single-write transaction `[[:w k v]]`.
fn write_key(v: &Value) -> Option<&Value> {
    match v.as_seq()? {
        [m] => mop(m, "w").map(|(k, _)| k),
        _ => None,
    }
}

/// Checks a long-fork history. Reads `opts.group_size` (`None` or 0: any group size).
pub fn check(h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    let group_size = opts.group_size.filter(|n| *n > 0);

    // One write per key, or the checker's reasoning does not apply.
    let mut written: HashMap<&Value, &Op> = HashMap::new();
    for call in h.calls() {
        if let Some(k) = write_key(&call.invoke.value) {
            if let Some(prev) = written.insert(k, call.invoke) {
                return Ok(CheckResult::unknown(format!(
                    "key {k} is written twice ({} and {}); the long-fork checker assumes each key \
                     is written once",
                    op_ref(prev),
                    op_ref(call.invoke)
                )));
            }
        }
    }

    let mut groups: HashMap<Vec<&Value>, Vec<Read<'_>>> = HashMap::new();
    let mut read_count = 0usize;
    let (mut early, mut late) = (0usize, 0usize);
    for call in h.calls() {
        if call.outcome() != OpType::Ok {
            continue;
        }
        let op = call.completion.expect("ok calls have a completion");
        let Some(mut seen) = read_txn(&op.value) else {
            if call.f() == "read" {
                return Err(report::malformed(
                    h,
                    op,
                    format!(
                        "a long-fork read must be a list of [:r key value] micro-ops; found {}",
                        op.value
                    ),
                ));
            }
            continue;
        };
        seen.sort_by(|a, b| report::cmp_values(a.0, b.0));
        seen.dedup_by(|a, b| a.0 == b.0);
        if let Some(n) = group_size {
            if seen.len() != n {
                return Err(report::malformed(
                    h,
                    op,
                    format!(
                        "every read should observe exactly {n} keys (--group-size {n}), but this \
                         one observed {}: {}",
                        seen.len(),
                        seen.iter()
                            .map(|(k, _)| k.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
        }
        read_count += 1;
        let inserted = seen.iter().filter(|(_, v)| !v.is_nil()).count();
        early += usize::from(inserted == 0);
        late += usize::from(inserted == seen.len());
        let keys: Vec<&Value> = seen.iter().map(|(k, _)| *k).collect();
        groups.entry(keys).or_default().push(Read { op, seen });
    }

    let mut groups: Vec<(Vec<&Value>, Vec<Read<'_>>)> = groups.into_iter().collect();
    groups.sort_by_key(|(_, reads)| reads[0].op.index);

    let mut result = CheckResult::valid();
    let mut forks = 0usize;
    for (n, (keys, reads)) in groups.iter_mut().enumerate() {
        if n % 64 == 0 && opts.deadline.expired() {
            return Ok(CheckResult::unknown(
                "deadline reached while comparing reads",
            ));
        }
        reads.sort_by_key(|r| r.seen.iter().filter(|(_, v)| !v.is_nil()).count());
        for pair in reads.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let mut only_a = Vec::new();
            let mut only_b = Vec::new();
            for ((k, va), (_, vb)) in a.seen.iter().zip(&b.seen) {
                match (va.is_nil(), vb.is_nil()) {
                    (false, true) => only_a.push(*k),
                    (true, false) => only_b.push(*k),
                    (false, false) if va != vb => {
                        return Ok(CheckResult::unknown(format!(
                            "{} read {va} for key {k} but {} read {vb}; the long-fork checker \
                             assumes one write per key",
                            op_ref(a.op),
                            op_ref(b.op)
                        )));
                    }
                    _ => {}
                }
            }
            if only_a.is_empty() {
                continue;
            }
            forks += 1;
            if forks > MAX_LISTED {
                continue;
            }
            let names = |v: &[&Value]| {
                v.iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            result.add_anomaly(
                "long-fork",
                Anomaly {
                    explanation: format!(
                        "reads of keys [{}] saw inserts in incompatible orders: {} saw key(s) {} \
                         but not {}, while {} saw {} but not {}; no single order of the inserts \
                         explains both",
                        names(keys),
                        op_ref(a.op),
                        names(&only_a),
                        names(&only_b),
                        op_ref(b.op),
                        names(&only_b),
                        names(&only_a),
                    ),
                    detail: detail([
                        ("keys", J::Array(keys.iter().map(|k| k.to_json()).collect())),
                        ("ops", json!([op_json(a.op), op_json(b.op)])),
                        (
                            "only_first",
                            J::Array(only_a.iter().map(|k| k.to_json()).collect()),
                        ),
                        (
                            "only_second",
                            J::Array(only_b.iter().map(|k| k.to_json()).collect()),
                        ),
                    ]),
                },
            );
        }
    }
    result.stat("reads_count", read_count);
    result.stat("early_read_count", early);
    result.stat("late_read_count", late);
    result.stat("group_count", groups.len());
    result.stat("fork_count", forks);
    if read_count == 0 {
        result.warnings.push(labrys_history::Warning {
            kind: "no-reads".into(),
            line: 0,
            message:
                "no read transaction completed ok, so nothing could fork: valid only vacuously"
                    .into(),
        });
    }
    Ok(result)
}
