//! The total-queue checker: what goes into a queue comes out, once.
//!
//! Enqueues add elements, dequeues (and `drain`s, which return every remaining element) take
//! them out; the test drains the queue at the end. Jepsen's semantics, over multisets:
//! - *lost*: acknowledged enqueues never dequeued;
//! - *unexpected*: dequeued elements no enqueue ever attempted;
//! - *duplicated*: elements dequeued more often than enqueues of them were attempted;
//! - *recovered*: dequeued elements whose enqueue was indeterminate.
//!
//! Unlike Jepsen, lost elements no more numerous than the dequeues that crashed are not a
//! violation: each such dequeue may have taken one (the queue gave it out and the client never
//! heard), which a correct queue allows; they are reported as a warning instead. More lost
//! elements than that are all reported lost.
//!
//! Valid when nothing is lost, unexpected or duplicated (Jepsen ignores duplicates in its
//! verdict; an exactly-once queue must not deliver twice). A drain that did not complete `ok`
//! leaves unknown which elements it took: if anything appears lost the verdict is then unknown,
//! as in Jepsen, where such a drain aborts the check. An `ok` dequeue with a nil value took
//! nothing (an empty queue) and is counted apart.

use crate::report::{self, detail, element_set, plural};
use labrys_history::{Anomaly, CheckOptions, CheckResult, Error, History, Op, OpType, Value};
use serde_json::{json, Value as J};
use std::collections::HashMap;

type Multiset<'a> = HashMap<&'a Value, usize>;

