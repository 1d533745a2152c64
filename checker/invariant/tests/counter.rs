//! Counter: histories from a correct in-memory counter (with crashes, failures and negative
//! increments) are valid; planted out-of-bounds reads are found, in code and through EDN and
//! JSON text.

mod common;

use common::*;
use labrys_history::{
    read_str, CheckOptions, CheckResult, Format, History, OpType, Validity, Value,
};
use proptest::prelude::*;

struct Counter {
    value: i64,
    allow_negative: bool,
}

impl Model for Counter {
    fn next_op(&mut self, rng: &mut SimRng) -> (String, Value) {
        if rng.chance(35) {
            return ("read".into(), Value::Nil);
        }
        let mut d = 1 + rng.below(5) as i64;
        if self.allow_negative && rng.chance(30) {
            d = -d;
        }
        ("add".into(), int(d))
    }

    fn apply(&mut self, f: &str, value: &Value, rng: &mut SimRng) -> Applied {
        if f == "read" {
            return Applied::Ok(int(self.value));
        }
        if rng.chance(5) {
            return Applied::Fail;
        }
        self.value += value.as_i64().unwrap();
        Applied::Ok(value.clone())
    }
}

fn generate(seed: u64, allow_negative: bool, steps: usize) -> History {
    let mut m = Counter {
        value: 0,
        allow_negative,
    };
    let mut sim = Sim::new(seed);
    let next = sim.run(&mut m, 5, steps, 5);
    sim.solo(&mut m, next, "read", Value::Nil);
    sim.history()
}

fn check(h: &History, opts: &CheckOptions) -> CheckResult {
    labrys_invariant::check("counter", h, opts).expect("counter histories check")
}

fn set_read(h: &History, pos: usize, v: i64) -> History {
    let mut ops = h.ops.clone();
    ops[pos].value = int(v);
    rebuild(ops)
}

fn reads(h: &History) -> Vec<usize> {
    h.ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OpType::Ok && &*o.f == "read")
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn generated_counters_are_valid() {
    for seed in 0..20 {
        for neg in [false, true] {
            let h = generate(seed, neg, 400);
            let r = check(&h, &CheckOptions::default());
            assert_eq!(
                r.valid,
                Validity::Valid,
                "seed {seed} neg {neg}: {:?}",
                r.anomalies
            );
        }
    }
}

#[test]
fn bounds_follow_jepsen() {
    // add 1 ok; add 2 in flight during the read; read sees 1 or 3 but neither 0 nor 4.
    let rows = |read: i64| {
        hist(&[
            (OpType::Invoke, 0, "add", int(1)),
            (OpType::Ok, 0, "add", int(1)),
            (OpType::Invoke, 1, "add", int(2)),
            (OpType::Invoke, 0, "read", Value::Nil),
            (OpType::Ok, 0, "read", int(read)),
            (OpType::Info, 1, "add", int(2)),
        ])
    };
    for (v, want) in [
        (0, Validity::Invalid),
        (1, Validity::Valid),
        (3, Validity::Valid),
        (4, Validity::Invalid),
    ] {
        assert_eq!(
            check(&rows(v), &CheckOptions::default()).valid,
            want,
            "read {v}"
        );
    }
    let r = check(&rows(4), &CheckOptions::default());
    let a = &r.anomalies["out-of-bounds"][0];
    assert_eq!(
        (a.detail["lower"].as_i64(), a.detail["upper"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(a.detail["off_by"], 1);
    assert_eq!(a.detail["side"], "above");
}

#[test]
fn failed_adds_never_count_and_initial_shifts_bounds() {
    let h = hist(&[
        (OpType::Invoke, 0, "add", int(5)),
        (OpType::Fail, 0, "add", int(5)),
        (OpType::Invoke, 0, "read", Value::Nil),
        (OpType::Ok, 0, "read", int(10)),
    ]);
    assert_eq!(check(&h, &CheckOptions::default()).valid, Validity::Invalid);
    let opts = CheckOptions {
        initial: Some(int(10)),
        ..Default::default()
    };
    assert_eq!(check(&h, &opts).valid, Validity::Valid);
}

#[test]
fn negative_increment_concurrent_with_a_read_lowers_the_floor() {
    // add 5 ok; then add -3 is invoked during a read that sees 2.
    let h = hist(&[
        (OpType::Invoke, 0, "add", int(5)),
        (OpType::Ok, 0, "add", int(5)),
        (OpType::Invoke, 1, "read", Value::Nil),
        (OpType::Invoke, 0, "add", int(-3)),
        (OpType::Ok, 1, "read", int(2)),
        (OpType::Ok, 0, "add", int(-3)),
    ]);
    assert_eq!(check(&h, &CheckOptions::default()).valid, Validity::Valid);
    let mut ops = h.ops.clone();
    ops[4].value = int(1);
    assert_eq!(
        check(&rebuild(ops), &CheckOptions::default()).valid,
        Validity::Invalid
    );
}

#[test]
fn non_integer_values_are_errors_naming_the_line() {
    let text = "{:type :invoke, :f :add, :process 0, :value \"x\"}\n{:type :ok, :f :add, :process 0, :value \"x\"}\n";
    let h = read_str(text, "c.edn", Format::Edn).unwrap();
    let msg = labrys_invariant::check("counter", &h, &CheckOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("c.edn:1:") && msg.contains("integer"),
        "{msg}"
    );
}

#[test]
fn counter_forms_in_edn_and_json_agree() {
    let h = generate(77, false, 300);
    let last = *reads(&h).last().unwrap();
    let total: i64 = h
        .calls()
        .filter(|c| c.f() == "add")
        .map(|c| c.invoke.value.as_i64().unwrap())
        .sum();
    let bad = set_read(&h, last, total + 1);
    for (hist, want) in [(&h, Validity::Valid), (&bad, Validity::Invalid)] {
        for text in [to_edn(hist), to_json(hist)] {
            let parsed = read_str(&text, "g", Format::Auto).unwrap();
            assert_eq!(check(&parsed, &CheckOptions::default()).valid, want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_correct_counters_are_valid(seed in any::<u64>(), neg in any::<bool>(), steps in 10usize..300) {
        let h = generate(seed, neg, steps);
        prop_assert_eq!(check(&h, &CheckOptions::default()).valid, Validity::Valid);
    }

    #[test]
    fn prop_impossible_reads_are_caught(seed in any::<u64>(), which in any::<prop::sample::Index>(), above in any::<bool>(), by in 1i64..10) {
        let h = generate(seed, false, 200);
        let rs = reads(&h);
        let pos = rs[which.index(rs.len())];
        // Beyond anything any add could reach, or below zero: impossible with positive adds.
        let all: i64 = h.calls().filter(|c| c.f() == "add").map(|c| c.invoke.value.as_i64().unwrap()).sum();
        let v = if above { all + by } else { -by };
        let r = check(&set_read(&h, pos, v), &CheckOptions::default());
        prop_assert_eq!(r.valid, Validity::Invalid);
        prop_assert_eq!(r.anomaly_types, vec!["out-of-bounds".to_string()]);
    }
}
