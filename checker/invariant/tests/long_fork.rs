//! Long-fork: histories from a correct snapshot store (one write per key, reads of key groups
//! at a single instant) are valid; planted forks are found, in code and through EDN and JSON.

mod common;

use common::*;
use labrys_history::{
    read_str, CheckOptions, CheckResult, Format, History, OpType, Validity, Value,
};
use proptest::prelude::*;

struct Store {
    written: Vec<i64>,
    next_key: i64,
    n: i64,
}

fn read_of(keys: &[i64], written: &[i64]) -> Value {
    list(keys.iter().map(|k| {
        let v = if written.contains(k) {
            int(1)
        } else {
            Value::Nil
        };
        list([Value::kw("r"), int(*k), v])
    }))
}

fn group(n: i64, k: i64) -> Vec<i64> {
    let lo = k - k.rem_euclid(n);
    (lo..lo + n).collect()
}

impl Model for Store {
    fn next_op(&mut self, rng: &mut SimRng) -> (String, Value) {
        if self.next_key > 0 && rng.chance(60) {
            let k = rng.below(self.next_key as u64) as i64;
            let mut keys = group(self.n, k);
            keys.rotate_left(rng.below(self.n as u64) as usize);
            return ("read".into(), read_of(&keys, &[]));
        }
        self.next_key += 1;
        (
            "write".into(),
            list([list([Value::kw("w"), int(self.next_key - 1), int(1)])]),
        )
    }

    fn apply(&mut self, f: &str, value: &Value, _rng: &mut SimRng) -> Applied {
        let mops = value.as_seq().unwrap();
        if f == "read" {
            let keys: Vec<i64> = mops
                .iter()
                .map(|m| m.as_seq().unwrap()[1].as_i64().unwrap())
                .collect();
            return Applied::Ok(read_of(&keys, &self.written));
        }
        self.written
            .push(mops[0].as_seq().unwrap()[1].as_i64().unwrap());
        Applied::Ok(value.clone())
    }
}

fn generate(seed: u64, n: i64, steps: usize) -> History {
    let mut m = Store {
        written: Vec::new(),
        next_key: 0,
        n,
    };
    let mut sim = Sim::new(seed);
    sim.run(&mut m, 5, steps, 3);
    sim.history()
}

fn opts(n: usize) -> CheckOptions {
    CheckOptions {
        group_size: Some(n),
        ..Default::default()
    }
}

fn check(h: &History, o: &CheckOptions) -> CheckResult {
    labrys_invariant::check("long-fork", h, o).expect("long-fork histories check")
}

/// Appends the two reads of a planted fork on group `keys` (keys[0] seen only by the first,
/// keys[1] only by the second).
fn plant_fork(h: &History, keys: &[i64]) -> History {
    let mut ops = h.ops.clone();
    let p = 1000;
    let mk = |seen: i64| {
        list(keys.iter().map(|k| {
            let v = if *k == seen || (*k != keys[0] && *k != keys[1]) {
                int(1)
            } else {
                Value::Nil
            };
            list([Value::kw("r"), int(*k), v])
        }))
    };
    for (i, seen) in [keys[0], keys[1]].into_iter().enumerate() {
        let base = ops.len() as u64;
        let pid = p + i as i64;
        ops.push(labrys_history::Op::new(
            base,
            OpType::Invoke,
            pid,
            "read",
            Value::Nil,
        ));
        ops.push(labrys_history::Op::new(
            base + 1,
            OpType::Ok,
            pid,
            "read",
            mk(seen),
        ));
    }
    rebuild(ops)
}

#[test]
fn generated_snapshots_have_no_forks() {
    for seed in 0..20 {
        let h = generate(seed, 3, 400);
        let r = check(&h, &opts(3));
        assert_eq!(r.valid, Validity::Valid, "seed {seed}: {:?}", r.anomalies);
    }
}

#[test]
fn planted_fork_is_reported_with_both_reads() {
    let h = generate(2, 2, 200);
    let bad = plant_fork(&h, &[100, 101]);
    let r = check(&bad, &opts(2));
    assert_eq!(r.valid, Validity::Invalid);
    let a = &r.anomalies["long-fork"][0];
    assert_eq!(a.detail["keys"], serde_json::json!([100, 101]));
    let (first, second) = (&a.detail["only_first"], &a.detail["only_second"]);
    assert!(first != second && first.as_array().unwrap().len() == 1);
    assert!(a.explanation.contains("incompatible orders"));
}

#[test]
fn wrong_group_size_is_an_error_and_two_writes_to_a_key_unknown() {
    let h = generate(4, 3, 100);
    let err = labrys_invariant::check("long-fork", &h, &opts(2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly 2 keys"), "{err}");

    let w = |k| list([list([Value::kw("w"), int(k), int(1)])]);
    let twice = hist(&[
        (OpType::Invoke, 0, "write", w(1)),
        (OpType::Ok, 0, "write", w(1)),
        (OpType::Invoke, 0, "write", w(1)),
        (OpType::Ok, 0, "write", w(1)),
    ]);
    let r = check(&twice, &CheckOptions::default());
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("written twice"));
}

#[test]
fn long_fork_forms_in_edn_and_json_agree() {
    let h = generate(8, 3, 200);
    let bad = plant_fork(&h, &[300, 301, 302]);
    for (hist, want) in [(&h, Validity::Valid), (&bad, Validity::Invalid)] {
        for text in [to_edn(hist), to_json(hist)] {
            let parsed = read_str(&text, "g", Format::Auto).unwrap();
            assert_eq!(check(&parsed, &opts(3)).valid, want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_snapshots_are_valid_and_forks_caught(seed in any::<u64>(), n in 2i64..5, steps in 20usize..300) {
        let h = generate(seed, n, steps);
        prop_assert_eq!(check(&h, &opts(n as usize)).valid, Validity::Valid);
        let keys: Vec<i64> = (1000 * n..1000 * n + n).collect();
        let bad = plant_fork(&h, &keys);
        prop_assert_eq!(check(&bad, &opts(n as usize)).valid, Validity::Invalid);
    }
}
