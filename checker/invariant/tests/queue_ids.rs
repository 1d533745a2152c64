//! Unique-ids and total-queue: histories from a correct id generator and a correct queue are
//! valid; planted duplicates, lost and unexpected elements are found, in code and through EDN
//! and JSON text.

mod common;

use common::*;
use labrys_history::{
    read_str, CheckOptions, CheckResult, Format, History, OpType, Validity, Value,
};
use proptest::prelude::*;
use std::collections::VecDeque;

struct Ids(i64);

impl Model for Ids {
    fn next_op(&mut self, _rng: &mut SimRng) -> (String, Value) {
        ("generate".into(), Value::Nil)
    }
    fn apply(&mut self, _f: &str, _v: &Value, _rng: &mut SimRng) -> Applied {
        self.0 += 1;
        Applied::Ok(int(self.0))
    }
}

struct Queue {
    q: VecDeque<i64>,
    next: i64,
}

impl Model for Queue {
    fn next_op(&mut self, rng: &mut SimRng) -> (String, Value) {
        if rng.chance(45) {
            return ("dequeue".into(), Value::Nil);
        }
        self.next += 1;
        ("enqueue".into(), int(self.next))
    }
    fn apply(&mut self, f: &str, v: &Value, _rng: &mut SimRng) -> Applied {
        match f {
            "enqueue" => {
                self.q.push_back(v.as_i64().unwrap());
                Applied::Ok(v.clone())
            }
            "dequeue" => match self.q.pop_front() {
                Some(x) => Applied::Ok(int(x)),
                None => Applied::Fail,
            },
            _ => Applied::Ok(list(self.q.drain(..).map(int))),
        }
    }
}

fn ids(seed: u64, steps: usize) -> History {
    let mut sim = Sim::new(seed);
    sim.run(&mut Ids(0), 5, steps, 5);
    sim.history()
}

fn queue(seed: u64, steps: usize) -> History {
    let mut m = Queue {
        q: VecDeque::new(),
        next: 0,
    };
    let mut sim = Sim::new(seed);
    let next = sim.run(&mut m, 5, steps, 0);
    sim.solo(&mut m, next, "drain", Value::Nil);
    sim.history()
}

fn check(w: &str, h: &History) -> CheckResult {
    labrys_invariant::check(w, h, &CheckOptions::default()).expect("histories check")
}

fn oks(h: &History, f: &str) -> Vec<usize> {
    h.ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == OpType::Ok && &*o.f == f)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn generated_ids_are_unique_and_duplicates_are_named() {
    let h = ids(3, 300);
    let r = check("unique-ids", &h);
    assert_eq!(r.valid, Validity::Valid);
    let ok = oks(&h, "generate");
    let mut ops = h.ops.clone();
    ops[ok[5]].value = ops[ok[1]].value.clone();
    let r = check("unique-ids", &rebuild(ops));
    assert_eq!(r.valid, Validity::Invalid);
    let a = &r.anomalies["duplicated"][0];
    assert_eq!(a.detail["count"], 2);
    assert_eq!(a.detail["id"], h.ops[ok[1]].value.to_json());
    assert!(
        a.explanation.contains("was returned 2 times"),
        "{}",
        a.explanation
    );
}

#[test]
fn generated_queue_is_valid_and_lost_duplicated_unexpected_are_found() {
    let h = queue(5, 400);
    let r = check("total-queue", &h);
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
    let deq = oks(&h, "dequeue");

    // Lost: a dequeue that took element e now says it took nothing (nil).
    let mut ops = h.ops.clone();
    ops[deq[0]].value = Value::Nil;
    let r = check("total-queue", &rebuild(ops));
    assert_eq!(r.anomaly_types, vec!["lost"]);
    assert_eq!(r.stats["lost_count"], 1);

    // Duplicated: a second dequeue returns the first one's element.
    let mut ops = h.ops.clone();
    ops[deq[2]].value = ops[deq[1]].value.clone();
    let r = check("total-queue", &rebuild(ops));
    assert!(
        r.anomaly_types.contains(&"duplicated".to_string()),
        "{:?}",
        r.anomaly_types
    );

    // Unexpected: an element nobody enqueued.
    let mut ops = h.ops.clone();
    ops[deq[3]].value = int(-1);
    let r = check("total-queue", &rebuild(ops));
    assert!(
        r.anomaly_types.contains(&"unexpected".to_string()),
        "{:?}",
        r.anomaly_types
    );
}

