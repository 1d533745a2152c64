//! The counter checker: every read lies between what must and what may have been added.
//!
//! A counter starts at 0 (or the integer `--initial`); `add` ops increment it by their value
//! and `read` ops return its value. Jepsen's bounds for a read, generalised to negative
//! increments:
//! - lower: the initial value, plus every positive increment acknowledged before the read
//!   began, plus every negative increment that may have applied before it ended;
//! - upper: the initial value, plus every positive increment that may have applied before the
//!   read ended (invoked and not failed), plus every negative increment acknowledged before the
//!   read began.
//!
//! With non-negative increments these are exactly Jepsen's bounds. A read outside them is an
//! anomaly reported with its bounds and how far outside it fell. With no `ok` read the history
//! is valid, as in Jepsen, with a `no-reads` warning.

use crate::report::{self, detail, num, op_json, op_ref};
use labrys_history::{Anomaly, CheckOptions, CheckResult, Error, History, OpType, Value};
use serde_json::json;

/// How many out-of-bounds reads are listed as anomalies; the rest are only counted.
pub const MAX_LISTED: usize = 1000;

#[derive(Clone, Copy)]
enum Event {
    /// An add that did not fail was invoked: it may apply from now on.
    Possible(i128),
    /// An add was acknowledged: it has applied.
    Definite(i128),
    /// An ok read began (index into `reads`).
    ReadStart(usize),
    /// An ok read ended.
    ReadEnd(usize),
}

#[derive(Default, Clone, Copy)]
struct Sums {
    pos_definite: i128,
    neg_definite: i128,
    pos_possible: i128,
    neg_possible: i128,
}

/// Checks a counter history. Reads `opts.initial` (an integer start value; default 0).
pub fn check(h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    let initial: i128 = match &opts.initial {
        None => 0,
        Some(Value::Int(i)) => *i as i128,
        Some(other) => {
            return Err(Error::malformed(
                &h.source,
                0,
                format!(
                    "--initial for a counter must be an integer; found {} ({other})",
                    other.kind()
                ),
            ))
        }
    };
    let mut events: Vec<(usize, Event)> = Vec::new();
    let mut reads = Vec::new();
    for call in h.calls() {
        match call.f() {
            "add" => {
                let v = int_value(h, call.invoke)?;
                match call.outcome() {
                    OpType::Fail => {}
                    OpType::Ok => {
                        events.push((call.invoke_pos, Event::Possible(v)));
                        events.push((call.complete_pos, Event::Definite(v)));
                    }
                    _ => events.push((call.invoke_pos, Event::Possible(v))),
                }
            }
            "read" if call.outcome() == OpType::Ok => {
                let op = call.completion.expect("ok calls have a completion");
                let v = int_value(h, op)?;
                events.push((call.invoke_pos, Event::ReadStart(reads.len())));
                events.push((call.complete_pos, Event::ReadEnd(reads.len())));
                reads.push((op, v, Sums::default()));
            }
            _ => {}
        }
    }
    if reads.is_empty() {
        // Jepsen's verdict: nothing observed, nothing violated.
        let mut r = report::vacuous(
            "no-reads",
            "no read completed ok, so the counter was never observed: valid only vacuously".into(),
        );
        r.stat("read_count", 0);
        return Ok(r);
    }
    events.sort_by_key(|(pos, _)| *pos);

    let mut sums = Sums::default();
    let mut result = CheckResult::valid();
    let mut errors = 0usize;
    let (mut worst_below, mut worst_above) = (0i128, 0i128);
    for (_, e) in events {
        match e {
            Event::Possible(v) if v >= 0 => sums.pos_possible += v,
            Event::Possible(v) => sums.neg_possible += v,
            Event::Definite(v) if v >= 0 => sums.pos_definite += v,
            Event::Definite(v) => sums.neg_definite += v,
            Event::ReadStart(i) => reads[i].2 = sums,
            Event::ReadEnd(i) => {
                let (op, value, start) = reads[i];
                let lower = initial + start.pos_definite + sums.neg_possible;
                let upper = initial + sums.pos_possible + start.neg_definite;
                if value >= lower && value <= upper {
                    continue;
                }
                errors += 1;
                let (side, by) = if value < lower {
                    ("below", lower - value)
                } else {
                    ("above", value - upper)
                };
                if value < lower {
                    worst_below = worst_below.max(by);
                } else {
                    worst_above = worst_above.max(by);
                }
                if errors > MAX_LISTED {
                    continue;
                }
                let explanation = if value < lower {
                    format!(
                        "read {} returned {value}, but increments totalling {lower} had already \
                         been acknowledged when it began: {by} below the lowest possible value",
                        op_ref(op)
                    )
                } else {
                    format!(
                        "read {} returned {value}, but at most {upper} could have been reached \
                         (every increment invoked and not failed by its end): {by} above the \
                         highest possible value",
                        op_ref(op)
                    )
                };
                result.add_anomaly(
                    "out-of-bounds",
                    Anomaly {
                        explanation,
                        detail: detail([
                            ("op", op_json(op)),
                            ("value", json!(num(value))),
                            ("lower", json!(num(lower))),
                            ("upper", json!(num(upper))),
                            ("side", json!(side)),
                            ("off_by", json!(num(by))),
                        ]),
                    },
                );
            }
        }
    }
    result.stat("read_count", reads.len());
    result.stat("error_count", errors);
    result.stat("unlisted_errors", errors.saturating_sub(MAX_LISTED));
    result.stat("max_below", json!(num(worst_below)));
    result.stat("max_above", json!(num(worst_above)));
    result.stat("initial", json!(num(initial)));
    Ok(result)
}

fn int_value(h: &History, op: &labrys_history::Op) -> Result<i128, Error> {
    match &op.value {
        Value::Int(i) => Ok(*i as i128),
        Value::BigInt(s) => s
            .parse()
            .map_err(|_| report::malformed(h, op, format!("the counter value {s} is too large"))),
        other => Err(report::malformed(
            h,
            op,
            format!(
                "a counter {} needs an integer value; found {} ({other})",
                op.f,
                other.kind()
            ),
        )),
    }
}
