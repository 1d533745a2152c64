//! `kv`: a map of independent keys, each checked on its own and in parallel.
//!
//! Linearizability is local (Herlihy & Wing): a history of independent objects is
//! linearizable iff each object's sub-history is. So each key is a separate search, run on
//! rayon's pool, and the verdict names the bad keys. Two shapes of history:
//! - Jepsen's independent tuples: `value` is `[key v]`, each key a cas-register
//!   (`read`/`write`/`cas`);
//! - Porcupine's kv logs: a `:key` field, `get`/`put`/`append` on strings, a missing key
//!   reads as `""`.
//!
//! The time limit is shared; the memory budget is split between the threads that search at
//! once.

use crate::check::{
    check_ops_cancellable, explain_again, Outcome, Strategy, Verdict, CANCELLED, OUT_OF_STEPS,
};
use crate::convert::bad_call;
use crate::model::{LinOp, Model};
use crate::models::kv_string::{KvOp, KvString};
use crate::models::register::Register;
use crate::report::{add_stats, anomaly, ANOMALY, RULED_OUT};
use labrys_history::{CheckOptions, CheckResult, Error, History, OpType, Value};
use rayon::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Steps each key may take in the first pass.
const FIRST_PASS_STEPS: u64 = 200_000;

/// Checks a `kv` history of either shape.
pub fn check(h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    if h.calls().any(|c| c.invoke.field("key").is_some()) {
        let keys = porcupine_keys(h)?;
        Ok(check_keys(&KvString, keys, h, opts, None))
    } else {
        let (model, keys) = tuple_keys(h, opts.initial.as_ref().unwrap_or(&Value::Nil))?;
        // Counterexamples are searched again with every value its own state (see `check_keys`).
        let raw = model.without_merging();
        Ok(check_keys(&model, keys, h, opts, raw.as_ref()))
    }
}

fn key_text(v: &Value) -> String {
    match v.as_name() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    }
}

type Keyed<O> = Vec<(String, Vec<LinOp<O>>)>;

/// Porcupine's shape: `:key` field, string values.
fn porcupine_keys(h: &History) -> Result<Keyed<KvOp>, Error> {
    let mut by_key: BTreeMap<String, Vec<LinOp<KvOp>>> = BTreeMap::new();
    for (i, call) in h.calls().enumerate() {
        let ok = match call.outcome() {
            OpType::Ok => true,
            OpType::Fail => continue,
            _ => false,
        };
        let Some(k) = call.invoke.field("key") else {
            return Err(bad_call(
                h,
                &call,
                "a kv op has no :key field; expected one on every op",
            ));
        };
        let v = call.value();
        let s = || -> Result<Arc<str>, Error> {
            match v {
                Value::Nil => Ok(Arc::from("")),
                _ => v.as_name().map(Arc::from).ok_or_else(|| {
                    bad_call(
                        h,
                        &call,
                        format!("kv value {v} is {}; expected a string", v.kind()),
                    )
                }),
            }
        };
        let op = match call.f() {
            "get" if !ok => continue,
            "get" => KvOp::Get(s()?),
            "put" => KvOp::Put(s()?),
            "append" => KvOp::Append(s()?),
            f => {
                return Err(bad_call(
                    h,
                    &call,
                    format!("a kv op has f {f:?}; expected get, put or append"),
                ))
            }
        };
        by_key.entry(key_text(k)).or_default().push(LinOp {
            op,
            invoke: call.invoke_pos,
            complete: ok.then_some(call.complete_pos),
            call: i,
        });
    }
    Ok(by_key.into_iter().collect())
}

/// Jepsen's independent tuples: `[key v]`, each key a cas-register.
fn tuple_keys(
    h: &History,
    initial: &Value,
) -> Result<(Register, Keyed<crate::models::register::RegOp>), Error> {
    let mut m = Register::new(initial);
    fn split(v: &Value) -> Option<(&Value, &Value)> {
        match v.as_seq() {
            Some([k, x]) => Some((k, x)),
            _ => None,
        }
    }
    m.nil_possible |= h
        .calls()
        .any(|c| split(&c.invoke.value).is_some_and(|(_, x)| Register::writes_nil(c.f(), x)));
    let mut by_key: BTreeMap<String, Vec<LinOp<crate::models::register::RegOp>>> = BTreeMap::new();
    // Keys are few and repeat: ops go to a slot per key value, named once; slots whose
    // values print alike are merged at the end.
    let mut slot_of: rustc_hash::FxHashMap<&Value, usize> = rustc_hash::FxHashMap::default();
    let mut slots: Vec<(String, Vec<LinOp<crate::models::register::RegOp>>)> = Vec::new();
    let nil = Value::Nil;
    for (i, call) in h.calls().enumerate() {
        let ok = match call.outcome() {
            OpType::Ok => true,
            OpType::Fail => continue,
            _ => false,
        };
        // The key comes from the invocation (a completion may lack the value).
        let Some((k, _)) = split(&call.invoke.value) else {
            return Err(bad_call(
                h,
                &call,
                format!("kv value {} is not a [key value] pair; expected Jepsen's independent tuples or a :key field", call.invoke.value),
            ));
        };
        let x = match split(call.value()) {
            Some((_, x)) => x,
            None => &nil,
        };
        if let Some(op) = m.op(call.f(), x, ok).map_err(|e| bad_call(h, &call, e))? {
            let slot = *slot_of.entry(k).or_insert_with(|| {
                slots.push((key_text(k), Vec::new()));
                slots.len() - 1
            });
            slots[slot].1.push(LinOp {
                op,
                invoke: call.invoke_pos,
                complete: ok.then_some(call.complete_pos),
                call: i,
            });
        }
    }
    for (text, ops) in slots {
        let all = by_key.entry(text).or_default();
        let merged = !all.is_empty();
        all.extend(ops);
        if merged {
            all.sort_by_key(|o| o.call);
        }
    }
    m.merge_unobserved(by_key.values());
    Ok((m, by_key.into_iter().collect()))
}

