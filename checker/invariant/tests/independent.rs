//! Independent keys: a history of several keys' set-full tests interleaved, with `[key value]`
//! tuples, gets per key the verdict each key's history gets alone, and the merged verdict.

mod common;

use common::*;
use labrys_history::{read_str, CheckOptions, Format, History, Op, OpType, Validity, Value};
use proptest::prelude::*;

/// One generated set-full history per key, merged by interleaving their ops at random, with
/// processes renumbered per key and values wrapped as `[key value]`.
fn interleave(seed: u64, keys: i64, steps: usize) -> (Vec<History>, History) {
    let parts: Vec<History> = (0..keys)
        .map(|k| {
            let mut m = SetModel::new(30, 5);
            let mut sim = Sim::new(seed.wrapping_add(k as u64));
            let next = sim.run(&mut m, 3, steps, 5);
            sim.solo(&mut m, next, "read", Value::Nil);
            sim.history()
        })
        .collect();
    let mut rng = SimRng::new(seed);
    let mut cursor = vec![0usize; parts.len()];
    let mut ops = Vec::new();
    while cursor.iter().zip(&parts).any(|(c, p)| *c < p.ops.len()) {
        let k = rng.below(parts.len() as u64) as usize;
        let Some(op) = parts[k].ops.get(cursor[k]) else {
            continue;
        };
        cursor[k] += 1;
        let mut op: Op = op.clone();
        op.index = ops.len() as u64;
        op.process = labrys_history::Process::Client(op.process.client().unwrap() * 100 + k as i64);
        op.value = list([int(k as i64), op.value.clone()]);
        ops.push(op);
    }
    (parts, rebuild(ops))
}

fn lose_first_acked(h: &History) -> History {
    let call = h
        .calls()
        .find(|c| c.f() == "add" && c.outcome() == OpType::Ok)
        .unwrap();
    let v = call.value().clone();
    let mut ops = h.ops.clone();
    for c in h.calls() {
        if c.f() == "read" && c.outcome() == OpType::Ok && c.invoke_pos > call.complete_pos {
            if let Value::List(l) = &mut ops[c.complete_pos].value {
                l.retain(|x| x != &v);
            }
        }
    }
    rebuild(ops)
}

#[test]
fn merged_verdict_is_the_per_key_verdicts() {
    let (parts, h) = interleave(3, 4, 200);
    let r = labrys_invariant::independent::check("set-full", &h, &CheckOptions::default()).unwrap();
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
    assert_eq!(r.stats["key_count"], 4);
    let split = labrys_invariant::independent::split(&h).unwrap();
    let keys: Vec<Value> = split.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, (0..4).map(int).collect::<Vec<_>>());
    for ((_, sub), part) in split.iter().zip(&parts) {
        assert_eq!(sub.pairs.len(), part.pairs.len());
        let alone = labrys_invariant::check("set-full", part, &CheckOptions::default()).unwrap();
        let within = labrys_invariant::check("set-full", sub, &CheckOptions::default()).unwrap();
        assert_eq!(alone.stats["stable_count"], within.stats["stable_count"]);
    }
}

#[test]
fn a_loss_in_one_key_names_that_key() {
    let (mut parts, _) = interleave(8, 3, 200);
    parts[1] = lose_first_acked(&parts[1]);
    // Re-interleave the edited parts: simplest is to wrap them sequentially.
    let mut ops = Vec::new();
    for (k, p) in parts.iter().enumerate() {
        for op in &p.ops {
            let mut op = op.clone();
            op.index = ops.len() as u64;
            op.process =
                labrys_history::Process::Client(op.process.client().unwrap() * 100 + k as i64);
            op.value = list([int(k as i64), op.value.clone()]);
            ops.push(op);
        }
    }
    let h = rebuild(ops);
    let r = labrys_invariant::independent::check("set-full", &h, &CheckOptions::default()).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.stats["invalid_keys"], serde_json::json!([1]));
    let a = &r.anomalies["lost"][0];
    assert_eq!(a.detail["key"], 1);
    assert!(
        a.explanation.starts_with("key 1: element"),
        "{}",
        a.explanation
    );
}

#[test]
fn values_that_are_not_tuples_are_an_error_naming_the_line() {
    let text = "{:type :invoke, :f :add, :process 0, :value [0 1]}\n{:type :ok, :f :add, :process 0, :value [0 1]}\n{:type :invoke, :f :add, :process 0, :value 5}\n";
    let h = read_str(text, "i.edn", Format::Edn).unwrap();
    let err = labrys_invariant::independent::check("set", &h, &CheckOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("i.edn:3:") && err.contains("[key value]"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn prop_independent_correct_histories_are_never_invalid(seed in any::<u64>(), keys in 1i64..5, steps in 10usize..150) {
        let (_, h) = interleave(seed, keys, steps);
        for w in ["set", "set-full"] {
            let r = labrys_invariant::independent::check(w, &h, &CheckOptions::default()).unwrap();
            prop_assert_ne!(r.valid, Validity::Invalid, "{}: {:?}", w, r.anomalies);
        }
    }
}
