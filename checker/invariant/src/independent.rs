//! Jepsen's independent keys: one history holding many small tests, one per key.
//!
//! Jepsen's `independent` wrapper runs a workload on many keys at once and records each op's
//! value as a tuple `[key value]`. Checking such a history means splitting it into one history
//! per key, with the tuples unwrapped, checking each, and merging the verdicts: invalid if any
//! key is invalid, else unknown if any key is unknown. Anomalies keep their key (in the
//! explanation and as `detail.key`); `stats` gives the key count, the invalid and unknown keys,
//! and the stats of the first invalid keys.

use crate::report::{self, sorted};
use labrys_history::{CheckOptions, CheckResult, Error, History, Op, Validity, Value};
use serde_json::{json, Value as J};
use std::collections::HashMap;

/// How many invalid keys have their own stats copied into the merged result.
pub const MAX_KEY_STATS: usize = 100;

/// `[key value]`, or None.
fn tuple(v: &Value) -> Option<(&Value, &Value)> {
    match v.as_seq()? {
        [k, v] => Some((k, v)),
        _ => None,
    }
}

/// Splits `h` into one history per key. Every client op's value must be a `[key value]`
/// tuple (a completion may also carry nil, or a bare value, which stays with its invoke's key).
pub fn split(h: &History) -> Result<Vec<(Value, History)>, Error> {
    let mut by_key: HashMap<&Value, Vec<(usize, Op)>> = HashMap::new();
    for call in h.calls() {
        let Some((k, v)) = tuple(&call.invoke.value) else {
            return Err(report::malformed(
                h,
                call.invoke,
                format!(
                    "with independent keys every op's value must be a [key value] tuple; found {}",
                    call.invoke.value
                ),
            ));
        };
        let ops = by_key.entry(k).or_default();
        let mut inv = call.invoke.clone();
        inv.value = v.clone();
        ops.push((call.invoke_pos, inv));
        if let Some(c) = call.completion {
            let mut comp = c.clone();
            comp.value = match tuple(&c.value) {
                Some((k2, v2)) if k2 == k => v2.clone(),
                Some((k2, _)) => {
                    return Err(report::malformed(
                        h,
                        c,
                        format!("completion is for key {k2} but its invoke was for key {k}"),
                    ))
                }
                None => c.value.clone(),
            };
            ops.push((call.complete_pos, comp));
        }
    }
    let keys = sorted(by_key.keys().map(|k| (*k).clone()));
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let mut ops = by_key.remove(&k).expect("key listed");
        ops.sort_by_key(|(pos, _)| *pos);
        let ops: Vec<Op> = ops.into_iter().map(|(_, op)| op).collect();
        out.push((k, History::from_ops(ops, h.source.clone())?));
    }
    Ok(out)
}

/// Checks `h` as `workload` key by key and merges the verdicts.
pub fn check(workload: &str, h: &History, opts: &CheckOptions) -> Result<CheckResult, Error> {
    let mut merged = CheckResult::valid();
    let mut invalid_keys = Vec::new();
    let mut unknown_keys = Vec::new();
    let mut reasons = Vec::new();
    let mut key_stats = serde_json::Map::new();
    let parts = split(h)?;
    for (key, sub) in &parts {
        if opts.deadline.expired() {
            return Ok(CheckResult::unknown(
                "deadline reached while checking independent keys",
            ));
        }
        let r = crate::check(workload, sub, opts)?;
        match r.valid {
            Validity::Invalid => {
                invalid_keys.push(key.to_json());
                if key_stats.len() < MAX_KEY_STATS {
                    key_stats.insert(key.to_string(), J::Object(r.stats.clone()));
                }
            }
            Validity::Unknown => {
                unknown_keys.push(key.to_json());
                if let Some(reason) = &r.unknown_reason {
                    reasons.push(format!("key {key}: {reason}"));
                }
            }
            Validity::Valid => {}
        }
        for (kind, anomalies) in r.anomalies {
            for mut a in anomalies {
                a.explanation = format!("key {key}: {}", a.explanation);
                a.detail.insert("key".into(), key.to_json());
                merged.add_anomaly(&kind, a);
            }
        }
        for mut w in r.warnings {
            w.message = format!("key {key}: {}", w.message);
            merged.warnings.push(w);
        }
    }
    if merged.valid != Validity::Invalid && !unknown_keys.is_empty() {
        merged.valid = Validity::Unknown;
        let shown: Vec<&str> = reasons.iter().take(5).map(String::as_str).collect();
        merged.unknown_reason = Some(format!(
            "{} of {} keys could not be decided: {}",
            unknown_keys.len(),
            parts.len(),
            shown.join("; ")
        ));
    }
    merged.stat("key_count", parts.len());
    merged.stat("invalid_keys", J::Array(invalid_keys));
    merged.stat("unknown_keys", J::Array(unknown_keys));
    merged.stat("invalid_key_stats", J::Object(key_stats));
    merged.stat("independent", json!(true));
    Ok(merged)
}
