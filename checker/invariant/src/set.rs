//! The set checker: every acknowledged add shows up in the final read.
//!
//! The workload adds distinct elements, then reads the whole set once at the end. Jepsen's
//! semantics: the final read is the last `ok` read; an element is
//! - *lost* when its add was acknowledged (`ok`) but the final read lacks it;
//! - *unexpected* when the final read has it but no add of it was ever attempted;
//! - *recovered* when its add was indeterminate (`info`, or `fail`) and it is present anyway;
//! - *ok* when it was attempted and is present.
//!
//! The history is valid when nothing is lost or unexpected; with no `ok` read it is unknown.

use crate::report::{self, detail, element_set, op_json, op_ref, plural, sorted};
use labrys_history::{Anomaly, CheckOptions, CheckResult, Error, History, Op, OpType, Value};
use std::collections::HashSet;

/// The elements of a read's value (a list, vector or set; nil reads as empty, as in Clojure);
/// an error naming the op otherwise.
pub fn read_elements<'a>(h: &History, op: &'a Op) -> Result<&'a [Value], Error> {
    match &op.value {
        Value::List(v) | Value::Set(v) => Ok(v),
        Value::Nil => Ok(&[]),
        other => Err(report::malformed(
            h,
            op,
            format!(
                "a set read's value must be a collection of elements; found {} ({other})",
                other.kind()
            ),
        )),
    }
}

/// Checks a set history. Reads no options.
pub fn check(h: &History, _opts: &CheckOptions) -> Result<CheckResult, Error> {
    let mut attempts: HashSet<&Value> = HashSet::new();
    let mut acknowledged: HashSet<&Value> = HashSet::new();
    let mut final_read: Option<(usize, &Op)> = None;
    for call in h.calls() {
        match call.f() {
            "add" => {
                attempts.insert(&call.invoke.value);
                if call.outcome() == OpType::Ok {
                    acknowledged.insert(call.value());
                }
            }
            "read"
                if call.outcome() == OpType::Ok
                    && final_read.is_none_or(|(pos, _)| pos < call.complete_pos) =>
            {
                final_read = call.completion.map(|c| (call.complete_pos, c));
            }
            _ => {}
        }
    }
    let Some((_, read_op)) = final_read else {
        return Ok(CheckResult::unknown(
            "the set was never read (no read completed ok), so no add can be confirmed or lost",
        ));
    };
    if read_op.value.is_nil() {
        // Jepsen's verdict too: a nil final read is no read.
        return Ok(CheckResult::unknown(format!(
            "the final read, {}, returned nil rather than the set's elements",
            op_ref(read_op)
        )));
    }
    let read: HashSet<&Value> = read_elements(h, read_op)?.iter().collect();

    let ok = sorted(
        read.iter()
            .filter(|v| attempts.contains(*v))
            .map(|v| (*v).clone()),
    );
    let unexpected = sorted(
        read.iter()
            .filter(|v| !attempts.contains(*v))
            .map(|v| (*v).clone()),
    );
    let lost = sorted(
        acknowledged
            .iter()
            .filter(|v| !read.contains(*v))
            .map(|v| (*v).clone()),
    );
    let recovered = sorted(ok.iter().filter(|v| !acknowledged.contains(v)).cloned());

    let mut result = CheckResult::valid();
    let where_ = op_ref(read_op);
    if !lost.is_empty() {
        result.add_anomaly(
            "lost",
            Anomaly {
                explanation: format!(
                    "{} acknowledged as added {} missing from the final read, {where_}: {}",
                    plural(lost.len(), "element"),
                    if lost.len() == 1 { "is" } else { "are" },
                    report::compact(&lost)
                ),
                detail: detail([
                    ("elements", element_set(&lost)),
                    ("final_read", op_json(read_op)),
                ]),
            },
        );
    }
    if !unexpected.is_empty() {
        result.add_anomaly(
            "unexpected",
            Anomaly {
                explanation: format!(
                    "the final read, {where_}, contains {} that no add ever attempted: {}",
                    plural(unexpected.len(), "element"),
                    report::compact(&unexpected)
                ),
                detail: detail([
                    ("elements", element_set(&unexpected)),
                    ("final_read", op_json(read_op)),
                ]),
            },
        );
    }
    result.stat("attempt_count", attempts.len());
    result.stat("acknowledged_count", acknowledged.len());
    result.stat("ok_count", ok.len());
    result.stat("lost_count", lost.len());
    result.stat("recovered_count", recovered.len());
    result.stat("unexpected_count", unexpected.len());
    result.stat("ok", report::compact(&ok));
    result.stat("lost", report::compact(&lost));
    result.stat("recovered", report::compact(&recovered));
    result.stat("unexpected", report::compact(&unexpected));
    result.stat("final_read", op_ref(read_op));
    Ok(result)
}