/// Checks a total-queue history. Reads no options.
pub fn check(h: &History, _opts: &CheckOptions) -> Result<CheckResult, Error> {
    let mut attempts: Multiset = HashMap::new();
    let mut enqueues: Multiset = HashMap::new();
    let mut dequeues: Multiset = HashMap::new();
    let mut empty_dequeues = 0usize;
    let mut crashed_drains: Vec<&Op> = Vec::new();
    let mut crashed_dequeues = 0usize;
    for call in h.calls() {
        match call.f() {
            "enqueue" => {
                *attempts.entry(&call.invoke.value).or_default() += 1;
                if call.outcome() == OpType::Ok {
                    *enqueues.entry(call.value()).or_default() += 1;
                }
            }
            "dequeue" if call.outcome() == OpType::Info => crashed_dequeues += 1,
            "dequeue" if call.outcome() == OpType::Ok => match call.value() {
                Value::Nil => empty_dequeues += 1,
                v => *dequeues.entry(v).or_default() += 1,
            },
            "drain" => {
                match call.outcome() {
                    OpType::Ok => {
                        let op = call.completion.expect("ok calls have a completion");
                        let Some(items) = op.value.as_seq() else {
                            return Err(report::malformed(
                            h,
                            op,
                            format!("a drain's value must be the list of elements it took; found {}", op.value),
                        ));
                        };
                        for v in items {
                            *dequeues.entry(v).or_default() += 1;
                        }
                    }
                    OpType::Fail => {}
                    _ => crashed_drains.push(call.invoke),
                }
            }
            _ => {}
        }
    }

    let count = |m: &Multiset| m.values().sum::<usize>();
    let minus = |a: &Multiset<'_>, b: &Multiset<'_>| -> Vec<(Value, usize)> {
        let mut out: Vec<(Value, usize)> = a
            .iter()
            .filter_map(|(v, n)| {
                let left = n.saturating_sub(b.get(v).copied().unwrap_or(0));
                (left > 0).then(|| ((*v).clone(), left))
            })
            .collect();
        out.sort_by(|x, y| report::cmp_values(&x.0, &y.0));
        out
    };
    let ok: Multiset = dequeues
        .iter()
        .filter_map(|(v, n)| attempts.get(v).map(|a| (*v, (*n).min(*a))))
        .collect();
    let unexpected: Vec<(Value, usize)> = {
        let mut u: Vec<(Value, usize)> = dequeues
            .iter()
            .filter(|(v, _)| !attempts.contains_key(*v))
            .map(|(v, n)| ((*v).clone(), *n))
            .collect();
        u.sort_by(|x, y| report::cmp_values(&x.0, &y.0));
        u
    };
    let attempted_dequeues: Multiset = dequeues
        .iter()
        .filter(|(v, _)| attempts.contains_key(*v))
        .map(|(v, n)| (*v, *n))
        .collect();
    let duplicated = minus(&attempted_dequeues, &attempts);
    let lost = minus(&enqueues, &dequeues);
    let recovered = minus(&ok, &enqueues);

    let total = |v: &[(Value, usize)]| v.iter().map(|(_, n)| n).sum::<usize>();
    let elements = |v: &[(Value, usize)]| v.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>();
    let counts = |v: &[(Value, usize)]| {
        J::Array(
            v.iter()
                .take(report::EXAMPLES)
                .map(|(e, n)| json!([e.to_json(), n]))
                .collect(),
        )
    };

    let mut result = CheckResult::valid();
    let mut flag = |kind: &str, v: &[(Value, usize)], what: &str| {
        if v.is_empty() {
            return;
        }
        result.add_anomaly(
            kind,
            Anomaly {
                explanation: format!(
                    "{what} ({}): {}",
                    plural(total(v), "element"),
                    report::compact(&elements(v))
                ),
                detail: detail([
                    ("elements", element_set(&elements(v))),
                    ("counts", counts(v)),
                ]),
            },
        );
    };
    flag(
        "unexpected",
        &unexpected,
        "dequeued, but no enqueue of them was ever attempted",
    );
    flag(
        "duplicated",
        &duplicated,
        "dequeued more times than enqueues of them were attempted",
    );
    // A dequeue that crashed may have taken an element (the queue gave it out, the client
    // never heard): as many lost elements as there are crashed dequeues have an explanation a
    // correct queue allows, so they are not a violation; more are.
    let explained = crashed_dequeues >= total(&lost);
    if crashed_drains.is_empty() && !explained {
        flag("lost", &lost, "enqueued (acknowledged), but never dequeued");
    }
    if crashed_drains.is_empty() && explained && !lost.is_empty() {
        result.warnings.push(labrys_history::Warning {
            kind: "lost-or-taken-by-crashed-dequeues".into(),
            line: 0,
            message: format!(
                "{} acknowledged enqueued elements were never seen dequeued ({}), but {} did \
                 not complete ok and may have taken them: not counted as lost",
                total(&lost),
                report::compact(&elements(&lost)),
                plural(crashed_dequeues, "dequeue")
            ),
        });
    }
    if !crashed_drains.is_empty()
        && !lost.is_empty()
        && result.valid != labrys_history::Validity::Invalid
    {
        result.valid = labrys_history::Validity::Unknown;
        result.unknown_reason = Some(format!(
            "{} acknowledged enqueued elements were never seen dequeued, but {} did not complete \
             ok (first: {}), so they may have taken them",
            total(&lost),
            plural(crashed_drains.len(), "drain"),
            report::op_ref(crashed_drains[0])
        ));
    }
    result.stat("attempt_count", count(&attempts));
    result.stat("acknowledged_count", count(&enqueues));
    result.stat("ok_count", count(&ok));
    result.stat("unexpected_count", total(&unexpected));
    result.stat("duplicated_count", total(&duplicated));
    result.stat("lost_count", total(&lost));
    result.stat("recovered_count", total(&recovered));
    result.stat("empty_dequeue_count", empty_dequeues);
    result.stat("crashed_drain_count", crashed_drains.len());
    result.stat("crashed_dequeue_count", crashed_dequeues);
    result.stat("lost", report::compact(&elements(&lost)));
    result.stat("recovered", report::compact(&elements(&recovered)));
    Ok(result)
}
