//! The bank checker: money moves between accounts but is never created or destroyed.
//!
//! A bank workload transfers amounts between accounts and reads all balances in one snapshot.
//! Under snapshot isolation or stronger, every `ok` read must show the same total, show exactly
//! the accounts the test created (none unexpected, none missing, none nil), and, unless the test
//! allows overdrafts, no negative balance. Jepsen's semantics: the total is `--total-amount`,
//! or else the sum of the first `ok` read; the accounts are the first read's. Transfers are not
//! examined: a read is the only evidence.
//!
//! Each bad read is reported under its kind (`wrong-total`, `negative-value`, `unexpected-key`,
//! `missing-key`, `nil-balance`) with how far off it was; `stats.errors` summarises each kind
//! with its count, first, worst, last and (for totals) lowest and highest reads. With no `ok`
//! read the history is valid, as in Jepsen, but only vacuously: a `no-reads` warning says so.

use crate::report::{self, detail, num, op_json, op_ref, plural};
use labrys_history::{Anomaly, CheckOptions, CheckResult, Error, History, Op, OpType, Value};
use rustc_hash::FxHashSet as HashSet;
use serde_json::{json, Value as J};
use std::collections::BTreeMap;

/// How many bad reads of one kind are listed as anomalies; the rest are only counted.
pub const MAX_LISTED: usize = 1000;

/// One read's balances, in the read's order.
struct Read<'a> {
    op: &'a Op,
    balances: Vec<(&'a Value, Option<i128>)>,
}

/// One problem with one read. The op's JSON is added only to the reads listed as anomalies:
/// a run with thousands of bad reads should not serialise every one of them.
struct BadRead<'a> {
    kind: &'static str,
    /// Bigger is worse (Jepsen's "badness"): how many accounts, how far off.
    badness: f64,
    /// For wrong totals, the read's total.
    total: Option<i128>,
    explanation: String,
    fields: serde_json::Map<String, J>,
    op: &'a Op,
    pos: usize,
}

impl BadRead<'_> {
    fn anomaly(self) -> Anomaly {
        let mut detail = self.fields;
        detail.insert("op".into(), op_json(self.op));
        Anomaly {
            explanation: self.explanation,
            detail,
        }
    }
}

/// Checks a bank history. Reads `opts.total_amount` and `opts.allow_negative_balances`.
pub fn check(h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    let mut reads: Vec<(usize, Read<'_>)> = Vec::new();
    for call in h.calls() {
        if call.f() != "read" || call.outcome() != OpType::Ok {
            continue;
        }
        let op = call.completion.expect("ok calls have a completion");
        reads.push((call.complete_pos, parse_read(h, op)?));
    }
    reads.sort_by_key(|(pos, _)| *pos);

    let Some((_, first)) = reads.first() else {
        // Jepsen's verdict: nothing observed, nothing violated.
        let mut r = report::vacuous(
            "no-reads",
            "no read completed ok, so no balance was ever observed: valid only vacuously".into(),
        );
        r.stat("read_count", 0);
        return Ok(r);
    };
    let accounts: Vec<&Value> = first.balances.iter().map(|(k, _)| *k).collect();
    let account_set: HashSet<&Value> = accounts.iter().copied().collect();
    let (total, total_source) = match opts.total_amount {
        Some(t) => (t as i128, "--total-amount".to_string()),
        None => (
            first.balances.iter().filter_map(|(_, b)| *b).sum(),
            format!("the sum of the first ok read, {}", op_ref(first.op)),
        ),
    };

    let mut bad: Vec<BadRead<'_>> = Vec::new();
    for (pos, read) in &reads {
        check_read(read, *pos, &account_set, &accounts, total, opts, &mut bad);
    }

    let mut result = CheckResult::valid();
    result.stat("read_count", reads.len());
    result.stat("error_count", bad.len());
    result.stat("total", num(total));
    result.stat("total_source", total_source);
    result.stat("accounts", accounts.len());
    result.stat("negative_balances_allowed", opts.allow_negative_balances);

    let mut by_kind: BTreeMap<&'static str, Vec<BadRead<'_>>> = BTreeMap::new();
    for b in bad {
        by_kind.entry(b.kind).or_default().push(b);
    }
    let mut summary = serde_json::Map::new();
    for (kind, errs) in by_kind {
        summary.insert(kind.to_string(), summarise(&errs));
        let worst = worst_index(&errs);
        let count = errs.len();
        for (i, e) in errs.into_iter().enumerate() {
            if i < MAX_LISTED || i == worst {
                result.add_anomaly(kind, e.anomaly());
            }
        }
        if count > MAX_LISTED {
            result.stat(
                &format!("{kind}_unlisted"),
                count - MAX_LISTED - usize::from(worst >= MAX_LISTED),
            );
        }
    }
    result.stat("errors", J::Object(summary));
    Ok(result)
}

fn parse_read<'a>(h: &History, op: &'a Op) -> Result<Read<'a>, Error> {
    let Some(map) = op.value.as_map() else {
        return Err(report::malformed(
            h,
            op,
            format!(
                "a bank read's value must be a map of account to balance; found {} ({})",
                op.value.kind(),
                op.value
            ),
        ));
    };
    let mut balances = Vec::with_capacity(map.len());
    for (k, v) in map {
        let b = match v {
            Value::Nil => None,
            Value::Int(i) => Some(*i as i128),
            Value::BigInt(s) => Some(s.parse::<i128>().map_err(|_| {
                report::malformed(h, op, format!("balance of account {k} is too large: {s}"))
            })?),
            other => {
                return Err(report::malformed(
                    h,
                    op,
                    format!(
                        "balance of account {k} must be an integer or nil; found {} ({other})",
                        other.kind()
                    ),
                ))
            }
        };
        balances.push((k, b));
    }
    Ok(Read { op, balances })
}

