//! Whatever values ops carry (strings with newlines and quotes, unicode, nested lists and
//! maps, extreme integers), a recorded history reads back as the same ops: one op per line,
//! never split, never merged.

use labrys_history::{Op, OpType, Process, Value};
use labrys_store::{read_history, Recorder};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        "[a-z\\n\"\\\\ é✓]{0,12}".prop_map(|s| Value::Str(s.into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec(("[a-z]{1,5}", inner), 0..3).prop_map(|kv| {
                let mut seen = std::collections::HashSet::new();
                Value::Map(
                    kv.into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .map(|(k, v)| (Value::Str(k.into()), v))
                        .collect(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn recorded_ops_read_back_identically(values in prop::collection::vec(value(), 1..20)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path).unwrap();
        let mut written = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let p = i as i64;
            let mut inv = Op::new(0, OpType::Invoke, p, "write", v.clone());
            inv.time = Some(2 * p);
            let mut ok = inv.clone();
            ok.kind = OpType::Ok;
            ok.time = Some(2 * p + 1);
            written.push(r.append(inv).unwrap());
            written.push(r.append(ok).unwrap());
        }
        let mut nem = Op::new(0, OpType::Info, 0, "start-partition", Value::Nil);
        nem.process = Process::Named("nemesis".into());
        written.push(r.append(nem).unwrap());
        drop(r);
        let (h, dropped) = read_history(&path).unwrap();
        prop_assert!(!dropped);
        prop_assert_eq!(h.ops.len(), written.len());
        for (got, want) in h.ops.iter().zip(&written) {
            prop_assert_eq!(got.index, want.index);
            prop_assert_eq!(got.kind, want.kind);
            prop_assert_eq!(&got.process, &want.process);
            prop_assert_eq!(&got.f, &want.f);
            prop_assert_eq!(got.time, want.time);
            prop_assert_eq!(&got.value, &want.value);
        }
        prop_assert_eq!(h.pairs.len(), values.len());
    }
}
