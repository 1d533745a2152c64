//! The unique-ids checker: an id generator never hands out the same id twice.
//!
//! Every `ok` `generate` op returns an id; Jepsen's semantics: the history is valid when no id
//! was returned by two `ok` ops. Failed and indeterminate generates are only counted. Each
//! duplicated id is reported with the ops that returned it. With no `ok` generate the history
//! is valid, as in Jepsen, with a `no-ids` warning.

use crate::report::{self, detail, op_json, op_ref};
use labrys_history::{Anomaly, CheckOptions, CheckResult, Error, History, Op, OpType, Value};
use serde_json::{json, Value as J};
use std::collections::HashMap;

/// How many duplicated ids are listed as anomalies; the rest are only counted.
pub const MAX_LISTED: usize = 1000;

/// Checks a unique-ids history. Reads no options.
pub fn check(h: &History, _opts: &CheckOptions) -> Result<CheckResult, Error> {
    let mut attempted = 0usize;
    let mut acknowledged = 0usize;
    let mut by_id: HashMap<&Value, Vec<&Op>> = HashMap::new();
    for call in h.calls() {
        if call.f() != "generate" {
            continue;
        }
        attempted += 1;
        if call.outcome() == OpType::Ok {
            acknowledged += 1;
            let op = call.completion.expect("ok calls have a completion");
            by_id.entry(&op.value).or_default().push(op);
        }
    }
    if acknowledged == 0 {
        // Jepsen's verdict: no id handed out, none duplicated.
        let mut r = report::vacuous(
            "no-ids",
            format!("no generate op completed ok (of {attempted} attempted): valid only vacuously"),
        );
        r.stat("attempted_count", attempted);
        return Ok(r);
    }
    let mut dups: Vec<(&Value, &Vec<&Op>)> = by_id
        .iter()
        .filter(|(_, ops)| ops.len() > 1)
        .map(|(v, o)| (*v, o))
        .collect();
    dups.sort_by(|a, b| {
        b.1.len()
            .cmp(&a.1.len())
            .then_with(|| report::cmp_values(a.0, b.0))
    });

    let mut result = CheckResult::valid();
    for (id, ops) in dups.iter().take(MAX_LISTED) {
        let refs: Vec<String> = ops
            .iter()
            .take(report::EXAMPLES)
            .map(|o| op_ref(o))
            .collect();
        let more = ops.len().saturating_sub(report::EXAMPLES);
        result.add_anomaly(
            "duplicated",
            Anomaly {
                explanation: format!(
                    "id {id} was returned {} times: by {}{}",
                    ops.len(),
                    refs.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
                detail: detail([
                    ("id", id.to_json()),
                    ("count", json!(ops.len())),
                    (
                        "ops",
                        J::Array(
                            ops.iter()
                                .take(report::EXAMPLES)
                                .map(|o| op_json(o))
                                .collect(),
                        ),
                    ),
                ]),
            },
        );
    }
    let ids = report::sorted(by_id.keys().map(|v| (*v).clone()));
    result.stat("attempted_count", attempted);
    result.stat("acknowledged_count", acknowledged);
    result.stat("duplicated_count", dups.len());
    result.stat(
        "duplicated",
        J::Object(
            dups.iter()
                .take(MAX_LISTED)
                .map(|(v, o)| (v.to_string(), json!(o.len())))
                .collect(),
        ),
    );
    result.stat(
        "range",
        json!([
            ids.first().map(Value::to_json),
            ids.last().map(Value::to_json)
        ]),
    );
    Ok(result)
}