/// Checks every key in parallel and combines the verdicts; the anomalies name the keys.
/// `explain`, when given, is the same model without merged states: a bad key is searched
/// again with it (within a few times the first search's steps), so its counterexample names
/// real values.
pub fn check_keys<M: Model>(
    model: &M,
    keys: Keyed<M::Op>,
    h: &History,
    opts: &CheckOptions,
    explain: Option<&M>,
) -> CheckResult {
    let threads = rayon::current_num_threads().max(1) as u64;
    let mut key_opts = opts.clone();
    key_opts.memory_limit = Some(
        opts.memory_limit
            .unwrap_or(crate::check::DEFAULT_MEMORY_LIMIT)
            / threads,
    );
    key_opts.progress = false;
    // Like Porcupine, stop searching other keys once one is not linearizable: the verdict is
    // settled, and a failing key can take far longer than a passing one. A first pass gives
    // every key a small step budget, so one slow key cannot hide a quick violation elsewhere;
    // the keys it leaves undecided then get unbounded searches.
    let failed = AtomicBool::new(false);
    let run = |ops: &[LinOp<M::Op>], budget: u64| {
        let o = check_ops_cancellable(
            model,
            ops,
            &key_opts,
            Strategy::default(),
            Some(&failed),
            budget,
        );
        if o.verdict == Verdict::NotLinearizable {
            failed.store(true, Ordering::Relaxed);
        }
        o
    };
    let mut outcomes: Vec<Outcome> = keys
        .par_iter()
        .map(|(_, ops)| run(ops, FIRST_PASS_STEPS))
        .collect();
    let undecided: Vec<usize> = (0..keys.len())
        .filter(|&i| matches!(&outcomes[i].verdict, Verdict::Unknown(w) if w == OUT_OF_STEPS))
        .collect();
    let second: Vec<(usize, Outcome)> = undecided
        .par_iter()
        .map(|&i| (i, run(&keys[i].1, u64::MAX)))
        .collect();
    for (i, o) in second {
        outcomes[i] = o;
    }
    let mut r = CheckResult::valid();
    let mut bad = Vec::new();
    let mut unknown = Vec::new();
    let mut skipped = 0usize;
    let mut fast_keys = 0usize;
    let mut total = Outcome {
        verdict: Verdict::Linearizable,
        counterexample: None,
        ops: 0,
        segments: 0,
        largest_segment: 0,
        pruned_info: 0,
        steps: 0,
        method: crate::check::SEARCH,
    };
    for ((k, ops), o) in keys.iter().zip(&outcomes) {
        total.ops += o.ops;
        total.segments += o.segments;
        total.largest_segment = total.largest_segment.max(o.largest_segment);
        total.pruned_info += o.pruned_info;
        total.steps += o.steps;
        if o.method == crate::check::FAST {
            fast_keys += 1;
        }
        match &o.verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => {
                bad.push(k.clone());
                let again = explain.and_then(|raw| explain_again(raw, ops, opts, o));
                match again {
                    Some(a) => {
                        if let (Some(c), Some(raw)) = (&a.counterexample, explain) {
                            r.add_anomaly(ANOMALY, anomaly(raw, ops, h, c, Some(k)));
                        }
                    }
                    _ => {
                        if let Some(c) = &o.counterexample {
                            r.add_anomaly(ANOMALY, anomaly(model, ops, h, c, Some(k)));
                        }
                    }
                }
            }
            Verdict::Unknown(why) if why == CANCELLED || why == OUT_OF_STEPS => skipped += 1,
            Verdict::Unknown(why) => unknown.push(format!("key {k}: {why}")),
        }
    }
    if !bad.is_empty() {
        r.rule_out(RULED_OUT);
    } else if !unknown.is_empty() {
        r.valid = labrys_history::Validity::Unknown;
        r.unknown_reason = Some(unknown.join("; "));
    }
    r.stat("keys", keys.len());
    r.stat("bad_keys", json!(bad));
    if !unknown.is_empty() {
        r.stat("unknown_keys", unknown.len());
    }
    if skipped > 0 {
        r.stat("keys_not_finished_after_a_violation", skipped);
    }
    add_stats(&mut r, &total);
    r.stat("keys_decided_by_fast_check", fast_keys);
    r
}
