//! Arbitrary histories never panic a checker: every workload either gives a verdict or a
//! malformed-history error naming the file and a line, whatever shapes the values take.

mod common;

use labrys_history::{CheckOptions, History, Op, OpType, Validity, Value};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        (-3i64..20).prop_map(Value::Int),
        Just(Value::BigInt("123456789012345678901234567890".into())),
        Just(Value::Float(1.5)),
        "[a-c]{0,2}".prop_map(|s| Value::str(&s)),
        prop_oneof![
            Just("r"),
            Just("w"),
            Just("from"),
            Just("to"),
            Just("amount")
        ]
        .prop_map(Value::kw),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Set),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

/// One client operation: process, f, outcome, invoke value, completion value.
fn call() -> impl Strategy<Value = (i64, &'static str, u8, Value, Value)> {
    (
        0i64..4,
        prop_oneof![
            Just("read"),
            Just("add"),
            Just("transfer"),
            Just("write"),
            Just("generate"),
            Just("enqueue"),
            Just("dequeue"),
            Just("drain"),
        ],
        0u8..4,
        value(),
        value(),
    )
}

/// Lays calls out so that each process's invoke precedes its completion, with overlaps.
fn history(calls: Vec<(i64, &'static str, u8, Value, Value)>) -> History {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: Vec<Option<(&'static str, u8, Value)>> = vec![None; 4];
    let mut line = 0u32;
    let mut emit = |ops: &mut Vec<Op>, kind, p, f: &str, v: Value| {
        line += 1;
        let mut op = Op::new(ops.len() as u64, kind, p, f, v);
        op.line = line;
        ops.push(op);
    };
    // A slot's process id changes after an op that never completes, as Jepsen's would.
    let mut pid: Vec<i64> = (0..4).collect();
    for (slot, f, outcome, inv, comp) in calls {
        let s = slot as usize;
        if let Some((pf, o, v)) = open[s].take() {
            let kind = [OpType::Ok, OpType::Fail, OpType::Info][o as usize];
            emit(&mut ops, kind, pid[s], pf, v);
        }
        emit(&mut ops, OpType::Invoke, pid[s], f, inv);
        if outcome < 3 {
            open[s] = Some((f, outcome, comp));
        } else {
            pid[s] += 4;
        }
    }
    History::from_ops(ops, "arbitrary.edn").expect("laid out to pair")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_no_checker_panics_on_arbitrary_values(calls in prop::collection::vec(call(), 0..40), group in 0usize..4, lin in any::<bool>()) {
        let h = history(calls);
        let opts = CheckOptions { group_size: Some(group), linearizable: lin, ..Default::default() };
        for (w, independent) in labrys_invariant::WORKLOADS.iter().flat_map(|w| [(w, false), (w, true)]) {
            let result = if independent {
                labrys_invariant::independent::check(w, &h, &opts)
            } else {
                labrys_invariant::check(w, &h, &opts)
            };
            match result {
                Ok(r) => {
                    if r.valid == Validity::Unknown {
                        prop_assert!(r.unknown_reason.is_some(), "{w}: unknown without a reason");
                    }
                    if r.valid == Validity::Invalid {
                        prop_assert!(r.anomalies.values().flatten().all(|a| !a.explanation.is_empty()));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.starts_with("arbitrary.edn:"), "{w}: {msg}");
                    let line: u32 = msg.split(':').nth(1).unwrap().parse().unwrap();
                    prop_assert!(line >= 1, "{w}: error without a line: {msg}");
                }
            }
        }
    }
}
