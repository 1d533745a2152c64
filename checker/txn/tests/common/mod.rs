//! Building blocks for tests: micro-ops, planted transactions, and checking helpers.
#![allow(dead_code)]

use labrys_history::{CheckOptions, CheckResult, History, Op, OpType, Value};
use labrys_txn::txn::Kind;

/// `[:append k v]`
pub fn ap(k: i64, v: i64) -> Value {
    Value::List(vec![Value::kw("append"), Value::Int(k), Value::Int(v)])
}

/// `[:w k v]`
pub fn w(k: i64, v: i64) -> Value {
    Value::List(vec![Value::kw("w"), Value::Int(k), Value::Int(v)])
}

/// `[:r k [..]]` (list-append)
pub fn r(k: i64, l: &[i64]) -> Value {
    Value::List(vec![
        Value::kw("r"),
        Value::Int(k),
        Value::List(l.iter().map(|&x| Value::Int(x)).collect()),
    ])
}

/// `[:r k v]` (register)
pub fn rv(k: i64, v: i64) -> Value {
    Value::List(vec![Value::kw("r"), Value::Int(k), Value::Int(v)])
}

/// `[:r k nil]`
pub fn rn(k: i64) -> Value {
    Value::List(vec![Value::kw("r"), Value::Int(k), Value::Nil])
}

/// A planted transaction: its outcome and micro-ops (with read results).
pub struct T(pub OpType, pub Vec<Value>);

pub fn ok(m: Vec<Value>) -> T {
    T(OpType::Ok, m)
}

pub fn fail(m: Vec<Value>) -> T {
    T(OpType::Fail, m)
}

fn invoke_form(m: &[Value]) -> Value {
    Value::List(
        m.iter()
            .map(|x| {
                let p = x.as_seq().unwrap();
                if p[0].as_name() == Some("r") {
                    Value::List(vec![p[0].clone(), p[1].clone(), Value::Nil])
                } else {
                    x.clone()
                }
            })
            .collect(),
    )
}

/// Appends phases of transactions to `ops`: within a phase all are invoked, then all complete
/// (so they are concurrent); phases follow each other in real time. Each transaction gets a
/// fresh process from `next_process`.
pub fn plant(ops: &mut Vec<Op>, phases: Vec<Vec<T>>, next_process: &mut i64) {
    for phase in phases {
        let mut procs = Vec::new();
        for t in &phase {
            let p = *next_process;
            *next_process += 1;
            procs.push(p);
            let i = ops.len() as u64;
            ops.push(Op::new(i, OpType::Invoke, p, "txn", invoke_form(&t.1)));
        }
        for (t, p) in phase.iter().zip(procs) {
            let i = ops.len() as u64;
            let v = if t.0 == OpType::Ok {
                Value::List(t.1.clone())
            } else {
                invoke_form(&t.1)
            };
            ops.push(Op::new(i, t.0, p, "txn", v));
        }
    }
}

pub fn history(ops: Vec<Op>) -> History {
    History::from_ops(ops, "test").unwrap()
}

pub fn check(kind: Kind, h: &History, models: &[&str]) -> CheckResult {
    let opts = CheckOptions {
        consistency_models: models.iter().map(|s| s.to_string()).collect(),
        ..CheckOptions::default()
    };
    let w = match kind {
        Kind::ListAppend => "list-append",
        Kind::RwRegister => "rw-register",
    };
    labrys_txn::check(w, h, &opts).unwrap()
}

/// Highest process id used in `h`, plus one.
pub fn fresh_process(h: &History) -> i64 {
    h.ops
        .iter()
        .filter_map(|o| o.process.client())
        .max()
        .unwrap_or(0)
        + 1
}

/// Appends transactions with explicit processes and event order: `+i` invokes `txns[i-1]`,
/// `-i` completes it.
pub fn plant_seq(ops: &mut Vec<Op>, txns: Vec<T>, procs: &[i64], order: &[i32]) {
    for &e in order {
        let i = (e.unsigned_abs() - 1) as usize;
        let t = &txns[i];
        let idx = ops.len() as u64;
        if e > 0 {
            ops.push(Op::new(
                idx,
                OpType::Invoke,
                procs[i],
                "txn",
                invoke_form(&t.1),
            ));
        } else {
            let v = if t.0 == OpType::Ok {
                Value::List(t.1.clone())
            } else {
                invoke_form(&t.1)
            };
            ops.push(Op::new(idx, t.0, procs[i], "txn", v));
        }
    }
}
