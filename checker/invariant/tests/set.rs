//! Set and set-full: histories from a correct in-memory set are valid; planted lost,
//! unexpected, duplicated and stale elements are found, in code and through EDN and JSON text.

mod common;

use common::*;
use labrys_history::{
    read_str, CheckOptions, CheckResult, Format, History, Op, OpType, Validity, Value,
};
use proptest::prelude::*;

fn generate(seed: u64, read_percent: u64, steps: usize) -> History {
    let mut m = SetModel::new(read_percent, 5);
    let mut sim = Sim::new(seed);
    let next = sim.run(&mut m, 5, steps, 5);
    sim.solo(&mut m, next, "read", Value::Nil);
    sim.history()
}

fn check(workload: &str, h: &History, opts: &CheckOptions) -> CheckResult {
    labrys_invariant::check(workload, h, opts).expect("set histories check")
}

fn acknowledged(h: &History) -> Vec<Value> {
    h.calls()
        .filter(|c| c.f() == "add" && c.outcome() == OpType::Ok)
        .map(|c| c.value().clone())
        .collect()
}

fn ok_read_positions(h: &History) -> Vec<usize> {
    h.ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OpType::Ok && &*o.f == "read")
        .map(|(i, _)| i)
        .collect()
}

fn remove_from(op: &mut Op, v: &Value) {
    if let Value::List(l) = &mut op.value {
        l.retain(|x| x != v);
    }
}

// ---------------------------------------------------------------- set

#[test]
fn set_generated_is_valid_and_counts_recovered() {
    for seed in 0..20 {
        let h = generate(seed, 0, 300);
        let r = check("set", &h, &CheckOptions::default());
        assert_eq!(r.valid, Validity::Valid, "seed {seed}: {:?}", r.anomalies);
        assert_eq!(r.stats["acknowledged_count"], acknowledged(&h).len());
        assert_eq!(r.stats["lost_count"], 0);
    }
}

#[test]
fn set_lost_and_unexpected_are_reported() {
    let h = generate(4, 0, 300);
    let acked = acknowledged(&h);
    let mut ops = h.ops.clone();
    let last = ops.len() - 1;
    remove_from(&mut ops[last], &acked[3]);
    remove_from(&mut ops[last], &acked[4]);
    if let Value::List(l) = &mut ops[last].value {
        l.push(int(-5));
    }
    let r = check("set", &rebuild(ops), &CheckOptions::default());
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomaly_types, vec!["lost", "unexpected"]);
    assert_eq!(r.stats["lost_count"], 2);
    assert_eq!(r.stats["unexpected_count"], 1);
    assert_eq!(
        r.anomalies["unexpected"][0].detail["elements"]["examples"],
        serde_json::json!([-5])
    );
    assert!(r.anomalies["lost"][0]
        .explanation
        .starts_with("2 elements acknowledged as added are missing"));
}