#[test]
fn crashed_drain_makes_apparent_losses_unknown() {
    let h = hist(&[
        (OpType::Invoke, 0, "enqueue", int(1)),
        (OpType::Ok, 0, "enqueue", int(1)),
        (OpType::Invoke, 1, "drain", Value::Nil),
        (OpType::Info, 1, "drain", Value::Nil),
    ]);
    let r = check("total-queue", &h);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.unknown_reason.unwrap().contains("drain"));
}

#[test]
fn a_crashed_dequeue_may_have_taken_one_lost_element_not_two() {
    let mut ops = vec![
        (OpType::Invoke, 0, "enqueue", int(1)),
        (OpType::Ok, 0, "enqueue", int(1)),
        (OpType::Invoke, 1, "dequeue", Value::Nil),
        (OpType::Info, 1, "dequeue", Value::Nil),
        (OpType::Invoke, 2, "drain", Value::Nil),
        (OpType::Ok, 2, "drain", list([])),
    ];
    // The queue gave 1 to the dequeue that crashed: a correct queue can do that.
    let r = check("total-queue", &hist(&ops));
    assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
    assert_eq!(r.stats["crashed_dequeue_count"], 1);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind == "lost-or-taken-by-crashed-dequeues"),
        "{:?}",
        r.warnings
    );
    // Two acknowledged elements gone and one crashed dequeue: one of them was lost.
    ops.splice(
        2..2,
        [
            (OpType::Invoke, 3, "enqueue", int(2)),
            (OpType::Ok, 3, "enqueue", int(2)),
        ],
    );
    let r = check("total-queue", &hist(&ops));
    assert_eq!(r.valid, Validity::Invalid);
    assert_eq!(r.anomaly_types, vec!["lost"]);
    assert_eq!(r.stats["lost_count"], 2);
}

#[test]
fn queue_and_ids_forms_in_edn_and_json_agree() {
    let h = queue(9, 300);
    let deq = oks(&h, "dequeue");
    let mut ops = h.ops.clone();
    ops[deq[0]].value = Value::Nil;
    let bad = rebuild(ops);
    for (hist, want) in [(&h, Validity::Valid), (&bad, Validity::Invalid)] {
        for text in [to_edn(hist), to_json(hist)] {
            let parsed = read_str(&text, "g", Format::Auto).unwrap();
            assert_eq!(check("total-queue", &parsed).valid, want);
        }
    }
    let g = ids(9, 200);
    for text in [to_edn(&g), to_json(&g)] {
        let parsed = read_str(&text, "g", Format::Auto).unwrap();
        assert_eq!(check("unique-ids", &parsed).valid, Validity::Valid);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_ids_unique_and_any_duplicate_caught(seed in any::<u64>(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let h = ids(seed, 200);
        prop_assert_eq!(check("unique-ids", &h).valid, Validity::Valid);
        let ok = oks(&h, "generate");
        let (i, j) = (a.index(ok.len()), b.index(ok.len()));
        prop_assume!(i != j);
        let mut ops = h.ops.clone();
        ops[ok[j]].value = ops[ok[i]].value.clone();
        prop_assert_eq!(check("unique-ids", &rebuild(ops)).valid, Validity::Invalid);
    }

    #[test]
    fn prop_queue_valid_and_any_drop_caught(seed in any::<u64>(), steps in 20usize..300, which in any::<prop::sample::Index>()) {
        let h = queue(seed, steps);
        prop_assert_eq!(check("total-queue", &h).valid, Validity::Valid);
        // Drop one element from the final drain (if it took any), else from a dequeue.
        let mut ops = h.ops.clone();
        let last = ops.len() - 1;
        let dropped = match &mut ops[last].value {
            Value::List(l) if !l.is_empty() => { let i = which.index(l.len()); l.remove(i); true }
            _ => {
                let deq = oks(&h, "dequeue");
                if deq.is_empty() { false } else { ops[deq[which.index(deq.len())]].value = Value::Nil; true }
            }
        };
        prop_assume!(dropped);
        let r = check("total-queue", &rebuild(ops));
        prop_assert_eq!(r.valid, Validity::Invalid);
        prop_assert!(r.anomalies.contains_key("lost"));
    }
}