fn list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_read<'a>(
    read: &Read<'a>,
    pos: usize,
    account_set: &HashSet<&Value>,
    accounts: &[&Value],
    total: i128,
    opts: &CheckOptions,
    out: &mut Vec<BadRead<'a>>,
) {
    let op = read.op;
    let where_ = op_ref(op);
    let mk =
        |kind, badness, total, explanation: String, fields: serde_json::Map<String, J>| BadRead {
            kind,
            badness,
            total,
            explanation,
            fields,
            op,
            pos,
        };

    let unexpected: Vec<&Value> = read
        .balances
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !account_set.contains(k))
        .collect();
    if !unexpected.is_empty() {
        out.push(mk(
            "unexpected-key",
            unexpected.len() as f64,
            None,
            format!(
                "read {where_} shows {} that the first read did not have: {}",
                plural(unexpected.len(), "account"),
                list(&unexpected)
            ),
            detail([(
                "unexpected",
                J::Array(unexpected.iter().map(|v| v.to_json()).collect()),
            )]),
        ));
    }
    let present: HashSet<&Value> = read.balances.iter().map(|(k, _)| *k).collect();
    let missing: Vec<&Value> = accounts
        .iter()
        .copied()
        .filter(|a| !present.contains(a))
        .collect();
    if !missing.is_empty() {
        out.push(mk(
            "missing-key",
            missing.len() as f64,
            None,
            format!(
                "read {where_} lacks {} that the first read had: {}",
                plural(missing.len(), "account"),
                list(&missing)
            ),
            detail([(
                "missing",
                J::Array(missing.iter().map(|v| v.to_json()).collect()),
            )]),
        ));
    }
    let nils: Vec<&Value> = read
        .balances
        .iter()
        .filter(|(_, b)| b.is_none())
        .map(|(k, _)| *k)
        .collect();
    if !nils.is_empty() {
        out.push(mk(
            "nil-balance",
            nils.len() as f64,
            None,
            format!(
                "read {where_} has no balance (nil) for {}: {}",
                plural(nils.len(), "account"),
                list(&nils)
            ),
            detail([("nils", J::Array(nils.iter().map(|v| v.to_json()).collect()))]),
        ));
    } else {
        let sum: i128 = read.balances.iter().filter_map(|(_, b)| *b).sum();
        if sum != total {
            let off = sum - total;
            let rel = if total != 0 {
                (off as f64 / total as f64).abs()
            } else {
                0.0
            };
            let pct = if total != 0 {
                format!(" ({:.2}% of the total)", rel * 100.0)
            } else {
                String::new()
            };
            out.push(mk(
                "wrong-total",
                rel,
                Some(sum),
                format!(
                    "read {where_} sums to {sum} but the total is {total}: {} by {}{pct}",
                    if off > 0 { "over" } else { "under" },
                    off.abs()
                ),
                detail([
                    ("total", num(sum)),
                    ("expected", num(total)),
                    ("off_by", num(off)),
                ]),
            ));
        }
    }
    if !opts.allow_negative_balances {
        let negative: Vec<(&Value, i128)> = read
            .balances
            .iter()
            .filter_map(|(k, b)| b.filter(|b| *b < 0).map(|b| (*k, b)))
            .collect();
        if !negative.is_empty() {
            let overdraft: i128 = negative.iter().map(|(_, b)| -b).sum();
            out.push(mk(
                "negative-value",
                overdraft as f64,
                None,
                format!(
                    "read {where_} shows {} (overdrawn by {overdraft} in all; pass \
                     --allow-negative-balances if the test permits it): {}",
                    plural(negative.len(), "negative balance"),
                    negative
                        .iter()
                        .map(|(k, b)| format!("account {k} = {b}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                detail([(
                    "negative",
                    J::Array(
                        negative
                            .iter()
                            .map(|(k, b)| json!({"account": k.to_json(), "balance": num(*b)}))
                            .collect(),
                    ),
                )]),
            ));
        }
    }
}

fn worst_index(errs: &[BadRead<'_>]) -> usize {
    let mut worst = 0;
    for (i, e) in errs.iter().enumerate() {
        if e.badness > errs[worst].badness {
            worst = i;
        }
    }
    worst
}

fn summarise(errs: &[BadRead<'_>]) -> J {
    let refer = |e: &BadRead<'_>| json!({"explanation": e.explanation, "history_position": e.pos});
    let mut m = serde_json::Map::new();
    m.insert("count".into(), errs.len().into());
    if let (Some(first), Some(last)) = (errs.first(), errs.last()) {
        m.insert("first".into(), refer(first));
        m.insert("worst".into(), refer(&errs[worst_index(errs)]));
        m.insert("last".into(), refer(last));
    }
    let totals: Vec<&BadRead<'_>> = errs.iter().filter(|e| e.total.is_some()).collect();
    if let (Some(lo), Some(hi)) = (
        totals.iter().min_by_key(|e| e.total),
        totals.iter().max_by_key(|e| e.total),
    ) {
        m.insert("lowest".into(), refer(lo));
        m.insert("highest".into(), refer(hi));
    }
    J::Object(m)
}