#[test]
fn set_info_add_that_shows_up_is_recovered_not_an_error() {
    let h = hist(&[
        (OpType::Invoke, 0, "add", int(1)),
        (OpType::Info, 0, "add", int(1)),
        (OpType::Invoke, 1, "add", int(2)),
        (OpType::Ok, 1, "add", int(2)),
        (OpType::Invoke, 1, "read", Value::Nil),
        (OpType::Ok, 1, "read", list([int(1), int(2)])),
    ]);
    let r = check("set", &h, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(r.stats["recovered_count"], 1);
    assert_eq!(r.stats["recovered"], "1");
}

#[test]
fn set_never_read_is_unknown() {
    let h = hist(&[
        (OpType::Invoke, 0, "add", int(1)),
        (OpType::Ok, 0, "add", int(1)),
    ]);
    let r = check("set", &h, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("never read"));
}

// ---------------------------------------------------------------- set-full

#[test]
fn set_full_generated_is_valid_even_when_linearizable() {
    for seed in 0..20 {
        let h = generate(seed, 30, 400);
        for linearizable in [false, true] {
            let r = check(
                "set-full",
                &h,
                &CheckOptions {
                    linearizable,
                    ..Default::default()
                },
            );
            assert_eq!(r.valid, Validity::Valid, "seed {seed}: {:?}", r.anomalies);
            assert_eq!(r.stats["lost_count"], 0);
            assert_eq!(
                r.stats["stale_count"], 0,
                "a linearizable set has no stale reads"
            );
        }
    }
}

/// Removes `v` from every ok read invoked after position `from`: `v` is lost.
fn lose(h: &History, v: &Value, from: usize) -> History {
    let mut ops = h.ops.clone();
    for c in h.calls() {
        if c.f() == "read" && c.outcome() == OpType::Ok && c.invoke_pos > from {
            remove_from(&mut ops[c.complete_pos], v);
        }
    }
    rebuild(ops)
}

#[test]
fn set_full_lost_element_is_reported_with_its_reads() {
    let h = generate(9, 30, 400);
    let call = h
        .calls()
        .find(|c| c.f() == "add" && c.outcome() == OpType::Ok)
        .unwrap();
    let v = call.value().clone();
    let lost = lose(&h, &v, call.complete_pos);
    let r = check("set-full", &lost, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomaly_types, vec!["lost"]);
    let a = &r.anomalies["lost"][0];
    assert_eq!(a.detail["element"], v.to_json());
    assert_eq!(a.detail["outcome"], "lost");
    assert!(
        a.explanation.contains(&format!(
            "element {v} was lost: its add was acknowledged at"
        )),
        "{}",
        a.explanation
    );
}

#[test]
fn set_full_stale_read_is_invalid_only_when_linearizable() {
    let h = generate(12, 30, 400);
    // An acknowledged element and an ok read invoked after its add completed, not the last read.
    let reads: Vec<_> = h
        .calls()
        .filter(|c| c.f() == "read" && c.outcome() == OpType::Ok)
        .collect();
    let (add, read) = h
        .calls()
        .filter(|c| c.f() == "add" && c.outcome() == OpType::Ok)
        .find_map(|a| {
            reads[..reads.len() - 1]
                .iter()
                .find(|r| r.invoke_pos > a.complete_pos)
                .map(|r| (a, *r))
        })
        .unwrap();
    let mut ops = h.ops.clone();
    remove_from(&mut ops[read.complete_pos], add.value());
    let stale = rebuild(ops);
    let lenient = check("set-full", &stale, &CheckOptions::default());
    assert_eq!(lenient.valid, Validity::Valid, "{:?}", lenient.anomalies);
    assert_eq!(lenient.stats["stale_count"], 1);
    let strict = check(
        "set-full",
        &stale,
        &CheckOptions {
            linearizable: true,
            ..Default::default()
        },
    );
    assert_eq!(strict.valid, Validity::Invalid);
    assert_eq!(strict.anomaly_types, vec!["stale"]);
}

#[test]
fn set_full_duplicates_and_reads_from_the_future_are_reported() {
    let h = hist(&[
        (OpType::Invoke, 0, "read", Value::Nil),
        (OpType::Ok, 0, "read", list([int(7)])),
        (OpType::Invoke, 0, "add", int(7)),
        (OpType::Ok, 0, "add", int(7)),
        (OpType::Invoke, 0, "read", Value::Nil),
        (OpType::Ok, 0, "read", list([int(7), int(7)])),
    ]);
    let r = check("set-full", &h, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomaly_types, vec!["duplicated", "unexpected"]);
    assert_eq!(r.anomalies["duplicated"][0].detail["count"], 2);
}

#[test]
fn set_full_concurrent_miss_is_never_read_and_unknown() {
    // The only read is concurrent with the add and misses it: it may have come first.
    let h = hist(&[
        (OpType::Invoke, 0, "add", int(1)),
        (OpType::Invoke, 1, "read", Value::Nil),
        (OpType::Ok, 1, "read", list([])),
        (OpType::Ok, 0, "add", int(1)),
    ]);
    let r = check(
        "set-full",
        &h,
        &CheckOptions {
            linearizable: true,
            ..Default::default()
        },
    );
    assert_eq!(r.valid, Validity::Unknown, "{:?}", r.anomalies);
    assert_eq!(r.stats["never_read_count"], 1);
}

#[test]
fn set_full_latencies_use_op_times() {
    // Known at 3 ms; a read invoked at 4 ms misses it; a read at 6 ms sees it: stale by ~1 ms.
    let h = hist(&[
        (OpType::Invoke, 0, "add", int(1)),
        (OpType::Invoke, 1, "read", Value::Nil),
        (OpType::Ok, 1, "read", list([])),
        (OpType::Ok, 0, "add", int(1)),
        (OpType::Invoke, 1, "read", Value::Nil),
        (OpType::Ok, 1, "read", list([])),
        (OpType::Invoke, 1, "read", Value::Nil),
        (OpType::Ok, 1, "read", list([int(1)])),
    ]);
    let r = check("set-full", &h, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!(r.stats["stale_count"], 1);
    assert_eq!(r.stats["stable_latencies"]["1"], 1);
}

#[test]
fn set_forms_in_edn_and_json_agree() {
    let h = generate(31, 30, 300);
    let call = h
        .calls()
        .find(|c| c.f() == "add" && c.outcome() == OpType::Ok)
        .unwrap();
    let bad = lose(&h, &call.value().clone(), call.complete_pos);
    for (hist, want) in [(&h, Validity::Valid), (&bad, Validity::Invalid)] {
        for text in [to_edn(hist), to_json(hist)] {
            let parsed = read_str(&text, "g", Format::Auto).unwrap();
            assert_eq!(
                check("set-full", &parsed, &CheckOptions::default()).valid,
                want
            );
            assert_eq!(check("set", &parsed, &CheckOptions::default()).valid, want);
        }
    }
}

#[test]
fn set_read_that_is_not_a_collection_is_an_error_naming_the_line() {
    let text =
        "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value 3}\n";
    let h = read_str(text, "s.edn", Format::Edn).unwrap();
    for w in ["set", "set-full"] {
        let msg = labrys_invariant::check(w, &h, &CheckOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("s.edn:2:") && msg.contains("collection"),
            "{msg}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_correct_sets_are_valid(seed in any::<u64>(), reads in 0u64..50, steps in 20usize..300) {
        let h = generate(seed, reads, steps);
        prop_assert_eq!(check("set", &h, &CheckOptions::default()).valid, Validity::Valid);
        let full = check("set-full", &h, &CheckOptions { linearizable: true, ..Default::default() });
        prop_assert_ne!(full.valid, Validity::Invalid);
    }

    #[test]
    fn prop_dropping_an_acknowledged_element_is_caught(seed in any::<u64>(), which in any::<prop::sample::Index>()) {
        let h = generate(seed, 30, 200);
        let acked: Vec<_> = h.calls().filter(|c| c.f() == "add" && c.outcome() == OpType::Ok).collect();
        prop_assume!(!acked.is_empty());
        let call = acked[which.index(acked.len())];
        let bad = lose(&h, &call.value().clone(), call.complete_pos);
        prop_assert_eq!(check("set", &bad, &CheckOptions::default()).valid, Validity::Invalid);
        let r = check("set-full", &bad, &CheckOptions::default());
        prop_assert_eq!(r.valid, Validity::Invalid);
        prop_assert!(r.anomalies.contains_key("lost"));
    }
}

#[test]
fn ok_read_positions_are_reads() {
    let h = generate(1, 30, 100);
    assert!(ok_read_positions(&h)
        .iter()
        .all(|p| &*h.ops[*p].f == "read"));
}

/// A random set-full history, not from a model: `clients` processes add distinct elements
/// and read arbitrary subsets of what has been invoked, so elements come out stable, lost and
/// never-read in every combination.
fn random_set_full(seed: u64, clients: usize, steps: usize) -> History {
    let mut rng = SimRng::new(seed);
    let mut ops: Vec<Op> = Vec::new();
    let mut pending: Vec<Option<(String, Value)>> = vec![None; clients];
    let mut pids: Vec<i64> = (0..clients as i64).collect();
    let mut invoked: Vec<i64> = Vec::new();
    let mut next = 0i64;
    let push = |ops: &mut Vec<Op>, kind, p, f: &str, v: Value| {
        let mut op = Op::new(ops.len() as u64, kind, p, f, v);
        op.time = Some(ops.len() as i64 * 700_000);
        ops.push(op);
    };
    for _ in 0..steps {
        let c = rng.below(clients as u64) as usize;
        match pending[c].take() {
            None => {
                let (f, v) = if rng.chance(40) {
                    ("read".to_string(), Value::Nil)
                } else {
                    next += 1;
                    invoked.push(next);
                    ("add".to_string(), int(next))
                };
                push(&mut ops, OpType::Invoke, pids[c], &f, v.clone());
                pending[c] = Some((f, v));
            }
            Some((f, v)) => {
                let kind = match rng.below(10) {
                    0 => OpType::Info,
                    1 => OpType::Fail,
                    _ => OpType::Ok,
                };
                let value = if f == "read" && kind == OpType::Ok {
                    // Mostly the recent truth, with random holes.
                    list(invoked.iter().filter(|_| !rng.chance(15)).map(|e| int(*e)))
                } else {
                    v
                };
                push(&mut ops, kind, pids[c], &f, value);
                if kind == OpType::Info {
                    pids[c] += clients as i64;
                }
            }
        }
    }
    rebuild(ops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn prop_set_full_agrees_with_jepsens_reads_times_elements_loop(seed in any::<u64>(), clients in 1usize..6, steps in 1usize..200) {
        let h = random_set_full(seed, clients, steps);
        let r = check("set-full", &h, &CheckOptions::default());
        let (stable, lost, never, stale) = reference_set_full(&h);
        prop_assert_eq!(&r.stats["stable_count"], &serde_json::json!(stable));
        prop_assert_eq!(&r.stats["lost_count"], &serde_json::json!(lost));
        prop_assert_eq!(&r.stats["never_read_count"], &serde_json::json!(never));
        prop_assert_eq!(&r.stats["stale_count"], &serde_json::json!(stale));
        let want = if lost > 0 { Validity::Invalid } else if stable == 0 { Validity::Unknown } else { Validity::Valid };
        prop_assert_eq!(r.valid, want);
    }
}

#[test]
fn nil_reads_are_empty_for_set_full_and_unknown_for_set() {
    let h = hist(&[
        (OpType::Invoke, 0, "add", int(1)),
        (OpType::Ok, 0, "add", int(1)),
        (OpType::Invoke, 0, "read", Value::Nil),
        (OpType::Ok, 0, "read", Value::Nil),
    ]);
    let full = check("set-full", &h, &CheckOptions::default());
    assert_eq!(
        full.valid,
        Validity::Invalid,
        "a nil read after an ok add lost it"
    );
    assert_eq!(full.anomaly_types, vec!["lost"]);
    let set = check("set", &h, &CheckOptions::default());
    assert_eq!(set.valid, Validity::Unknown);
    assert!(set.unknown_reason.unwrap().contains("returned nil"));
}
